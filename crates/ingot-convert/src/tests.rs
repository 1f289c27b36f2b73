//! Unit tests that need crate internals: write failures injected under the GGUF writer.

use std::io::{self, Write};

use crate::fixtures;
use crate::pipeline::convert_with;
use crate::{ConvertError, ConvertOptions, NoProgress};

/// Accepts `left` bytes, then fails like a full disk.
struct FullAfter {
    left: usize,
}

impl Write for FullAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn disk_full_midway_removes_the_partial_file_and_names_the_output() {
    let src = tempfile::tempdir().unwrap();
    fixtures::llama(src.path(), "LlamaForCausalLM");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("model.gguf");
    for limit in [0usize, 100, 3000] {
        let err = convert_with(
            src.path(),
            &out,
            &ConvertOptions::default(),
            &NoProgress,
            &|f| {
                drop(f);
                Box::new(FullAfter { left: limit })
            },
        )
        .unwrap_err();
        match &err {
            ConvertError::Write { path, source } => {
                assert_eq!(path, &out);
                assert_eq!(source.raw_os_error(), Some(28));
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("model.gguf"), "{err}");
        let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "files left behind after a {limit}-byte failure: {left:?}"
        );
    }
}

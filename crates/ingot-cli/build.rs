//! Embeds ingot.exe's application manifest (ingot.exe.manifest) when the target is Windows:
//! long paths, the UTF-8 code page and the Windows 10/11 compatibility entry are settings only
//! a manifest can give a process. Other targets: nothing.
//!
//! No build dependency does it: a resource crate (embed-resource) pulls host crates whose
//! features change those llama-cpp-sys-2's build script is compiled with, which rebuilds
//! llama.cpp (about 10 minutes) on every machine. The two toolchains' own tools suffice:
//! - MSVC: the linker embeds it (`/MANIFEST:EMBED /MANIFESTINPUT`, as rustc does for itself);
//! - GNU (mingw-w64): windres compiles ingot.rc, which names the manifest, into an object
//!   file linked into the binary. `RC_<target>` or `RC` names another windres.
//!
//! A Windows build that cannot embed it fails here rather than ship an exe that silently
//! lacks long-path support.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=ingot.rc");
    println!("cargo:rerun-if-changed=ingot.exe.manifest");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("msvc") {
        let manifest = dir.join("ingot.exe.manifest");
        println!("cargo:rustc-link-arg-bin=ingot=/MANIFEST:EMBED");
        println!(
            "cargo:rustc-link-arg-bin=ingot=/MANIFESTINPUT:{}",
            manifest.display()
        );
        // The manifest has its own trustInfo (asInvoker): the linker's would be a duplicate.
        println!("cargo:rustc-link-arg-bin=ingot=/MANIFESTUAC:NO");
        return;
    }
    if let Err(e) = windres(&dir) {
        eprintln!("error: cannot embed ingot.exe's manifest: {e}");
        std::process::exit(1);
    }
}

/// Compiles ingot.rc into a COFF object and links it into the `ingot` binary only.
fn windres(dir: &std::path::Path) -> Result<(), String> {
    let target = std::env::var("TARGET").unwrap_or_default();
    for v in [
        format!("RC_{target}"),
        format!("RC_{}", target.replace('-', "_")),
        "RC".into(),
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let tool = std::env::var_os(format!("RC_{target}"))
        .or_else(|| std::env::var_os(format!("RC_{}", target.replace('-', "_"))))
        .or_else(|| std::env::var_os("RC"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // A native mingw toolchain (MSYS2) calls it windres; a cross one, by its prefix.
            if cfg!(windows) {
                PathBuf::from("windres")
            } else {
                let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
                PathBuf::from(format!("{arch}-w64-mingw32-windres"))
            }
        });
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?).join("ingot-manifest.o");
    // Run from the crate's folder: windres resolves the manifest's file name in ingot.rc
    // against the current directory.
    let status = Command::new(&tool)
        .current_dir(dir)
        .args([
            "--input",
            "ingot.rc",
            "--input-format=rc",
            "--output-format=coff",
            "--output",
        ])
        .arg(&out)
        .status()
        .map_err(|e| format!("{}: {e} (install mingw-w64, or set RC)", tool.display()))?;
    if !status.success() {
        return Err(format!("{} failed ({status})", tool.display()));
    }
    println!("cargo:rustc-link-arg-bin=ingot={}", out.display());
    Ok(())
}

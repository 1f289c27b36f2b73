//! The git sha of the source ingot-bench is built from, for the manifest's `git_sha`: read
//! once here instead of running `git` at every benchmark. `INGOT_GIT_SHA` (set by packagers
//! building outside a checkout) wins; no git or no checkout leaves it unset. Never fails.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=INGOT_GIT_SHA");
    println!("cargo:rerun-if-changed=build.rs");
    let sha = match std::env::var("INGOT_GIT_SHA") {
        Ok(s) if !s.is_empty() => Some(s),
        _ => git(&["rev-parse", "HEAD"]).filter(|s| s.len() == 40),
    };
    // Rebuilt when HEAD moves: HEAD itself, the branch it points to, and packed refs.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(r);
    }
    for w in watch {
        if let Some(p) = git(&["rev-parse", "--git-path", &w]) {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    if let Some(sha) = sha {
        println!("cargo:rustc-env=INGOT_BENCH_GIT_SHA={sha}");
    }
}

//! `ingot setup foundry-alias`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use ingot::compat::AliasKind;

pub(crate) fn foundry_alias(dir: Option<PathBuf>, copy: bool, force: bool) -> Result<()> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find the ingot executable")?;
    let dir = match dir {
        Some(d) => d,
        None => exe
            .parent()
            .context("the ingot executable has no folder")?
            .to_path_buf(),
    };
    let (path, kind) = ingot::compat::foundry_alias(&exe, &dir, copy, force)?;
    match kind {
        AliasKind::Link => println!("created {} -> {}", path.display(), exe.display()),
        AliasKind::Copy => println!("copied {} to {}", exe.display(), path.display()),
        AliasKind::Existing => println!("{} already links to {}", path.display(), exe.display()),
    }
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == dir));
    if !on_path {
        println!(
            "{} is not on PATH; add it so that tools find `foundry`",
            dir.display()
        );
    }
    Ok(())
}

//! The `ingot` binary. Everything lives in the `ingot_cli` library so tests can call it in-process.
use std::process::ExitCode;

fn main() -> ExitCode {
    ingot_cli::main_with_args(std::env::args_os())
}

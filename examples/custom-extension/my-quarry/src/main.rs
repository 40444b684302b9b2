//! `my-quarry`: quarry's command line with quarry's catalog (through `quarry-cli`) plus this
//! workspace's own `hello_tool`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Naming each crate's `EXTENSION` keeps the crate, and its registration, in the binary.
    quarry_cli::main_with(&[&hello_tool::EXTENSION])
}

//! `my-quarry`: quarry's command line with every extension of quarry (through `quarry-cli`) plus
//! this workspace's own `hello_tool`.

use std::process::ExitCode;

/// The extension crates this binary adds to quarry's. Naming each crate's `EXTENSION` keeps the
/// linker from dropping the crate and, with it, its `inventory` registration; `use hello_tool as
/// _;` alone would not.
static EXTENSIONS: &[&quarry_core::Extension] = &[&hello_tool::EXTENSION];

fn main() -> ExitCode {
    // Using the list is what keeps it, and the crates it names, in the binary.
    std::hint::black_box(EXTENSIONS);
    quarry_cli::main()
}

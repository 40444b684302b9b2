//! The `quarry` binary: every extension crate of this repository, linked into the shared CLI.

fn main() -> std::process::ExitCode {
    quarry_cli::main()
}

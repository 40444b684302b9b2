//! The `quarry` binary: quarry's catalog (`quarry-catalog`, every extension crate of this
//! repository) in the shared CLI.

fn main() -> std::process::ExitCode {
    quarry_cli::main()
}

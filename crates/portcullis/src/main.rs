//! `portcullis`: the binary. Thin on purpose: parse arguments, set up logging, hand over to a
//! subcommand in [`cli`], print any error once with its chain, and exit with a distinct code:
//! 0 success, 1 runtime failure, 2 bad usage or bad configuration.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}

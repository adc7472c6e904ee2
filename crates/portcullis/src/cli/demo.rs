//! `portcullis demo-config`: print the embedded default configuration.

use std::process::ExitCode;

pub(crate) fn run() -> ExitCode {
    print!("{}", portcullis_config::DEMO_YAML);
    ExitCode::SUCCESS
}

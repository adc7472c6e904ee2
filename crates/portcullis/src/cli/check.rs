//! `portcullis check`: validate a config file, print every problem with its position.

use std::path::Path;
use std::process::ExitCode;

use portcullis_app::CompileError;

use super::{EXIT_CONFIG, EXIT_RUNTIME};

pub(crate) fn run(path: &Path) -> ExitCode {
    match portcullis_app::check(path) {
        Ok(report) => {
            for warning in report.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: OK ({})", path.display(), report.summary);
            ExitCode::SUCCESS
        }
        Err(CompileError::Config(errors)) => {
            eprintln!("{errors}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(CompileError::Resource(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

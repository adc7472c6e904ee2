//! `portcullis check`: validate a config file, print every problem with its position.

use std::path::Path;
use std::process::ExitCode;

use portcullis_app::CompileError;
use portcullis_config::Compat;

use super::{EXIT_CONFIG, EXIT_RUNTIME};

pub(crate) fn run(path: &Path, compat: Option<Compat>) -> ExitCode {
    let options = portcullis_config::LoadOptions { compat };
    match portcullis_app::check(path, &options) {
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

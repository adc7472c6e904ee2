//! `portcullis check`: validate a config file, print every problem with its position.

use std::process::ExitCode;

use portcullis_app::CompileError;
use portcullis_app::source::ConfigSource;
use portcullis_config::Compat;

use super::{EXIT_CONFIG, EXIT_RUNTIME};

pub(crate) fn run(source: &super::SourceArgs, compat: Option<Compat>) -> ExitCode {
    let options = portcullis_config::LoadOptions { compat };
    // `check` checks a file: ./portcullis.yaml by default, never the demo.
    let source = source.resolve().unwrap_or_else(|| ConfigSource::File("portcullis.yaml".into()));
    match portcullis_app::check(&source, &options) {
        Ok(report) => {
            for warning in report.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: OK ({})", source.path().display(), report.summary);
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

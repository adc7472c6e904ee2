//! `portcullis check`: validate a config file, print every problem with its position.

use std::path::Path;
use std::process::ExitCode;

use super::EXIT_CONFIG;

pub(crate) fn run(path: &Path) -> ExitCode {
    match portcullis_app::check(path) {
        Ok((summary, warnings)) => {
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: OK ({summary})", path.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

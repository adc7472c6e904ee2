//! `portcullis init [--from KIND FILE]`: write a new project in the current directory.

use std::path::Path;
use std::process::ExitCode;

use super::{EXIT_CONFIG, EXIT_RUNTIME, import};

pub(crate) fn run(from: Option<import::Kind>, file: Option<&Path>) -> ExitCode {
    let from = from.zip(file).map(|(kind, file)| (kind.source_kind(), file));
    match portcullis_app::init::init(Path::new("."), from) {
        Ok(done) => {
            for diagnostic in &done.diagnostics {
                eprintln!("{diagnostic}");
            }
            for file in &done.written {
                eprintln!("wrote {}", file.strip_prefix(".").unwrap_or(file).display());
            }
            eprintln!("next: portcullis serve --dev");
            ExitCode::SUCCESS
        }
        Err(portcullis_app::init::InitError::Exists(path)) => {
            eprintln!(
                "error: {} already exists: remove it or run `portcullis init` in another directory",
                path.display()
            );
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error @ portcullis_app::init::InitError::Import(_)) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

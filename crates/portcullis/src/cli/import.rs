//! `portcullis import openapi|sam|serverless FILE`: the equivalent native config on standard
//! output, commented with where each value came from; what the definition holds that
//! Portcullis cannot honour on standard error. Exit 0 without errors, 2 with (the config is
//! still printed: an overlay, or an edit, resolves them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use portcullis_import::{Severity, SourceKind};

use super::EXIT_CONFIG;

/// The kind of definition, as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// OpenAPI 3.0 with API Gateway's `x-amazon-apigateway-*` extensions.
    Openapi,
    /// An AWS SAM template.
    Sam,
    /// A Serverless Framework `serverless.yml` (v3 or v4).
    Serverless,
}

impl Kind {
    pub(crate) fn source_kind(self) -> SourceKind {
        match self {
            Kind::Openapi => SourceKind::OpenApi,
            Kind::Sam => SourceKind::Sam,
            Kind::Serverless => SourceKind::Serverless,
        }
    }
}

pub(crate) fn run(kind: Kind, file: &Path, overlay: Option<&PathBuf>) -> ExitCode {
    let imported =
        match portcullis_app::source::import(kind.source_kind(), file, overlay.map(PathBuf::as_path)) {
            Ok(imported) => imported,
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    print!("{}", imported.yaml);
    for diagnostic in &imported.diagnostics {
        eprintln!("{diagnostic}");
    }
    if imported.diagnostics.iter().any(|d| d.severity == Severity::Error) {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::SUCCESS
    }
}

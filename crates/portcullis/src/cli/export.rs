//! `portcullis export openapi`: the config as an OpenAPI 3.0 document with API Gateway's
//! extensions (what `aws apigatewayv2 import-api` takes) on standard output; what has no AWS
//! equivalent, by config path, on standard error.

use std::process::ExitCode;

use super::{SourceArgs, load_config};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// OpenAPI 3.0.1 with `x-amazon-apigateway-*` extensions.
    Openapi,
}

/// The document's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Format {
    /// JSON (default).
    #[default]
    Json,
    /// YAML.
    Yaml,
}

/// `portcullis export`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The kind of document.
    #[arg(value_enum)]
    kind: Kind,
    #[command(flatten)]
    source: SourceArgs,
    /// JSON or YAML.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let config = match load_config(&args.source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let Kind::Openapi = args.kind;
    let exported = portcullis_export::export_openapi(&config);
    match args.format {
        Format::Json => print!("{}", exported.to_json()),
        Format::Yaml => print!("{}", exported.to_yaml()),
    }
    for note in &exported.notes {
        eprintln!("note: {note}");
    }
    ExitCode::SUCCESS
}

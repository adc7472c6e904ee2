//! `portcullis event KIND --path /x`: print the event the gateway would send for a request.

use std::process::ExitCode;

use portcullis_app::sample::{EventKind, SampleRequest};

use super::{EXIT_CONFIG, SourceArgs, load_config};

/// Which event, as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// A Lambda integration's payload 2.0 event.
    #[value(name = "http-2.0")]
    Http2,
    /// A Lambda integration's payload 1.0 event.
    #[value(name = "http-1.0")]
    Http1,
    /// A REQUEST Lambda authorizer's event (in its configured payload version).
    #[value(name = "authorizer-request")]
    AuthorizerRequest,
    /// A TOKEN Lambda authorizer's event.
    #[value(name = "authorizer-token")]
    AuthorizerToken,
}

/// `portcullis event`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The event.
    #[arg(value_enum)]
    kind: Kind,
    #[command(flatten)]
    source: SourceArgs,
    /// The request path, with a query string if any.
    #[arg(long, default_value = "/")]
    path: String,
    /// The method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// A header, `name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
    headers: Vec<String>,
    /// The request body.
    #[arg(long)]
    body: Option<String>,
    /// A bearer token; a JWT-protected route's event carries its claims (read, not verified).
    #[arg(long)]
    token: Option<String>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let config = match load_config(&args.source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        match header.split_once(':') {
            Some((name, value)) => headers.push((name.trim().to_owned(), value.trim().to_owned())),
            None => {
                eprintln!("error: --header {header:?} is not `name: value`");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let Ok(method) = args.method.to_ascii_uppercase().parse() else {
        eprintln!("error: --method {:?} is not a method", args.method);
        return ExitCode::from(EXIT_CONFIG);
    };
    let kind = match args.kind {
        Kind::Http2 => EventKind::Http2,
        Kind::Http1 => EventKind::Http1,
        Kind::AuthorizerRequest => EventKind::AuthorizerRequest,
        Kind::AuthorizerToken => EventKind::AuthorizerToken,
    };
    let request =
        SampleRequest { method: Some(method), path: args.path, headers, body: args.body, token: args.token };
    match portcullis_app::sample::event(&config, kind, &request) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

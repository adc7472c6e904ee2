//! `portcullis token`: mint a development token.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{EXIT_CONFIG, EXIT_RUNTIME, load_config};

/// Claims of the token to mint.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Config file (default: ./portcullis.yaml, or the embedded demo).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// `sub` claim.
    #[arg(long)]
    sub: Option<String>,
    /// `aud` claim (repeat for several audiences).
    #[arg(long)]
    aud: Vec<String>,
    /// `scope` claim (space-separated scopes).
    #[arg(long)]
    scope: Option<String>,
    /// Any other claim, `name=value`; the value is parsed as JSON when it is valid JSON
    /// (`metadata={"role":"admin"}`, `n=3`, `ok=true`), else taken as a string.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// Lifetime, e.g. `15m`, `1h`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let config = match load_config(args.config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut claims = Map::new();
    if let Some(sub) = args.sub {
        claims.insert("sub".into(), Value::String(sub));
    }
    match args.aud.len() {
        0 => {}
        1 => {
            claims.insert("aud".into(), Value::String(args.aud[0].clone()));
        }
        _ => {
            claims.insert("aud".into(), Value::from(args.aud));
        }
    }
    if let Some(scope) = args.scope {
        claims.insert("scope".into(), Value::String(scope));
    }
    for claim in args.claims {
        let Some((name, value)) = claim.split_once('=') else {
            eprintln!("error: --claim wants NAME=VALUE, got `{claim}`");
            return ExitCode::from(EXIT_CONFIG);
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        claims.insert(name.to_owned(), value);
    }
    match portcullis_app::mint_dev_token(&config, claims, args.ttl) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

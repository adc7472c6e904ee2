//! `portcullis token`: mint a development token.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{EXIT_CONFIG, EXIT_RUNTIME, load_config};

/// Claims of the token to mint.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    source: super::SourceArgs,
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
    /// Lifetime, e.g. `15m`, `1h`; negative (`-5m`) for a token that expired that long ago,
    /// to test how expired tokens are refused. At most 24h unless `--force`.
    #[arg(long, default_value = "1h", value_parser = parse_ttl, allow_hyphen_values = true)]
    ttl: Ttl,
    /// Allow a lifetime over 24 hours.
    #[arg(long)]
    force: bool,
    /// Print the development issuer's JWKS (JSON) instead of a token.
    #[arg(long, conflicts_with = "print_pem")]
    print_jwks: bool,
    /// Print the development issuer's public key as PEM instead of a token (for verifiers that
    /// embed a key, such as a networkless Lambda authorizer).
    #[arg(long)]
    print_pem: bool,
}

/// The longest lifetime minted without `--force`: a development token should not outlive the
/// day it was made for.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// A token lifetime, possibly negative.
#[derive(Debug, Clone, Copy)]
struct Ttl {
    expired: bool,
    length: Duration,
}

fn parse_ttl(text: &str) -> Result<Ttl, String> {
    let (expired, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let length = humantime::parse_duration(rest.trim()).map_err(|e| e.to_string())?;
    Ok(Ttl { expired, length })
}

pub(crate) fn run(args: Args) -> ExitCode {
    let config = match load_config(&args.source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if args.print_jwks || args.print_pem {
        return match portcullis_app::dev::dev_issuer_keys(&config) {
            Ok((jwks, pem)) => {
                if args.print_jwks {
                    println!("{jwks}");
                } else {
                    print!("{pem}");
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    if !args.ttl.expired && args.ttl.length > MAX_TTL && !args.force {
        eprintln!(
            "error: --ttl {} is longer than {}: a development token should not outlive the day; add --force if you mean it",
            humantime::format_duration(args.ttl.length),
            humantime::format_duration(MAX_TTL)
        );
        return ExitCode::from(EXIT_CONFIG);
    }
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
            claims.insert("aud".into(), Value::from(args.aud.clone()));
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
    for aud in &args.aud {
        if !portcullis_app::compile::dev_audience_accepted(&config, aud) {
            eprintln!(
                "warning: no `issuer: dev` authorizer of {} accepts the audience {aud:?}; the gateway will refuse this token (check `audience:`)",
                portcullis_app::compile::basics(&config).origin
            );
        }
    }
    let ttl = if args.ttl.expired {
        // An expired token: issued an hour before it expired, `length` ago.
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let exp = now.saturating_sub(args.ttl.length.as_secs());
        claims.insert("exp".into(), Value::from(exp));
        claims.insert("iat".into(), Value::from(exp.saturating_sub(3600)));
        Duration::ZERO
    } else {
        args.ttl.length
    };
    match portcullis_app::dev::mint_dev_token(&config, claims, ttl) {
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

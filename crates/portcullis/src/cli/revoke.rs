//! `portcullis revoke --jti ID | --sub SUBJECT [--until TIME]`: every replica denies the tokens
//! it names (reason `revoked`), through the admin listener of the config.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{EXIT_CONFIG, EXIT_RUNTIME, SourceArgs, load_config};

/// `portcullis revoke`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Revoke the token with this `jti`.
    #[arg(long, conflicts_with = "sub", required_unless_present = "sub")]
    jti: Option<String>,
    /// Revoke every token of this subject issued until now (a new sign-in is not revoked).
    #[arg(long)]
    sub: Option<String>,
    /// Keep the revocation until this time (RFC 3339, e.g. 2026-12-31T00:00:00Z) or for this
    /// long (e.g. 7d); past it, the tokens it names have expired. Default 24h.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// The admin listener to send it to (default: `admin:` of the config).
    #[arg(long, value_name = "ADDR")]
    admin: Option<std::net::SocketAddr>,
}

fn until(text: &str) -> Result<u64, String> {
    let now = SystemTime::now();
    let at = match humantime::parse_rfc3339_weak(text) {
        Ok(at) => at,
        Err(_) => {
            now + humantime::parse_duration(text)
                .map_err(|_| format!("--until {text:?}: a time (2026-12-31T00:00:00Z) or a duration (7d)"))?
        }
    };
    let at = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    if at <= now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs() {
        return Err(format!("--until {text:?} is not in the future"));
    }
    Ok(at)
}

pub(crate) fn run(args: Args) -> ExitCode {
    let config = match load_config(&args.source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let basics = portcullis_app::compile::basics(&config);
    if !basics.revocation {
        eprintln!("error: revocation is off in this config: set `revocation: {{enabled: true}}`");
        return ExitCode::from(EXIT_CONFIG);
    }
    let mut body = serde_json::Map::new();
    match (&args.jti, &args.sub) {
        (Some(jti), _) => body.insert("jti".into(), jti.clone().into()),
        (_, Some(sub)) => body.insert("sub".into(), sub.clone().into()),
        _ => unreachable!("clap requires one"),
    };
    if let Some(text) = &args.until {
        match until(text) {
            Ok(at) => body.insert("until".into(), at.into()),
            Err(problem) => {
                eprintln!("error: {problem}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    }
    let admin = args.admin.unwrap_or(basics.admin);
    // The admin listener of a config with a token wants it on every call.
    let token = match portcullis_app::admin_token(&config) {
        Ok(token) => token,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let revocation = serde_json::Value::Object(body);
    match runtime.block_on(portcullis_app::dev::send_revocation(admin, &revocation, token.as_deref())) {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("error: {problem}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

//! Command-line interface: argument definitions and dispatch to one module per subcommand.

mod check;
mod demo;
mod explain;
mod invoke;
mod logging;
mod serve;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit status for bad usage or an invalid configuration (clap uses 2 for usage errors too).
pub(crate) const EXIT_CONFIG: u8 = 2;
/// Exit status for failures while running.
pub(crate) const EXIT_RUNTIME: u8 = 1;

const EXAMPLES: &str = "\
Examples:
  portcullis serve                        run the embedded demo on 127.0.0.1:8080 (no config needed)
  portcullis serve --config gateway.yaml  run with your configuration
  portcullis serve --dev --listen 3000    the same for development: readable logs, reloads, hints
  portcullis check --config gateway.yaml  validate a configuration and exit (2 if invalid);
                                          --compat aws names what would not behave the same on AWS
  portcullis demo-config > gateway.yaml   start from the demo configuration
  TOKEN=$(portcullis token --sub alice --aud portcullis-demo --scope 'read write' --ttl 1h)
  portcullis explain --route 'GET /private' --token \"$TOKEN\"
  RUST_LOG=debug portcullis serve --log-format pretty";

/// A self-hosted API gateway that speaks AWS API Gateway's authorizer and Lambda contracts.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Log level or filter (e.g. `info`, `portcullis=debug`); overrides RUST_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log and access-log format (default: `log.format` from the config, else `json`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One JSON object per line (default; for machines).
    Json,
    /// Human-readable lines (for terminals).
    Pretty,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (on the embedded demo config when no config file exists).
    Serve {
        /// Config file. Default: ./portcullis.yaml, or the embedded demo if that does not exist.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Override `listen:`: `IP:PORT`, `localhost:PORT`, or `PORT` / `:PORT` on the
        /// configured IP (`127.0.0.1:0` for an ephemeral port).
        #[arg(long, value_name = "ADDR", value_parser = serve::Address::parse)]
        listen: Option<serve::Address>,
        /// Override `admin:` (the same forms).
        #[arg(long, value_name = "ADDR", value_parser = serve::Address::parse)]
        admin: Option<serve::Address>,
        /// Development mode: human-readable logs on a terminal, every function watched, the
        /// route table at start, one line per request, `debug_headers` on, and 404s that name
        /// the nearest routes. The embedded demo always runs this way.
        #[arg(long)]
        dev: bool,
    },
    /// Validate a config file and exit: 0 if valid, 2 with every problem listed if not.
    Check {
        /// Config file to check.
        #[arg(long, short, value_name = "FILE", default_value = "portcullis.yaml")]
        config: PathBuf,
        /// Check as if the file said `compat:` this: `aws` names everything that would not
        /// behave the same on AWS.
        #[arg(long, value_name = "MODE", value_parser = ["aws", "extended"])]
        compat: Option<String>,
    },
    /// Print the embedded demo configuration (what `serve` runs without a config file).
    DemoConfig,
    /// Run a function once with an event and print its result (exit 1 if it failed).
    Invoke {
        /// Config file (default: ./portcullis.yaml, or the embedded demo).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The function's name under `functions:`.
        function: String,
        /// The event: a JSON file, or `-` for standard input. Default `{}`.
        #[arg(long, value_name = "FILE|-")]
        event: Option<PathBuf>,
    },
    /// Mint a token from the built-in development issuer (`issuer: dev` authorizers accept it).
    Token(token::Args),
    /// Explain what a route's authorizer decides for a token, check by check (exit 3 if denied).
    Explain {
        /// Config file (default: ./portcullis.yaml, or the embedded demo).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The route key, e.g. "GET /private".
        #[arg(long, value_name = "ROUTE_KEY")]
        route: String,
        /// The token: for JWT authorizers with or without `Bearer `; for Lambda authorizers
        /// the identity value exactly as the client would send it. Not needed for a public route.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// The request path (default: the route's path with the braces removed).
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
        /// An extra request header, `name: value` (repeatable), e.g. another identity source.
        #[arg(long = "header", short = 'H', value_name = "HEADER")]
        headers: Vec<String>,
        /// Lambda authorizers: first send the same identity to this path, so the explained
        /// request reuses that cached answer (shows the cached-policy surprise).
        #[arg(long, value_name = "PATH")]
        cached_from: Option<String>,
    },
}

/// The config a non-serving subcommand reads: `--config`, else ./portcullis.yaml, else the demo.
pub(crate) fn load_config(path: Option<PathBuf>) -> Result<portcullis_config::Config, ExitCode> {
    let path = path.or_else(|| {
        let default = PathBuf::from("portcullis.yaml");
        default.exists().then_some(default)
    });
    match path {
        Some(path) => portcullis_app::load::load_config(&path).map_err(|errors| {
            eprintln!("{errors}");
            ExitCode::from(EXIT_CONFIG)
        }),
        None => Ok(demo_config()),
    }
}

/// The embedded demo, with its function's handler written where it says.
pub(crate) fn demo_config() -> portcullis_config::Config {
    let config = portcullis_config::demo();
    if let Err(error) = portcullis_app::dev::prepare_demo(&config) {
        eprintln!("warning: the demo's function could not be written: {error}");
    }
    config
}

/// Parse arguments and run the chosen subcommand.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for the whole process, chosen explicitly: auto-selection panics when
    // feature unification enables two.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cli.command {
        Command::Serve { config, listen, admin, dev } => serve::run(
            config,
            serve::Overrides { listen, admin, log_level: cli.log_level, log_format: cli.log_format, dev },
        ),
        Command::Check { config, compat } => check::run(
            &config,
            compat.map(|c| {
                if c == "aws" { portcullis_config::Compat::Aws } else { portcullis_config::Compat::Extended }
            }),
        ),
        Command::DemoConfig => demo::run(),
        Command::Token(args) => token::run(args),
        Command::Invoke { config, function, event } => {
            logging::init(cli.log_level.as_deref(), cli.log_format.unwrap_or(LogFormat::Json));
            invoke::run(config, &function, event)
        }
        Command::Explain { config, route, token, path, headers, cached_from } => {
            explain::run(config, route, token, path, &headers, cached_from)
        }
    }
}

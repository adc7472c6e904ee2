//! Command-line interface: argument definitions and dispatch to one module per subcommand.

mod check;
mod demo;
mod event;
mod explain;
mod export;
mod import;
mod init;
mod invoke;
mod logging;
mod revoke;
mod routes;
mod serve;
mod token;

use std::path::PathBuf;

use portcullis_app::source::ConfigSource;
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
  portcullis init                         start a project: portcullis.yaml, a handler, .gitignore
  portcullis serve --sam template.yaml    serve a SAM template's HTTP API (or --openapi, --serverless)
  portcullis import openapi api.yaml > portcullis.yaml   the native config of a definition
  portcullis export openapi > api.json    the config as an OpenAPI document for AWS
  portcullis routes                       the route table
  portcullis event http-2.0 --path /pets/1   the event a handler gets for a request
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

/// Where the configuration comes from: a native config file, or an API definition with an
/// optional native overlay (`--config` beside the definition).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SourceArgs {
    /// Config file (default: ./portcullis.yaml, or the embedded demo). With a definition
    /// (`--openapi`, `--sam`, `--serverless`): a native overlay for what it cannot say.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Serve this OpenAPI 3.0 document with API Gateway's extensions (YAML or JSON).
    #[arg(long, value_name = "FILE", group = "definition")]
    pub(crate) openapi: Option<PathBuf>,
    /// Serve this AWS SAM template's HTTP API.
    #[arg(long, value_name = "FILE", group = "definition")]
    pub(crate) sam: Option<PathBuf>,
    /// Serve this Serverless Framework service's `httpApi` (serverless.yml, v3 or v4).
    #[arg(long, value_name = "FILE", group = "definition")]
    pub(crate) serverless: Option<PathBuf>,
}

impl SourceArgs {
    /// The source given, `./portcullis.yaml` when it exists, else `None` (the embedded demo).
    pub(crate) fn resolve(&self) -> Option<ConfigSource> {
        use portcullis_import::SourceKind;
        let definition = [
            (SourceKind::OpenApi, &self.openapi),
            (SourceKind::Sam, &self.sam),
            (SourceKind::Serverless, &self.serverless),
        ]
        .into_iter()
        .find_map(|(kind, path)| path.clone().map(|path| (kind, path)));
        if let Some((kind, path)) = definition {
            return Some(ConfigSource::Definition { kind, path, overlay: self.config.clone() });
        }
        let path = self.config.clone().or_else(|| {
            let default = PathBuf::from("portcullis.yaml");
            default.exists().then_some(default)
        })?;
        Some(ConfigSource::File(path))
    }
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
        #[command(flatten)]
        source: SourceArgs,
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
        #[command(flatten)]
        source: SourceArgs,
        /// Check as if the file said `compat:` this: `aws` names everything that would not
        /// behave the same on AWS.
        #[arg(long, value_name = "MODE", value_parser = ["aws", "extended"])]
        compat: Option<String>,
    },
    /// Print the embedded demo configuration (what `serve` runs without a config file).
    DemoConfig,
    /// Write a new project: a commented portcullis.yaml, a sample handler, a .gitignore entry
    /// for the state directory (or the config imported from a definition with `--from`).
    Init {
        /// Import this kind of definition instead of writing the starter config.
        #[arg(long, value_enum, requires = "file")]
        from: Option<import::Kind>,
        /// The definition to import with `--from`.
        file: Option<PathBuf>,
    },
    /// Print the native config equivalent to an API definition (diagnostics on stderr; exit 2
    /// when something needs an overlay).
    Import {
        /// The kind of definition.
        #[arg(value_enum)]
        kind: import::Kind,
        /// The definition (YAML or JSON).
        file: PathBuf,
        /// A native overlay for what the definition cannot say.
        #[arg(long, value_name = "FILE")]
        overlay: Option<PathBuf>,
    },
    /// Print the config as an OpenAPI 3.0 document with API Gateway's extensions (notes on
    /// stderr for what AWS cannot express).
    Export(export::Args),
    /// Print the route table (key, authorizer, scopes, integration) of a config or definition.
    Routes {
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Print the event the gateway would send for a request (as serving builds it).
    Event(event::Args),
    /// Revoke a token (`--jti`) or a subject's tokens (`--sub`) on every replica.
    Revoke(revoke::Args),
    /// Run a function once with an event and print its result (exit 1 if it failed).
    Invoke {
        #[command(flatten)]
        source: SourceArgs,
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
        #[command(flatten)]
        source: SourceArgs,
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

/// The config a non-serving subcommand reads: the source given, else ./portcullis.yaml, else
/// the demo.
pub(crate) fn load_config(source: &SourceArgs) -> Result<portcullis_config::Config, ExitCode> {
    match source.resolve() {
        Some(source) => portcullis_app::source::load(&source).map_err(|errors| {
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
        Command::Serve { source, listen, admin, dev } => serve::run(
            &source,
            serve::Overrides { listen, admin, log_level: cli.log_level, log_format: cli.log_format, dev },
        ),
        Command::Check { source, compat } => check::run(
            &source,
            compat.map(|c| {
                if c == "aws" { portcullis_config::Compat::Aws } else { portcullis_config::Compat::Extended }
            }),
        ),
        Command::DemoConfig => demo::run(),
        Command::Init { from, file } => init::run(from, file.as_deref()),
        Command::Import { kind, file, overlay } => import::run(kind, &file, overlay.as_ref()),
        Command::Routes { source } => routes::run(&source),
        Command::Export(args) => export::run(args),
        Command::Event(args) => event::run(args),
        Command::Revoke(args) => revoke::run(args),
        Command::Token(args) => token::run(args),
        Command::Invoke { source, function, event } => {
            logging::init(cli.log_level.as_deref(), cli.log_format.unwrap_or(LogFormat::Json));
            invoke::run(&source, &function, event)
        }
        Command::Explain { source, route, token, path, headers, cached_from } => {
            explain::run(&source, route, token, path, &headers, cached_from)
        }
    }
}

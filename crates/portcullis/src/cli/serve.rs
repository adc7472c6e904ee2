//! `portcullis serve`: run until SIGTERM/SIGINT (graceful drain), reloading on SIGHUP, reopening
//! the access-log file on SIGUSR1 and SIGHUP.

use portcullis_app::source::ConfigSource;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::Context as _;
use portcullis_app::{Running, StartOptions};
use tokio::signal::unix::{SignalKind, signal};

use super::{EXIT_CONFIG, EXIT_RUNTIME, LogFormat, logging};

/// Request threads (the main listener's, each a single-threaded runtime that keeps the
/// connections it accepts): `PORTCULLIS_REQUEST_THREADS` when set to a positive number, otherwise
/// one fewer than the CPUs available, at least one. Why not one per CPU: about 60% of a proxied
/// request's CPU is the kernel's loopback and TCP work, on the same cores, and a gateway usually
/// shares its host with upstreams, sidecars or function instances (docs/operations.md#request-threads
/// has the measurements).
fn request_threads() -> Result<NonZeroUsize, String> {
    match std::env::var("PORTCULLIS_REQUEST_THREADS") {
        Ok(value) => value.trim().parse::<NonZeroUsize>().map_err(|_| {
            format!("PORTCULLIS_REQUEST_THREADS: expected a positive number of threads, got {value:?}")
        }),
        Err(_) => Ok(all_cpus_but_one()),
    }
}

/// The main runtime's worker threads (the admin listener and console, functions' Runtime API,
/// reloads and background refreshes; requests run on the request threads):
/// `TOKIO_WORKER_THREADS` when set (tokio reads it itself), otherwise one fewer than the CPUs
/// available, at least one, so that a busy function does not take every core from the requests.
fn worker_threads() -> Option<usize> {
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        return None;
    }
    Some(all_cpus_but_one().get())
}

/// One fewer than the CPUs available, at least one.
fn all_cpus_but_one() -> NonZeroUsize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    NonZeroUsize::new(cpus - 1).unwrap_or(NonZeroUsize::MIN)
}

/// Where the configuration comes from.
enum Source {
    Given(ConfigSource),
    Demo,
}

/// Command-line overrides of config values.
pub(crate) struct Overrides {
    pub(crate) listen: Option<Address>,
    pub(crate) admin: Option<Address>,
    pub(crate) log_level: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) dev: bool,
}

/// `--listen` and `--admin`: `IP:PORT`, `localhost:PORT`, or `PORT` / `:PORT` (the configured
/// address's IP with this port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Address {
    /// A full address.
    Full(SocketAddr),
    /// A port on the configured IP.
    Port(u16),
}

impl Address {
    /// Parses the forms above (for clap).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{p:?} is not a port (0 to 65535)"));
        if let Some(p) = text.strip_prefix(':') {
            return port(p).map(Address::Port);
        }
        if !text.contains(':') {
            return port(text).map(Address::Port);
        }
        if let Some(p) = text.strip_prefix("localhost:") {
            return port(p).map(|p| Address::Full(SocketAddr::from(([127, 0, 0, 1], p))));
        }
        text.parse().map(Address::Full).map_err(|_| {
            format!("{text:?} is not an address: write IP:PORT (127.0.0.1:8080, [::1]:8080), localhost:PORT, :PORT or PORT")
        })
    }

    fn resolve(self, configured: SocketAddr) -> SocketAddr {
        match self {
            Address::Full(addr) => addr,
            Address::Port(port) => SocketAddr::new(configured.ip(), port),
        }
    }
}

pub(crate) fn run(source: &super::SourceArgs, overrides: Overrides) -> ExitCode {
    let source = match source.resolve() {
        Some(source) => Source::Given(source),
        None => Source::Demo,
    };
    let config = match &source {
        Source::Given(source) => match portcullis_app::source::load(source) {
            Ok(config) => config,
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        Source::Demo => super::demo_config(),
    };
    // The embedded demo is for trying things out: it runs as `--dev` does.
    let dev = overrides.dev || matches!(source, Source::Demo);
    // Logging is set up once the config is known: command line, then `log:`, then defaults
    // (for `--dev`, human-readable on a terminal).
    let basics = portcullis_app::compile::basics(&config);
    let format = overrides.log_format.unwrap_or(match basics.log_format {
        Some(portcullis_config::LogFormat::Pretty) => LogFormat::Pretty,
        Some(portcullis_config::LogFormat::Json) => LogFormat::Json,
        None if dev => logging::for_terminal(),
        None => LogFormat::Json,
    });
    logging::init(overrides.log_level.as_deref().or(basics.log_level.as_deref()), format);
    let open_files = portcullis_app::lifecycle::raise_open_file_limit();
    tracing::debug!(open_files, "open-file limit");
    let request_threads = match request_threads() {
        Ok(threads) => threads,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = worker_threads() {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let options = StartOptions {
        source: match &source {
            Source::Given(source) => Some(source.clone()),
            Source::Demo => None,
        },
        listen: overrides.listen.map(|a| a.resolve(basics.listen)),
        admin: overrides.admin.map(|a| a.resolve(basics.admin)),
        access_log_format: match format {
            LogFormat::Json => portcullis_app::AccessLogFormat::Json,
            LogFormat::Pretty => portcullis_app::AccessLogFormat::Pretty,
        },
        dev,
        request_threads,
    };
    match runtime.block_on(serve(config, basics.listen, options, matches!(source, Source::Demo))) {
        Ok(()) => ExitCode::SUCCESS,
        // Problems found while compiling the config (e.g. a missing key file) are config errors.
        Err(Failure::Config(errors)) => {
            eprintln!("{errors}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Start(error)) => {
            // Once, on stderr, in words: a port in use says which flag picks another.
            eprintln!("error: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(Failure::Other(error)) => {
            tracing::error!(error = format!("{error:#}"), "portcullis stopped");
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Why `serve` stopped with an error.
enum Failure {
    Config(portcullis_config::ConfigErrors),
    Start(String),
    Other(anyhow::Error),
}

/// What to say when a listener cannot bind.
fn bind_failure(error: &portcullis_app::StartError, listen: SocketAddr) -> String {
    let portcullis_app::StartError::Bind { addr, source } = error else { return error.to_string() };
    let flag = if *addr == listen { "--listen" } else { "--admin" };
    let key = if *addr == listen { "listen:" } else { "admin:" };
    if source.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "cannot listen on {addr}: the port is in use (another Portcullis, or another program). Pick another port with {flag} PORT, or set `{key}` in the config"
        )
    } else {
        format!(
            "cannot listen on {addr}: {source}. Pick another address with {flag}, or set `{key}` in the config"
        )
    }
}

/// Serves `config`; `configured_listen` is its `listen:`, which the command line may override.
async fn serve(
    config: portcullis_config::Config,
    configured_listen: std::net::SocketAddr,
    options: StartOptions,
    demo: bool,
) -> Result<(), Failure> {
    let signals = || -> anyhow::Result<_> {
        Ok((
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
            signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?,
        ))
    };
    let (mut terminate, mut interrupt, mut hangup, mut user1) = signals().map_err(Failure::Other)?;
    let dev = options.dev;
    let listen = options.listen.unwrap_or(configured_listen);
    let routes = dev.then(|| portcullis_app::compile::route_table(&config));
    let running = match Running::start(config, options).await {
        Ok(running) => running,
        Err(portcullis_app::StartError::Config(errors)) => return Err(Failure::Config(errors)),
        Err(error @ portcullis_app::StartError::Bind { .. }) => {
            return Err(Failure::Start(bind_failure(&error, listen)));
        }
        Err(error) => return Err(Failure::Other(anyhow::Error::new(error).context("starting the gateway"))),
    };
    tracing::info!(
        listen = %running.listen_addr(),
        admin = %running.admin_addr(),
        version = env!("CARGO_PKG_VERSION"),
        "ready"
    );
    if let Some(routes) = routes {
        eprintln!("{routes}");
    }
    if demo {
        eprintln!("{}", portcullis_app::dev::demo_banner(&running));
    }
    loop {
        tokio::select! {
            _ = terminate.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = interrupt.recv() => { tracing::info!("SIGINT: draining"); break; }
            _ = hangup.recv() => {
                running.reopen_access_log();
                match running.reload().await {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(error) => tracing::error!(error = %error, "reload refused; the previous configuration keeps serving"),
                }
            }
            _ = user1.recv() => running.reopen_access_log(),
        }
    }
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

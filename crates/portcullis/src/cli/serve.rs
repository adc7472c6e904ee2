//! `portcullis serve`: run until SIGTERM/SIGINT (graceful drain), reloading on SIGHUP, reopening
//! the access-log file on SIGUSR1 and SIGHUP.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use portcullis_app::{Running, StartOptions};
use tokio::signal::unix::{SignalKind, signal};

use super::{EXIT_CONFIG, EXIT_RUNTIME, LogFormat, logging};

/// Request worker threads: `TOKIO_WORKER_THREADS` when set (tokio reads it itself), otherwise one
/// fewer than the CPUs available, at least one. Why not one per CPU (tokio's default): about 40%
/// of a proxied request's CPU is the kernel's loopback/TCP work, which runs on the same cores, and
/// the gateway usually shares its host with upstreams or sidecars. On the 2-CPU benchmark machine
/// one worker instead of two cut the gateway's CPU per request by 25% (public route 34.3 -> 25.8
/// us, cached JWT 38.0 -> 30.4 us) and raised requests/s by a third, with no loss on the
/// RSA-bound uncached route (docs/benchmarks.md).
fn worker_threads() -> Option<usize> {
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        return None;
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    Some(cpus.saturating_sub(1).max(1))
}

/// Where the configuration comes from.
enum Source {
    File(PathBuf),
    Demo,
}

/// Command-line overrides of config values.
pub(crate) struct Overrides {
    pub(crate) listen: Option<std::net::SocketAddr>,
    pub(crate) admin: Option<std::net::SocketAddr>,
    pub(crate) log_level: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
}

pub(crate) fn run(config: Option<PathBuf>, overrides: Overrides) -> ExitCode {
    let source = match config {
        Some(path) => Source::File(path),
        None if Path::new("portcullis.yaml").exists() => Source::File(PathBuf::from("portcullis.yaml")),
        None => Source::Demo,
    };
    let config = match &source {
        Source::File(path) => match portcullis_app::load::load_config(path) {
            Ok(config) => config,
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        Source::Demo => portcullis_config::demo(),
    };
    // Logging is set up once the config is known: command line, then `log:`, then defaults.
    let format = overrides.log_format.unwrap_or(match config.log.format {
        Some(portcullis_config::LogFormat::Pretty) => LogFormat::Pretty,
        _ => LogFormat::Json,
    });
    logging::init(overrides.log_level.as_deref().or(config.log.level.as_deref()), format);
    let open_files = portcullis_app::lifecycle::raise_open_file_limit();
    tracing::debug!(open_files, "open-file limit");
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
        config_path: match &source {
            Source::File(path) => Some(path.clone()),
            Source::Demo => None,
        },
        listen: overrides.listen,
        admin: overrides.admin,
        access_log_format: match format {
            LogFormat::Json => portcullis_app::AccessLogFormat::Json,
            LogFormat::Pretty => portcullis_app::AccessLogFormat::Pretty,
        },
    };
    match runtime.block_on(serve(config, options, matches!(source, Source::Demo))) {
        Ok(()) => ExitCode::SUCCESS,
        // Problems found while compiling the config (e.g. a missing key file) are config errors.
        Err(error)
            if error
                .downcast_ref::<portcullis_app::StartError>()
                .is_some_and(|e| matches!(e, portcullis_app::StartError::Config(_))) =>
        {
            eprintln!("{error}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "portcullis stopped");
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

async fn serve(config: portcullis_config::Config, options: StartOptions, demo: bool) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut user1 = signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;

    let running = match Running::start(config, options).await {
        Ok(running) => running,
        Err(error @ portcullis_app::StartError::Config(_)) => return Err(error.into()),
        Err(error) => return Err(anyhow::Error::new(error).context("starting the gateway")),
    };
    tracing::info!(
        listen = %running.listen_addr(),
        admin = %running.admin_addr(),
        version = env!("CARGO_PKG_VERSION"),
        "ready"
    );
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

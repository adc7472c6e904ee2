//! Start, run and stop the gateway: bind listeners, serve, drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use portcullis_config::Config;
use portcullis_core::RequestIdGenerator;
use portcullis_pipeline::{AccessLogFormat, AccessLogSink, AccessLogWriter, Gateway, Metrics, NoAccessLog};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::AdminState;
use crate::compile::RestartOnly;
use crate::compile::{self, CompileError};
use crate::console::{About, Console};
use crate::registry::Registry;
use crate::reload::{ReloadError, Reloader};
use crate::{StartError, tls};

/// Raises the process's open-file limit to its hard limit (the soft limit is often 1,024, far
/// below what a gateway needs), and returns the limit now in force. Call once at start.
pub fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(error) => {
                tracing::warn!(%error, soft, hard, "could not raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

pub(crate) fn open_file_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}

/// How to start.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Where the config came from (`None` for the embedded demo); SIGHUP reads it again.
    pub source: Option<crate::source::ConfigSource>,
    /// Access-log line format.
    pub access_log_format: AccessLogFormat,
    /// Bind here instead of `listen:` (the config, and what is derived from it, is unchanged).
    pub listen: Option<SocketAddr>,
    /// Bind here instead of `admin:`. The development issuer's `iss` still derives from the
    /// configured `admin:`, so tokens minted by `portcullis token` from the same file match.
    pub admin: Option<SocketAddr>,
    /// Development mode (`serve --dev`, the embedded demo): every function watched,
    /// `debug_headers` on, for this config and every reload; the console shows claim and header
    /// values unmasked, and the event sent to each function.
    pub dev: bool,
    /// How many request threads serve the main listener (each with a runtime of its own).
    pub request_threads: std::num::NonZeroUsize,
}

/// A started gateway.
pub struct Running {
    listen: SocketAddr,
    admin: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    reloader: Reloader,
    admin_state: Arc<AdminState>,
    access_log: Option<Arc<AccessLogWriter>>,
    /// Tasks that run until the gateway stops (revocation sync).
    background: Vec<JoinHandle<()>>,
    /// The main listener's request threads, released once the functions have stopped.
    request_threads: portcullis_pipeline::RequestThreads,
}

impl Running {
    /// Compile `config`, bind the listeners and start serving.
    ///
    /// # Errors
    /// [`StartError`]: the config is invalid, a listener cannot bind, TLS material is unusable,
    /// or a resource cannot be created.
    pub async fn start(config: Config, options: StartOptions) -> Result<Self, StartError> {
        let config = if options.dev { compile::developing(config) } else { config };
        for warning in compile::warnings(&config) {
            tracing::warn!(%warning, "configuration warning");
        }
        let serving = compile::serving(&config, &options, open_file_limit())?;
        let admin_token = crate::console::admin_token(&serving)?;
        let process = compile::process(&config);
        let config_origin = process.origin.clone();
        for warning in crate::preflight::warnings(&process.functions) {
            tracing::warn!(%warning, "configuration warning");
        }
        let registry = Arc::new(Registry::new(&process).map_err(CompileError::from)?);
        registry.prepare_functions(&process).await.map_err(CompileError::from)?;
        let snapshot = compile::snapshot(&config, registry.as_ref())?;
        // Revocations: in step with the other replicas, or read from state_dir.
        let background: Vec<JoinHandle<()>> = if process.revocation.enabled {
            registry.start_revocations(process.revocation.resync).into_iter().collect()
        } else {
            Vec::new()
        };
        // Key sets of every issuer are fetched in parallel now, then refreshed in the background;
        // a request arriving before its issuer answered fails closed (keys_unavailable).
        registry.jwks().start_all();
        for (label, outcome) in registry.jwks().ready_all(std::time::Duration::from_secs(2)).await {
            match outcome {
                Ok(()) => tracing::info!(keys = %label, "signing keys loaded"),
                Err(error) => {
                    tracing::warn!(keys = %label, %error, "signing keys not available yet; requests fail closed until they are")
                }
            }
        }
        let reloader = Reloader::new(
            snapshot,
            Arc::clone(&registry),
            options.source.clone(),
            options.dev,
            RestartOnly::of(&config),
        );
        // The parsed config is no longer needed; its pages go back with the loader's.
        drop(config);

        let mut listener_settings = serving.listener.clone();
        listener_settings.tls = match &serving.tls {
            Some(files) => Some(tls::server_config(&files.cert, &files.key)?),
            None => None,
        };
        let bind_error = |addr| move |source| StartError::Bind { addr, source };
        let main_listener = TcpListener::bind(serving.listen).await.map_err(bind_error(serving.listen))?;
        let admin_listener = TcpListener::bind(serving.admin).await.map_err(bind_error(serving.admin))?;
        let listen = main_listener.local_addr().map_err(bind_error(serving.listen))?;
        let admin = admin_listener.local_addr().map_err(bind_error(serving.admin))?;

        let writer = match serving.access_log.clone() {
            Some((format, output)) => {
                let describe = match &output {
                    portcullis_pipeline::AccessLogOutput::File(path) => path.display().to_string(),
                    other => format!("{other:?}").to_lowercase(),
                };
                Some(Arc::new(
                    AccessLogWriter::start(format, output)
                        .map_err(|source| StartError::AccessLog { output: describe, source })?,
                ))
            }
            None => None,
        };
        let access_log: Arc<dyn AccessLogSink> = match &writer {
            Some(writer) => Arc::clone(writer) as Arc<dyn AccessLogSink>,
            None => Arc::new(NoAccessLog),
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        // The console's live stream taps finished requests on their way to the access log; with
        // no stream open it passes them straight through.
        let (access_log, live, live_hub) =
            crate::console::start_live(access_log, reloader.live(), options.dev, shutdown_rx.clone());
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        let metrics = Arc::new(Metrics::default());
        let gateway = Arc::new(Gateway::new(
            reloader.live(),
            RequestIdGenerator::new(seed),
            access_log,
            Arc::clone(&metrics),
        ));
        tracing::debug!(max_connections = listener_settings.connections.max, "connection limits");
        let console = Console::new(
            reloader.live(),
            Arc::clone(&registry),
            Arc::clone(&metrics),
            live,
            About {
                listen,
                admin,
                config_origin,
                started_at: std::time::SystemTime::now(),
                dev: options.dev,
            },
            shutdown_rx.clone(),
        );
        let admin_state =
            Arc::new(AdminState::new(Arc::clone(&registry), metrics, console, admin_token, writer.clone()));
        let main_listener = main_listener.into_std().map_err(bind_error(listen))?;
        let (main_drained, request_threads) = portcullis_pipeline::serve_on_request_threads(
            main_listener,
            options.request_threads,
            listener_settings,
            gateway,
            shutdown_rx.clone(),
        )
        .map_err(|source| StartError::RequestThreads { source })?;
        let tasks = vec![
            live_hub,
            tokio::spawn(main_drained),
            tokio::spawn(portcullis_pipeline::serve(
                admin_listener,
                serving.admin_listener.clone(),
                Arc::clone(&admin_state),
                shutdown_rx.clone(),
            )),
        ];
        admin_state.ready.store(true, Ordering::Relaxed);
        crate::heap::release_free_pages();
        Ok(Running {
            listen,
            admin,
            shutdown,
            tasks,
            reloader,
            admin_state,
            access_log: writer,
            background,
            request_threads,
        })
    }

    /// The bound main address (the real port when config said port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Re-read the config file and swap the new snapshot in; on any error the old one stays.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        self.reloader.reload().await
    }

    /// Reopen the access-log file (after logrotate moved it); nothing for stdout or stderr.
    pub fn reopen_access_log(&self) {
        if let Some(writer) = &self.access_log {
            writer.reopen();
        }
    }

    /// The long-lived state (the development issuer, functions).
    pub fn registry(&self) -> &Arc<Registry> {
        self.reloader.registry()
    }

    /// Stop accepting, let in-flight requests finish (up to the drain timeout), stop everything.
    pub async fn shutdown(self) {
        self.admin_state.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        for task in &self.background {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        // Requests have drained: the access log's last lines go out, and no instance may outlive
        // the gateway.
        if let Some(writer) = &self.access_log {
            writer.close();
        }
        self.reloader.registry().shutdown().await;
        // Tasks a request started on a request thread (a function instance's) have stopped: the
        // request threads' runtimes may end.
        drop(self.request_threads);
    }
}

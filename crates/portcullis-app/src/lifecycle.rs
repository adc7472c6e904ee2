//! Start, run and stop the gateway: bind listeners, serve, drain.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use portcullis_config::Config;
use portcullis_core::RequestIdGenerator;
use portcullis_pipeline::{
    AccessLogFormat, AccessLogSink, ConnectionLimits, Gateway, JsonLinesSink, ListenerSettings, Metrics,
    NoAccessLog,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::AdminState;
use crate::registry::Registry;
use crate::reload::{ReloadError, Reloader};
use crate::{StartError, compile, tls};

/// Connections the admin listener accepts at once.
const ADMIN_MAX_CONNECTIONS: NonZeroUsize = NonZeroUsize::new(256).expect("non-zero");

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

/// `--listen` may move a config written for loopback onto a public address: the development
/// issuer is refused there as the config check refuses it in the file.
fn refuse_exposed_dev_issuer(config: &Config, listen: SocketAddr) -> Result<(), StartError> {
    if listen.ip().is_loopback() || config.allow_dev_issuer {
        return Ok(());
    }
    let dev = config.authorizers.iter().find(|(_, a)| {
        matches!(a, portcullis_config::AuthorizerConfig::Jwt(jwt) if matches!(jwt.issuer, portcullis_config::Issuer::Dev))
    });
    let Some((name, _)) = dev else { return Ok(()) };
    Err(StartError::Config(portcullis_config::ConfigErrors::single(portcullis_config::ConfigError::at(
        config.origin.clone(),
        config.authorizer_spans.get(name).copied().unwrap_or_default(),
        format!("authorizers.{name}"),
        format!(
            "`issuer: dev` on a listener other machines can reach ({listen}): tokens from the development issuer would be accepted from anyone; listen on 127.0.0.1, or set `allow_dev_issuer: true` if this is meant"
        ),
    ))))
}

fn open_file_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}

/// How to start.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The file the config came from (`None` for the embedded demo); SIGHUP re-reads it.
    pub config_path: Option<PathBuf>,
    /// Access-log line format.
    pub access_log_format: AccessLogFormat,
    /// Bind here instead of `listen:` (the config, and what is derived from it, is unchanged).
    pub listen: Option<SocketAddr>,
    /// Bind here instead of `admin:`. The development issuer's `iss` still derives from the
    /// configured `admin:`, so tokens minted by `portcullis token` from the same file match.
    pub admin: Option<SocketAddr>,
}

/// A started gateway.
pub struct Running {
    listen: SocketAddr,
    admin: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    reloader: Reloader,
    admin_state: Arc<AdminState>,
}

impl Running {
    /// Compile `config`, bind the listeners and start serving.
    pub async fn start(config: Config, options: StartOptions) -> Result<Self, StartError> {
        for warning in &config.warnings {
            tracing::warn!(warning = %warning, "configuration warning");
        }
        for warning in crate::preflight::warnings(&config) {
            tracing::warn!(%warning, "configuration warning");
        }
        let registry = Arc::new(Registry::new(&config)?);
        registry.prepare_functions(&config).await?;
        let snapshot = compile::snapshot(&config, &registry)?;
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
        let reloader = Reloader::new(snapshot, Arc::clone(&registry), options.config_path.clone());

        let tls = match &config.tls {
            Some(tls) => Some(tls::server_config(&tls.cert, &tls.key)?),
            None => None,
        };
        let listen_at = options.listen.unwrap_or(config.listen);
        refuse_exposed_dev_issuer(&config, listen_at)?;
        let admin_at = options.admin.unwrap_or(config.admin);
        let bind_error = |addr| move |source| StartError::Bind { addr, source };
        let main_listener = TcpListener::bind(listen_at).await.map_err(bind_error(listen_at))?;
        let admin_listener = TcpListener::bind(admin_at).await.map_err(bind_error(admin_at))?;
        let listen = main_listener.local_addr().map_err(bind_error(listen_at))?;
        let admin = admin_listener.local_addr().map_err(bind_error(admin_at))?;

        let access_log: Arc<dyn AccessLogSink> = if config.access_log.enabled {
            Arc::new(JsonLinesSink::stdout(options.access_log_format))
        } else {
            Arc::new(NoAccessLog)
        };
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
        let open_files = open_file_limit();
        let mut connections = ConnectionLimits::for_open_files(open_files);
        if let Some(max) = config.limits.max_connections.and_then(|n| NonZeroUsize::new(n as usize)) {
            connections.max = max;
        }
        connections.per_client =
            config.limits.max_connections_per_client.and_then(|n| NonZeroUsize::new(n as usize));
        let settings = ListenerSettings {
            header_timeout: config.limits.header_timeout,
            idle_timeout: config.limits.idle_timeout,
            max_header_bytes: usize::try_from(config.limits.max_header_bytes).unwrap_or(usize::MAX),
            drain_timeout: config.limits.drain_timeout,
            connections,
            http2_max_concurrent_streams: config.limits.http2_max_concurrent_streams,
            tls,
        };
        // The admin listener shares the main listener's timeouts and drain, with a small
        // connection cap of its own (it serves operators and probes, not traffic) and no TLS.
        let admin_settings = ListenerSettings {
            connections: ConnectionLimits { max: ADMIN_MAX_CONNECTIONS, per_client: None },
            tls: None,
            ..settings.clone()
        };
        tracing::debug!(max_connections = settings.connections.max, open_files, "connection limits");
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut watchers = Vec::new();
        for (name, function) in config.functions.iter().filter(|(_, f)| f.watch) {
            if let Some(invoker) = registry.invoker(name) {
                let dir = function.dir.clone();
                watchers.push(tokio::spawn(crate::watch::function_dir(dir, invoker, shutdown_rx.clone())));
            }
        }
        let admin_state = Arc::new(AdminState::new(Arc::clone(&registry), metrics));
        let mut tasks = vec![
            tokio::spawn(portcullis_pipeline::serve(main_listener, settings, gateway, shutdown_rx.clone())),
            tokio::spawn(portcullis_pipeline::serve(
                admin_listener,
                admin_settings,
                Arc::clone(&admin_state),
                shutdown_rx,
            )),
        ];
        tasks.extend(watchers);
        admin_state.ready.store(true, Ordering::Relaxed);
        // The parsed config is no longer needed; its pages go back with the loader's.
        drop(config);
        crate::heap::release_free_pages();
        Ok(Running { listen, admin, shutdown, tasks, reloader, admin_state })
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

    /// What to try against the embedded demo, with this instance's real addresses and a token
    /// minted by the built-in development issuer.
    pub fn demo_banner(&self) -> String {
        let base = format!("http://{}", self.listen);
        let token = self
            .reloader
            .registry()
            .current_dev_issuer()
            .and_then(|dev| {
                let mut claims = serde_json::Map::new();
                claims.insert("sub".into(), "alice".into());
                claims.insert("aud".into(), "portcullis-demo".into());
                claims.insert("scope".into(), "read".into());
                dev.mint(claims, std::time::Duration::from_secs(3600)).ok()
            })
            .unwrap_or_else(|| "$(portcullis token --sub alice --aud portcullis-demo)".to_owned());
        format!(
            "\nPortcullis is running the embedded demo config (see `portcullis demo-config`).\n\
             Try:\n  curl -i {base}/\n  curl -i {base}/hello/world\n  curl -i {base}/nowhere        # 404, as AWS answers\n  \
             curl -i {base}/private        # 401: no token\n  \
             curl -i -H 'Authorization: Bearer {token}' {base}/private   # 200: token from the built-in dev issuer (1 h)\n  \
             curl -i http://{}/healthz   # admin listener\n\
             Mint more tokens with: portcullis token --sub bob --aud portcullis-demo --scope read --ttl 1h\n",
            self.admin
        )
    }

    /// Stop accepting, let in-flight requests finish (up to the drain timeout), stop everything.
    pub async fn shutdown(self) {
        self.admin_state.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // Requests have drained; now no instance may outlive the gateway.
        self.reloader.registry().shutdown().await;
    }
}

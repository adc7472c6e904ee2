//! Start, run and stop the gateway: bind listeners, serve, drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use portcullis_config::Config;
use portcullis_core::RequestIdGenerator;
use portcullis_pipeline::{
    AccessLogFormat, AccessLogSink, Gateway, JsonLinesSink, ListenerSettings, NoAccessLog,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState};
use crate::registry::Registry;
use crate::reload::{ReloadError, Reloader};
use crate::{StartError, compile, tls};

/// How to start.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The file the config came from (`None` for the embedded demo); SIGHUP re-reads it.
    pub config_path: Option<PathBuf>,
    /// Access-log line format.
    pub access_log_format: AccessLogFormat,
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
        let registry = Arc::new(Registry::new()?);
        let snapshot = compile::snapshot(&config, &registry)?;
        let reloader = Reloader::new(snapshot, Arc::clone(&registry), options.config_path.clone());

        let tls = match &config.tls {
            Some(tls) => Some(tls::server_config(&tls.cert, &tls.key)?),
            None => None,
        };
        let main_listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let admin_listener =
            TcpListener::bind(config.admin)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.admin,
                    source,
                })?;
        let listen = main_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let admin = admin_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.admin,
                source,
            })?;

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
        let gateway = Arc::new(Gateway::new(
            reloader.live(),
            RequestIdGenerator::new(seed),
            access_log,
        ));
        let settings = ListenerSettings {
            header_timeout: config.limits.header_timeout,
            idle_timeout: config.limits.idle_timeout,
            max_header_bytes: usize::try_from(config.limits.max_header_bytes).unwrap_or(usize::MAX),
            drain_timeout: config.limits.drain_timeout,
            tls,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let admin_state = Arc::new(AdminState::default());
        let tasks = vec![
            tokio::spawn(portcullis_pipeline::serve(
                main_listener,
                settings,
                gateway,
                shutdown_rx.clone(),
            )),
            tokio::spawn(admin::serve(
                admin_listener,
                Arc::clone(&admin_state),
                shutdown_rx,
            )),
        ];
        admin_state.ready.store(true, Ordering::Relaxed);
        Ok(Running {
            listen,
            admin,
            shutdown,
            tasks,
            reloader,
            admin_state,
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
        self.reloader.reload()
    }

    /// What to try against the embedded demo, with this instance's real addresses.
    pub fn demo_banner(&self) -> String {
        let base = format!("http://{}", self.listen);
        format!(
            "\nPortcullis is running the embedded demo config (see `portcullis demo-config`).\n\
             Try:\n  curl -i {base}/\n  curl -i {base}/hello/world\n  curl -i {base}/nowhere        # 404, as AWS answers\n  \
             curl -i http://{}/healthz   # admin listener\n",
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
    }
}

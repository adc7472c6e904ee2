//! The live snapshot and how it is replaced.

use std::sync::Arc;

use arc_swap::ArcSwap;
use portcullis_config::Config;
use portcullis_pipeline::Snapshot;

use crate::compile::{self, CompileError};
use crate::registry::Registry;
use crate::source::ConfigSource;

/// Why a reload was refused (the previous snapshot keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The gateway runs the embedded demo; there is no file to reload.
    #[error("running the embedded demo config: nothing to reload")]
    NoConfigFile,
    /// The new configuration is invalid.
    #[error("{0}")]
    Invalid(#[from] portcullis_config::ConfigErrors),
    /// The new configuration could not be compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// Holds the one `ArcSwap<Snapshot>` and knows where the config came from.
pub struct Reloader {
    live: Arc<ArcSwap<Snapshot>>,
    registry: Arc<Registry>,
    source: Option<ConfigSource>,
    /// Development mode: every reloaded config gets the same overrides as the first.
    dev: bool,
    /// The settings the gateway started with that only a restart changes.
    started_with: RestartOnly,
}

impl Reloader {
    /// Serve `initial` now; later reloads read `source` again (with the development overrides
    /// when `dev`).
    /// `started_with` holds the settings of the config the gateway started on that a reload
    /// cannot change.
    pub fn new(
        initial: Snapshot,
        registry: Arc<Registry>,
        source: Option<ConfigSource>,
        dev: bool,
        started_with: RestartOnly,
    ) -> Self {
        Reloader { live: Arc::new(ArcSwap::from_pointee(initial)), registry, source, dev, started_with }
    }

    /// The long-lived state.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The swap handle the pipeline reads.
    pub fn live(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.live)
    }

    /// Re-read, validate and compile the config file; swap only if all of it is good.
    ///
    /// # Errors
    /// Why the new configuration was refused; the previous one keeps serving.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let source = self.source.as_ref().ok_or(ReloadError::NoConfigFile)?;
        let config = crate::source::load_async(source).await?;
        let mut config = if self.dev { crate::dev::developing(config) } else { config };
        // What only a restart changes keeps its running value, said once per reload.
        for key in self.started_with.changed_in(&config) {
            tracing::warn!(
                setting = key,
                "changed in the config, but takes effect at the next restart; the running value stays"
            );
        }
        self.started_with.keep_in(&mut config);
        let process = compile::process(&config);
        self.registry.prepare_functions(&process).await.map_err(CompileError::from)?;
        let snapshot = compile::snapshot(&config, self.registry.as_ref())?;
        self.live.store(Arc::new(snapshot));
        drop(config);
        // The parse tree and the previous snapshot (once its last request ends) were freed.
        crate::heap::release_free_pages();
        Ok(())
    }
}

/// The settings a running gateway holds on to: its listeners, their limits and TLS files, the
/// admin token, the logs, the state directory, the shared store and revocation, and the key
/// sets' lifetimes. A reload that changes one is served with the running value and warned
/// about.
#[derive(Debug, Clone)]
pub struct RestartOnly {
    listen: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    admin_token: Option<portcullis_config::AdminTokenSource>,
    tls: Option<portcullis_config::TlsConfig>,
    limits: portcullis_config::LimitsConfig,
    state_dir: std::path::PathBuf,
    log: portcullis_config::LogConfig,
    access_log: portcullis_config::AccessLogConfig,
    shared_state: Option<portcullis_config::SharedStateConfig>,
    revocation: portcullis_config::RevocationConfig,
    /// The key sets' refresh interval and staleness bound (process-wide, from the JWT
    /// authorizers' `cache`).
    jwks: (std::time::Duration, std::time::Duration),
}

impl RestartOnly {
    /// The restart-only settings of `config`.
    pub fn of(config: &Config) -> Self {
        let jwks = compile::process_jwks(config);
        RestartOnly {
            listen: config.listen,
            admin: config.admin,
            admin_token: config.admin_token.as_ref().map(|token| token.value.clone()),
            tls: config.tls.clone(),
            limits: config.limits,
            state_dir: config.state_dir.clone(),
            log: config.log.clone(),
            access_log: config.access_log.clone(),
            shared_state: config.shared_state.clone(),
            revocation: config.revocation,
            jwks: (jwks.default_ttl, jwks.max_staleness),
        }
    }

    /// The keys `config` sets differently from the running gateway.
    pub fn changed_in(&self, config: &Config) -> Vec<&'static str> {
        let new = RestartOnly::of(config);
        let (old_limits, new_limits) = (&self.limits, &new.limits);
        [
            ("listen", self.listen != new.listen),
            ("admin", self.admin != new.admin || self.admin_token != new.admin_token),
            ("tls", self.tls != new.tls),
            ("limits.header_timeout", old_limits.header_timeout != new_limits.header_timeout),
            ("limits.idle_timeout", old_limits.idle_timeout != new_limits.idle_timeout),
            ("limits.drain_timeout", old_limits.drain_timeout != new_limits.drain_timeout),
            ("limits.max_connections", old_limits.max_connections != new_limits.max_connections),
            (
                "limits.max_connections_per_client",
                old_limits.max_connections_per_client != new_limits.max_connections_per_client,
            ),
            (
                "limits.http2_max_concurrent_streams",
                old_limits.http2_max_concurrent_streams != new_limits.http2_max_concurrent_streams,
            ),
            (
                "limits.upstream_max_connections",
                old_limits.upstream_max_connections != new_limits.upstream_max_connections,
            ),
            (
                "limits.upstream_max_pending",
                old_limits.upstream_max_pending != new_limits.upstream_max_pending,
            ),
            ("state_dir", self.state_dir != new.state_dir),
            ("log", self.log != new.log),
            ("access_log", self.access_log != new.access_log),
            ("shared_state", self.shared_state != new.shared_state),
            ("revocation", self.revocation != new.revocation),
            ("authorizers.*.cache (jwks_refresh, jwks_max_stale)", self.jwks != new.jwks),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }

    /// Puts the running values back into `config`, so the new snapshot is compiled against
    /// what actually serves (the dev issuer's URL, revocation checks). `max_body` and
    /// `max_header_bytes` (the 431 check) are the new config's.
    pub fn keep_in(&self, config: &mut Config) {
        config.listen = self.listen;
        config.admin = self.admin;
        config.tls.clone_from(&self.tls);
        let (max_body, max_header_bytes) = (config.limits.max_body, config.limits.max_header_bytes);
        config.limits = self.limits;
        config.limits.max_body = max_body;
        config.limits.max_header_bytes = max_header_bytes;
        config.state_dir.clone_from(&self.state_dir);
        config.log.clone_from(&self.log);
        config.access_log.clone_from(&self.access_log);
        config.shared_state.clone_from(&self.shared_state);
        config.revocation = self.revocation;
    }
}

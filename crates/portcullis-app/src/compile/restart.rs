//! What a running gateway keeps from the config it started with: the settings only a restart
//! changes, named when a reload changes them and put back into the reloaded config.

use portcullis_config::Config;

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
        let jwks = super::process_jwks(config);
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

//! Turns a validated [`portcullis_config::Config`] into a running gateway, and keeps it running.
//!
//! Where it sits: directly under the binary. It is the only crate that reads both
//! `portcullis-config` (typed config) and the runtime crates; the mapping between them is in
//! [`compile`]. It owns:
//! - the live [`portcullis_pipeline::Snapshot`] behind one `ArcSwap` ([`reload`]): a request loads
//!   it once; a reload compiles a complete new snapshot and swaps it, or leaves the old one
//!   serving if anything is wrong;
//! - state that must outlive reloads ([`registry`]): HTTP client pools, JWKS caches per issuer;
//! - the process lifecycle ([`lifecycle`]): listeners, the admin endpoints, graceful shutdown.

mod admin;
pub mod compile;
mod compile_authorizers;
pub mod explain;
pub mod heap;
pub mod lifecycle;
pub mod preflight;
pub mod registry;
pub mod reload;
mod tls;
mod watch;

use std::path::{Path, PathBuf};

pub use explain::{
    ExplainError, ExplainRequest, dev_audience_accepted, dev_issuer_keys, explain, invoke_once,
    mint_dev_token,
};
pub use lifecycle::{Running, StartOptions};
pub use portcullis_pipeline::AccessLogFormat;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid (every problem, with positions).
    #[error("{0}")]
    Config(#[from] portcullis_config::ConfigErrors),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from config.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("TLS: {}: {problem}", path.display())]
    Tls {
        /// The file that is wrong.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A process-wide resource could not be created.
    #[error("{0}")]
    Resource(String),
}

/// Load, validate and compile `path` without starting anything (`portcullis check`). Returns a
/// one-line summary of what the config contains and its warnings.
pub fn check(path: &Path) -> Result<(String, Vec<String>), portcullis_config::ConfigErrors> {
    let config = portcullis_config::load(path)?;
    let registry = registry::Registry::for_check(&config).map_err(|e| {
        portcullis_config::ConfigErrors::single(portcullis_config::ConfigError::at(
            path.display().to_string(),
            portcullis_config::Span { line: 1, column: 1 },
            "",
            e.to_string(),
        ))
    })?;
    compile::snapshot(&config, &registry)?;
    let summary = format!(
        "{} routes, {} authorizers, {} functions",
        config.routes.len(),
        config.authorizers.len(),
        config.functions.len()
    );
    let mut warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    warnings.extend(preflight::warnings(&config).into_iter().map(|w| format!("{}: {w}", config.origin)));
    Ok((summary, warnings))
}

//! Turns a validated [`portcullis_config::Config`] into a running gateway, and keeps it running.
//!
//! Where it sits: directly under the binary. It is the only crate that reads both
//! `portcullis-config` (typed config) and the runtime crates, and only [`compile`] reads a
//! `Config`. It owns:
//! - the compile step ([`compile`]): typed settings for long-lived objects, and the immutable
//!   [`portcullis_pipeline::Snapshot`], from long-lived objects a [`resources::Resources`]
//!   provider hands out: the live [`registry::Registry`], or a [`resources::DryRun`] that starts
//!   nothing (`portcullis check`);
//! - the live snapshot behind one `ArcSwap` ([`reload`]): a request loads it once; a reload
//!   compiles a complete new snapshot and swaps it, or leaves the old one serving if anything is
//!   wrong;
//! - state that must outlive reloads ([`registry`]): HTTP clients, JWKS caches, function pools,
//!   Lambda authorizers;
//! - the process lifecycle ([`lifecycle`]): listeners, the admin endpoints, graceful shutdown;
//! - the developer tools on the real pipeline: [`explain`], tokens and single invocations
//!   ([`dev`]), checks of a config against the machine ([`preflight`]).

mod admin;
pub mod compile;
mod console;
pub mod dev;
pub mod explain;
pub mod heap;
pub mod init;
pub mod lifecycle;
pub mod load;
pub mod preflight;
pub mod registry;
pub mod reload;
pub mod resources;
pub mod sample;
pub mod source;
mod state;
mod tls;
mod watch;

use std::path::PathBuf;

pub use compile::CompileError;
pub use explain::{ExplainError, ExplainRequest, Explanation, explain, explain_on};
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
    #[error(transparent)]
    Resource(#[from] resources::ResourceError),
    /// The main listener's request threads could not be started (threads, runtimes).
    #[error("cannot start the request threads: {source}")]
    RequestThreads {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The access-log output could not be opened.
    #[error("access log: cannot write to {output}")]
    AccessLog {
        /// The output from config.
        output: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<CompileError> for StartError {
    fn from(error: CompileError) -> Self {
        match error {
            CompileError::Config(errors) => StartError::Config(errors),
            CompileError::Resource(error) => StartError::Resource(error),
        }
    }
}

/// What `portcullis check` found in a valid config.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// One line: what the config contains.
    pub summary: String,
    /// Warnings: the loader's, and what [`preflight`] found on this machine.
    pub warnings: Vec<String>,
}

/// Load, validate and compile `path` without starting anything (`portcullis check`), with
/// `options` (`--compat aws`: as if the file said `compat: aws`).
///
/// # Errors
/// [`CompileError::Config`] with every problem, positioned; [`CompileError::Resource`] when
/// something that is not the file's fault failed.
pub fn check(
    source: &source::ConfigSource,
    options: &portcullis_config::LoadOptions,
) -> Result<CheckReport, CompileError> {
    let config = source::load_with(source, options)?;
    let process = compile::process(&config);
    let dry_run = resources::DryRun::new(&process)?;
    compile::snapshot(&config, &dry_run)?;
    let summary = compile::summary(&config);
    let mut warnings = compile::warnings(&config);
    warnings.extend(
        preflight::warnings(&process.functions).into_iter().map(|w| format!("{}: {w}", process.origin)),
    );
    Ok(CheckReport { summary, warnings })
}

/// The admin token of `config` (`admin.token_file` / `admin.token_env`), for a client of the admin
/// listener such as `portcullis revoke`; `None` when the config sets none.
///
/// # Errors
/// A positioned problem: the file cannot be read, the variable is not set, the token is too
/// short.
pub fn admin_token(
    config: &portcullis_config::Config,
) -> Result<Option<String>, portcullis_config::ConfigErrors> {
    compile::admin_token_source(config).map(|at| console::read_secret(&at.source, &at.origin)).transpose()
}

//! The listeners' side of a config: addresses, TLS files, timeouts, connection caps, the
//! access log, and the checks that depend on where the gateway listens.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use portcullis_config::{AdminTokenSource, Config, ConfigErrors, Spanned};
use portcullis_pipeline::{AccessLogFormat, AccessLogOutput, ConnectionLimits, ListenerSettings};

use crate::lifecycle::StartOptions;

/// Connections the admin listener accepts at once (operators and probes, not traffic).
const ADMIN_MAX_CONNECTIONS: NonZeroUsize = NonZeroUsize::new(256).expect("non-zero");

/// The certificate chain and key of a TLS listener (PEM files, read at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// How the gateway serves a configuration (fixed until a restart).
#[derive(Clone)]
pub struct Serving {
    /// Where the main listener binds.
    pub listen: SocketAddr,
    /// Where the admin listener binds.
    pub admin: SocketAddr,
    /// TLS for the main listener.
    pub tls: Option<TlsFiles>,
    /// The main listener's protections (without TLS, which is loaded at start).
    pub listener: ListenerSettings,
    /// The admin listener's: the same timeouts and drain, its own connection cap, no TLS.
    pub admin_listener: ListenerSettings,
    /// The access log's format and output, when it is on.
    pub access_log: Option<(AccessLogFormat, AccessLogOutput)>,
    /// Where the admin token is read from (`admin.token_file` / `admin.token_env`).
    pub admin_token: Option<AdminTokenSourceAt>,
    /// The config file, for positioned errors.
    pub origin: String,
}

/// Where the admin token is read from, and where the config says so (for a positioned error
/// when it cannot be read).
#[derive(Clone, Debug)]
pub struct AdminTokenSourceAt {
    /// The file or variable.
    pub source: Spanned<AdminTokenSource>,
    /// The config file.
    pub origin: String,
}

/// Where `config`'s admin token is read from, if it has one (`portcullis revoke` reads it to
/// call the admin listener).
pub fn admin_token_source(config: &Config) -> Option<AdminTokenSourceAt> {
    config.admin_token.clone().map(|source| AdminTokenSourceAt { source, origin: config.origin.clone() })
}

/// How `config` is served with `options` (command-line overrides applied).
///
/// # Errors
/// A positioned problem that depends on the address actually bound: the development issuer on
/// a listener other machines can reach, which `--listen` can introduce.
pub fn serving(config: &Config, options: &StartOptions, open_files: u64) -> Result<Serving, ConfigErrors> {
    let listen = options.listen.unwrap_or(config.listen);
    // `--listen` may move a config written for loopback onto a public address.
    if let Some(problem) = config.dev_issuer_exposed_on(listen) {
        return Err(ConfigErrors::single(problem));
    }
    let mut connections = ConnectionLimits::for_open_files(open_files);
    if let Some(max) = config.limits.max_connections.and_then(|n| NonZeroUsize::new(n as usize)) {
        connections.max = max;
    }
    connections.per_client =
        config.limits.max_connections_per_client.and_then(|n| NonZeroUsize::new(n as usize));
    let listener = ListenerSettings {
        header_timeout: config.limits.header_timeout,
        idle_timeout: config.limits.idle_timeout,
        max_header_bytes: usize::try_from(config.limits.max_header_bytes).unwrap_or(usize::MAX),
        drain_timeout: config.limits.drain_timeout,
        connections,
        http2_max_concurrent_streams: config.limits.http2_max_concurrent_streams,
        tls: None,
    };
    let admin_listener = ListenerSettings {
        connections: ConnectionLimits { max: ADMIN_MAX_CONNECTIONS, per_client: None },
        ..listener.clone()
    };
    Ok(Serving {
        listen,
        admin: options.admin.unwrap_or(config.admin),
        tls: config.tls.as_ref().map(|tls| TlsFiles { cert: tls.cert.clone(), key: tls.key.clone() }),
        listener,
        admin_listener,
        access_log: config.access_log.enabled.then(|| access_log(config, options)),
        admin_token: admin_token_source(config),
        origin: config.origin.clone(),
    })
}

/// The access log's format (a template with the API's constants substituted; `json` printed
/// as the terminal's pretty line when the command line asked for pretty logs) and output.
fn access_log(config: &Config, options: &StartOptions) -> (AccessLogFormat, AccessLogOutput) {
    let format = match &config.access_log.format {
        portcullis_config::AccessLogFormat::Json => options.access_log_format.clone(),
        portcullis_config::AccessLogFormat::Clf => AccessLogFormat::Clf,
        portcullis_config::AccessLogFormat::Template(template) => {
            AccessLogFormat::Template(template.resolve_constants(&super::api_identity(config)))
        }
    };
    let output = match &config.access_log.output {
        portcullis_config::AccessLogOutput::Stdout => AccessLogOutput::Stdout,
        portcullis_config::AccessLogOutput::Stderr => AccessLogOutput::Stderr,
        portcullis_config::AccessLogOutput::File(path) => AccessLogOutput::File(path.clone()),
    };
    (format, output)
}

//! Diagnostic logging to stderr (the access log goes to stdout, see the pipeline).

use tracing_subscriber::EnvFilter;

use super::LogFormat;

/// Install the global subscriber. `--log-level` wins over `RUST_LOG`; default `info`.
pub(crate) fn init(level: Option<&str>, format: LogFormat) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

//! Diagnostic logging to stderr (the access log goes to stdout, see the pipeline).
//!
//! Two formats: JSON (one object per line, for machines and files) and human-readable lines
//! for a terminal. Colours only when stderr is a terminal: a redirected log never holds escape
//! codes. A function's output reads like SAM CLI's: the function's name and the request id
//! first, then the line it printed.

use std::fmt;
use std::io::IsTerminal as _;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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
        LogFormat::Pretty => {
            builder.event_format(Human { colour: std::io::stderr().is_terminal() }).try_init()
        }
    };
}

/// The format a terminal gets when none was asked for: human-readable on a terminal, JSON
/// otherwise.
pub(crate) fn for_terminal() -> LogFormat {
    if std::io::stderr().is_terminal() { LogFormat::Pretty } else { LogFormat::Json }
}

/// `12:04:05.123 INFO  message  key=value ...`, and for a function's output
/// `12:04:05.123 hello 8fJx2aQkAAAAAAA= | the line it printed`.
struct Human {
    colour: bool,
}

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        _ => "\x1b[34m",
    }
}

/// The fields of one event, `message` apart.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, String)>,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.others.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.others.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.others.push((field.name(), format!("{value:?}")));
        }
    }
}

impl<S, N> FormatEvent<S, N> for Human
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let (dim, bold, reset) = if self.colour { (DIM, BOLD, RESET) } else { ("", "", "") };
        let t = portcullis_core::UtcTime::of(SystemTime::now());
        write!(writer, "{dim}{:02}:{:02}:{:02}.{:03}{reset} ", t.hour, t.minute, t.second, t.millis)?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        if meta.target() == "portcullis::function" {
            let function = fields.get("function").unwrap_or("function");
            let request_id = fields.get("request_id").unwrap_or("-");
            let stream = if fields.get("stream") == Some("stderr") { "!" } else { "|" };
            return writeln!(
                writer,
                "{bold}{function}{reset} {dim}{request_id}{reset} {stream} {}",
                fields.message
            );
        }
        let level = *meta.level();
        if self.colour {
            write!(writer, "{}{level:<5}{RESET} ", level_colour(level))?;
        } else {
            write!(writer, "{level:<5} ")?;
        }
        write!(writer, "{}", fields.message)?;
        for (name, value) in &fields.others {
            write!(writer, " {dim}{name}={reset}{value}")?;
        }
        writeln!(writer)
    }
}

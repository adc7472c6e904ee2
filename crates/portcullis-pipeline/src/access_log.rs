//! One structured line per request, written when the response body has been fully sent (or
//! abandoned), so `response_bytes` and `latency_ms` are true for streamed responses too.
//!
//! Where it sits: outermost. [`crate::stack`] fills an [`AccessRecord`] as stages run and wraps
//! the response body in [`LoggedBody`], which emits the record to an [`AccessLogSink`] at end of
//! stream. The default sink ([`JsonLinesSink`]) serializes on the request task and hands the line
//! to a dedicated writer thread through a bounded channel: the hot path never blocks on stdout,
//! and when the writer falls behind, lines are dropped and counted rather than queued without
//! bound.

use std::io::Write;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use portcullis_core::{Body, BoxError, RequestId, UtcTime};
use serde::Serialize;

/// Everything logged about one request, kept in the form the request already has (ids, `Arc`s,
/// shared buffers): filling it allocates nothing, and the text of the line is only made by a
/// sink that writes it ([`AccessLine`]), so `access_log: {enabled: false}` costs no formatting.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    /// `apigw-requestid`.
    pub request_id: RequestId,
    /// Request receipt time (`time`, RFC 3339 UTC, and `time_epoch_ms`, `requestTimeEpoch`).
    pub received_at: SystemTime,
    /// TCP peer address (`identity.sourceIp`).
    pub source_ip: IpAddr,
    /// HTTP method.
    pub method: Method,
    /// Matched route key; `None` (logged as `-`) when none matched.
    pub route_key: Option<Arc<str>>,
    /// Request URI as sent; its path (no query string) is logged.
    pub uri: Uri,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'static str,
    /// Status sent to the client.
    pub status: u16,
    /// Response body bytes sent.
    pub response_bytes: u64,
    /// Total time from request head to end of the response body.
    pub latency_ms: f64,
    /// Time spent in the integration until its response head; absent when none was called.
    pub integration_latency_ms: Option<f64>,
    /// What the authorizer decided: `none` (public route), `allow`, `deny`, or `error`.
    pub authorizer: &'static str,
    /// Why the authorizer denied (`expired`, `kid_unknown`, …).
    pub authorizer_reason: Option<&'static str>,
    /// Why the gateway answered by itself (`not_found`, `integration_timeout`, …).
    pub error: Option<&'static str>,
    /// `user-agent` header (logged when it is visible ASCII).
    pub user_agent: Option<HeaderValue>,
}

impl AccessRecord {
    /// A record for a request received at `received_at`.
    pub fn start(
        request_id: RequestId,
        received_at: SystemTime,
        source_ip: IpAddr,
        method: &Method,
        uri: &Uri,
        protocol: &'static str,
    ) -> Self {
        AccessRecord {
            request_id,
            received_at,
            source_ip,
            method: method.clone(),
            route_key: None,
            uri: uri.clone(),
            protocol,
            status: 0,
            response_bytes: 0,
            latency_ms: 0.0,
            integration_latency_ms: None,
            authorizer: "none",
            authorizer_reason: None,
            error: None,
            user_agent: None,
        }
    }

    /// The line as it is written. Field names follow AWS `$context` variables where one exists
    /// (docs/aws-compatibility.md#access-logging), in snake case.
    pub fn line(&self) -> AccessLine<'_> {
        let since_epoch = self.received_at.duration_since(UNIX_EPOCH).unwrap_or_default();
        AccessLine {
            request_id: self.request_id.as_str(),
            time: rfc3339(since_epoch),
            time_epoch_ms: since_epoch.as_millis() as u64,
            source_ip: self.source_ip,
            method: self.method.as_str(),
            route_key: self.route_key.as_deref().unwrap_or("-"),
            path: self.uri.path(),
            protocol: self.protocol,
            status: self.status,
            response_bytes: self.response_bytes,
            latency_ms: self.latency_ms,
            integration_latency_ms: self.integration_latency_ms,
            authorizer: self.authorizer,
            authorizer_reason: self.authorizer_reason,
            error: self.error,
            user_agent: self.user_agent.as_ref().and_then(|v| v.to_str().ok()),
        }
    }
}

/// One access-log line, serialized as one JSON object (field order as declared).
#[derive(Debug, Serialize)]
pub struct AccessLine<'a> {
    /// `apigw-requestid`.
    pub request_id: &'a str,
    /// Request receipt time, RFC 3339 UTC.
    pub time: String,
    /// Request receipt time, milliseconds since the epoch (`requestTimeEpoch`).
    pub time_epoch_ms: u64,
    /// TCP peer address (`identity.sourceIp`).
    pub source_ip: IpAddr,
    /// HTTP method.
    pub method: &'a str,
    /// Matched route key, `-` when none matched.
    pub route_key: &'a str,
    /// Request path as sent (no query string).
    pub path: &'a str,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'static str,
    /// Status sent to the client.
    pub status: u16,
    /// Response body bytes sent.
    pub response_bytes: u64,
    /// Total time from request head to end of the response body.
    pub latency_ms: f64,
    /// Time spent in the integration until its response head; absent when none was called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_latency_ms: Option<f64>,
    /// What the authorizer decided: `none` (public route), `allow`, `deny`, or `error`.
    pub authorizer: &'static str,
    /// Why the authorizer denied (`expired`, `kid_unknown`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_reason: Option<&'static str>,
    /// Why the gateway answered by itself (`not_found`, `integration_timeout`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// `user-agent` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
}

/// Where finished records go.
pub trait AccessLogSink: Send + Sync + 'static {
    /// Take one finished record. Must not block.
    fn emit(&self, record: AccessRecord);
}

/// Output format of [`JsonLinesSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One JSON object per line (default).
    Json,
    /// One human-readable line (Common Log Format-like), for terminals.
    Pretty,
}

/// Writes records as lines to stdout from a dedicated thread.
#[derive(Debug)]
pub struct JsonLinesSink {
    sender: mpsc::SyncSender<Vec<u8>>,
    format: AccessLogFormat,
    dropped: Arc<AtomicU64>,
}

impl JsonLinesSink {
    /// Start the writer thread (lines go to stdout).
    pub fn stdout(format: AccessLogFormat) -> Self {
        Self::spawn(format, Box::new(std::io::stdout()))
    }

    /// Start the writer thread writing to `out`.
    pub fn spawn(format: AccessLogFormat, out: Box<dyn Write + Send>) -> Self {
        // 16k lines of buffer absorbs bursts; beyond that we drop (and count) rather than block.
        let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(16 * 1024);
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
            while let Ok(line) = receiver.recv() {
                let _ = out.write_all(&line);
                // Drain what is queued, then flush once: one syscall per burst.
                while let Ok(line) = receiver.try_recv() {
                    let _ = out.write_all(&line);
                }
                let _ = out.flush();
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the access-log writer; access log disabled");
        }
        JsonLinesSink { sender, format, dropped: Arc::new(AtomicU64::new(0)) }
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl AccessLogSink for JsonLinesSink {
    fn emit(&self, record: AccessRecord) {
        let record = record.line();
        let mut line = match self.format {
            AccessLogFormat::Json => serde_json::to_vec(&record).unwrap_or_default(),
            AccessLogFormat::Pretty => format!(
                "{} {} \"{} {}\" {} {}B {:.1}ms route={} auth={}{}",
                record.source_ip,
                record.request_id,
                record.method,
                record.path,
                record.status,
                record.response_bytes,
                record.latency_ms,
                record.route_key,
                record.authorizer,
                record.authorizer_reason.map(|r| format!(" reason={r}")).unwrap_or_default(),
            )
            .into_bytes(),
        };
        line.push(b'\n');
        if self.sender.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A sink that discards everything (`access_log: {enabled: false}`).
#[derive(Debug, Default)]
pub struct NoAccessLog;

impl AccessLogSink for NoAccessLog {
    fn emit(&self, _record: AccessRecord) {}
}

pin_project_lite::pin_project! {
    /// A response body that counts bytes and emits the access record when it ends or is dropped.
    pub struct LoggedBody {
        #[pin]
        inner: Body,
        pending: Option<(AccessRecord, Arc<dyn AccessLogSink>, Instant)>,
    }

    impl PinnedDrop for LoggedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            finish(this.pending);
        }
    }
}

impl LoggedBody {
    /// Wrap `inner`; the record is emitted to `sink` at end of stream, with latency measured from
    /// `started`.
    pub fn new(inner: Body, record: AccessRecord, sink: Arc<dyn AccessLogSink>, started: Instant) -> Self {
        LoggedBody { inner, pending: Some((record, sink, started)) }
    }
}

fn finish(pending: &mut Option<(AccessRecord, Arc<dyn AccessLogSink>, Instant)>) {
    if let Some((mut record, sink, started)) = pending.take() {
        record.latency_ms = millis(started.elapsed());
        sink.emit(record);
    }
}

/// Milliseconds with microsecond precision.
pub fn millis(duration: Duration) -> f64 {
    (duration.as_micros() as f64) / 1000.0
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some((record, _, _))) = (frame.data_ref(), this.pending.as_mut()) {
                    record.response_bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => finish(this.pending),
            Poll::Ready(Some(Err(_))) => {
                if let Some((record, _, _)) = this.pending.as_mut() {
                    record.error.get_or_insert("response_stream_failed");
                }
                finish(this.pending);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// RFC 3339 UTC with millisecond precision.
fn rfc3339(since_epoch: Duration) -> String {
    let t = UtcTime::of(UNIX_EPOCH + since_epoch);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(Duration::from_secs(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Duration::from_millis(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    }
}

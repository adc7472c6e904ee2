//! One line per request, written when the response body has been fully sent (or abandoned), so
//! the response length and latency are true for streamed responses too.
//!
//! Where it sits: outermost. [`crate::stack`] fills an [`AccessRecord`] as stages run and wraps
//! the response body in [`LoggedBody`], which emits the record to an [`AccessLogSink`] at end of
//! stream. The default sink ([`AccessLogWriter`]) keeps what the line prints in a buffer of the
//! request thread's, without allocating, and a dedicated writer thread turns the buffers into
//! lines (JSON, CLF, or an AWS `$context` template, [`AccessLogFormat`]) and writes them in
//! batches: the request never waits for the output, and when the writer falls behind, lines
//! are dropped and counted rather than queued without bound. A file output is reopened on request
//! ([`AccessLogWriter::reopen`], on SIGUSR1 and SIGHUP) between two batches, so rotation neither
//! loses nor tears a line.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_utils::CachePadded;
use http::HeaderMap;
use http::header::HeaderValue;
use http::{Method, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use portcullis_core::{
    AuthContext, Body, BoxError, ContextVariable, EventCapture, RequestId, Template, UtcTime, Variable,
};
use portcullis_events::{clf_time, json_text};

/// Everything logged about one request, kept in the form the request already has (ids, `Arc`s,
/// shared buffers): filling it allocates nothing, and the text of the line is only made when the
/// request has finished, by the access log's sink, so `access_log: {enabled: false}` costs no
/// formatting.
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
    /// Request body bytes received, counted while the integration reads the body; only when the
    /// format prints `$context.dataProcessed` ([`Wants::request_bytes`]).
    pub request_bytes: Option<Arc<AtomicU64>>,
    /// Total time from request head to end of the response body (`latency_ms`).
    pub latency: Duration,
    /// Time spent in the integration until its response head (`integration_latency_ms`);
    /// absent when none was called.
    pub integration_latency: Option<Duration>,
    /// What the authorizer decided: `none` (public route), `allow`, `deny`, or `error`.
    pub authorizer: &'static str,
    /// Why the authorizer denied (`expired`, `kid_unknown`, …).
    pub authorizer_reason: Option<&'static str>,
    /// Why the gateway answered by itself (`not_found`, `integration_timeout`, …).
    pub error: Option<&'static str>,
    /// The message of the gateway's own answer (`$context.error.message`: `Unauthorized`).
    pub error_message: Option<&'static str>,
    /// AWS's name for the kind of that answer (`$context.error.responseType`: `UNAUTHORIZED`).
    pub error_type: Option<&'static str>,
    /// The integration's status (`$context.integration.status`), when it answered.
    pub integration_status: Option<u16>,
    /// The Lambda service's status for a function integration (`$context.integrationStatus`).
    pub lambda_status: Option<u16>,
    /// Why the integration failed (`$context.integrationErrorMessage`), when it did.
    pub integration_error: Option<Box<str>>,
    /// `user-agent` header (logged when it is visible ASCII).
    pub user_agent: Option<HeaderValue>,
    /// `host` header (`$context.domainName`), kept when the log format names it.
    pub host: Option<HeaderValue>,
    /// What the authorizer established, kept when the log format names a claim or a context
    /// value (`$context.authorizer.claims.sub`, `$context.authorizer.principalId`), or while a
    /// live observer watches.
    pub auth: AuthContext,
    /// Kept only while a live observer watches ([`AccessLogSink::observing`]).
    pub detail: Option<Box<RequestDetail>>,
}

/// What a live observer (the admin console's Live page) sees of a request beyond the record's
/// own fields.
#[derive(Debug, Clone, Default)]
pub struct RequestDetail {
    /// The request headers as the client sent them.
    pub headers: HeaderMap,
    /// The event sent to a function, when the observer asked for events.
    pub event: Option<EventCapture>,
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
        AccessRecord::new(request_id, received_at, source_ip, method.clone(), uri.clone(), protocol)
    }

    fn new(
        request_id: RequestId,
        received_at: SystemTime,
        source_ip: IpAddr,
        method: Method,
        uri: Uri,
        protocol: &'static str,
    ) -> Self {
        AccessRecord {
            request_id,
            received_at,
            source_ip,
            method,
            route_key: None,
            uri,
            protocol,
            status: 0,
            response_bytes: 0,
            request_bytes: None,
            latency: Duration::ZERO,
            integration_latency: None,
            authorizer: "none",
            authorizer_reason: None,
            error: None,
            error_message: None,
            error_type: None,
            integration_status: None,
            lambda_status: None,
            integration_error: None,
            user_agent: None,
            host: None,
            auth: AuthContext::None,
            detail: None,
        }
    }
}

impl AccessRecord {
    /// A record holding nothing on the heap: what a written record's box keeps until it is
    /// used again.
    fn blank() -> Self {
        AccessRecord::new(
            RequestId::default(),
            SystemTime::UNIX_EPOCH,
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            Method::GET,
            Uri::default(),
            "",
        )
    }
}

/// Where finished records go.
pub trait AccessLogSink: Send + Sync + 'static {
    /// Take one finished record. Must not block.
    fn emit(&self, record: Box<AccessRecord>);

    /// What the request path must keep in the record beyond the always-kept fields, because
    /// the format names it.
    fn wants(&self) -> Wants {
        Wants::default()
    }

    /// A box for a new request's record: the writer keeps the boxes of finished records for
    /// the next requests of the same thread.
    fn boxed(&self, record: AccessRecord) -> Box<AccessRecord> {
        Box::new(record)
    }

    /// Whether a live observer watches finished requests right now, and what it needs kept.
    /// Asked once per request; the default is nobody.
    fn observing(&self) -> Observing {
        Observing::default()
    }
}

/// What a live observer of finished requests asks the request path to keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observing {
    /// Someone watches: keep the request headers and what the authorizer established.
    pub requests: bool,
    /// Also keep the event sent to a function (development mode only).
    pub events: bool,
}

/// Optional parts of an [`AccessRecord`], kept only when a format prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    /// The `host` header.
    pub host: bool,
    /// The authorizer's outcome (claims, context, principal).
    pub auth: bool,
    /// The bytes of request body received (`$context.dataProcessed`).
    pub request_bytes: bool,
}

/// How a line is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One JSON object per line, Portcullis's fields (default).
    Json,
    /// One human-readable line, for terminals.
    Pretty,
    /// AWS's CLF format: `$context.identity.sourceIp - - [$context.requestTime]
    /// "$context.httpMethod $context.routeKey $context.protocol" $context.status
    /// $context.responseLength $context.requestId`.
    Clf,
    /// A template of `$context` variables, as AWS's access-log format (constants such as
    /// `$context.stage` already substituted). A variable without a value prints `-`; values are
    /// escaped as in a JSON string (`"`, `\`, control characters), so a JSON template stays
    /// JSON and no client can start a line of its own.
    Template(Template),
}

impl AccessLogFormat {
    fn wants(&self) -> Wants {
        let Self::Template(template) = self else { return Wants::default() };
        let mut wants = Wants::default();
        for variable in template.variables() {
            match variable {
                Variable::Context(ContextVariable::DomainName | ContextVariable::DomainPrefix) => {
                    wants.host = true
                }
                Variable::Context(ContextVariable::DataProcessed) => wants.request_bytes = true,
                Variable::Context(ContextVariable::PrincipalId)
                | Variable::Claim(_)
                | Variable::AuthorizerValue(_) => {
                    wants.auth = true;
                }
                _ => {}
            }
        }
        wants
    }
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogOutput {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, appended to, created when missing, reopened by [`AccessLogWriter::reopen`].
    File(PathBuf),
}

/// Bytes of lines (or of the text fields of JSON lines) one stripe holds for the writer at most
/// (a few thousand lines); beyond, lines are dropped (and counted). A stripe's buffer grows
/// with what is waiting, so an idle gateway holds little of it.
const STRIPE_BYTES: usize = 2 * 1024 * 1024;

/// JSON lines one stripe holds for the writer at most (their fixed-size fields, about 200
/// bytes each).
const STRIPE_ENTRIES: usize = 8192;

/// Bytes waiting in one stripe that wake the writer before its next batch (a burst on a fast
/// host).
const WAKE_AT: usize = 512 * 1024;

/// JSON lines waiting in one stripe that wake the writer before its next batch.
const WAKE_AT_ENTRIES: usize = 2048;

/// How often the writer wakes to write what came in. Each wake is a context switch on a CPU that
/// request threads use: waking every 20 ms instead cost about 0.7 us more per request on a
/// 2-CPU host (`bench/ab.py`, log on vs off, one pair of gateways on one CPU: +1.6 us at 20 ms,
/// +0.7 us at 100 ms, public route). A burst wakes it sooner ([`WAKE_AT`]).
const BATCH_EVERY: Duration = Duration::from_millis(100);

/// Boxes of finished records a thread keeps for its next requests at most (about 450 bytes
/// each).
const SPARE: usize = 256;

/// Keeps what finished requests' lines print in per-thread buffers, and formats and writes
/// the buffers from a dedicated thread.
///
/// A request's thread puts its line into a stripe of its own (buffers behind a lock that no
/// other request thread takes: one stripe per thread, up to [`stripes`]), so a line costs no
/// allocation, no record crosses to another CPU, and no cache line is shared between request
/// threads. For the default JSON format the request thread only copies the fields the line
/// prints ([`Entry`], and the text ones into the stripe's `strings`), and the writer formats
/// them; other formats are formatted on the request thread. Every [`BATCH_EVERY`] the writer
/// thread swaps each stripe's buffers for empty ones (the lock is held for the swap only),
/// formats what needs it and writes each stripe's lines in one write; at shutdown it writes
/// whatever is left. Lines of different threads within one round are not in time order (each
/// carries its time). When the output cannot keep up (a full disk, a pipe nobody reads), a
/// stripe that holds [`STRIPE_BYTES`] or [`STRIPE_ENTRIES`] drops further lines and counts
/// them: a request never waits for the output.
///
/// Why the JSON line is formatted on the writer: measured with `bench/ab.py` (log on vs off,
/// public route, both gateways on one CPU of a 2-CPU host), formatting it on the request thread
/// cost about 1 us per request, five times what the same code takes in a tight loop, as its
/// code was cold on every request; formatting the boxed records on the writer instead cost as
/// much there, the records' memory having gone cold in between. Copying the fields into one
/// buffer keeps both warm: the request thread's copy is short and the writer reads the entries
/// in order.
pub struct AccessLogWriter {
    format: AccessLogFormat,
    wants: Wants,
    shared: Arc<Shared>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for AccessLogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLogWriter").field("format", &self.format).finish_non_exhaustive()
    }
}

struct Shared {
    dropped: AtomicU64,
    reopen: AtomicBool,
    closing: AtomicBool,
    /// Lines formatted and not yet written, one buffer per request thread.
    stripes: Box<[CachePadded<std::sync::Mutex<Stripe>>]>,
    /// The writer thread, to wake it early.
    thread: std::sync::OnceLock<std::thread::Thread>,
}

/// One thread's lines waiting for the writer, and what formatting them reuses.
#[derive(Default)]
struct Stripe {
    /// JSON lines: their fixed-size fields.
    entries: Vec<Entry>,
    /// JSON lines: their text fields, in the entries' order.
    strings: Vec<u8>,
    /// Lines of the other formats, formatted.
    lines: Vec<u8>,
    text: String,
}

impl Stripe {
    fn full(&self) -> bool {
        self.entries.len() >= STRIPE_ENTRIES || self.strings.len() + self.lines.len() >= STRIPE_BYTES
    }
}

/// What a JSON line prints of a record, without the text fields (the method, route key, path
/// and `user-agent`), which follow one another in a stripe's `strings`, their lengths here.
#[derive(Debug, Clone, Copy)]
struct Entry {
    request_id: RequestId,
    received_at: SystemTime,
    source_ip: IpAddr,
    protocol: &'static str,
    status: u16,
    response_bytes: u64,
    latency: Duration,
    integration_latency: Option<Duration>,
    authorizer: &'static str,
    authorizer_reason: Option<&'static str>,
    error: Option<&'static str>,
    method_len: u32,
    /// `None`: no route matched.
    route_key_len: Option<u32>,
    path_len: u32,
    /// `None`: no `user-agent`, or not visible ASCII.
    user_agent_len: Option<u32>,
}

/// A length in `strings`: a field longer than 4 GiB cannot come from a request.
fn len32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

impl Entry {
    /// `record`'s entry, its text fields appended to `strings`.
    fn of(r: &AccessRecord, strings: &mut Vec<u8>) -> Self {
        let method = r.method.as_str().as_bytes();
        let route_key = r.route_key.as_deref().map(str::as_bytes);
        let path = r.uri.path().as_bytes();
        // Logged when it is visible ASCII.
        let user_agent = r.user_agent.as_ref().and_then(|v| v.to_str().ok()).map(str::as_bytes);
        strings.extend_from_slice(method);
        if let Some(route_key) = route_key {
            strings.extend_from_slice(route_key);
        }
        strings.extend_from_slice(path);
        if let Some(user_agent) = user_agent {
            strings.extend_from_slice(user_agent);
        }
        Entry {
            request_id: r.request_id,
            received_at: r.received_at,
            source_ip: r.source_ip,
            protocol: r.protocol,
            status: r.status,
            response_bytes: r.response_bytes,
            latency: r.latency,
            integration_latency: r.integration_latency,
            authorizer: r.authorizer,
            authorizer_reason: r.authorizer_reason,
            error: r.error,
            method_len: len32(method),
            route_key_len: route_key.map(len32),
            path_len: len32(path),
            user_agent_len: user_agent.map(len32),
        }
    }

    /// The entry's text fields, taken from the front of `strings` (which then starts at the
    /// next entry's).
    fn texts<'s>(&self, strings: &mut &'s [u8]) -> Texts<'s> {
        let mut take = |len: u32| {
            let (field, rest) = strings.split_at(strings.len().min(len as usize));
            *strings = rest;
            field
        };
        let method = take(self.method_len);
        let route_key = self.route_key_len.map(&mut take);
        let path = take(self.path_len);
        let user_agent = self.user_agent_len.map(&mut take);
        Texts { method, route_key, path, user_agent }
    }
}

/// An entry's text fields.
struct Texts<'s> {
    method: &'s [u8],
    route_key: Option<&'s [u8]>,
    path: &'s [u8],
    user_agent: Option<&'s [u8]>,
}

/// How many stripes: two per CPU (so that the runtime's worker threads, one per CPU, rarely
/// share one), at most 64.
fn stripes() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 2).clamp(2, 64)
}

thread_local! {
    /// Boxes of this thread's finished records, emptied, for its next requests' records.
    #[expect(clippy::vec_box, reason = "the boxes themselves are what is kept, to be handed out again")]
    static SPARE_BOXES: std::cell::RefCell<Vec<Box<AccessRecord>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl AccessLogWriter {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// The file output cannot be opened for appending, or the thread cannot be started.
    pub fn start(format: AccessLogFormat, output: AccessLogOutput) -> io::Result<Self> {
        let sink = Output::open(output)?;
        Ok(Self::spawn(format, sink))
    }

    /// Starts the writer thread writing to `out` (tests).
    pub fn to_writer(format: AccessLogFormat, out: Box<dyn Write + Send>) -> Self {
        Self::spawn(format, Output { target: Target::Writer(out), path: None })
    }

    fn spawn(format: AccessLogFormat, mut out: Output) -> Self {
        let shared = Arc::new(Shared {
            dropped: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            stripes: (0..stripes())
                .map(|_| CachePadded::new(std::sync::Mutex::new(Stripe::default())))
                .collect(),
            thread: std::sync::OnceLock::new(),
        });
        let wants = format.wants();
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || {
            // Each stripe's buffers are swapped for these (emptied, their capacity kept): one
            // write for all the lines a thread finished since the last round.
            let mut lines: Vec<u8> = Vec::new();
            let mut entries: Vec<Entry> = Vec::new();
            let mut strings: Vec<u8> = Vec::new();
            let mut second = SecondCache::default();
            loop {
                // Read before taking the lines: a line finished before closing is in them.
                let closing = thread_shared.closing.load(Ordering::Acquire);
                let mut wrote = false;
                for stripe in thread_shared.stripes.iter() {
                    {
                        let mut stripe = stripe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        if stripe.lines.is_empty() && stripe.entries.is_empty() {
                            continue;
                        }
                        std::mem::swap(&mut stripe.lines, &mut lines);
                        std::mem::swap(&mut stripe.entries, &mut entries);
                        std::mem::swap(&mut stripe.strings, &mut strings);
                    }
                    // A stripe holds lines of one kind only: the format is the writer's.
                    let mut texts = strings.as_slice();
                    for entry in &entries {
                        json_line(entry, &entry.texts(&mut texts), &mut lines, &mut second);
                        lines.push(b'\n');
                    }
                    out.write(&lines);
                    lines.clear();
                    entries.clear();
                    strings.clear();
                    wrote = true;
                }
                if wrote {
                    out.flush();
                }
                if thread_shared.reopen.swap(false, Ordering::AcqRel) {
                    out.reopen();
                }
                if closing {
                    break;
                }
                std::thread::park_timeout(BATCH_EVERY);
            }
            out.flush();
        });
        let writer = match spawned {
            Ok(handle) => {
                let _ = shared.thread.set(handle.thread().clone());
                Some(handle)
            }
            Err(error) => {
                tracing::error!(%error, "could not start the access-log writer; access log disabled");
                None
            }
        };
        AccessLogWriter { format, wants, shared, writer: std::sync::Mutex::new(writer) }
    }

    /// Writes every line still waiting, flushes, and stops the writer (at shutdown, once the
    /// listener has drained). Later records are dropped.
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        let handle = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(handle) = handle {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }

    /// Records dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Asks the writer to reopen its file (after logrotate moved it): lines already written
    /// stay in the old file, the next line goes to the new one. Never blocks.
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
        if let Some(handle) = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            handle.thread().unpark();
        }
    }
}

impl AccessLogSink for AccessLogWriter {
    fn emit(&self, mut record: Box<AccessRecord>) {
        let shared = &self.shared;
        let stripe = &shared.stripes[portcullis_core::thread_stripe(shared.stripes.len())];
        let wake = {
            let mut stripe = stripe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if stripe.full() || shared.closing.load(Ordering::Relaxed) {
                None
            } else if let AccessLogFormat::Json = self.format {
                let Stripe { entries, strings, .. } = &mut *stripe;
                entries.push(Entry::of(&record, strings));
                Some(entries.len() == WAKE_AT_ENTRIES)
            } else {
                let Stripe { lines, text, .. } = &mut *stripe;
                let before = lines.len();
                write_record(&self.format, &record, lines, text);
                Some(before < WAKE_AT && lines.len() >= WAKE_AT)
            }
        };
        match wake {
            None => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // Only a burst wakes the writer before its next batch; a request never waits for it.
            Some(true) => {
                if let Some(thread) = shared.thread.get() {
                    thread.unpark();
                }
            }
            Some(false) => {}
        }
        // What the record held is freed here; its box serves this thread's next request.
        *record = AccessRecord::blank();
        SPARE_BOXES.with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE {
                spare.push(record);
            }
        });
    }

    fn wants(&self) -> Wants {
        self.wants
    }

    fn boxed(&self, record: AccessRecord) -> Box<AccessRecord> {
        match SPARE_BOXES.with(|spare| spare.borrow_mut().pop()) {
            Some(mut boxed) => {
                *boxed = record;
                boxed
            }
            None => Box::new(record),
        }
    }
}

/// The writer thread's end of the output.
struct Output {
    target: Target,
    /// The file to reopen, for a file output.
    path: Option<PathBuf>,
}

enum Target {
    Stdout(io::Stdout),
    Stderr(io::Stderr),
    File(File),
    Writer(Box<dyn Write + Send>),
}

/// The file, opened for appending; unbuffered, since what is written is already a batch.
fn append(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(file)
}

impl Output {
    fn open(output: AccessLogOutput) -> io::Result<Self> {
        Ok(match output {
            AccessLogOutput::Stdout => Output { target: Target::Stdout(io::stdout()), path: None },
            AccessLogOutput::Stderr => Output { target: Target::Stderr(io::stderr()), path: None },
            AccessLogOutput::File(path) => Output { target: Target::File(append(&path)?), path: Some(path) },
        })
    }

    fn write(&mut self, line: &[u8]) {
        let written = match &mut self.target {
            Target::Stdout(out) => out.write_all(line),
            Target::Stderr(out) => out.write_all(line),
            Target::File(out) => out.write_all(line),
            Target::Writer(out) => out.write_all(line),
        };
        if let Err(error) = written {
            tracing::debug!(%error, "access-log line not written");
        }
    }

    fn flush(&mut self) {
        let _ = match &mut self.target {
            Target::Stdout(out) => out.flush(),
            Target::Stderr(out) => out.flush(),
            Target::File(out) => out.flush(),
            Target::Writer(out) => out.flush(),
        };
    }

    /// Flushes to the old file, then opens the path again; on failure keeps the old file.
    fn reopen(&mut self) {
        let Some(path) = self.path.clone() else { return };
        self.flush();
        match append(&path) {
            Ok(file) => {
                self.target = Target::File(file);
                tracing::info!(path = %path.display(), "access log reopened");
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "access log could not be reopened; writing to the old file");
            }
        }
    }
}

/// Appends `record` as one line (with its newline) to `out`; `text` is scratch space for the
/// formats that build text first.
fn write_record(format: &AccessLogFormat, record: &AccessRecord, out: &mut Vec<u8>, text: &mut String) {
    match format {
        AccessLogFormat::Json => {
            let mut strings = Vec::new();
            let entry = Entry::of(record, &mut strings);
            json_line(&entry, &entry.texts(&mut strings.as_slice()), out, &mut SecondCache::default());
        }
        other => {
            text.clear();
            match other {
                AccessLogFormat::Pretty => pretty_line(record, text),
                AccessLogFormat::Clf => clf_line(record, text),
                AccessLogFormat::Template(template) => template_line(template, record, text),
                AccessLogFormat::Json => {}
            }
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.push(b'\n');
}

/// Portcullis's JSON line. Field names follow AWS `$context` variables where one exists
/// (docs/aws-compatibility.md#access-logging), in snake case. Written byte by byte, without the
/// formatting machinery: this is the default format, and the writer's time is the gateway's.
fn json_line(r: &Entry, texts: &Texts<'_>, out: &mut Vec<u8>, cache: &mut SecondCache) {
    let since_epoch = r.received_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    // A request id is base64url and `=`, a method a token: neither needs escaping.
    out.extend_from_slice(b"{\"request_id\":\"");
    out.extend_from_slice(r.request_id.as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    push_rfc3339(out, since_epoch, cache);
    out.extend_from_slice(b"\",\"time_epoch_ms\":");
    // The seconds' digits come from the cache push_rfc3339 just filled; within the first second
    // there are none, and a JSON number has no leading zeros.
    if since_epoch.as_secs() == 0 {
        push_uint(out, u64::from(since_epoch.subsec_millis()));
    } else {
        out.extend_from_slice(&cache.epoch);
        push_padded(out, u64::from(since_epoch.subsec_millis()), 3);
    }
    out.extend_from_slice(b",\"source_ip\":\"");
    push_ip(out, r.source_ip);
    out.extend_from_slice(b"\",\"method\":\"");
    out.extend_from_slice(texts.method);
    out.push(b'"');
    out.extend_from_slice(b",\"route_key\":");
    push_json(out, texts.route_key.unwrap_or(b"-"));
    out.extend_from_slice(b",\"path\":");
    push_json(out, texts.path);
    out.extend_from_slice(b",\"protocol\":\"");
    out.extend_from_slice(r.protocol.as_bytes());
    out.extend_from_slice(b"\",\"status\":");
    push_uint(out, u64::from(r.status));
    out.extend_from_slice(b",\"response_bytes\":");
    push_uint(out, r.response_bytes);
    out.extend_from_slice(b",\"latency_ms\":");
    push_millis(out, r.latency);
    if let Some(latency) = r.integration_latency {
        out.extend_from_slice(b",\"integration_latency_ms\":");
        push_millis(out, latency);
    }
    out.extend_from_slice(b",\"authorizer\":\"");
    out.extend_from_slice(r.authorizer.as_bytes());
    out.push(b'"');
    if let Some(reason) = r.authorizer_reason {
        out.extend_from_slice(b",\"authorizer_reason\":\"");
        out.extend_from_slice(reason.as_bytes());
        out.push(b'"');
    }
    if let Some(error) = r.error {
        out.extend_from_slice(b",\"error\":\"");
        out.extend_from_slice(error.as_bytes());
        out.push(b'"');
    }
    if let Some(agent) = texts.user_agent {
        out.extend_from_slice(b",\"user_agent\":");
        push_json(out, agent);
    }
    out.push(b'}');
}

/// `n` in decimal.
fn push_uint(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let at = digits_of(n, &mut digits);
    out.extend_from_slice(&digits[at..]);
}

/// `n` in decimal, zero-padded to `width` digits (at most 20).
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let at = digits_of(n, &mut digits).min(digits.len() - width.min(20));
    out.extend_from_slice(&digits[at..]);
}

/// Writes the digits of `n` at the end of `digits`, two at a time; returns where they start.
fn digits_of(mut n: u64, digits: &mut [u8; 20]) -> usize {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";
    let mut at = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    at
}

/// Milliseconds with microsecond precision (`3.607`).
fn push_millis(out: &mut Vec<u8>, duration: Duration) {
    // In 64 bits: `as_micros` is a 128-bit division.
    let micros =
        duration.as_secs().saturating_mul(1_000_000).saturating_add(u64::from(duration.subsec_micros()));
    // The digits of the microseconds, at least four (`0512`), with the point before the last three.
    let mut digits = [b'0'; 20];
    let at = digits_of(micros, &mut digits).min(digits.len() - 4);
    out.extend_from_slice(&digits[at..17]);
    out.push(b'.');
    out.extend_from_slice(&digits[17..]);
}

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_uint(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// RFC 3339 UTC with millisecond precision (`2023-11-14T22:13:20.123Z`). The date and time to
/// the second are worked out once a second (`cache`), not once a line.
fn push_rfc3339(out: &mut Vec<u8>, since_epoch: Duration, cache: &mut SecondCache) {
    let secs = since_epoch.as_secs();
    if cache.secs != Some(secs) {
        let t = UtcTime::of(UNIX_EPOCH + Duration::from_secs(secs));
        let mut text = Vec::with_capacity(19);
        push_padded(&mut text, u64::try_from(t.year).unwrap_or(0), 4);
        text.push(b'-');
        push_padded(&mut text, u64::from(t.month), 2);
        text.push(b'-');
        push_padded(&mut text, u64::from(t.day), 2);
        text.push(b'T');
        push_padded(&mut text, u64::from(t.hour), 2);
        text.push(b':');
        push_padded(&mut text, u64::from(t.minute), 2);
        text.push(b':');
        push_padded(&mut text, u64::from(t.second), 2);
        cache.text = text;
        cache.epoch.clear();
        push_uint(&mut cache.epoch, secs);
        cache.secs = Some(secs);
    }
    out.extend_from_slice(&cache.text);
    out.push(b'.');
    push_padded(out, u64::from(since_epoch.subsec_millis()), 3);
    out.push(b'Z');
}

/// The date and time of the last second a line was written in.
#[derive(Debug, Default)]
struct SecondCache {
    secs: Option<u64>,
    /// `2023-11-14T22:13:20`.
    text: Vec<u8>,
    /// The seconds since the epoch in decimal (`1700000000`).
    epoch: Vec<u8>,
}

/// The bytes a JSON string holds as they are (this log also escapes DEL).
static PLAIN: [bool; 256] = {
    let mut plain = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        plain[b] = false;
        b += 1;
    }
    plain[b'"' as usize] = false;
    plain[b'\\' as usize] = false;
    plain[0x7f] = false;
    plain
};

/// `value` (UTF-8) as a JSON string; most values need no escape and are copied whole.
fn push_json(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    if value.iter().all(|&b| PLAIN[usize::from(b)]) {
        out.extend_from_slice(value);
    } else {
        let mut text = String::with_capacity(value.len() + 8);
        escaped(&String::from_utf8_lossy(value), &mut text);
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b'"');
}

fn pretty_line(r: &AccessRecord, out: &mut String) {
    let _ = write!(
        out,
        "{} {} \"{} {}\" {} {}B {:.1}ms route={} auth={}",
        r.source_ip,
        r.request_id.as_str(),
        r.method,
        r.uri.path(),
        r.status,
        r.response_bytes,
        r.latency.as_secs_f64() * 1000.0,
        r.route_key.as_deref().unwrap_or("-"),
        r.authorizer,
    );
    if let Some(reason) = r.authorizer_reason {
        let _ = write!(out, " reason={reason}");
    }
}

fn clf_line(r: &AccessRecord, out: &mut String) {
    let _ = write!(
        out,
        "{} - - [{}] \"{} {} {}\" {} {} {}",
        r.source_ip,
        clf_time(r.received_at),
        r.method,
        r.route_key.as_deref().unwrap_or("-"),
        r.protocol,
        r.status,
        r.response_bytes,
        r.request_id.as_str(),
    );
}

fn template_line(template: &Template, r: &AccessRecord, out: &mut String) {
    for part in template.parts() {
        match part {
            portcullis_core::Part::Text(text) => out.push_str(text),
            portcullis_core::Part::Var(variable) => match record_value(variable, r) {
                Some(value) => escaped(&value, out),
                None => out.push('-'),
            },
        }
    }
}

/// The value of a `$context` variable for a finished request; `None` prints `-`.
pub fn record_value<'r>(variable: &Variable, r: &'r AccessRecord) -> Option<Cow<'r, str>> {
    let owned = |s: String| Some(Cow::Owned(s));
    match variable {
        Variable::Context(c) => match c {
            ContextVariable::RequestId | ContextVariable::ExtendedRequestId => {
                Some(Cow::Borrowed(r.request_id.as_str()))
            }
            ContextVariable::RouteKey => r.route_key.as_deref().map(Cow::Borrowed),
            ContextVariable::HttpMethod => Some(Cow::Borrowed(r.method.as_str())),
            ContextVariable::Path => Some(Cow::Borrowed(r.uri.path())),
            ContextVariable::Protocol => Some(Cow::Borrowed(r.protocol)),
            // As in events: the host without its port.
            ContextVariable::DomainName => r
                .host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .map(|h| Cow::Borrowed(portcullis_events::without_port(h))),
            ContextVariable::DomainPrefix => {
                let host = portcullis_events::without_port(r.host.as_ref()?.to_str().ok()?);
                Some(Cow::Borrowed(host.split('.').next().filter(|p| !p.is_empty())?))
            }
            ContextVariable::RequestTime => owned(clf_time(r.received_at)),
            ContextVariable::RequestTimeEpoch => {
                owned(r.received_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis().to_string())
            }
            ContextVariable::SourceIp => owned(r.source_ip.to_string()),
            ContextVariable::UserAgent => {
                r.user_agent.as_ref().and_then(|v| v.to_str().ok()).map(Cow::Borrowed)
            }
            ContextVariable::PrincipalId => match &r.auth {
                AuthContext::Lambda(lambda) => lambda.principal_id.as_deref().map(Cow::Borrowed),
                _ => None,
            },
            ContextVariable::AuthorizerError => r.authorizer_reason.map(Cow::Borrowed),
            ContextVariable::Status => owned(r.status.to_string()),
            ContextVariable::ResponseLength => owned(r.response_bytes.to_string()),
            ContextVariable::DataProcessed => {
                let received = r.request_bytes.as_ref().map_or(0, |n| n.load(Ordering::Relaxed));
                owned((received + r.response_bytes).to_string())
            }
            ContextVariable::ResponseLatency => owned(rounded_millis(r.latency).to_string()),
            ContextVariable::IntegrationLatency => {
                r.integration_latency.map(|latency| Cow::Owned(rounded_millis(latency).to_string()))
            }
            ContextVariable::IntegrationStatus => r.integration_status.map(|s| Cow::Owned(s.to_string())),
            ContextVariable::IntegrationServiceStatus => {
                r.lambda_status.or(r.integration_status).map(|s| Cow::Owned(s.to_string()))
            }
            ContextVariable::IntegrationErrorMessage => r.integration_error.as_deref().map(Cow::Borrowed),
            ContextVariable::ErrorMessage => r.error_message.map(Cow::Borrowed),
            ContextVariable::ErrorMessageString => r.error_message.map(|m| Cow::Owned(format!("\"{m}\""))),
            ContextVariable::ErrorResponseType => r.error_type.map(Cow::Borrowed),
            // Constants, substituted when the format was compiled.
            ContextVariable::Stage | ContextVariable::ApiId | ContextVariable::AccountId => None,
        },
        Variable::Claim(name) => match &r.auth {
            AuthContext::Jwt(jwt) => portcullis_events::claim_string(jwt.claims.get(name)?).map(Cow::Owned),
            _ => None,
        },
        Variable::AuthorizerValue(key) => match &r.auth {
            AuthContext::Lambda(lambda) => json_text(lambda.context.as_ref()?.get(key)?).map(Cow::Owned),
            _ => None,
        },
        _ => None,
    }
}

/// `value` with `"`, `\` and control characters escaped as in a JSON string.
fn escaped(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// A sink that discards everything (`access_log: {enabled: false}`).
#[derive(Debug, Default)]
pub struct NoAccessLog;

impl AccessLogSink for NoAccessLog {
    fn emit(&self, _record: Box<AccessRecord>) {}
}

pin_project_lite::pin_project! {
    /// A request body that counts the bytes read through it (for `$context.dataProcessed`).
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        count: Arc<AtomicU64>,
    }
}

impl<B> CountedBody<B> {
    /// `inner`, counting into `count`.
    pub fn new(inner: B, count: Arc<AtomicU64>) -> Self {
        CountedBody { inner, count }
    }
}

impl<B: HttpBody<Data = Bytes>> HttpBody for CountedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
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

pin_project_lite::pin_project! {
    /// A response body that counts bytes and emits the access record when it ends or is dropped.
    pub struct LoggedBody {
        #[pin]
        inner: Body,
        pending: Option<(Box<AccessRecord>, Arc<dyn AccessLogSink>, Instant)>,
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
    pub fn new(
        inner: Body,
        record: Box<AccessRecord>,
        sink: Arc<dyn AccessLogSink>,
        started: Instant,
    ) -> Self {
        LoggedBody { inner, pending: Some((record, sink, started)) }
    }
}

fn finish(pending: &mut Option<(Box<AccessRecord>, Arc<dyn AccessLogSink>, Instant)>) {
    if let Some((mut record, sink, started)) = pending.take() {
        record.latency = started.elapsed();
        sink.emit(record);
    }
}

/// Whole milliseconds, rounded (`$context.responseLatency`).
pub fn rounded_millis(duration: Duration) -> u64 {
    u64::try_from((duration.as_micros() + 500) / 1000).unwrap_or(u64::MAX)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord {
        let id = portcullis_core::RequestIdGenerator::new(3).next_id();
        let uri: Uri = "/dev/pets/1?x=1".parse().unwrap();
        let mut r = AccessRecord::start(
            id,
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            "192.0.2.7".parse().unwrap(),
            &Method::GET,
            &uri,
            "HTTP/1.1",
        );
        r.route_key = Some(Arc::from("GET /pets/{id}"));
        r.status = 200;
        r.response_bytes = 42;
        r.latency = Duration::from_micros(3600);
        r.user_agent = Some(HeaderValue::from_static("curl/8 \"quoted\""));
        r
    }

    fn line(format: &AccessLogFormat, r: &AccessRecord) -> String {
        let (mut line, mut text) = (Vec::new(), String::new());
        write_record(format, r, &mut line, &mut text);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn numbers_and_addresses_are_written_as_the_formatter_would() {
        let text = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut out = Vec::new();
            f(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(&|o| push_uint(o, 0)), "0");
        assert_eq!(text(&|o| push_uint(o, u64::MAX)), u64::MAX.to_string());
        for n in [1, 9, 10, 99, 100, 101, 999, 1000, 12345, 1_700_000_000_123] {
            assert_eq!(text(&|o| push_uint(o, n)), n.to_string());
        }
        assert_eq!(text(&|o| push_padded(o, 7, 3)), "007");
        assert_eq!(text(&|o| push_padded(o, 12345, 3)), "12345");
        assert_eq!(text(&|o| push_millis(o, Duration::from_micros(3600))), "3.600");
        assert_eq!(text(&|o| push_millis(o, Duration::from_nanos(400))), "0.000");
        assert_eq!(text(&|o| push_millis(o, Duration::from_micros(1_234_568))), "1234.568");
        assert_eq!(text(&|o| push_millis(o, Duration::from_micros(512))), "0.512");
        assert_eq!(text(&|o| push_millis(o, Duration::from_micros(45))), "0.045");
        assert_eq!(text(&|o| push_millis(o, Duration::from_micros(10_000))), "10.000");
        assert_eq!(text(&|o| push_ip(o, "10.0.255.1".parse().unwrap())), "10.0.255.1");
        assert_eq!(text(&|o| push_ip(o, "::1".parse().unwrap())), "::1");
        assert_eq!(text(&|o| push_json(o, "plain".as_bytes())), "\"plain\"");
        assert_eq!(text(&|o| push_json(o, "a\"b\n".as_bytes())), "\"a\\\"b\\n\"");
        assert_eq!(text(&|o| push_json(o, "a\\b".as_bytes())), "\"a\\\\b\"");
        assert_eq!(text(&|o| push_json(o, "\u{7f}\u{1f}~ é".as_bytes())), "\"\\u007f\\u001f~ é\"");
    }

    #[test]
    fn the_json_line_is_json_with_todays_fields() {
        let r = record();
        let parsed: serde_json::Value =
            serde_json::from_str(line(&AccessLogFormat::Json, &r).trim_end()).unwrap();
        assert_eq!(parsed["request_id"], r.request_id.as_str());
        assert_eq!(parsed["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(parsed["time_epoch_ms"], 1_700_000_000_123u64);
        // A millisecond below 100 keeps its zeros, in both forms.
        let mut early = record();
        early.received_at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_005);
        let parsed: serde_json::Value =
            serde_json::from_str(line(&AccessLogFormat::Json, &early).trim_end()).unwrap();
        assert_eq!(parsed["time"], "2023-11-14T22:13:20.005Z");
        assert_eq!(parsed["time_epoch_ms"], 1_700_000_000_005u64);
        // At (or before) the epoch, still a JSON number.
        early.received_at = UNIX_EPOCH + Duration::from_millis(7);
        let parsed: serde_json::Value =
            serde_json::from_str(line(&AccessLogFormat::Json, &early).trim_end()).unwrap();
        assert_eq!(parsed["time_epoch_ms"], 7);
        early.received_at = UNIX_EPOCH;
        let parsed: serde_json::Value =
            serde_json::from_str(line(&AccessLogFormat::Json, &early).trim_end()).unwrap();
        assert_eq!(parsed["time_epoch_ms"], 0);
        assert_eq!(parsed["route_key"], "GET /pets/{id}");
        assert_eq!(parsed["path"], "/dev/pets/1");
        assert_eq!(parsed["status"], 200);
        assert_eq!(parsed["latency_ms"], 3.6);
        assert_eq!(parsed["user_agent"], "curl/8 \"quoted\"");
        assert!(parsed.get("error").is_none());
    }

    #[test]
    fn clf_is_awss_form() {
        let r = record();
        assert_eq!(
            line(&AccessLogFormat::Clf, &r),
            format!(
                "192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] \"GET GET /pets/{{id}} HTTP/1.1\" 200 42 {}\n",
                r.request_id.as_str()
            )
        );
    }

    #[test]
    fn a_template_prints_dashes_for_absent_values_and_escapes_the_rest() {
        let template = Template::new(vec![
            portcullis_core::Part::Text("{\"ua\":\"".into()),
            portcullis_core::Part::Var(Variable::Context(ContextVariable::UserAgent)),
            portcullis_core::Part::Text("\",\"err\":\"".into()),
            portcullis_core::Part::Var(Variable::Context(ContextVariable::AuthorizerError)),
            portcullis_core::Part::Text("\",\"lat\":".into()),
            portcullis_core::Part::Var(Variable::Context(ContextVariable::ResponseLatency)),
            portcullis_core::Part::Text("}".into()),
        ]);
        let mut r = record();
        r.user_agent = Some(HeaderValue::from_static("evil\"}\t"));
        let text = line(&AccessLogFormat::Template(template), &r);
        let parsed: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(parsed["ua"], "evil\"}\t");
        assert_eq!(parsed["err"], "-");
        assert_eq!(parsed["lat"], 4);
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        let mut cache = SecondCache::default();
        let mut rfc3339 = |d| {
            let mut out = Vec::new();
            push_rfc3339(&mut out, d, &mut cache);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(rfc3339(Duration::from_secs(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Duration::from_millis(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            rfc3339(Duration::from_millis(951_782_400_999)),
            "2000-02-29T00:00:00.999Z",
            "cached second"
        );
    }

    /// An output that keeps what is written.
    #[derive(Clone, Default)]
    struct Collect(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn closing_writes_every_waiting_line() {
        let collected = Collect::default();
        let writer = AccessLogWriter::to_writer(AccessLogFormat::Json, Box::new(collected.clone()));
        for _ in 0..1000 {
            writer.emit(Box::new(record()));
        }
        writer.close();
        let text = String::from_utf8(collected.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1000, "nothing lost at shutdown");
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn a_finished_records_box_serves_the_threads_next_request_emptied() {
        let writer = AccessLogWriter::to_writer(AccessLogFormat::Json, Box::new(io::sink()));
        let mut first = writer.boxed(record());
        first.integration_error = Some("boom".into());
        let address = std::ptr::from_ref::<AccessRecord>(&first) as usize;
        writer.emit(first);
        let next = writer.boxed(record());
        assert_eq!(std::ptr::from_ref::<AccessRecord>(&next) as usize, address, "the same allocation");
        assert!(next.integration_error.is_none(), "holding the new record, nothing of the old");
        writer.close();
    }

    #[test]
    fn the_writer_formats_each_line_from_its_own_fields() {
        // Text fields present or absent and of every length, one after the other in a stripe:
        // each line must carry its own.
        let records: Vec<AccessRecord> = (0..200)
            .map(|i| {
                let mut r = record();
                r.route_key = (i % 3 != 0).then(|| Arc::from(format!("GET /r{}", "x".repeat(i % 7))));
                r.uri = format!("/p/{}", "y".repeat(i % 11)).parse().unwrap();
                r.user_agent = match i % 4 {
                    0 => None,
                    1 => Some(HeaderValue::from_static("agent \"1\"")),
                    2 => Some(HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()),
                    _ => Some(HeaderValue::from_str(&"z".repeat(i)).unwrap()),
                };
                r.status = 200 + i as u16;
                r
            })
            .collect();
        let collected = Collect::default();
        let writer = AccessLogWriter::to_writer(AccessLogFormat::Json, Box::new(collected.clone()));
        for r in &records {
            writer.emit(Box::new(r.clone()));
        }
        writer.close();
        let text = String::from_utf8(collected.0.lock().unwrap().clone()).unwrap();
        let written: Vec<&str> = text.lines().collect();
        let expected: Vec<String> =
            records.iter().map(|r| line(&AccessLogFormat::Json, r).trim_end().to_owned()).collect();
        assert_eq!(written, expected);
        let third: serde_json::Value = serde_json::from_str(written[3]).unwrap();
        assert_eq!(third["user_agent"], "zzz");
        assert_eq!(third["path"], "/p/yyy");
        assert_eq!(third["route_key"], "-");
        let fifth: serde_json::Value = serde_json::from_str(written[5]).unwrap();
        assert_eq!(
            (&fifth["route_key"], &fifth["user_agent"]),
            (&"GET /rxxxxx".into(), &"agent \"1\"".into())
        );
        let second: serde_json::Value = serde_json::from_str(written[2]).unwrap();
        assert!(second.get("user_agent").is_none(), "not visible ASCII: left out");
        let first: serde_json::Value = serde_json::from_str(written[0]).unwrap();
        assert_eq!(first["route_key"], "-");
        assert!(first.get("user_agent").is_none());
    }

    #[test]
    fn lines_of_many_threads_are_all_written_whole() {
        let collected = Collect::default();
        let writer = Arc::new(AccessLogWriter::to_writer(AccessLogFormat::Json, Box::new(collected.clone())));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let writer = Arc::clone(&writer);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        writer.emit(Box::new(record()));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        writer.close();
        let text = String::from_utf8(collected.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 4000);
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "no torn line");
    }

    #[test]
    fn a_stuck_output_drops_and_counts_lines_and_never_blocks_the_caller() {
        // JSON lines wait as entries (bounded in number), the other formats as text (in bytes).
        for format in [AccessLogFormat::Json, AccessLogFormat::Clf] {
            stuck_output_drops(format);
        }
    }

    fn stuck_output_drops(format: AccessLogFormat) {
        /// An output whose first write blocks until the test lets it go (a full pipe).
        struct Stuck(std::sync::mpsc::Receiver<()>, Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let _ = self.0.recv();
                self.1.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (release, stuck) = std::sync::mpsc::channel();
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = AccessLogWriter::to_writer(format.clone(), Box::new(Stuck(stuck, Arc::clone(&written))));
        writer.emit(Box::new(record()));
        // The writer takes the first line and blocks writing it.
        std::thread::sleep(Duration::from_millis(100));
        let started = std::time::Instant::now();
        // More than either bound holds: 2 MiB of CLF lines of about 90 bytes, 8,192 JSON lines.
        const EMITTED: u64 = 40_000;
        for _ in 0..EMITTED {
            writer.emit(Box::new(record()));
        }
        assert!(started.elapsed() < Duration::from_secs(5), "emitting never waits for the output");
        let dropped = writer.dropped();
        assert!(dropped > 0, "{format:?}: what does not fit the stripe is dropped and counted");
        // Let the output go: every waiting line is written at close, the dropped ones are not.
        drop(release);
        writer.close();
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let lines = text.lines().count();
        assert_eq!(lines as u64, 1 + EMITTED - dropped);
        match format {
            AccessLogFormat::Json => assert!(lines <= 1 + STRIPE_ENTRIES, "a stripe holds at most its bound"),
            _ => assert!(
                text.len() <= STRIPE_BYTES + 2 * text.len() / lines,
                "a stripe holds at most its bound"
            ),
        }
    }
}

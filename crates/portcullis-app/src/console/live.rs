//! The Live page's stream: requests as they finish, as server-sent events.
//!
//! ```text
//! request start ── LiveTap::observing: a stream open, and the second's budget not spent?
//!                    │ yes: the pipeline keeps the headers (and, in dev mode, the function event)
//! request end ──emit──▶ LiveTap ──▶ the access log (unchanged)
//!                          │ a kept request only: try_send (never waits)
//!                          ▼
//!                    hub task (the summary line; keeps the last 500 requests for details)
//!                          │ broadcast (never waits; a receiver that falls behind lags)
//!                          ▼
//!              one task per open stream ──▶ bounded queue ──▶ the HTTP response body
//! ```
//!
//! With no stream open, the tap costs a request one relaxed load and the pipeline keeps nothing
//! extra. While one is open, at most [`PER_SECOND`] requests a second are streamed (a page shows
//! 500 rows; a busy gateway is sampled rather than slowed); the rest are counted as skipped (and
//! announced to the streams as dropped), and cost one more counter. A stream that is not read fills its own bounded queue; further events
//! are dropped for that stream only and counted, and the stream says how many it lost
//! (`event: dropped`) once it has room again. A stream is written at most every 100 ms (the page
//! adds rows as often), so an open console costs a few writes a second, not one per request.
//! Requests never wait for a stream. A request's details are formatted (and masked) only when
//! asked for.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use crossbeam_utils::CachePadded;
use http::HeaderMap;
use http_body::Frame;
use http_body_util::BodyExt;
use portcullis_core::{AuthContext, Body, BoxError};
use portcullis_pipeline::{Access, AccessLogSink, AccessRecord, Observing, Snapshot, Wants};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use super::catalog::epoch_ms;

/// Requests streamed per second at most, in windows of a tenth of a second.
pub(crate) const PER_SECOND: u32 = 500;
const WINDOW: Duration = Duration::from_millis(100);
const PER_WINDOW: u32 = PER_SECOND / 10;
/// Finished requests waiting for the hub; beyond, they are dropped (and counted).
const HUB_QUEUE: usize = 1024;
/// Formatted events a stream's task may be behind the hub by before it loses the oldest.
const BROADCAST: usize = 1024;
/// Chunks waiting in one stream's response body.
const STREAM_QUEUE: usize = 32;
/// Bytes of events gathered into one chunk (one write to the client) before the next flush.
const CHUNK: usize = 64 * 1024;
/// A stream's events are written at most this often (the page adds rows as often): a few
/// writes a second rather than one per request.
const FLUSH: Duration = Duration::from_millis(100);
/// Requests kept for `GET /api/live/{id}`.
const RECENT: usize = 500;
/// A comment line this often keeps proxies and browsers from timing a quiet stream out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Claims shown as they are; every other claim value is masked outside development mode.
const VISIBLE_CLAIMS: [&str; 5] = ["sub", "iss", "aud", "scope", "scp"];
/// Request headers shown as they are; every other value is masked outside development mode
/// (a custom header may carry a token: an identity source, an API key).
const VISIBLE_HEADERS: [&str; 16] = [
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "cache-control",
    "connection",
    "origin",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
    "traceparent",
    "te",
];
const MASK: &str = "***";

/// A route's authorizer name and integration kind.
type Facts = (Option<Arc<str>>, &'static str);

/// One recent request, for its details.
struct Recent {
    id: Box<str>,
    record: Box<AccessRecord>,
    facts: Option<Facts>,
}

/// What the tap, the hub and the streams share. What every request touches while a stream is
/// open (the subscriber count, the budget, the skipped count) sits on cache lines of its own,
/// and the skipped count is striped per thread: worker threads adding to one counter would
/// pass its cache line back and forth on every request.
pub(crate) struct Live {
    /// Open streams (read by every request, written when a stream opens or closes).
    subscribers: CachePadded<AtomicUsize>,
    /// This tenth of a second's budget.
    budget: CachePadded<Budget>,
    /// Requests not streamed: over the budget.
    skipped: Striped,
    /// Events some stream did not get: the hub's queue was full, or a stream fell behind.
    dropped: AtomicU64,
    /// Requests the hub's queue had no room for.
    queue_full: AtomicU64,
    started: Instant,
    dev: bool,
    frames: broadcast::Sender<Bytes>,
    recent: Mutex<VecDeque<Recent>>,
}

/// The budget's current window (tenths of a second since `started`) and its count.
struct Budget {
    window: AtomicU64,
    in_window: AtomicU32,
}

/// A counter that threads add to on stripes of their own (one cache line each); a read sums
/// the stripes.
struct Striped([CachePadded<AtomicU64>; STRIPES]);

const STRIPES: usize = 8;

impl Striped {
    fn new() -> Self {
        Striped(std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))))
    }

    fn add(&self, n: u64) {
        self.0[portcullis_core::thread_stripe(STRIPES)].fetch_add(n, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|stripe| stripe.load(Ordering::Relaxed)).sum()
    }
}

impl Live {
    /// Open streams.
    pub(crate) fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Events not delivered to some stream because it (or the hub) fell behind, since start.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Requests not streamed because the second's budget was spent, since start.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.sum()
    }

    /// The details of a recent request (JSON), while it is among the last 500: claims and
    /// headers masked outside development mode.
    pub(crate) fn detail(&self, id: &str) -> Option<Value> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let found = recent.iter().rev().find(|r| &*r.id == id)?;
        Some(detail(&found.record, found.facts.as_ref(), self.dev))
    }

    /// Whether this request is streamed: within this tenth of a second's budget. Counts it as
    /// dropped otherwise.
    fn admit(&self) -> bool {
        let budget = &self.budget;
        let window = (self.started.elapsed().as_millis() / WINDOW.as_millis()) as u64;
        let current = budget.window.load(Ordering::Relaxed);
        if current != window
            && budget.window.compare_exchange(current, window, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            budget.in_window.store(0, Ordering::Relaxed);
        }
        // A spent budget is seen with a read, which leaves the line shared between threads.
        if budget.in_window.load(Ordering::Relaxed) < PER_WINDOW
            && budget.in_window.fetch_add(1, Ordering::Relaxed) < PER_WINDOW
        {
            return true;
        }
        self.skipped.add(1);
        false
    }

    /// A new stream: its response body, fed by its own task until the client goes away or the
    /// gateway shuts down.
    pub(crate) fn stream(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> Body {
        let (tx, rx) = mpsc::channel::<Bytes>(STREAM_QUEUE);
        let mut frames = self.frames.subscribe();
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        let guard = Subscriber(Arc::clone(self));
        tokio::spawn(async move {
            let live = &guard.0;
            let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
            keep_alive.reset();
            let mut flush = tokio::time::interval(FLUSH);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Events gathered since the last write, and events this stream lost and has not
            // been told about yet.
            let mut pending = BytesMut::from(&b": connected\n\n"[..]);
            let mut pending_events = 0u64;
            let mut lost = 0u64;
            loop {
                tokio::select! {
                    received = frames.recv() => match received {
                        Ok(frame) => {
                            pending.extend_from_slice(&frame);
                            pending_events += 1;
                            if pending.len() < CHUNK {
                                continue;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            live.dropped.fetch_add(n, Ordering::Relaxed);
                            lost += n;
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = flush.tick() => {
                        if pending.is_empty() && lost == 0 {
                            continue;
                        }
                    }
                    _ = keep_alive.tick() => {
                        if pending.is_empty() {
                            pending.extend_from_slice(b": keep-alive\n\n");
                        }
                    }
                    () = tx.closed() => break,
                    _ = shutdown.changed() => break,
                }
                // Never wait for the client: what does not fit in its queue is dropped, and
                // counted for it and for `/metrics`.
                let chunk = pending.split().freeze();
                let events = std::mem::take(&mut pending_events);
                let mut delivered = true;
                if lost > 0 {
                    delivered = offer(&tx, dropped_frame(lost))?;
                    if delivered {
                        lost = 0;
                    }
                }
                if delivered && !chunk.is_empty() {
                    delivered = offer(&tx, chunk)?;
                }
                if !delivered && events > 0 {
                    live.dropped.fetch_add(events, Ordering::Relaxed);
                    lost += events;
                }
            }
            Some(())
        });
        Stream { rx }.boxed()
    }
}

/// Queues `frame` if the stream has room: `Some(true)` queued, `Some(false)` full, `None` the
/// client is gone.
fn offer(tx: &mpsc::Sender<Bytes>, frame: Bytes) -> Option<bool> {
    match tx.try_send(frame) {
        Ok(()) => Some(true),
        Err(mpsc::error::TrySendError::Full(_)) => Some(false),
        Err(mpsc::error::TrySendError::Closed(_)) => None,
    }
}

fn dropped_frame(count: u64) -> Bytes {
    Bytes::from(format!("event: dropped\ndata: {{\"count\":{count}}}\n\n"))
}

/// Counts an open stream for as long as its task runs.
struct Subscriber(Arc<Live>);

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream's response body: what its task queued.
struct Stream {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for Stream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// The access-log sink the gateway writes to: the real access log, plus the live stream while
/// one is open.
pub(crate) struct LiveTap {
    inner: Arc<dyn AccessLogSink>,
    live: Arc<Live>,
    queue: mpsc::Sender<Box<AccessRecord>>,
}

impl AccessLogSink for LiveTap {
    fn emit(&self, mut record: Box<AccessRecord>) {
        // Only requests admitted at their start carry a detail (see `observing`).
        if let Some(detail) = record.detail.take() {
            // A copy of handles (`Arc`s, `Bytes`), with the detail moved over.
            let mut copy = Box::new(AccessRecord::clone(&record));
            copy.detail = Some(detail);
            if self.queue.try_send(copy).is_err() {
                self.live.dropped.fetch_add(1, Ordering::Relaxed);
                self.live.queue_full.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.inner.emit(record);
    }

    fn wants(&self) -> Wants {
        self.inner.wants()
    }

    fn boxed(&self, record: AccessRecord) -> Box<AccessRecord> {
        self.inner.boxed(record)
    }

    fn observing(&self) -> Observing {
        if self.live.subscribers.load(Ordering::Relaxed) == 0 || !self.live.admit() {
            return Observing::default();
        }
        Observing { requests: true, events: self.live.dev }
    }
}

/// The tap around `inner`, the shared state, and the hub task (which ends at `shutdown`).
pub(crate) fn start(
    inner: Arc<dyn AccessLogSink>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    dev: bool,
    shutdown: watch::Receiver<bool>,
) -> (Arc<LiveTap>, Arc<Live>, tokio::task::JoinHandle<()>) {
    let (queue, received) = mpsc::channel(HUB_QUEUE);
    let live = Arc::new(Live {
        subscribers: CachePadded::new(AtomicUsize::new(0)),
        budget: CachePadded::new(Budget { window: AtomicU64::new(0), in_window: AtomicU32::new(0) }),
        skipped: Striped::new(),
        dropped: AtomicU64::new(0),
        queue_full: AtomicU64::new(0),
        started: Instant::now(),
        dev,
        frames: broadcast::channel(BROADCAST).0,
        recent: Mutex::new(VecDeque::with_capacity(RECENT)),
    });
    let hub = tokio::spawn(hub(received, Arc::clone(&live), snapshot, shutdown));
    (Arc::new(LiveTap { inner, live: Arc::clone(&live), queue }), live, hub)
}

async fn hub(
    mut received: mpsc::Receiver<Box<AccessRecord>>,
    live: Arc<Live>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut routes = RouteFacts::default();
    let mut announced = Instant::now();
    // Requests lost before the hub (over the budget, or no room in its queue) announced so far.
    let mut announced_lost = 0u64;
    loop {
        let record = tokio::select! {
            record = received.recv() => match record {
                Some(record) => record,
                None => return,
            },
            _ = shutdown.changed() => return,
        };
        let facts = record.route_key.as_ref().and_then(|key| routes.get(&snapshot, key)).cloned();
        let line = summary(&record, facts.as_ref());
        let id: Box<str> = record.request_id.as_str().into();
        let frame = format!("event: request\nid: {id}\ndata: {line}\n\n");
        {
            let mut recent = live.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(Recent { id, record, facts });
        }
        // Requests lost before the hub are announced at most once per flush interval.
        if announced.elapsed() >= FLUSH {
            let lost_so_far = live.skipped.sum() + live.queue_full.load(Ordering::Relaxed);
            let lost = lost_so_far.saturating_sub(announced_lost);
            if lost > 0 {
                let _ = live.frames.send(dropped_frame(lost));
            }
            announced_lost = lost_so_far;
            announced = Instant::now();
        }
        // No receiver (every stream closed meanwhile) is not an error.
        let _ = live.frames.send(Bytes::from(frame));
    }
}

/// Route key -> (authorizer name, integration kind) of the snapshot last seen, rebuilt when a
/// reload swapped it.
#[derive(Default)]
struct RouteFacts {
    of: Option<Arc<Snapshot>>,
    routes: HashMap<Arc<str>, Facts>,
}

impl RouteFacts {
    fn get(&mut self, snapshot: &ArcSwap<Snapshot>, key: &str) -> Option<&Facts> {
        let current = snapshot.load();
        if !self.of.as_ref().is_some_and(|of| Arc::ptr_eq(of, &current)) {
            self.routes = current
                .routes
                .routes()
                .map(|(_, plan)| {
                    let authorizer = match &plan.access {
                        Access::Authorizer(route) => Some(Arc::clone(&route.name)),
                        Access::Public => None,
                    };
                    (Arc::clone(&plan.key), (authorizer, plan.integration.describe().kind))
                })
                .collect();
            self.of = Some(arc_swap::Guard::into_inner(current));
        }
        self.routes.get(key)
    }
}

/// Milliseconds with microsecond precision, as the access log writes them.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// The stream's line for a finished request.
fn summary(record: &AccessRecord, facts: Option<&Facts>) -> Value {
    let authorizer = match record.authorizer {
        "none" => Value::Null,
        decision => json!({
            "name": facts.and_then(|(name, _)| name.as_deref()),
            "decision": if decision == "allow" { "allow" } else { "deny" },
            "reason": record.authorizer_reason,
        }),
    };
    json!({
        "id": record.request_id.as_str(),
        "time": epoch_ms(record.received_at),
        "method": record.method.as_str(),
        "path": record.uri.path(),
        "route_key": record.route_key.as_deref(),
        "status": record.status,
        "latency_ms": millis(record.latency),
        "authorizer": authorizer,
        "integration": facts.map(|(_, kind)| *kind),
    })
}

/// A request's details: the summary, and what was kept of it (masked outside development mode).
fn detail(record: &AccessRecord, facts: Option<&Facts>, dev: bool) -> Value {
    let mut detail = summary(record, facts);
    let error = match (record.error, record.integration_error.as_deref()) {
        (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
        (Some(kind), None) => Some(kind.to_owned()),
        (None, Some(message)) => Some(message.to_owned()),
        (None, None) => None,
    };
    let extra = [
        ("source_ip", json!(record.source_ip.to_string())),
        ("protocol", json!(record.protocol)),
        ("response_bytes", json!(record.response_bytes)),
        ("integration_status", json!(record.integration_status)),
        ("integration_latency_ms", json!(record.integration_latency.map(millis))),
        ("error", json!(error)),
        ("claims", claims(&record.auth, dev)),
        ("request_headers", record.detail.as_ref().map_or(Value::Null, |d| headers(&d.headers, dev))),
        ("event", event(record, dev)),
    ];
    if let Value::Object(map) = &mut detail {
        map.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
    detail
}

/// What the authorizer established, values masked but for `sub`, `iss`, `aud`, `scope`, `scp`
/// (and a Lambda authorizer's `principalId`).
pub(crate) fn claims(auth: &AuthContext, dev: bool) -> Value {
    let masked = |map: &Map<String, Value>, visible: &[&str]| -> Value {
        Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let shown = dev || visible.contains(&k.as_str());
                    (k.clone(), if shown { v.clone() } else { Value::String(MASK.into()) })
                })
                .collect(),
        )
    };
    match auth {
        AuthContext::None => Value::Null,
        AuthContext::Jwt(jwt) => masked(&jwt.claims, &VISIBLE_CLAIMS),
        AuthContext::Lambda(lambda) => {
            let mut map = Map::new();
            if let Some(principal) = &lambda.principal_id {
                map.insert("principalId".into(), Value::String(principal.clone()));
            }
            if let Some(context) = &lambda.context {
                for (k, v) in context.iter() {
                    map.insert(k.clone(), if dev { v.clone() } else { Value::String(MASK.into()) });
                }
            }
            Value::Object(map)
        }
    }
}

/// Request headers, values masked but for a short list of harmless ones; `authorization` keeps
/// its scheme (`Bearer ***`).
pub(crate) fn headers(headers: &HeaderMap, dev: bool) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        let shown = if dev || VISIBLE_HEADERS.contains(&name.as_str()) {
            text.into_owned()
        } else if name == http::header::AUTHORIZATION {
            match text.split_once(' ') {
                Some((scheme, _)) => format!("{scheme} {MASK}"),
                None => MASK.to_owned(),
            }
        } else {
            MASK.to_owned()
        };
        match map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&shown);
            }
            _ => {
                map.insert(name.as_str().to_owned(), Value::String(shown));
            }
        }
    }
    Value::Object(map)
}

/// The event sent to the function, in development mode only.
fn event(record: &AccessRecord, dev: bool) -> Value {
    if !dev {
        return Value::Null;
    }
    let Some(event) = record.detail.as_ref().and_then(|d| d.event.as_ref()).and_then(|e| e.get()) else {
        return Value::Null;
    };
    serde_json::from_slice(event)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(event).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::{JwtContext, LambdaContext};

    #[test]
    fn claims_are_masked_except_the_identity_ones_outside_dev_mode() {
        let claims_map: Map<String, Value> = serde_json::from_value(json!({
            "sub": "alice", "iss": "https://idp/", "aud": "api", "scope": "read", "scp": ["a"],
            "email": "alice@example.com", "exp": 1_700_000_000, "groups": ["admin"],
        }))
        .expect("claims");
        let auth = AuthContext::Jwt(JwtContext { claims: Arc::new(claims_map), scopes: None });
        let shown = claims(&auth, false);
        assert_eq!(shown["sub"], "alice");
        assert_eq!(shown["iss"], "https://idp/");
        assert_eq!(shown["aud"], "api");
        assert_eq!(shown["scope"], "read");
        assert_eq!(shown["scp"], json!(["a"]));
        for hidden in ["email", "exp", "groups"] {
            assert_eq!(shown[hidden], MASK, "{hidden}");
        }
        assert_eq!(claims(&auth, true)["email"], "alice@example.com");
        let lambda = AuthContext::Lambda(LambdaContext {
            principal_id: Some("user-1".into()),
            context: Some(Arc::new(serde_json::from_value(json!({"role": "admin"})).expect("context"))),
        });
        assert_eq!(claims(&lambda, false), json!({"principalId": "user-1", "role": MASK}));
    }

    #[test]
    fn the_event_sent_to_a_function_is_shown_in_development_mode_only() {
        let id = portcullis_core::RequestIdGenerator::new(1).next_id();
        let uri: http::Uri = "/hello?token=secret".parse().expect("uri");
        let mut record = AccessRecord::start(
            id,
            std::time::SystemTime::now(),
            "127.0.0.1".parse().expect("ip"),
            &http::Method::GET,
            &uri,
            "HTTP/1.1",
        );
        record.route_key = Some(Arc::from("GET /hello"));
        record.status = 200;
        let capture = portcullis_core::EventCapture::default();
        capture.keep(&Bytes::from_static(br#"{"version":"2.0","rawPath":"/hello"}"#));
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "k-1".parse().expect("value"));
        record.detail = Some(Box::new(portcullis_pipeline::RequestDetail { headers, event: Some(capture) }));
        let facts = (None, "function");
        let line = summary(&record, Some(&facts));
        assert_eq!(line["path"], "/hello", "the query string (which may hold a token) is not shown");
        assert_eq!(line["integration"], "function");
        assert_eq!(line["authorizer"], Value::Null);
        let masked = detail(&record, Some(&facts), false);
        assert_eq!(masked["event"], Value::Null);
        assert_eq!(masked["request_headers"]["x-api-key"], MASK);
        let dev = detail(&record, Some(&facts), true);
        assert_eq!(dev["event"]["rawPath"], "/hello");
        assert_eq!(dev["request_headers"]["x-api-key"], "k-1");
    }

    #[test]
    fn at_most_the_budget_is_streamed_per_tenth_of_a_second_and_the_rest_counted() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let snapshot = Arc::new(ArcSwap::from_pointee(
                crate::compile::snapshot(
                    &portcullis_config::demo(),
                    &crate::resources::DryRun::new(&crate::compile::process(&portcullis_config::demo()))
                        .expect("dry run"),
                )
                .expect("demo snapshot"),
            ));
            let (_shutdown_tx, shutdown) = watch::channel(false);
            let (tap, live, _hub) =
                start(Arc::new(portcullis_pipeline::NoAccessLog), snapshot, false, shutdown.clone());
            assert_eq!(tap.observing(), Observing::default(), "nobody watches: nothing kept");
            assert_eq!(live.dropped(), 0);
            let _body = live.stream(shutdown);
            let admitted = (0..PER_WINDOW * 3).filter(|_| tap.observing().requests).count() as u64;
            // The window may have turned once during the loop.
            assert!((u64::from(PER_WINDOW)..=u64::from(PER_WINDOW) * 2).contains(&admitted), "{admitted}");
            assert_eq!(live.skipped(), u64::from(PER_WINDOW) * 3 - admitted);
            assert_eq!(live.dropped(), 0);
        });
    }

    #[test]
    fn header_values_that_may_carry_secrets_are_masked() {
        let mut map = HeaderMap::new();
        map.insert("authorization", "Bearer eyJhbGciOi.secret.sig".parse().expect("value"));
        map.insert("x-api-key", "k-123".parse().expect("value"));
        map.insert("cookie", "session=abc".parse().expect("value"));
        map.insert("user-agent", "curl/8".parse().expect("value"));
        map.append("accept", "a/b".parse().expect("value"));
        map.append("accept", "c/d".parse().expect("value"));
        let shown = headers(&map, false);
        assert_eq!(shown["authorization"], "Bearer ***");
        assert_eq!(shown["x-api-key"], MASK);
        assert_eq!(shown["cookie"], MASK);
        assert_eq!(shown["user-agent"], "curl/8");
        assert_eq!(shown["accept"], "a/b, c/d");
        assert!(!shown.to_string().contains("secret"));
        assert_eq!(headers(&map, true)["x-api-key"], "k-123");
    }
}

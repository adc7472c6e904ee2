//! Listener: accept connections, speak HTTP/1.1 and HTTP/2 (h2c, or ALPN over TLS), protect the
//! gateway from slow, idle and greedy clients, and drain gracefully on shutdown. The main and
//! the admin listener both run here, each with its own [`Handler`]: the main one on request
//! threads ([`serve_on_request_threads`]), each a single-threaded runtime that keeps the connections it
//! accepts; the admin one on the caller's runtime ([`serve`]).
//!
//! Protections, and where each is enforced:
//! - silent connections: a connection that has not started a request within `header_timeout`
//!   of being accepted is closed (this covers the protocol sniffing that precedes hyper's own
//!   timers, and a TLS client that finishes its handshake and then says nothing);
//! - slow request heads (slowloris): hyper's HTTP/1 header-read timeout (`header_timeout`); it
//!   starts whenever the connection waits for a request head, so it also ends HTTP/1.1
//!   keep-alive connections that stay silent that long;
//! - slow TLS handshakes: the same `header_timeout`;
//! - idle connections of either protocol: a per-connection watchdog closes (gracefully) a
//!   connection with no request in flight for `idle_timeout`;
//! - too many connections: at most `max_connections` at once ([`conns`]); at the cap the listener
//!   stops accepting (new clients wait in the kernel's backlog) and asks idle connections to
//!   close, so a pile of idle sockets cannot lock out new clients; `max_connections_per_client`
//!   caps one client address;
//! - HTTP/2 fan-out: at most `http2_max_concurrent_streams` streams per client connection;
//! - oversized heads: hyper's read-buffer cap (64 KiB, or twice the budget if larger) bounds
//!   memory; the exact budget is enforced with a JSON 431 by [`crate::limits`].
//!
//! Shutdown: when the shutdown signal fires, the accept loop stops (the socket closes, so new
//! connections are refused and a load balancer moves on). HTTP/2 connections get a GOAWAY and
//! finish their open streams. HTTP/1.1 connections are never closed under a request: the next
//! response on each carries `connection: close`, and a connection idle for [`DRAIN_IDLE_GRACE`]
//! is closed, so a keep-alive client that sends its next request as the drain starts gets an
//! answer rather than a reset. [`serve`] returns when all connections have closed or
//! `drain_timeout` has passed, whichever is first.

mod conns;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, HeaderValue};
use http::{Request, Response, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use portcullis_core::BoxError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub use conns::ConnectionLimits;
use conns::{BALANCE_WAIT, ConnTracker, MAX_BALANCE_WAIT, Slot};

/// What the listener knows about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct ConnMeta {
    /// The TCP peer.
    pub client_addr: SocketAddr,
    /// The port the client connected to (the listener's).
    pub local_port: u16,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// How long an idle HTTP/1.1 connection is kept open once draining has started, so that a
/// request already on its way gets an answer (with `connection: close`) instead of a reset.
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// What a listener serves: one request in, one response out, never an error (every failure is
/// a response). The main listener serves the [`crate::Gateway`]; the admin listener its own.
pub trait Handler: Send + Sync + 'static {
    /// The response body.
    type Body: HttpBody<Data = Bytes, Error = BoxError> + Send + 'static;

    /// Answer one request that arrived on `conn`.
    fn handle(
        &self,
        request: Request<Incoming>,
        conn: ConnMeta,
    ) -> impl Future<Output = Response<Self::Body>> + Send;
}

/// How the listener treats connections. Fixed for the life of a listener (changing them takes a
/// restart; the route table is what reloads).
#[derive(Clone)]
pub struct ListenerSettings {
    /// Time allowed for a complete request head (and a TLS handshake); also the time a new
    /// connection has to start its first request.
    pub header_timeout: Duration,
    /// Close connections with no request in flight for this long.
    pub idle_timeout: Duration,
    /// The header budget; hyper's read buffer is capped at max(2 × this, 64 KiB).
    pub max_header_bytes: usize,
    /// How long in-flight requests get to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// Connection caps.
    pub connections: ConnectionLimits,
    /// Most concurrent streams one HTTP/2 client connection may open.
    pub http2_max_concurrent_streams: u32,
    /// TLS, with ALPN `h2` and `http/1.1`, when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serve `listener` with `handler` until `shutdown` becomes true, then drain.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    settings: ListenerSettings,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
) {
    let tracker = Arc::new(ConnTracker::new(settings.connections));
    serve_with(listener, settings, handler, shutdown, tracker, 1).await;
}

/// The request threads serving one listener, started by [`serve_on_request_threads`]. Dropping
/// it lets their runtimes end, with whatever tasks requests left on them (a function instance
/// started by a request, its output forwarders): drop it once those have been stopped.
pub struct RequestThreads {
    _release: watch::Sender<()>,
}

/// Serve `listener` on `threads` request threads, each with a single-threaded runtime that
/// accepts from the same socket and keeps every connection it accepts, with what that
/// connection's requests open (upstream connections, timers), to itself. Nothing on the hot path
/// moves between threads, and a busy thread accepts less. The connection caps are shared.
///
/// Returns a future that resolves once every thread has drained after `shutdown` (as [`serve`]
/// does), and the [`RequestThreads`] that keep their runtimes alive.
pub fn serve_on_request_threads<H: Handler>(
    listener: std::net::TcpListener,
    threads: std::num::NonZeroUsize,
    settings: ListenerSettings,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(impl Future<Output = ()> + Send + 'static, RequestThreads)> {
    listener.set_nonblocking(true)?;
    let tracker = Arc::new(ConnTracker::new(settings.connections));
    let (release, _) = watch::channel(());
    let mut drained = Vec::with_capacity(threads.get());
    for index in 0..threads.get() {
        let listener = listener.try_clone()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (settings, handler, shutdown, tracker) =
            (settings.clone(), Arc::clone(&handler), shutdown.clone(), Arc::clone(&tracker));
        let count = threads.get();
        let mut released = release.subscribe();
        let (done, drained_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name(format!("request-{index}")).spawn(move || {
            portcullis_core::enter_request_thread();
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve_with(listener, settings, handler, shutdown, tracker, count).await,
                    Err(error) => tracing::error!(thread = index, %error, "request thread cannot listen"),
                }
                let _ = done.send(());
                // Until released, tasks requests spawned here keep running.
                let _ = released.changed().await;
            });
        })?;
        drained.push(drained_rx);
    }
    let all_drained = async move {
        for thread in drained {
            // An error means the thread is gone (it panicked): nothing left to drain.
            let _ = thread.await;
        }
    };
    Ok((all_drained, RequestThreads { _release: release }))
}

async fn serve_with<H: Handler>(
    listener: TcpListener,
    settings: ListenerSettings,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
    tracker: Arc<ConnTracker>,
    threads: usize,
) {
    // This thread's connections, against the others' that accept from the same socket.
    let mine = Arc::new(AtomicUsize::new(0));
    let mut patience = BALANCE_WAIT;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(settings.max_header_bytes.saturating_mul(2).max(64 * 1024))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(settings.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    let tls = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    // Every connection task holds a clone of `drained_tx`; when all are gone, draining is done.
    let (drained_tx, mut drained_rx) = mpsc::channel::<()>(1);
    // Connections get their own receiver: the accept loop's is borrowed by `wait_for` below.
    let connection_shutdown = shutdown.clone();

    loop {
        // At the connection cap: accept nothing (new clients wait in the backlog) until a
        // connection ends, asking idle ones to make room meanwhile.
        if tracker.full() {
            tokio::select! {
                () = tracker.wait_for_room() => continue,
                () = until_stopped(&mut shutdown) => break,
            }
        }
        // Over its share of the connections, a thread leaves new ones to the others for a while,
        // then takes only one that is already waiting (they may all be busy), and waits longer
        // each time until the shares even out.
        let accepted = if threads > 1 && tracker.over_share(&mine, threads) {
            tokio::select! {
                within = tracker.balance(&mine, threads, patience) => if within { continue },
                () = until_stopped(&mut shutdown) => break,
            }
            patience = (patience * 2).min(MAX_BALANCE_WAIT);
            match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
                Ok(accepted) => accepted,
                Err(_) => continue,
            }
        } else {
            patience = BALANCE_WAIT;
            tokio::select! {
                accepted = listener.accept() => accepted,
                () = until_stopped(&mut shutdown) => break,
            }
        };
        let (stream, client_addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE and friends: make room and back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tracker.press();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let accepted_at = Instant::now();
        let Some(slot) = tracker.admit(client_addr.ip(), &mine) else {
            tracing::debug!(client = %client_addr, "connection refused: per-client connection cap");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let task = ConnectionTask {
            builder: Arc::clone(&builder),
            handler: Arc::clone(&handler),
            shutdown: connection_shutdown.clone(),
            settings: settings.clone(),
            slot,
            accepted_at,
            _drained: drained_tx.clone(),
        };
        match tls.clone() {
            None => {
                let meta = ConnMeta { client_addr, local_port: local_port(&stream), tls: false };
                tokio::spawn(task.run(stream, meta));
            }
            Some(acceptor) => {
                let local_port = local_port(&stream);
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(task.settings.header_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            task.run(stream, ConnMeta { client_addr, local_port, tls: true }).await
                        }
                        Ok(Err(error)) => tracing::debug!(%client_addr, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%client_addr, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    // Stop accepting: the socket closes here, so new connections are refused while we drain.
    drop(listener);
    drop(drained_tx);
    if tokio::time::timeout(settings.drain_timeout, drained_rx.recv()).await.is_err() {
        tracing::warn!(drain_timeout = ?settings.drain_timeout, "drain timeout reached; closing remaining connections");
    }
}

fn local_port(stream: &tokio::net::TcpStream) -> u16 {
    stream.local_addr().map(|addr| addr.port()).unwrap_or(0)
}

/// Resolves once the shutdown flag is set (or its sender is gone). The guard `wait_for` returns
/// is dropped here, so callers' futures stay `Send`.
pub async fn until_stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

struct ConnectionTask<H> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
    settings: ListenerSettings,
    slot: Slot,
    accepted_at: Instant,
    _drained: mpsc::Sender<()>,
}

impl<H: Handler> ConnectionTask<H> {
    async fn run<I>(mut self, io: I, meta: ConnMeta)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let activity = Arc::new(Activity::new());
        let handler = Arc::clone(&self.handler);
        let service_activity = Arc::clone(&activity);
        let service = service_fn(move |request: Request<Incoming>| {
            let handler = Arc::clone(&handler);
            let version = request.version();
            let guard = InFlight::enter(Arc::clone(&service_activity), version);
            async move {
                let mut response = handler.handle(request, meta).await;
                // Draining: tell an HTTP/1.1 client to take its next request elsewhere; hyper
                // closes the connection once this response is written.
                if guard.0.draining.load(Ordering::Relaxed) && version != Version::HTTP_2 {
                    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response.map(|body| TrackedBody { inner: body, _guard: guard }))
            }
        });
        let connection = self.builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let first_request_deadline =
            tokio::time::sleep_until((self.accepted_at + self.settings.header_timeout).into());
        tokio::pin!(first_request_deadline);
        let mut pressure = self.slot.pressure();
        let mut deadline_passed = false;
        let mut closing = false;
        let mut draining = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(client = %meta.client_addr, %error, "connection ended with an error");
                    }
                    break;
                }
                // A `select!` precondition is read when the `select!` starts, not when a branch
                // fires: a connection busy with requests since then has `started` by now.
                () = &mut first_request_deadline, if !deadline_passed => {
                    deadline_passed = true;
                    if !activity.started() {
                        tracing::debug!(client = %meta.client_addr, "closing a connection that sent no request in time");
                        break;
                    }
                }
                () = until_stopped(&mut self.shutdown), if !draining => {
                    draining = true;
                    activity.draining.store(true, Ordering::Relaxed);
                    if activity.http2.load(Ordering::Relaxed) {
                        // GOAWAY: open streams finish, no new ones start.
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                () = activity.idle_for(DRAIN_IDLE_GRACE), if draining && !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = activity.idle_for(self.settings.idle_timeout), if !closing => {
                    tracing::debug!(client = %meta.client_addr, "closing idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                // The sender lives in the tracker this connection's slot holds: never closed.
                Ok(()) = pressure.changed(), if !closing => {
                    if activity.idle_at_least(conns::PRESSURE_MIN_IDLE) {
                        tracing::debug!(client = %meta.client_addr, "closing an idle connection to make room");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// Per-connection activity: requests in flight and when the last one ended.
struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last start or end of a request.
    last_change_ms: AtomicU64,
    /// Whether any request has started on this connection.
    started: AtomicBool,
    /// Whether the connection speaks HTTP/2 (known from its first request).
    http2: AtomicBool,
    /// Set when the listener starts draining.
    draining: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(0),
            started: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        self.last_change_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    fn idle_since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed))
    }

    /// Whether no request is in flight and none has been for at least `limit`.
    fn idle_at_least(&self, limit: Duration) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && self.idle_since().elapsed() >= limit
    }

    /// Resolves once no request has been in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            if self.idle_at_least(limit) {
                return;
            }
            let wake = if self.in_flight.load(Ordering::Relaxed) == 0 {
                self.idle_since() + limit
            } else {
                Instant::now() + limit
            };
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

/// Counts a request as in flight until its response body is finished or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: Arc<Activity>, version: Version) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.started.store(true, Ordering::Relaxed);
        if version == Version::HTTP_2 {
            activity.http2.store(true, Ordering::Relaxed);
        }
        activity.touch();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    struct TrackedBody<B> {
        #[pin]
        inner: B,
        _guard: InFlight,
    }
}

impl<B: HttpBody<Data = Bytes, Error = BoxError>> HttpBody for TrackedBody<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

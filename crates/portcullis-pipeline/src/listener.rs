//! Listener: accept connections, speak HTTP/1.1 and HTTP/2 (h2c, or ALPN over TLS), protect the
//! gateway from slow and idle clients, and drain gracefully on shutdown.
//!
//! Protections, and where each is enforced:
//! - slow request heads (slowloris): hyper's HTTP/1 header-read timeout (`header_timeout`); it
//!   starts whenever the connection waits for a request head, so it also ends HTTP/1.1
//!   keep-alive connections that stay silent that long;
//! - slow TLS handshakes: the same `header_timeout`;
//! - idle connections of either protocol: a per-connection watchdog closes (gracefully) a
//!   connection with no request in flight for `idle_timeout`;
//! - oversized heads: hyper's read-buffer cap (64 KiB, or twice the budget if larger) bounds
//!   memory; the exact budget is enforced with a JSON 431 by [`crate::limits`].
//!
//! Shutdown: when the shutdown signal fires, the accept loop stops (new connections are
//! refused), every connection is told to finish its in-flight requests and close, and [`serve`]
//! returns when all have closed or `drain_timeout` has passed, whichever is first.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use portcullis_core::BoxError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::access_log::LoggedBody;
use crate::stack::{ConnMeta, Gateway};

/// How the listener treats connections. Fixed for the life of a listener (changing them takes a
/// restart; the route table is what reloads).
#[derive(Clone)]
pub struct ListenerSettings {
    /// Time allowed for a complete request head (and a TLS handshake).
    pub header_timeout: Duration,
    /// Close connections with no request in flight for this long.
    pub idle_timeout: Duration,
    /// The header budget; hyper's read buffer is capped at max(2 × this, 64 KiB).
    pub max_header_bytes: usize,
    /// How long in-flight requests get to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// TLS, with ALPN `h2` and `http/1.1`, when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serve `listener` until `shutdown` becomes true, then drain.
pub async fn serve(
    listener: TcpListener,
    settings: ListenerSettings,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
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
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, client_addr) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let task = ConnectionTask {
                    builder: Arc::clone(&builder),
                    gateway: Arc::clone(&gateway),
                    shutdown: connection_shutdown.clone(),
                    settings: settings.clone(),
                    _drained: drained_tx.clone(),
                };
                match tls.clone() {
                    None => {
                        let meta = ConnMeta { client_addr, tls: false };
                        tokio::spawn(task.run(stream, meta));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            let handshake = tokio::time::timeout(task.settings.header_timeout, acceptor.accept(stream)).await;
                            match handshake {
                                Ok(Ok(stream)) => task.run(stream, ConnMeta { client_addr, tls: true }).await,
                                Ok(Err(error)) => tracing::debug!(%client_addr, %error, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%client_addr, "TLS handshake timed out"),
                            }
                        });
                    }
                }
            }
            _ = until_stopped(&mut shutdown) => break,
        }
    }
    // Stop accepting: the socket closes here, so new connections are refused while we drain.
    drop(listener);
    drop(drained_tx);
    if tokio::time::timeout(settings.drain_timeout, drained_rx.recv()).await.is_err() {
        tracing::warn!(drain_timeout = ?settings.drain_timeout, "drain timeout reached; closing remaining connections");
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone). The guard `wait_for` returns
/// is dropped here, so callers' futures stay `Send`.
pub async fn until_stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

struct ConnectionTask {
    builder: Arc<auto::Builder<TokioExecutor>>,
    gateway: Arc<Gateway>,
    shutdown: watch::Receiver<bool>,
    settings: ListenerSettings,
    _drained: mpsc::Sender<()>,
}

impl ConnectionTask {
    async fn run<I>(mut self, io: I, meta: ConnMeta)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let activity = Arc::new(Activity::new());
        let gateway = Arc::clone(&self.gateway);
        let service_activity = Arc::clone(&activity);
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let gateway = Arc::clone(&gateway);
            let guard = InFlight::enter(Arc::clone(&service_activity));
            async move {
                let response = gateway.handle(request, meta).await;
                Ok::<_, Infallible>(response.map(|body| TrackedBody { inner: body, _guard: guard }))
            }
        });
        let connection = self.builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(client = %meta.client_addr, %error, "connection ended with an error");
                    }
                    break;
                }
                _ = until_stopped(&mut self.shutdown), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = activity.idle_for(self.settings.idle_timeout), if !closing => {
                    tracing::debug!(client = %meta.client_addr, "closing idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Per-connection activity: requests in flight and when the last one ended.
struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    last_change_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { epoch: Instant::now(), in_flight: AtomicUsize::new(0), last_change_ms: AtomicU64::new(0) }
    }

    fn touch(&self) {
        self.last_change_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once no request has been in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed));
            let idle_since = self.epoch + last;
            if self.in_flight.load(Ordering::Relaxed) == 0 && idle_since.elapsed() >= limit {
                return;
            }
            let wake = if self.in_flight.load(Ordering::Relaxed) == 0 {
                idle_since + limit
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
    fn enter(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
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
    struct TrackedBody {
        #[pin]
        inner: LoggedBody,
        _guard: InFlight,
    }
}

impl HttpBody for TrackedBody {
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

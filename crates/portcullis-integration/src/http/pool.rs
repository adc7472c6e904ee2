//! The HTTP/1.1 connection pool of one upstream origin, with the connections spoken to by
//! [`super::wire`] from each request's own task.
//!
//! Why our own instead of hyper-util's legacy `Client` (which still serves HTTP/2 and ALPN
//! upstreams): an integration knows its origin when the config is compiled, so the pool is found
//! once then, not by hashing `(scheme, authority)` twice per request; a request is written in
//! origin form straight away instead of being built absolute and rewritten; a connection goes
//! back to the pool when its response body ends, without a task spawned per request to wait for
//! it; and no connection needs a task of its own (see `wire.rs`). Measured in
//! ARCHITECTURE.md#performance-choices.
//!
//! Behaviour kept from the legacy client:
//! - last in, first out: the most recently used connection is reused first, so surplus
//!   connections left by a burst go idle and are closed after the idle timeout;
//! - a connection the upstream closed (or wrote to) while it was idle is never handed out: it is
//!   checked when taken from the pool, without a system call unless its socket was signalled;
//!   a request is never sent twice;
//! - a connection whose response body was not read to the end is closed, never reused;
//! - an idle reaper closes connections idle longer than the timeout and stops when the pool is
//!   empty.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::http::header::HeaderValue;
use ::http::{Request, Response, Uri};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use portcullis_core::BoxError;
use thread_local::ThreadLocal;
use tokio::sync::OwnedSemaphorePermit;
use tower::Service as _;

use super::headers::Forwarding;
use super::limit::{OriginLimit, Saturated};
use super::watched_body::WatchedBody;
use super::wire::{self, Conn, Decoder, Upload, WireError};

/// Why a pooled request failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PoolError {
    /// No connection could be made (DNS, TCP, TLS).
    #[error("could not connect: {0}")]
    Connect(#[source] BoxError),
    /// The connection was made but the exchange failed.
    #[error(transparent)]
    Exchange(#[from] WireError),
    /// Every connection the origin may have is busy and the queue for one is full.
    #[error(transparent)]
    Saturated(#[from] Saturated),
}

/// Idle-connection limits of a pool.
#[derive(Debug, Clone, Copy)]
pub(super) struct PoolLimits {
    pub(super) idle_timeout: Duration,
    pub(super) max_idle: usize,
}

/// The HTTP/1.1 connections to one origin (`scheme://authority`).
pub(super) struct Http1Pool {
    /// `scheme://authority/`, what the connector is asked for.
    origin: Uri,
    connector: HttpsConnector<HttpConnector>,
    limits: PoolLimits,
    /// The origin's connection cap: every open connection holds one of its permits.
    origin_limit: Arc<OriginLimit>,
    /// The idle connections of threads that are not request threads (the main runtime, tests).
    shared: Mutex<State>,
    /// Each request thread's own idle connections: a connection is registered with the reactor
    /// of the request thread that opened it, so that thread reuses it and reaps it.
    per_thread: ThreadLocal<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Idle connections, most recently used last.
    idle: Vec<Idle>,
    /// Whether a reaper task is running for this pool.
    reaper: bool,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Http1Pool {
    pub(super) fn new(
        origin: Uri,
        connector: HttpsConnector<HttpConnector>,
        limits: PoolLimits,
        origin_limit: Arc<OriginLimit>,
    ) -> Self {
        Self {
            origin,
            connector,
            limits,
            origin_limit,
            shared: Mutex::new(State::default()),
            per_thread: ThreadLocal::new(),
        }
    }

    /// Sends `req` (origin-form URI) with `host` and the forwarding headers on a pooled or new
    /// connection. The response's body hands the connection back to the pool when it has been
    /// read to the end.
    pub(super) async fn send(
        self: &Arc<Self>,
        req: Request<WatchedBody>,
        host: &HeaderValue,
        forwarding: &Forwarding<'_>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let conn = self.conn().await?;
        let wire::Exchanged { head, conn, body, keep_alive, upload } =
            wire::exchange(conn, req, host, forwarding).await?;
        let mut body =
            PooledBody { conn: Some(conn), decoder: body, keep_alive, upload, pool: Arc::downgrade(self) };
        // No body to wait for (HEAD, 204, 304, empty): reusable at once.
        if body.decoder.is_done() {
            body.give_back();
        }
        Ok(head.map(|()| body))
    }

    /// A connection to send on: an idle one, a new one if the origin's cap allows, or else the
    /// first to come back or make room, waiting in the origin's bounded queue.
    async fn conn(&self) -> Result<Conn, PoolError> {
        if let Some(conn) = self.checkout() {
            return Ok(conn);
        }
        if let Some(permit) = self.origin_limit.try_acquire() {
            return self.connect(permit).await;
        }
        let _queued = self.origin_limit.enqueue()?;
        loop {
            let returned = self.origin_limit.returned.notified();
            tokio::pin!(returned);
            // Registered before looking, so a connection returned in between is not missed.
            returned.as_mut().enable();
            // At the cap, another request thread's idle connection is better than waiting.
            if let Some(conn) = self.checkout().or_else(|| self.checkout_elsewhere()) {
                return Ok(conn);
            }
            tokio::select! {
                permit = self.origin_limit.next_permit() => return self.connect(permit?).await,
                () = returned => {}
            }
        }
    }

    /// This thread's most recently idled connection that the upstream has not closed.
    fn checkout(&self) -> Option<Conn> {
        lock(self.list()).take_usable()
    }

    /// The most recently idled usable connection of any request thread (or of the shared list).
    /// Taken only at the origin's cap: the connection stays registered with its own thread's
    /// reactor, which then wakes this request from there.
    fn checkout_elsewhere(&self) -> Option<Conn> {
        std::iter::once(&self.shared).chain(self.per_thread.iter()).find_map(|list| lock(list).take_usable())
    }

    /// A new connection, holding `permit` (a place under the origin's cap) until it closes.
    async fn connect(&self, permit: OwnedSemaphorePermit) -> Result<Conn, PoolError> {
        let mut connector = self.connector.clone();
        let stream = connector.call(self.origin.clone()).await.map_err(PoolError::Connect)?;
        Ok(Conn::new(stream, permit))
    }

    /// Keeps `conn` for reuse unless the pool is full or there is no runtime to reap it.
    fn put(self: &Arc<Self>, mut conn: Conn) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        conn.trim_for_idle();
        let mut state = self.lock();
        if state.idle.len() >= self.limits.max_idle {
            return;
        }
        state.idle.push(Idle { conn, since: Instant::now() });
        if !state.reaper {
            state.reaper = true;
            runtime.spawn(reap(Arc::downgrade(self), self.limits.idle_timeout));
        }
        drop(state);
        // A request queued at the origin's cap may take it.
        self.origin_limit.returned.notify_one();
    }

    /// This thread's idle list: a request thread's own, or the shared one off them.
    fn list(&self) -> &Mutex<State> {
        if portcullis_core::on_request_thread() { self.per_thread.get_or_default() } else { &self.shared }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(self.list())
    }
}

impl State {
    /// Pops idle connections, most recent first, until one the upstream has not closed.
    fn take_usable(&mut self) -> Option<Conn> {
        while let Some(Idle { mut conn, .. }) = self.idle.pop() {
            if conn.is_idle_usable() {
                return Some(conn);
            }
        }
        None
    }
}

fn lock(list: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state holds no invariant a panic could break halfway: a poisoned lock is usable.
    list.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Closes connections idle longer than `timeout` (or closed by the upstream) until the pool is
/// empty or gone. It runs where it was spawned, the runtime of the list it reaps: a request
/// thread's own, or the main runtime for the shared list.
async fn reap(pool: Weak<Http1Pool>, timeout: Duration) {
    let tick = (timeout / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else { return };
        let mut state = pool.lock();
        state.idle.retain_mut(|idle| idle.since.elapsed() < timeout && idle.conn.is_idle_usable());
        if state.idle.is_empty() {
            state.reaper = false;
            return;
        }
    }
}

/// A response body read from its pooled connection; the connection returns to the pool when the
/// body has been read to the end, and is closed if the body is dropped before.
pub(super) struct PooledBody {
    /// `None` once given back or after an error.
    conn: Option<Conn>,
    decoder: Decoder,
    keep_alive: bool,
    /// The rest of the request, sent while the answer is read.
    upload: Option<Box<Upload>>,
    pool: Weak<Http1Pool>,
}

impl PooledBody {
    fn give_back(&mut self) {
        // An upload still going when the answer ended leaves the connection mid-request.
        let mid_request = self.upload.take().is_some();
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && !mid_request
            && let Some(pool) = self.pool.upgrade()
        {
            pool.put(conn);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = WireError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, WireError>>> {
        let this = &mut *self;
        let Some(conn) = this.conn.as_mut() else { return Poll::Ready(None) };
        if let Some(upload) = this.upload.as_mut() {
            match upload.poll(conn, cx) {
                Poll::Ready(Ok(())) => this.upload = None,
                Poll::Ready(Err(error)) => {
                    // The upstream stopped reading; its answer may still be whole.
                    tracing::debug!(%error, "upstream stopped reading the rest of the request");
                    this.upload = None;
                    this.keep_alive = false;
                }
                Poll::Pending => {}
            }
        }
        let polled = this.decoder.poll_frame(conn, cx);
        match &polled {
            Poll::Ready(Some(Err(_))) => this.conn = None,
            Poll::Ready(_) if this.decoder.is_done() => {
                // Bytes after the body's end are not a response to anything: not reusable.
                if this.conn.as_ref().is_some_and(Conn::has_unread) {
                    this.conn = None;
                }
                this.give_back();
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done() || self.conn.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.remaining().map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Dropped before the end: the rest of the body is still on the wire, so the connection
        // cannot carry another request. Dropping it closes it.
        if self.decoder.is_done() {
            self.give_back();
        }
    }
}

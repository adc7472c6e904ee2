//! The HTTP/1.1 connection pool of one upstream origin, built on hyper's connection-level client.
//!
//! Why our own instead of hyper-util's legacy `Client` (which still serves HTTP/2 and ALPN
//! upstreams): an integration knows its origin when the config is compiled, so the pool is found
//! once then, not by hashing `(scheme, authority)` twice per request; a request is written in
//! origin form straight away instead of being built absolute and rewritten; and a connection goes
//! back to the pool when its response body ends, without a task spawned per request to wait for
//! it. Together that was about 15% of a proxied request's user-space instructions (ARCHITECTURE.md#performance-choices).
//!
//! Behaviour kept from the legacy client:
//! - last in, first out: the most recently used connection is reused first, so surplus
//!   connections left by a burst go idle and are closed after the idle timeout;
//! - a request that could not be written on a reused connection (the upstream closed it while it
//!   was idle) is retried once on a fresh connection; one already written is never retried;
//! - a connection whose response body was not read to the end is closed, never reused;
//! - an idle reaper closes connections idle longer than the timeout and stops when the pool is
//!   empty.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::http::{Request, Response, Uri};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use portcullis_core::BoxError;
use tokio::sync::OwnedSemaphorePermit;
use tower::Service as _;

use super::limit::{OriginLimit, Saturated};
use super::watched_body::WatchedBody;

type Sender = SendRequest<WatchedBody>;

/// Why a pooled request failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PoolError {
    /// No connection could be made (DNS, TCP, TLS).
    #[error("could not connect: {0}")]
    Connect(#[source] BoxError),
    /// The connection was made but the exchange failed.
    #[error(transparent)]
    Http(#[from] hyper::Error),
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
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Idle connections, most recently used last.
    idle: Vec<Idle>,
    /// Whether a reaper task is running for this pool.
    reaper: bool,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl Http1Pool {
    pub(super) fn new(
        origin: Uri,
        connector: HttpsConnector<HttpConnector>,
        limits: PoolLimits,
        origin_limit: Arc<OriginLimit>,
    ) -> Self {
        Self { origin, connector, limits, origin_limit, state: Mutex::new(State::default()) }
    }

    /// Sends `req` (origin-form URI, `Host` set) on a pooled or new connection. The response's
    /// body hands the connection back to the pool when it has been read to the end.
    pub(super) async fn send(
        self: &Arc<Self>,
        mut req: Request<WatchedBody>,
    ) -> Result<Response<PooledBody>, PoolError> {
        // At most one retry, and only of a request that never left (see the module comment).
        let mut fresh_only = false;
        loop {
            let (mut sender, reused) = self.sender(fresh_only).await?;
            match sender.try_send_request(req).await {
                Ok(response) => {
                    let slot = Some(Return { pool: Arc::downgrade(self), sender });
                    let mut response = response.map(|body| PooledBody { body, slot });
                    // No body to wait for (HEAD, 204, 304, empty): reusable at once.
                    if response.body().body.is_end_stream() {
                        response.body_mut().give_back();
                    }
                    return Ok(response);
                }
                Err(mut err) => match err.take_message() {
                    Some(unsent) if reused => {
                        tracing::debug!(error = %err.error(), "pooled upstream connection was closed; retrying on a new one");
                        req = unsent;
                        fresh_only = true;
                    }
                    _ => return Err(PoolError::Http(err.into_error())),
                },
            }
        }
    }

    /// A connection to send on: an idle one, a new one if the origin's cap allows, or else the
    /// first to come back or make room, waiting in the origin's bounded queue. The second value
    /// says whether the connection was reused.
    async fn sender(&self, fresh_only: bool) -> Result<(Sender, bool), PoolError> {
        if let Some(sender) = self.checkout(fresh_only).await {
            return Ok((sender, true));
        }
        if let Some(permit) = self.origin_limit.try_acquire() {
            return Ok((self.connect(permit).await?, false));
        }
        let _queued = self.origin_limit.enqueue()?;
        loop {
            let returned = self.origin_limit.returned.notified();
            tokio::pin!(returned);
            // Registered before looking, so a connection returned in between is not missed.
            returned.as_mut().enable();
            if let Some(sender) = self.checkout(fresh_only).await {
                return Ok((sender, true));
            }
            tokio::select! {
                permit = self.origin_limit.next_permit() => return Ok((self.connect(permit?).await?, false)),
                () = returned => {}
            }
        }
    }

    /// The most recently idled connection that is still open, ready to send.
    async fn checkout(&self, fresh_only: bool) -> Option<Sender> {
        if fresh_only {
            return None;
        }
        loop {
            let mut sender = self.lock().idle.pop()?.sender;
            if sender.is_closed() {
                continue;
            }
            // A connection goes back to the pool as its response body ends; its dispatcher may
            // need one more turn before it accepts the next request.
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// A new connection, holding `permit` (a place under the origin's cap) until it closes.
    async fn connect(&self, permit: OwnedSemaphorePermit) -> Result<Sender, PoolError> {
        let mut connector = self.connector.clone();
        let io = connector.call(self.origin.clone()).await.map_err(PoolError::Connect)?;
        let (sender, connection) = http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended with an error");
            }
            drop(permit);
        });
        Ok(sender)
    }

    /// Keeps `sender` for reuse unless the pool is full or there is no runtime to reap it.
    fn put(self: &Arc<Self>, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let mut state = self.lock();
        if state.idle.len() >= self.limits.max_idle {
            return;
        }
        state.idle.push(Idle { sender, since: Instant::now() });
        if !state.reaper {
            state.reaper = true;
            runtime.spawn(reap(Arc::downgrade(self), self.limits.idle_timeout));
        }
        drop(state);
        // A request queued at the origin's cap may take it.
        self.origin_limit.returned.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state holds no invariant a panic could break halfway: a poisoned lock is usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Closes connections idle longer than `timeout` (or closed by the upstream) until the pool is
/// empty or gone.
async fn reap(pool: Weak<Http1Pool>, timeout: Duration) {
    let tick = (timeout / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else { return };
        let mut state = pool.lock();
        state.idle.retain(|idle| !idle.sender.is_closed() && idle.since.elapsed() < timeout);
        if state.idle.is_empty() {
            state.reaper = false;
            return;
        }
    }
}

/// The connection a response came on, owed back to its pool.
struct Return {
    pool: Weak<Http1Pool>,
    sender: Sender,
}

/// A response body from a pooled connection; the connection returns to the pool when the body
/// has been read to the end, and is closed if the body is dropped before.
pub(super) struct PooledBody {
    body: Incoming,
    slot: Option<Return>,
}

impl PooledBody {
    fn give_back(&mut self) {
        if let Some(Return { pool, sender }) = self.slot.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.put(sender);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.give_back(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.give_back(),
            Poll::Ready(Some(Err(_))) => self.slot = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Dropped before the end: the rest of the body is still on the wire, so the connection
        // cannot carry another request. Dropping the sender closes it.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}

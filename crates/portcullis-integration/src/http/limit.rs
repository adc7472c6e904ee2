//! How much of one upstream origin the gateway may use at once.
//!
//! Without a cap, clients multiplexing many HTTP/2 streams onto few connections make the gateway
//! open one upstream connection per stream: twenty client connections with 200 streams each
//! become 4,000 upstream connections to a slow service, and the memory to go with them. An
//! origin gets at most `max` connections (HTTP/1.1, where a connection carries one request at a
//! time) or concurrent requests (HTTP/2 and ALPN, through hyper-util's client). A request that
//! finds the origin at its cap waits in a bounded queue, for a connection to come back or to
//! close, within the route's timeout; past `max_pending` waiters it fails at once, as Envoy's
//! circuit breakers do, and the client gets 503.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The caps of one origin, shared by every route (and transport) that sends there.
#[derive(Debug)]
pub(super) struct OriginLimit {
    permits: Arc<Semaphore>,
    pending: AtomicUsize,
    max_pending: usize,
    /// Signalled when an idle HTTP/1.1 connection goes back to the pool.
    pub(super) returned: Notify,
}

/// The origin is at its connection cap and its queue is full.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the upstream is at its connection limit and its queue is full")]
pub(super) struct Saturated;

impl OriginLimit {
    pub(super) fn new(max: usize, max_pending: usize) -> Self {
        OriginLimit {
            permits: Arc::new(Semaphore::new(max.max(1))),
            pending: AtomicUsize::new(0),
            max_pending,
            returned: Notify::new(),
        }
    }

    /// A permit if one is free now.
    pub(super) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// A place in the queue, or [`Saturated`] if the queue is full.
    pub(super) fn enqueue(&self) -> Result<Queued<'_>, Saturated> {
        let before = self.pending.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Saturated);
        }
        Ok(Queued(self))
    }

    /// Waits (queued) for a permit.
    pub(super) async fn acquire(&self) -> Result<OwnedSemaphorePermit, Saturated> {
        if let Some(permit) = self.try_acquire() {
            return Ok(permit);
        }
        let _queued = self.enqueue()?;
        Arc::clone(&self.permits).acquire_owned().await.map_err(|_| Saturated)
    }

    /// Waits for a free permit without queueing (the caller holds a [`Queued`]).
    pub(super) async fn next_permit(&self) -> Result<OwnedSemaphorePermit, Saturated> {
        Arc::clone(&self.permits).acquire_owned().await.map_err(|_| Saturated)
    }

    #[cfg(test)]
    pub(super) fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// A request's place in an origin's queue; leaves the queue when dropped.
pub(super) struct Queued<'a>(&'a OriginLimit);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds its origin's permit until it ends or is dropped.
    pub(super) struct PermitBody<B> {
        #[pin]
        inner: B,
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl<B> PermitBody<B> {
    pub(super) fn new(inner: B, permit: OwnedSemaphorePermit) -> Self {
        PermitBody { inner, permit: Some(permit) }
    }
}

impl<B: HttpBody<Data = Bytes>> HttpBody for PermitBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.permit.take();
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

    #[tokio::test]
    async fn the_queue_is_bounded_and_a_released_permit_goes_to_a_waiter() {
        let limit = Arc::new(OriginLimit::new(1, 1));
        let held = limit.acquire().await.expect("a free permit");
        let waiter = tokio::spawn({
            let limit = Arc::clone(&limit);
            async move { limit.acquire().await.map(drop) }
        });
        // Let the waiter take the one place in the queue.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(limit.acquire().await.is_err(), "a second waiter finds the queue full");
        drop(held);
        assert!(waiter.await.unwrap().is_ok(), "the queued request gets the released permit");
        assert_eq!(limit.available(), 1);
    }
}

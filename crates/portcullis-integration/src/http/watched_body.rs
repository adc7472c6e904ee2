//! The request body on its way to the upstream, watched for the pipeline's size limit.
//!
//! Why: the pipeline wraps request bodies in `http_body_util::Limited`. When the limit trips
//! while hyper streams the body, HTTP/1 hands the body error back through the response future,
//! but HTTP/2 only resets the stream (`CANCEL`) and the response future reports that reset. The
//! flag set here is the one signal that works for both, so the failure is reported as
//! `BodyTooLarge` (413) rather than an upstream failure.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use portcullis_core::{Body, BoxError};

/// A [`Body`] that raises `over_limit` if it fails with `LengthLimitError`.
pub(super) struct WatchedBody {
    inner: Body,
    over_limit: Arc<AtomicBool>,
}

impl WatchedBody {
    pub(super) fn new(inner: Body, over_limit: Arc<AtomicBool>) -> Self {
        Self { inner, over_limit }
    }
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(err))) = &polled
            && super::is_length_limit(err.as_ref())
        {
            self.over_limit.store(true, Ordering::Release);
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

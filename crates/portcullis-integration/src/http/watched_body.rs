//! The request body on its way to the upstream, watched for the client's faults.
//!
//! Why: the pipeline wraps request bodies in `http_body_util::Limited`. When the limit trips
//! while hyper streams the body, HTTP/1 hands the body error back through the response future,
//! but HTTP/2 only resets the stream (`CANCEL`) and the response future reports that reset. The
//! flag set here is the one signal that works for both, so the failure is reported as
//! `BodyTooLarge` (413) rather than an upstream failure. Any other error of the client's body
//! (a malformed chunked encoding, a stream the client reset) is the client's fault too, and is
//! reported as such (400), never as a failing upstream.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use portcullis_core::{Body, BoxError};

/// What went wrong with a client's body, if anything.
#[derive(Debug, Default)]
pub(super) struct BodyFault {
    over_limit: AtomicBool,
    client_error: AtomicBool,
}

impl BodyFault {
    /// The body went over the pipeline's size limit.
    pub(super) fn over_limit(&self) -> bool {
        self.over_limit.load(Ordering::Acquire)
    }

    /// The body failed for another reason of the client's.
    pub(super) fn client_error(&self) -> bool {
        self.client_error.load(Ordering::Acquire)
    }
}

/// A [`Body`] that records in a [`BodyFault`] how it failed.
pub(super) struct WatchedBody {
    inner: Body,
    fault: Arc<BodyFault>,
}

impl WatchedBody {
    pub(super) fn new(inner: Body, fault: Arc<BodyFault>) -> Self {
        Self { inner, fault }
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
        if let Poll::Ready(Some(Err(err))) = &polled {
            let flag = if super::is_length_limit(err.as_ref()) {
                &self.fault.over_limit
            } else {
                &self.fault.client_error
            };
            flag.store(true, Ordering::Release);
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

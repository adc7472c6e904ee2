//! Helpers shared by the HTTP integration's test files.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::Frame;
use http_body_util::BodyExt;
use portcullis_core::{Body, BoxError};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Upper bound for anything a test awaits; generous for a loaded 2-core machine.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A response's whole body as text.
pub(crate) async fn body_text(response: Response<Body>) -> String {
    let bytes = timeout(WAIT, response.into_body().collect()).await.unwrap().unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A request body fed chunk by chunk from the test, with no known length.
pub(crate) struct ChannelBody(pub(crate) mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A [`ChannelBody`] and the sender that feeds it.
pub(crate) fn channel_body() -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(4);
    (tx, ChannelBody(rx))
}

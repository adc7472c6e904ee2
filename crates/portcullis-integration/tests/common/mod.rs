//! Helpers shared by the HTTP integration's test files.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;
use http_body_util::channel::{Channel, Sender};
use portcullis_core::{Body, BoxError};
use tokio::time::timeout;

/// Upper bound for anything a test awaits; generous for a loaded 2-core machine.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A response's whole body as text.
pub(crate) async fn body_text(response: Response<Body>) -> String {
    let bytes = timeout(WAIT, response.into_body().collect()).await.unwrap().unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A body fed frame by frame from the test (`send_data`, `send_trailers`), with no known length;
/// it ends when the sender is dropped.
pub(crate) fn channel_body() -> (Sender<Bytes, BoxError>, Channel<Bytes, BoxError>) {
    Channel::new(4)
}

//! The one body type that flows between stages.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};

/// Error type carried by bodies and boxed sources.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A streaming body. Boxed once at the edge so stages do not carry generic body types; request
/// and response bodies are streamed through it, never collected, unless a stage must see the
/// whole payload (Lambda events).
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

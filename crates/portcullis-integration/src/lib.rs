//! Integrations: the last stage before the response, where an authorized request is handed to
//! whatever answers it.
//!
//! Where it sits: the pipeline's `integrate` stage holds an `Arc<dyn Integration>` per route and
//! calls it with the request and the [`CallContext`]. Kinds live in their own modules:
//! [`http`] (HTTP proxy to an upstream), [`respond`] (a fixed response). Each kind takes typed settings built by `portcullis-app`
//! and never reads YAML. Failures are [`IntegrationError`]s; the single table that turns them into
//! HTTP answers is in the pipeline's `respond` stage.

use std::time::Duration;

use ::http::{Request, Response};
pub use portcullis_core::BoxFuture;
use portcullis_core::{Body, BoxError, CallContext};

pub mod function;
pub mod http;
pub mod respond;

/// Something that answers requests.
pub trait Integration: Send + Sync + 'static {
    /// Hand `req` to the backend and return its response, streaming both bodies.
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<Response<Body>, IntegrationError>>;

    /// Whether it invokes a Lambda function (whose service has a status of its own, AWS's
    /// `$context.integrationStatus`).
    fn is_lambda(&self) -> bool {
        false
    }

    /// What this integration is, for people (the admin console's route table).
    fn describe(&self) -> Described {
        Described { kind: "custom", target: String::new() }
    }
}

/// An integration's kind (`http`, `function`, `respond`) and where it sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The kind, as config names it.
    pub kind: &'static str,
    /// The upstream URL template, the function's name, or the fixed status.
    pub target: String,
}

/// Why an integration produced no response. The pipeline maps each variant to one HTTP answer
/// (docs/aws-compatibility.md#standard-error-responses, #lambda-integration-failures).
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// No response head within the integration timeout.
    #[error("integration timed out after {0:?}")]
    Timeout(Duration),
    /// The upstream could not be reached (refused, DNS, TLS handshake).
    #[error("could not connect to the upstream: {0}")]
    Connect(#[source] BoxError),
    /// The upstream reset or closed the connection, or answered with something that is not HTTP.
    #[error("the upstream failed: {0}")]
    Upstream(#[source] BoxError),
    /// The client's request body went over the configured limit while being streamed.
    #[error("request body exceeds the configured limit")]
    BodyTooLarge,
    /// The client's request body broke off or was malformed (bad chunked encoding, a reset
    /// stream) while it was being read.
    #[error("the request body could not be read: {0}")]
    ClientBody(#[source] BoxError),
    /// A Lambda function ran past its own timeout (`functions.X.timeout`). Unlike the
    /// integration timeout, this is a function error on AWS (500).
    #[error("the function timed out after {0:?}")]
    FunctionTimeout(Duration),
    /// The function's handler reported an error (what it reported is kept: the log shows it,
    /// and with `debug_headers` so does the 500).
    #[error("the function failed: {0}")]
    FunctionFailed(portcullis_core::FunctionFailure),
    /// The upstream is at its connection limit and the queue for it is full.
    #[error("the upstream is at its connection limit and its queue is full")]
    Saturated,
}

//! Lambda function integration: the request becomes a payload 2.0 or 1.0 event
//! (docs/aws-compatibility.md#payload-20-request-event, #payload-10-request-event), the function
//! is invoked through `portcullis-functions`, and its output becomes the response
//! (docs/aws-compatibility.md#response-parsing).
//!
//! Failures map onto [`IntegrationError`] so the pipeline's one table answers them as
//! docs/aws-compatibility.md#lambda-integration-failures says: the integration timeout is
//! `Timeout` (503); the function's own timeout is `FunctionTimeout` (500); an error the handler
//! reported is `FunctionFailed` (500, what it reported kept for the log); an event over Lambda's
//! 6 MB limit is `BodyTooLarge` (413); a crash, init failure, throttle, oversized or malformed
//! output is `Upstream` (500), with a [`FunctionCallError`] as its source for the log.

use std::time::Duration;

use ::http::{Request, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use portcullis_core::{ApiIdentity, Body, CallContext, EventCapture};
use portcullis_events as events;
use portcullis_functions::{InvokeError, Invoker, MAX_PAYLOAD_BYTES};

use crate::{BoxFuture, Described, Integration, IntegrationError};

/// `PayloadFormatVersion` of a Lambda integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// `"1.0"`: the REST-compatible event and response
    /// (docs/aws-compatibility.md#payload-10-request-event, #response-parsing).
    V1,
    /// `"2.0"` (the default for HTTP APIs): docs/aws-compatibility.md#payload-20-request-event,
    /// #response-parsing.
    #[default]
    V2,
}

/// The per-route settings of a function integration (built by `portcullis-app`).
#[derive(Debug, Clone)]
pub struct FunctionIntegrationSettings {
    /// Event and response format.
    pub payload_format: PayloadFormat,
    /// The integration timeout (default 30 s, the HTTP API maximum): covers waiting for an
    /// instance, a cold start and the run. On expiry the answer is 503.
    pub timeout: Duration,
    /// Stage, API id, account, domain and stage variables for the event's `requestContext`.
    pub api: ApiIdentity,
}

impl Default for FunctionIntegrationSettings {
    fn default() -> Self {
        Self {
            payload_format: PayloadFormat::V2,
            timeout: Duration::from_secs(30),
            api: ApiIdentity::default(),
        }
    }
}

/// Why a function integration failed; the source of [`IntegrationError::Upstream`].
#[derive(Debug, thiserror::Error)]
pub enum FunctionCallError {
    /// The invocation failed (function error, crash, init failure, throttle, oversized output).
    #[error(transparent)]
    Invoke(InvokeError),
    /// The function's output is not a valid response for the payload format.
    #[error("malformed function response: {0}")]
    Response(#[from] events::ResponseError),
    /// The event could not be built.
    #[error(transparent)]
    Event(#[from] events::EventError),
}

/// Answers requests by invoking a Lambda function.
#[derive(Debug, Clone)]
pub struct FunctionIntegration {
    invoker: Invoker,
    settings: FunctionIntegrationSettings,
}

impl FunctionIntegration {
    /// An integration that invokes `invoker`'s function.
    pub fn new(invoker: Invoker, settings: FunctionIntegrationSettings) -> Self {
        Self { invoker, settings }
    }

    async fn handle(
        &self,
        req: Request<Body>,
        ctx: &CallContext,
    ) -> Result<Response<Body>, IntegrationError> {
        let (parts, body) = req.into_parts();
        // The whole body is needed for the event; Lambda's 6 MB sync limit applies
        // (docs/aws-compatibility.md#lambda-integration-failures).
        let body = collect_bounded(body, MAX_PAYLOAD_BYTES).await?;
        let s = &self.settings;
        let facts = events::RequestFacts::new(&parts, &body, ctx, &s.api);
        let event = match s.payload_format {
            PayloadFormat::V2 => events::request_v2(&facts),
            PayloadFormat::V1 => events::request_v1(&facts),
        }
        .map_err(|e| upstream(FunctionCallError::Event(e)))?;
        if event.len() > MAX_PAYLOAD_BYTES {
            // Base64 and the event's own fields can push a body under 6 MB over the limit.
            return Err(IntegrationError::BodyTooLarge);
        }
        let event = Bytes::from(event);
        if let Some(capture) = parts.extensions.get::<EventCapture>() {
            capture.keep(&event);
        }
        // The request's trace is the function's: its event's `x-amzn-trace-id` is the root of
        // its `_X_AMZN_TRACE_ID`.
        let invocation = self.invoker.invoke_traced(event, ctx.request_id.as_str(), &ctx.trace_id, None);
        let invoked = tokio::time::timeout(s.timeout, invocation)
            .await
            .map_err(|_| IntegrationError::Timeout(s.timeout))?;
        let output = match invoked {
            Ok(output) => output,
            // The function's own timeout is a function error (500); only the integration's
            // timeout above is 503.
            Err(InvokeError::Timeout(after)) => return Err(IntegrationError::FunctionTimeout(after)),
            Err(InvokeError::RequestTooLarge) => return Err(IntegrationError::BodyTooLarge),
            Err(error @ InvokeError::FunctionError { .. }) => {
                let failure = error
                    .failure()
                    .unwrap_or_else(|| portcullis_core::FunctionFailure::parse("Unhandled", b""));
                tracing::warn!(
                    function = self.invoker.name(),
                    request_id = %ctx.request_id,
                    error_type = %failure.error_type,
                    error_message = %failure.message,
                    stack_trace = %failure.stack_trace.join("\n"),
                    "the function failed: {failure}"
                );
                return Err(IntegrationError::FunctionFailed(failure));
            }
            Err(error) => {
                tracing::warn!(function = self.invoker.name(), request_id = %ctx.request_id, %error, "function invocation failed");
                return Err(upstream(FunctionCallError::Invoke(error)));
            }
        };
        let response = match s.payload_format {
            PayloadFormat::V2 => events::response_v2(&output),
            PayloadFormat::V1 => events::response_v1(&output),
        }
        .map_err(|e| {
            tracing::warn!(function = self.invoker.name(), request_id = %ctx.request_id, error = %e, "malformed function response");
            upstream(FunctionCallError::Response(e))
        })?;
        Ok(response.map(portcullis_core::full))
    }
}

/// Collect the whole request body, refusing more than `limit` bytes. Written as a frame loop
/// (rather than `Limited::collect`) so the future stays `Send` for the boxed trait object.
async fn collect_bounded(mut body: Body, limit: usize) -> Result<Bytes, IntegrationError> {
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>()
                || error.source().is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            {
                IntegrationError::BodyTooLarge
            } else {
                IntegrationError::ClientBody(error)
            }
        })?;
        if let Some(data) = frame.data_ref() {
            if collected.len() + data.len() > limit {
                return Err(IntegrationError::BodyTooLarge);
            }
            collected.extend_from_slice(data);
        }
    }
    Ok(collected.freeze())
}

fn upstream(error: FunctionCallError) -> IntegrationError {
    IntegrationError::Upstream(Box::new(error))
}

impl Integration for FunctionIntegration {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<Response<Body>, IntegrationError>> {
        Box::pin(self.handle(req, ctx))
    }

    fn is_lambda(&self) -> bool {
        true
    }

    fn describe(&self) -> Described {
        Described { kind: "function", target: self.invoker.name().to_owned() }
    }
}

#[cfg(test)]
mod tests;

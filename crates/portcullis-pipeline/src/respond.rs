//! The one table from "what went wrong" to "what the client sees".
//!
//! Every stage that refuses a request returns its own error type; each converts into a
//! [`Rejection`] here, and nothing else in the pipeline writes an error status or body. Bodies
//! are AWS's compact JSON (`{"message":"..."}`), byte for byte, and, as AWS sends them, without
//! a `content-type` (docs/aws-compatibility.md#standard-error-responses). The response half ([`response`]) answers a rejection and
//! adds `apigw-requestid` to every response, success or not.

use bytes::Bytes;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use portcullis_authz::{Denial, DenialStatus};
use portcullis_core::{Body, FunctionFailure, RequestId, full};
use portcullis_integration::IntegrationError;

use crate::access_log::AccessRecord;
use crate::limits::LimitError;
use crate::mapping::MappingError;
use crate::route::RouteError;
use crate::throttle::ThrottleError;

/// The request-id response header AWS HTTP APIs send, also sent upstream.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("apigw-requestid");

/// The respond stage's response half: the response to send (the integration's, or the
/// rejection's answer, recorded in `record`), with `apigw-requestid`.
pub fn response(
    result: Result<Response<Body>, Rejection>,
    request_id: RequestId,
    record: &mut AccessRecord,
    debug: bool,
) -> Response<Body> {
    let mut response = match result {
        Ok(response) => response,
        Err(rejection) => {
            record.error = Some(rejection.kind());
            record.error_message = Some(rejection.message());
            record.error_type = Some(rejection.response_type());
            if debug { rejection.into_debug_response() } else { rejection.into_response() }
        }
    };
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(&REQUEST_ID_HEADER, value);
    }
    record.status = response.status().as_u16();
    response
}

/// Why the gateway answered by itself instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No route matched (no 405 on HTTP APIs, docs/aws-compatibility.md#routes-and-route-selection).
    NotFound,
    /// The request path cannot be routed safely (bad percent-encoding, dot segments).
    BadRequest,
    /// Request line and headers over the configured limit (10,240 bytes by default,
    /// docs/aws-compatibility.md#limits).
    HeadersTooLarge,
    /// Body over `max_body` (docs/aws-compatibility.md#limits), or over 6 MB for a Lambda
    /// integration (docs/aws-compatibility.md#lambda-integration-failures).
    PayloadTooLarge,
    /// Missing or invalid credentials (JWT failures, missing identity source).
    Unauthorized {
        /// The `www-authenticate` challenge, when the authorizer produced one
        /// (docs/aws-compatibility.md#jwt-failure-responses).
        www_authenticate: Option<HeaderValue>,
    },
    /// Authenticated but not allowed (scopes, Deny policies, rules).
    Forbidden,
    /// Throttled (docs/aws-compatibility.md#throttling): over a limit until `retry_after` has
    /// passed (sent as `retry-after`, whole seconds rounded up).
    TooManyRequests {
        /// When a request would be allowed again.
        retry_after: Duration,
    },
    /// The integration or an authorizer failed
    /// (docs/aws-compatibility.md#lambda-integration-failures, #lambda-authorizer-status-codes).
    InternalServerError,
    /// The function's handler reported an error: AWS's 500, and with `debug_headers` what the
    /// handler reported, in the body.
    FunctionError(Box<FunctionFailure>),
    /// An authorizer could not decide (its function failed, its keys are unreachable): 500,
    /// AWS's `AUTHORIZER_FAILURE`.
    AuthorizerFailure,
    /// The integration did not answer within its timeout
    /// (docs/aws-compatibility.md#lambda-integration-failures: 503, not 504), or its upstream is at
    /// its connection cap with a full queue.
    ServiceUnavailable,
    /// A shared throttle could not reach its store and its policy is `on_unavailable: deny`
    /// (docs/config.md#shared_state-several-replicas): 503 with `retry-after: 1`, the store's next probe.
    ThrottleUnavailable,
}

impl Rejection {
    /// The status code of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::BadRequest => StatusCode::BAD_REQUEST,
            Rejection::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Rejection::Forbidden => StatusCode::FORBIDDEN,
            Rejection::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::InternalServerError | Rejection::FunctionError(_) | Rejection::AuthorizerFailure => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Rejection::ServiceUnavailable | Rejection::ThrottleUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The exact body AWS sends for this outcome.
    pub fn body(&self) -> &'static str {
        match self {
            Rejection::NotFound => r#"{"message":"Not Found"}"#,
            Rejection::BadRequest => r#"{"message":"Bad Request"}"#,
            Rejection::HeadersTooLarge => r#"{"message":"Request Header Fields Too Large"}"#,
            Rejection::PayloadTooLarge => r#"{"message":"Request Entity Too Large"}"#,
            Rejection::Unauthorized { .. } => r#"{"message":"Unauthorized"}"#,
            Rejection::Forbidden => r#"{"message":"Forbidden"}"#,
            Rejection::TooManyRequests { .. } => r#"{"message":"Too Many Requests"}"#,
            Rejection::InternalServerError | Rejection::FunctionError(_) | Rejection::AuthorizerFailure => {
                r#"{"message":"Internal Server Error"}"#
            }
            Rejection::ServiceUnavailable | Rejection::ThrottleUnavailable => {
                r#"{"message":"Service Unavailable"}"#
            }
        }
    }

    /// The message of the body (`$context.error.message`).
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::NotFound => "Not Found",
            Rejection::BadRequest => "Bad Request",
            Rejection::HeadersTooLarge => "Request Header Fields Too Large",
            Rejection::PayloadTooLarge => "Request Entity Too Large",
            Rejection::Unauthorized { .. } => "Unauthorized",
            Rejection::Forbidden => "Forbidden",
            Rejection::TooManyRequests { .. } => "Too Many Requests",
            Rejection::InternalServerError | Rejection::FunctionError(_) | Rejection::AuthorizerFailure => {
                "Internal Server Error"
            }
            Rejection::ServiceUnavailable | Rejection::ThrottleUnavailable => "Service Unavailable",
        }
    }

    /// AWS's gateway response type for this answer (`$context.error.responseType`).
    pub fn response_type(&self) -> &'static str {
        match self {
            Rejection::NotFound => "RESOURCE_NOT_FOUND",
            Rejection::BadRequest => "BAD_REQUEST_PARAMETERS",
            Rejection::HeadersTooLarge => "REQUEST_TOO_LARGE",
            Rejection::PayloadTooLarge => "REQUEST_TOO_LARGE",
            Rejection::Unauthorized { .. } => "UNAUTHORIZED",
            Rejection::Forbidden => "ACCESS_DENIED",
            Rejection::TooManyRequests { .. } => "THROTTLED",
            Rejection::InternalServerError | Rejection::FunctionError(_) => "INTEGRATION_FAILURE",
            Rejection::AuthorizerFailure => "AUTHORIZER_FAILURE",
            Rejection::ServiceUnavailable => "INTEGRATION_TIMEOUT",
            Rejection::ThrottleUnavailable => "THROTTLE_UNAVAILABLE",
        }
    }

    /// A short machine-readable name for logs and metrics (AWS's `error.responseType` spirit).
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::BadRequest => "bad_request",
            Rejection::HeadersTooLarge => "headers_too_large",
            Rejection::PayloadTooLarge => "payload_too_large",
            Rejection::Unauthorized { .. } => "unauthorized",
            Rejection::Forbidden => "forbidden",
            Rejection::TooManyRequests { .. } => "throttled",
            Rejection::InternalServerError => "internal_error",
            Rejection::FunctionError(_) => "function_error",
            Rejection::AuthorizerFailure => "authorizer_error",
            Rejection::ServiceUnavailable => "integration_timeout",
            Rejection::ThrottleUnavailable => "throttle_unavailable",
        }
    }

    /// The response to send with `debug_headers` on: a function's error carries what the handler
    /// reported (`errorType`, `errorMessage`, `stackTrace`) next to AWS's message; every other
    /// answer is the same as without.
    pub fn into_debug_response(self) -> Response<Body> {
        let Rejection::FunctionError(failure) = &self else { return self.into_response() };
        let body = serde_json::json!({
            "message": self.message(),
            "errorType": failure.error_type,
            "errorMessage": failure.message,
            "stackTrace": failure.stack_trace,
        })
        .to_string();
        let mut response = self.into_response();
        response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        *response.body_mut() = full(body);
        response
    }

    /// The response to send.
    pub fn into_response(self) -> Response<Body> {
        let body = self.body();
        let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        match self {
            Rejection::Unauthorized { www_authenticate: Some(challenge) } => {
                headers.insert(WWW_AUTHENTICATE, challenge);
            }
            Rejection::TooManyRequests { retry_after } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            Rejection::ThrottleUnavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<LimitError> for Rejection {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::HeadersTooLarge => Rejection::HeadersTooLarge,
            LimitError::PayloadTooLarge => Rejection::PayloadTooLarge,
            LimitError::Malformed => Rejection::BadRequest,
        }
    }
}

impl From<ThrottleError> for Rejection {
    fn from(error: ThrottleError) -> Self {
        match error {
            ThrottleError::Throttled(throttled) => {
                Rejection::TooManyRequests { retry_after: throttled.retry_after }
            }
            ThrottleError::Unavailable => Rejection::ThrottleUnavailable,
        }
    }
}

impl From<RouteError> for Rejection {
    fn from(error: RouteError) -> Self {
        match error {
            RouteError::NotFound => Rejection::NotFound,
            RouteError::BadPath(_) => Rejection::BadRequest,
        }
    }
}

impl From<MappingError> for Rejection {
    /// A mapped value that cannot be represented is the integration request failing to build:
    /// AWS's integration failure (500). A body that cannot be read is the client's fault.
    fn from(error: MappingError) -> Self {
        match error {
            MappingError::HeaderValue(_)
            | MappingError::Uri(_)
            | MappingError::StatusCode(_)
            | MappingError::ResponseBody => Rejection::InternalServerError,
            MappingError::Body => Rejection::BadRequest,
            MappingError::BodyTooLarge => Rejection::PayloadTooLarge,
        }
    }
}

impl From<IntegrationError> for Rejection {
    fn from(error: IntegrationError) -> Self {
        Rejection::from(&error)
    }
}

impl From<Denial> for Rejection {
    fn from(denial: Denial) -> Self {
        Rejection::from(&denial)
    }
}

impl From<&IntegrationError> for Rejection {
    /// Integration failures (docs/aws-compatibility.md#lambda-integration-failures,
    /// #standard-error-responses). Unreachable, reset and malformed upstreams are AWS's
    /// "integration failure" (500); only a timeout is 503. See docs/aws-compatibility.md#http-proxy-integration.
    fn from(error: &IntegrationError) -> Self {
        match error {
            IntegrationError::Timeout(_) | IntegrationError::Saturated => Rejection::ServiceUnavailable,
            IntegrationError::BodyTooLarge => Rejection::PayloadTooLarge,
            IntegrationError::ClientBody(_) => Rejection::BadRequest,
            IntegrationError::Connect(_)
            | IntegrationError::Upstream(_)
            | IntegrationError::FunctionTimeout(_) => Rejection::InternalServerError,
            IntegrationError::FunctionFailed(failure) => Rejection::FunctionError(Box::new(failure.clone())),
        }
    }
}

impl From<&Denial> for Rejection {
    fn from(denial: &Denial) -> Self {
        match denial.status {
            DenialStatus::Unauthorized => {
                Rejection::Unauthorized { www_authenticate: denial.www_authenticate.clone() }
            }
            DenialStatus::Forbidden => Rejection::Forbidden,
            DenialStatus::Error => Rejection::AuthorizerFailure,
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::CONTENT_TYPE;

    use super::*;

    #[test]
    fn bodies_are_awss_compact_json_with_matching_lengths() {
        // AWS's answers: 26-byte Unauthorized and 33-byte Service Unavailable bodies.
        assert_eq!(Rejection::Unauthorized { www_authenticate: None }.body().len(), 26);
        assert_eq!(Rejection::ServiceUnavailable.body().len(), 33);
        let all = [
            Rejection::NotFound,
            Rejection::BadRequest,
            Rejection::HeadersTooLarge,
            Rejection::PayloadTooLarge,
            Rejection::Unauthorized { www_authenticate: None },
            Rejection::Forbidden,
            Rejection::TooManyRequests { retry_after: Duration::from_millis(1) },
            Rejection::InternalServerError,
            Rejection::AuthorizerFailure,
            Rejection::ServiceUnavailable,
            Rejection::ThrottleUnavailable,
        ];
        for rejection in all {
            let parsed: serde_json::Value = serde_json::from_str(rejection.body()).unwrap();
            assert_eq!(parsed["message"], rejection.message(), "{rejection:?}");
            let response = rejection.clone().into_response();
            assert_eq!(response.status(), rejection.status());
            assert!(response.headers().get(CONTENT_TYPE).is_none(), "AWS sends no content-type");
            assert_eq!(response.headers()[CONTENT_LENGTH], rejection.body().len().to_string().as_str());
        }
    }

    #[test]
    fn a_throttled_answer_says_when_to_retry_in_whole_seconds() {
        let answer =
            |ms| Rejection::TooManyRequests { retry_after: Duration::from_millis(ms) }.into_response();
        assert_eq!(answer(1).headers()[RETRY_AFTER], "1");
        assert_eq!(answer(1000).headers()[RETRY_AFTER], "1");
        assert_eq!(answer(1001).headers()[RETRY_AFTER], "2");
        assert_eq!(answer(0).headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn a_function_error_is_awss_500_and_shows_the_handlers_report_only_in_debug() {
        let failure = FunctionFailure {
            error_type: "Error".into(),
            message: "kaboom".into(),
            stack_trace: vec!["at handler (index.mjs:2:9)".into()],
        };
        let rejection = Rejection::from(&IntegrationError::FunctionFailed(failure));
        let plain = rejection.clone().into_response();
        assert_eq!(plain.status(), 500);
        assert_eq!(plain.headers()[CONTENT_LENGTH], "35");
        let debug = rejection.into_debug_response();
        assert_eq!(debug.status(), 500);
        let length: usize = debug.headers()[CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
        assert!(length > 35);
    }

    #[test]
    fn integration_timeout_is_503_and_other_failures_are_500() {
        let timeout = IntegrationError::Timeout(std::time::Duration::from_secs(1));
        assert_eq!(Rejection::from(&timeout).status(), StatusCode::SERVICE_UNAVAILABLE);
        let refused = IntegrationError::Connect("refused".into());
        assert_eq!(Rejection::from(&refused).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Rejection::from(&IntegrationError::BodyTooLarge).status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}

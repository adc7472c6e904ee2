//! AWS Lambda payload shapes for HTTP API Lambda proxy integrations: the request events of
//! payload format 2.0 and 1.0 (docs/aws-compatibility.md#payload-20-request-event,
//! #payload-10-request-event) and the parsing of what a function returns
//! (docs/aws-compatibility.md#response-parsing).
//!
//! Where it sits: `portcullis-integration`'s function integration calls [`request_v2`] or
//! [`request_v1`] to build the event it hands to `portcullis-functions`, and [`response_v2`] or
//! [`response_v1`] to turn the function's output into an HTTP response. This crate is pure: no
//! I/O, no clock (the request's receive time comes in through [`RequestFacts`]), no processes.
//!
//! It deliberately does not use `aws_lambda_events` to *emit* events: that crate's serializer
//! writes fields AWS never sends (`httpMethod` on 2.0 contexts, `null` for absent maps) — see
//!. Payload 1.0 goes through serialize-only structs; the 2.0
//! events, built on every invocation, are written field by field (`json.rs`). Both follow the
//! spec field for field; the tests deserialize what we emit with `aws_lambda_events` as a
//! cross-check.
//!
//! ```
//! let output = br#"{"statusCode":201,"cookies":["a=1"],"body":"made"}"#;
//! let response = portcullis_events::response_v2(output).unwrap();
//! assert_eq!(response.status(), 201);
//! assert_eq!(response.headers()["set-cookie"], "a=1");
//! assert_eq!(&response.body()[..], b"made");
//! ```

mod authorizer;
mod claims;
mod clf;
mod json;
mod request;
mod response;
mod values;

pub use authorizer::{request_authorizer_v1, request_authorizer_v2, token_event};
pub use claims::claim_string;
pub use clf::clf_time;
pub use request::{
    EventError, RequestFacts, cookies, form_decode, header_value, joined_query, query_value, request_v1,
    request_v2, without_port,
};
pub use response::{ResponseError, response_v1, response_v2};
pub use values::{cookie, json_text, request_value, stage_relative};

/// The Lambda synchronous invocation payload limit, 6 MB
/// (docs/aws-compatibility.md#lambda-integration-failures): a request event or a function response
/// larger than this is refused.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

//! Only what the request-pipeline stages share, and nothing else.
//!
//! Where it sits: every runtime crate (pipeline, authz, integration, functions) and the config
//! loader depend on this crate; it depends only on `portcullis-route` (for the matched path
//! parameters). It holds the vocabulary the stages share and almost no behaviour: the body type
//! handed between stages ([`Body`]), the request id AWS calls `apigw-requestid`
//! ([`RequestId`]) and the X-Ray trace AWS calls `x-amzn-trace-id` ([`TraceId`]), the facts about one request that every stage may read ([`CallContext`]),
//! what an authorizer proved about the caller ([`AuthContext`]), the variables and templates
//! AWS writes as `$request.header.x` or `${context.requestId}` ([`Variable`], [`Template`]),
//! typed parameter-mapping entries ([`MappingEntry`]), what a failed handler reported
//! ([`FunctionFailure`]), and the walk of an error's causes ([`is_caused_by`]).

mod api;
mod auth;
mod body;
mod capture;
mod context;
pub mod context_variable;
mod error;
mod expr;
mod function_failure;
mod mapping;
mod request_id;
mod request_thread;
mod stripe;
mod suggest;
mod time;
mod trace_id;

use std::future::Future;
use std::pin::Pin;

pub use api::{ApiIdentity, strip_stage};
pub use auth::{AuthContext, JwtContext, LambdaContext};
pub use body::{Body, BoxError, empty, full};
pub use capture::EventCapture;
pub use context::CallContext;
pub use context_variable::{ContextVariable, Known};
pub use error::{ErrorChain, is_caused_by};
pub use expr::{JsonPath, JsonStep, Part, Template, Variable};
pub use function_failure::FunctionFailure;
pub use mapping::{MappingAction, MappingEntry, MappingTarget};
pub use request_thread::{enter_request_thread, on_request_thread};
pub use stripe::thread_stripe;

/// A boxed, sendable future: what the object-safe traits of the stages (authorizers,
/// integrations, functions) return. One allocation per call; these calls are I/O bound.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// Path parameters captured by route matching (re-exported so stages need not name the route crate).
pub use portcullis_route::{Param, Params};
pub use request_id::{RequestId, RequestIdGenerator};
pub use suggest::{closest, distance};
pub use time::UtcTime;
pub use trace_id::TraceId;

//! Only what the request-pipeline stages share, and nothing else.
//!
//! Where it sits: every runtime crate (pipeline, authz, integration, functions) depends on this
//! crate; it depends only on `portcullis-route` (for the matched path parameters). It holds no
//! behaviour beyond constructors: the body type handed between stages ([`Body`]), the request id
//! AWS calls `apigw-requestid` ([`RequestId`]), the facts about one request that every stage may
//! read ([`CallContext`]) and what an authorizer proved about the caller ([`AuthContext`]).

mod api;
mod auth;
mod body;
mod context;
mod context_variable;
mod request_id;
mod time;

pub use api::ApiIdentity;
pub use auth::{AuthContext, JwtContext, LambdaContext};
pub use body::{Body, BoxError, empty, full};
pub use context::CallContext;
pub use context_variable::ContextVariable;
/// Path parameters captured by route matching (re-exported so stages need not name the route crate).
pub use portcullis_route::{Param, Params};
pub use request_id::{RequestId, RequestIdGenerator};
pub use time::UtcTime;

//! The request pipeline, one module per stage, in request order:
//!
//! | stage | module | request half | response half | error |
//! |---|---|---|---|---|
//! | listener | [`listener`] | accept, HTTP/1.1 + HTTP/2, TLS, slow/idle/greedy clients, drain | | closes the connection |
//! | limits | [`limits`] | head size, `Host` | | [`limits::LimitError`] |
//! | route | [`route`] | stage prefix, AWS route selection on the current [`plan::Snapshot`] | | [`route::RouteError`] |
//! | cors | [`cors`] | preflights answered before any authorizer | CORS headers on every response | |
//! | throttle | [`throttle`] | API, route and keyed token buckets | | [`throttle::Throttled`] |
//! | authorize | [`authorize`] | the route's authorizer and rules; fail closed | deny reason header | [`portcullis_authz::Denial`] |
//! | mapping | [`mapping`] | request parameter mapping | response parameter mapping | [`mapping::MappingError`] |
//! | integrate | [`integrate`] | call the integration, time it | | [`portcullis_integration::IntegrationError`] |
//! | respond | [`respond`] | | the one table from errors to answers; `apigw-requestid` | |
//! | access log | [`access_log`] | | one line per request at end of response | lines dropped (counted) |
//!
//! [`stack`] is the only place the order is written down; [`explain`] runs the route and
//! authorize stages of the same code on one request with a recording trace. Where it sits:
//! below `portcullis-app` (which compiles config into a [`plan::Snapshot`] and owns the swap),
//! above the stage crates (`portcullis-route`, `portcullis-authz`, `portcullis-integration`).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod access_log;
pub mod authorize;
pub mod cors;
pub mod explain;
pub mod integrate;
pub mod limits;
pub mod listener;
pub mod mapping;
pub mod metrics;
pub mod plan;
pub mod respond;
pub mod route;
pub mod stack;
pub mod throttle;

pub use access_log::{
    AccessLogFormat, AccessLogOutput, AccessLogSink, AccessLogWriter, AccessRecord, NoAccessLog, Observing,
    RequestDetail, Wants,
};
pub use cors::{CorsPolicy, CorsSettings, PreflightMode};
pub use explain::{Explained, explain};
pub use listener::{
    ConnMeta, ConnectionLimits, Handler, ListenerSettings, RequestThreads, serve, serve_on_request_threads,
    until_stopped,
};
pub use mapping::{MappingError, RequestMapping, ResponseMapping};
pub use metrics::Metrics;
pub use plan::{Access, RequestLimits, RouteAuthorizer, RouteExtras, RoutePlan, Snapshot};
pub use respond::{REQUEST_ID_HEADER, Rejection};
pub use stack::Gateway;
pub use throttle::{Limit, LimitSettings, PerSecond, RouteThrottle, SharedLimit, ThrottleError};

//! The request pipeline, one module per stage, in request order:
//!
//! | stage | module | job |
//! |---|---|---|
//! | listener | [`listener`] | accept, HTTP/1.1 + HTTP/2, TLS, slow/idle clients, graceful drain |
//! | limits | [`limits`] | 431 / 413 on the request head (spec §7.2) |
//! | route | [`route`] | AWS route selection (spec §1.3) on the current [`plan::Snapshot`] |
//! | authorize | [`authorize`] | run the route's authorizer; fail closed |
//! | mapping | [`mapping`] | request parameter mapping (spec §5.2): headers, query, path |
//! | integrate | [`integrate`] | call the integration, time it |
//! | respond | [`respond`] | the single table from rejection to HTTP answer (spec §7.3) |
//! | access log | [`access_log`] | one structured line per request at end of response |
//!
//! [`stack`] is the only place the order is written down. Where it sits: below `portcullis-app`
//! (which compiles config into a [`plan::Snapshot`] and owns the swap), above the stage crates
//! (`portcullis-route`, `portcullis-authz`, `portcullis-integration`).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod access_log;
pub mod authorize;
pub mod integrate;
pub mod limits;
pub mod listener;
pub mod mapping;
pub mod metrics;
pub mod plan;
pub mod respond;
pub mod route;
pub mod stack;

pub use access_log::{AccessLogFormat, AccessLogSink, AccessRecord, JsonLinesSink, NoAccessLog};
pub use listener::{ConnectionLimits, Handler, ListenerSettings, serve, until_stopped};
pub use mapping::{MappingError, RequestMapping};
pub use metrics::Metrics;
pub use plan::{Access, RequestLimits, RouteAuthorizer, RoutePlan, Snapshot};
pub use respond::Rejection;
pub use stack::{ConnMeta, Gateway, REQUEST_ID_HEADER};

//! The compiled, immutable form of a configuration that the request path reads.
//!
//! A [`Snapshot`] is built once per (re)load by `portcullis-app` and swapped in atomically; a
//! request loads it once at the route stage and keeps that `Arc` to the end, so a reload never
//! changes the rules under an in-flight request. Nothing here is stringly typed: route keys are
//! already parsed into the table, authorizers and integrations are ready-to-call objects.

use std::sync::Arc;

use portcullis_authz::{Authorizer, RouteAuth};
use portcullis_core::ApiIdentity;
use portcullis_integration::Integration;
use portcullis_route::RouteTable;
use portcullis_rules::RuleSet;

use crate::cors::{CorsPolicy, PreflightMode};
use crate::mapping::{RequestMapping, ResponseMapping};
use crate::throttle::{Limit, RouteThrottle};

/// Everything the request path needs, compiled from one configuration.
pub struct Snapshot {
    /// Route key -> plan, with AWS priority rules.
    pub routes: RouteTable<Arc<RoutePlan>>,
    /// Per-request size limits.
    pub limits: RequestLimits,
    /// `debug_headers: true`: denials carry their reason code in `x-portcullis-deny-reason`.
    pub debug_headers: bool,
    /// The API and its stage: a named stage serves every route under `/{stage}`.
    pub api: ApiIdentity,
    /// The API's CORS policy (`cors:` at the top level), for routes without their own.
    pub cors: Option<Arc<CorsPolicy>>,
    /// Whether any policy is configured (the API's or a route's): without one, preflights are
    /// routed like any request and responses get no CORS headers.
    pub has_cors: bool,
    /// Which routes take a preflight themselves.
    pub preflight_mode: PreflightMode,
    /// The API-wide limit (`throttle:` at the top level).
    pub throttle: Option<Arc<Limit>>,
}

/// Size limits checked before any other stage (docs/aws-compatibility.md#limits,
/// #request-processing-order step 1).
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest accepted request body in bytes (`max_body`, default 10 MiB).
    pub max_body: u64,
    /// Largest accepted request line plus headers in bytes (default 10,240).
    pub max_header_bytes: usize,
}

/// What to do with a request that matched one route.
pub struct RoutePlan {
    /// The route key as configured (`GET /pets/{id}`), shared into every request's context.
    pub key: Arc<str>,
    /// Who may call it.
    pub access: Access,
    /// The route's own `rules:` (CEL), checked after the authorizer's (extension).
    pub rules: Option<Arc<RuleSet>>,
    /// What only some routes have (mappings, CORS, limits); `None` for a plain route.
    pub extras: Option<Box<RouteExtras>>,
    /// Where it goes.
    pub integration: Arc<dyn Integration>,
}

/// The parts of a route that most routes do not have, boxed together so a plain route's plan
/// stays small.
#[derive(Default)]
pub struct RouteExtras {
    /// Request parameter mapping (docs/aws-compatibility.md#request-parameter-mapping), applied
    /// between authorize and integrate.
    pub mapping: Option<RequestMapping>,
    /// Response parameter mapping (docs/aws-compatibility.md#response-parameter-mapping), applied
    /// to the integration's response.
    pub response_mapping: Option<ResponseMapping>,
    /// The route's own CORS policy, replacing the API's.
    pub cors: Option<Arc<CorsPolicy>>,
    /// The route's limits.
    pub throttle: Option<RouteThrottle>,
}

impl RoutePlan {
    /// The route's extras, when it has them.
    pub fn extras(&self) -> Option<&RouteExtras> {
        self.extras.as_deref()
    }

    /// The route's request mapping.
    pub fn mapping(&self) -> Option<&RequestMapping> {
        self.extras().and_then(|e| e.mapping.as_ref())
    }

    /// The route's response mapping.
    pub fn response_mapping(&self) -> Option<&ResponseMapping> {
        self.extras().and_then(|e| e.response_mapping.as_ref())
    }

    /// The route's limits.
    pub fn throttle(&self) -> Option<&RouteThrottle> {
        self.extras().and_then(|e| e.throttle.as_ref())
    }
}

/// The authorization requirement of a route.
///
/// The authorizer's part is boxed, like the extras above: a plan is kept per route for the life
/// of the config, and a config of 10,000 routes is mostly public routes or rarely mapped ones.
/// `RoutePlan` is 56 bytes instead of 120 (ARCHITECTURE.md#performance-choices).
pub enum Access {
    /// `authorizer: none` (or no authorizer configured at all).
    Public,
    /// Run this authorizer with these route-level requirements.
    Authorizer(Box<RouteAuthorizer>),
}

/// A route's authorizer and what the route asks of it.
pub struct RouteAuthorizer {
    /// The authorizer's name in config, for logs.
    pub name: Arc<str>,
    /// The authorizer itself (shared by every route that uses it).
    pub authorizer: Arc<dyn Authorizer>,
    /// Route-level requirements (scopes).
    pub route: RouteAuth,
    /// The authorizer's `rules:` (CEL), checked once it allowed the request.
    pub rules: Option<Arc<RuleSet>>,
}

#[cfg(test)]
mod size {
    /// Pins the size the `Access` docs promise: every configured route keeps one plan.
    #[test]
    fn a_route_plan_stays_small() {
        assert_eq!(std::mem::size_of::<super::RoutePlan>(), 56);
    }
}

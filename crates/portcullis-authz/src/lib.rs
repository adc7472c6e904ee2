//! Authorizers: decide whether a matched request may reach its integration, and say why not.
//!
//! Where it sits: the pipeline's authorize stage knows only [`Authorizer`] (an
//! `Arc<dyn Authorizer>` per route plus the route's compiled [`RouteAuth`]); `portcullis-app`
//! builds the concrete kinds from typed settings. Kinds: [`JwtAuthorizer`] (`jwt`), the Lambda
//! authorizer (`lambda`, invoking a function through `portcullis-functions`), and the IAM
//! policies Lambda authorizers return (`policy`). It never fetches keys itself (that is
//! `portcullis-jwks`) and never writes HTTP responses: a [`Denial`] carries the status class, a
//! [`Reason`] code and the `www-authenticate` value, and the pipeline's rescue table turns it
//! into AWS's bodies. Every check can be recorded in a [`Trace`], which is how
//! `portcullis explain` shows a decision: by running the real one.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod denial;
mod identity;
pub mod jwt;
pub mod lambda;
pub mod policy;
pub mod revocation;
mod stats;
mod trace;

use std::sync::Arc;

pub use portcullis_core::BoxFuture;
use portcullis_core::{AuthContext, CallContext};

pub use denial::{Denial, DenialStatus, Reason};
pub use identity::authorization;
pub use jwt::{JwtAuthorizer, JwtSettings, JwtStats, SettingsError};
pub use portcullis_jwks::Algorithm;
pub use revocation::{Revocation, RevocationList, Revoked};
pub use stats::{CacheStats, DenialCounts};
pub use trace::{Sibling, Step, Trace};

/// The authorizer seam: the pipeline calls this for every request on a protected route.
///
/// `Any` lets an operator's view (the admin console, `/metrics`, `explain`) reach a kind's own
/// figures and settings by downcasting; the request path never does.
pub trait Authorizer: std::any::Any + Send + Sync + 'static {
    /// Decides on one request. On success it may rewrite `parts` (for the JWT kind: remove
    /// client-sent copies of the `forward_claims` headers, then insert the claim headers) and
    /// returns what later stages need (claims for Lambda events and parameter mapping). Each
    /// check is recorded in `trace` when it is recording (`portcullis explain`).
    ///
    /// # Errors
    /// A [`Denial`]: the request must not reach the integration.
    fn authorize<'a>(
        &'a self,
        parts: &'a mut http::request::Parts,
        ctx: &'a CallContext,
        route: &'a RouteAuth,
        trace: &'a mut Trace,
    ) -> BoxFuture<'a, Result<AuthContext, Denial>>;
}

/// What one route asks of its authorizer, compiled at config load.
#[derive(Debug, Clone, Default)]
pub struct RouteAuth {
    /// `AuthorizationScopes`: the token must carry at least one
    /// (docs/aws-compatibility.md#claim-and-scope-checks). Empty: no check.
    pub scopes: Arc<[String]>,
}

impl RouteAuth {
    /// A route requiring any one of `scopes`.
    pub fn with_scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self { scopes: scopes.into_iter().map(Into::into).collect() }
    }
}

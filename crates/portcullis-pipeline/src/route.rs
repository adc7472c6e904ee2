//! Route stage: pick the route for a request with AWS's priority rules (spec §1.3).

use std::sync::Arc;

use http::Method;
use portcullis_core::Params;

use crate::plan::{RoutePlan, Snapshot};
use crate::respond::Rejection;

/// The matched plan and captured parameters, or 404 (no route) / 400 (a path we refuse to
/// route: bad percent-encoding or dot segments; see docs/decisions.md).
pub fn select(
    snapshot: &Snapshot,
    method: &Method,
    path: &str,
) -> Result<(Arc<RoutePlan>, Params), Rejection> {
    match snapshot.routes.find(method, path) {
        Ok(Some(matched)) => Ok((Arc::clone(matched.value), matched.params)),
        Ok(None) => Err(Rejection::NotFound),
        Err(error) => {
            tracing::debug!(%error, "refused request path");
            Err(Rejection::BadRequest)
        }
    }
}

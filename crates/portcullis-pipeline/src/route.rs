//! Route stage: pick the route for a request with AWS's priority rules (literal beats `{var}`
//! beats `{proxy+}` beats `$default`; a method beats `ANY`). Under a named stage, only paths
//! under `/{stage}` are served, and routes match the path without that prefix
//! (docs/aws-compatibility.md#stages-and-stage-variables); the request keeps its path as sent.

use std::sync::Arc;

use http::Method;
use portcullis_core::Params;
use portcullis_route::PathError;

use crate::plan::{RoutePlan, Snapshot};

/// Why no route serves the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No route matches (HTTP APIs answer 404, never 405).
    #[error("no route matches")]
    NotFound,
    /// The path cannot be routed safely (bad percent-encoding, dot segments): 400.
    #[error("the request path is refused: {0}")]
    BadPath(PathError),
}

/// The route stage's request half: the matched plan and the captured path parameters, for
/// `path` as the client sent it.
///
/// # Errors
/// [`RouteError`]: the request ends here, before any authorizer.
pub fn request(
    snapshot: &Snapshot,
    method: &Method,
    path: &str,
) -> Result<(Arc<RoutePlan>, Params), RouteError> {
    // Not under the stage: AWS's 404, as for a stage that does not exist.
    let path = snapshot.api.strip_stage(path).ok_or(RouteError::NotFound)?;
    match snapshot.routes.find(method, path) {
        Ok(Some(matched)) => Ok((Arc::clone(matched.value), matched.params)),
        Ok(None) => Err(RouteError::NotFound),
        Err(error) => {
            tracing::debug!(%error, "refused request path");
            Err(RouteError::BadPath(error))
        }
    }
}

//! Route stage: pick the route for a request with AWS's priority rules (literal beats `{var}`
//! beats `{proxy+}` beats `$default`; a method beats `ANY`). Under a named stage, only paths
//! under `/{stage}` are served, and routes match the path without that prefix
//! (docs/aws-compatibility.md#stages-and-stage-variables); the request keeps its path as sent.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Method, Response, StatusCode};
use portcullis_core::{Body, Params, full};
use portcullis_route::PathError;

use crate::access_log::AccessRecord;
use crate::plan::{RoutePlan, Snapshot};

/// How many route keys a development 404 names.
const NEAREST: usize = 3;

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
    // API Gateway decodes a path twice before handing it on and answers 400 when the second
    // decoding fails (`percent%25done`; docs/aws-compatibility.md#routes-and-route-selection):
    // refused here, before routing, like the paths the router cannot decode once. Only an
    // encoded `%` can make the second decoding fail, so other paths skip the check.
    if path.contains("%25")
        && let Err(error) = portcullis_route::integration_path(path)
    {
        tracing::debug!(%error, "refused request path");
        return Err(RouteError::BadPath(error));
    }
    match snapshot.routes.find(method, path) {
        Ok(Some(matched)) => Ok((Arc::clone(matched.value), matched.params)),
        Ok(None) => Err(RouteError::NotFound),
        Err(error) => {
            tracing::debug!(%error, "refused request path");
            Err(RouteError::BadPath(error))
        }
    }
}

/// The route stage's response half: with `debug_headers` (and so under `serve --dev`), a 404
/// names the route keys nearest to the request, `{"message":"Not Found","nearestRoutes":[...]}`.
pub fn response(response: &mut Response<Body>, snapshot: &Snapshot, record: &AccessRecord) {
    if !snapshot.debug_headers || response.status() != StatusCode::NOT_FOUND || record.route_key.is_some() {
        return;
    }
    let path = snapshot.api.strip_stage(record.uri.path()).unwrap_or(record.uri.path());
    let nearest = nearest(snapshot, &record.method, path);
    let body = serde_json::json!({"message": "Not Found", "nearestRoutes": nearest}).to_string();
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *response.body_mut() = full(Bytes::from(body));
}

/// The route keys closest to `method path`: a `{var}` counts as whatever the request has at
/// its place, `ANY` as the request's method; by edit distance, at most [`NEAREST`].
fn nearest(snapshot: &Snapshot, method: &Method, path: &str) -> Vec<String> {
    let wanted = format!("{method} {path}");
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut scored: Vec<(usize, usize, String)> = snapshot
        .routes
        .routes()
        .enumerate()
        .filter_map(|(priority, (key, _))| {
            let key = key.to_string();
            let (route_method, route_path) = key.split_once(' ')?;
            let method_text = if route_method == "ANY" { method.as_str() } else { route_method };
            let mut concrete = String::new();
            for (i, segment) in route_path.split('/').skip(1).enumerate() {
                concrete.push('/');
                if segment.ends_with("+}") {
                    concrete.push_str(&segments.get(i..).map(|rest| rest.join("/")).unwrap_or_default());
                    break;
                }
                match (segment.starts_with('{'), segments.get(i)) {
                    (true, Some(actual)) => concrete.push_str(actual),
                    _ => concrete.push_str(segment),
                }
            }
            let score = portcullis_core::distance(&wanted, &format!("{method_text} {concrete}"));
            Some((score, priority, key))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(NEAREST).map(|(_, _, key)| key).collect()
}

#[cfg(test)]
mod tests {
    use portcullis_route::RouteTableBuilder;

    use super::*;
    use crate::plan::RequestLimits;

    #[test]
    fn an_encoded_percent_that_starts_no_escape_is_refused_before_routing() {
        let snapshot = Snapshot {
            routes: RouteTableBuilder::new().build(),
            limits: RequestLimits { max_body: 1024, max_header_bytes: 1024 },
            debug_headers: false,
            api: Default::default(),
            cors: None,
            has_cors: false,
            preflight_mode: Default::default(),
            throttle: None,
        };
        let refused = request(&snapshot, &Method::GET, "/capture/percent%25done").map(|_| ());
        assert_eq!(refused, Err(RouteError::BadPath(PathError::BadEncodedPercent)));
        // Decodable twice (`%2525` is `%`), or cut off at a decoded `?` first: routed (a miss).
        for path in ["/capture/literal%2525value", "/cut%3F%25zz"] {
            assert_eq!(
                request(&snapshot, &Method::GET, path).map(|_| ()),
                Err(RouteError::NotFound),
                "{path}"
            );
        }
    }
}

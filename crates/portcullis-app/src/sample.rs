//! `portcullis event`: the event the gateway would send for a request, built by the same code
//! that builds it when serving (as `sam local generate-event` does, but exact): the route and
//! its path parameters from the config's route table, the stage, the stage variables, and for a
//! JWT-protected route the token's claims (read, not verified: this is a sample).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method, Request};
use portcullis_config::{Config, PayloadFormatVersion};
use portcullis_core::{AuthContext, CallContext, JwtContext, Params, RequestIdGenerator};
use portcullis_events::RequestFacts;

use crate::compile::{self, SampleAuthorizer, SampleRouteError};

/// Which event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The Lambda integration's payload 2.0 event.
    Http2,
    /// The Lambda integration's payload 1.0 event.
    Http1,
    /// A REQUEST Lambda authorizer's event (the payload version of the route's authorizer, else
    /// 2.0).
    AuthorizerRequest,
    /// A TOKEN Lambda authorizer's event.
    AuthorizerToken,
}

/// The request to build the event for.
#[derive(Debug, Clone, Default)]
pub struct SampleRequest {
    /// Method (default `GET`).
    pub method: Option<Method>,
    /// Path with an optional query string, as a client sends it (under the stage prefix for a
    /// named stage; added when missing).
    pub path: String,
    /// Extra headers, `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: Option<String>,
    /// A bearer token (sent as `Authorization: Bearer TOKEN`).
    pub token: Option<String>,
}

/// Why no event could be built.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The request is not one a client could send.
    #[error("{0}")]
    Request(String),
    /// No route of the config takes the request.
    #[error("no route matches {method} {path}; routes: {routes}")]
    NoRoute {
        /// The method.
        method: Method,
        /// The path.
        path: String,
        /// The config's route keys.
        routes: String,
    },
    /// The event could not be encoded.
    #[error(transparent)]
    Event(#[from] portcullis_events::EventError),
}

/// The event of `kind` for `request` on `config`, as pretty JSON.
///
/// # Errors
/// [`SampleError`].
pub fn event(config: &Config, kind: EventKind, request: &SampleRequest) -> Result<String, SampleError> {
    let api = compile::api_identity(config);
    let method = request.method.clone().unwrap_or(Method::GET);
    let path =
        if request.path.starts_with('/') { request.path.clone() } else { format!("/{}", request.path) };
    let path = api.under_stage(path);
    let mut builder =
        Request::builder().method(method.clone()).uri(&path).header("host", compile::sample_host(config));
    builder = builder.header("user-agent", concat!("portcullis/", env!("CARGO_PKG_VERSION")));
    if let Some(token) = &request.token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| SampleError::Request(format!("header {name:?}: {e}")))?;
        let value =
            HeaderValue::from_str(value).map_err(|e| SampleError::Request(format!("header {name}: {e}")))?;
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.header("content-length", body.len());
    }
    let (parts, ()) = builder.body(()).map_err(|e| SampleError::Request(e.to_string()))?.into_parts();

    // The route, from the config's table (the same selection rules as serving).
    let route_path = api.strip_stage(parts.uri.path()).unwrap_or("/");
    let route = match compile::sample_route(config, &method, route_path) {
        Ok(route) => route,
        Err(SampleRouteError::NoRoute { routes }) => {
            return Err(SampleError::NoRoute { method, path, routes: routes.join(", ") });
        }
        Err(error @ SampleRouteError::Path(_)) => return Err(SampleError::Request(error.to_string())),
    };
    let params: Params = route.params;

    let auth = match (&route.authorizer, &request.token) {
        (SampleAuthorizer::Jwt, Some(token)) => {
            let claims =
                claims_of(token).ok_or_else(|| SampleError::Request("the token is not a JWT".into()))?;
            let scopes = (!route.scopes.is_empty()).then(|| {
                let text = claims.get("scope").or_else(|| claims.get("scp"));
                let scopes: Vec<String> = match text {
                    Some(serde_json::Value::String(s)) => s.split(' ').map(str::to_owned).collect(),
                    Some(serde_json::Value::Array(items)) => {
                        items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()
                    }
                    _ => Vec::new(),
                };
                Arc::from(scopes)
            });
            AuthContext::Jwt(JwtContext { claims: Arc::new(claims), scopes })
        }
        _ => AuthContext::None,
    };
    let request_id = RequestIdGenerator::new(u64::from(std::process::id())).next_id();
    let received_at = SystemTime::now();
    let ctx = CallContext {
        request_id,
        trace_id: portcullis_core::TraceId::for_request(&parts.headers, request_id, received_at),
        client_addr: SocketAddr::from(([127, 0, 0, 1], 50000)),
        tls: false,
        // No connection: a plain-HTTP client on the default port, as `explain` assumes.
        local_port: 80,
        route_key: Arc::from(route.key.to_string()),
        params,
        received_at,
        auth: if matches!(kind, EventKind::Http1 | EventKind::Http2) { auth } else { AuthContext::None },
    };
    let body = request.body.as_deref().unwrap_or("").as_bytes();
    let facts = RequestFacts::new(&parts, body, &ctx, &api);
    let arn = portcullis_authz::policy::method_arn(&api, method.as_str(), route_path);
    let bytes = match kind {
        EventKind::Http2 => portcullis_events::request_v2(&facts)?,
        EventKind::Http1 => portcullis_events::request_v1(&facts)?,
        EventKind::AuthorizerRequest => {
            let (version, sources) = match &route.authorizer {
                SampleAuthorizer::Lambda { payload_format_version, identity_source } => {
                    (payload_format_version.unwrap_or(PayloadFormatVersion::V2), identity_source.clone())
                }
                _ => (PayloadFormatVersion::V2, Vec::new()),
            };
            let identity: Vec<String> = sources
                .iter()
                .filter_map(|v| portcullis_events::request_value(v, &facts).map(|c| c.into_owned()))
                .collect();
            match version {
                PayloadFormatVersion::V1 => {
                    portcullis_events::request_authorizer_v1(&facts, &arn, &identity)?
                }
                PayloadFormatVersion::V2 => {
                    portcullis_events::request_authorizer_v2(&facts, &arn, &identity)?
                }
            }
        }
        EventKind::AuthorizerToken => {
            let token = request.token.as_deref().map(|t| format!("Bearer {t}")).unwrap_or_default();
            portcullis_events::token_event(&token, &arn)?
        }
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(portcullis_events::EventError::from)?;
    Ok(serde_json::to_string_pretty(&value).map_err(portcullis_events::EventError::from)?)
}

/// The claims of a JWT, read without verifying it.
fn claims_of(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        portcullis_config::from_str(
            "stage: dev\nstage_variables: {env: test}\nfunctions:\n  authz: {runtime: nodejs, handler: a.handler}\n\
             authorizers:\n  keys: {type: lambda, function: authz, event: request, payload_format_version: \"1.0\", identity_source: [$request.header.x-key]}\n\
             routes:\n  POST /pets/{id}: {respond: {body: x}, authorizer: keys}\n",
            "t.yaml",
        )
        .unwrap()
    }

    #[test]
    fn the_event_has_the_route_its_parameters_and_the_stage() {
        let request = SampleRequest {
            method: Some(Method::POST),
            path: "/pets/7?q=1".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some("{}".into()),
            ..Default::default()
        };
        let event: serde_json::Value =
            serde_json::from_str(&event(&config(), EventKind::Http2, &request).unwrap()).unwrap();
        assert_eq!(event["routeKey"], "POST /pets/{id}");
        assert_eq!(event["rawPath"], "/dev/pets/7");
        assert_eq!(event["pathParameters"]["id"], "7");
        assert_eq!(event["queryStringParameters"]["q"], "1");
        assert_eq!(event["requestContext"]["stage"], "dev");
        assert_eq!(event["stageVariables"]["env"], "test");
        assert_eq!(event["body"], "{}");
    }

    #[test]
    fn an_authorizer_event_follows_the_routes_authorizer() {
        let request = SampleRequest {
            method: Some(Method::POST),
            path: "/pets/7".into(),
            headers: vec![("x-key".into(), "k1".into())],
            ..Default::default()
        };
        let event: serde_json::Value =
            serde_json::from_str(&event(&config(), EventKind::AuthorizerRequest, &request).unwrap()).unwrap();
        assert_eq!(event["version"], "1.0");
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(
            event["methodArn"],
            "arn:aws:execute-api:us-east-1:123456789012:portcullis/dev/POST/pets/7"
        );
        assert_eq!(event["identitySource"], "k1");
        let missing = event_error(SampleRequest { path: "/nope".into(), ..Default::default() });
        assert!(missing.contains("no route matches GET /dev/nope; routes: POST /pets/{id}"), "{missing}");
    }

    fn event_error(request: SampleRequest) -> String {
        event(&config(), EventKind::Http2, &request).unwrap_err().to_string()
    }
}

//! The admin listener: health and readiness, metrics, revocations, the development issuer's
//! OIDC documents, and the console (`/ui`, `/api/*`, see [`crate::console`]). Never exposed on
//! the main listener, so a route can never shadow it and it needs no authorizer.
//!
//! With `admin.token_file` / `admin.token_env`, everything but `/healthz`, `/readyz` and the
//! console's static files (which hold no data) needs `Authorization: Bearer <token>`. Every
//! answer carries the console's Content-Security-Policy and related headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use portcullis_core::Body;
use portcullis_pipeline::{AccessLogWriter, ConnMeta, Metrics};
use portcullis_shared::Delivery;

use crate::console::{AdminToken, Console};
use crate::registry::Registry;

/// State the admin endpoints report.
pub(crate) struct AdminState {
    /// Set once the main listener is serving; cleared when draining starts.
    pub(crate) ready: AtomicBool,
    /// For the development issuer's documents.
    registry: Arc<Registry>,
    /// Request counters of the main listener.
    metrics: Arc<Metrics>,
    /// The console and its API.
    console: Console,
    /// The bearer token every endpoint but health and readiness needs, when configured.
    token: Option<AdminToken>,
    /// The access log's writer, for the lines it had to drop.
    access_log: Option<Arc<AccessLogWriter>>,
}

impl AdminState {
    pub(crate) fn new(
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        console: Console,
        token: Option<AdminToken>,
        access_log: Option<Arc<AccessLogWriter>>,
    ) -> Self {
        AdminState { ready: AtomicBool::new(false), registry, metrics, console, token, access_log }
    }

    async fn route(&self, request: Request<Incoming>) -> Response<Body> {
        let boxed = |response: Response<Full<Bytes>>| {
            response.map(|body| body.map_err(|never| match never {}).boxed())
        };
        let path = request.uri().path();
        if request.method() == Method::GET && matches!(path, "/healthz" | "/readyz") {
            return boxed(answer(&request, self));
        }
        if let Some(asset) = Console::asset(&request) {
            return asset;
        }
        if request.method() == Method::GET && path == "/" {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::FOUND;
            response.headers_mut().insert(http::header::LOCATION, http::HeaderValue::from_static("/ui"));
            return boxed(response);
        }
        if let Some(token) = &self.token
            && !token.admits(request.headers())
        {
            let mut refused = crate::console::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized: the admin listener needs `Authorization: Bearer <admin token>`",
            );
            refused.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(r#"Bearer realm="portcullis-admin""#),
            );
            return refused;
        }
        if path.starts_with("/api/") {
            return self.console.api(request, self.token.is_some()).await;
        }
        match (request.method(), path) {
            (&Method::POST, "/revocations") => boxed(revoke(request, self).await),
            (&Method::GET, "/metrics") => {
                let mut text = self.metrics.render();
                portcullis_pipeline::metrics::render_limits(&mut text, &self.registry.limits());
                render_shared(&mut text, &self.registry);
                if let Some(writer) = &self.access_log {
                    render_access_log(&mut text, writer);
                }
                let snapshot = self.console.snapshot.load_full();
                crate::console::metrics::render(&mut text, &snapshot, &self.registry, &self.console.live)
                    .await;
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                boxed(response)
            }
            _ => boxed(answer(&request, self)),
        }
    }
}

impl portcullis_pipeline::Handler for AdminState {
    type Body = Body;

    async fn handle(&self, request: Request<Incoming>, _conn: ConnMeta) -> Response<Body> {
        let mut response = self.route(request).await;
        crate::console::protect(response.headers_mut());
        response
    }
}

/// Largest `POST /revocations` body.
const MAX_REVOCATION_BODY: usize = 4096;
/// How long a revocation is kept when the request does not say: longer than the tokens of most
/// identity providers live.
const DEFAULT_REVOCATION_LIFETIME: u64 = 24 * 3600;

/// `POST /revocations` with `{"jti": ID}` or `{"sub": SUBJECT}` and an optional `until` (Unix
/// seconds): every replica denies the tokens it names. JSON only (a browser cannot send it
/// cross-site without a preflight nobody answers), and never from another origin.
async fn revoke(request: Request<Incoming>, state: &AdminState) -> Response<Full<Bytes>> {
    let error = |status: StatusCode, message: &str| {
        let mut response = json_value(serde_json::json!({"message": message}));
        *response.status_mut() = status;
        response
    };
    if request.headers().contains_key(http::header::ORIGIN) {
        return error(StatusCode::FORBIDDEN, "revocations are not accepted from a web page");
    }
    let json_body = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    if !json_body {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json: {\"jti\": ID} or {\"sub\": SUBJECT}",
        );
    }
    let body = match http_body_util::Limited::new(request.into_body(), MAX_REVOCATION_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 4 KB"),
    };
    let Ok(fields) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not a JSON object");
    };
    let text =
        |key: &str| fields.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned);
    let revoked = match (text("jti"), text("sub")) {
        (Some(jti), None) => portcullis_authz::Revoked::Jti(jti),
        (None, Some(sub)) => portcullis_authz::Revoked::Sub(sub),
        _ => return error(StatusCode::BAD_REQUEST, "name exactly one of `jti` and `sub`"),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let until = match fields.get("until") {
        None => now + DEFAULT_REVOCATION_LIFETIME,
        Some(value) => match value.as_u64() {
            Some(until) if until > now => until,
            _ => return error(StatusCode::BAD_REQUEST, "`until` is a time in the future, in Unix seconds"),
        },
    };
    let revocation = portcullis_authz::Revocation { revoked, revoked_at: now, until };
    tracing::info!(revoked = %revocation.revoked, until, "revocation added");
    match state.registry.revoke(revocation.clone()).await {
        Ok(delivery) => {
            let mut body = serde_json::to_value(&revocation).unwrap_or_default();
            let status = match delivery {
                Delivery::Stored => StatusCode::CREATED,
                Delivery::Queued => {
                    body["queued"] = serde_json::Value::String(
                        "Redis is unavailable: it holds on this replica now and reaches the others when Redis answers".into(),
                    );
                    StatusCode::ACCEPTED
                }
            };
            let mut response = json_value(body);
            *response.status_mut() = status;
            response
        }
        Err(problem) => {
            tracing::warn!(%problem, "the revocation holds on this replica but could not be shared or saved");
            error(StatusCode::SERVICE_UNAVAILABLE, &format!("revoked on this replica only: {problem}"))
        }
    }
}

fn json_value(value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

fn answer(request: &Request<Incoming>, state: &AdminState) -> Response<Full<Bytes>> {
    let json = |status: StatusCode, body: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        response
    };
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, r#"{"status":"ok"}"#),
        // The development issuer (`issuer: dev`): OIDC discovery and JWKS, so other tools can
        // verify its tokens too.
        (&Method::GET, "/dev/.well-known/openid-configuration") => {
            match state.registry.current_dev_issuer() {
                Some(dev) => json_value(dev.discovery_document()),
                None => json(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#),
            }
        }
        (&Method::GET, "/dev/jwks.json") => match state.registry.current_dev_issuer() {
            Some(dev) => json_value(dev.jwks()),
            None => json(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#),
        },
        (&Method::GET, "/readyz") => {
            // Serving goes on without Redis (each replica on its own, or 503 on shared-throttled
            // routes): readiness says so rather than pulling every replica out of a balancer.
            let shared = state
                .registry
                .shared()
                .map(|shared| if shared.health().available() { "available" } else { "unavailable" });
            let ready = state.ready.load(Ordering::Relaxed);
            let mut body = serde_json::json!({"status": if ready { "ready" } else { "not ready" }});
            if let Some(shared) = shared {
                body["shared_state"] = shared.into();
            }
            let mut response = json_value(body);
            if !ready {
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            response
        }
        (&Method::GET, "/revocations") => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            json_value(serde_json::to_value(state.registry.revocation_list().all(now)).unwrap_or_default())
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#),
    }
}

/// Lines the access log could not write because its writer fell behind (a full disk, a slow
/// pipe): requests never wait for it.
fn render_access_log(out: &mut String, writer: &AccessLogWriter) {
    use std::fmt::Write as _;
    out.push_str("# HELP portcullis_access_log_dropped_total Access-log lines dropped because the writer fell behind.\n");
    out.push_str("# TYPE portcullis_access_log_dropped_total counter\n");
    let _ = writeln!(out, "portcullis_access_log_dropped_total {}", writer.dropped());
}

/// The shared store's counters, when there is one.
fn render_shared(out: &mut String, registry: &Registry) {
    use std::fmt::Write as _;
    let Some(shared) = registry.shared() else { return };
    let health = shared.health();
    out.push_str("# HELP portcullis_shared_state_available Whether the last call to Redis succeeded.\n");
    out.push_str("# TYPE portcullis_shared_state_available gauge\n");
    let _ = writeln!(out, "portcullis_shared_state_available {}", u8::from(health.available()));
    out.push_str("# HELP portcullis_shared_state_fallbacks_total Requests that went without Redis (counted locally or refused).\n");
    out.push_str("# TYPE portcullis_shared_state_fallbacks_total counter\n");
    let _ = writeln!(out, "portcullis_shared_state_fallbacks_total {}", health.fallbacks());
}

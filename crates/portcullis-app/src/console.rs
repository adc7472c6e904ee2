//! The admin console: a page at `/ui` and the JSON API it reads at `/api/*`, served on the admin
//! listener (never the main one).
//!
//! | endpoint | answer | from |
//! |---|---|---|
//! | `GET /ui`, `/ui/app.js`, `/ui/app.css` | the page ([`assets`]) | embedded in the binary |
//! | `GET /api/overview` | version, addresses, stage, uptime, dev mode, live-stream figures | start options, live snapshot |
//! | `GET /api/routes` | every route in priority order: authorizer, scopes, rules, integration, limits, CORS | live snapshot ([`catalog`]) |
//! | `GET /api/match?method=M&path=P` | the route `M P` reaches | the route stage on the live snapshot |
//! | `GET /api/authorizers` | JWT: issuer, URLs, keys, fetches, token cache, denials; Lambda: cache, invocations, errors, denials | each authorizer's own counters |
//! | `GET /api/functions` | instances, cold starts, invocations, errors, timeouts, last output lines | the function pools |
//! | `GET /api/live` | server-sent events of finished requests ([`live`]) | the access-log sink, while a stream is open |
//! | `GET /api/live/{id}` | one recent request: masked claims and headers; the function event in dev mode | the same |
//! | `POST /api/explain` | every check of one request, as `portcullis explain` prints it | [`crate::explain::explain_on`] on the live snapshot |
//! | `GET /api/series` | 15 minutes of requests, p50/p99, denials ([`series`]) | the `/metrics` counters |
//!
//! Read-only apart from explain (which may invoke a Lambda authorizer, exactly as a request
//! would). Who may call it, and the headers every answer carries, are in [`auth`].

mod assets;
mod auth;
mod catalog;
mod live;
pub(crate) mod metrics;
mod series;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use portcullis_core::Body;
use portcullis_pipeline::Snapshot;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::explain::{ExplainError, ExplainRequest};
use crate::registry::Registry;
pub(crate) use auth::{AdminToken, admin_token, protect, read_secret};
pub(crate) use live::start as start_live;

/// The largest explain request accepted.
const MAX_EXPLAIN_BODY: usize = 64 * 1024;

/// What the console reads.
pub(crate) struct Console {
    pub(crate) snapshot: Arc<ArcSwap<Snapshot>>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) live: Arc<live::Live>,
    pub(crate) series: Arc<series::Series>,
    pub(crate) about: About,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The gateway facts the header line shows.
pub(crate) struct About {
    pub(crate) listen: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) config_origin: String,
    pub(crate) started_at: SystemTime,
    pub(crate) dev: bool,
}

impl Console {
    pub(crate) fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        registry: Arc<Registry>,
        metrics: Arc<portcullis_pipeline::Metrics>,
        live: Arc<live::Live>,
        about: About,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let series = series::Series::new(metrics, registry.keep_recent().clone(), shutdown.clone());
        Console { snapshot, registry, live, series, about, shutdown }
    }

    /// The embedded page and its files (no token needed: they hold no data).
    pub(crate) fn asset(request: &Request<Incoming>) -> Option<Response<Body>> {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return None;
        }
        let asset = assets::get(request.uri().path())?;
        let mut response = Response::new(full(Bytes::from_static(asset.body)));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        Some(response)
    }

    /// Answers `/api/*`; the caller has checked the token.
    pub(crate) async fn api(&self, request: Request<Incoming>, token_required: bool) -> Response<Body> {
        let (uri, headers) = (request.uri(), request.headers());
        if auth::cross_site(uri, headers) {
            return error(StatusCode::FORBIDDEN, "cross-site requests to the admin API are refused");
        }
        if !token_required && !auth::addressed_by_ip_or_localhost(uri, headers) {
            return error(
                StatusCode::FORBIDDEN,
                "without an admin token the admin API answers only requests to an IP address or localhost",
            );
        }
        self.series.touch();
        let path = uri.path().to_owned();
        let query = uri.query().unwrap_or_default().to_owned();
        match (request.method().clone(), path.as_str()) {
            (Method::GET, "/api/overview") => ok(self.overview()),
            (Method::GET, "/api/routes") => ok(catalog::routes(&self.snapshot.load())),
            (Method::GET, "/api/match") => {
                let method = query_value(&query, "method").unwrap_or_else(|| "GET".into());
                match query_value(&query, "path").filter(|p| !p.is_empty()) {
                    Some(path) => ok(catalog::matched(&self.snapshot.load(), &method, &path)),
                    None => error(StatusCode::BAD_REQUEST, "query parameter `path` is required"),
                }
            }
            (Method::GET, "/api/authorizers") => {
                let snapshot = self.snapshot.load_full();
                ok(catalog::authorizers(&snapshot).await)
            }
            (Method::GET, "/api/functions") => ok(catalog::functions(&self.registry.functions())),
            (Method::GET, "/api/series") => ok(self.series.json()),
            (Method::GET, "/api/live") => {
                let mut response = Response::new(self.live.stream(self.shutdown.clone()));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
                response
            }
            (Method::GET, live) if live.starts_with("/api/live/") => {
                let id = percent_decode_str(&live["/api/live/".len()..]).decode_utf8_lossy().into_owned();
                match self.live.detail(&id) {
                    Some(detail) => ok(detail),
                    None => error(StatusCode::NOT_FOUND, "request not found (it aged out of the last 500)"),
                }
            }
            (Method::POST, "/api/explain") => self.explain(request).await,
            (_, "/api/explain") => not_allowed("POST", "use POST"),
            // The rest of the API only reads.
            (_, read_only) if READ_ONLY.contains(&read_only) || read_only.starts_with("/api/live/") => {
                not_allowed("GET", "the admin API is read-only apart from explain: use GET")
            }
            _ => error(StatusCode::NOT_FOUND, &format!("no such endpoint: {path}")),
        }
    }

    fn overview(&self) -> Value {
        let about = &self.about;
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "listen": about.listen.to_string(),
            "admin": about.admin.to_string(),
            "dev_mode": about.dev,
            "started_at": catalog::epoch_ms(about.started_at),
            "config_origin": about.config_origin,
            "stage": self.snapshot.load().api.stage,
            "live": {
                "streams": self.live.subscribers(),
                "dropped": self.live.dropped(),
                "skipped": self.live.skipped(),
                "per_second": live::PER_SECOND,
            },
        })
    }

    async fn explain(&self, request: Request<Incoming>) -> Response<Body> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
        if !is_json {
            return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected Content-Type: application/json");
        }
        let body = match Limited::new(request.into_body(), MAX_EXPLAIN_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "the explain request is too large"),
        };
        let asked: Value = match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
        };
        let text = |key: &str| asked.get(key).and_then(Value::as_str).map(str::to_owned);
        let Some(route_key) = text("route_key") else {
            return error(StatusCode::BAD_REQUEST, "`route_key` is required");
        };
        let headers = asked
            .get("headers")
            .and_then(Value::as_array)
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|pair| {
                        Some((pair.get(0)?.as_str()?.to_owned(), pair.get(1)?.as_str()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let explain = ExplainRequest {
            route_key,
            token: text("token").filter(|t| !t.is_empty()),
            path: text("path").filter(|p| !p.is_empty()),
            headers,
            cached_from: None,
        };
        let snapshot = self.snapshot.load_full();
        match crate::explain::explain_on(&snapshot, &explain).await {
            Ok(explained) => {
                let text = if self.about.dev { explained.text } else { mask_forwarded(&explained.text) };
                ok(json!({
                    "allowed": explained.allowed,
                    "status": explained.status,
                    "reason": explained.reason,
                    "text": text,
                }))
            }
            Err(ExplainError::Route(problem)) => error(StatusCode::BAD_REQUEST, &problem),
            Err(other) => error(StatusCode::INTERNAL_SERVER_ERROR, &other.to_string()),
        }
    }
}

/// Explain's `forward` lines name a claim's value (`ok forward x-user: alice@example.com`);
/// outside development mode the console shows the header only.
fn mask_forwarded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.split_once(": ") {
            Some((head, _)) if line.split_whitespace().nth(1) == Some("forward") => {
                let _ = writeln!(out, "{head}: ***");
            }
            _ => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// The value of `name` in a query string, percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode_str(key).decode_utf8_lossy() == name)
            .then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn ok(value: Value) -> Response<Body> {
    json_bytes(StatusCode::OK, Bytes::from(value.to_string()))
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_bytes(status, Bytes::from(json!({ "error": message }).to_string()))
}

/// The API's endpoints that answer GET only (with `/api/live/{id}`).
const READ_ONLY: &[&str] = &[
    "/api/overview",
    "/api/routes",
    "/api/match",
    "/api/authorizers",
    "/api/functions",
    "/api/series",
    "/api/live",
];

/// 405, with the one method the endpoint takes in `allow`.
fn not_allowed(allow: &'static str, message: &str) -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, message);
    response.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        let q = "method=GET&path=%2Fpets%2F1%3Fx%3D1&empty=";
        assert_eq!(query_value(q, "path").as_deref(), Some("/pets/1?x=1"));
        assert_eq!(query_value(q, "method").as_deref(), Some("GET"));
        assert_eq!(query_value(q, "empty").as_deref(), Some(""));
        assert_eq!(query_value(q, "nope"), None);
    }

    #[test]
    fn forwarded_claim_values_are_masked() {
        let text = "route: GET /x\nok   forward x-user: alice@example.com\nok   scopes route has no scopes\n=> allow\n";
        assert_eq!(
            mask_forwarded(text),
            "route: GET /x\nok   forward x-user: ***\nok   scopes route has no scopes\n=> allow\n"
        );
    }
}

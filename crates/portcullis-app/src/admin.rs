//! The admin listener: health and readiness now; metrics and the development issuer's OIDC
//! documents are served here too. Never exposed on the main listener, so a route can never
//! shadow it and it needs no authorizer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use portcullis_core::Body;
use portcullis_pipeline::{ConnMeta, Metrics};

use crate::registry::Registry;

/// State the admin endpoints report.
pub(crate) struct AdminState {
    /// Set once the main listener is serving; cleared when draining starts.
    pub(crate) ready: AtomicBool,
    /// For the development issuer's documents.
    registry: Arc<Registry>,
    /// Request counters of the main listener.
    metrics: Arc<Metrics>,
}

impl AdminState {
    pub(crate) fn new(registry: Arc<Registry>, metrics: Arc<Metrics>) -> Self {
        AdminState { ready: AtomicBool::new(false), registry, metrics }
    }
}

impl portcullis_pipeline::Handler for AdminState {
    type Body = Body;

    async fn handle(&self, request: Request<Incoming>, _conn: ConnMeta) -> Response<Body> {
        answer(&request, self).map(|body| body.map_err(|never| match never {}).boxed())
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
        (&Method::GET, "/metrics") => {
            let mut text = state.metrics.render();
            portcullis_pipeline::metrics::render_limits(&mut text, &state.registry.limits());
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
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
            if state.ready.load(Ordering::Relaxed) {
                json(StatusCode::OK, r#"{"status":"ready"}"#)
            } else {
                json(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"not ready"}"#)
            }
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#),
    }
}

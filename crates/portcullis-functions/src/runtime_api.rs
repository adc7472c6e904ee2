//! The emulated Lambda Runtime API (2018-06-01) for one instance: `invocation/next` (long
//! poll), `invocation/{id}/response`, `invocation/{id}/error` and `init/error`.
//!
//! One listener per instance (see the crate docs): everything that arrives here concerns that
//! instance, so the state is a one-slot mailbox plus the invocation it is working on.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::MAX_PAYLOAD_BYTES;
use crate::process::lock;

/// One invocation handed to an instance.
pub(crate) struct Invocation {
    pub(crate) request_id: Arc<str>,
    pub(crate) payload: Bytes,
    pub(crate) deadline_ms: u64,
    pub(crate) trace_id: String,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// What the runtime client reported for an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `invocation/{id}/response`.
    Response(Bytes),
    /// `invocation/{id}/error`.
    Error { error_type: String, body: Bytes },
    /// A response over [`MAX_PAYLOAD_BYTES`].
    TooLarge,
}

/// Lifecycle of an instance as seen from the API and the process supervisor. `Exited` is final.
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// Spawned; init code running.
    Starting,
    /// Called `invocation/next` at least once: init finished.
    Ready,
    /// Reported `init/error`.
    InitFailed(String),
    /// The process is gone (exit status text).
    Exited(String),
}

/// Shared between the instance handle, its API server and its output readers.
pub(crate) struct ApiState {
    pub(crate) arn: Arc<str>,
    next_rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    inflight: Mutex<Option<(Arc<str>, oneshot::Sender<Outcome>)>>,
    /// The request id most recently handed out, for tagging output lines.
    current: Mutex<Option<Arc<str>>>,
    pub(crate) phase: watch::Sender<Phase>,
}

impl ApiState {
    pub(crate) fn new(arn: Arc<str>, next_rx: mpsc::Receiver<Invocation>) -> Self {
        Self {
            arn,
            next_rx: tokio::sync::Mutex::new(next_rx),
            inflight: Mutex::new(None),
            current: Mutex::new(None),
            phase: watch::channel(Phase::Starting).0,
        }
    }

    /// The request id an output line most likely belongs to.
    pub(crate) fn current_request(&self) -> Option<Arc<str>> {
        lock(&self.current).clone()
    }
}

/// Serves the Runtime API on `listener` until the task is aborted (dropping the connection
/// tasks with it).
pub(crate) async fn serve(listener: TcpListener, api: Arc<ApiState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let api = api.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| {
                            let api = api.clone();
                            async move { Ok::<_, Infallible>(handle(&api, req).await) }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "runtime API accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

const PREFIX: &str = "/2018-06-01/runtime/";

async fn handle(api: &ApiState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return error(StatusCode::NOT_FOUND, "NotFound", "unknown path");
    };
    let method = req.method().clone();
    match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(api).await,
        (Method::POST, ["invocation", id, "response"]) => {
            let id = (*id).to_owned();
            response(api, &id, req).await
        }
        (Method::POST, ["invocation", id, "error"]) => {
            let id = (*id).to_owned();
            invocation_error(api, &id, req).await
        }
        (Method::POST, ["init", "error"]) => init_error(api, req).await,
        _ => error(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

async fn next(api: &ApiState) -> Response<Full<Bytes>> {
    // The first `next` ends the init phase (what Lambda calls the end of INIT).
    api.phase.send_if_modified(|phase| {
        let starting = matches!(phase, Phase::Starting);
        if starting {
            *phase = Phase::Ready;
        }
        starting
    });
    let invocation = {
        let mut rx = api.next_rx.lock().await;
        rx.recv().await
    };
    let Some(invocation) = invocation else {
        return error(StatusCode::GONE, "Runtime.ExitError", "instance is stopping");
    };
    *lock(&api.current) = Some(invocation.request_id.clone());
    *lock(&api.inflight) = Some((invocation.request_id.clone(), invocation.reply));
    let mut response = Response::new(Full::new(invocation.payload));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&invocation.request_id) {
        headers.insert("lambda-runtime-aws-request-id", v);
    }
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(invocation.deadline_ms));
    if let Ok(v) = HeaderValue::from_str(&api.arn) {
        headers.insert("lambda-runtime-invoked-function-arn", v);
    }
    if let Ok(v) = HeaderValue::from_str(&invocation.trace_id) {
        headers.insert("lambda-runtime-trace-id", v);
    }
    response
}

/// Takes the in-flight invocation if `id` names it.
fn take_inflight(api: &ApiState, id: &str) -> Option<oneshot::Sender<Outcome>> {
    let mut inflight = lock(&api.inflight);
    match inflight.as_ref() {
        Some((current, _)) if &**current == id => inflight.take().map(|(_, reply)| reply),
        _ => None,
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ()> {
    match Limited::new(req.into_body(), MAX_PAYLOAD_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(()),
    }
}

async fn response(api: &ApiState, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(reply) = take_inflight(api, id) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID");
    };
    match read_body(req).await {
        Ok(body) => {
            let _ = reply.send(Outcome::Response(body));
            accepted()
        }
        Err(()) => {
            let _ = reply.send(Outcome::TooLarge);
            let mut response = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."),
            );
            // The rest of the body is left unread, so this connection cannot be reused.
            response.headers_mut().insert("connection", HeaderValue::from_static("close"));
            response
        }
    }
}

async fn invocation_error(api: &ApiState, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(reply) = take_inflight(api, id) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID");
    };
    let error_type = error_type_header(&req);
    let body = read_body(req).await.unwrap_or_default();
    let error_type = error_type.or_else(|| error_type_from_body(&body)).unwrap_or_else(|| "Unhandled".into());
    let _ = reply.send(Outcome::Error { error_type, body });
    accepted()
}

async fn init_error(api: &ApiState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let error_type = error_type_header(&req);
    let body = read_body(req).await.unwrap_or_default();
    let error_type = error_type.or_else(|| error_type_from_body(&body)).unwrap_or_else(|| "Unhandled".into());
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default();
    api.phase.send_if_modified(|phase| {
        let starting = matches!(phase, Phase::Starting | Phase::Ready);
        if starting {
            *phase = Phase::InitFailed(format!("{error_type}: {message}"));
        }
        starting
    });
    accepted()
}

fn error_type_header(req: &Request<Incoming>) -> Option<String> {
    req.headers().get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn error_type_from_body(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?.get("errorType")?.as_str().map(str::to_owned)
}

fn accepted() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errorMessage": message, "errorType": error_type}).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    response
}

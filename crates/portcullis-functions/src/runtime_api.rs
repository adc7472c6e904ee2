//! The emulated Lambda Runtime API (2018-06-01) for one instance: `invocation/next` (long
//! poll), `invocation/{id}/response`, `invocation/{id}/error` and `init/error`.
//!
//! One listener per instance (see the crate docs): everything that arrives here concerns that
//! instance, so the state is a one-slot mailbox plus the invocation it is working on.

use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener, UnixStream};
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
    /// The function ARN as a header value, built once (`None` if the ARN is not a valid value).
    arn: Option<HeaderValue>,
    next_rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    inflight: Mutex<Option<(Arc<str>, oneshot::Sender<Outcome>)>>,
    /// The request id most recently handed out, for tagging output lines.
    current: Mutex<Option<Arc<str>>>,
    pub(crate) phase: watch::Sender<Phase>,
    /// Connections accepted on the TCP listener (for tests and diagnostics).
    pub(crate) tcp_connections: AtomicU32,
    /// Connections accepted on the [`LocalListener`] (for tests and diagnostics).
    pub(crate) local_connections: AtomicU32,
}

impl ApiState {
    pub(crate) fn new(arn: Arc<str>, next_rx: mpsc::Receiver<Invocation>) -> Self {
        Self {
            arn: HeaderValue::from_str(&arn).ok(),
            next_rx: tokio::sync::Mutex::new(next_rx),
            inflight: Mutex::new(None),
            current: Mutex::new(None),
            phase: watch::channel(Phase::Starting).0,
            tcp_connections: AtomicU32::new(0),
            local_connections: AtomicU32::new(0),
        }
    }

    /// The request id an output line most likely belongs to.
    pub(crate) fn current_request(&self) -> Option<Arc<str>> {
        lock(&self.current).clone()
    }
}

/// Serves the Runtime API on `listener` and, for our own bootstraps, on `local` (a Unix socket,
/// see [`LocalListener`]) until the task is aborted (dropping the connection tasks with it).
pub(crate) async fn serve(listener: TcpListener, local: Option<LocalListener>, api: Arc<ApiState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    api.tcp_connections.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(serve_connection(stream, api.clone()));
                }
                Err(error) => accept_failed(error).await,
            },
            accepted = accept_local(local.as_ref()), if local.is_some() => match accepted {
                Ok((stream, _)) => {
                    api.local_connections.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(serve_connection(stream, api.clone()));
                }
                Err(error) => accept_failed(error).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection<S>(stream: S, api: Arc<ApiState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(handle(&api, req).await) }
    });
    // pipeline_flush: a response to a pipelined request is not flushed on its own while the next
    // request is already buffered (see let_caller_dispatch).
    let _ = http1::Builder::new().pipeline_flush(true).serve_connection(TokioIo::new(stream), service).await;
}

/// Accepts on the local listener; never completes without one.
async fn accept_local(
    local: Option<&LocalListener>,
) -> io::Result<(UnixStream, tokio::net::unix::SocketAddr)> {
    match local {
        Some(local) => local.listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn accept_failed(error: io::Error) {
    tracing::warn!(%error, "runtime API accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
}

/// A Unix socket in the state directory that our own bootstraps use instead of TCP.
///
/// Each invocation is two small messages on the instance's connection, and on loopback TCP each
/// pays the whole TCP/IP path twice: segmentation, the receive path run in the sender's context,
/// ACKs, and a socket lock that the two CPUs of a small machine fight over. A Unix stream socket
/// copies the bytes and wakes the reader, nothing more: `bench/transport.mjs` measures a round
/// trip at ~19 µs of CPU over TCP and ~14 µs over this socket. It is only an extra door:
/// `AWS_LAMBDA_RUNTIME_API` stays TCP, so every other runtime client (`lambda_runtime`,
/// `awslambdaric`, `aws-lambda-ric`) and any handler code that reads it works as on Lambda, and
/// our bootstraps fall back to it when the socket cannot be reached (or not bound: a path longer
/// than `sun_path`). A path, not Linux's abstract namespace: Node 18's libuv cannot connect to
/// abstract names, and the directory (mode 0700) keeps other users out, which neither an
/// abstract name nor the TCP port does. The file is removed when the listener is dropped.
pub(crate) struct LocalListener {
    listener: UnixListener,
    path: PathBuf,
}

impl LocalListener {
    /// Binds a fresh `<dir>/<gateway pid>-<n>.sock` (`None` if that fails: the bootstrap then
    /// uses TCP).
    pub(crate) fn bind(dir: &Path) -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = dir.join(format!("{}-{}.sock", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        // A leftover from an earlier gateway that had the same pid and crashed.
        let _ = std::fs::remove_file(&path);
        match UnixListener::bind(&path) {
            Ok(listener) => Some(Self { listener, path }),
            Err(error) => {
                let path = path.display();
                tracing::debug!(%error, %path, "no unix socket for the runtime API; the bootstrap uses TCP");
                None
            }
        }
    }

    /// The socket's path, for the bootstrap's environment.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

const PREFIX: &str = "/2018-06-01/runtime/";

async fn handle(api: &ApiState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match route(req.method(), req.uri().path()) {
        Route::Next => next(api).await,
        Route::Response(id) => response(api, &id, req).await,
        Route::Error(id) => invocation_error(api, &id, req).await,
        Route::InitError => init_error(api, req).await,
        Route::Unknown => error(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

/// What a Runtime API request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Next,
    /// `invocation/{id}/response`, with `{id}` as the client wrote it.
    Response(String),
    /// `invocation/{id}/error`.
    Error(String),
    InitError,
    Unknown,
}

/// Routes by method and path. The request id is everything between `invocation/` and the
/// *last* `/`, not one path segment: ids come from the caller (the gateway passes its
/// API Gateway style request id, base64 that may contain `/`), and runtime clients paste them
/// into the path verbatim. Splitting on every `/` turned `invocation/ab/cd=/response` into an
/// unknown path; the client ignored the 404 and polled `next`, and the caller waited for its
/// timeout.
fn route(method: &Method, path: &str) -> Route {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Route::Unknown;
    };
    match (method, rest) {
        (&Method::GET, "invocation/next") => return Route::Next,
        (&Method::POST, "init/error") => return Route::InitError,
        (&Method::POST, _) => {}
        _ => return Route::Unknown,
    }
    let Some((id, action)) = rest.strip_prefix("invocation/").and_then(|r| r.rsplit_once('/')) else {
        return Route::Unknown;
    };
    if id.is_empty() {
        return Route::Unknown;
    }
    match action {
        "response" => Route::Response(id.to_owned()),
        "error" => Route::Error(id.to_owned()),
        _ => Route::Unknown,
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
    if let Some(v) = &api.arn {
        headers.insert("lambda-runtime-invoked-function-arn", v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&invocation.trace_id) {
        headers.insert("lambda-runtime-trace-id", v);
    }
    response
}

/// Takes the in-flight invocation if `id` names it, as sent or percent-decoded (for clients
/// that encode the id they echo).
fn take_inflight(api: &ApiState, id: &str) -> Option<oneshot::Sender<Outcome>> {
    let mut inflight = lock(&api.inflight);
    match inflight.as_ref() {
        Some((current, _)) if **current == *id || percent_decode(id).as_deref() == Some(&**current) => {
            inflight.take().map(|(_, reply)| reply)
        }
        _ => None,
    }
}

/// `%XX` escapes decoded; `None` when there are none, or they are malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The request id as handed to an instance: `request_id` with every character a runtime client
/// could not paste verbatim into a URL path (`?`, `#`, space, controls, non-ASCII, ...)
/// percent-encoded. Ids made of URL path characters (UUIDs, API Gateway's base64 ids, which
/// may contain `/`, `+` and `=`) are unchanged.
pub(crate) fn wire_request_id(request_id: &str) -> Arc<str> {
    if request_id.bytes().all(path_safe) {
        return request_id.into();
    }
    let mut out = String::with_capacity(request_id.len() * 3);
    for byte in request_id.bytes() {
        if path_safe(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out.into()
}

/// RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`) plus `/` and `%`.
fn path_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte)
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
            let_caller_dispatch().await;
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
    let_caller_dispatch().await;
    accepted()
}

/// Lets the caller's task run before the acknowledgement of a result is written. The caller puts
/// the instance back and releases its permit, and the next waiting request dispatches to it at
/// once. A client that pipelined its next poll behind the result (our Node bootstrap does) then
/// gets the 202 and its next invocation in one write, and wakes once per invocation instead of
/// twice. A client that waits for the 202 before polling loses nothing but this one re-poll.
async fn let_caller_dispatch() {
    tokio::task::yield_now().await;
}

async fn init_error(api: &ApiState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let error_type = error_type_header(&req);
    let body = read_body(req).await.unwrap_or_default();
    let error_type = error_type.or_else(|| error_type_from_body(&body)).unwrap_or_else(|| "Unhandled".into());
    // `Runtime.ImportModuleError: Unable to import module 'app': ... (File "app.py", line 2, ...)`.
    let failure = portcullis_core::FunctionFailure::parse(&error_type, &body);
    api.phase.send_if_modified(|phase| {
        let starting = matches!(phase, Phase::Starting | Phase::Ready);
        if starting {
            *phase = Phase::InitFailed(failure.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/2018-06-01/runtime/";

    #[test]
    fn request_ids_containing_slashes_route_to_response_and_error() {
        let id = "dGM90RIFmf/GGDg=";
        assert_eq!(route(&Method::POST, &format!("{P}invocation/{id}/response")), Route::Response(id.into()));
        assert_eq!(route(&Method::POST, &format!("{P}invocation/{id}/error")), Route::Error(id.into()));
        assert_eq!(
            route(&Method::POST, &format!("{P}invocation/a//b/response")),
            Route::Response("a//b".into())
        );
        assert_eq!(
            route(&Method::POST, &format!("{P}invocation/5l+7vUyEm2/cvwM=/error")),
            Route::Error("5l+7vUyEm2/cvwM=".into())
        );
    }

    #[test]
    fn fixed_routes_and_unknown_paths() {
        assert_eq!(route(&Method::GET, &format!("{P}invocation/next")), Route::Next);
        assert_eq!(route(&Method::POST, &format!("{P}init/error")), Route::InitError);
        assert_eq!(route(&Method::POST, &format!("{P}invocation/next")), Route::Unknown);
        assert_eq!(route(&Method::POST, &format!("{P}invocation//response")), Route::Unknown);
        assert_eq!(route(&Method::POST, &format!("{P}invocation/id/other")), Route::Unknown);
        assert_eq!(route(&Method::GET, &format!("{P}invocation/id/response")), Route::Unknown);
        assert_eq!(route(&Method::POST, "/2018-06-01/other/invocation/id/response"), Route::Unknown);
    }

    #[test]
    fn ids_are_percent_decoded_only_when_well_formed() {
        assert_eq!(percent_decode("ab%2Fcd%3D"), Some("ab/cd=".into()));
        assert_eq!(percent_decode("plain"), None);
        assert_eq!(percent_decode("50%zz"), None);
        assert_eq!(percent_decode("trailing%2"), None);
        assert_eq!(percent_decode("sign%+5"), None);
    }

    #[test]
    fn ids_a_client_cannot_paste_into_a_path_are_encoded_and_others_kept() {
        assert_eq!(&*wire_request_id("dGM90RIFmf/GGDg="), "dGM90RIFmf/GGDg=");
        assert_eq!(
            &*wire_request_id("c0ffee00-1234-5678-9abc-def012345678"),
            "c0ffee00-1234-5678-9abc-def012345678"
        );
        assert_eq!(&*wire_request_id("a?b#c d"), "a%3Fb%23c%20d");
        assert_eq!(&*wire_request_id("é"), "%C3%A9");
    }
}

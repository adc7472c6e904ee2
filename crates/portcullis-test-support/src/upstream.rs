//! An HTTP/1.1 + h2c upstream that records every request it receives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: Method,
    /// Request target (path and query).
    pub uri: Uri,
    /// HTTP version spoken to the upstream.
    pub version: Version,
    /// Headers as received.
    pub headers: HeaderMap,
    /// Body length in bytes (bodies are counted, not kept, unless `keep_bodies`).
    pub body_len: u64,
    /// The body, when kept.
    pub body: Bytes,
}

/// How the upstream answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// `200` with a small JSON body `{"upstream":true}` and `x-upstream: yes`.
    Ok,
    /// The given status, headers and body.
    Fixed(u16, Vec<(&'static str, &'static str)>, &'static str),
    /// Wait, then answer like `Ok`.
    Delay(Duration),
    /// Read the request and never answer (for timeout tests).
    Never,
}

type Body = BoxBody<Bytes, hyper::Error>;

/// A running recording upstream. Dropping it stops the server.
pub struct RecordingUpstream {
    addr: SocketAddr,
    records: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingUpstream {
    /// Start an upstream with `behavior`; bodies are kept up to 1 MiB, beyond that only counted.
    pub async fn start(behavior: Behavior) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let records = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (r, c) = (Arc::clone(&records), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let records = Arc::clone(&r);
                let behavior = behavior.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let records = Arc::clone(&records);
                        let behavior = behavior.clone();
                        async move { Ok::<_, Infallible>(answer(request, records, behavior).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RecordingUpstream { addr, records, connections, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests were received.
    pub fn count(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    records: Arc<Mutex<Vec<Recorded>>>,
    behavior: Behavior,
) -> Response<Body> {
    let (parts, mut body) = request.into_parts();
    let mut kept = Vec::new();
    let mut body_len = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    body_len += data.len() as u64;
                    if kept.len() < (1 << 20) {
                        kept.extend_from_slice(data);
                    }
                }
            }
            Err(_) => break,
        }
    }
    if let Ok(mut records) = records.lock() {
        records.push(Recorded {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
            body_len,
            body: Bytes::from(kept),
        });
    }
    let ok = || {
        let mut response = Response::new(full(r#"{"upstream":true}"#));
        response.headers_mut().insert("content-type", "application/json".parse().expect("static"));
        response.headers_mut().insert("x-upstream", "yes".parse().expect("static"));
        response
    };
    match behavior {
        Behavior::Ok => ok(),
        Behavior::Fixed(status, headers, body) => {
            let mut response = Response::new(full(body));
            *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
            for (name, value) in headers {
                response.headers_mut().append(name, value.parse().expect("valid header"));
            }
            response
        }
        Behavior::Delay(delay) => {
            tokio::time::sleep(delay).await;
            ok()
        }
        Behavior::Never => {
            std::future::pending::<()>().await;
            ok()
        }
    }
}

fn full(body: &'static str) -> Body {
    Full::new(Bytes::from_static(body.as_bytes())).map_err(|never| match never {}).boxed()
}

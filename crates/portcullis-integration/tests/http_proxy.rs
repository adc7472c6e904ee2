//! The HTTP proxy integration against real upstream servers on 127.0.0.1
//! (docs/aws-compatibility.md#http-proxy-integration, #lambda-integration-failures).
//!
//! Every upstream here is a real hyper server on an ephemeral port that records what it received
//! and counts the TCP connections it accepted; tests assert on those records.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis_core::{AuthContext, Body, BoxError, CallContext, Param, Params, RequestIdGenerator, full};
use portcullis_integration::http::{
    ClientOptions, HttpClient, HttpIntegration, HttpSettings, HttpVersion, PathPart, Scheme, UpstreamTarget,
};
use portcullis_integration::{Integration, IntegrationError};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

mod common;
use common::{WAIT, body_text, channel_body};

type UpBody = BoxBody<Bytes, BoxError>;

// === upstream servers ===

/// What an upstream received.
#[derive(Debug)]
struct Recorded {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Result<Bytes, String>,
}

struct Upstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// One message each time a connection ends (closed by either side).
    closed: mpsc::UnboundedReceiver<()>,
}

/// Serves `handler` on 127.0.0.1:0 (HTTP/1.1 and h2c by preface detection; TLS when `tls` is
/// set), counting accepted connections.
async fn serve<F, Fut>(tls: Option<tokio_rustls::TlsAcceptor>, handler: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let (closed_tx, closed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let tls = tls.clone();
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let _notify_on_end = NotifyOnDrop(closed_tx);
                let service = service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    Upstream { addr, connections, closed }
}

struct NotifyOnDrop(mpsc::UnboundedSender<()>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn up_full(bytes: impl Into<Bytes>) -> UpBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// An upstream that records each request (whole body) and answers `200 upstream-body`.
async fn recording_upstream(
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (Upstream, mpsc::UnboundedReceiver<Recorded>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let upstream = serve(tls, move |req: Request<Incoming>| {
        let tx = tx.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map(|c| c.to_bytes()).map_err(|e| e.to_string());
            let _ = tx.send(Recorded {
                method: parts.method,
                uri: parts.uri,
                version: parts.version,
                headers: parts.headers,
                body,
            });
            Response::builder().header("x-upstream", "yes").body(up_full("upstream-body")).unwrap()
        }
    })
    .await;
    (upstream, rx)
}

async fn next_record(rx: &mut mpsc::UnboundedReceiver<Recorded>) -> Recorded {
    timeout(WAIT, rx.recv()).await.expect("upstream received nothing").expect("upstream gone")
}

/// A raw TCP upstream: accepts connections and hands each to `on_accept`.
async fn raw_upstream<F, Fut>(on_accept: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(on_accept(stream));
        }
    });
    addr
}

/// Reads until the end of a request head (or EOF), so the client has really sent its request.
async fn read_head(stream: &mut tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

// === gateway side ===

fn client() -> HttpClient {
    HttpClient::new(ClientOptions { native_roots: false, ..ClientOptions::default() }).unwrap()
}

fn lit(s: &str) -> PathPart {
    PathPart::Literal(s.to_owned())
}

fn var(s: &str) -> PathPart {
    PathPart::Var(Arc::from(s))
}

fn settings(scheme: Scheme, addr: SocketAddr, path: Vec<PathPart>) -> HttpSettings {
    HttpSettings {
        target: UpstreamTarget {
            scheme,
            authority: addr.to_string().parse().unwrap(),
            path,
            query: None,
            append_request_path: false,
        },
        timeout: Duration::from_secs(5),
        version: HttpVersion::Auto,
    }
}

fn integration(client: &HttpClient, settings: HttpSettings) -> Arc<HttpIntegration> {
    Arc::new(HttpIntegration::new(client, settings))
}

fn ctx(params: &[(&str, &str)]) -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: "192.0.2.1:5555".parse().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: "GET /x".into(),
        params: Params(
            params
                .iter()
                .map(|(name, raw)| Param {
                    name: Arc::from(*name),
                    raw: (*raw).to_owned(),
                    decoded: String::new(),
                })
                .collect(),
        ),
        received_at: SystemTime::now(),
        auth: AuthContext::None,
    }
}

fn get(path: &str) -> Request<Body> {
    Request::builder().uri(path).header("host", "gw.example").body(full("")).unwrap()
}

async fn call(
    integration: &HttpIntegration,
    req: Request<Body>,
    ctx: &CallContext,
) -> Result<Response<Body>, IntegrationError> {
    timeout(WAIT, integration.call(req, ctx)).await.expect("integration call hung")
}

// === fidelity ===

#[tokio::test]
async fn method_path_query_headers_and_body_reach_the_upstream_and_the_answer_comes_back() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/api/orders")]));
    let req = Request::builder()
        .method(Method::PATCH)
        .uri("/orders?b=2&a=%20x&a=y")
        .header("host", "gw.example")
        .header("content-type", "application/json")
        .header("x-custom", "one")
        .header("x-multi", "1")
        .header("x-multi", "2")
        .header("authorization", "Bearer abc")
        .body(full(r#"{"n":1}"#))
        .unwrap();

    let response = call(&integration, req, &ctx(&[])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-upstream"], "yes");
    assert_eq!(body_text(response).await, "upstream-body");

    let seen = next_record(&mut records).await;
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.uri.path(), "/api/orders");
    assert_eq!(seen.uri.query(), Some("b=2&a=%20x&a=y"));
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["x-custom"], "one");
    assert_eq!(seen.headers["authorization"], "Bearer abc");
    let multi: Vec<_> = seen.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["1", "2"]);
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
    assert_eq!(seen.body.unwrap(), r#"{"n":1}"#);
}

#[tokio::test]
async fn path_variables_are_substituted_with_their_raw_encoded_values() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let one = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/pets/"), var("id")]));
    let greedy =
        integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/static/"), var("proxy")]));

    call(&one, get("/pets/a%2Fb%20c"), &ctx(&[("id", "a%2Fb%20c")])).await.unwrap();
    assert_eq!(next_record(&mut records).await.uri.path(), "/pets/a%2Fb%20c");

    call(&one, get("/pets/%C3%A9t%C3%A9"), &ctx(&[("id", "%C3%A9t%C3%A9")])).await.unwrap();
    assert_eq!(next_record(&mut records).await.uri.path(), "/pets/%C3%A9t%C3%A9");

    let raw = "cat/%2F..%2F/x%20y/%E2%9C%93";
    call(&greedy, get("/files/cat/%2F..%2F/x%20y/%E2%9C%93?q=1"), &ctx(&[("proxy", raw)])).await.unwrap();
    let seen = next_record(&mut records).await;
    assert_eq!(seen.uri.path(), "/static/cat/%2F..%2F/x%20y/%E2%9C%93");
    assert_eq!(seen.uri.query(), Some("q=1"));
}

#[tokio::test]
async fn default_route_appends_the_full_request_path_and_joins_queries() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let mut at_root = settings(Scheme::Http, upstream.addr, vec![]);
    at_root.target.append_request_path = true;
    let mut under_base = settings(Scheme::Http, upstream.addr, vec![lit("/base/")]);
    under_base.target.append_request_path = true;
    under_base.target.query = Some("stage=prod".to_owned());
    let at_root = integration(&client, at_root);
    let under_base = integration(&client, under_base);

    call(&at_root, get("/any/deep/path%20x?a=1"), &ctx(&[])).await.unwrap();
    let seen = next_record(&mut records).await;
    assert_eq!(seen.uri.path(), "/any/deep/path%20x");
    assert_eq!(seen.uri.query(), Some("a=1"));

    call(&under_base, get("/pets?a=1"), &ctx(&[])).await.unwrap();
    let seen = next_record(&mut records).await;
    assert_eq!(seen.uri.path(), "/base/pets");
    assert_eq!(seen.uri.query(), Some("stage=prod&a=1"));

    call(&under_base, get("/"), &ctx(&[])).await.unwrap();
    let seen = next_record(&mut records).await;
    assert_eq!(seen.uri.path(), "/base/");
    assert_eq!(seen.uri.query(), Some("stage=prod"));
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_towards_the_upstream() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/")]));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header("host", "gw.example")
        .header("connection", "keep-alive, X-Drop-Me")
        .header("connection", "x-drop-too")
        .header("x-drop-me", "1")
        .header("x-drop-too", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("proxy-authenticate", "Basic")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .header("upgrade", "websocket")
        .header("transfer-encoding", "chunked")
        .header("expect", "100-continue")
        .header("x-keep-me", "1")
        .body(full("payload"))
        .unwrap();

    call(&integration, req, &ctx(&[])).await.unwrap();
    let seen = next_record(&mut records).await;
    for gone in [
        "connection",
        "x-drop-me",
        "x-drop-too",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
        "expect",
    ] {
        assert!(!seen.headers.contains_key(gone), "{gone} reached the upstream: {:?}", seen.headers);
    }
    assert_eq!(seen.headers["x-keep-me"], "1");
    assert_eq!(seen.body.unwrap(), "payload");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_from_the_response() {
    let upstream = serve(None, |_req: Request<Incoming>| async {
        Response::builder()
            .header("connection", "x-secret-hop")
            .header("x-secret-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic")
            .header("trailer", "x-sum")
            .header("x-kept", "1")
            .body(up_full("ok"))
            .unwrap()
    })
    .await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/")]));

    let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
    for gone in
        ["connection", "x-secret-hop", "keep-alive", "proxy-authenticate", "trailer", "transfer-encoding"]
    {
        assert!(!response.headers().contains_key(gone), "{gone} reached the client");
    }
    assert_eq!(response.headers()["x-kept"], "1");
    assert_eq!(body_text(response).await, "ok");
}

#[tokio::test]
async fn forwarding_headers_and_request_id_are_set() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/")]));
    let req = Request::builder()
        .uri("/")
        .header("host", "gw.example:8443")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "spoofed")
        .header("x-forwarded-host", "spoofed.example")
        .header("x-forwarded-port", "1")
        .header("apigw-requestid", "spoofed")
        .body(full(""))
        .unwrap();
    let mut tls_ctx = ctx(&[]);
    tls_ctx.tls = true;
    tls_ctx.local_port = 8443;

    call(&integration, req, &tls_ctx).await.unwrap();
    let seen = next_record(&mut records).await;
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 192.0.2.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["x-forwarded-host"], "gw.example:8443");
    assert_eq!(seen.headers["x-forwarded-port"], "8443", "the listener's port");
    assert_eq!(seen.headers["apigw-requestid"], tls_ctx.request_id.as_str());
    assert_eq!(seen.headers.get_all("apigw-requestid").iter().count(), 1);
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());

    // Plain HTTP, no client list: the listener's port (80 here).
    call(&integration, get("/"), &ctx(&[])).await.unwrap();
    let seen = next_record(&mut records).await;
    assert_eq!(seen.headers["x-forwarded-for"], "192.0.2.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "gw.example");
    assert_eq!(seen.headers["x-forwarded-port"], "80");
}

#[tokio::test]
async fn an_http2_client_request_reaches_an_http1_upstream_with_host_from_authority() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/h")]));
    // What hyper's server hands over for an HTTP/2 request: absolute URI, no Host header.
    let req = Request::builder()
        .version(Version::HTTP_2)
        .uri("https://gw.example/h?x=1")
        .body(full("from h2"))
        .unwrap();

    let response = call(&integration, req, &ctx(&[])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = next_record(&mut records).await;
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.uri.path(), "/h");
    assert_eq!(seen.uri.query(), Some("x=1"));
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
    assert_eq!(seen.headers["x-forwarded-host"], "gw.example");
    assert_eq!(seen.body.unwrap(), "from h2");
}

// === streaming ===

#[tokio::test]
async fn the_upstream_gets_the_first_chunk_before_the_client_finished_sending() {
    let (first_tx, mut first_rx) = mpsc::unbounded_channel::<Bytes>();
    let upstream = serve(None, move |req: Request<Incoming>| {
        let first_tx = first_tx.clone();
        async move {
            let mut body = req.into_body();
            let mut total = 0usize;
            let mut first = true;
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    total += data.len();
                    if first && !data.is_empty() {
                        first = false;
                        let _ = first_tx.send(data);
                    }
                }
            }
            Response::new(up_full(total.to_string()))
        }
    })
    .await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/up")]));
    let (mut chunks, body) = channel_body();
    let req = Request::builder().method(Method::PUT).uri("/up").body(body.boxed()).unwrap();
    let context = ctx(&[]);
    let task = {
        let integration = Arc::clone(&integration);
        tokio::spawn(async move { integration.call(req, &context).await.map(|r| r.into_parts().1) })
    };

    chunks.send_data(Bytes::from_static(b"first-chunk")).await.unwrap();
    let first = timeout(WAIT, first_rx.recv()).await.expect("first chunk not streamed").unwrap();
    assert_eq!(first, "first-chunk");
    // Only now does the client send the rest.
    chunks.send_data(Bytes::from(vec![b'x'; 100_000])).await.unwrap();
    drop(chunks);

    let body = timeout(WAIT, task).await.unwrap().unwrap().unwrap();
    let total = body.collect().await.unwrap().to_bytes();
    assert_eq!(total, (11 + 100_000).to_string());
}

#[tokio::test]
async fn the_client_gets_the_first_response_chunk_before_the_upstream_finished() {
    let (senders_tx, mut senders_rx) =
        mpsc::unbounded_channel::<http_body_util::channel::Sender<Bytes, BoxError>>();
    let upstream = serve(None, move |_req: Request<Incoming>| {
        let senders_tx = senders_tx.clone();
        async move {
            let (tx, body) = channel_body();
            let _ = senders_tx.send(tx);
            Response::new(body.boxed())
        }
    })
    .await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/down")]));

    let response = call(&integration, get("/down"), &ctx(&[])).await.unwrap();
    let mut upstream_body = timeout(WAIT, senders_rx.recv()).await.unwrap().unwrap();
    let mut body = response.into_body();

    upstream_body.send_data(Bytes::from_static(b"part-1")).await.unwrap();
    let frame = timeout(WAIT, body.frame()).await.expect("first chunk not streamed").unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "part-1");

    upstream_body.send_data(Bytes::from_static(b"part-2")).await.unwrap();
    drop(upstream_body);
    let rest = timeout(WAIT, body.collect()).await.unwrap().unwrap().to_bytes();
    assert_eq!(rest, "part-2");
}

#[tokio::test]
async fn an_upstream_that_answers_while_it_reads_gets_the_rest_of_the_upload() {
    // An echo: the answer begins at once and streams the request body back as it arrives.
    let upstream = serve(None, |req: Request<Incoming>| async move {
        Response::new(req.into_body().map_err(|e| -> BoxError { Box::new(e) }).boxed())
    })
    .await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/echo")]));
    let (mut chunks, body) = channel_body();
    chunks.send_data(Bytes::from_static(b"one")).await.unwrap();
    let req = Request::builder().method(Method::POST).uri("/echo").body(body.boxed()).unwrap();
    let response = call(&integration, req, &ctx(&[])).await.unwrap();
    let mut body = response.into_body();
    let first = timeout(WAIT, body.frame()).await.expect("first part not echoed").unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "one");
    // Sent after the answer began: it must still reach the upstream.
    chunks.send_data(Bytes::from_static(b"two")).await.unwrap();
    let second =
        timeout(WAIT, body.frame()).await.expect("the rest of the upload never arrived").unwrap().unwrap();
    assert_eq!(second.into_data().unwrap(), "two");
    drop(chunks);
    let rest = timeout(WAIT, body.collect()).await.expect("the echo never ended").unwrap().to_bytes();
    assert!(rest.is_empty());
}

// === pooling and protocols ===

#[tokio::test]
async fn sequential_calls_reuse_one_keep_alive_connection() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/")]));
    for _ in 0..5 {
        let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
        assert_eq!(body_text(response).await, "upstream-body");
        next_record(&mut records).await;
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn h2c_upstream_is_spoken_to_with_prior_knowledge_over_one_connection() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let mut h2 = settings(Scheme::Http, upstream.addr, vec![lit("/h2/"), var("id")]);
    h2.version = HttpVersion::Http2;
    let integration = integration(&client, h2);
    for _ in 0..3 {
        let response = call(&integration, get("/x/7?q=1"), &ctx(&[("id", "7")])).await.unwrap();
        assert_eq!(body_text(response).await, "upstream-body");
        let seen = next_record(&mut records).await;
        assert_eq!(seen.version, Version::HTTP_2);
        assert_eq!(seen.uri.path(), "/h2/7");
        assert_eq!(seen.uri.query(), Some("q=1"));
        assert_eq!(seen.uri.authority().map(|a| a.as_str()), Some(upstream.addr.to_string().as_str()));
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn http1_setting_forces_http11_on_plain_http() {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let mut h1 = settings(Scheme::Http, upstream.addr, vec![lit("/")]);
    h1.version = HttpVersion::Http1;
    let integration = integration(&client, h1);
    call(&integration, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(next_record(&mut records).await.version, Version::HTTP_11);
}

// === TLS ===

struct TestPki {
    ca: CertificateDer<'static>,
    acceptor_h1: tokio_rustls::TlsAcceptor,
    acceptor_h2: tokio_rustls::TlsAcceptor,
}

/// A private CA and a server certificate for 127.0.0.1 signed by it.
fn pki() -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Portcullis test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    let acceptor = |alpn: &[&[u8]]| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    };
    TestPki {
        ca: ca_cert.der().clone(),
        acceptor_h1: acceptor(&[b"http/1.1"]),
        acceptor_h2: acceptor(&[b"h2", b"http/1.1"]),
    }
}

fn client_trusting(ca: &CertificateDer<'static>) -> HttpClient {
    HttpClient::new(ClientOptions {
        extra_roots: vec![ca.clone()],
        native_roots: false,
        ..ClientOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn https_upstream_with_a_private_ca_speaks_http11() {
    let pki = pki();
    let (upstream, mut records) = recording_upstream(Some(pki.acceptor_h1)).await;
    let client = client_trusting(&pki.ca);
    let integration = integration(&client, settings(Scheme::Https, upstream.addr, vec![lit("/secure")]));

    let response = call(&integration, get("/s?a=1"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "upstream-body");
    let seen = next_record(&mut records).await;
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.uri.path(), "/secure");
    assert_eq!(seen.uri.query(), Some("a=1"));
}

#[tokio::test]
async fn an_https_upstream_pinned_to_http11_keeps_one_connection_across_idle_pauses() {
    // `http_version: "1.1"` over TLS goes through the gateway's own HTTP/1.1 client: its
    // connection is checked when taken from the pool, and TLS records that arrive while it is
    // idle (session tickets) must not make it look closed.
    let pki = pki();
    let (upstream, mut records) = recording_upstream(Some(pki.acceptor_h1)).await;
    let client = client_trusting(&pki.ca);
    let mut pinned = settings(Scheme::Https, upstream.addr, vec![lit("/secure")]);
    pinned.version = HttpVersion::Http1;
    let integration = integration(&client, pinned);
    for _ in 0..3 {
        let response = call(&integration, get("/s"), &ctx(&[])).await.unwrap();
        assert_eq!(body_text(response).await, "upstream-body");
        assert_eq!(next_record(&mut records).await.version, Version::HTTP_11);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn https_upstream_offering_h2_by_alpn_gets_http2() {
    let pki = pki();
    let (upstream, mut records) = recording_upstream(Some(pki.acceptor_h2)).await;
    let client = client_trusting(&pki.ca);
    let integration = integration(&client, settings(Scheme::Https, upstream.addr, vec![lit("/secure")]));
    for _ in 0..3 {
        let response = call(&integration, get("/s"), &ctx(&[])).await.unwrap();
        assert_eq!(body_text(response).await, "upstream-body");
        assert_eq!(next_record(&mut records).await.version, Version::HTTP_2);
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);

    // Http1 forces HTTP/1.1 even though the upstream offers h2.
    let mut h1 = settings(Scheme::Https, upstream.addr, vec![lit("/secure")]);
    h1.version = HttpVersion::Http1;
    let forced = self::integration(&client, h1);
    call(&forced, get("/s"), &ctx(&[])).await.unwrap();
    assert_eq!(next_record(&mut records).await.version, Version::HTTP_11);
}

#[tokio::test]
async fn https_upstream_with_an_untrusted_certificate_is_a_connect_error() {
    let pki = pki();
    let (upstream, mut records) = recording_upstream(Some(pki.acceptor_h1)).await;
    // `auto` goes through hyper-util's client, `1.1` through our own HTTP/1.1 pool.
    for version in [HttpVersion::Auto, HttpVersion::Http1] {
        let mut settings = settings(Scheme::Https, upstream.addr, vec![lit("/")]);
        settings.version = version;
        let integration = integration(&client(), settings);
        let err = call(&integration, get("/"), &ctx(&[])).await.unwrap_err();
        assert!(matches!(err, IntegrationError::Connect(_)), "{version:?}: {err:?}");
    }
    assert!(records.try_recv().is_err(), "the upstream must not see a request");
}

#[test]
fn a_garbage_extra_root_is_rejected_at_startup() {
    let err = HttpClient::new(ClientOptions {
        extra_roots: vec![CertificateDer::from(vec![1u8, 2, 3])],
        native_roots: false,
        ..ClientOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("#0"), "{err}");
}

// === failures ===

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let integration = integration(&client(), settings(Scheme::Http, addr, vec![lit("/")]));
    let err = call(&integration, get("/"), &ctx(&[])).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn an_upstream_that_closes_without_answering_is_an_upstream_error() {
    let addr = raw_upstream(|mut stream| async move {
        read_head(&mut stream).await;
        drop(stream);
    })
    .await;
    let integration = integration(&client(), settings(Scheme::Http, addr, vec![lit("/")]));
    let err = call(&integration, get("/"), &ctx(&[])).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Upstream(_)), "{err:?}");
}

#[tokio::test]
async fn an_upstream_that_resets_is_an_upstream_error() {
    let addr = raw_upstream(|mut stream| async move {
        read_head(&mut stream).await;
        let _ = stream.set_zero_linger();
        drop(stream);
    })
    .await;
    let integration = integration(&client(), settings(Scheme::Http, addr, vec![lit("/")]));
    let err = call(&integration, get("/"), &ctx(&[])).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Upstream(_)), "{err:?}");
}

#[tokio::test]
async fn an_upstream_answering_garbage_is_an_upstream_error() {
    let addr = raw_upstream(|mut stream| async move {
        read_head(&mut stream).await;
        let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        let _ = stream.shutdown().await;
    })
    .await;
    let integration = integration(&client(), settings(Scheme::Http, addr, vec![lit("/")]));
    let err = call(&integration, get("/"), &ctx(&[])).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Upstream(_)), "{err:?}");
}

#[tokio::test]
async fn a_slow_upstream_times_out_within_the_timeout_plus_a_small_margin() {
    let (release_tx, release_rx) = tokio::sync::watch::channel(());
    let addr = raw_upstream(move |mut stream| {
        let mut release = release_rx.clone();
        async move {
            read_head(&mut stream).await;
            // Hold the connection open without answering until the test ends.
            let _ = release.changed().await;
        }
    })
    .await;
    let mut slow = settings(Scheme::Http, addr, vec![lit("/")]);
    slow.timeout = Duration::from_millis(300);
    let integration = integration(&client(), slow);

    let started = Instant::now();
    let err = call(&integration, get("/"), &ctx(&[])).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, IntegrationError::Timeout(d) if d == Duration::from_millis(300)), "{err:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1300), "{elapsed:?}");
    drop(release_tx);
}

/// Sends 6 bytes, then 10 more through a body limited to 10 bytes; returns the call's error and
/// what the upstream's body read ended with (if the request reached it at all).
async fn over_limit_call(version: HttpVersion) -> (IntegrationError, Option<Result<Bytes, String>>) {
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let mut limited = settings(Scheme::Http, upstream.addr, vec![lit("/upload")]);
    limited.version = version;
    let integration = integration(&client, limited);
    let (mut chunks, body) = channel_body();
    let req =
        Request::builder().method(Method::POST).uri("/upload").body(Limited::new(body, 10).boxed()).unwrap();
    let context = ctx(&[]);
    let task = {
        let integration = Arc::clone(&integration);
        tokio::spawn(async move { integration.call(req, &context).await.map(|_| ()) })
    };
    chunks.send_data(Bytes::from_static(b"123456")).await.unwrap();
    chunks.send_data(Bytes::from_static(b"7890abcdef")).await.unwrap();
    let err = timeout(WAIT, task).await.unwrap().unwrap().unwrap_err();
    drop(chunks);
    let seen = timeout(Duration::from_secs(2), records.recv()).await.ok().flatten();
    (err, seen.map(|r| r.body))
}

#[tokio::test]
async fn a_request_body_over_the_limit_is_body_too_large_and_never_complete_upstream_h1() {
    let (err, seen) = over_limit_call(HttpVersion::Http1).await;
    assert!(matches!(err, IntegrationError::BodyTooLarge), "{err:?}");
    assert!(!matches!(seen, Some(Ok(_))), "upstream got a complete body: {seen:?}");
}

#[tokio::test]
async fn a_request_body_over_the_limit_is_body_too_large_and_never_complete_upstream_h2c() {
    let (err, seen) = over_limit_call(HttpVersion::Http2).await;
    assert!(matches!(err, IntegrationError::BodyTooLarge), "{err:?}");
    assert!(!matches!(seen, Some(Ok(_))), "upstream got a complete body: {seen:?}");
}

// === pool hygiene ===

#[tokio::test]
async fn idle_pooled_connections_are_closed_after_the_idle_timeout() {
    let (mut upstream, mut records) = recording_upstream(None).await;
    let client = HttpClient::new(ClientOptions {
        native_roots: false,
        pool_idle_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    })
    .unwrap();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/")]));
    let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "upstream-body");
    next_record(&mut records).await;

    // `client` and `integration` stay alive, so only the pool's idle reaper (which needs the
    // pool timer) can close this connection.
    timeout(WAIT, upstream.closed.recv()).await.expect("idle connection never closed").unwrap();
    drop(integration);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_not_reused() {
    // Answers one request per connection with a keep-alive response, then closes it: the pooled
    // connection dies while idle, and the next call must get a fresh one instead of an error.
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let addr = raw_upstream(move |mut stream| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            read_head(&mut stream).await;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
            let _ = stream.shutdown().await;
        }
    })
    .await;
    let integration = integration(&client(), settings(Scheme::Http, addr, vec![lit("/")]));
    for _ in 0..3 {
        let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
        assert_eq!(body_text(response).await, "ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_response_body_dropped_before_its_end_closes_the_connection_instead_of_pooling_it() {
    let (mut chunks_tx, stream_body) = channel_body();
    let stream_body = Arc::new(tokio::sync::Mutex::new(Some(stream_body)));
    let mut upstream = serve(None, move |req: Request<Incoming>| {
        let stream_body = Arc::clone(&stream_body);
        async move {
            if req.uri().path() == "/stream" {
                // The first call gets a body that never ends.
                return Response::new(stream_body.lock().await.take().unwrap().boxed());
            }
            Response::new(up_full("whole"))
        }
    })
    .await;
    let client = client();
    let streaming = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/stream")]));
    let whole = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/whole")]));

    let response = call(&streaming, get("/"), &ctx(&[])).await.unwrap();
    chunks_tx.send_data(Bytes::from_static(b"first")).await.unwrap();
    let mut body = response.into_body();
    let first = timeout(WAIT, body.frame()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    drop(body);
    // The connection is closed (its unread rest could not be skipped), not handed out again.
    timeout(WAIT, upstream.closed.recv()).await.expect("connection kept after a dropped body").unwrap();

    let response = call(&whole, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "whole");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

/// An upstream that answers `200 slow` after `delay`, counting connections.
async fn slow_upstream(delay: Duration) -> Upstream {
    serve(None, move |_req: Request<Incoming>| async move {
        tokio::time::sleep(delay).await;
        Response::new(up_full("slow"))
    })
    .await
}

async fn concurrent_calls(integration: &Arc<HttpIntegration>, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let integration = Arc::clone(integration);
            tokio::spawn(async move {
                let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
                body_text(response).await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), "slow");
    }
}

#[tokio::test]
async fn concurrent_calls_open_one_connection_each_and_all_are_reused_afterwards() {
    let upstream = slow_upstream(Duration::from_millis(100)).await;
    let integration = integration(&client(), settings(Scheme::Http, upstream.addr, vec![lit("/")]));
    concurrent_calls(&integration, 4).await;
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
    concurrent_calls(&integration, 4).await;
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn at_most_pool_max_idle_per_host_connections_stay_open_after_a_burst() {
    let mut upstream = slow_upstream(Duration::from_millis(100)).await;
    let client = HttpClient::new(ClientOptions {
        native_roots: false,
        pool_max_idle_per_host: 1,
        ..ClientOptions::default()
    })
    .unwrap();
    let integration = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/")]));
    concurrent_calls(&integration, 3).await;
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
    for _ in 0..2 {
        timeout(WAIT, upstream.closed.recv()).await.expect("surplus connection kept").unwrap();
    }
    concurrent_calls(&integration, 1).await;
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3, "the kept connection was not reused");
    assert!(upstream.closed.try_recv().is_err(), "the kept connection was closed");
}

#[tokio::test]
async fn routes_compiled_again_for_the_same_origin_share_its_pooled_connections() {
    // A reload compiles new integrations while the old ones still serve: the origin's pool, and
    // its open connections, carry over.
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let old = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/old")]));
    let response = call(&old, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "upstream-body");
    next_record(&mut records).await;

    let new = integration(&client, settings(Scheme::Http, upstream.addr, vec![lit("/new")]));
    drop(old);
    let response = call(&new, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "upstream-body");
    assert_eq!(next_record(&mut records).await.uri.path(), "/new");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

/// A TCP relay between the gateway and `target` that can black-hole traffic, to simulate an
/// upstream that silently died with its TCP connection still open.
struct Relay {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
    /// One message when the gateway side of a relayed connection closes.
    gateway_closed: mpsc::UnboundedReceiver<()>,
}

async fn relay(target: SocketAddr) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (frozen, frozen_rx) = watch::channel(false);
    let (closed_tx, gateway_closed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((gateway, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            let (mut from_gateway, mut to_gateway) = gateway.into_split();
            let (mut from_upstream, mut to_upstream) = upstream.into_split();
            let frozen = frozen_rx.clone();
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match from_gateway.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) if *frozen.borrow() => {}
                        Ok(n) => {
                            if to_upstream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = closed_tx.send(());
            });
            let frozen = frozen_rx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match from_upstream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) if *frozen.borrow() => {}
                        Ok(n) => {
                            if to_gateway.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    Relay { addr, frozen, gateway_closed }
}

#[tokio::test]
async fn a_dead_http2_upstream_is_detected_by_keep_alive_pings_and_leaves_the_pool() {
    let (upstream, mut records) = recording_upstream(None).await;
    let mut relay = relay(upstream.addr).await;
    let client = HttpClient::new(ClientOptions {
        native_roots: false,
        http2_keep_alive_interval: Duration::from_millis(100),
        http2_keep_alive_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    })
    .unwrap();
    let mut h2 = settings(Scheme::Http, relay.addr, vec![lit("/")]);
    h2.version = HttpVersion::Http2;
    let integration = integration(&client, h2);

    let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "upstream-body");
    assert_eq!(next_record(&mut records).await.version, Version::HTTP_2);

    relay.frozen.send_replace(true);
    timeout(WAIT, relay.gateway_closed.recv())
        .await
        .expect("the gateway kept a dead HTTP/2 connection")
        .unwrap();

    relay.frozen.send_replace(false);
    let response = call(&integration, get("/"), &ctx(&[])).await.unwrap();
    assert_eq!(body_text(response).await, "upstream-body");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

// === logging ===

/// Collects formatted log output.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_failure_logs_one_warning_with_the_upstream_path_but_no_query_or_credentials() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut refused = settings(Scheme::Http, addr, vec![lit("/svc/"), var("id")]);
    refused.target.query = Some("api_key=SECRET1".to_owned());
    let integration = integration(&client(), refused);
    let req = Request::builder()
        .uri("/items/42?token=SECRET2")
        .header("authorization", "Bearer SECRET3")
        .body(full(""))
        .unwrap();
    let err = call(&integration, req, &ctx(&[("id", "42")])).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Connect(_)), "{err:?}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
    assert!(text.contains(&format!("http://{addr}/svc/42")), "{text}");
    assert!(text.contains("could not connect"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn http1_connection_headers_do_not_break_an_http2_upstream() {
    // HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2): the upstream must get a
    // well-formed request without them and without the headers `Connection` named.
    let (upstream, mut records) = recording_upstream(None).await;
    let client = client();
    let mut h2 = settings(Scheme::Http, upstream.addr, vec![lit("/")]);
    h2.version = HttpVersion::Http2;
    let integration = integration(&client, h2);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header("host", "gw.example")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("transfer-encoding", "chunked")
        .header("upgrade", "websocket")
        .header("te", "gzip")
        .body(full("h1 to h2"))
        .unwrap();

    let response = call(&integration, req, &ctx(&[])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = next_record(&mut records).await;
    assert_eq!(seen.version, Version::HTTP_2);
    assert!(!seen.headers.contains_key("x-hop"));
    assert_eq!(seen.body.unwrap(), "h1 to h2");
}

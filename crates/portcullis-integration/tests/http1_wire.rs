//! HTTP/1.1 as the gateway speaks it to upstreams, byte for byte: request framing, response
//! framing, interim answers, trailers, limits, and when a connection may carry another request.
//!
//! The upstream here is a scripted TCP server on 127.0.0.1 that records each request's raw bytes
//! and answers with the next reply of its script, so every framing case is exactly what is sent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::{AuthContext, Body, CallContext, Params, RequestIdGenerator, full};
use portcullis_integration::http::{
    ClientOptions, HttpClient, HttpIntegration, HttpSettings, HttpVersion, PathPart, Scheme, UpstreamTarget,
};
use portcullis_integration::{Integration, IntegrationError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

mod common;
use common::{WAIT, body_text, channel_body};

/// One scripted answer: its bytes, and whether the upstream closes the connection after it.
struct Reply {
    bytes: Vec<u8>,
    close: bool,
}

fn reply(bytes: &str) -> Reply {
    Reply { bytes: bytes.as_bytes().to_vec(), close: false }
}

fn reply_then_close(bytes: &str) -> Reply {
    Reply { bytes: bytes.as_bytes().to_vec(), close: true }
}

struct Scripted {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// Each request's raw bytes (head and body) as the upstream read them.
    requests: mpsc::UnboundedReceiver<Vec<u8>>,
}

/// An upstream answering requests, on whatever connection they come, with `replies` in order.
/// With `head_only`, it answers as soon as a request's head is in, without reading its body.
async fn scripted(replies: Vec<Reply>, head_only: bool) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
    let (tx, requests) = mpsc::unbounded_channel();
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_script(stream, Arc::clone(&replies), tx.clone(), head_only));
        }
    });
    Scripted { addr, connections, requests }
}

async fn serve_script(
    mut stream: TcpStream,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    head_only: bool,
) {
    let mut pending = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut pending, head_only).await else { return };
        let _ = tx.send(request);
        let Some(reply) = replies.lock().unwrap().pop_front() else { return };
        if stream.write_all(&reply.bytes).await.is_err() {
            return;
        }
        if reply.close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// One request's bytes: the head, then a `content-length` or chunked body (unless `head_only`).
async fn read_request(stream: &mut TcpStream, pending: &mut Vec<u8>, head_only: bool) -> Option<Vec<u8>> {
    let head_end = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        fill(stream, pending).await?;
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).to_ascii_lowercase();
    let end = if head_only {
        head_end
    } else if head.contains("transfer-encoding: chunked") {
        loop {
            if let Some(at) = pending[head_end..].windows(5).position(|w| w == b"0\r\n\r\n") {
                break head_end + at + 5;
            }
            fill(stream, pending).await?;
        }
    } else {
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse::<usize>().unwrap());
        while pending.len() < head_end + length {
            fill(stream, pending).await?;
        }
        head_end + length
    };
    Some(pending.drain(..end).collect())
}

async fn fill(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            pending.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

async fn next_request(upstream: &mut Scripted) -> String {
    let raw = timeout(WAIT, upstream.requests.recv()).await.expect("no request").expect("upstream gone");
    String::from_utf8(raw).unwrap()
}

fn integration(addr: SocketAddr) -> HttpIntegration {
    let client = HttpClient::new(ClientOptions { native_roots: false, ..ClientOptions::default() }).unwrap();
    let settings = HttpSettings {
        target: UpstreamTarget {
            scheme: Scheme::Http,
            authority: addr.to_string().parse().unwrap(),
            path: vec![PathPart::Literal("/up".to_owned())],
            query: None,
            append_request_path: false,
        },
        timeout: Duration::from_secs(5),
        version: HttpVersion::Http1,
    };
    HttpIntegration::new(&client, settings)
}

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: "192.0.2.1:5555".parse().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: "GET /x".into(),
        params: Params::default(),
        received_at: SystemTime::now(),
        auth: AuthContext::None,
    }
}

fn request(method: Method, body: Body) -> Request<Body> {
    Request::builder().method(method).uri("/x").header("host", "gw.example").body(body).unwrap()
}

fn get() -> Request<Body> {
    request(Method::GET, full(""))
}

async fn call(integration: &HttpIntegration, req: Request<Body>) -> Result<Response<Body>, IntegrationError> {
    let ctx = ctx();
    timeout(WAIT, integration.call(req, &ctx)).await.expect("integration call hung")
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

// === response framing ===

#[tokio::test]
async fn a_chunked_response_with_extensions_and_trailers_is_decoded_and_its_connection_reused() {
    let mut upstream = scripted(
        vec![
            reply(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                 5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n",
            ),
            reply(OK),
        ],
        false,
    )
    .await;
    let integration = integration(upstream.addr);

    let response = call(&integration, get()).await.unwrap();
    assert!(response.headers().get("transfer-encoding").is_none(), "hop-by-hop framing header forwarded");
    let collected = timeout(WAIT, response.into_body().collect()).await.unwrap().unwrap();
    assert_eq!(collected.trailers().unwrap()["x-checksum"], "abc");
    assert_eq!(collected.to_bytes(), "hello world");

    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
    next_request(&mut upstream).await;
}

#[tokio::test]
async fn chunked_beside_a_content_length_is_read_as_chunked_and_the_connection_not_reused() {
    let upstream = scripted(
        vec![
            reply("HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            reply(OK),
        ],
        false,
    )
    .await;
    let integration = integration(upstream.addr);
    let response = call(&integration, get()).await.unwrap();
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(body_text(response).await, "abc");
    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_response_without_a_length_runs_to_the_close_and_its_connection_is_not_reused() {
    let upstream =
        scripted(vec![reply_then_close("HTTP/1.1 200 OK\r\n\r\nuntil the close"), reply(OK)], false).await;
    let integration = integration(upstream.addr);
    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "until the close");
    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn interim_answers_are_skipped_and_the_final_one_returned() {
    let upstream = scripted(
        vec![reply(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n\
             HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone",
        )],
        false,
    )
    .await;
    let response = call(&integration(upstream.addr), get()).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("link").is_none(), "an interim answer's header leaked");
    assert_eq!(body_text(response).await, "done");
}

#[tokio::test]
async fn an_unasked_switch_of_protocols_is_an_upstream_error() {
    let upstream =
        scripted(vec![reply("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n")], false).await;
    let err = call(&integration(upstream.addr), get()).await.unwrap_err();
    assert!(matches!(err, IntegrationError::Upstream(_)), "{err:?}");
}

#[tokio::test]
async fn head_no_content_and_not_modified_answers_have_no_body_and_keep_the_connection() {
    let upstream = scripted(
        vec![
            reply("HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"),
            reply("HTTP/1.1 204 No Content\r\n\r\n"),
            reply("HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\n\r\n"),
            reply(OK),
        ],
        false,
    )
    .await;
    let integration = integration(upstream.addr);

    let head = call(&integration, request(Method::HEAD, full(""))).await.unwrap();
    assert_eq!(head.headers()["content-length"], "1234", "a HEAD answer's length is the GET's");
    assert_eq!(body_text(head).await, "");
    let no_content = call(&integration, get()).await.unwrap();
    assert_eq!(no_content.status(), StatusCode::NO_CONTENT);
    assert_eq!(body_text(no_content).await, "");
    let not_modified = call(&integration, get()).await.unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(body_text(not_modified).await, "");
    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalid_or_conflicting_content_lengths_are_upstream_errors() {
    for head in [
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\ncontent-length: 0x5\r\n\r\nhello",
    ] {
        let upstream = scripted(vec![reply(head)], false).await;
        let err = call(&integration(upstream.addr), get()).await.unwrap_err();
        assert!(matches!(err, IntegrationError::Upstream(_)), "{head:?}: {err:?}");
    }
    // Repeated values that agree are one length (RFC 9110 §8.6).
    let upstream = scripted(vec![reply("HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\nok")], false).await;
    assert_eq!(body_text(call(&integration(upstream.addr), get()).await.unwrap()).await, "ok");
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_of_the_body() {
    let upstream =
        scripted(vec![reply_then_close("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello")], false).await;
    let response = call(&integration(upstream.addr), get()).await.unwrap();
    let err = timeout(WAIT, response.into_body().collect()).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("middle of the response"), "{err}");
}

#[tokio::test]
async fn an_invalid_chunk_size_is_an_error_of_the_body() {
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        // A bare LF inside an extension: where a lenient parser and a strict one disagree.
        "5;ext\nx\r\nhello\r\n0\r\n\r\n",
    ] {
        let head = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{body}");
        let upstream = scripted(vec![reply(&head)], false).await;
        let response = call(&integration(upstream.addr), get()).await.unwrap();
        let err = timeout(WAIT, response.into_body().collect()).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("invalid response"), "{body:?}: {err}");
    }
}

#[tokio::test]
async fn chunk_extensions_are_bounded_per_body() {
    // One-byte chunks, each with a 1 KiB extension: 20 KiB of extensions for 20 bytes.
    let extension = format!(";x={}", "e".repeat(1024));
    let chunks: String = (0..20).map(|_| format!("1{extension}\r\na\r\n")).collect();
    let head = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{chunks}0\r\n\r\n");
    let upstream = scripted(vec![reply(&head)], false).await;
    let response = call(&integration(upstream.addr), get()).await.unwrap();
    let err = timeout(WAIT, response.into_body().collect()).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("chunk extensions over 16 KiB"), "{err}");

    // Under the bound, extensions are read and ignored.
    let few: String = (0..5).map(|_| format!("1{extension}\r\na\r\n")).collect();
    let head = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{few}0\r\n\r\n");
    let upstream = scripted(vec![reply(&head)], false).await;
    assert_eq!(body_text(call(&integration(upstream.addr), get()).await.unwrap()).await, "aaaaa");
}

#[tokio::test]
async fn an_oversized_response_head_is_an_upstream_error() {
    let many = format!("HTTP/1.1 200 OK\r\n{}content-length: 0\r\n\r\n", "x-h: 1\r\n".repeat(101));
    let huge = format!("HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n", "a".repeat(401 * 1024));
    for head in [many, huge] {
        let upstream = scripted(vec![reply(&head)], false).await;
        let err = call(&integration(upstream.addr), get()).await.map(|r| r.status()).unwrap_err();
        assert!(matches!(err, IntegrationError::Upstream(_)), "{err:?}");
    }
}

// === connection reuse ===

#[tokio::test]
async fn http10_without_keep_alive_connection_close_and_trailing_bytes_end_a_connection() {
    let upstream = scripted(
        vec![
            reply("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"),
            reply("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"),
            reply("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA"),
            reply("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok"),
            reply(OK),
        ],
        false,
    )
    .await;
    let integration = integration(upstream.addr);
    for _ in 0..5 {
        assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    }
    // One connection each for the first three; the HTTP/1.0 keep-alive one carries the fifth.
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_early_answer_comes_back_while_the_upload_is_unfinished_and_its_connection_is_not_reused() {
    let upstream = scripted(
        vec![reply("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nnope"), reply(OK)],
        true,
    )
    .await;
    let integration = integration(upstream.addr);
    let (mut chunks, body) = channel_body();
    chunks.send_data(Bytes::from_static(b"first part")).await.unwrap();
    let response = call(&integration, request(Method::PUT, body.boxed())).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_text(response).await, "nope");
    drop(chunks);
    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

// === request framing ===

#[tokio::test]
async fn a_body_of_known_length_is_sent_with_its_length_whatever_the_client_declared() {
    let mut upstream = scripted(vec![reply(OK)], false).await;
    let mut req = request(Method::POST, full("abc"));
    req.headers_mut().insert("content-length", "99".parse().unwrap());
    req.headers_mut().insert("transfer-encoding", "chunked".parse().unwrap());
    assert_eq!(body_text(call(&integration(upstream.addr), req).await.unwrap()).await, "ok");
    let sent = next_request(&mut upstream).await;
    assert!(sent.starts_with("POST /up HTTP/1.1\r\n"), "{sent}");
    assert_eq!(sent.matches("content-length").count(), 1, "{sent}");
    assert!(sent.contains("content-length: 3\r\n"), "{sent}");
    assert!(!sent.contains("transfer-encoding"), "{sent}");
    assert!(sent.ends_with("\r\n\r\nabc"), "{sent}");
}

#[tokio::test]
async fn a_body_of_unknown_length_is_sent_chunked() {
    let mut upstream = scripted(vec![reply(OK)], false).await;
    let (mut chunks, body) = channel_body();
    let integration = integration(upstream.addr);
    let call =
        tokio::spawn(async move { call(&integration, request(Method::PUT, body.boxed())).await.is_ok() });
    chunks.send_data(Bytes::from_static(b"hello")).await.unwrap();
    chunks.send_data(Bytes::from(vec![b'x'; 5000])).await.unwrap();
    drop(chunks);
    let sent = next_request(&mut upstream).await;
    assert!(sent.contains("transfer-encoding: chunked\r\n"), "{sent}");
    assert!(!sent.contains("content-length"), "{sent}");
    let body = &sent[sent.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(body, format!("5\r\nhello\r\n1388\r\n{}\r\n0\r\n\r\n", "x".repeat(5000)));
    assert!(timeout(WAIT, call).await.unwrap().unwrap());
}

#[tokio::test]
async fn no_body_sends_no_framing_header_unless_the_client_declared_a_zero_length() {
    let mut upstream = scripted(vec![reply(OK), reply(OK)], false).await;
    let integration = integration(upstream.addr);
    assert_eq!(body_text(call(&integration, get()).await.unwrap()).await, "ok");
    let sent = next_request(&mut upstream).await;
    assert!(!sent.contains("content-length") && !sent.contains("transfer-encoding"), "{sent}");
    assert!(sent.contains("host: "), "{sent}");

    let mut post = request(Method::POST, full(""));
    post.headers_mut().insert("content-length", "0".parse().unwrap());
    assert_eq!(body_text(call(&integration, post).await.unwrap()).await, "ok");
    let sent = next_request(&mut upstream).await;
    assert!(sent.contains("content-length: 0\r\n") && sent.ends_with("\r\n\r\n"), "{sent}");
}

#[tokio::test]
async fn a_long_streamed_upload_arrives_whole_in_order() {
    let mut upstream = scripted(vec![reply(OK)], false).await;
    let (mut chunks, body) = channel_body();
    let integration = integration(upstream.addr);
    let call =
        tokio::spawn(async move { call(&integration, request(Method::PUT, body.boxed())).await.is_ok() });
    let mut expected = Vec::new();
    for i in 0..300u32 {
        // Small parts are copied beside the framing, large ones queued: both, interleaved, many
        // times the writer's batch.
        let len = if i % 10 == 0 { 20_000 } else { 1_000 };
        let part: Vec<u8> = (0..len).map(|j| b'a' + ((i as usize + j) % 26) as u8).collect();
        expected.extend_from_slice(&part);
        chunks.send_data(Bytes::from(part)).await.unwrap();
    }
    drop(chunks);
    let sent = timeout(WAIT, upstream.requests.recv()).await.unwrap().unwrap();
    let body_at = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(dechunk(&sent[body_at..]), expected);
    assert!(timeout(WAIT, call).await.unwrap().unwrap());
}

/// The data of a chunked body (no extensions, no trailers), checking its framing.
fn dechunk(mut wire: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let line_end = wire.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&wire[..line_end]).unwrap(), 16).unwrap();
        wire = &wire[line_end + 2..];
        if size == 0 {
            assert_eq!(wire, b"\r\n");
            return data;
        }
        data.extend_from_slice(&wire[..size]);
        assert_eq!(&wire[size..size + 2], b"\r\n");
        wire = &wire[size + 2..];
    }
}

#[tokio::test]
async fn an_answer_that_came_before_the_upstream_stopped_reading_wins_over_the_failed_upload() {
    // The upstream answers as soon as the head is in, then closes with the upload unread (so
    // the kernel resets the connection, and the gateway's next write fails).
    let upstream = scripted(
        vec![reply_then_close("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nnope")],
        true,
    )
    .await;
    let upload = full(Bytes::from(vec![b'x'; 8 << 20]));
    let response = call(&integration(upstream.addr), request(Method::PUT, upload)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_text(response).await, "nope");
}

#[tokio::test]
async fn a_clients_request_trailers_are_not_forwarded() {
    let mut upstream = scripted(vec![reply(OK)], false).await;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
    trailers.insert("authorization", "Bearer smuggled".parse().unwrap());
    let (mut frames, body) = channel_body();
    frames.send_data(Bytes::from_static(b"hello")).await.unwrap();
    frames.send_trailers(trailers).await.unwrap();
    drop(frames);
    let response = call(&integration(upstream.addr), request(Method::POST, body.boxed())).await.unwrap();
    assert_eq!(body_text(response).await, "ok");
    let sent = next_request(&mut upstream).await;
    assert!(sent.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "{sent}");
    assert!(!sent.contains("smuggled") && !sent.contains("10.0.0.1"), "{sent}");
}

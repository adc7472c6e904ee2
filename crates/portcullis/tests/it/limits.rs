//! Size and time limits: 431, 413, slow headers, idle connections, bounded memory on streams.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient};

#[tokio::test]
async fn headers_over_10240_bytes_get_431_and_reach_nobody() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!("routes:\n  GET /h:\n    http: {}/h\n", up.url()));
    let client = TestClient::http1();
    let big = "a".repeat(10_300);
    let reply = client.send(Method::GET, &gw.url("/h"), &[("x-big", big.as_str())], "").await;
    assert_eq!(reply.status, 431);
    assert_eq!(reply.text(), r#"{"message":"Request Header Fields Too Large"}"#);
    let fine = "a".repeat(9_000);
    assert_eq!(client.send(Method::GET, &gw.url("/h"), &[("x-big", fine.as_str())], "").await.status, 200);
    assert_eq!(up.count(), 1, "only the request within the limit reached the upstream");
}

#[tokio::test]
async fn bodies_over_max_body_get_413_whether_announced_or_chunked() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw =
        Gw::start(&format!("limits:\n  max_body: 1000\nroutes:\n  POST /u:\n    http: {}/u\n", up.url()));
    let client = TestClient::http1();
    let reply = client.send(Method::POST, &gw.url("/u"), &[], vec![b'x'; 1001]).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.text(), r#"{"message":"Request Entity Too Large"}"#);
    assert_eq!(up.count(), 0, "an announced oversized body never reaches the upstream");
    assert_eq!(client.send(Method::POST, &gw.url("/u"), &[], vec![b'x'; 1000]).await.status, 200);

    // Chunked, no content-length: cut off mid-stream.
    let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![b'y'; 400]))));
    let body = StreamBody::new(futures_stream(chunks.collect()));
    let request = http::Request::post(gw.url("/u")).body(body).unwrap();
    let plain: Client<_, _> = Client::builder(TokioExecutor::new()).build_http();
    let response = plain.request(request).await.unwrap();
    assert_eq!(response.status(), 413);
    let upstream_complete = up.requests().iter().any(|r| r.body_len == 1600);
    assert!(!upstream_complete, "the upstream must not receive the whole oversized body");
}

fn futures_stream<T: Send + 'static>(items: Vec<T>) -> futures_util::stream::Iter<std::vec::IntoIter<T>> {
    futures_util::stream::iter(items)
}

#[tokio::test]
async fn a_client_sending_headers_too_slowly_is_cut_off() {
    let gw = Gw::start("limits:\n  header_timeout: 1s\nroutes:\n  GET /: {respond: {body: ok}}\n");
    let mut slow = TcpStream::connect(gw.proc.listen).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 5 s");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "closed after {took:?}");
    // A well-behaved client is still served.
    assert_eq!(TestClient::http1().get(&gw.url("/")).await.text(), "ok");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let gw = Gw::start(
        "limits:\n  idle_timeout: 1s\n  header_timeout: 10s\nroutes:\n  GET /: {respond: {body: ok}}\n",
    );
    let mut conn = TcpStream::connect(gw.proc.listen).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(std::str::from_utf8(&buf[..n]).unwrap().starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "idle connection not closed within 5 s");
    assert!(started.elapsed() >= Duration::from_millis(800), "closed too early: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_1_gb_upload_streams_through_without_growing_gateway_memory() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "limits:\n  max_body: 2GB\nroutes:\n  POST /upload:\n    http: {}/sink\n",
        up.url()
    ));
    // Warm up, then measure the baseline.
    assert_eq!(TestClient::http1().send(Method::POST, &gw.url("/upload"), &[], "warm").await.status, 200);
    let baseline_kb = gw.proc.memory_kb("VmRSS");

    const CHUNK: usize = 256 * 1024;
    const CHUNKS: usize = 4096; // 1 GiB
    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let frames = (0..CHUNKS).map(move |_| Ok::<_, std::io::Error>(Frame::data(chunk.clone())));
    let body = StreamBody::new(futures_stream(frames.collect()));
    let request = http::Request::post(gw.url("/upload")).body(body).unwrap();
    let client: Client<_, _> = Client::builder(TokioExecutor::new()).build_http();
    let response =
        tokio::time::timeout(Duration::from_secs(240), client.request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect().await;

    let total = (CHUNK * CHUNKS) as u64;
    assert_eq!(up.requests().last().unwrap().body_len, total, "upstream received every byte");
    let peak_kb = gw.proc.memory_kb("VmHWM");
    eprintln!("gateway RSS baseline {baseline_kb} kB, peak {peak_kb} kB over a {total}-byte upload");
    assert!(
        peak_kb < baseline_kb + 64 * 1024,
        "gateway memory grew from {baseline_kb} kB to a {peak_kb} kB peak"
    );
}

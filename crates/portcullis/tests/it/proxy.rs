//! HTTP proxy integration end to end: what the upstream receives, what the client gets back.

use std::time::{Duration, Instant};

use http::Method;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, wait_until};

#[tokio::test]
async fn variables_are_substituted_and_the_request_is_forwarded_faithfully() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "routes:\n  POST /pets/{{id}}:\n    http: {u}/backend/pets/{{id}}\n",
        u = up.url()
    ));
    let reply = TestClient::http1()
        .send(
            Method::POST,
            &gw.url("/pets/a%20b?x=1&y=%2F"),
            &[("content-type", "text/plain"), ("x-custom", "kept"), ("host", "api.example.com")],
            "hello body",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), r#"{"upstream":true}"#);
    assert_eq!(reply.header("x-upstream"), Some("yes"));
    let request_id = reply.header("apigw-requestid").expect("request id").to_owned();

    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri.path(), "/backend/pets/a%20b", "raw value substituted, not decoded");
    assert_eq!(r.uri.query(), Some("x=1&y=%2F"));
    assert_eq!(&r.body[..], b"hello body");
    assert_eq!(r.headers["x-custom"], "kept");
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.headers["apigw-requestid"], request_id.as_str());
    assert_eq!(r.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(r.headers["x-forwarded-proto"], "http");
    assert_eq!(r.headers["x-forwarded-host"], "api.example.com");
    assert_eq!(r.headers["host"], up.addr().to_string().as_str());
}

#[tokio::test]
async fn greedy_proxy_and_default_route_paths() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "routes:\n  ANY /files/{{proxy+}}:\n    http: {u}/static/{{proxy}}\n  $default:\n    http: {u}\n",
        u = up.url()
    ));
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/files/a/b%2Fc/d.txt")).await.status, 200);
    assert_eq!(client.send(Method::DELETE, &gw.url("/somewhere/else?q=1"), &[], "").await.status, 200);
    let seen = up.requests();
    assert_eq!(seen[0].uri.path(), "/static/a/b%2Fc/d.txt");
    assert_eq!(seen[1].method, Method::DELETE);
    assert_eq!(seen[1].uri.path(), "/somewhere/else");
    assert_eq!(seen[1].uri.query(), Some("q=1"));
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let up = RecordingUpstream::start(Behavior::Fixed(
        200,
        vec![
            ("connection", "x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("x-end", "ok"),
        ],
        "done",
    ))
    .await;
    let gw = Gw::start(&format!("routes:\n  GET /h:\n    http: {}/h\n", up.url()));
    let reply = TestClient::http1()
        .send(
            Method::GET,
            &gw.url("/h"),
            &[
                ("connection", "x-client-hop"),
                ("x-client-hop", "1"),
                ("te", "trailers"),
                ("proxy-authorization", "Basic x"),
                ("x-keep", "1"),
            ],
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-end"), Some("ok"));
    assert!(reply.header("x-secret-hop").is_none(), "header named in upstream Connection leaked");
    assert!(reply.header("keep-alive").is_none());
    let seen = &up.requests()[0];
    assert_eq!(seen.headers["x-keep"], "1");
    for hop in ["x-client-hop", "te", "proxy-authorization"] {
        assert!(!seen.headers.contains_key(hop), "{hop} reached the upstream");
    }
}

#[tokio::test]
async fn upstream_down_is_500_and_slow_upstream_is_503_within_the_timeout() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let slow = RecordingUpstream::start(Behavior::Never).await;
    let gw = Gw::start(&format!(
        "routes:\n  GET /down:\n    http: http://{closed}/x\n  GET /slow:\n    http: {}/x\n    timeout: 500ms\n",
        slow.url()
    ));
    let client = TestClient::http1();
    let down = client.get(&gw.url("/down")).await;
    assert_eq!(down.status, 500);
    assert_eq!(down.text(), r#"{"message":"Internal Server Error"}"#);

    let started = Instant::now();
    let timed_out = client.get(&gw.url("/slow")).await;
    let took = started.elapsed();
    assert_eq!(timed_out.status, 503);
    assert_eq!(timed_out.text(), r#"{"message":"Service Unavailable"}"#);
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "took {took:?}");

    // Lines are written when the response body ends, by a writer thread: wait for them.
    assert!(
        wait_until(Duration::from_secs(5), || gw.access_log().iter().any(|l| l["path"] == "/slow")).await
    );
    let log = gw.access_log();
    let slow_line = log.iter().find(|l| l["path"] == "/slow").expect("access log line for /slow");
    assert_eq!(slow_line["status"], 503);
    assert_eq!(slow_line["error"], "integration_timeout");
    assert_eq!(slow_line["route_key"], "GET /slow");
}

#[tokio::test]
async fn upstream_that_resets_the_connection_is_500() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            drop(stream);
        }
    });
    let gw = Gw::start(&format!("routes:\n  GET /r:\n    http: http://{addr}/r\n"));
    let reply = TestClient::http1().get(&gw.url("/r")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), r#"{"message":"Internal Server Error"}"#);
}

#[tokio::test]
async fn access_log_has_one_structured_line_per_request() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!("routes:\n  GET /pets/{{id}}:\n    http: {}/p/{{id}}\n", up.url()));
    let reply =
        TestClient::http1().send(Method::GET, &gw.url("/pets/42"), &[("user-agent", "it-test/1")], "").await;
    let id = reply.header("apigw-requestid").unwrap().to_owned();
    assert!(crate::harness::wait_until(Duration::from_secs(5), || !gw.access_log().is_empty()).await);
    let log = gw.access_log();
    assert_eq!(log.len(), 1, "{log:?}");
    let line = &log[0];
    assert_eq!(line["request_id"], id.as_str());
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route_key"], "GET /pets/{id}");
    assert_eq!(line["path"], "/pets/42");
    assert_eq!(line["status"], 200);
    assert_eq!(line["response_bytes"], r#"{"upstream":true}"#.len());
    assert_eq!(line["source_ip"], "127.0.0.1");
    assert_eq!(line["authorizer"], "none");
    assert_eq!(line["user_agent"], "it-test/1");
    assert!(line["latency_ms"].as_f64().unwrap() >= line["integration_latency_ms"].as_f64().unwrap());
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn http2_clients_are_served_over_h2c_and_upstreams_still_get_http1() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!("routes:\n  GET /h2:\n    http: {}/h2\n", up.url()));
    let reply = TestClient::h2c().get(&gw.url("/h2")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(up.requests()[0].version, http::Version::HTTP_11);
    assert!(wait_until(Duration::from_secs(5), || !gw.access_log().is_empty()).await);
    assert_eq!(gw.access_log()[0]["protocol"], "HTTP/2.0");
}

#[tokio::test]
async fn keep_alive_connections_to_the_upstream_are_reused() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!("routes:\n  GET /k:\n    http: {}/k\n", up.url()));
    let client = TestClient::http1();
    for _ in 0..20 {
        assert_eq!(client.get(&gw.url("/k")).await.status, 200);
    }
    assert_eq!(up.count(), 20);
    assert_eq!(up.connections(), 1, "sequential requests should share one pooled connection");
}

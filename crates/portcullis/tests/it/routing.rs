//! Route selection end to end: AWS priority (docs/aws-compatibility.md#routes-and-route-selection),
//! 404s, method handling.

use http::Method;

use crate::harness::{Gw, TestClient};

/// Each route answers with its own key, so the body says which route won.
fn priority_config() -> String {
    let routes = [
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
        "GET /pets",
        "ANY /pets",
        "POST /pets",
        "GET /pets/{id}/toys",
        "GET /pets/{id}/{toy}",
        "GET /a/{x}/c",
        "GET /a/b/{y}",
        "GET /{x}/b/c",
        "GET /files/{proxy+}",
        "GET /files/readme",
        "DELETE /files/{name}",
        "GET /",
        "ANY /orders/{id}",
        "PUT /orders/{id}",
        "GET /trailing/",
        "GET /case/Lower",
        "OPTIONS /pets",
        "$default",
    ];
    let mut yaml = String::from("routes:\n");
    for key in routes {
        yaml.push_str(&format!("  \"{key}\":\n    respond: {{status: 200, body: \"{key}\"}}\n"));
    }
    yaml
}

#[tokio::test]
async fn route_priority_table_matches_aws() {
    let gw = Gw::start(&priority_config());
    let client = TestClient::http1();
    let cases: &[(&str, &str, &str)] = &[
        // The documented examples (docs/aws-compatibility.md#routes-and-route-selection).
        ("GET", "/pets/dog/1", "GET /pets/dog/1"),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
        ("GET", "/pets/cat/1", "GET /pets/{id}/{toy}"),
        ("GET", "/pets/cat/1/2", "GET /pets/{proxy+}"),
        ("POST", "/test/5", "ANY /{proxy+}"),
        // Literal beats variable beats greedy.
        ("GET", "/pets/7/toys", "GET /pets/{id}/toys"),
        ("GET", "/pets/7/balls", "GET /pets/{id}/{toy}"),
        ("GET", "/files/readme", "GET /files/readme"),
        ("GET", "/files/a/b/c.txt", "GET /files/{proxy+}"),
        ("GET", "/files/other", "GET /files/{proxy+}"),
        ("DELETE", "/files/other", "DELETE /files/{name}"),
        ("DELETE", "/files/a/b", "ANY /{proxy+}"),
        // More literal segments win; ties broken left to right.
        ("GET", "/a/b/c", "GET /a/b/{y}"),
        ("GET", "/z/b/c", "GET /{x}/b/c"),
        ("GET", "/a/q/c", "GET /a/{x}/c"),
        // Specific method beats ANY on the same path.
        ("GET", "/pets", "GET /pets"),
        ("POST", "/pets", "POST /pets"),
        ("PATCH", "/pets", "ANY /pets"),
        ("OPTIONS", "/pets", "OPTIONS /pets"),
        ("HEAD", "/pets", "ANY /pets"),
        ("PUT", "/orders/9", "PUT /orders/{id}"),
        ("GET", "/orders/9", "ANY /orders/{id}"),
        // Root and trailing slashes are exact.
        ("GET", "/", "GET /"),
        ("POST", "/", "ANY /{proxy+}"),
        ("GET", "/trailing/", "GET /trailing/"),
        ("GET", "/trailing", "ANY /{proxy+}"),
        // Case-sensitive literals.
        ("GET", "/case/Lower", "GET /case/Lower"),
        ("GET", "/case/lower", "ANY /{proxy+}"),
        // Percent-encoded literal segments are compared decoded.
        ("GET", "/pets/dog/%31", "GET /pets/dog/1"),
    ];
    assert!(cases.len() >= 25);
    for (method, path, expected) in cases {
        let reply = client.send(method.parse::<Method>().unwrap(), &gw.url(path), &[], "").await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text());
        if *method != "HEAD" {
            assert_eq!(reply.text(), *expected, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn greedy_beats_default_and_default_catches_the_rest() {
    let gw = Gw::start(
        "routes:\n  GET /api/{proxy+}: {respond: {body: greedy}}\n  $default: {respond: {body: default}}\n",
    );
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/api/x/y")).await.text(), "greedy");
    assert_eq!(client.get(&gw.url("/api")).await.text(), "default");
    assert_eq!(client.send(Method::POST, &gw.url("/api/x"), &[], "").await.text(), "default");
    assert_eq!(client.get(&gw.url("/elsewhere")).await.text(), "default");
}

#[tokio::test]
async fn a_miss_is_awss_404_with_json_body_and_request_id() {
    let gw = Gw::start("routes:\n  GET /pets: {respond: {body: pets}}\n");
    let client = TestClient::http1();
    for (method, path) in [(Method::GET, "/nope"), (Method::POST, "/pets"), (Method::GET, "/pets/")] {
        let reply = client.send(method.clone(), &gw.url(path), &[], "").await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.text(), r#"{"message":"Not Found"}"#);
        assert_eq!(reply.header("content-type"), None, "AWS sends no content-type on its own answers");
        let id = reply.header("apigw-requestid").expect("request id on errors too");
        assert_eq!(id.len(), 16);
    }
}

#[tokio::test]
async fn dot_segments_and_bad_encoding_are_refused_not_routed() {
    let gw = Gw::start("routes:\n  ANY /{proxy+}: {respond: {body: any}}\n");
    let client = TestClient::http1();
    // `percent%25done`: API Gateway decodes paths twice and refuses what it cannot decode.
    for path in ["/a/../b", "/a/%2e%2e/b", "/a/./b", "/a/%zz", "/a/percent%25done"] {
        let reply = client.get(&gw.url(path)).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert_eq!(reply.text(), r#"{"message":"Bad Request"}"#);
    }
}

#[tokio::test]
async fn ten_thousand_routes_load_and_match() {
    let mut yaml = String::from("routes:\n");
    for i in 0..10_000 {
        yaml.push_str(&format!("  GET /r{i}/{{id}}: {{respond: {{body: r{i}}}}}\n"));
    }
    let gw = Gw::start(&yaml);
    let client = TestClient::http1();
    for i in [0, 1, 4_999, 9_999] {
        let reply = client.get(&gw.url(&format!("/r{i}/x"))).await;
        assert_eq!(reply.text(), format!("r{i}"));
    }
    assert_eq!(client.get(&gw.url("/r10000/x")).await.status, 404);
}

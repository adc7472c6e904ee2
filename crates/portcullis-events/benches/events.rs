//! Cost of building and serializing the Lambda events of every request to a function route
//! (payload 1.0 and 2.0) and of parsing a function's answer.
//!
//! Run: `cargo bench -p portcullis-events --bench events -- --quick`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use portcullis_core::{AuthContext, CallContext, JwtContext, Param, Params, RequestIdGenerator};
use portcullis_events::{RequestFacts, request_v1, request_v2, response_v1, response_v2};
use serde_json::json;

/// A typical API request: a few headers (one cookie), a query string, one path parameter.
fn parts(body_type: &str) -> http::request::Parts {
    Request::post("/pets/42?limit=10&sort=name&tag=a&tag=b")
        .header("host", "api.example.com")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .header("content-type", body_type)
        .header("cookie", "session=abc; theme=dark")
        .header("x-request-id", "5f1d3c2e-8b7a-4e61-9d0c-1234567890ab")
        .body(())
        .expect("valid bench request")
        .into_parts()
        .0
}

fn ctx(auth: AuthContext) -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(7).next_id(),
        client_addr: "203.0.113.9:54321".parse().expect("valid address"),
        tls: true,
        local_port: 443,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("POST /pets/{id}"),
        params: Params(vec![Param { name: Arc::from("id"), raw: "42".into(), decoded: "42".into() }]),
        received_at: SystemTime::now(),
        auth,
    }
}

fn jwt() -> AuthContext {
    let claims = json!({
        "iss": "https://issuer.example/", "sub": "user-123", "aud": "api",
        "exp": 2_000_000_000u64, "iat": 1_700_000_000u64, "scope": "pets:read pets:write",
    });
    let serde_json::Value::Object(claims) = claims else { unreachable!("an object literal") };
    AuthContext::Jwt(JwtContext { claims: Arc::new(claims), scopes: None })
}

fn bench(c: &mut Criterion) {
    let json_body = br#"{"name":"Rex","kind":"dog","age":3}"#.to_vec();
    let binary_body = vec![0xA5u8; 1024];
    let json_parts = parts("application/json");
    let binary_parts = parts("application/octet-stream");
    let public = ctx(AuthContext::None);
    let with_jwt = ctx(jwt());
    let facts = |parts, body, ctx| RequestFacts {
        parts,
        body,
        ctx,
        stage: "$default",
        api_id: "portcullis",
        account_id: "000000000000",
        domain: None,
        stage_variables: &[],
    };

    let mut group = c.benchmark_group("event");
    let json_public = facts(&json_parts, &json_body, &public);
    let json_jwt = facts(&json_parts, &json_body, &with_jwt);
    let binary = facts(&binary_parts, &binary_body, &public);
    group.bench_function("request_v2/json_body", |b| b.iter(|| request_v2(black_box(&json_public))));
    group.bench_function("request_v2/json_body_jwt", |b| b.iter(|| request_v2(black_box(&json_jwt))));
    group.bench_function("request_v2/binary_1k", |b| b.iter(|| request_v2(black_box(&binary))));
    group.bench_function("request_v1/json_body", |b| b.iter(|| request_v1(black_box(&json_public))));
    group.bench_function("request_v1/json_body_jwt", |b| b.iter(|| request_v1(black_box(&json_jwt))));

    let answer_v2 = br#"{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"ok\":true}","cookies":["a=1"]}"#;
    let answer_v1 = br#"{"statusCode":200,"headers":{"content-type":"application/json"},"multiValueHeaders":{"x-a":["1","2"]},"body":"{\"ok\":true}","isBase64Encoded":false}"#;
    group.bench_function("response_v2/full", |b| b.iter(|| response_v2(black_box(answer_v2))));
    group.bench_function("response_v2/bare_string", |b| b.iter(|| response_v2(black_box(br#""hello""#))));
    group.bench_function("response_v1/full", |b| b.iter(|| response_v1(black_box(answer_v1))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Cost of rule evaluation per request: one simple claim rule, three rules,
//! a header rule, and building the `claims` value alone.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_core::{AuthContext, CallContext, JwtContext, Param, Params, RequestIdGenerator};
use portcullis_rules::{Rule, RuleSet};
use serde_json::{Map, Value, json};

/// A typical Clerk session token's claims, customised with `metadata` as in the Clerk guide.
fn clerk_claims() -> Map<String, Value> {
    match json!({
        "azp": "https://app.example.com",
        "exp": 1_700_000_600,
        "fva": [0, -1],
        "iat": 1_700_000_000,
        "iss": "https://clerk.example.com",
        "nbf": 1_699_999_990,
        "sid": "sess_2XyZabcDEFghiJKLmno",
        "sub": "user_2XyzabcDEFghiJKLmno",
        "v": 2,
        "metadata": {"role": "admin", "tenant": "acme"},
        "org_id": "org_2abcDEF",
        "org_role": "org:admin",
        "org_slug": "acme",
        "cognito:groups": ["admin", "users"]
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn request() -> (http::request::Parts, CallContext) {
    let (parts, ()) = http::Request::builder()
        .method("GET")
        .uri("/pets/42?limit=10")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "*/*")
        .header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig")
        .header("x-tenant", "acme")
        .header("x-request-id", "7f3c2a")
        .body(())
        .expect("request")
        .into_parts();
    let addr: SocketAddr = "203.0.113.7:54321".parse().expect("addr");
    let ctx = CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: addr,
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /pets/{id}"),
        params: Params(vec![Param { name: Arc::from("id"), raw: "42".into(), decoded: "42".into() }]),
        received_at: SystemTime::now(),
        auth: AuthContext::Jwt(JwtContext { claims: Arc::new(clerk_claims()), scopes: None }),
    };
    (parts, ctx)
}

fn set(sources: &[&str]) -> RuleSet {
    RuleSet::new(sources.iter().map(|s| Rule::compile(s).expect("rule compiles")).collect())
}

fn benches(c: &mut Criterion) {
    let (parts, ctx) = request();
    let cases: [(&str, RuleSet); 8] = [
        ("matches_rule", set(&["claims.sub.matches('^user_[A-Za-z0-9]+$')"])),
        ("constant_true", set(&["true"])),
        ("method_rule", set(&["request.method == 'GET'"])),
        ("one_claim_rule", set(&["claims.metadata.role == 'admin'"])),
        (
            "three_rules",
            set(&[
                "claims.metadata.role == 'admin'",
                "'admin' in claims['cognito:groups']",
                "claims.sub.startsWith('user_')",
            ]),
        ),
        ("header_rule", set(&["request.headers['x-tenant'] == claims.metadata.tenant"])),
        ("whole_claims_rule", set(&["'sub' in claims"])),
        ("whole_headers_rule", set(&["size(request.headers) > 0"])),
    ];
    for (name, rules) in &cases {
        rules.evaluate(&parts, &ctx).expect("rule holds");
        c.bench_function(&format!("rules/evaluate/{name}"), |b| {
            b.iter(|| black_box(rules.evaluate(black_box(&parts), black_box(&ctx))))
        });
    }
    let AuthContext::Jwt(jwt) = &ctx.auth else { unreachable!() };
    c.bench_function("rules/build_claims_value", |b| {
        b.iter(|| black_box(portcullis_rules::bench_support::claims_value(black_box(&jwt.claims))))
    });
    c.bench_function("rules/compile", |b| {
        b.iter(|| black_box(Rule::compile(black_box("claims.metadata.role == 'admin'"))))
    });
}

criterion_group!(rules, benches);
criterion_main!(rules);

//! Lambda-authorizer overhead on the gateway side, with an in-process function
//! that answers instantly, so the figures are Portcullis's own cost, not the function's:
//! - `uncached`: identity, ARN, event serialization, the invocation seam, answer parsing, policy
//!   evaluation (`result_ttl: 0`): what every request pays without a cache, on top of the
//!   function's own run time;
//! - `cached`: the same identity served from the answer cache, policy evaluated for this ARN;
//! - `simple_cached`: a cached simple answer.
//!
//! The end-to-end figures with a real Node authorizer are in docs/benchmarks.md.
//! Run: `cargo bench -p portcullis-authz --bench lambda_authorizer`

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_authz::lambda::{AuthorizerFunction, LambdaAuthorizer, LambdaEvent, LambdaSettings, Variable};
use portcullis_authz::{Authorizer, BoxFuture, RouteAuth, Trace};
use portcullis_core::{AuthContext, CallContext, Params, RequestIdGenerator};
use portcullis_functions::InvokeError;

/// Answers every invocation with the same bytes, at once.
struct Canned(Bytes);

impl AuthorizerFunction for Canned {
    fn invoke<'a>(
        &'a self,
        _payload: Bytes,
        _request_id: &'a str,
        _trace: &'a portcullis_core::TraceId,
        _deadline: std::time::Duration,
    ) -> BoxFuture<'a, Result<Bytes, InvokeError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
    fn name(&self) -> &str {
        "canned"
    }
}

const POLICY: &str = r#"{"principalId":"user_1","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:123456789012:portcullis/$default/GET/*"}]},"context":{"role":"admin","tenant":"acme","n":3}}"#;
const SIMPLE: &str = r#"{"isAuthorized":true,"context":{"role":"admin","tenant":"acme"}}"#;

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: "127.0.0.1:40000".parse().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: "GET /admin/{proxy+}".into(),
        params: Params::default(),
        received_at: SystemTime::now(),
        auth: AuthContext::None,
    }
}

fn authorizer(event: LambdaEvent, ttl: u64, answer: &str, simple: bool) -> LambdaAuthorizer {
    let mut s = LambdaSettings::new("bench", event);
    s.result_ttl = Duration::from_secs(ttl);
    s.simple_responses = simple;
    if event != LambdaEvent::Token {
        s.identity_source = vec![Variable::Header(http::header::AUTHORIZATION)];
    }
    LambdaAuthorizer::new(s, Arc::new(Canned(Bytes::from(answer.to_owned())))).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let ctx = ctx();
    let route = RouteAuth::default();
    let parts = || {
        http::Request::builder()
            .uri("/admin/users?page=2")
            .header("host", "api.example.com")
            .header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2ln")
            .header("user-agent", "bench")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let cases = [
        ("token/uncached", authorizer(LambdaEvent::Token, 0, POLICY, false)),
        ("token/cached", authorizer(LambdaEvent::Token, 300, POLICY, false)),
        ("request_v2/uncached", authorizer(LambdaEvent::RequestV2, 0, POLICY, false)),
        ("request_v2/cached", authorizer(LambdaEvent::RequestV2, 300, POLICY, false)),
        ("request_v2_simple/cached", authorizer(LambdaEvent::RequestV2, 300, SIMPLE, true)),
    ];
    let mut group = c.benchmark_group("lambda_authorizer");
    group.throughput(Throughput::Elements(1));
    for (name, a) in &cases {
        assert!(rt.block_on(a.authorize(&mut parts(), &ctx, &route, &mut Trace::off())).is_ok(), "{name}");
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                parts,
                |p| rt.block_on(a.authorize(p, &ctx, &route, &mut Trace::off())).is_ok(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

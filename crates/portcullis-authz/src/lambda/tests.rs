use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, SystemTime};

use portcullis_core::RequestIdGenerator;
use serde_json::json;

use super::*;

type Answerer = dyn Fn(&Value, usize) -> Result<Bytes, InvokeError> + Send + Sync;

/// A function that answers from a closure and counts its invocations.
struct Fake {
    calls: AtomicUsize,
    delay: Duration,
    answer: Box<Answerer>,
    events: Mutex<Vec<Value>>,
    deadlines: Mutex<Vec<Duration>>,
    traces: Mutex<Vec<String>>,
}

impl Fake {
    fn new(
        answer: impl Fn(&Value, usize) -> Result<Bytes, InvokeError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Self::slow(Duration::ZERO, answer)
    }
    fn slow(
        delay: Duration,
        answer: impl Fn(&Value, usize) -> Result<Bytes, InvokeError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            delay,
            answer: Box::new(answer),
            events: Mutex::new(Vec::new()),
            deadlines: Mutex::new(Vec::new()),
            traces: Mutex::new(Vec::new()),
        })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn last_event(&self) -> Value {
        self.events.lock().unwrap().last().cloned().unwrap()
    }
}

impl AuthorizerFunction for Fake {
    fn invoke<'a>(
        &'a self,
        payload: Bytes,
        _request_id: &'a str,
        trace: &'a portcullis_core::TraceId,
        deadline: std::time::Duration,
    ) -> BoxFuture<'a, Result<Bytes, InvokeError>> {
        Box::pin(async move {
            self.deadlines.lock().unwrap().push(deadline);
            self.traces.lock().unwrap().push(trace.header().to_owned());
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let event: Value = serde_json::from_slice(&payload).unwrap();
            self.events.lock().unwrap().push(event.clone());
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            (self.answer)(&event, n)
        })
    }
    fn name(&self) -> &str {
        "fake"
    }
}

fn policy_for(effect: &str, resource: Value, context: Value) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ]},
            "context": context,
        }))
        .unwrap(),
    )
}

/// The Clerk guide's authorizer: Allow for the requested methodArn only, with context.
fn clerk_like() -> Arc<Fake> {
    Fake::new(|event, _| {
        let arn = event["methodArn"].clone();
        if event["authorizationToken"] == "Bearer admin" {
            Ok(policy_for("Allow", arn, json!({"role": "admin", "tenant": "t-1", "n": 7})))
        } else {
            Ok(policy_for("Deny", arn, json!({})))
        }
    })
}

fn token_settings(ttl: u64) -> LambdaSettings {
    let mut s = LambdaSettings::new("admins", LambdaEvent::Token);
    s.result_ttl = Duration::from_secs(ttl);
    s.api.api_id = "api1".into();
    s
}

fn authorizer(settings: LambdaSettings, function: &Arc<Fake>) -> LambdaAuthorizer {
    LambdaAuthorizer::new(settings, Arc::clone(function) as Arc<dyn AuthorizerFunction>).unwrap()
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri).header("host", "api1.example.com");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn ctx(route_key: &str) -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: "127.0.0.1:4000".parse::<SocketAddr>().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: route_key.into(),
        params: Default::default(),
        received_at: SystemTime::now(),
        auth: AuthContext::None,
    }
}

async fn call(
    a: &LambdaAuthorizer,
    parts: &mut http::request::Parts,
    route_key: &str,
) -> Result<AuthContext, Denial> {
    a.authorize(parts, &ctx(route_key), &RouteAuth::default(), &mut crate::Trace::off()).await
}

fn lambda_ctx(auth: AuthContext) -> LambdaContext {
    match auth {
        AuthContext::Lambda(l) => l,
        other => panic!("expected a Lambda context, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_identity_is_401_without_invoking() {
    let f = clerk_like();
    let a = authorizer(token_settings(300), &f);
    for headers in [&[][..], &[("authorization", "")][..], &[("authorization", "   ")][..]] {
        let denial = call(&a, &mut request("GET", "/admin", headers), "GET /admin").await.unwrap_err();
        assert_eq!(denial.status, DenialStatus::Unauthorized);
        assert_eq!(denial.reason, Reason::IdentityMissing);
        assert!(denial.www_authenticate.is_none());
    }
    assert_eq!(f.calls(), 0);
}

#[tokio::test]
async fn token_validation_mismatch_is_401_without_invoking() {
    let f = clerk_like();
    let mut s = token_settings(0);
    s.token_validation = Some(TokenPattern(regex::Regex::new("^(?:Bearer [-0-9a-zA-Z._]+)$").unwrap()));
    let a = authorizer(s, &f);
    let denial = call(&a, &mut request("GET", "/admin", &[("authorization", "Basic abc")]), "GET /admin")
        .await
        .unwrap_err();
    assert_eq!(denial.reason, Reason::TokenValidationFailed);
    assert_eq!(f.calls(), 0);
    call(&a, &mut request("GET", "/admin", &[("authorization", "Bearer admin")]), "GET /admin")
        .await
        .unwrap();
    assert_eq!(f.calls(), 1);
}

#[tokio::test]
async fn token_event_carries_the_whole_header_and_the_method_arn() {
    let f = clerk_like();
    let a = authorizer(token_settings(0), &f);
    let auth = call(
        &a,
        &mut request("GET", "/admin/users?x=1", &[("authorization", "Bearer admin")]),
        "GET /admin/{proxy+}",
    )
    .await
    .unwrap();
    assert_eq!(
        f.last_event(),
        json!({
            "type": "TOKEN",
            "authorizationToken": "Bearer admin",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api1/$default/GET/admin/users"
        })
    );
    let l = lambda_ctx(auth);
    assert_eq!(l.principal_id.as_deref(), Some("user-1"));
    assert_eq!(l.context.unwrap()["role"], "admin");
}

#[tokio::test]
async fn explicit_deny_is_403() {
    let f = clerk_like();
    let a = authorizer(token_settings(0), &f);
    let d = call(&a, &mut request("GET", "/admin", &[("authorization", "Bearer bob")]), "GET /admin")
        .await
        .unwrap_err();
    assert_eq!((d.status, d.reason), (DenialStatus::Forbidden, Reason::PolicyExplicitDeny));
}

#[tokio::test]
async fn answers_are_cached_per_identity_for_the_ttl() {
    let f = Fake::new(|_, _| Ok(policy_for("Allow", json!("arn:aws:execute-api:*"), json!({}))));
    let a = authorizer(token_settings(300), &f);
    for _ in 0..5 {
        call(&a, &mut request("GET", "/a", &[("authorization", "Bearer one")]), "GET /a").await.unwrap();
    }
    assert_eq!(f.calls(), 1, "one identity, one invocation");
    call(&a, &mut request("GET", "/a", &[("authorization", "Bearer two")]), "GET /a").await.unwrap();
    assert_eq!(f.calls(), 2, "another identity invokes again");

    let g = Fake::new(|_, _| Ok(policy_for("Allow", json!("*"), json!({}))));
    let uncached = authorizer(token_settings(0), &g);
    for _ in 0..3 {
        call(&uncached, &mut request("GET", "/a", &[("authorization", "Bearer one")]), "GET /a")
            .await
            .unwrap();
    }
    assert_eq!(g.calls(), 3, "result_ttl 0 disables the cache");
}

#[tokio::test]
async fn cached_answers_expire_after_the_ttl() {
    let f = Fake::new(|_, _| Ok(policy_for("Allow", json!("*"), json!({}))));
    let a = authorizer(token_settings(1), &f);
    call(&a, &mut request("GET", "/a", &[("authorization", "Bearer one")]), "GET /a").await.unwrap();
    call(&a, &mut request("GET", "/a", &[("authorization", "Bearer one")]), "GET /a").await.unwrap();
    assert_eq!(f.calls(), 1);
    // The TTL runs on the wall clock (moka), so wait for real.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    call(&a, &mut request("GET", "/a", &[("authorization", "Bearer one")]), "GET /a").await.unwrap();
    assert_eq!(f.calls(), 2, "expired after result_ttl");
}

#[tokio::test]
async fn a_cached_policy_naming_another_route_denies_and_says_why() {
    let f = clerk_like();
    let a = authorizer(token_settings(300), &f);
    let token = [("authorization", "Bearer admin")];
    call(&a, &mut request("GET", "/pets/1", &token), "GET /pets/{id}").await.unwrap();
    let d = call(&a, &mut request("GET", "/pets/2", &token), "GET /pets/{id}").await.unwrap_err();
    assert_eq!(f.calls(), 1, "the second request used the cached policy");
    assert_eq!((d.status, d.reason), (DenialStatus::Forbidden, Reason::CachedPolicyMismatch));
    assert!(d.detail.contains("cached policy"), "{}", d.detail);
    assert!(d.detail.contains("another route's ARN"), "{}", d.detail);
    assert!(d.detail.contains("api1/$default/GET/pets/1"), "{}", d.detail);
    assert!(d.detail.contains("api1/$default/GET/pets/2"), "{}", d.detail);
    assert!(d.detail.contains("$context.routeKey"), "{}", d.detail);
}

#[tokio::test]
async fn a_recording_trace_names_every_check_and_the_routes_a_cached_answer_would_deny() {
    let f = clerk_like();
    let a = authorizer(token_settings(300), &f);
    let siblings = vec![crate::Sibling {
        route_key: "DELETE /pets/{id}".into(),
        arn: a.arn(&http::Method::DELETE, "/pets/9"),
    }];
    let mut trace = crate::Trace::recording(siblings);
    let mut parts = request("GET", "/pets/1", &[("authorization", "Bearer admin")]);
    let outcome = a.authorize(&mut parts, &ctx("GET /pets/{id}"), &RouteAuth::default(), &mut trace).await;
    assert!(outcome.is_ok());
    let steps = trace.into_steps();
    let checks: Vec<_> = steps.iter().map(|s| (s.check, s.passed)).collect();
    assert_eq!(checks, [("identity", true), ("answer", true), ("policy", true), ("note", true)]);
    assert!(steps[1].detail.contains("invoked"), "{}", steps[1].detail);
    assert!(steps[3].detail.contains("DELETE /pets/{id}") && steps[3].detail.contains("$context.routeKey"));

    // The same identity again: the answer comes from the cache, as serving would use it.
    let mut trace = crate::Trace::recording(Vec::new());
    let mut parts = request("GET", "/pets/1", &[("authorization", "Bearer admin")]);
    a.authorize(&mut parts, &ctx("GET /pets/{id}"), &RouteAuth::default(), &mut trace).await.unwrap();
    assert!(trace.into_steps()[1].detail.contains("from the cache"));
    assert_eq!(f.calls(), 1);
}

#[tokio::test]
async fn route_key_in_the_identity_makes_the_cache_per_route() {
    let mut s = token_settings(300);
    s.event = LambdaEvent::RequestV2;
    s.identity_source =
        vec![Variable::Header(http::header::AUTHORIZATION), Variable::Context(ContextVariable::RouteKey)];
    let f = Fake::new(move |event, _| {
        let arn = event["routeArn"].clone();
        Ok(policy_for("Allow", arn, json!({})))
    });
    let a = authorizer(s, &f);
    let token = [("authorization", "Bearer admin")];
    call(&a, &mut request("GET", "/a", &token), "GET /a").await.unwrap();
    call(&a, &mut request("GET", "/b", &token), "GET /b").await.unwrap();
    call(&a, &mut request("GET", "/a", &token), "GET /a").await.unwrap();
    assert_eq!(f.calls(), 2, "one invocation per route key");
    assert_eq!(f.last_event()["identitySource"], json!(["Bearer admin", "GET /b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_concurrent_requests_with_a_new_token_invoke_once() {
    let f = Fake::slow(Duration::from_millis(200), |_, _| Ok(policy_for("Allow", json!("*"), json!({}))));
    let a = Arc::new(authorizer(token_settings(300), &f));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let a = Arc::clone(&a);
        tasks.spawn(async move {
            call(&a, &mut request("GET", "/a", &[("authorization", "Bearer fresh")]), "GET /a").await
        });
    }
    let mut allowed = 0;
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
        allowed += 1;
    }
    assert_eq!(allowed, 100);
    assert_eq!(f.calls(), 1, "single flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_reach_every_waiter_and_are_never_cached() {
    let f = Fake::slow(Duration::from_millis(100), |_, n| {
        if n == 0 {
            Err(InvokeError::Crashed { reason: "boom".into() })
        } else {
            Ok(policy_for("Allow", json!("*"), json!({})))
        }
    });
    let a = Arc::new(authorizer(token_settings(300), &f));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let a = Arc::clone(&a);
        tasks.spawn(async move {
            call(&a, &mut request("GET", "/a", &[("authorization", "Bearer x")]), "GET /a").await
        });
    }
    while let Some(done) = tasks.join_next().await {
        let d = done.unwrap().unwrap_err();
        assert_eq!((d.status, d.reason), (DenialStatus::Error, Reason::FunctionFailed));
    }
    assert_eq!(f.calls(), 1);
    call(&a, &mut request("GET", "/a", &[("authorization", "Bearer x")]), "GET /a").await.unwrap();
    assert_eq!(f.calls(), 2, "the failure was not cached");
}

#[tokio::test]
async fn function_errors_map_to_401_or_500() {
    let unauthorized = Fake::new(|_, _| {
        Err(InvokeError::FunctionError {
            error_type: "Error".into(),
            body: Bytes::from_static(br#"{"errorType":"Error","errorMessage":"Unauthorized"}"#),
        })
    });
    let a = authorizer(token_settings(300), &unauthorized);
    for _ in 0..2 {
        let d = call(&a, &mut request("GET", "/a", &[("authorization", "Bearer x")]), "GET /a")
            .await
            .unwrap_err();
        assert_eq!((d.status, d.reason), (DenialStatus::Unauthorized, Reason::FunctionUnauthorized));
    }
    assert_eq!(unauthorized.calls(), 2, "Unauthorized is not cached");

    let other = Fake::new(|_, _| {
        Err(InvokeError::FunctionError {
            error_type: "JsonWebTokenError".into(),
            body: Bytes::from_static(br#"{"errorType":"JsonWebTokenError","errorMessage":"jwt malformed"}"#),
        })
    });
    let d = call(
        &authorizer(token_settings(0), &other),
        &mut request("GET", "/a", &[("authorization", "x")]),
        "GET /a",
    )
    .await
    .unwrap_err();
    assert_eq!((d.status, d.reason), (DenialStatus::Error, Reason::FunctionFailed));

    for malformed in [
        &b"not json"[..],
        br#"{"principalId":"x"}"#,
        br#"[]"#,
        br#"{"policyDocument":{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}}"#,
    ] {
        let m = Fake::new(move |_, _| Ok(Bytes::copy_from_slice(malformed)));
        let a = authorizer(token_settings(300), &m);
        for _ in 0..2 {
            let d =
                call(&a, &mut request("GET", "/a", &[("authorization", "x")]), "GET /a").await.unwrap_err();
            assert_eq!(
                (d.status, d.reason),
                (DenialStatus::Error, Reason::ResponseMalformed),
                "{malformed:?}"
            );
        }
        assert_eq!(m.calls(), 2, "malformed answers are not cached");
    }
}

#[tokio::test]
async fn a_slow_function_times_out_as_500() {
    let f = Fake::slow(Duration::from_secs(5), |_, _| Ok(policy_for("Allow", json!("*"), json!({}))));
    let mut s = token_settings(0);
    s.timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let d = call(&authorizer(s, &f), &mut request("GET", "/a", &[("authorization", "x")]), "GET /a")
        .await
        .unwrap_err();
    assert_eq!((d.status, d.reason), (DenialStatus::Error, Reason::FunctionTimeout));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The function is told the same deadline, so the instance is stopped, not left running.
    assert_eq!(*f.deadlines.lock().unwrap(), [Duration::from_millis(200)]);
}

#[tokio::test]
async fn simple_answers_apply_across_routes_from_the_cache() {
    let f = Fake::new(|event, _| {
        let ok = event["identitySource"][0] == "good";
        Ok(Bytes::from(
            serde_json::to_vec(&json!({"isAuthorized": ok, "context": {"tenant": "t9"}})).unwrap(),
        ))
    });
    let mut s = token_settings(300);
    s.event = LambdaEvent::RequestV2;
    s.simple_responses = true;
    s.identity_source = vec![Variable::Header(HeaderName::from_static("x-key"))];
    let a = authorizer(s, &f);
    let l = lambda_ctx(call(&a, &mut request("GET", "/a", &[("x-key", "good")]), "GET /a").await.unwrap());
    assert_eq!(l.context.unwrap()["tenant"], "t9");
    call(&a, &mut request("POST", "/b", &[("x-key", "good")]), "POST /b").await.unwrap();
    let d = call(&a, &mut request("GET", "/a", &[("x-key", "bad")]), "GET /a").await.unwrap_err();
    assert_eq!((d.status, d.reason), (DenialStatus::Forbidden, Reason::NotAuthorized));
    call(&a, &mut request("GET", "/c", &[("x-key", "bad")]), "GET /c").await.unwrap_err();
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn forward_context_replaces_client_sent_headers() {
    let f = clerk_like();
    let mut s = token_settings(0);
    s.forward_context = vec![
        (HeaderName::from_static("x-tenant"), "tenant".into()),
        (HeaderName::from_static("x-n"), "n".into()),
        (HeaderName::from_static("x-absent"), "absent".into()),
    ];
    let a = authorizer(s, &f);
    let mut parts = request(
        "GET",
        "/a",
        &[
            ("authorization", "Bearer admin"),
            ("x-tenant", "spoofed"),
            ("x-tenant", "again"),
            ("x-absent", "spoofed"),
        ],
    );
    call(&a, &mut parts, "GET /a").await.unwrap();
    let tenants: Vec<_> = parts.headers.get_all("x-tenant").iter().collect();
    assert_eq!(tenants, ["t-1"]);
    assert_eq!(parts.headers["x-n"], "7");
    assert!(
        parts.headers.get("x-absent").is_none(),
        "client-sent copy removed even when the context lacks the key"
    );
}

#[tokio::test]
async fn request_v1_event_joins_identity_values_and_cache_keys_keep_values_apart() {
    let f = Fake::new(|_, _| Ok(policy_for("Allow", json!("*"), json!({}))));
    let mut s = token_settings(300);
    s.event = LambdaEvent::RequestV1;
    s.identity_source = vec![Variable::Header(HeaderName::from_static("x-a")), Variable::Query("b".into())];
    let a = authorizer(s, &f);
    call(&a, &mut request("GET", "/p?b=2", &[("x-a", "1,2")]), "GET /p").await.unwrap();
    assert_eq!(f.last_event()["identitySource"], "1,2,2");
    assert_eq!(f.last_event()["methodArn"], "arn:aws:execute-api:us-east-1:123456789012:api1/$default/GET/p");
    call(&a, &mut request("GET", "/p?b=2,2", &[("x-a", "1")]), "GET /p").await.unwrap();
    assert_eq!(f.calls(), 2, "[\"1,2\",\"2\"] and [\"1\",\"2,2\"] are different identities");
}

#[test]
fn settings_aws_would_refuse_are_refused() {
    let f: Arc<dyn AuthorizerFunction> = clerk_like();
    let mut s = token_settings(0);
    s.simple_responses = true;
    assert!(matches!(LambdaAuthorizer::new(s, Arc::clone(&f)), Err(LambdaSettingsError::SimpleNeedsV2)));
    let mut s = token_settings(0);
    s.event = LambdaEvent::RequestV2;
    s.identity_source.clear();
    s.result_ttl = Duration::from_secs(10);
    assert!(matches!(LambdaAuthorizer::new(s, Arc::clone(&f)), Err(LambdaSettingsError::CacheNeedsIdentity)));
    let mut s = token_settings(0);
    s.identity_source.push(Variable::Query("t".into()));
    assert!(matches!(LambdaAuthorizer::new(s, f), Err(LambdaSettingsError::TokenNeedsOneHeader)));
}

/// The authorizer's invocation belongs to the request's trace: the event's `x-amzn-trace-id`
/// and the trace the function is invoked under are the request's.
#[tokio::test]
async fn the_authorizer_is_invoked_under_the_requests_trace() {
    let f = Fake::new(|_, _| Ok(Bytes::from_static(br#"{"isAuthorized":true}"#)));
    let mut s = token_settings(0);
    s.event = LambdaEvent::RequestV2;
    s.simple_responses = true;
    s.identity_source.clear();
    let a = authorizer(s, &f);
    let mut c = ctx("GET /p");
    c.trace_id = portcullis_core::TraceId::derive(c.request_id, c.received_at);
    a.authorize(&mut request("GET", "/p", &[]), &c, &RouteAuth::default(), &mut crate::Trace::off())
        .await
        .unwrap();
    assert_eq!(f.last_event()["headers"]["x-amzn-trace-id"], c.trace_id.header());
    assert_eq!(*f.traces.lock().unwrap(), [c.trace_id.header().to_owned()]);
}

//! `portcullis explain` and serving cannot disagree: for every denial reason code, the same
//! request is served by the [`Gateway`] and explained by [`portcullis_pipeline::explain`], each on
//! its own freshly compiled snapshot of the same routes, and both give the same status and
//! reason code (and the one the scenario expects).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Empty;
use portcullis_authz::lambda::{
    AuthorizerFunction, LambdaAuthorizer, LambdaEvent, LambdaSettings, TokenPattern, Variable,
};
use portcullis_authz::{Authorizer, BoxFuture, JwtAuthorizer, JwtSettings, Reason, RouteAuth};
use portcullis_core::RequestIdGenerator;
use portcullis_functions::InvokeError;
use portcullis_integration::respond::RespondIntegration;
use portcullis_jwks::testing::TestKey;
use portcullis_jwks::{JwksOptions, JwksRegistry, KeySource};
use portcullis_pipeline::{
    Access, ConnMeta, Gateway, Metrics, NoAccessLog, RequestLimits, RouteAuthorizer, RoutePlan, Snapshot,
};
use portcullis_route::RouteTableBuilder;
use portcullis_rules::{Rule, RuleSet};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.test";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A Lambda authorizer function answering by the identity it is sent.
struct Function {
    calls: AtomicUsize,
}

impl AuthorizerFunction for Function {
    fn invoke<'a>(
        &'a self,
        payload: Bytes,
        _request_id: &'a str,
        _trace: &'a portcullis_core::TraceId,
        _deadline: Duration,
    ) -> BoxFuture<'a, Result<Bytes, InvokeError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let event: Value = serde_json::from_slice(&payload).unwrap();
            let identity = event["authorizationToken"]
                .as_str()
                .or_else(|| event["identitySource"][0].as_str())
                .unwrap_or_default()
                .to_owned();
            let arn =
                event["methodArn"].as_str().or_else(|| event["routeArn"].as_str()).unwrap_or("").to_owned();
            let policy = |effect: &str, resource: &str| {
                json!({"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}})
            };
            let answer = match identity.as_str() {
                "unauthorized" => {
                    let body = Bytes::from(r#"{"errorMessage":"Unauthorized","errorType":"Error"}"#);
                    return Err(InvokeError::FunctionError { error_type: "Error".into(), body });
                }
                "crash" => return Err(InvokeError::Crashed { reason: "exited".into() }),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    json!({})
                }
                "garbage" => return Ok(Bytes::from_static(b"not json")),
                "deny" => policy("Deny", &arn),
                "elsewhere" => policy(
                    "Allow",
                    "arn:aws:execute-api:us-east-1:123456789012:portcullis/$default/GET/other",
                ),
                "this-arn-only" => policy("Allow", &arn),
                "no" => json!({"isAuthorized": false}),
                _ => policy("Allow", "*"),
            };
            Ok(Bytes::from(answer.to_string()))
        })
    }

    fn name(&self) -> &str {
        "authz"
    }
}

/// The routes, compiled afresh (fresh caches) for each side.
fn snapshot(key: &TestKey) -> Snapshot {
    let jwks = JwksRegistry::new(JwksOptions::default()).unwrap();
    let keys = jwks.store(KeySource::Static(json!({"keys": [key.jwk()]}))).unwrap();
    let jwt = |compat_aws: bool| -> Arc<dyn Authorizer> {
        let mut settings = JwtSettings::new(ISSUER, vec!["api".to_owned()]);
        settings.compat_aws = compat_aws;
        if !compat_aws {
            settings.algorithms =
                vec![portcullis_authz::Algorithm::RS256, portcullis_authz::Algorithm::ES256];
        }
        Arc::new(JwtAuthorizer::new(settings, Arc::clone(&keys)).unwrap())
    };
    // An authorizer that checks revocations: the token with jti `revoked-1` is revoked.
    let revocable = {
        let list = Arc::new(portcullis_authz::RevocationList::new());
        list.add(portcullis_authz::Revocation {
            revoked: portcullis_authz::Revoked::Jti("revoked-1".into()),
            revoked_at: 0,
            until: u64::MAX,
        });
        let settings = JwtSettings::new(ISSUER, vec!["api".to_owned()]);
        Arc::new(JwtAuthorizer::new(settings, Arc::clone(&keys)).unwrap().with_revocations(list))
            as Arc<dyn Authorizer>
    };
    // An issuer nobody answers for: its keys are never available.
    let unreachable = {
        let options = JwksOptions { request_wait: Duration::from_millis(200), ..JwksOptions::default() };
        let registry = JwksRegistry::new(options).unwrap();
        let store = registry.store(KeySource::Discovery { issuer: "http://127.0.0.1:9".into() }).unwrap();
        registry.start_all();
        Arc::new(
            JwtAuthorizer::new(JwtSettings::new("http://127.0.0.1:9", vec!["api".into()]), store).unwrap(),
        ) as Arc<dyn Authorizer>
    };
    let function = Arc::new(Function { calls: AtomicUsize::new(0) }) as Arc<dyn AuthorizerFunction>;
    let lambda = |event: LambdaEvent, simple: bool, ttl: u64| -> Arc<dyn Authorizer> {
        let mut settings = LambdaSettings::new("authz", event);
        settings.simple_responses = simple;
        settings.result_ttl = Duration::from_secs(ttl);
        settings.timeout = Duration::from_millis(200);
        if event != LambdaEvent::Token {
            settings.identity_source = vec![Variable::Header(http::HeaderName::from_static("x-identity"))];
        } else {
            settings.token_validation = Some(TokenPattern(regex::Regex::new("^[a-z-]+$").unwrap()));
        }
        Arc::new(LambdaAuthorizer::new(settings, Arc::clone(&function)).unwrap())
    };
    let rule = |source: &str| Some(Arc::new(RuleSet::new(vec![Rule::compile(source).unwrap()])));
    type Route<'a> = (&'a str, Arc<dyn Authorizer>, &'a [&'a str], Option<Arc<RuleSet>>);
    let routes: Vec<Route> = vec![
        ("GET /jwt", jwt(false), &[], None),
        ("GET /aws", jwt(true), &[], None),
        ("GET /scoped", jwt(false), &["orders:read"], None),
        ("GET /ruled", jwt(false), &[], rule("claims.role == 'admin'")),
        ("GET /revocable", revocable, &[], None),
        ("GET /unreachable", unreachable, &[], None),
        ("GET /token", lambda(LambdaEvent::Token, false, 0), &[], None),
        ("GET /simple", lambda(LambdaEvent::RequestV2, true, 0), &[], None),
        ("GET /cached/{id}", lambda(LambdaEvent::Token, false, 300), &[], None),
    ];
    let mut table = RouteTableBuilder::new();
    for (key, authorizer, scopes, rules) in routes {
        let plan = RoutePlan {
            key: Arc::from(key),
            access: Access::Authorizer(Box::new(RouteAuthorizer {
                name: Arc::from("a"),
                authorizer,
                route: RouteAuth::with_scopes(scopes.iter().copied()),
                rules,
            })),
            rules: None,
            extras: None,
            integration: Arc::new(RespondIntegration::new(
                StatusCode::OK,
                HeaderMap::new(),
                Bytes::from_static(b"ok"),
            )),
        };
        table.insert(key.parse().unwrap(), Arc::new(plan)).unwrap();
    }
    Snapshot {
        routes: table.build(),
        limits: RequestLimits { max_body: 1 << 20, max_header_bytes: 64 * 1024 },
        debug_headers: true,
        api: Default::default(),
        cors: None,
        has_cors: false,
        preflight_mode: Default::default(),
        throttle: None,
    }
}

/// One request: path and headers.
#[derive(Clone)]
struct Sent {
    path: &'static str,
    headers: Vec<(&'static str, String)>,
}

fn request(sent: &Sent) -> Request<Empty<Bytes>> {
    let mut builder = Request::get(sent.path).header("host", "gw.test");
    for (name, value) in &sent.headers {
        builder = builder.header(*name, value);
    }
    builder.body(Empty::new()).unwrap()
}

fn bearer(token: String) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// Every reason, with the request (and any earlier request) that produces it.
fn scenarios(key: &TestKey) -> Vec<(Reason, Vec<Sent>)> {
    let t = now();
    let claims = |extra: Value| {
        let mut base = json!({"iss": ISSUER, "aud": "api", "sub": "alice", "exp": t + 600, "iat": t});
        for (k, v) in extra.as_object().unwrap() {
            match v {
                // `null` removes the claim.
                Value::Null => {
                    base.as_object_mut().unwrap().remove(k);
                }
                v => base[k] = v.clone(),
            }
        }
        base
    };
    let token = |extra: Value| key.token("RS256", &claims(extra));
    let with_header = |header: Value| key.token_with_header(&header, &claims(json!({})));
    let kid = key.jwk()["kid"].as_str().unwrap().to_owned();
    let one = |path: &'static str, headers: Vec<(&'static str, String)>| vec![Sent { path, headers }];
    let identity = |value: &str| vec![("x-identity", value.to_owned())];
    let raw = |value: &str| vec![("authorization", value.to_owned())];
    let flipped = {
        let good = token(json!({}));
        let (head, sig) = good.rsplit_once('.').unwrap();
        let mut sig = sig.as_bytes().to_vec();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        format!("{head}.{}", String::from_utf8(sig).unwrap())
    };
    vec![
        (Reason::TokenMissing, one("/jwt", vec![])),
        (Reason::TokenMalformed, one("/jwt", bearer("garbage".into()))),
        (Reason::TokenTooLarge, one("/jwt", bearer("a".repeat(20_000)))),
        (Reason::AlgNotAllowed, one("/jwt", bearer(with_header(json!({"alg": "none", "kid": kid}))))),
        (
            Reason::HeaderKeyRejected,
            one("/jwt", bearer(with_header(json!({"alg": "RS256", "kid": kid, "jwk": key.jwk()})))),
        ),
        (
            Reason::CritUnsupported,
            one(
                "/jwt",
                bearer(with_header(json!({"alg": "RS256", "kid": kid, "crit": ["b64"], "b64": false}))),
            ),
        ),
        (Reason::KidMissing, one("/aws", bearer(with_header(json!({"alg": "RS256"}))))),
        (Reason::KidUnknown, one("/jwt", bearer(with_header(json!({"alg": "RS256", "kid": "nope"}))))),
        (Reason::KeyAlgMismatch, one("/jwt", bearer(with_header(json!({"alg": "ES256", "kid": kid}))))),
        (Reason::KeysUnavailable, one("/unreachable", bearer(token(json!({}))))),
        (Reason::SignatureInvalid, one("/jwt", bearer(flipped))),
        (Reason::IssuerMismatch, one("/jwt", bearer(token(json!({"iss": "https://evil.test"}))))),
        (Reason::AudienceMismatch, one("/jwt", bearer(token(json!({"aud": "other"}))))),
        (Reason::ClaimMissing, one("/jwt", bearer(token(json!({"exp": null}))))),
        (Reason::ClaimInvalid, one("/jwt", bearer(token(json!({"exp": "soon"}))))),
        (Reason::Expired, one("/jwt", bearer(token(json!({"exp": t - 600}))))),
        (Reason::NotYetValid, one("/jwt", bearer(token(json!({"nbf": t + 600}))))),
        (Reason::IssuedInFuture, one("/jwt", bearer(token(json!({"iat": t + 600}))))),
        (Reason::ScopeInsufficient, one("/scoped", bearer(token(json!({"scope": "profile"}))))),
        (Reason::IdentityMissing, one("/simple", vec![])),
        (Reason::TokenValidationFailed, one("/token", raw("Not Valid!"))),
        (Reason::FunctionUnauthorized, one("/token", raw("unauthorized"))),
        (Reason::PolicyExplicitDeny, one("/token", raw("deny"))),
        (Reason::PolicyImplicitDeny, one("/token", raw("elsewhere"))),
        (
            Reason::CachedPolicyMismatch,
            vec![
                Sent { path: "/cached/1", headers: raw("this-arn-only") },
                Sent { path: "/cached/2", headers: raw("this-arn-only") },
            ],
        ),
        (Reason::NotAuthorized, one("/simple", identity("no"))),
        (Reason::FunctionFailed, one("/token", raw("crash"))),
        (Reason::FunctionTimeout, one("/token", raw("slow"))),
        (Reason::ResponseMalformed, one("/token", raw("garbage"))),
        (Reason::RuleFailed, one("/ruled", bearer(token(json!({"role": "member"}))))),
        (Reason::Revoked, one("/revocable", bearer(token(json!({"jti": "revoked-1"}))))),
    ]
}

async fn serve(gateway: &Gateway, sent: &Sent) -> (u16, Option<String>) {
    let conn = ConnMeta { client_addr: SocketAddr::from(([127, 0, 0, 1], 1)), local_port: 80, tls: false };
    let response = gateway.handle(request(sent), conn).await;
    let reason = response.headers().get("x-portcullis-deny-reason").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), reason)
}

async fn explain(snapshot: &Snapshot, sent: &Sent) -> (u16, Option<String>) {
    let (parts, _) = request(sent).into_parts();
    let explained = portcullis_pipeline::explain(snapshot, parts, Vec::new()).await;
    match explained.outcome {
        Ok(_) => (200, None),
        Err((rejection, denial)) => {
            (rejection.status().as_u16(), denial.map(|d| d.reason.as_str().to_owned()))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_serve_agree_on_every_denial_reason() {
    let key = TestKey::rsa("k1");
    let scenarios = scenarios(&key);
    let covered: Vec<Reason> = scenarios.iter().map(|(reason, _)| *reason).collect();
    for reason in Reason::ALL {
        assert!(covered.contains(&reason), "no scenario produces {reason:?}");
    }
    for (reason, requests) in scenarios {
        let served = Gateway::new(
            Arc::new(ArcSwap::from_pointee(snapshot(&key))),
            RequestIdGenerator::new(1),
            Arc::new(NoAccessLog),
            Arc::new(Metrics::default()),
        );
        let explained = snapshot(&key);
        let (last, earlier) = requests.split_last().unwrap();
        for sent in earlier {
            serve(&served, sent).await;
            explain(&explained, sent).await;
        }
        let by_serving = serve(&served, last).await;
        let by_explain = explain(&explained, last).await;
        assert_eq!(by_serving.1.as_deref(), Some(reason.as_str()), "serving {reason:?}");
        assert_eq!(by_explain, by_serving, "explain disagrees with serving on {reason:?}");
    }
}

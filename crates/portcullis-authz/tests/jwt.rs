//! The JWT authorizer end to end against a real HTTP identity provider: forged and invalid
//! tokens, success for every algorithm, scopes, forwarded claims, the
//! verified-token cache, explain, compat: aws, the dev issuer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_authz::{
    Algorithm, Authorizer, DenialStatus, JwtAuthorizer, JwtSettings, Reason, RouteAuth, SettingsError, Trace,
};
use portcullis_core::{AuthContext, CallContext, Params, RequestIdGenerator, Variable};
use portcullis_jwks::testing::{TestIdp, TestKey, b64};
use portcullis_jwks::{DevIssuer, JwksOptions, JwksRegistry, KeySource, KeyStore};
use serde_json::{Value, json};

const AUD: &str = "UsGRQJJz5sDfPQDs6bhQ9Oc3hNISuVif";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Env {
    idp: TestIdp,
    _registry: JwksRegistry,
    keys: Arc<KeyStore>,
    rsa: TestKey,
    ec: TestKey,
}

impl Env {
    async fn start() -> Self {
        let idp = TestIdp::start().await;
        let rsa = TestKey::rsa("rsa-1");
        let ec = TestKey::es256("ec-1");
        let mut pinned = TestKey::rsa("rsa-pinned").jwk();
        pinned["alg"] = json!("RS256");
        let mut enc = TestKey::rsa("enc-1").jwk();
        enc["use"] = json!("enc");
        idp.set_jwks(json!({"keys": [rsa.jwk(), ec.jwk(), pinned, enc]}));
        let options = JwksOptions { request_wait: Duration::from_millis(800), ..JwksOptions::default() };
        let registry = JwksRegistry::new(options).unwrap();
        let keys = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
        keys.ready(Duration::from_secs(3)).await.unwrap();
        Self { idp, _registry: registry, keys, rsa, ec }
    }

    fn settings(&self) -> JwtSettings {
        JwtSettings::new(self.idp.issuer(), vec![AUD.to_owned(), "second-aud".to_owned()])
    }

    fn authorizer(&self) -> JwtAuthorizer {
        JwtAuthorizer::new(self.settings(), Arc::clone(&self.keys)).unwrap()
    }

    fn claims(&self) -> Value {
        json!({"iss": self.idp.issuer(), "aud": AUD, "sub": "alice", "exp": now() + 300, "iat": now() - 5})
    }

    fn with(&self, changes: Value) -> Value {
        let mut claims = self.claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }
}

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(7).next_id(),
        client_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /private"),
        params: Params::default(),
        received_at: SystemTime::now(),
        auth: AuthContext::None,
    }
}

fn request(authorization: Option<&str>) -> http::request::Parts {
    let mut builder = http::Request::builder().uri("/private").header("x-user-id", "spoofed");
    if let Some(value) = authorization {
        builder = builder.header("authorization", value);
    }
    builder.body(()).unwrap().into_parts().0
}

async fn run(
    authz: &JwtAuthorizer,
    authorization: Option<&str>,
    route: &RouteAuth,
) -> Result<AuthContext, portcullis_authz::Denial> {
    let mut parts = request(authorization);
    authz.authorize(&mut parts, &ctx(), route, &mut Trace::off()).await
}

fn sign_hs256(secret: &[u8], input: &str) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
}

fn parts_of(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_denied_with_the_right_reason() {
    let env = Env::start().await;
    let authz = env.authorizer();
    let rsa = &env.rsa;
    let good = rsa.token("RS256", &env.claims());
    let header = |h: Value| rsa.token_with_header(&h, &env.claims());
    let claims = |c: Value| rsa.token("RS256", &env.with(c));
    let unsigned = |h: Value| format!("{}.{}.", b64(h.to_string()), b64(env.claims().to_string()));
    let resign_sig = |token: &str, sig: Vec<u8>| {
        let p = parts_of(token);
        format!("{}.{}.{}", p[0], p[1], b64(sig))
    };
    let (n, _) = rsa.rsa_components().unwrap();

    let mut cases: Vec<(&str, Option<String>, Reason)> = vec![
        ("no authorization header", None, Reason::TokenMissing),
        ("empty header", Some(String::new()), Reason::TokenMissing),
        ("scheme only", Some("Bearer".into()), Reason::TokenMissing),
        ("garbage", Some("Bearer not-a-jwt".into()), Reason::TokenMalformed),
        ("two parts", Some(parts_of(&good)[..2].join(".")), Reason::TokenMalformed),
        ("four parts", Some(format!("{good}.AAAA")), Reason::TokenMalformed),
        ("over 16 KiB", Some(claims(json!({"pad": "x".repeat(17_000)}))), Reason::TokenTooLarge),
        ("alg none, unsigned", Some(unsigned(json!({"alg": "none", "kid": "rsa-1"}))), Reason::AlgNotAllowed),
        ("alg None", Some(unsigned(json!({"alg": "None", "kid": "rsa-1"}))), Reason::AlgNotAllowed),
        ("alg missing", Some(unsigned(json!({"kid": "rsa-1"}))), Reason::TokenMalformed),
        ("alg not a string", Some(header(json!({"alg": 256, "kid": "rsa-1"}))), Reason::AlgNotAllowed),
        ("unknown alg ES512", Some(header(json!({"alg": "ES512", "kid": "rsa-1"}))), Reason::AlgNotAllowed),
        (
            "embedded jwk",
            Some(header(json!({"alg": "RS256", "kid": "rsa-1", "jwk": rsa.jwk()}))),
            Reason::HeaderKeyRejected,
        ),
        (
            "jku",
            Some(header(json!({"alg": "RS256", "kid": "rsa-1", "jku": "https://evil.example/jwks"}))),
            Reason::HeaderKeyRejected,
        ),
        (
            "x5u",
            Some(header(json!({"alg": "RS256", "kid": "rsa-1", "x5u": "https://evil.example/cert"}))),
            Reason::HeaderKeyRejected,
        ),
        (
            "x5c",
            Some(header(json!({"alg": "RS256", "kid": "rsa-1", "x5c": ["MIIB"]}))),
            Reason::HeaderKeyRejected,
        ),
        (
            "crit exp",
            Some(header(json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": 1}))),
            Reason::CritUnsupported,
        ),
        (
            "crit b64",
            Some(header(json!({"alg": "RS256", "kid": "rsa-1", "crit": ["b64"], "b64": false}))),
            Reason::CritUnsupported,
        ),
        ("kid not a string", Some(header(json!({"alg": "RS256", "kid": 7}))), Reason::TokenMalformed),
        (
            "duplicate alg member",
            Some(rsa.token_raw(
                br#"{"alg":"RS256","kid":"rsa-1","alg":"none"}"#,
                env.claims().to_string().as_bytes(),
            )),
            Reason::TokenMalformed,
        ),
        (
            "payload is an array",
            Some(rsa.token_raw(br#"{"alg":"RS256","kid":"rsa-1"}"#, b"[1,2]")),
            Reason::TokenMalformed,
        ),
        (
            "payload is a string",
            Some(rsa.token_raw(br#"{"alg":"RS256","kid":"rsa-1"}"#, b"\"sub\"")),
            Reason::TokenMalformed,
        ),
        (
            "payload not JSON",
            Some(rsa.token_raw(br#"{"alg":"RS256","kid":"rsa-1"}"#, b"{sub:1}")),
            Reason::TokenMalformed,
        ),
        (
            "padded header",
            Some({
                let p = parts_of(&good);
                format!("{}=.{}.{}", p[0], p[1], p[2])
            }),
            Reason::TokenMalformed,
        ),
        (
            "standard-alphabet signature",
            Some({
                let p = parts_of(&good);
                format!("{}.{}.{}", p[0], p[1], p[2].replace('-', "+").replace('_', "/") + "+")
            }),
            Reason::TokenMalformed,
        ),
        ("double space after Bearer", Some(format!("Bearer  {good}")), Reason::TokenMalformed),
        ("unknown kid", Some(header(json!({"alg": "RS256", "kid": "nope"}))), Reason::KidUnknown),
        ("encryption key kid", Some(header(json!({"alg": "RS256", "kid": "enc-1"}))), Reason::KidUnknown),
        (
            "RSA kid with ES256 alg",
            Some(env.ec.token_with_header(&json!({"alg": "ES256", "kid": "rsa-1"}), &env.claims())),
            Reason::KeyAlgMismatch,
        ),
        (
            "key pinned to RS256, token PS256",
            Some(rsa.token_with_header(&json!({"alg": "PS256", "kid": "rsa-pinned"}), &env.claims())),
            Reason::KeyAlgMismatch,
        ),
        (
            "HS256 with the RSA public key as secret",
            Some({
                let input = format!(
                    "{}.{}",
                    b64(json!({"alg": "HS256", "kid": "rsa-1"}).to_string()),
                    b64(env.claims().to_string())
                );
                format!("{input}.{}", b64(sign_hs256(&n, &input)))
            }),
            Reason::AlgNotAllowed,
        ),
        (
            "other key with the same kid",
            Some(TestKey::rsa("rsa-1").token("RS256", &env.claims())),
            Reason::SignatureInvalid,
        ),
        (
            "bit-flipped signature",
            Some({
                let mut sig = URL_SAFE_NO_PAD.decode(&parts_of(&good)[2]).unwrap();
                sig[10] ^= 0x01;
                resign_sig(&good, sig)
            }),
            Reason::SignatureInvalid,
        ),
        (
            "truncated signature",
            Some({
                let sig = URL_SAFE_NO_PAD.decode(&parts_of(&good)[2]).unwrap();
                resign_sig(&good, sig[..sig.len() - 1].to_vec())
            }),
            Reason::SignatureInvalid,
        ),
        (
            "empty signature",
            Some({
                let p = parts_of(&good);
                format!("{}.{}.", p[0], p[1])
            }),
            Reason::SignatureInvalid,
        ),
        (
            "ES256 psychic all-zero signature",
            Some({
                let t = env.ec.token("ES256", &env.claims());
                resign_sig(&t, vec![0u8; 64])
            }),
            Reason::SignatureInvalid,
        ),
        (
            "claims changed after signing",
            Some({
                let p = parts_of(&good);
                format!("{}.{}.{}", p[0], b64(env.with(json!({"sub": "admin"})).to_string()), p[2])
            }),
            Reason::SignatureInvalid,
        ),
        (
            "signed PS256, header says RS256",
            Some({
                let t = rsa.token("PS256", &env.claims());
                let p = parts_of(&t);
                let sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
                let input = format!("{}.{}", b64(json!({"alg": "RS256", "kid": "rsa-1"}).to_string()), p[1]);
                format!("{input}.{}", b64(sig))
            }),
            Reason::SignatureInvalid,
        ),
        ("wrong issuer", Some(claims(json!({"iss": "https://evil.example"}))), Reason::IssuerMismatch),
        (
            "issuer with trailing slash",
            Some(claims(json!({"iss": format!("{}/", env.idp.issuer())}))),
            Reason::IssuerMismatch,
        ),
        ("no issuer", Some(claims(json!({"iss": null}))), Reason::IssuerMismatch),
        ("issuer as array", Some(claims(json!({"iss": [env.idp.issuer()]}))), Reason::IssuerMismatch),
        ("wrong audience", Some(claims(json!({"aud": "other"}))), Reason::AudienceMismatch),
        ("prefix of the audience", Some(claims(json!({"aud": &AUD[..10]}))), Reason::AudienceMismatch),
        (
            "wrong aud, right client_id",
            Some(claims(json!({"aud": "other", "client_id": AUD}))),
            Reason::AudienceMismatch,
        ),
        ("no aud, no client_id", Some(claims(json!({"aud": null}))), Reason::AudienceMismatch),
        ("audience array without ours", Some(claims(json!({"aud": ["a", "b"]}))), Reason::AudienceMismatch),
        ("expired", Some(claims(json!({"exp": now() - 1}))), Reason::Expired),
        ("nbf in the future", Some(claims(json!({"nbf": now() + 120}))), Reason::NotYetValid),
        ("iat in the future", Some(claims(json!({"iat": now() + 120}))), Reason::IssuedInFuture),
        ("no exp", Some(claims(json!({"exp": null}))), Reason::ClaimMissing),
        ("exp as a string", Some(claims(json!({"exp": (now() + 300).to_string()}))), Reason::ClaimInvalid),
        ("nbf as a string", Some(claims(json!({"nbf": "0"}))), Reason::ClaimInvalid),
    ];
    // An authorizer allowing only RS256 refuses an otherwise valid ES256 token.
    let rs_only = JwtAuthorizer::new(
        JwtSettings { algorithms: vec![Algorithm::RS256], ..env.settings() },
        Arc::clone(&env.keys),
    )
    .unwrap();
    let es_token = env.ec.token("ES256", &env.claims());
    assert_eq!(
        run(&rs_only, Some(&es_token), &RouteAuth::default()).await.unwrap_err().reason,
        Reason::AlgNotAllowed
    );
    assert!(run(&authz, Some(&es_token), &RouteAuth::default()).await.is_ok());
    cases.push((
        "no kid, several RSA keys fit",
        Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA".into()),
        Reason::KidMissing,
    ));

    assert!(cases.len() >= 30);
    let route = RouteAuth::default();
    let mut wrong = Vec::new();
    for (name, token, expected) in &cases {
        match run(&authz, token.as_deref(), &route).await {
            Ok(_) => wrong.push(format!("{name}: ALLOWED, expected {expected}")),
            Err(denial) => {
                if denial.reason != *expected || denial.status != DenialStatus::Unauthorized {
                    wrong.push(format!(
                        "{name}: {} ({:?}) [{}], expected {expected}",
                        denial.reason, denial.status, denial.detail
                    ));
                }
                if (denial.reason == Reason::TokenMissing) == denial.www_authenticate.is_some() {
                    wrong.push(format!("{name}: www-authenticate {:?}", denial.www_authenticate));
                }
                if let Some(token) = token
                    && token.len() > 20
                    && denial.detail.contains(token.as_str())
                {
                    wrong.push(format!("{name}: the token leaked into the detail"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    // The valid token itself passes, so each denial above is due to its one defect.
    assert!(run(&authz, Some(&format!("Bearer {good}")), &route).await.is_ok());
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_are_accepted_with_or_without_bearer() {
    let idp = TestIdp::start().await;
    let algs = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
    let keys: Vec<TestKey> = algs.iter().map(|a| TestKey::for_alg(a, &format!("k-{a}"))).collect();
    idp.set_keys(&keys.iter().collect::<Vec<_>>());
    let registry = JwksRegistry::new(JwksOptions::default()).unwrap();
    let store = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    let authz = JwtAuthorizer::new(JwtSettings::new(idp.issuer(), vec![AUD.into()]), store).unwrap();
    for (alg, key) in algs.iter().zip(&keys) {
        let token =
            key.token(alg, &json!({"iss": idp.issuer(), "aud": [AUD], "exp": now() + 60, "sub": alg}));
        for value in [token.clone(), format!("Bearer {token}"), format!("bearer {token}")] {
            match run(&authz, Some(&value), &RouteAuth::default()).await {
                Ok(AuthContext::Jwt(jwt)) => assert_eq!(jwt.claims["sub"], *alg),
                other => panic!("{alg}: {other:?}"),
            }
        }
    }
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn route_scopes_need_any_one_token_scope_and_missing_ones_get_403() {
    let env = Env::start().await;
    let authz = env.authorizer();
    let route = RouteAuth::with_scopes(["orders:read", "orders:admin"]);
    let token = |c: Value| env.rsa.token("RS256", &env.with(c));

    let ok = run(&authz, Some(&token(json!({"scope": "profile orders:read"}))), &route).await.unwrap();
    let AuthContext::Jwt(jwt) = ok else { panic!("not a JWT context") };
    assert_eq!(jwt.scopes.as_deref().unwrap(), ["profile", "orders:read"]);
    assert!(run(&authz, Some(&token(json!({"scp": ["orders:admin"]}))), &route).await.is_ok());
    assert!(run(&authz, Some(&token(json!({"scp": "x orders:admin"}))), &route).await.is_ok());

    for claims in [json!({"scope": "profile"}), json!({}), json!({"scope": "orders:read:extra"})] {
        let denial = run(&authz, Some(&token(claims)), &route).await.unwrap_err();
        assert_eq!((denial.status, denial.reason), (DenialStatus::Forbidden, Reason::ScopeInsufficient));
        assert!(denial.www_authenticate.is_none());
    }
    // Without route scopes, `scopes` is null even when the token has some
    // (docs/aws-compatibility.md#claims-passed-to-the-integration).
    let AuthContext::Jwt(jwt) =
        run(&authz, Some(&token(json!({"scope": "a"}))), &RouteAuth::default()).await.unwrap()
    else {
        panic!()
    };
    assert!(jwt.scopes.is_none());
}

#[tokio::test]
async fn forwarded_claim_headers_replace_client_sent_copies() {
    let env = Env::start().await;
    let settings = JwtSettings {
        forward_claims: vec![
            ("x-user-id".parse().unwrap(), "sub".into()),
            ("x-user-email".parse().unwrap(), "email".into()),
            ("x-user-groups".parse().unwrap(), "groups".into()),
        ],
        ..env.settings()
    };
    let authz = JwtAuthorizer::new(settings, Arc::clone(&env.keys)).unwrap();
    let token = env.rsa.token("RS256", &env.with(json!({"groups": ["a", "b"]})));
    let mut parts = request(Some(&token));
    parts.headers.append("x-user-email", "spoofed@example.com".parse().unwrap());
    authz.authorize(&mut parts, &ctx(), &RouteAuth::default(), &mut Trace::off()).await.unwrap();
    let all = |name: &str| {
        parts.headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(all("x-user-id"), ["alice"]);
    assert!(all("x-user-email").is_empty(), "absent claim: the spoofed header must still be gone");
    assert_eq!(all("x-user-groups"), [r#"["a","b"]"#]);
}

#[tokio::test]
async fn a_cached_token_is_dropped_when_its_key_leaves_the_jwks() {
    let idp = TestIdp::start().await;
    let old = TestKey::rsa("old");
    idp.set_keys(&[&old]);
    let options = JwksOptions { refetch_interval: Duration::ZERO, ..JwksOptions::default() };
    let registry = JwksRegistry::new(options).unwrap();
    let store = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    let authz =
        JwtAuthorizer::new(JwtSettings::new(idp.issuer(), vec![AUD.into()]), Arc::clone(&store)).unwrap();
    let token = old.token("RS256", &json!({"iss": idp.issuer(), "aud": AUD, "exp": now() + 600}));
    for _ in 0..50 {
        run(&authz, Some(&token), &RouteAuth::default()).await.unwrap();
    }
    assert_eq!(idp.jwks_hits(), 1);
    // Rotate: a token with the new kid makes the store refetch; the old key is gone.
    let new = TestKey::rsa("new");
    idp.set_keys(&[&new]);
    let fresh = new.token("RS256", &json!({"iss": idp.issuer(), "aud": AUD, "exp": now() + 600}));
    run(&authz, Some(&fresh), &RouteAuth::default()).await.unwrap();
    let denial = run(&authz, Some(&token), &RouteAuth::default()).await.unwrap_err();
    assert_eq!(denial.reason, Reason::KidUnknown);
}

#[tokio::test]
async fn a_cached_token_still_expires_and_still_needs_route_scopes() {
    let env = Env::start().await;
    let authz = env.authorizer();
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() + 1.2;
    let token = env.rsa.token("RS256", &env.with(json!({"exp": exp, "scope": "read"})));
    assert!(run(&authz, Some(&token), &RouteAuth::default()).await.is_ok());
    let denial = run(&authz, Some(&token), &RouteAuth::with_scopes(["write"])).await.unwrap_err();
    assert_eq!(denial.reason, Reason::ScopeInsufficient);
    // Wall-clock expiry: nothing to await but time itself.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(run(&authz, Some(&token), &RouteAuth::default()).await.unwrap_err().reason, Reason::Expired);
}

#[tokio::test]
async fn leeway_tolerates_clock_skew_on_every_time_claim() {
    let env = Env::start().await;
    let authz = JwtAuthorizer::new(
        JwtSettings { leeway: Duration::from_secs(30), ..env.settings() },
        Arc::clone(&env.keys),
    )
    .unwrap();
    for c in [json!({"exp": now() - 10}), json!({"nbf": now() + 10}), json!({"iat": now() + 10})] {
        assert!(
            run(&authz, Some(&env.rsa.token("RS256", &env.with(c.clone()))), &RouteAuth::default())
                .await
                .is_ok(),
            "{c}"
        );
    }
    assert_eq!(
        run(
            &authz,
            Some(&env.rsa.token("RS256", &env.with(json!({"exp": now() - 40})))),
            &RouteAuth::default()
        )
        .await
        .unwrap_err()
        .reason,
        Reason::Expired
    );
}

#[tokio::test]
async fn identity_sources_read_query_strings_and_cookies() {
    let env = Env::start().await;
    let settings = JwtSettings {
        identity_source: vec![Variable::Query("access_token".into()), Variable::Cookie("session".into())],
        ..env.settings()
    };
    let authz = JwtAuthorizer::new(settings, Arc::clone(&env.keys)).unwrap();
    let token = env.rsa.token("RS256", &env.claims());
    let mut parts =
        http::Request::builder().uri(format!("/x?access_token={token}")).body(()).unwrap().into_parts().0;
    assert!(authz.authorize(&mut parts, &ctx(), &RouteAuth::default(), &mut Trace::off()).await.is_ok());
    let mut parts = http::Request::builder()
        .uri("/x")
        .header("cookie", format!("a=b; session={token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert!(authz.authorize(&mut parts, &ctx(), &RouteAuth::default(), &mut Trace::off()).await.is_ok());
    // The Authorization header is not a source here.
    let denial = run(&authz, Some(&token), &RouteAuth::default()).await.unwrap_err();
    assert_eq!(denial.reason, Reason::TokenMissing);
}

#[tokio::test]
async fn keys_unavailable_fails_closed_quickly_and_says_why() {
    let idp = TestIdp::start().await;
    idp.set_down(true);
    let options = JwksOptions { request_wait: Duration::from_millis(400), ..JwksOptions::default() };
    let registry = JwksRegistry::new(options).unwrap();
    let store = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    let authz = JwtAuthorizer::new(JwtSettings::new(idp.issuer(), vec![AUD.into()]), store).unwrap();
    let token =
        TestKey::es256("e").token("ES256", &json!({"iss": idp.issuer(), "aud": AUD, "exp": now() + 60}));
    let started = std::time::Instant::now();
    let denial = run(&authz, Some(&token), &RouteAuth::default()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((denial.reason, denial.status), (Reason::KeysUnavailable, DenialStatus::Unauthorized));
    assert!(denial.detail.contains("503"), "{}", denial.detail);
}

#[tokio::test]
async fn explain_lists_every_check_and_the_outcome() {
    let env = Env::start().await;
    let settings =
        JwtSettings { forward_claims: vec![("x-user-id".parse().unwrap(), "sub".into())], ..env.settings() };
    let authz = JwtAuthorizer::new(settings, Arc::clone(&env.keys)).unwrap();
    let token = env.rsa.token("RS256", &env.with(json!({"scope": "orders:read"})));
    let mut trace = Trace::recording(Vec::new());
    let mut parts = request(Some(&token));
    let outcome =
        authz.authorize(&mut parts, &ctx(), &RouteAuth::with_scopes(["orders:read"]), &mut trace).await;
    let steps = trace.into_steps();
    let checks: Vec<_> = steps.iter().map(|s| (s.check, s.passed)).collect();
    assert_eq!(
        checks,
        [
            ("token", true),
            ("header", true),
            ("key", true),
            ("signature", true),
            ("iss", true),
            ("aud", true),
            ("times", true),
            ("scopes", true),
            ("forward", true)
        ]
    );
    assert!(outcome.is_ok());
    assert_eq!(steps.last().unwrap().detail, "x-user-id: alice");
    let text: String = steps.iter().map(ToString::to_string).collect();
    assert!(!text.contains(&token), "the token itself is never shown: {text}");

    // A repeated token is checked in full while recording: the verified-token cache is skipped.
    let mut trace = Trace::recording(Vec::new());
    let outcome =
        authz.authorize(&mut request(Some(&token)), &ctx(), &RouteAuth::default(), &mut trace).await;
    assert!(outcome.is_ok());
    assert!(trace.into_steps().iter().any(|s| s.check == "signature"));

    let expired = env.rsa.token("RS256", &env.with(json!({"exp": now() - 100})));
    let mut trace = Trace::recording(Vec::new());
    let outcome =
        authz.authorize(&mut request(Some(&expired)), &ctx(), &RouteAuth::default(), &mut trace).await;
    let steps = trace.into_steps();
    let last = steps.last().unwrap();
    assert_eq!((last.check, last.passed), ("times", false));
    assert_eq!(outcome.unwrap_err().reason, Reason::Expired);
}

#[tokio::test]
async fn compat_aws_refuses_non_aws_settings_and_requires_a_kid() {
    let env = Env::start().await;
    let aws = JwtSettings { compat_aws: true, ..env.settings() };
    let keys = || Arc::clone(&env.keys);
    for (settings, feature) in [
        (JwtSettings { algorithms: vec![Algorithm::ES256], ..aws.clone() }, "algorithm ES256"),
        (JwtSettings { leeway: Duration::from_secs(5), ..aws.clone() }, "leeway"),
        (
            JwtSettings { identity_source: vec![Variable::Cookie("s".into())], ..aws.clone() },
            "identity source $request.cookie.s",
        ),
    ] {
        match JwtAuthorizer::new(settings, keys()) {
            Err(SettingsError::NotAws { feature: f, .. }) => assert_eq!(f, feature),
            other => panic!("{feature}: {other:?}"),
        }
    }
    assert!(matches!(
        JwtAuthorizer::new(JwtSettings { algorithms: vec![Algorithm::HS256], ..env.settings() }, keys()),
        Err(SettingsError::Symmetric(Algorithm::HS256))
    ));
    let authz = JwtAuthorizer::new(aws, keys()).unwrap();
    assert_eq!(authz.algorithms(), [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512]);
    let es = env.ec.token("ES256", &env.claims());
    assert_eq!(
        run(&authz, Some(&es), &RouteAuth::default()).await.unwrap_err().reason,
        Reason::AlgNotAllowed
    );
    let no_kid = env.rsa.token_with_header(&json!({"alg": "RS256"}), &env.claims());
    assert_eq!(
        run(&authz, Some(&no_kid), &RouteAuth::default()).await.unwrap_err().reason,
        Reason::KidMissing
    );
    assert!(run(&authz, Some(&env.rsa.token("RS256", &env.claims())), &RouteAuth::default()).await.is_ok());
}

#[tokio::test]
async fn dev_issuer_tokens_verify_through_its_static_key_source() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevIssuer::open(dir.path(), "http://127.0.0.1:9901/dev").unwrap();
    let registry = JwksRegistry::new(JwksOptions::default()).unwrap();
    let store = registry.store(dev.key_source()).unwrap();
    let authz = JwtAuthorizer::new(JwtSettings::new(dev.issuer(), vec!["api".into()]), store).unwrap();
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!("alice"));
    claims.insert("aud".into(), json!("api"));
    claims.insert("scope".into(), json!("read write"));
    claims.insert("metadata".into(), json!({"role": "admin"}));
    let token = dev.mint(claims, Duration::from_secs(3600)).unwrap();
    let AuthContext::Jwt(jwt) = run(&authz, Some(&token), &RouteAuth::with_scopes(["write"])).await.unwrap()
    else {
        panic!()
    };
    // The claims the authorizer hands on render for Lambda as AWS does (portcullis-events owns
    // the rendering; docs/aws-compatibility.md#claims-passed-to-the-integration).
    assert_eq!(portcullis_events::claim_string(&jwt.claims["metadata"]).as_deref(), Some("map[role:admin]"));
    assert_eq!(portcullis_events::claim_string(&jwt.claims["sub"]).as_deref(), Some("alice"));
}

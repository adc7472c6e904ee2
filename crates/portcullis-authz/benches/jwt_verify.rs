//! JWT verifications per second, per algorithm:
//! - `raw`: the crypto library's signature verify alone (aws-lc-rs, key parsed per call, as
//!   jsonwebtoken does it): the physical limit of an uncached check;
//! - `raw_parsed`: aws-lc-rs with the key parsed once (`ParsedPublicKey`), for reference;
//! - `uncached`: the whole authorizer (identity source, structural checks, key lookup,
//!   signature, claims, scopes) with the verified-token cache disabled;
//! - `cached`: the same token again, served by the verified-token cache.
//!
//! Run: `cargo bench -p portcullis-authz --bench jwt_verify`
//! (quick: `-- --warm-up-time 0.3 --measurement-time 1`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_authz::{Authorizer, JwtAuthorizer, JwtSettings, RouteAuth, Trace};
use portcullis_core::{AuthContext, CallContext, Params, RequestIdGenerator};
use portcullis_jwks::testing::TestKey;
use portcullis_jwks::{JwksOptions, JwksRegistry, KeySource};
use serde_json::{Value, json};

const ALGS: [&str; 9] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// Verifies `(message, signature)`.
type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

fn raw_verifier(alg: &str, jwk: &Value) -> RawVerify {
    let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    match alg {
        "ES256" | "ES384" | "EdDSA" => {
            let (algorithm, bytes): (&'static dyn lc::VerificationAlgorithm, Vec<u8>) = match alg {
                "ES256" => (&lc::ECDSA_P256_SHA256_FIXED, [vec![4], field("x"), field("y")].concat()),
                "ES384" => (&lc::ECDSA_P384_SHA384_FIXED, [vec![4], field("x"), field("y")].concat()),
                _ => (&lc::ED25519, field("x")),
            };
            Box::new(move |msg, sig| UnparsedPublicKey::new(algorithm, &bytes).verify(msg, sig).is_ok())
        }
        _ => {
            let params = rsa_params(alg);
            let (n, e) = (field("n"), field("e"));
            Box::new(move |msg, sig| RsaPublicKeyComponents { n: &n, e: &e }.verify(params, msg, sig).is_ok())
        }
    }
}

fn rsa_params(alg: &str) -> &'static lc::RsaParameters {
    match alg {
        "RS256" => &lc::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &lc::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &lc::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &lc::RSA_PSS_2048_8192_SHA256,
        "PS384" => &lc::RSA_PSS_2048_8192_SHA384,
        _ => &lc::RSA_PSS_2048_8192_SHA512,
    }
}

fn parsed_verifier(alg: &str, jwk: &Value) -> Option<ParsedPublicKey> {
    let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    match alg {
        "ES256" => {
            ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, [vec![4], field("x"), field("y")].concat())
                .ok()
        }
        "ES384" => {
            ParsedPublicKey::new(&lc::ECDSA_P384_SHA384_FIXED, [vec![4], field("x"), field("y")].concat())
                .ok()
        }
        "EdDSA" => ParsedPublicKey::new(&lc::ED25519, field("x")).ok(),
        _ => None, // RSA from n/e has no direct ParsedPublicKey constructor; `raw` is the limit there
    }
}

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: ([127, 0, 0, 1], 1).into(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /private"),
        params: Params::default(),
        received_at: SystemTime::now(),
        auth: AuthContext::None,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let registry = JwksRegistry::new(JwksOptions::default()).unwrap();
    let issuer = "https://issuer.bench.test/";
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({"iss": issuer, "aud": "api", "sub": "alice", "exp": now + 3600, "iat": now, "scope": "read write"});
    let ctx = ctx();
    let route = RouteAuth::with_scopes(["read"]);

    for alg in ALGS {
        let key = TestKey::for_alg(alg, "bench");
        let jwk = key.jwk();
        let token = key.token(alg, &claims);
        let store = registry.store(KeySource::Static(json!({"keys": [jwk.clone()]}))).unwrap();
        let settings = |capacity| JwtSettings {
            token_cache_capacity: capacity,
            ..JwtSettings::new(issuer, vec!["api".into()])
        };
        let uncached = JwtAuthorizer::new(settings(0), Arc::clone(&store)).unwrap();
        let cached = JwtAuthorizer::new(settings(10_000), Arc::clone(&store)).unwrap();
        let header = format!("Bearer {token}");
        let parts = || {
            http::Request::builder().header("authorization", header.as_str()).body(()).unwrap().into_parts().0
        };

        let (input, sig_b64) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        let raw = raw_verifier(alg, &jwk);
        assert!(raw(input.as_bytes(), &sig));

        let mut group = c.benchmark_group(alg);
        group.throughput(Throughput::Elements(1));
        group.bench_function("raw", |b| b.iter(|| raw(black_box(input.as_bytes()), black_box(&sig))));
        if let Some(parsed) = parsed_verifier(alg, &jwk) {
            group.bench_function("raw_parsed", |b| {
                b.iter(|| parsed.verify_sig(black_box(input.as_bytes()), black_box(&sig)).is_ok())
            });
        }
        group.bench_function("uncached", |b| {
            b.iter_batched_ref(
                parts,
                |p| rt.block_on(uncached.authorize(p, &ctx, &route, &mut Trace::off())).is_ok(),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("cached", |b| {
            b.iter_batched_ref(
                parts,
                |p| rt.block_on(cached.authorize(p, &ctx, &route, &mut Trace::off())).is_ok(),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

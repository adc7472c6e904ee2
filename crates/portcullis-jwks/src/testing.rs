//! Test tools (feature `testing`): a real HTTP identity provider under test control and signing
//! keys for every supported algorithm, able to forge arbitrary headers and payloads.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as lc, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use url::Url;

use crate::key::KeyMaterial;

/// Base64url without padding, as in JWS.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Private {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A signing key with a `kid`.
pub struct TestKey {
    pub kid: String,
    private: Private,
}

impl TestKey {
    pub fn rsa(kid: &str) -> Self {
        Self { kid: kid.into(), private: Private::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()) }
    }
    /// An RSA key from PKCS#8 DER.
    pub fn rsa_from_pkcs8(kid: &str, der: &[u8]) -> Self {
        Self { kid: kid.into(), private: Private::Rsa(RsaKeyPair::from_pkcs8(der).unwrap()) }
    }
    pub fn es256(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            private: Private::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
        }
    }
    pub fn es384(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            private: Private::P384(EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap()),
        }
    }
    pub fn ed25519(kid: &str) -> Self {
        Self { kid: kid.into(), private: Private::Ed(Ed25519KeyPair::generate().unwrap()) }
    }

    /// A key for `alg` ("RS256", "PS384", "ES256", "EdDSA", ...).
    pub fn for_alg(alg: &str, kid: &str) -> Self {
        match alg {
            "ES256" => Self::es256(kid),
            "ES384" => Self::es384(kid),
            "EdDSA" => Self::ed25519(kid),
            _ => Self::rsa(kid),
        }
    }

    /// The natural algorithm of this key.
    pub fn default_alg(&self) -> &'static str {
        match self.private {
            Private::Rsa(_) => "RS256",
            Private::P256(_) => "ES256",
            Private::P384(_) => "ES384",
            Private::Ed(_) => "EdDSA",
        }
    }

    /// `(n, e)` of an RSA key.
    pub fn rsa_components(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let Private::Rsa(pair) = &self.private else {
            return None;
        };
        match crate::der::parse_rsa_public_key(pair.public_key().as_ref())? {
            KeyMaterial::Rsa { n, e } => Some((n, e)),
            _ => None,
        }
    }

    /// The public key as a JWK (no `alg`, no `use`).
    pub fn jwk(&self) -> Value {
        match &self.private {
            Private::Rsa(_) => {
                let (n, e) = self.rsa_components().unwrap();
                json!({"kty":"RSA","kid":self.kid,"n":b64(n),"e":b64(e)})
            }
            Private::P256(pair) | Private::P384(pair) => {
                let p = pair.public_key().as_ref();
                let size = (p.len() - 1) / 2;
                let crv = if size == 32 { "P-256" } else { "P-384" };
                json!({"kty":"EC","crv":crv,"kid":self.kid,"x":b64(&p[1..=size]),"y":b64(&p[1 + size..])})
            }
            Private::Ed(pair) => {
                json!({"kty":"OKP","crv":"Ed25519","kid":self.kid,"x":b64(pair.public_key().as_ref())})
            }
        }
    }

    /// PKCS#8 DER of an RSA private key (to make certificates with rcgen).
    pub fn rsa_pkcs8(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
        let Private::Rsa(pair) = &self.private else { panic!("not RSA") };
        let der: Pkcs8V1Der<'static> = pair.as_der().unwrap();
        der.as_ref().to_vec()
    }

    /// `PUBLIC KEY` (SubjectPublicKeyInfo) PEM of an RSA key.
    pub fn rsa_spki_pem(&self) -> String {
        use aws_lc_rs::encoding::{AsDer as _, PublicKeyX509Der};
        let Private::Rsa(pair) = &self.private else { panic!("not RSA") };
        let der: PublicKeyX509Der<'static> = pair.public_key().as_der().unwrap();
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// PKCS#1 `RSA PUBLIC KEY` PEM of an RSA key.
    pub fn rsa_public_pem(&self) -> String {
        let Private::Rsa(pair) = &self.private else { panic!("not RSA") };
        let b64 = STANDARD.encode(pair.public_key().as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// Signs `input` as `alg` would. For RSA keys any RS*/PS* name works; otherwise the key's
    /// own algorithm is used whatever `alg` says (so forged headers can lie).
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.private {
            Private::Rsa(pair) => {
                let encoding: &'static dyn lc::RsaEncoding = match alg {
                    "RS384" => &lc::RSA_PKCS1_SHA384,
                    "RS512" => &lc::RSA_PKCS1_SHA512,
                    "PS256" => &lc::RSA_PSS_SHA256,
                    "PS384" => &lc::RSA_PSS_SHA384,
                    "PS512" => &lc::RSA_PSS_SHA512,
                    _ => &lc::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, input, &mut sig).unwrap();
                sig
            }
            Private::P256(pair) | Private::P384(pair) => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
            Private::Ed(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    /// A token with header `{"alg":alg,"typ":"JWT","kid":kid}` and these claims.
    pub fn token(&self, alg: &str, claims: &Value) -> String {
        self.token_with_header(&json!({"alg":alg,"typ":"JWT","kid":self.kid}), claims)
    }

    /// A token with this exact header, signed by this key (using the header's `alg` for RSA).
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        self.token_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// A token over raw header and payload bytes (for non-JSON or odd payloads).
    pub fn token_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let alg = serde_json::from_slice::<Value>(header)
            .ok()
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| self.default_alg().to_owned());
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.sign(&alg, input.as_bytes());
        format!("{input}.{}", b64(sig))
    }
}

#[derive(Default)]
struct IdpState {
    jwks: Mutex<Value>,
    raw_jwks: Mutex<Option<Vec<u8>>>,
    cache_control: Mutex<Option<String>>,
    down: AtomicBool,
    delay_ms: AtomicU64,
    discovery_hits: AtomicU64,
    jwks_hits: AtomicU64,
}

/// An OpenID provider on `127.0.0.1:0` serving `/.well-known/openid-configuration` and `/jwks`,
/// with controls: keys, raw JWKS bodies, `Cache-Control`, outages (503), latency, hit counters.
pub struct TestIdp {
    addr: SocketAddr,
    state: Arc<IdpState>,
    task: JoinHandle<()>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIdp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(IdpState::default());
        *state.jwks.lock().unwrap() = json!({"keys": []});
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(serve(&state, addr, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn jwks_url(&self) -> Url {
        Url::parse(&format!("http://{}/jwks", self.addr)).unwrap()
    }
    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.set_jwks(json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}));
    }
    pub fn set_jwks(&self, doc: Value) {
        *self.state.jwks.lock().unwrap() = doc;
    }
    /// Serve these exact bytes as the JWKS body (oversized or invalid documents).
    pub fn set_raw_jwks(&self, body: Option<Vec<u8>>) {
        *self.state.raw_jwks.lock().unwrap() = body;
    }
    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(str::to_owned);
    }
    /// While down, every request gets `503`.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
    /// Every response waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn discovery_hits(&self) -> u64 {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }
    pub fn jwks_hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }
}

async fn serve(
    state: &IdpState,
    addr: SocketAddr,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/.well-known/openid-configuration" => state.discovery_hits.fetch_add(1, Ordering::SeqCst),
        "/jwks" => state.jwks_hits.fetch_add(1, Ordering::SeqCst),
        _ => 0,
    };
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut builder = Response::builder().header("content-type", "application/json");
    if state.down.load(Ordering::SeqCst) {
        return builder.status(503).body(Full::new(Bytes::from_static(b"{\"error\":\"down\"}"))).unwrap();
    }
    let body = match path.as_str() {
        "/.well-known/openid-configuration" => {
            json!({"issuer": format!("http://{addr}"), "jwks_uri": format!("http://{addr}/jwks")})
                .to_string()
                .into_bytes()
        }
        "/jwks" => {
            if let Some(cc) = state.cache_control.lock().unwrap().clone() {
                builder = builder.header("cache-control", cc);
            }
            match state.raw_jwks.lock().unwrap().clone() {
                Some(raw) => raw,
                None => state.jwks.lock().unwrap().to_string().into_bytes(),
            }
        }
        _ => {
            return builder.status(404).body(Full::new(Bytes::from_static(b"{}"))).unwrap();
        }
    };
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

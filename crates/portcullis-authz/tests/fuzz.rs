//! Fuzz targets for the JWT token parser (through the public `JwtAuthorizer`) and the IAM policy
//! parser and evaluator (`policy::Policy`, `IamResponse`, `SimpleResponse`), run on the stable
//! toolchain through proptest, bounded for CI.
//!
//! What is fuzzed:
//! - Authorization header values: arbitrary bytes; near-tokens (three base64url segments whose
//!   header mixes `alg` spellings such as `none`, `NONE`, `HS256` or a JSON number, `kid`s that
//!   are unknown, huge or not strings, `crit`, header-borne keys `jwk`/`jku`/`x5u`/`x5c`, deep
//!   nesting, duplicate members, non-UTF-8 bytes; padded, standard-alphabet or non-canonical
//!   encodings; missing or extra dots) signed by another key with the same `kid`, by HMAC with
//!   the configured RSA key's public material as the secret, with another message's genuine
//!   signature, with the genuine key under another scheme, or not at all; genuinely signed
//!   tokens whose header breaks the rules; and valid tokens with a few bytes mutated.
//! - IAM policy documents: arbitrary JSON values and near-policies (`Statement` as an object or
//!   an array, `Effect` spellings, `Action`/`Resource` as strings or arrays, `Not…` forms,
//!   wildcards `*` and `?` anywhere, arrays and patterns past the size limits, `Condition` and
//!   `Principal`), evaluated against `methodArn`s; whole authorizer answers as bytes.
//!
//! Properties asserted:
//! - nothing panics, and every input takes less than [`MAX_CASE_TIME`];
//! - no token the configured key did not sign for exactly that header and payload is admitted,
//!   by the cached, the uncached or the `compat: aws` authorizer; nor is a genuinely signed
//!   token whose header carries a key, a key location, `crit`, a duplicate member or a
//!   forbidden `alg`; every denial is a 401, leaves the request untouched, and a recording
//!   [`Trace`] (what `portcullis explain` runs) gives the same reason with exactly one failed
//!   step, the last;
//! - a policy's decision equals an independent evaluator's (IAM logic over a dynamic-programming
//!   wildcard matcher), so a policy without an `Allow` never allows and a matching explicit
//!   `Deny` always wins; well-formed policies always parse; parsed answers obey their
//!   `context` rules.
//!
//! Cases per target: `PORTCULLIS_FUZZ_CASES` (default [`DEFAULT_CASES`]). Failures are kept in
//! `tests/fuzz.proptest-regressions` and replayed first on every run; each real bug found also
//! has a named `regression_*` test below.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use http::header::AUTHORIZATION;
use http::{HeaderValue, request::Parts};
use portcullis_authz::policy::{
    self, ContextRules, Decision, IamResponse, MAX_CONTEXT_BYTES, Policy, SimpleResponse,
};
use portcullis_authz::{Authorizer, Denial, DenialStatus, JwtAuthorizer, JwtSettings, RouteAuth, Trace};
use portcullis_core::{AuthContext, CallContext, Params, RequestIdGenerator};
use portcullis_jwks::testing::TestKey;
use portcullis_jwks::{JwksOptions, JwksRegistry, KeySource};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};

/// Cases per target when `PORTCULLIS_FUZZ_CASES` is not set (CI runs this).
const DEFAULT_CASES: u32 = 1_500;
/// The longest one input may take in a debug build before it counts as unbounded work.
const MAX_CASE_TIME: Duration = Duration::from_secs(2);

fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PORTCULLIS_FUZZ_CASES").ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(DEFAULT_CASES),
        // Shrinking a failure is bounded too, so a red CI run still ends in time.
        max_shrink_time: 60_000,
        max_shrink_iters: 20_000,
        // Each case runs in a child process that is stopped (and the input reported) past this:
        // a hang fails the test instead of stalling CI.
        timeout: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

// === JWT: the fixture ===

const ISSUER: &str = "https://issuer.fuzz.test/";
const AUDIENCE: &str = "fuzz-api";
/// The algorithms an RSA key signs with; `TestKey::sign` takes the same names.
const RSA_ALGS: [&str; 6] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    _registry: JwksRegistry,
    /// The configured keys (`rsa-1`, `ec-1`).
    real_rsa: TestKey,
    real_ec: TestKey,
    /// Forgers: other keys under the configured `kid`s.
    forger_rsa: TestKey,
    forger_ec: TestKey,
    forger_ed: TestKey,
    /// What an HMAC forger may use as the shared secret: the configured key's public material.
    hmac_secrets: Vec<Vec<u8>>,
    /// `(name, authorizer)`: cached, uncached, `compat: aws`.
    authorizers: Vec<(&'static str, JwtAuthorizer)>,
    /// A token the configured RSA key signed, with claims every authorizer accepts.
    valid: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let _entered = runtime.enter();
    let registry = JwksRegistry::new(JwksOptions::default()).expect("a JWKS registry");
    let real_rsa = TestKey::rsa("rsa-1");
    let real_ec = TestKey::es256("ec-1");
    let keys = registry
        .store(KeySource::Static(json!({"keys": [real_rsa.jwk(), real_ec.jwk()]})))
        .expect("a static key set");
    let settings = JwtSettings::new(ISSUER, vec![AUDIENCE.to_owned()]);
    let authorizers = vec![
        ("cached", JwtAuthorizer::new(settings.clone(), Arc::clone(&keys)).expect("cached")),
        (
            "uncached",
            JwtAuthorizer::new(
                JwtSettings { token_cache_capacity: 0, ..settings.clone() },
                Arc::clone(&keys),
            )
            .expect("uncached"),
        ),
        (
            "compat-aws",
            JwtAuthorizer::new(JwtSettings { compat_aws: true, ..settings }, Arc::clone(&keys)).expect("aws"),
        ),
    ];
    let (n, e) = real_rsa.rsa_components().expect("RSA components");
    let hmac_secrets = vec![
        n.clone(),
        e,
        real_rsa.rsa_spki_pem().into_bytes(),
        real_rsa.rsa_public_pem().into_bytes(),
        real_rsa.jwk().to_string().into_bytes(),
        URL_SAFE_NO_PAD.encode(&n).into_bytes(),
        Vec::new(),
    ];
    let valid = real_rsa.token("RS256", &good_claims());
    Fixture {
        runtime,
        _registry: registry,
        real_rsa,
        real_ec,
        forger_rsa: TestKey::rsa("rsa-1"),
        forger_ec: TestKey::es256("ec-1"),
        forger_ed: TestKey::ed25519("ec-1"),
        hmac_secrets,
        authorizers,
        valid,
    }
});

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn good_claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now() + 86_400, "iat": now() - 5})
}

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(7).next_id(),
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

fn request(value: &HeaderValue) -> Parts {
    let mut parts = http::Request::new(()).into_parts().0;
    parts.headers.insert(AUTHORIZATION, value.clone());
    parts
}

/// An Authorization header value under test; `Debug` shows it as escaped text.
#[derive(Clone, PartialEq, Eq)]
struct HeaderBytes(Vec<u8>);

impl fmt::Debug for HeaderBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() > 600 {
            let head = &self.0[..300];
            let tail = &self.0[self.0.len() - 100..];
            return write!(
                f,
                "b\"{}…({} bytes)…{}\"",
                head.escape_ascii(),
                self.0.len(),
                tail.escape_ascii()
            );
        }
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// What every authorizer must do with a token that must not pass: deny with 401, leave the
/// request as it was, and, traced as `portcullis explain` traces it, deny for the same reason
/// with exactly one failed step, the last.
fn check_denied(header: &HeaderBytes, why: &str) -> Result<(), TestCaseError> {
    // A value HTTP cannot carry never reaches an authorizer.
    let Ok(value) = HeaderValue::from_bytes(&header.0) else {
        return Ok(());
    };
    let fixture = &*FIXTURE;
    let route = RouteAuth::default();
    for (name, authz) in &fixture.authorizers {
        let started = Instant::now();
        let mut parts = request(&value);
        let outcome: Result<AuthContext, Denial> =
            fixture.runtime.block_on(authz.authorize(&mut parts, &ctx(), &route, &mut Trace::off()));
        let mut trace = Trace::recording(Vec::new());
        let traced =
            fixture.runtime.block_on(authz.authorize(&mut request(&value), &ctx(), &route, &mut trace));
        let steps = trace.into_steps();
        prop_assert!(started.elapsed() < MAX_CASE_TIME, "{} took {:?}", name, started.elapsed());
        let denial = match outcome {
            Ok(_) => return Err(TestCaseError::fail(format!("{name} admitted a token that {why}"))),
            Err(denial) => denial,
        };
        prop_assert_eq!(denial.status, DenialStatus::Unauthorized, "{}: {}", name, denial);
        prop_assert_eq!(parts.headers.len(), 1, "{} changed a denied request", name);
        prop_assert_eq!(parts.headers.get(AUTHORIZATION), Some(&value));
        let traced_reason = traced.as_ref().err().map(|d| d.reason);
        prop_assert_eq!(traced_reason, Some(denial.reason), "{}: the traced decision disagrees", name);
        prop_assert!(!steps.is_empty(), "{}: the trace recorded no step", name);
        let failed: Vec<usize> =
            steps.iter().enumerate().filter(|(_, s)| !s.passed).map(|(i, _)| i).collect();
        prop_assert_eq!(failed, vec![steps.len() - 1], "{}: {:?}", name, steps);
    }
    Ok(())
}

// === JWT: near-tokens ===

/// `alg` values, as raw JSON.
const ALGS: &[&str] = &[
    r#""RS256""#,
    r#""RS384""#,
    r#""RS512""#,
    r#""PS256""#,
    r#""PS512""#,
    r#""ES256""#,
    r#""ES384""#,
    r#""EdDSA""#,
    r#""none""#,
    r#""NONE""#,
    r#""None""#,
    r#""nOnE""#,
    r#""HS256""#,
    r#""HS384""#,
    r#""HS512""#,
    r#""RS256 ""#,
    r#""rs256""#,
    r#""ES512""#,
    r#""""#,
    r#""RSA-OAEP""#,
    r#""RS\u0032\u0035\u0036""#,
    "256",
    "null",
    "true",
    r#"["RS256"]"#,
    r#"{"alg":"RS256"}"#,
];

/// `kid` values, as raw JSON (`HUGE` stands for a `kid` past the 16 KiB token limit).
const KIDS: &[&str] = &[
    r#""rsa-1""#,
    r#""ec-1""#,
    r#""unknown""#,
    r#""""#,
    r#""RSA-1""#,
    r#""rsa-1\u0000""#,
    "7",
    "null",
    r#"{"kid":"rsa-1"}"#,
    r#"["rsa-1"]"#,
    "HUGE",
];

/// Extra header members: names and raw JSON values (`FORGER_JWK`/`REAL_JWK` are resolved at
/// build time; `DEEP` is nesting deeper than JSON parsers allow).
const EXTRA_NAMES: &[&str] = &[
    "typ", "cty", "crit", "jwk", "jku", "x5u", "x5c", "x5t", "b64", "zip", "enc", "alg", "kid", "x", "nested",
];
const EXTRA_VALUES: &[&str] = &[
    r#""JWT""#,
    r#"["exp"]"#,
    "[]",
    r#""b64""#,
    r#"["unknown"]"#,
    "FORGER_JWK",
    "REAL_JWK",
    r#""https://evil.example/jwks""#,
    r#"["MIIB"]"#,
    "false",
    "DEEP",
    r#""none""#,
    "{}",
];

#[derive(Debug, Clone)]
enum Signer {
    /// No signature at all.
    Empty,
    /// Another RSA key under `kid` `rsa-1`, with the scheme the header names.
    ForgerRsa(&'static str),
    /// Another P-256 key under `kid` `ec-1`.
    ForgerEc,
    /// An Ed25519 key under `kid` `ec-1`.
    ForgerEd,
    /// HMAC (SHA-256/384/512) keyed with the configured RSA key's public material.
    Hmac { secret: usize, bits: u16 },
    /// Random bytes.
    Random(Vec<u8>),
    /// All zeros (the "psychic signature" of broken ECDSA verifiers).
    Zeros(usize),
    /// The configured key's genuine signature over another message (the valid token's).
    Transplant,
    /// The configured RSA key over this very message, with a scheme the header does not name.
    RealOtherScheme(&'static str),
}

#[derive(Debug, Clone)]
enum Encoding {
    Canonical,
    Padded,
    StandardAlphabet,
    StandardPadded,
    /// The signature's last character changed so that unused trailing bits are set.
    StrayBits,
}

#[derive(Debug, Clone)]
enum Shape {
    Three,
    DropSignature,
    ExtraPart,
    TrailingDot,
    LeadingDot,
    EmptyHeader,
    /// A byte written into the token at this fraction of its length.
    Inject(u16, u8),
}

#[derive(Debug, Clone)]
struct NearToken {
    prefix: &'static str,
    alg: Option<&'static str>,
    kid: Option<&'static str>,
    extras: Vec<(&'static str, &'static str)>,
    /// Header text changes: 0 none, 1 BOM first, 2 trailing garbage, 3 non-UTF-8 byte in the
    /// first string, 4 whitespace around.
    header_twist: u8,
    payload: u8,
    signer: Signer,
    encoding: Encoding,
    shape: Shape,
    deep: usize,
}

fn signer() -> impl Strategy<Value = Signer> {
    prop_oneof![
        2 => Just(Signer::Empty),
        4 => prop::sample::select(RSA_ALGS.to_vec()).prop_map(Signer::ForgerRsa),
        2 => Just(Signer::ForgerEc),
        1 => Just(Signer::ForgerEd),
        3 => (0..7usize, prop::sample::select(vec![256u16, 384, 512]))
            .prop_map(|(secret, bits)| Signer::Hmac { secret, bits }),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Signer::Random),
        1 => prop::sample::select(vec![64usize, 96, 256, 512]).prop_map(Signer::Zeros),
        2 => Just(Signer::Transplant),
        2 => prop::sample::select(RSA_ALGS.to_vec()).prop_map(Signer::RealOtherScheme),
    ]
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        40 => Just(Encoding::Canonical),
        1 => Just(Encoding::Padded),
        1 => Just(Encoding::StandardAlphabet),
        1 => Just(Encoding::StandardPadded),
        1 => Just(Encoding::StrayBits),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        50 => Just(Shape::Three),
        1 => Just(Shape::DropSignature),
        1 => Just(Shape::ExtraPart),
        1 => Just(Shape::TrailingDot),
        1 => Just(Shape::LeadingDot),
        1 => Just(Shape::EmptyHeader),
        2 => (any::<u16>(), prop::sample::select(vec![b' ', b'\t', b'.', b'=', 0x80, 0xff, b'+', b'/', b'"']))
            .prop_map(|(at, b)| Shape::Inject(at, b)),
    ]
}

fn prefix() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        12 => Just("Bearer "),
        1 => prop::sample::select(vec!["bearer ", "BEARER ", "", "Bearer  ", "Bearer\t", "Basic ", "Bearer"]),
    ]
}

/// Each oddity is drawn rarely, so most tokens carry one or none and get as far as the key
/// and signature checks.
fn near_token() -> impl Strategy<Value = NearToken> {
    let alg = prop_oneof![
        6 => prop::sample::select(&ALGS[..8]),
        4 => prop::sample::select(ALGS),
    ];
    let kid = prop_oneof![
        6 => prop::sample::select(&KIDS[..2]),
        2 => prop::sample::select(KIDS),
    ];
    let extra = (prop::sample::select(EXTRA_NAMES), prop::sample::select(EXTRA_VALUES));
    (
        prefix(),
        prop::option::weighted(0.97, alg),
        prop::option::weighted(0.9, kid),
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec(extra, 1..3)],
        prop_oneof![20 => Just(0u8), 1 => 1u8..5],
        prop_oneof![20 => Just(0u8), 1 => 3u8..8],
        signer(),
        encoding(),
        shape(),
        prop_oneof![12 => Just(0usize), 1 => 1usize..128, 1 => 128usize..300],
    )
        .prop_map(|(prefix, alg, kid, extras, header_twist, payload, signer, encoding, shape, deep)| {
            NearToken { prefix, alg, kid, extras, header_twist, payload, signer, encoding, shape, deep }
        })
}

/// A JSON value nested `depth` times.
fn deep_json(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn resolve(raw: &'static str, deep: usize) -> String {
    match raw {
        "FORGER_JWK" => FIXTURE.forger_rsa.jwk().to_string(),
        "REAL_JWK" => FIXTURE.real_rsa.jwk().to_string(),
        "DEEP" => deep_json(deep.max(129)),
        "HUGE" => format!("\"{}\"", "k".repeat(17_000)),
        other => other.to_owned(),
    }
}

fn header_bytes(t: &NearToken) -> Vec<u8> {
    let mut members = Vec::new();
    if let Some(alg) = t.alg {
        members.push(format!("\"alg\":{alg}"));
    }
    if let Some(kid) = t.kid {
        members.push(format!("\"kid\":{}", resolve(kid, t.deep)));
    }
    for (name, value) in &t.extras {
        members.push(format!("\"{name}\":{}", resolve(value, t.deep)));
    }
    if t.deep > 0 {
        members.push(format!("\"nest\":{}", deep_json(t.deep)));
    }
    let text = format!("{{{}}}", members.join(","));
    match t.header_twist {
        1 => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        2 => format!("{text} x").into_bytes(),
        3 => {
            let mut bytes = text.into_bytes();
            if let Some(quote) = bytes.iter().skip(1).position(|b| *b == b'"') {
                bytes.insert(quote + 2, 0xff);
            }
            bytes
        }
        4 => format!(" \n{text}\t ").into_bytes(),
        _ => text.into_bytes(),
    }
}

fn payload_bytes(kind: u8) -> Vec<u8> {
    let claims = good_claims();
    match kind {
        0..=2 => claims.to_string().into_bytes(),
        3 => {
            let mut c = claims;
            c["exp"] = json!(now() - 10);
            c.to_string().into_bytes()
        }
        4 => b"[1,2]".to_vec(),
        5 => format!(r#"{{"iss":"{ISSUER}","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}"#, now() + 60)
            .into_bytes(),
        6 => {
            let mut c = claims;
            c["pad"] = json!("p".repeat(17_000));
            c.to_string().into_bytes()
        }
        _ => b"\xff\xfe{".to_vec(),
    }
}

fn hmac(bits: u16, secret: &[u8], input: &[u8]) -> Vec<u8> {
    let alg = match bits {
        384 => aws_lc_rs::hmac::HMAC_SHA384,
        512 => aws_lc_rs::hmac::HMAC_SHA512,
        _ => aws_lc_rs::hmac::HMAC_SHA256,
    };
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(alg, secret), input).as_ref().to_vec()
}

fn encode(encoding: &Encoding, bytes: &[u8]) -> String {
    match encoding {
        Encoding::Canonical | Encoding::StrayBits => URL_SAFE_NO_PAD.encode(bytes),
        Encoding::Padded => URL_SAFE.encode(bytes),
        Encoding::StandardAlphabet => STANDARD_NO_PAD.encode(bytes),
        Encoding::StandardPadded => STANDARD.encode(bytes),
    }
}

/// Sets unused trailing bits of a base64url text (when it has any): same bytes, another text.
fn set_stray_bits(text: &mut String) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if text.len().is_multiple_of(4) {
        return;
    }
    if let Some(last) = text.pop() {
        let index = ALPHABET.iter().position(|c| char::from(*c) == last).unwrap_or(0);
        text.push(char::from(ALPHABET[(index + 1) % 64]));
    }
}

/// Builds the header value; `None` when the configured key genuinely signed exactly this
/// header and payload with the scheme the header names (then admitting it may be right).
fn build(t: &NearToken) -> Option<HeaderBytes> {
    let fixture = &*FIXTURE;
    let header = header_bytes(t);
    let input =
        format!("{}.{}", encode(&t.encoding, &header), encode(&t.encoding, &payload_bytes(t.payload)));
    let signature = match &t.signer {
        Signer::Empty => Vec::new(),
        Signer::ForgerRsa(alg) => fixture.forger_rsa.sign(alg, input.as_bytes()),
        Signer::ForgerEc => fixture.forger_ec.sign("ES256", input.as_bytes()),
        Signer::ForgerEd => fixture.forger_ed.sign("EdDSA", input.as_bytes()),
        Signer::Hmac { secret, bits } => {
            hmac(*bits, &fixture.hmac_secrets[secret % fixture.hmac_secrets.len()], input.as_bytes())
        }
        Signer::Random(bytes) => bytes.clone(),
        Signer::Zeros(n) => vec![0; *n],
        Signer::Transplant => {
            let (valid_input, valid_sig) = fixture.valid.rsplit_once('.')?;
            if valid_input == input {
                return None;
            }
            URL_SAFE_NO_PAD.decode(valid_sig).ok()?
        }
        Signer::RealOtherScheme(alg) => {
            // The header's `alg` as a JSON parser reads it (`"RS\u0032\u0035\u0036"` is RS256).
            let named = serde_json::from_slice::<Value>(&header).ok().and_then(|h| h.get("alg").cloned());
            if named.as_ref().and_then(Value::as_str) == Some(alg) {
                return None;
            }
            fixture.real_rsa.sign(alg, input.as_bytes())
        }
    };
    let mut sig = encode(&t.encoding, &signature);
    if matches!(t.encoding, Encoding::StrayBits) {
        set_stray_bits(&mut sig);
    }
    let token = match &t.shape {
        Shape::Three | Shape::Inject(..) => format!("{input}.{sig}"),
        Shape::DropSignature => input,
        Shape::ExtraPart => format!("{input}.{sig}.AAAA"),
        Shape::TrailingDot => format!("{input}.{sig}."),
        Shape::LeadingDot => format!(".{input}.{sig}"),
        Shape::EmptyHeader => format!(".{}.{sig}", input.split_once('.').map_or("", |(_, p)| p)),
    };
    let mut bytes = format!("{}{token}", t.prefix).into_bytes();
    if let Shape::Inject(at, byte) = t.shape {
        let at = usize::from(at) % (bytes.len() + 1);
        bytes.insert(at, byte);
    }
    Some(HeaderBytes(bytes))
}

/// A header value of arbitrary bytes, or arbitrary text over the token alphabet.
fn arbitrary_header() -> impl Strategy<Value = HeaderBytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        "(Bearer )?[A-Za-z0-9_\\-\\.=+/ ]{0,400}".prop_map(String::into_bytes),
        (prefix(), "[A-Za-z0-9_\\-]{0,60}\\.[A-Za-z0-9_\\-]{0,200}\\.[A-Za-z0-9_\\-]{0,400}")
            .prop_map(|(p, t)| format!("{p}{t}").into_bytes()),
    ]
    .prop_map(HeaderBytes)
}

/// A genuinely signed token whose header breaks a rule the authorizer must enforce anyway.
#[derive(Debug, Clone)]
struct BadHeader {
    alg: &'static str,
    violation: usize,
}

const VIOLATIONS: &[&str] = &[
    r#","jwk":FORGER_JWK"#,
    r#","jwk":REAL_JWK"#,
    r#","jku":"https://evil.example/jwks""#,
    r#","x5u":"https://evil.example/cert""#,
    r#","x5c":["MIIB"]"#,
    r#","crit":["exp"],"exp":1"#,
    r#","crit":[]"#,
    r#","alg":"none""#,
    r#","kid":"rsa-1""#,
    r#","kid":"nope""#,
    " trailing",
    "}",
];

fn bad_header_token(b: &BadHeader) -> HeaderBytes {
    let fixture = &*FIXTURE;
    let (alg_text, sign_alg) = match b.violation {
        // Forbidden `alg` spellings over a genuine RS256 signature.
        n if n >= VIOLATIONS.len() => {
            (["none", "NONE", "HS256", "rs256", "RS256 ", "Rs256"][n - VIOLATIONS.len()], "RS256")
        }
        _ => (b.alg, b.alg),
    };
    let extra = VIOLATIONS.get(b.violation).copied().unwrap_or("");
    let extra =
        extra.replace("FORGER_JWK", &resolve("FORGER_JWK", 0)).replace("REAL_JWK", &resolve("REAL_JWK", 0));
    let header = format!(r#"{{"alg":"{alg_text}","kid":"rsa-1"{extra}}}"#);
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(good_claims().to_string()));
    let sig = fixture.real_rsa.sign(sign_alg, input.as_bytes());
    HeaderBytes(format!("Bearer {input}.{}", URL_SAFE_NO_PAD.encode(sig)).into_bytes())
}

/// A valid token with 1 to 3 edits: `(kind, position, byte)`.
fn mutated_valid(edits: &[(u8, u16, u8)]) -> Option<HeaderBytes> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \t";
    let valid = FIXTURE.valid.as_bytes();
    let mut token = valid.to_vec();
    for &(kind, at, byte) in edits {
        let at = usize::from(at) % (token.len() + 1);
        let byte = ALPHABET[usize::from(byte) % ALPHABET.len()];
        match kind % 5 {
            0 if at < token.len() => token[at] = byte,
            1 => token.insert(at, byte),
            2 if at < token.len() => {
                token.remove(at);
            }
            3 if at + 1 < token.len() => token.swap(at, at + 1),
            4 => token.truncate(at),
            _ => {}
        }
    }
    (token != valid).then(|| HeaderBytes([b"Bearer ".as_slice(), &token].concat()))
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn jwt_arbitrary_headers_are_denied(header in arbitrary_header()) {
        check_denied(&header, "is arbitrary bytes")?;
    }

    #[test]
    fn jwt_tokens_not_signed_by_the_configured_key_are_denied(t in near_token()) {
        if let Some(header) = build(&t) {
            check_denied(&header, "the configured key did not sign")?;
        }
    }

    #[test]
    fn jwt_genuine_signatures_under_forbidden_headers_are_denied(
        alg in prop::sample::select(RSA_ALGS.to_vec()),
        violation in 0..VIOLATIONS.len() + 6,
    ) {
        check_denied(&bad_header_token(&BadHeader { alg, violation }), "has a forbidden header")?;
    }

    #[test]
    fn jwt_mutated_valid_tokens_are_denied(edits in prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..4)) {
        if let Some(header) = mutated_valid(&edits) {
            check_denied(&header, "was changed after signing")?;
        }
    }
}

/// The control every denial above depends on: the fixture's valid token is admitted, so the
/// denials are the checks' doing, not a broken setup.
#[test]
fn jwt_the_fixture_token_is_admitted_by_every_authorizer() {
    let fixture = &*FIXTURE;
    let value = HeaderValue::from_str(&format!("Bearer {}", fixture.valid)).expect("a header value");
    for (name, authz) in &fixture.authorizers {
        let outcome = fixture.runtime.block_on(authz.authorize(
            &mut request(&value),
            &ctx(),
            &RouteAuth::default(),
            &mut Trace::off(),
        ));
        assert!(outcome.is_ok(), "{name}: {:?}", outcome.err());
    }
    let ec = fixture.real_ec.token("ES256", &good_claims());
    let value = HeaderValue::from_str(&format!("Bearer {ec}")).expect("a header value");
    let outcome = fixture.runtime.block_on(fixture.authorizers[1].1.authorize(
        &mut request(&value),
        &ctx(),
        &RouteAuth::default(),
        &mut Trace::off(),
    ));
    assert!(outcome.is_ok(), "ES256: {:?}", outcome.err());
}

// === IAM policies: the independent evaluator ===

/// `*` any run of characters, `?` exactly one, the rest literal: a plain dynamic program over
/// characters, independent of the crate's matcher.
fn wildcard(pattern: &str, text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let mut row = vec![false; text.len() + 1];
    let mut next = vec![false; text.len() + 1];
    row[0] = true;
    for p in pattern.chars() {
        next.fill(false);
        match p {
            '*' => {
                let mut reachable = false;
                for (j, slot) in next.iter_mut().enumerate() {
                    reachable |= row[j];
                    *slot = reachable;
                }
            }
            '?' => {
                next[1..].copy_from_slice(&row[..text.len()]);
            }
            c => {
                for j in 1..=text.len() {
                    next[j] = row[j - 1] && text[j - 1] == c;
                }
            }
        }
        std::mem::swap(&mut row, &mut next);
    }
    row[text.len()]
}

/// One statement of a policy that parsed, as the model reads it.
struct ModelStatement {
    allow: bool,
    applies_to_invoke: bool,
    resources: Vec<String>,
    negated: bool,
    restricted: bool,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The model of a document `Policy::parse` accepted.
fn model(doc: &Value) -> Vec<ModelStatement> {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    statements
        .into_iter()
        .map(|s| {
            let (actions, not_action) = match s.get("Action") {
                Some(a) => (strings(a), false),
                None => (s.get("NotAction").map(strings).unwrap_or_default(), true),
            };
            let (resources, negated) = match s.get("Resource") {
                Some(r) => (strings(r), false),
                None => (s.get("NotResource").map(strings).unwrap_or_default(), true),
            };
            let names_invoke = actions.iter().any(|a| wildcard(&a.to_lowercase(), "execute-api:invoke"));
            let condition = matches!(s.get("Condition"), Some(Value::Object(m)) if !m.is_empty());
            let principal = s.get("Principal").is_some() || s.get("NotPrincipal").is_some();
            ModelStatement {
                allow: s.get("Effect") == Some(&json!("Allow")),
                applies_to_invoke: names_invoke != not_action,
                resources,
                negated,
                restricted: condition || principal,
            }
        })
        .collect()
}

/// Which of [`ARNS`] each distinct pattern matches: documents repeat a pattern a thousand times,
/// and the dynamic program is slow in a debug build.
#[derive(Default)]
struct Memo(HashMap<String, Vec<bool>>);

impl Memo {
    fn matches(&mut self, pattern: &str, arn: usize) -> bool {
        if !self.0.contains_key(pattern) {
            let row = ARNS.iter().map(|a| wildcard(pattern, a)).collect();
            self.0.insert(pattern.to_owned(), row);
        }
        self.0.get(pattern).is_some_and(|row| row[arn])
    }
}

/// The model's decision for `ARNS[arn]`.
fn model_decision(statements: &[ModelStatement], arn: usize, memo: &mut Memo) -> Decision {
    let mut covers = |s: &ModelStatement| s.resources.iter().any(|r| memo.matches(r, arn)) != s.negated;
    for (index, s) in statements.iter().enumerate() {
        if !s.allow && s.applies_to_invoke && covers(s) {
            return Decision::ExplicitDeny { statement: index };
        }
    }
    if statements.iter().any(|s| s.allow && s.applies_to_invoke && !s.restricted && covers(s)) {
        return Decision::Allow;
    }
    Decision::ImplicitDeny
}

fn arn(method: &str, path: &str) -> String {
    let api = portcullis_core::ApiIdentity {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        api_id: "a1b2c3".into(),
        ..Default::default()
    };
    policy::method_arn(&api, method, path)
}

/// The request ARNs every policy is evaluated against.
static ARNS: LazyLock<Vec<String>> = LazyLock::new(|| {
    [
        ("GET", "/"),
        ("GET", "/pets"),
        ("GET", "/pets/1"),
        ("POST", "/pets/1/owners"),
        ("DELETE", "/café/☃"),
        ("PROPFIND", "/a*b?c"),
        ("GET", "/x/y/z/w/v/u/t/s/r"),
        ("PUT", "/admin"),
    ]
    .into_iter()
    .map(|(m, p)| arn(m, p))
    .collect()
});

/// The crate's decisions for every ARN and the time they took (the model is not timed).
fn decide(policy: &Policy) -> (Vec<(Decision, Vec<usize>)>, Duration) {
    let started = Instant::now();
    let decisions =
        ARNS.iter().map(|arn| (policy.evaluate(arn), policy.skipped_conditional_allows(arn))).collect();
    (decisions, started.elapsed())
}

/// `decisions` (from [`decide`]) against the model of `doc`.
fn check_decisions(doc: &Value, decisions: &[(Decision, Vec<usize>)]) -> Result<(), TestCaseError> {
    let statements = model(doc);
    let has_allow = statements.iter().any(|s| s.allow);
    let mut memo = Memo::default();
    for (arn, (decision, skipped)) in decisions.iter().enumerate() {
        let want = model_decision(&statements, arn, &mut memo);
        prop_assert_eq!(*decision, want, "{} with {}", ARNS[arn], shorten(doc));
        prop_assert!(
            has_allow || !decision.is_allow(),
            "allowed without an Allow statement: {}",
            shorten(doc)
        );
        for index in skipped {
            let s = &statements[*index];
            prop_assert!(
                s.allow && s.restricted && s.applies_to_invoke,
                "skipped {} of {}",
                index,
                shorten(doc)
            );
        }
    }
    Ok(())
}

/// A document as JSON, cut for failure messages.
fn shorten(doc: &Value) -> String {
    let text = doc.to_string();
    match text.char_indices().nth(2_000) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

fn check_policy(doc: &Value) -> Result<Option<Policy>, TestCaseError> {
    let started = Instant::now();
    let parsed = Policy::parse(doc);
    let parse_time = started.elapsed();
    prop_assert!(parse_time < MAX_CASE_TIME, "parse took {:?}", parse_time);
    let policy = match parsed {
        Ok(policy) => policy,
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(None);
        }
    };
    let (decisions, evaluate_time) = decide(&policy);
    prop_assert!(evaluate_time < MAX_CASE_TIME, "evaluating took {:?}", evaluate_time);
    prop_assert_eq!(policy.statement_count(), model(doc).len());
    check_decisions(doc, &decisions)?;
    Ok(Some(policy))
}

// === IAM policies: strategies ===

/// A resource pattern: one of the request ARNs edited with wildcards, or a special pattern.
fn pattern() -> BoxedStrategy<String> {
    let edited =
        (0..8usize, prop::collection::vec((0u8..7, any::<u16>(), 0u8..12), 0..4)).prop_map(|(base, ops)| {
            let mut chars: Vec<char> = ARNS[base].chars().collect();
            for (op, at, len) in ops {
                let at = usize::from(at) % (chars.len() + 1);
                let end = (at + usize::from(len)).min(chars.len());
                match op {
                    0 if at < chars.len() => chars[at] = '?',
                    1 => {
                        chars.splice(at..end, ['*']);
                    }
                    2 => chars.insert(at, '*'),
                    3 => chars.insert(at, '?'),
                    4 => {
                        chars.drain(at..end);
                    }
                    5 if at < chars.len() => chars[at] = chars[at].to_ascii_uppercase(),
                    _ => {
                        chars.truncate(at);
                        chars.push('*');
                    }
                }
            }
            chars.into_iter().collect::<String>()
        });
    let special = prop::sample::select(vec![
        "*".to_owned(),
        "**".to_owned(),
        String::new(),
        "?".to_owned(),
        "arn:aws:execute-api:*:*:*/*/*/*".to_owned(),
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/*".to_owned(),
        format!("{}b", "*a".repeat(200)),
        "a".repeat(600),
        "?".repeat(513),
        "*".repeat(512),
        format!("{}*", "?".repeat(80)),
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/${aws:username}/*".to_owned(),
    ]);
    prop_oneof![6 => edited, 1 => special].boxed()
}

fn action() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "execute-api:Invoke",
        "execute-api:invoke",
        "EXECUTE-API:INVOKE",
        "execute-api:*",
        "*",
        "execute-api:Inv?ke",
        "execute-api:I*",
        "execute-api:ManageConnections",
        "s3:GetObject",
        "execute-api:Invoke*",
        "?*",
        "execute-api:Invoke ",
        "",
        "execute-api:İnvoke",
    ])
}

/// `Action`/`Resource` values: a string, an array, an empty or huge array, or a wrong type.
fn field(item: BoxedStrategy<String>) -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => item.clone().prop_map(Value::String),
        6 => prop::collection::vec(item.clone(), 1..4).prop_map(|v| json!(v)),
        1 => Just(json!([])),
        1 => (item, 900usize..1100).prop_map(|(p, n)| json!(vec![p; n])),
        1 => prop::sample::select(vec![json!(null), json!(1), json!({"a": "b"}), json!(["ok", 7])]),
    ]
}

/// A statement; `well_formed` draws only what `Policy::parse` must accept.
fn statement(well_formed: bool) -> BoxedStrategy<Value> {
    let effect = if well_formed {
        prop::sample::select(vec![json!("Allow"), json!("Deny")]).boxed()
    } else {
        prop::sample::select(vec![
            json!("Allow"),
            json!("Deny"),
            json!("Allow"),
            json!("Deny"),
            json!("allow"),
            json!("DENY"),
            json!("Allow "),
            json!(""),
            json!(null),
            json!(true),
        ])
        .boxed()
    };
    let (actions, resources, keys) = if well_formed {
        let actions = prop_oneof![
            action().prop_map(|a| json!(a)),
            prop::collection::vec(action(), 1..3).prop_map(|v| json!(v))
        ]
        .boxed();
        let resources = prop_oneof![
            pattern().prop_map(Value::String),
            prop::collection::vec(pattern(), 1..4).prop_map(|v| json!(v))
        ]
        .prop_filter("patterns within the length limit", |v| {
            strings(v).iter().all(|p| p.chars().count() <= policy::MAX_PATTERN_CHARS)
        })
        .boxed();
        (actions, resources, (0u8..2, 0u8..2).boxed())
    } else {
        (
            field(action().prop_map(str::to_owned).boxed()).boxed(),
            field(pattern()).boxed(),
            (0u8..4, 0u8..4).boxed(),
        )
    };
    let condition = prop::sample::select(vec![
        None,
        None,
        None,
        Some(json!(null)),
        Some(json!({})),
        Some(json!({"StringEquals": {"aws:SourceIp": "203.0.113.9"}})),
        Some(json!([])),
        Some(json!("x")),
    ]);
    let principal = prop::sample::select(vec![
        None,
        None,
        None,
        Some(("Principal", json!("*"))),
        Some(("Principal", json!({"AWS": "*"}))),
        Some(("NotPrincipal", json!({"AWS": "arn:aws:iam::1:root"}))),
    ]);
    (effect, actions, resources, keys, condition, principal, any::<bool>())
        .prop_map(move |(effect, actions, resources, (ak, rk), condition, principal, sid)| {
            let mut s = serde_json::Map::new();
            s.insert("Effect".into(), effect);
            let put =
                |s: &mut serde_json::Map<String, Value>, which: u8, name: &str, value: Value| match which {
                    0 => {
                        s.insert(name.to_owned(), value);
                    }
                    1 => {
                        s.insert(format!("Not{name}"), value);
                    }
                    2 => {
                        s.insert(name.to_owned(), value.clone());
                        s.insert(format!("Not{name}"), value);
                    }
                    _ => {}
                };
            put(&mut s, ak, "Action", actions);
            put(&mut s, rk, "Resource", resources);
            if let Some(c) = condition
                && (!well_formed || c.is_object() || c.is_null())
            {
                s.insert("Condition".into(), c);
            }
            if let Some((k, v)) = principal {
                s.insert(k.into(), v);
            }
            if sid {
                s.insert("Sid".into(), json!("fuzz"));
            }
            Value::Object(s)
        })
        .boxed()
}

fn policy_document(well_formed: bool) -> impl Strategy<Value = Value> {
    let statements = if well_formed {
        prop_oneof![statement(true), prop::collection::vec(statement(true), 0..6).prop_map(Value::Array)]
            .boxed()
    } else {
        prop_oneof![
            3 => statement(false),
            6 => prop::collection::vec(statement(false), 0..6).prop_map(Value::Array),
            // Around the statement limit; each statement small, so a document stays ~100 KB.
            1 => (statement(true), 990usize..1010).prop_map(|(s, n)| Value::Array(vec![s; n])),
            1 => prop::sample::select(vec![json!(null), json!("Allow"), json!(3)]),
        ]
        .boxed()
    };
    let version = if well_formed {
        prop::sample::select(vec![None, Some(json!("2012-10-17")), Some(json!(null))]).boxed()
    } else {
        prop::sample::select(vec![None, Some(json!("2012-10-17")), Some(json!(null)), Some(json!(1))]).boxed()
    };
    let statements = if well_formed {
        statements.prop_map(Some).boxed()
    } else {
        prop::option::weighted(0.97, statements).boxed()
    };
    (version, statements).prop_map(|(version, statements)| {
        let mut doc = serde_json::Map::new();
        if let Some(v) = version {
            doc.insert("Version".into(), v);
        }
        if let Some(s) = statements {
            doc.insert("Statement".into(), s);
        }
        Value::Object(doc)
    })
}

/// Arbitrary JSON whose object keys are mostly the policy vocabulary.
fn json_value() -> impl Strategy<Value = Value> {
    let word = prop_oneof![
        prop::sample::select(vec![
            "Allow",
            "Deny",
            "*",
            "?",
            "execute-api:Invoke",
            "arn:aws:execute-api:*",
            "2012-10-17",
            "",
        ])
        .prop_map(str::to_owned),
        pattern(),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        word.prop_map(Value::String),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "Version",
            "Statement",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
            "Principal",
            "NotPrincipal",
            "Sid",
            "policyDocument",
            "principalId",
            "context",
            "isAuthorized",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{0,8}",
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Authorizer answers: bytes of a near-answer, possibly cut or with a byte written in.
fn answer() -> impl Strategy<Value = (Value, Vec<u8>)> {
    let context = prop_oneof![
        Just(None),
        Just(Some(json!(null))),
        Just(Some(json!({"user": "alice", "n": 1, "ok": true}))),
        Just(Some(json!({"claims": "x"}))),
        Just(Some(json!({"nested": {"a": [1]}}))),
        Just(Some(json!({"big": "b".repeat(9_000)}))),
        json_value().prop_map(Some),
    ];
    let principal = prop::sample::select(vec![None, Some(json!("alice")), Some(json!(null)), Some(json!(7))]);
    let is_authorized =
        prop::sample::select(vec![None, Some(json!(true)), Some(json!(false)), Some(json!("true"))]);
    (
        prop::option::weighted(0.9, policy_document(false)),
        context,
        principal,
        is_authorized,
        prop::option::weighted(0.1, (any::<u16>(), any::<u8>())),
    )
        .prop_map(|(doc, context, principal, is_authorized, damage)| {
            let mut answer = serde_json::Map::new();
            for (k, v) in [
                ("policyDocument", doc),
                ("context", context),
                ("principalId", principal),
                ("isAuthorized", is_authorized),
            ] {
                if let Some(v) = v {
                    answer.insert(k.into(), v);
                }
            }
            let answer = Value::Object(answer);
            let mut bytes = answer.to_string().into_bytes();
            if let Some((at, byte)) = damage {
                let at = usize::from(at) % (bytes.len() + 1);
                bytes.truncate(at.max(bytes.len() / 2));
                bytes.push(byte);
            }
            (answer, bytes)
        })
}

fn check_context(
    context: Option<&serde_json::Map<String, Value>>,
    rules: ContextRules,
) -> Result<(), TestCaseError> {
    let Some(context) = context else { return Ok(()) };
    prop_assert!(serde_json::to_vec(context).map(|v| v.len()).unwrap_or(usize::MAX) <= MAX_CONTEXT_BYTES);
    for (key, value) in context {
        prop_assert!(!(rules.reserve_claims && key == "claims"), "reserved key kept");
        prop_assert!(
            !rules.primitives_only || matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)),
            "{} is not a primitive",
            value
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn policy_arbitrary_json_matches_the_model(doc in json_value()) {
        check_policy(&doc)?;
    }

    #[test]
    fn policy_near_policies_match_the_model(doc in policy_document(false)) {
        check_policy(&doc)?;
    }

    #[test]
    fn policy_well_formed_policies_parse_and_match_the_model(doc in policy_document(true)) {
        prop_assert!(check_policy(&doc)?.is_some(), "refused a well-formed policy: {}", doc);
    }

    #[test]
    fn policy_authorizer_answers_parse_without_panics((answer, bytes) in answer()) {
        // The model checks the decisions once: the rules change what `context` may hold, not the
        // policy.
        let mut intact = answer.to_string().into_bytes() == bytes;
        for rules in [(false, false), (true, false), (false, true), (true, true)] {
            let rules = ContextRules { primitives_only: rules.0, reserve_claims: rules.1 };
            let started = Instant::now();
            let iam = IamResponse::parse(&bytes, rules);
            let simple = SimpleResponse::parse(&bytes, rules);
            prop_assert!(started.elapsed() < MAX_CASE_TIME, "parsing took {:?}", started.elapsed());
            if let Ok(iam) = iam {
                check_context(iam.context.as_ref(), rules)?;
                let (decisions, evaluate_time) = decide(&iam.policy);
                prop_assert!(evaluate_time < MAX_CASE_TIME, "evaluating took {:?}", evaluate_time);
                if intact {
                    check_decisions(answer.get("policyDocument").unwrap_or(&Value::Null), &decisions)?;
                    intact = false;
                }
            }
            if let Ok(simple) = simple {
                check_context(simple.context.as_ref(), rules)?;
                if answer.to_string().into_bytes() == bytes {
                    prop_assert_eq!(Some(&json!(simple.is_authorized)), answer.get("isAuthorized"));
                }
            }
        }
    }
}

/// The model's wildcard matcher against hand-checked cases, so a fault in the model cannot
/// hide a fault in the crate.
#[test]
fn policy_model_wildcards_follow_iam() {
    for (pattern, text, want) in [
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
        ("?", "é", true),
        ("?", "", false),
        ("a*b", "a/x:yb", true),
        ("a*b", "a/x:yc", false),
        ("a?c", "abc", true),
        ("A?c", "abc", false),
        ("*a*a*b", "aaaaaaa", false),
        ("*a*a*b", "xaxaxb", true),
    ] {
        assert_eq!(wildcard(pattern, text), want, "{pattern:?} against {text:?}");
    }
}

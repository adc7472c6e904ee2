//! Interop with software we did not write: PyJWT (with `cryptography`) mints a token for every
//! algorithm with its own keys and JWKs; Portcullis must accept each, and PyJWT must accept a
//! token minted by our dev issuer. Needs `python3 -m pip install "pyjwt[crypto]>=2.8"`; skips
//! loudly when it is missing.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use portcullis_authz::{Authorizer, JwtAuthorizer, JwtSettings, RouteAuth, Trace};
use portcullis_core::{AuthContext, CallContext, Params, RequestIdGenerator};
use portcullis_jwks::{DevIssuer, JwksOptions, JwksRegistry, KeySource};
use serde_json::{Value, json};

const MINT: &str = r#"
import json, sys, time
import jwt
from jwt.algorithms import RSAAlgorithm, ECAlgorithm, OKPAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
iss, aud = sys.argv[1], sys.argv[2]
now = int(time.time())
out = {"keys": [], "tokens": {}, "pyjwt": jwt.__version__}
for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]:
    if alg[:2] in ("RS", "PS"):
        key, impl = rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm
    elif alg == "ES256":
        key, impl = ec.generate_private_key(ec.SECP256R1()), ECAlgorithm
    elif alg == "ES384":
        key, impl = ec.generate_private_key(ec.SECP384R1()), ECAlgorithm
    else:
        key, impl = ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm
    jwk = json.loads(impl.to_jwk(key.public_key()))
    jwk.update({"kid": "py-" + alg, "use": "sig", "alg": alg})
    out["keys"].append(jwk)
    claims = {"iss": iss, "aud": [aud, "other"], "sub": "py-" + alg, "exp": now + 300, "iat": now, "nbf": now - 1, "scope": "read write"}
    out["tokens"][alg] = jwt.encode(claims, key, algorithm=alg, headers={"kid": "py-" + alg})
print(json.dumps(out))
"#;

const VERIFY: &str = r#"
import json, sys
import jwt
token, jwks, aud, iss = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
key = jwt.PyJWK(jwks["keys"][0])
claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=aud, issuer=iss)
print(json.dumps(claims))
"#;

fn python_with_pyjwt() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_none(),
            "PyJWT interop is required (PORTCULLIS_REQUIRE_INTEROP) but python3 with PyJWT is missing"
        );
        eprintln!(
            "\n\n*** SKIPPED: PyJWT interop needs python3 with PyJWT: python3 -m pip install \"pyjwt[crypto]>=2.8\" ***\n\n"
        );
    }
    ok
}

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: ([127, 0, 0, 1], 1).into(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /x"),
        params: Params::default(),
        received_at: std::time::SystemTime::now(),
        auth: AuthContext::None,
    }
}

#[tokio::test]
async fn tokens_minted_by_pyjwt_for_every_algorithm_are_accepted() {
    if !python_with_pyjwt() {
        return;
    }
    let issuer = "https://issuer.pyjwt.test/";
    let out = Command::new("python3").args(["-c", MINT, issuer, "api"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let minted: Value = serde_json::from_slice(&out.stdout).unwrap();
    let registry = JwksRegistry::new(JwksOptions::default()).unwrap();
    let store = registry.store(KeySource::Static(json!({"keys": minted["keys"]}))).unwrap();
    let authz = JwtAuthorizer::new(JwtSettings::new(issuer, vec!["api".into()]), store).unwrap();
    let tokens = minted["tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), 9);
    for (alg, token) in tokens {
        let mut parts = http::Request::builder()
            .header("authorization", format!("Bearer {}", token.as_str().unwrap()))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        match authz.authorize(&mut parts, &ctx(), &RouteAuth::with_scopes(["write"]), &mut Trace::off()).await
        {
            Ok(AuthContext::Jwt(jwt)) => assert_eq!(jwt.claims["sub"], format!("py-{alg}")),
            other => panic!("PyJWT {} {alg} token: {other:?}", minted["pyjwt"]),
        }
    }
}

#[tokio::test]
async fn pyjwt_accepts_tokens_from_the_dev_issuer() {
    if !python_with_pyjwt() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dev = DevIssuer::open(dir.path(), "http://127.0.0.1:9901/dev").unwrap();
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!("alice"));
    claims.insert("aud".into(), json!("api"));
    let token = dev.mint(claims, Duration::from_secs(600)).unwrap();
    let out = Command::new("python3")
        .args(["-c", VERIFY, &token, &dev.jwks().to_string(), "api", dev.issuer()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["sub"], "alice");
}

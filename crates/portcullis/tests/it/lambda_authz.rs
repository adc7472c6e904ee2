//! Lambda authorizers end to end: the Clerk guide's authorizer runs verbatim in Node (with npm's
//! `jsonwebtoken`) in front of an HTTP upstream and Lambda integrations; request authorizers with
//! simple answers; the cache across routes, and `portcullis explain`.

use std::path::{Path, PathBuf};

use http::Method;
use serde_json::json;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, cli, wait_until};

/// The Clerk guide's function directory with `{PASTE YOUR PEM KEY HERE}` replaced by `public_pem`,
/// and `node_modules` linked from the fixture (installed by scripts/test.sh).
fn clerk_authorizer_dir(public_pem: &str) -> Option<tempfile::TempDir> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clerk-authz");
    if !fixture.join("node_modules/jsonwebtoken").exists() {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_none(),
            "jsonwebtoken is not installed in {} (run scripts/test.sh)",
            fixture.display()
        );
        eprintln!("SKIPPED: npm install in {} to run the Clerk guide's authorizer", fixture.display());
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = std::fs::read_to_string(fixture.join("index.js")).unwrap();
    assert!(code.contains("{PASTE YOUR PEM KEY HERE}"));
    std::fs::write(dir.path().join("index.js"), code.replace("{PASTE YOUR PEM KEY HERE}", public_pem.trim()))
        .unwrap();
    std::fs::copy(fixture.join("package.json"), dir.path().join("package.json")).unwrap();
    std::os::unix::fs::symlink(fixture.join("node_modules"), dir.path().join("node_modules")).unwrap();
    Some(dir)
}

/// An RSA key (Clerk signs RS256) as (encoding key, public PEM).
fn rsa_key() -> (jsonwebtoken::EncodingKey, String) {
    let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
    (encoding, pair.public_key_pem())
}

fn clerk_token(key: &jsonwebtoken::EncodingKey, sub: &str, role: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({
        "sub": sub, "iss": "https://clerk.example.com", "aud": "ClerkJwtAuthorizer",
        "iat": now, "exp": now + 600, "metadata": {"role": role, "tenant": "acme"}
    });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, key).unwrap()
}

const ECHO: &str = "export const handler = async (event) => ({ statusCode: 200, body: JSON.stringify(event.requestContext.authorizer) });\n";

fn clerk_config(upstream: &str, fn_dir: &Path, ttl: &str) -> String {
    format!(
        "functions:\n  clerk-authz:\n    runtime: nodejs\n    handler: index.handler\n    dir: {dir}\n  echo:\n    runtime: nodejs\n    handler: echo.handler\n\
         authorizers:\n  admins:\n    type: lambda\n    function: clerk-authz\n    event: token\n    result_ttl: {ttl}\n    forward_context: {{x-role: role, x-tenant: tenant}}\n\
         default_authorizer: admins\n\
         routes:\n  GET /admin/{{proxy+}}: {{http: \"{upstream}/admin/{{proxy}}\"}}\n  GET /fn: {{function: echo}}\n  GET /fn1: {{function: echo, payload_format_version: \"1.0\"}}\n",
        dir = fn_dir.display()
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn clerk_guide_admin_gets_through_with_context_others_are_refused() {
    let (key, pem) = rsa_key();
    let Some(fn_dir) = clerk_authorizer_dir(&pem) else { return };
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(&clerk_config(&up.url(), fn_dir.path(), "0s"), &[("echo.mjs", ECHO)], &[]);
    let client = TestClient::http1();
    let admin = bearer(&clerk_token(&key, "user_admin", "admin"));
    let member = bearer(&clerk_token(&key, "user_member", "member"));

    // No Authorization header: 401 without invoking
    // (docs/aws-compatibility.md#identity-sources-and-caching); nothing reaches the upstream.
    let missing = client.get(&gw.url("/admin/users")).await;
    assert_eq!((missing.status.as_u16(), missing.text()), (401, r#"{"message":"Unauthorized"}"#.to_owned()));

    // An admin: the upstream gets the request with the context forwarded, spoofed copies gone.
    let ok = client
        .send(Method::GET, &gw.url("/admin/users"), &[("authorization", &admin), ("x-role", "spoofed")], "")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let roles: Vec<_> = seen[0].headers.get_all("x-role").iter().collect();
    assert_eq!(roles, ["admin"]);
    assert_eq!(seen[0].headers["x-tenant"], "acme");
    assert_eq!(seen[0].uri.path(), "/admin/users");

    // The context reaches Lambda integrations as AWS delivers it.
    let v2 = client.send(Method::GET, &gw.url("/fn"), &[("authorization", &admin)], "").await;
    assert_eq!(v2.status, 200, "{}", v2.text());
    assert_eq!(v2.json(), json!({"lambda": {"role": "admin", "tenant": "acme"}}));
    let v1 = client.send(Method::GET, &gw.url("/fn1"), &[("authorization", &admin)], "").await;
    assert_eq!(v1.status, 200, "{}", v1.text());
    let v1 = v1.json();
    assert_eq!(v1["principalId"], "user_admin");
    assert_eq!(v1["role"], "admin");
    assert_eq!(v1["tenant"], "acme");

    // Not an admin: the guide's authorizer answers Deny, so 403 and nothing reaches the upstream.
    let denied = client.send(Method::GET, &gw.url("/admin/users"), &[("authorization", &member)], "").await;
    assert_eq!((denied.status.as_u16(), denied.text()), (403, r#"{"message":"Forbidden"}"#.to_owned()));

    // Garbage: `jwt.verify` throws inside the guide's handler, a function error: 500
    // (docs/aws-compatibility.md#lambda-authorizer-status-codes).
    for garbage in ["Bearer garbage", "garbage", &bearer(&clerk_token(&rsa_key().0, "x", "admin"))] {
        let reply =
            client.send(Method::GET, &gw.url("/admin/users"), &[("authorization", garbage)], "").await;
        assert_eq!(
            (reply.status.as_u16(), reply.text()),
            (500, r#"{"message":"Internal Server Error"}"#.to_owned()),
            "{garbage}"
        );
    }
    assert_eq!(up.count(), 1, "only the admin's request reached the upstream");
}

#[tokio::test]
async fn clerk_guide_cached_policy_denies_another_route_and_the_log_says_why() {
    let (key, pem) = rsa_key();
    let Some(fn_dir) = clerk_authorizer_dir(&pem) else { return };
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(&clerk_config(&up.url(), fn_dir.path(), "300s"), &[("echo.mjs", ECHO)], &[]);
    let client = TestClient::http1();
    let admin = bearer(&clerk_token(&key, "user_admin", "admin"));

    let first = client.send(Method::GET, &gw.url("/admin/users"), &[("authorization", &admin)], "").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let again = client.send(Method::GET, &gw.url("/admin/users"), &[("authorization", &admin)], "").await;
    assert_eq!(again.status, 200);
    // The guide's policy names only the first request's methodArn; cached for 300 s it is
    // evaluated again for the next route, as on AWS
    // (docs/aws-compatibility.md#iam-policy-and-simple-responses).
    let other = client.send(Method::GET, &gw.url("/admin/reports"), &[("authorization", &admin)], "").await;
    assert_eq!((other.status.as_u16(), other.text()), (403, r#"{"message":"Forbidden"}"#.to_owned()));
    assert_eq!(up.count(), 2);
    let explained = wait_until(std::time::Duration::from_secs(5), || {
        gw.proc.stderr_lines().iter().any(|l| {
            l.contains("cached_policy_mismatch")
                && l.contains("another route's ARN")
                && l.contains("GET/admin/users")
                && l.contains("GET/admin/reports")
        })
    })
    .await;
    assert!(explained, "the log names the cached-policy surprise");

    // The access-log line is written by a writer thread at the end of the body: wait for it.
    let logged = wait_until(std::time::Duration::from_secs(5), || {
        gw.access_log().iter().any(|r| r["path"] == "/admin/reports")
    })
    .await;
    assert!(logged, "access log line");
    let record = gw.access_log().into_iter().find(|r| r["path"] == "/admin/reports").unwrap();
    assert_eq!(record["authorizer_reason"], "cached_policy_mismatch");
}

fn explain(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    cli(dir, "explain", args)
}

#[tokio::test]
async fn explain_runs_the_authorizer_and_names_the_cached_policy_surprise() {
    let (key, pem) = rsa_key();
    let Some(fn_dir) = clerk_authorizer_dir(&pem) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config: PathBuf = dir.path().join("portcullis.yaml");
    std::fs::write(&config, clerk_config("http://127.0.0.1:9", fn_dir.path(), "300s")).unwrap();
    std::fs::write(dir.path().join("echo.mjs"), ECHO).unwrap();
    let admin = bearer(&clerk_token(&key, "user_admin", "admin"));

    let (code, out) =
        explain(dir.path(), &["--route", "GET /admin/{proxy+}", "--path", "/admin/users", "--token", &admin]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\n=> allow\n"), "{out}");
    assert!(
        out.contains("api/$default/GET/admin/users") || out.contains("/$default/GET/admin/users"),
        "{out}"
    );
    assert!(
        out.contains("it would deny: GET /fn"),
        "the note lists routes the cached answer would deny: {out}"
    );

    let (code, out) = explain(
        dir.path(),
        &[
            "--route",
            "GET /admin/{proxy+}",
            "--path",
            "/admin/reports",
            "--cached-from",
            "/admin/users",
            "--token",
            &admin,
        ],
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("clerk-authz (from the cache)"), "{out}");
    assert!(out.contains("=> deny cached_policy_mismatch (403 Forbidden)"), "{out}");
    assert!(out.contains("another route's ARN"), "{out}");

    let member = bearer(&clerk_token(&key, "user_member", "member"));
    let (code, out) = explain(dir.path(), &["--route", "GET /admin/{proxy+}", "--token", &member]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("=> deny policy_explicit_deny (403 Forbidden)"), "{out}");
}

const REQUEST_AUTHZ: &str = "import { appendFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  const key = event.identitySource[0];\n\
  appendFileSync('calls.log', key + ' ' + event.routeKey + '\\n');\n\
  return { isAuthorized: key === 'good' || key === 'also-good', context: { tenant: 't-' + key, route: event.routeKey, arn: event.routeArn } };\n\
};\n";

#[tokio::test]
async fn request_authorizer_with_simple_answers_and_a_per_route_cache() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(
        &format!(
            "functions:\n  authz:\n    runtime: nodejs\n    handler: authz.handler\n  echo:\n    runtime: nodejs\n    handler: echo.handler\n\
             authorizers:\n  keys:\n    type: lambda\n    function: authz\n    event: request\n    payload_format_version: \"2.0\"\n    simple_responses: true\n\
             \x20   identity_source: [$request.header.x-api-key, $context.routeKey]\n    result_ttl: 60s\n    forward_context: {{x-tenant: tenant}}\n\
             routes:\n  GET /a:\n    http: {up}/a\n    authorizer: keys\n    parameter_mapping:\n      overwrite:header.x-mapped-tenant: $context.authorizer.tenant\n      overwrite:querystring.route: $context.authorizer.route\n  POST /b: {{function: echo, authorizer: keys}}\n",
            up = up.url()
        ),
        &[("authz.mjs", REQUEST_AUTHZ), ("echo.mjs", ECHO)],
        &["--log-level", "debug"],
    );
    let client = TestClient::http1();
    let missing = client.get(&gw.url("/a")).await;
    assert_eq!(missing.status, 401);

    let ok = client.send(Method::GET, &gw.url("/a"), &[("x-api-key", "good")], "").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let seen = &up.requests()[0];
    assert_eq!(seen.headers["x-tenant"], "t-good");
    // Parameter mapping reads the authorizer's context
    // (docs/aws-compatibility.md#request-parameter-mapping `$context.authorizer.<key>`).
    assert_eq!(seen.headers["x-mapped-tenant"], "t-good");
    assert_eq!(seen.uri.query(), Some("route=GET%20%2Fa"));

    let fn_reply = client.send(Method::POST, &gw.url("/b"), &[("x-api-key", "good")], "").await;
    assert_eq!(fn_reply.status, 200, "{}", fn_reply.text());
    let lambda = &fn_reply.json()["lambda"];
    assert_eq!(lambda["route"], "POST /b", "routeKey in the identity: the /b answer is its own");
    assert_eq!(lambda["arn"], "arn:aws:execute-api:us-east-1:123456789012:portcullis/$default/POST/b");

    let bad = client.send(Method::GET, &gw.url("/a"), &[("x-api-key", "bad")], "").await;
    assert_eq!((bad.status.as_u16(), bad.text()), (403, r#"{"message":"Forbidden"}"#.to_owned()));
    assert_eq!(up.count(), 1);
    for _ in 0..3 {
        assert_eq!(client.send(Method::GET, &gw.url("/a"), &[("x-api-key", "good")], "").await.status, 200);
    }
    // Invocations: good@/a, good@/b, bad@/a; the repeats came from the cache.
    let calls = std::fs::read_to_string(gw.dir.path().join("calls.log")).unwrap();
    assert_eq!(calls.lines().collect::<Vec<_>>(), ["good GET /a", "good POST /b", "bad GET /a"]);
}

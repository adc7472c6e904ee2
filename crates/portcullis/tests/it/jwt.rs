//! JWT authorizers end to end, with the built-in development issuer minting real ES256 tokens
//! through the `portcullis token` CLI: what reaches the backend, and what never does.

use std::process::Command;

use http::Method;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, exe, mint, wait_until};

/// The token with one character in the middle of its signature changed (still canonical base64).
fn flip_signature_char(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = token.rfind('.').unwrap() + 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn config(upstream: &str, extra: &str) -> String {
    format!(
        "{extra}authorizers:\n  dev:\n    type: jwt\n    issuer: dev\n    audience: [api]\n    forward_claims: {{x-user-id: sub}}\n\
         default_authorizer: dev\nroutes:\n  GET /private:\n    http: {upstream}/private\n  GET /orders/{{id}}:\n    http: {upstream}/orders/{{id}}\n    scopes: [orders:read]\n\
         \x20 GET /public:\n    http: {upstream}/public\n    authorizer: none\n"
    )
}

#[tokio::test]
async fn valid_tokens_reach_the_backend_with_claims_and_invalid_ones_never_do() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&config(&up.url(), "debug_headers: true\n"));
    let client = TestClient::http1();
    let dir = gw.dir.path();

    // Public route: no token needed.
    assert_eq!(client.get(&gw.url("/public")).await.status, 200);
    assert_eq!(up.count(), 1);

    // No token: 401, AWS body, nothing called.
    let missing = client.get(&gw.url("/private")).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.text(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(missing.header("x-portcullis-deny-reason"), Some("token_missing"));

    let alice = mint(dir, &["--sub", "alice", "--aud", "api", "--scope", "orders:read profile"]);
    let denied: Vec<(String, &str, u16)> = vec![
        ("garbage".into(), "token_malformed", 401),
        (format!("{alice}x"), "token_malformed", 401),
        (flip_signature_char(&alice), "signature_invalid", 401),
        (alice[..alice.len() - 10].to_owned(), "signature_invalid", 401),
        (mint(dir, &["--sub", "alice", "--aud", "other"]), "audience_mismatch", 401),
        (mint(dir, &["--sub", "alice", "--aud", "api", "--claim", "exp=1000"]), "expired", 401),
        (mint(dir, &["--sub", "alice", "--aud", "api", "--claim", "nbf=99999999999"]), "not_yet_valid", 401),
        (
            mint(dir, &["--sub", "alice", "--aud", "api", "--claim", "iss=\"https://evil.example.com\""]),
            "issuer_mismatch",
            401,
        ),
    ];
    for (token, reason, status) in &denied {
        let reply = client
            .send(Method::GET, &gw.url("/private"), &[("authorization", &format!("Bearer {token}"))], "")
            .await;
        assert_eq!(reply.status, *status, "{reason}: {}", reply.text());
        assert_eq!(reply.header("x-portcullis-deny-reason"), Some(*reason));
        assert!(
            reply.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")),
            "{reason}: www-authenticate"
        );
    }
    assert_eq!(up.count(), 1, "no denied request reached the upstream");

    // Valid token, with a spoofed claim header that must not survive; `Bearer` is optional.
    for auth in [format!("Bearer {alice}"), alice.clone()] {
        let ok = client
            .send(Method::GET, &gw.url("/private"), &[("authorization", &auth), ("x-user-id", "mallory")], "")
            .await;
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    let seen = up.requests();
    let last = seen.last().unwrap();
    let ids: Vec<_> = last.headers.get_all("x-user-id").iter().collect();
    assert_eq!(ids, ["alice"], "the claim header replaces the client's copy");

    // Scopes: any-of; a token without the route scope gets 403 and the upstream is not called.
    let before = up.count();
    let ok = client
        .send(Method::GET, &gw.url("/orders/7"), &[("authorization", &format!("Bearer {alice}"))], "")
        .await;
    assert_eq!(ok.status, 200);
    let bob = mint(dir, &["--sub", "bob", "--aud", "api", "--scope", "profile"]);
    let forbidden = client
        .send(Method::GET, &gw.url("/orders/7"), &[("authorization", &format!("Bearer {bob}"))], "")
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.text(), r#"{"message":"Forbidden"}"#);
    assert_eq!(forbidden.header("x-portcullis-deny-reason"), Some("scope_insufficient"));
    assert_eq!(up.count(), before + 1);

    // Denials are explained in the access log.
    assert!(
        wait_until(std::time::Duration::from_secs(5), || gw
            .access_log()
            .iter()
            .any(|l| l["authorizer_reason"] == "scope_insufficient"))
        .await
    );
    let log = gw.access_log();
    let line = log.iter().find(|l| l["authorizer_reason"] == "expired").expect("expired denial logged");
    assert_eq!(line["authorizer"], "deny");
    assert_eq!(line["status"], 401);
    let allowed = log.iter().find(|l| l["path"] == "/orders/7" && l["status"] == 200).unwrap();
    assert_eq!(allowed["authorizer"], "allow");
    for line in &log {
        assert!(!line.to_string().contains(&alice[40..80]), "tokens never appear in the access log");
    }
    for line in gw.proc.stderr_lines() {
        assert!(!line.contains(&alice[40..80]), "tokens never appear in the diagnostic log: {line}");
    }
    assert!(
        gw.proc.stderr_lines().iter().any(|l| l.contains("debug_headers")),
        "debug_headers: true is warned about at start-up"
    );

    // ... and counted in the metrics.
    let metrics = client.get(&format!("http://{}/metrics", gw.proc.admin)).await.text();
    assert!(metrics.contains("portcullis_authorizer_denials_total{reason=\"expired\"} 1"), "{metrics}");
    assert!(metrics.contains("portcullis_authorizer_denials_total{reason=\"token_missing\"} 1"), "{metrics}");
    assert!(metrics.contains("portcullis_requests_total{class=\"4xx\"}"), "{metrics}");
    assert!(
        metrics.contains("\nportcullis_access_log_dropped_total 0\n"),
        "every line was written: {metrics}"
    );
}

#[tokio::test]
async fn claims_reach_a_lambda_handler_as_aws_sends_them() {
    // The SST/Auth0 guide's handler, verbatim.
    let handler = "export async function main(event) {\n  return {\n    statusCode: 200,\n    body: `Hello ${event.requestContext.authorizer.jwt.claims.sub}!`,\n  };\n}\n";
    let gw = Gw::start_with(
        "authorizers:\n  dev:\n    type: jwt\n    issuer: dev\n    audience: [api]\ndefault_authorizer: dev\n\
         functions:\n  private:\n    runtime: nodejs\n    handler: src/private.main\nroutes:\n  GET /private: {function: private}\n",
        &[("src/private.js", handler)],
        &[],
    );
    let token = mint(gw.dir.path(), &["--sub", "user_2abc", "--aud", "api"]);
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/private")).await.status, 401);
    let reply = client
        .send(Method::GET, &gw.url("/private"), &[("authorization", &format!("Bearer {token}"))], "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "Hello user_2abc!");
}

#[test]
fn explain_prints_every_check_and_exits_3_on_denial() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::write(dir.path(), "portcullis.yaml", &config("http://127.0.0.1:9", ""));
    let good = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--scope", "orders:read"]);
    let run = |route: &str, token: &str| {
        Command::new(exe())
            .args(["explain", "--config", "portcullis.yaml", "--route", route, "--token", token])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let ok = run("GET /orders/{id}", &good);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&ok.stderr));
    for check in ["signature", "iss", "aud", "exp"] {
        assert!(text.contains(check), "explain lacks {check}:\n{text}");
    }
    let expired = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "exp=1000"]);
    let denied = run("GET /private", &expired);
    assert_eq!(denied.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&denied.stdout).contains("expired"));
    let public = run("GET /public", "whatever");
    assert_eq!(public.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&public.stdout).contains("public"));
}

#[tokio::test]
async fn the_demo_protects_private_with_the_dev_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let gw = crate::harness::SpawnedGateway::spawn(
        exe(),
        &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    let client = TestClient::http1();
    let url = format!("{}/private", gw.url());
    assert_eq!(client.get(&url).await.status, 401);
    let out = Command::new(exe())
        .args(["token", "--sub", "alice", "--aud", "portcullis-demo"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let reply = client.send(Method::GET, &url, &[("authorization", &format!("Bearer {token}"))], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The banner's own token works too.
    let banner = gw.stderr_lines().join("\n");
    let start = banner.find("Bearer ").expect("banner shows a token") + "Bearer ".len();
    let banner_token: String = banner[start..].chars().take_while(|c| *c != '\'').collect();
    let reply =
        client.send(Method::GET, &url, &[("authorization", &format!("Bearer {banner_token}"))], "").await;
    assert_eq!(reply.status, 200);
    let discovery = client.get(&format!("http://{}/dev/.well-known/openid-configuration", gw.admin)).await;
    assert_eq!(discovery.status, 200);
    assert_eq!(discovery.json()["issuer"], "http://127.0.0.1:9901/dev");
}

#[tokio::test]
async fn an_unreachable_identity_provider_fails_closed_quickly_and_says_why() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gw = Gw::start(&format!(
        "authorizers:\n  idp:\n    type: jwt\n    issuer: http://{closed}/\n    audience: [api]\n  dev:\n    type: jwt\n    issuer: dev\n    audience: [api]\n\
         routes:\n  GET /p:\n    http: {}/p\n    authorizer: idp\n  GET /unused: {{respond: {{body: x}}, authorizer: dev}}\n",
        up.url()
    ));
    // A well-formed, signed token (from the dev issuer) so the authorizer gets as far as keys.
    let token = mint(gw.dir.path(), &["--sub", "alice", "--aud", "api"]);
    let started = std::time::Instant::now();
    let reply = TestClient::http1()
        .send(Method::GET, &gw.url("/p"), &[("authorization", &format!("Bearer {token}"))], "")
        .await;
    assert_eq!(reply.status, 401);
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "took {:?}", started.elapsed());
    assert_eq!(up.count(), 0);
    assert!(
        wait_until(std::time::Duration::from_secs(5), || gw
            .proc
            .stderr_lines()
            .iter()
            .any(|l| l.contains("keys_unavailable") && l.contains("WARN")))
        .await,
        "the log says why: {:?}",
        gw.proc.stderr_lines()
    );
}

//! Declarative rules (CEL) end to end: on a JWT authorizer and on a route, with real tokens from
//! the development issuer; what reaches the backend and what never does; load-time errors.

use http::Method;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, cli, mint};

fn config(upstream: &str) -> String {
    format!(
        "debug_headers: true\n\
         authorizers:\n  clerk:\n    type: jwt\n    issuer: dev\n    audience: [api]\n    rules: [\"claims.metadata.role == 'admin'\"]\n\
         \x20 dev:\n    type: jwt\n    issuer: dev\n    audience: [api]\n\
         routes:\n  GET /admin: {{http: {upstream}/admin, authorizer: clerk}}\n\
         \x20 GET /reports:\n    http: {upstream}/reports\n    authorizer: dev\n    rules:\n      - \"'analyst' in claims['cognito:groups']\"\n      - \"request.headers['x-tenant'] == claims.tenant\"\n\
         \x20 GET /verified:\n    http: {upstream}/verified\n    authorizer: dev\n    rules: [\"claims['st-ev'].v == true\"]\n\
         \x20 GET /tenants/{{id}}:\n    http: {upstream}/tenants/{{id}}\n    authorizer: none\n    rules: [\"route.params.id == 'public' && request.method == 'GET'\"]\n"
    )
}

#[tokio::test]
async fn rules_let_through_only_what_they_allow_and_name_the_failed_rule() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&config(&up.url()));
    let dir = gw.dir.path();
    let client = TestClient::http1();
    let bearer = |t: &str| format!("Bearer {t}");

    // The Clerk guide: only metadata.role == 'admin'.
    let admin = mint(dir, &["--sub", "a", "--aud", "api", "--claim", r#"metadata={"role":"admin"}"#]);
    let member = mint(dir, &["--sub", "m", "--aud", "api", "--claim", r#"metadata={"role":"member"}"#]);
    let none = mint(dir, &["--sub", "n", "--aud", "api"]);
    assert_eq!(
        client.send(Method::GET, &gw.url("/admin"), &[("authorization", &bearer(&admin))], "").await.status,
        200
    );
    for (who, token) in [("member", &member), ("no metadata claim", &none)] {
        let reply =
            client.send(Method::GET, &gw.url("/admin"), &[("authorization", &bearer(token))], "").await;
        assert_eq!(reply.status, 403, "{who}");
        assert_eq!(reply.text(), r#"{"message":"Forbidden"}"#);
        assert_eq!(reply.header("x-portcullis-deny-reason"), Some("rule_failed"), "{who}");
    }
    assert_eq!(up.count(), 1);

    // Route rules: a group membership and a header that must match a claim.
    let analyst = mint(
        dir,
        &[
            "--sub",
            "x",
            "--aud",
            "api",
            "--claim",
            r#"cognito:groups=["analyst","staff"]"#,
            "--claim",
            "tenant=acme",
        ],
    );
    let ok = client
        .send(
            Method::GET,
            &gw.url("/reports"),
            &[("authorization", &bearer(&analyst)), ("x-tenant", "acme")],
            "",
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let wrong_tenant = client
        .send(
            Method::GET,
            &gw.url("/reports"),
            &[("authorization", &bearer(&analyst)), ("x-tenant", "other")],
            "",
        )
        .await;
    assert_eq!(wrong_tenant.status, 403);
    let no_header =
        client.send(Method::GET, &gw.url("/reports"), &[("authorization", &bearer(&analyst))], "").await;
    assert_eq!(no_header.status, 403, "a missing header fails the rule (fail closed)");
    let staff = mint(
        dir,
        &["--sub", "s", "--aud", "api", "--claim", r#"cognito:groups=["staff"]"#, "--claim", "tenant=acme"],
    );
    let reply = client
        .send(
            Method::GET,
            &gw.url("/reports"),
            &[("authorization", &bearer(&staff)), ("x-tenant", "acme")],
            "",
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(up.count(), 2);

    // The SuperTokens guide: SuperTokens' email-verification claim.
    let verified = mint(dir, &["--sub", "v", "--aud", "api", "--claim", r#"st-ev={"v":true,"t":1}"#]);
    let unverified = mint(dir, &["--sub", "u", "--aud", "api", "--claim", r#"st-ev={"v":false,"t":1}"#]);
    assert_eq!(
        client
            .send(Method::GET, &gw.url("/verified"), &[("authorization", &bearer(&verified))], "")
            .await
            .status,
        200
    );
    assert_eq!(
        client
            .send(Method::GET, &gw.url("/verified"), &[("authorization", &bearer(&unverified))], "")
            .await
            .status,
        403
    );

    // A public route with a rule over the route and request.
    assert_eq!(client.get(&gw.url("/tenants/public")).await.status, 200);
    assert_eq!(client.get(&gw.url("/tenants/secret")).await.status, 403);
    assert_eq!(up.count(), 4);

    // The log names the rule that failed.
    let stderr = gw.proc.stderr_lines().join("\n");
    assert!(stderr.contains("'analyst' in claims['cognito:groups']"), "{stderr}");
}

#[test]
fn a_bad_rule_is_a_config_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "authorizers:\n  dev:\n    type: jwt\n    issuer: dev\n    audience: [api]\n\
                routes:\n  GET /a:\n    respond: {status: 200}\n    authorizer: dev\n    rules:\n      - \"claims.sub ==\"\n      - \"clams.sub == 'x'\"\n";
    std::fs::write(dir.path().join("portcullis.yaml"), yaml).unwrap();
    let (code, stderr) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("portcullis.yaml:11:"), "syntax error at the first rule's line: {stderr}");
    assert!(stderr.contains("portcullis.yaml:12:"), "unknown variable at the second rule's line: {stderr}");
    assert!(stderr.contains("clams"), "{stderr}");
}

#[test]
fn rules_on_a_jwt_authorizer_are_refused_under_compat_aws() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "compat: aws\nauthorizers:\n  a:\n    type: jwt\n    issuer: https://idp.example.com\n    audience: [api]\n    rules: [\"claims.sub == 'x'\"]\n\
                routes:\n  GET /a: {respond: {status: 200}, authorizer: a}\n";
    std::fs::write(dir.path().join("portcullis.yaml"), yaml).unwrap();
    let (code, stderr) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("portcullis.yaml:7:") && stderr.contains("rules"), "{stderr}");
}

#[test]
fn explain_checks_the_rules_after_the_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("portcullis.yaml"), config("http://127.0.0.1:9")).unwrap();
    let explain = |args: &[&str]| cli(dir.path(), "explain", args);
    let admin = mint(dir.path(), &["--sub", "a", "--aud", "api", "--claim", r#"metadata={"role":"admin"}"#]);
    let member =
        mint(dir.path(), &["--sub", "m", "--aud", "api", "--claim", r#"metadata={"role":"member"}"#]);
    let (code, out) = explain(&["--route", "GET /admin", "--token", &admin]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok   rule       authorizer rule `claims.metadata.role == 'admin'` holds"), "{out}");
    let (code, out) = explain(&["--route", "GET /admin", "--token", &member]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("FAIL rule       authorizer rule 0 `claims.metadata.role == 'admin'` is false"),
        "{out}"
    );
    assert!(out.contains("=> deny rule_failed (403 Forbidden)"), "{out}");
    let (code, out) = explain(&["--route", "GET /tenants/{id}", "--path", "/tenants/public", "--token", "x"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = explain(&["--route", "GET /tenants/{id}", "--path", "/tenants/secret", "--token", "x"]);
    assert_eq!(code, Some(3), "{out}");
}

#[test]
fn authorizer_compile_errors_point_at_the_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "routes:\n  GET /a: {respond: {status: 200}, authorizer: keyfile}\nauthorizers:\n  keyfile:\n    type: jwt\n    issuer: https://idp.example.com\n    audience: [api]\n    public_key_file: missing.pem\n";
    std::fs::write(dir.path().join("portcullis.yaml"), yaml).unwrap();
    let (code, stderr) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("portcullis.yaml:4:3: authorizers.keyfile:"), "{stderr}");
    assert!(stderr.contains("missing.pem"), "{stderr}");
}

//! The admin console in a real browser (headless Chromium through chromedriver): every page
//! shows what the config holds and what the gateway did, the live stream carries finished
//! requests with their reason codes, explain runs from the form; plus the admin token, the
//! origin check, and a stream nobody reads. In detail:
//!
//! - Authorizers, against an OIDC issuer of the test's own on 127.0.0.1: a JWT authorizer's
//!   issuer, discovery and JWKS URLs, key age, last fetch, next refresh (the JWKS's `max-age`),
//!   verified-token cache size and hit ratio, denials by reason code; a Lambda authorizer's
//!   answer-cache size and hit ratio, invocations, errors and denials; in `/api/authorizers`
//!   and on the page.
//! - Functions: instances starting, busy and idle while a held handler runs (the test opens its
//!   gates), invocations, errors, timeouts, cold starts and their duration, the lines a function
//!   printed; in `/api/functions` and on the page.
//! - The API is read-only apart from `POST /api/explain`: other methods change nothing, and a
//!   `GET` of explain does not run it.
//! - The Live table keeps the newest 500 rows and counts what it removed ("dropped here").

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::Method;
use portcullis_test_support::Browser;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::harness::{Gw, TestClient, cli, exe, mint, wait_until};

const HELLO: &str = r#"export const handler = async (event) => {
  console.log('hello from ' + event.rawPath);
  return { statusCode: 200, body: 'hello' };
};
"#;

const AUTHZ: &str = r#"export const handler = async (event) => ({
  isAuthorized: (event.headers['x-api-key'] ?? '') === 'good',
  context: { team: 'blue' },
});
"#;

/// Routes of every kind, an authorizer of each kind, two functions, limits, rules and CORS.
const CONFIG: &str = r#"authorizers:
  dev: {type: jwt, issuer: dev, audience: [api]}
  keys:
    type: lambda
    function: authz
    event: request
    payload_format_version: "2.0"
    simple_responses: true
    identity_source: [$request.header.x-api-key]
    result_ttl: 60s
functions:
  hello: {runtime: nodejs, handler: hello.handler}
  authz: {runtime: nodejs, handler: authz.handler}
cors:
  allow_origins: [https://app.example.com]
  allow_methods: [GET]
routes:
  GET /: {respond: {status: 200, body: hi}}
  GET /private: {respond: {status: 200, body: secret}, authorizer: dev}
  GET /pets/{id}:
    http: "http://127.0.0.1:9/pets/{id}"
    authorizer: dev
    scopes: [read]
    rules: ["claims.sub != 'mallory'"]
    throttle: {rate: 50, burst: 100}
  GET /hello: {function: hello}
  GET /keyed: {respond: {status: 200, body: ok}, authorizer: keys}
  ANY /files/{proxy+}: {respond: {status: 200, body: file}}
"#;

/// The route keys of [`CONFIG`] in AWS priority order.
const PRIORITY: [&str; 6] =
    ["GET /", "GET /hello", "GET /keyed", "GET /private", "GET /pets/{id}", "ANY /files/{proxy+}"];

const FILES: [(&str, &str); 2] = [("hello.mjs", HELLO), ("authz.mjs", AUTHZ)];

fn start(extra: &str, files: &[(&str, &str)]) -> Gw {
    let mut all: Vec<(&str, &str)> = FILES.to_vec();
    all.extend_from_slice(files);
    Gw::start_with(&format!("{extra}{CONFIG}"), &all, &[])
}

fn admin(gw: &Gw, path: &str) -> String {
    format!("http://{}{path}", gw.proc.admin)
}

fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// Waits for `expression` to be true in the page.
async fn until(browser: &Browser, expression: &str, limit: Duration) {
    browser.wait_for(&format!("({expression}) || null"), limit).await;
}

/// No script error, failed load or CSP violation so far.
async fn no_console_errors(browser: &Browser) {
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
}

#[tokio::test]
async fn the_console_shows_the_route_table_authorizers_functions_and_charts_of_the_config() {
    let Some(browser) = Browser::start().await else { return };
    let gw = start("", &[]);
    let client = TestClient::http1();
    // The console in use (functions keep their output lines from then on), then a function
    // invocation and a Lambda authorizer invocation, for the Functions and Authorizers pages.
    assert_eq!(client.get(&admin(&gw, "/api/overview")).await.status, 200);
    assert_eq!(client.get(&gw.url("/hello")).await.status, 200);
    let keyed = client.send(Method::GET, &gw.url("/keyed"), &[("x-api-key", "good")], "").await;
    assert_eq!(keyed.status, 200);

    // Routes: every key in priority order, with what serves it.
    browser.goto(&admin(&gw, "/ui#routes")).await;
    until(
        &browser,
        "document.querySelectorAll('#routes-table tbody tr').length === 6",
        Duration::from_secs(20),
    )
    .await;
    // Counted by the charts' sampler, which the page's first API call started.
    for _ in 0..20 {
        client.get(&gw.url("/")).await;
    }
    let keys = browser
        .execute("return Array.from(document.querySelectorAll('#routes-table tbody tr'), r => r.dataset.routeKey);", &[])
        .await;
    assert_eq!(keys, json!(PRIORITY));
    let pets = browser.text("#routes-table tr[data-route-key=\"GET /pets/{id}\"]").await;
    for shown in [
        "dev",
        "jwt",
        "read",
        "claims.sub != 'mallory'",
        "http://127.0.0.1:9/pets/{id}",
        "50/s, burst 100",
        "https://app.example.com",
    ] {
        assert!(pets.contains(shown), "`{shown}` missing from the row: {pets}");
    }
    let keyed_row = browser.text("#routes-table tr[data-route-key=\"GET /keyed\"]").await;
    assert!(keyed_row.contains("keys") && keyed_row.contains("lambda"), "{keyed_row}");
    let hello_row = browser.text("#routes-table tr[data-route-key=\"GET /hello\"]").await;
    assert!(hello_row.contains("function") && hello_row.contains("hello"), "{hello_row}");
    // The filter box.
    browser.fill("#routes-filter", "pets").await;
    until(
        &browser,
        "document.querySelectorAll('#routes-table tbody tr:not([hidden])').length === 1",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(browser.text("#routes-count").await, "1 of 6 routes");
    browser.fill("#routes-filter", "").await;
    // Which route matches: the real route table (a `{var}` beats the greedy route).
    browser.fill("#match-method", "GET").await;
    browser.fill("#match-path", "/pets/7").await;
    browser.click("#match-form button[type=submit]").await;
    until(
        &browser,
        "document.querySelector('#match-result').dataset.matched === 'true'",
        Duration::from_secs(10),
    )
    .await;
    let matched =
        browser.execute("return document.querySelector('#match-result').dataset.routeKey;", &[]).await;
    assert_eq!(matched, "GET /pets/{id}");
    assert_eq!(
        browser
            .execute("return document.querySelector('#routes-table tr.is-match').dataset.routeKey;", &[])
            .await,
        "GET /pets/{id}"
    );
    browser.screenshot(&shots().join("console-routes.png")).await;
    browser.fill("#match-path", "/nothing/here").await;
    browser.click("#match-form button[type=submit]").await;
    until(
        &browser,
        "document.querySelector('#match-result').dataset.matched === 'false'",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        browser.execute("return document.querySelector('#match-result').dataset.status;", &[]).await,
        "404"
    );

    // Authorizers: the development issuer's key, and the Lambda authorizer's invocation.
    let jwks = client.get(&admin(&gw, "/dev/jwks.json")).await.json();
    let kid = jwks["keys"][0]["kid"].as_str().expect("a kid").to_owned();
    browser.goto(&admin(&gw, "/ui#authorizers")).await;
    until(&browser, "document.querySelector('#authz-jwt .card[data-name=dev]')", Duration::from_secs(20))
        .await;
    let card = "#authz-jwt .card[data-name=dev]";
    assert_eq!(
        browser.execute(&format!("return document.querySelector('{card}').dataset.fetchOk;"), &[]).await,
        "true"
    );
    let key_row = browser.text(&format!("{card} table.keys tr[data-kid=\"{kid}\"]")).await;
    assert!(key_row.contains("ES256"), "{key_row}");
    let lambda = "#authz-lambda .card[data-name=keys]";
    until(&browser, &format!("document.querySelector('{lambda}')"), Duration::from_secs(5)).await;
    assert_eq!(browser.text(&format!("{lambda} [data-stat=invocations] .value")).await, "1");
    assert_eq!(browser.text(&format!("{lambda} [data-stat=errors] .value")).await, "0");
    browser.screenshot(&shots().join("console-authorizers.png")).await;

    // Functions: both functions, the cold start and the line `hello` printed.
    browser.goto(&admin(&gw, "/ui#functions")).await;
    until(
        &browser,
        "document.querySelectorAll('#functions-table tr[data-function]').length === 2",
        Duration::from_secs(20),
    )
    .await;
    let hello = "#functions-table tr[data-function=hello]";
    let row = browser.text(hello).await;
    assert!(row.contains("nodejs"), "{row}");
    browser.click(hello).await;
    until(
        &browser,
        "document.querySelector('tr.fn-detail[data-detail-for=hello] .log .log-line')",
        Duration::from_secs(10),
    )
    .await;
    let log = browser.text("tr.fn-detail[data-detail-for=hello] .log").await;
    assert!(log.contains("hello from /hello"), "{log}");
    let cold_starts = browser
        .execute("return document.querySelectorAll('tr.fn-detail[data-detail-for=hello] table.cold-starts tbody tr').length;", &[])
        .await;
    assert_eq!(cold_starts, 1);
    browser.screenshot(&shots().join("console-functions.png")).await;

    // Charts: the sampler started with the first API call (the routes page); the requests sent
    // since land in the next 10 s point.
    let deadline = Instant::now() + Duration::from_secs(40);
    let series = loop {
        let series = client.get(&admin(&gw, "/api/series")).await.json();
        let total: u64 =
            series["points"].as_array().expect("points").iter().filter_map(|p| p["requests"].as_u64()).sum();
        if total >= 20 {
            break series;
        }
        assert!(Instant::now() < deadline, "the charts never counted the requests: {series}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let points = series["points"].as_array().map_or(0, Vec::len);
    browser.goto(&admin(&gw, "/ui#charts")).await;
    let drawn = format!("Number(document.querySelector('#chart-requests').dataset.points) === {points}");
    until(&browser, &drawn, Duration::from_secs(10)).await;
    until(
        &browser,
        "document.querySelector('#chart-latency path.line[data-series=p50]')",
        Duration::from_secs(5),
    )
    .await;
    browser.screenshot(&shots().join("console-charts.png")).await;
    no_console_errors(&browser).await;
}

#[tokio::test]
async fn live_streams_finished_requests_with_their_decision_and_masked_details() {
    let Some(browser) = Browser::start().await else { return };
    let gw = start("", &[]);
    let client = TestClient::http1();
    let token = mint(
        gw.dir.path(),
        &["--sub", "alice", "--aud", "api", "--scope", "read", "--claim", "email=alice@example.com"],
    );
    let expired = mint(gw.dir.path(), &["--sub", "bob", "--aud", "api", "--ttl", "-5m"]);

    browser.goto(&admin(&gw, "/ui#live")).await;
    until(&browser, "document.querySelector('#live-conn').dataset.state === 'open'", Duration::from_secs(20))
        .await;
    let bearer = format!("Bearer {token}");
    assert_eq!(
        client.send(Method::GET, &gw.url("/private"), &[("authorization", &bearer)], "").await.status,
        200
    );
    assert_eq!(client.get(&gw.url("/private")).await.status, 401);
    let stale = format!("Bearer {expired}");
    assert_eq!(
        client.send(Method::GET, &gw.url("/private"), &[("authorization", &stale)], "").await.status,
        401
    );
    assert_eq!(client.get(&gw.url("/missing")).await.status, 404);
    assert_eq!(client.get(&gw.url("/hello")).await.status, 200);
    until(
        &browser,
        "document.querySelectorAll('#live-table tbody tr').length === 5",
        Duration::from_secs(20),
    )
    .await;

    let rows = browser
        .execute(
            "return Array.from(document.querySelectorAll('#live-table tbody tr'), r => ({\
               status: r.dataset.status, route: r.dataset.routeKey ?? null,\
               decision: r.dataset.decision ?? null, reason: r.dataset.reason ?? null }));",
            &[],
        )
        .await;
    // Newest first.
    assert_eq!(
        rows,
        json!([
            {"status": "200", "route": "GET /hello", "decision": null, "reason": null},
            {"status": "404", "route": null, "decision": null, "reason": null},
            {"status": "401", "route": "GET /private", "decision": "deny", "reason": "expired"},
            {"status": "401", "route": "GET /private", "decision": "deny", "reason": "token_missing"},
            {"status": "200", "route": "GET /private", "decision": "allow", "reason": null},
        ])
    );
    let hello_row = browser.text("#live-table tbody tr:first-child").await;
    assert!(hello_row.contains("function"), "the integration is shown: {hello_row}");

    // Details of the allowed request: claims masked but for the identity ones, the token never.
    browser.click("#live-table tbody tr[data-decision=allow]").await;
    until(
        &browser,
        "document.querySelector('#live-detail').dataset.state === 'ready'",
        Duration::from_secs(10),
    )
    .await;
    let claims = browser
        .execute(
            "return Object.fromEntries(Array.from(document.querySelectorAll('#live-detail-claims tr[data-key]'),\
               r => [r.dataset.key, r.cells[1].textContent]));",
            &[],
        )
        .await;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["email"], "***");
    assert_eq!(claims["exp"], "***");
    let authorization = browser.text("#live-detail-headers tr[data-key=authorization]").await;
    assert!(authorization.contains("Bearer ***"), "{authorization}");
    let page = browser.execute("return document.documentElement.outerHTML;", &[]).await;
    let page = page.as_str().unwrap_or_default();
    assert!(!page.contains(&token) && !page.contains("alice@example.com"), "a secret is on the page");
    assert!(
        browser.execute("return document.querySelector('#live-detail-event');", &[]).await.is_null(),
        "no function event outside dev mode"
    );
    browser.screenshot(&shots().join("console-live-detail.png")).await;
    browser.click("#live-detail-close").await;

    // Paused: events are buffered, not shown; resuming shows them.
    browser.click("#live-pause").await;
    client.get(&gw.url("/")).await;
    until(
        &browser,
        "Number(document.querySelector('#live-buffered').dataset.value) === 1",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        browser.execute("return document.querySelectorAll('#live-table tbody tr').length;", &[]).await,
        5
    );
    browser.click("#live-pause").await;
    until(
        &browser,
        "document.querySelectorAll('#live-table tbody tr').length === 6",
        Duration::from_secs(10),
    )
    .await;
    // A mix for the picture: both authorizers allowing and denying, three integrations.
    for i in 0..3 {
        client.send(Method::GET, &gw.url("/private"), &[("authorization", &bearer)], "").await;
        client.get(&gw.url(&format!("/files/img/logo-{i}.png"))).await;
        let key = if i == 1 { "bad" } else { "good" };
        client.send(Method::GET, &gw.url("/keyed"), &[("x-api-key", key)], "").await;
        client.get(&gw.url("/hello")).await;
    }
    until(
        &browser,
        "document.querySelectorAll('#live-table tbody tr').length === 18",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        browser
            .execute(
                "return document.querySelector('#live-table tr[data-reason=not_authorized]').dataset.status;",
                &[]
            )
            .await,
        "403",
        "a Lambda authorizer's denial shows its reason too"
    );
    browser.screenshot(&shots().join("console-live.png")).await;
    no_console_errors(&browser).await;
}

#[tokio::test]
async fn explain_runs_from_the_form_and_prints_what_the_cli_prints() {
    let Some(browser) = Browser::start().await else { return };
    let gw = start("", &[]);
    let token = mint(gw.dir.path(), &["--sub", "alice", "--aud", "api"]);
    let expired = mint(gw.dir.path(), &["--sub", "bob", "--aud", "api", "--ttl", "-5m"]);

    browser.goto(&admin(&gw, "/ui#explain")).await;
    until(
        &browser,
        "document.querySelector('#explain-route option[value=\"GET /private\"]')",
        Duration::from_secs(20),
    )
    .await;
    let explain = async |token: &str| -> Value {
        browser.execute("document.querySelector('#explain-output').dataset.state = 'empty';", &[]).await;
        browser.fill("#explain-route", "GET /private").await;
        browser.fill("#explain-token", &format!("Authorization: Bearer {token}")).await;
        browser.click("#explain-form button[type=submit]").await;
        until(
            &browser,
            "document.querySelector('#explain-output').dataset.state === 'done'",
            Duration::from_secs(20),
        )
        .await;
        browser
            .execute(
                "const v = document.querySelector('#explain-verdict').dataset;\
                 return {allowed: v.allowed, reason: v.reason, status: v.status,\
                   text: document.querySelector('#explain-output').textContent,\
                   lines: Array.from(document.querySelectorAll('#explain-output span.line'), l => l.textContent)};",
                &[],
            )
            .await
    };
    let allowed = explain(&token).await;
    assert_eq!((allowed["allowed"].as_str(), allowed["reason"].as_str()), (Some("true"), Some("")));
    let denied = explain(&expired).await;
    assert_eq!((denied["allowed"].as_str(), denied["reason"].as_str()), (Some("false"), Some("expired")));
    assert_eq!(denied["status"], "401");
    browser.screenshot(&shots().join("console-explain.png")).await;

    // The same code path as `portcullis explain`: the same lines (the seconds to or since
    // `exp` aside).
    let seconds = regex::Regex::new(r"\b\d+s\b").expect("regex");
    let steady = |line: &str| seconds.replace_all(line, "Ns").into_owned();
    let same = |console: &Value, token: &str| {
        let (_, printed) = cli(gw.dir.path(), "explain", &["--route", "GET /private", "--token", token]);
        let cli_lines: Vec<String> = printed.lines().map(steady).collect();
        let console_lines: Vec<String> = console["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter_map(Value::as_str)
            .map(steady)
            .collect();
        assert_eq!(console_lines, cli_lines);
    };
    same(&allowed, &token);
    same(&denied, &expired);
    no_console_errors(&browser).await;
}

const ADMIN_TOKEN: &str = "console-test-token-0123456789abcdef";

#[tokio::test]
async fn with_an_admin_token_the_console_asks_for_it_and_then_shows_everything() {
    let Some(browser) = Browser::start().await else { return };
    let gw = start("admin: {token_file: admin-token}\n", &[("admin-token", &format!("{ADMIN_TOKEN}\n"))]);

    browser.goto(&admin(&gw, "/ui#routes")).await;
    until(&browser, "!document.querySelector('#login').hidden", Duration::from_secs(20)).await;
    browser.screenshot(&shots().join("console-login.png")).await;
    browser.fill("#login-token", ADMIN_TOKEN).await;
    browser.click("#login-form button[type=submit]").await;
    until(&browser, "document.querySelector('#login').hidden", Duration::from_secs(10)).await;
    until(
        &browser,
        "document.querySelectorAll('#routes-table tbody tr').length === 6",
        Duration::from_secs(10),
    )
    .await;

    // `#token=` opens a page signed in, and the token leaves the address bar at once.
    browser.execute("sessionStorage.clear();", &[]).await;
    browser.goto(&admin(&gw, &format!("/ui#live&token={ADMIN_TOKEN}"))).await;
    until(&browser, "document.querySelector('#live-conn').dataset.state === 'open'", Duration::from_secs(20))
        .await;
    assert_eq!(browser.execute("return location.hash;", &[]).await, "#live");
    TestClient::http1().get(&gw.url("/")).await;
    until(
        &browser,
        "document.querySelectorAll('#live-table tbody tr').length === 1",
        Duration::from_secs(10),
    )
    .await;
    // The 401s before signing in are the only errors the browser saw.
    let errors = browser.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("401")), "{errors:#?}");
}

#[tokio::test]
async fn the_admin_token_guards_every_endpoint_but_health_and_the_static_page() {
    let gw = start(
        "admin: {token_file: admin-token}\nrevocation: {enabled: true}\n",
        &[("admin-token", &format!("{ADMIN_TOKEN}\n"))],
    );
    let client = TestClient::http1();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    for open in ["/healthz", "/readyz", "/ui", "/ui/app.js", "/ui/app.css"] {
        assert_eq!(client.get(&admin(&gw, open)).await.status, 200, "{open}");
    }
    for guarded in [
        "/metrics",
        "/dev/jwks.json",
        "/api/overview",
        "/api/routes",
        "/api/live",
        "/api/series",
        "/api/functions",
        "/api/authorizers",
    ] {
        let refused = client.get(&admin(&gw, guarded)).await;
        assert_eq!(refused.status, 401, "{guarded}");
        assert_eq!(refused.header("www-authenticate"), Some(r#"Bearer realm="portcullis-admin""#));
        let wrong = client
            .send(Method::GET, &admin(&gw, guarded), &[("authorization", "Bearer not-the-token-at-all")], "")
            .await;
        assert_eq!(wrong.status, 401, "{guarded}");
    }
    for guarded in ["/metrics", "/dev/jwks.json", "/api/overview", "/api/routes"] {
        let reply = client.send(Method::GET, &admin(&gw, guarded), &[("authorization", &bearer)], "").await;
        assert_eq!(reply.status, 200, "{guarded}");
        assert!(!reply.text().contains(ADMIN_TOKEN), "the token is never echoed");
    }
    let explain = client
        .send(
            Method::POST,
            &admin(&gw, "/api/explain"),
            &[("content-type", "application/json")],
            r#"{"route_key":"GET /private","path":null,"token":null,"headers":[]}"#,
        )
        .await;
    assert_eq!(explain.status, 401);
    // Revocations too; `portcullis revoke` reads the token from the same config.
    let revocation = client
        .send(
            Method::POST,
            &admin(&gw, "/revocations"),
            &[("content-type", "application/json")],
            r#"{"sub":"alice"}"#,
        )
        .await;
    assert_eq!(revocation.status, 401);
    let (code, printed) =
        cli(gw.dir.path(), "revoke", &["--sub", "alice", "--admin", &gw.proc.admin.to_string()]);
    assert_eq!(code, Some(0), "{printed}");
    // The token never reaches the log.
    assert!(gw.proc.stderr_lines().iter().all(|l| !l.contains(ADMIN_TOKEN)));
}

#[tokio::test]
async fn the_api_refuses_other_sites_and_every_answer_carries_a_strict_policy() {
    let gw = start("", &[]);
    let client = TestClient::http1();
    let page = client.get(&admin(&gw, "/ui")).await;
    let policy = page.header("content-security-policy").expect("a CSP").to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let own = format!("http://{}", gw.proc.admin);
    let body = r#"{"route_key":"GET /private","path":null,"token":null,"headers":[]}"#;
    let post = async |headers: &[(&str, &str)]| {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        client.send(Method::POST, &admin(&gw, "/api/explain"), &all, body).await
    };
    assert_eq!(post(&[("origin", &own), ("sec-fetch-site", "same-origin")]).await.status, 200);
    assert_eq!(post(&[("origin", "https://evil.example")]).await.status, 403);
    assert_eq!(post(&[("sec-fetch-site", "cross-site")]).await.status, 403);
    let live =
        client.send(Method::GET, &admin(&gw, "/api/live"), &[("origin", "https://evil.example")], "").await;
    assert_eq!(live.status, 403);
    assert!(live.header("content-security-policy").is_some());
    // A DNS name that points at the loopback listener (DNS rebinding) is not the console's.
    let rebound =
        client.send(Method::GET, &admin(&gw, "/api/routes"), &[("host", "rebind.example")], "").await;
    assert_eq!(rebound.status, 403);
}

#[tokio::test]
async fn an_admin_listener_other_machines_can_reach_refuses_to_start_without_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("portcullis.yaml"), "routes:\n  GET /: {respond: {status: 200}}\n")
        .expect("config");
    let mut child = std::process::Command::new(exe())
        .args(["serve", "--config", "portcullis.yaml", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started on a public admin address without a token");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0") && stderr.contains("token"), "{stderr}");

    // In the file, the same is a positioned config error.
    std::fs::write(dir.path().join("portcullis.yaml"), "admin: 0.0.0.0:9901\n").expect("config");
    let (code, text) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("portcullis.yaml:1:1: admin:") && text.contains("token_file"), "{text}");
}

#[tokio::test]
async fn a_live_stream_nobody_reads_never_slows_requests_and_counts_what_it_dropped() {
    let gw = start("", &[]);
    let client = TestClient::http1();
    // A client that asks for the stream and then never reads a byte.
    let mut stalled = tokio::net::TcpStream::connect(gw.proc.admin).await.expect("connect");
    let request =
        format!("GET /api/live HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n", gw.proc.admin);
    stalled.write_all(request.as_bytes()).await.expect("send");
    let overview = || async { client.get(&admin(&gw, "/api/overview")).await.json() };
    let streams = async |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while overview().await["live"]["streams"] != n {
            assert!(Instant::now() < deadline, "live streams never became {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    streams(1).await;

    // Requests whose events are large (long paths) fill the stalled stream's socket and queue
    // many times over in a few seconds, at a pace the stream's budget lets through.
    let path = format!("/{}", "x".repeat(9000));
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut sent = 0u32;
    while started.elapsed() < Duration::from_secs(8) {
        let window = Instant::now();
        for _ in 0..40 {
            let one = Instant::now();
            assert_eq!(client.get(&gw.url(&path)).await.status, 404);
            slowest = slowest.max(one.elapsed());
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(window.elapsed())).await;
    }
    assert!(slowest < Duration::from_secs(1), "a request waited {slowest:?} for the stalled stream");
    let live = overview().await["live"].clone();
    assert!(
        live["dropped"].as_u64().unwrap_or(0) > 0,
        "the stalled stream fell behind without dropping anything ({sent} requests): {live}"
    );
    // The stream is still open; the gateway kept serving meanwhile.
    assert_eq!(overview().await["live"]["streams"], 1);
    drop(stalled);
    streams(0).await;
}

/// What the page shows of one authorizer card: its `dl.kv` pairs, its figures (value and the
/// line under it), its denials table, its key rows and its badges.
async fn card(browser: &Browser, selector: &str) -> Value {
    browser
        .execute(
            "const c = document.querySelector(arguments[0]);\
             return {\
               kv: Object.fromEntries(Array.from(c.querySelectorAll('dl.kv dt'),\
                 dt => [dt.textContent, dt.nextElementSibling.textContent])),\
               stats: Object.fromEntries(Array.from(c.querySelectorAll('.stat'), s => [s.dataset.stat,\
                 {value: s.querySelector('.value').textContent, sub: s.querySelector('.sub')?.textContent ?? null}])),\
               denials: Object.fromEntries(Array.from(c.querySelectorAll('table.denials tr[data-reason]'),\
                 r => [r.dataset.reason, r.cells[1].textContent])),\
               keys: Array.from(c.querySelectorAll('table.keys tr[data-kid]'),\
                 r => [r.dataset.kid, ...Array.from(r.cells, td => td.textContent)]),\
               badges: Array.from(c.querySelectorAll('.card-head .badge'), b => b.textContent),\
             };",
            &[json!(selector)],
        )
        .await
}

/// An OIDC issuer of the test's own at `http://127.0.0.1:PORT/idp`: the discovery document and
/// the JWKS (with `cache-control: max-age=600`); when each JWKS fetch came. It runs on a runtime
/// of its own, so it answers while the test's thread waits for the gateway to start.
struct Idp {
    issuer: String,
    jwks_fetches: Arc<Mutex<Vec<Instant>>>,
    discovery_fetches: Arc<Mutex<u32>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Idp {
    /// Serves `jwks` on `listener` (bound first, so tokens can name the issuer before).
    fn serve(listener: std::net::TcpListener, jwks: String) -> Self {
        let issuer = format!("http://{}/idp", listener.local_addr().expect("idp address"));
        let jwks_fetches = Arc::new(Mutex::new(Vec::new()));
        let discovery_fetches = Arc::new(Mutex::new(0));
        let (fetches, discoveries, named) =
            (Arc::clone(&jwks_fetches), Arc::clone(&discovery_fetches), issuer.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("idp runtime");
        runtime.spawn(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("idp listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (fetches, discoveries, issuer, jwks) =
                    (Arc::clone(&fetches), Arc::clone(&discoveries), named.clone(), jwks.clone());
                let service =
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let body = match request.uri().path() {
                            "/idp/.well-known/openid-configuration" => {
                                *discoveries.lock().expect("lock") += 1;
                                Some(
                                    json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")})
                                        .to_string(),
                                )
                            }
                            "/idp/jwks.json" => {
                                fetches.lock().expect("lock").push(Instant::now());
                                Some(jwks.clone())
                            }
                            _ => None,
                        };
                        let response = http::Response::builder()
                            .status(if body.is_some() { 200 } else { 404 })
                            .header("content-type", "application/json")
                            .header("cache-control", "max-age=600")
                            .body(http_body_util::Full::new(bytes::Bytes::from(body.unwrap_or_default())))
                            .expect("response");
                        async move { Ok::<_, Infallible>(response) }
                    });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Idp { issuer, jwks_fetches, discovery_fetches, runtime: Some(runtime) }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

const GATE_AUTHZ: &str = r#"export const handler = async (event) => {
  const key = event.headers['x-api-key'] ?? '';
  if (key === 'boom') throw new Error('the authorizer exploded');
  return { isAuthorized: key === 'good' };
};
"#;

fn millis_since_epoch(at: SystemTime) -> u64 {
    u64::try_from(at.duration_since(UNIX_EPOCH).expect("after 1970").as_millis()).expect("ms")
}

#[tokio::test]
async fn authorizers_show_urls_key_age_refresh_caches_and_denials_as_they_happen() {
    let Some(browser) = Browser::start().await else { return };
    // Tokens and a JWKS from a development issuer in a directory of their own, served by the
    // test's issuer over HTTP: the gateway discovers it, fetches the keys, verifies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind idp");
    let issuer = format!("http://{}/idp", listener.local_addr().expect("idp address"));
    let keys = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        keys.path().join("portcullis.yaml"),
        "authorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\nroutes:\n  GET /: {authorizer: dev, respond: {body: x}}\n",
    )
    .expect("config");
    let jwks = mint(keys.path(), &["--print-jwks"]);
    let kid = serde_json::from_str::<Value>(&jwks).expect("JWKS")["keys"][0]["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();
    let iss = format!("iss=\"{issuer}\"");
    let token = mint(keys.path(), &["--sub", "alice", "--aud", "api", "--claim", &iss]);
    let expired = mint(keys.path(), &["--sub", "bob", "--aud", "api", "--claim", &iss, "--ttl", "-5m"]);
    let idp = Idp::serve(listener, jwks);
    assert_eq!(idp.issuer, issuer);

    let config = format!(
        "authorizers:\n  idp: {{type: jwt, issuer: \"{issuer}\", audience: [api]}}\n\
         \x20 keys:\n    type: lambda\n    function: gate\n    event: request\n    payload_format_version: \"2.0\"\n\
         \x20   simple_responses: true\n    identity_source: [$request.header.x-api-key]\n    result_ttl: 60s\n\
         functions:\n  gate: {{runtime: nodejs, handler: gate.handler}}\n\
         routes:\n  GET /idp: {{respond: {{status: 200, body: ok}}, authorizer: idp}}\n\
         \x20 GET /keyed: {{respond: {{status: 200, body: ok}}, authorizer: keys}}\n"
    );
    let gw = Gw::start_with(&config, &[("gate.mjs", GATE_AUTHZ)], &[]);
    let client = TestClient::http1();
    let authorizers = async || client.get(&admin(&gw, "/api/authorizers")).await.json();

    // The keys were discovered and fetched once, at start.
    let before = Instant::now();
    let listed = authorizers().await;
    let read_within = before.elapsed();
    let fetched = *idp.jwks_fetches.lock().expect("lock").first().expect("the JWKS was fetched");
    assert_eq!(idp.jwks_fetches.lock().expect("lock").len(), 1);
    assert_eq!(*idp.discovery_fetches.lock().expect("lock"), 1);
    let jwt = &listed["jwt"][0];
    assert_eq!(listed["jwt"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(jwt["name"], "idp");
    assert_eq!(jwt["issuer"], issuer.as_str());
    assert_eq!(jwt["discovery_url"], format!("{issuer}/.well-known/openid-configuration"));
    assert_eq!(jwt["jwks_url"], format!("{issuer}/jwks.json"));
    assert_eq!(jwt["keys"].as_array().map(Vec::len), Some(1), "{jwt}");
    assert_eq!(
        (jwt["keys"][0]["kid"].as_str(), jwt["keys"][0]["alg"].as_str()),
        (Some(&*kid), Some("ES256"))
    );
    // Ages and times are measured from the moment the issuer served the JWKS (the gateway
    // loaded it a little later).
    let since = |at: Instant| u64::try_from(at.elapsed().as_millis()).expect("ms");
    let late = since(fetched);
    let early = late.saturating_sub(u64::try_from(read_within.as_millis()).expect("ms"));
    let age = jwt["keys"][0]["age_ms"].as_u64().expect("age_ms");
    assert!(age <= late + 2 && age + 1000 >= early, "key age {age} ms, fetched {early}..{late} ms ago");
    assert_eq!((jwt["last_fetch"]["ok"].as_bool(), &jwt["last_fetch"]["error"]), (Some(true), &Value::Null));
    let at = jwt["last_fetch"]["at"].as_u64().expect("at");
    let served_at = millis_since_epoch(SystemTime::now()) - since(fetched);
    assert!(at.abs_diff(served_at) < 1000, "last fetch at {at}, served at {served_at}");
    // `max-age=600`: the refresh comes at 90 % of it (whole milliseconds, truncated).
    let next = jwt["next_refresh_ms"].as_u64().expect("next_refresh_ms");
    assert!(
        next <= 540_000 - early + 1000 && next + late + 2 >= 540_000,
        "next refresh in {next} ms, fetched {early}..{late} ms ago: {jwt}"
    );
    assert_eq!(jwt["cache"], json!({"size": 0, "hits": 0, "misses": 0}));
    assert_eq!(jwt["denials"], json!({}));

    // The same valid token three times: verified once, then answered from the cache.
    let bearer = format!("Bearer {token}");
    for _ in 0..3 {
        let reply = client.send(Method::GET, &gw.url("/idp"), &[("authorization", &bearer)], "").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let listed = authorizers().await;
    assert_eq!(listed["jwt"][0]["cache"], json!({"size": 1, "hits": 2, "misses": 1}));
    assert_eq!(listed["jwt"][0]["denials"], json!({}));

    let idp_card = "#authz-jwt .card[data-name=idp]";
    let before_page = since(fetched);
    browser.goto(&admin(&gw, "/ui#authorizers")).await;
    until(&browser, &format!("document.querySelector('{idp_card}')"), Duration::from_secs(20)).await;
    let shown = card(&browser, idp_card).await;
    assert_eq!(shown["kv"]["issuer"], issuer.as_str());
    assert_eq!(shown["kv"]["discovery"], format!("{issuer}/.well-known/openid-configuration"));
    assert_eq!(shown["kv"]["JWKS"], format!("{issuer}/jwks.json"));
    assert_eq!(shown["kv"]["next refresh"], "in 9 min");
    let last = shown["kv"]["last fetch"].as_str().unwrap_or_default();
    assert!(regex::Regex::new(r"^(just now|\d+ s ago)$").expect("regex").is_match(last), "{last}");
    assert_eq!(shown["stats"]["hit-ratio"], json!({"value": "66.7 %", "sub": "2 hits / 1 misses"}));
    assert_eq!(shown["stats"]["cache-size"]["value"], "1");
    assert_eq!(shown["stats"]["denials"]["value"], "0");
    assert_eq!(shown["badges"], json!(["JWT", "keys OK"]));
    let key_row = &shown["keys"][0];
    assert_eq!(
        (key_row[0].as_str(), key_row[1].as_str(), key_row[2].as_str()),
        (Some(&*kid), Some(&*kid), Some("ES256"))
    );
    // The age column, in whole seconds or milliseconds, within what the issuer saw.
    let age_text = key_row[3].as_str().unwrap_or_default().to_owned();
    let age_ms = match age_text.split_once(' ') {
        Some((n, "s")) => n.parse::<u64>().expect("seconds") * 1000,
        Some((n, "ms")) => n.parse::<u64>().expect("milliseconds"),
        _ => panic!("key age shown as {age_text:?}"),
    };
    let after_page = since(fetched);
    assert!(
        age_ms <= after_page + 500 && age_ms + 1000 >= before_page,
        "key age {age_text}, fetched {before_page}..{after_page} ms ago"
    );

    // Denials: no token, an expired one.
    assert_eq!(client.get(&gw.url("/idp")).await.status, 401);
    let stale = format!("Bearer {expired}");
    assert_eq!(client.send(Method::GET, &gw.url("/idp"), &[("authorization", &stale)], "").await.status, 401);

    // The Lambda authorizer: an allowed identity three times (invoked once), a refused one, one
    // whose invocation fails, and a request without the identity (never invoked).
    for _ in 0..3 {
        let reply = client.send(Method::GET, &gw.url("/keyed"), &[("x-api-key", "good")], "").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(client.send(Method::GET, &gw.url("/keyed"), &[("x-api-key", "bad")], "").await.status, 403);
    assert_eq!(client.send(Method::GET, &gw.url("/keyed"), &[("x-api-key", "boom")], "").await.status, 500);
    assert_eq!(client.get(&gw.url("/keyed")).await.status, 401);

    let listed = authorizers().await;
    let jwt = &listed["jwt"][0];
    // The expired token was looked up (a miss); the missing one never reached the cache.
    assert_eq!(jwt["cache"], json!({"size": 1, "hits": 2, "misses": 2}));
    assert_eq!(jwt["denials"], json!({"token_missing": 1, "expired": 1}));
    let lambda = &listed["lambda"][0];
    assert_eq!(listed["lambda"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!((lambda["name"].as_str(), lambda["function"].as_str()), (Some("keys"), Some("gate")));
    assert_eq!(lambda["result_ttl_ms"], 60_000);
    // `good` and `bad` are cached; a failed invocation is not.
    assert_eq!(lambda["cache"], json!({"size": 2, "hits": 2, "misses": 3}));
    assert_eq!((lambda["invocations"].as_u64(), lambda["errors"].as_u64()), (Some(3), Some(1)));
    assert_eq!(
        lambda["denials"],
        json!({"not_authorized": 1, "authorizer_function_failed": 1, "identity_missing": 1})
    );

    // The page, refreshed, shows the same.
    browser.click("#authz-refresh").await;
    until(
        &browser,
        &format!("document.querySelector('{idp_card} table.denials tr[data-reason=expired]')"),
        Duration::from_secs(10),
    )
    .await;
    let shown = card(&browser, idp_card).await;
    assert_eq!(shown["stats"]["hit-ratio"], json!({"value": "50 %", "sub": "2 hits / 2 misses"}));
    assert_eq!(shown["stats"]["cache-size"]["value"], "1");
    assert_eq!(shown["stats"]["denials"]["value"], "2");
    assert_eq!(shown["denials"], json!({"token_missing": "1", "expired": "1"}));
    let keys_card = "#authz-lambda .card[data-name=keys]";
    let shown = card(&browser, keys_card).await;
    assert_eq!(shown["kv"], json!({"function": "gate", "result TTL": "1 min"}));
    assert_eq!(shown["stats"]["hit-ratio"], json!({"value": "40 %", "sub": "2 hits / 3 misses"}));
    assert_eq!(shown["stats"]["cache-size"]["value"], "2");
    assert_eq!(shown["stats"]["invocations"]["value"], "3");
    assert_eq!(shown["stats"]["errors"]["value"], "1");
    assert_eq!(shown["badges"], json!(["Lambda", "1 error"]));
    assert_eq!(
        shown["denials"],
        json!({"not_authorized": "1", "authorizer_function_failed": "1", "identity_missing": "1"})
    );
    browser.screenshot(&shots().join("console-authorizers-counters.png")).await;
    no_console_errors(&browser).await;
}

/// A handler held at two gates the test opens: its module's init waits for `init-open`, each
/// invocation for `call-open` (files next to it; at most 20 s each).
const HELD: &str = r#"import { existsSync } from 'node:fs';

const gate = async (name) => {
  const file = new URL(name, import.meta.url);
  for (let i = 0; i < 400 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
};

await gate('./init-open');

export const handler = async (event) => {
  console.log('held ' + event.rawPath);
  await gate('./call-open');
  return { statusCode: 200, body: 'released' };
};
"#;

const FAILS: &str = r#"export const handler = async (event) => {
  console.error('failing ' + event.rawPath);
  throw new Error('kaboom');
};
"#;

const SLEEPY: &str = r#"export const handler = async () => {
  await new Promise((r) => setTimeout(r, 3000));
  return { statusCode: 200, body: 'too late' };
};
"#;

const FUNCTIONS: &str = "functions:\n  held: {runtime: nodejs, handler: held.handler}\n  \
     fails: {runtime: nodejs, handler: fails.handler}\n  \
     sleepy: {runtime: nodejs, handler: sleepy.handler, timeout: 1s}\n\
     routes:\n  GET /held: {function: held}\n  GET /fails: {function: fails}\n  GET /sleepy: {function: sleepy}\n";

/// Polls `/api/functions` until the function `name` satisfies `wanted` (at most 20 s); its entry.
async fn function_when(gw: &Gw, name: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let client = TestClient::http1();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = client.get(&admin(gw, "/api/functions")).await.json();
        let entry = listed["functions"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no function {name}: {listed}"));
        if wanted(&entry) {
            return entry;
        }
        assert!(Instant::now() < deadline, "{name} never had {what}: {entry}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn instances(busy: u64, idle: u64, starting: u64) -> Value {
    json!({"busy": busy, "idle": idle, "starting": starting})
}

/// The cells of a function's row after its name: runtime, busy, idle, starting, invocations,
/// errors, timeouts, last cold start.
async fn function_row(browser: &Browser, name: &str) -> Vec<String> {
    let cells = browser
        .execute(
            "const r = document.querySelector(`#functions-table tr[data-function=\"${arguments[0]}\"]`);\
             return r ? Array.from(r.cells, c => c.textContent).slice(1) : null;",
            &[json!(name)],
        )
        .await;
    serde_json::from_value(cells).expect("a row of cells")
}

/// Clicks Refresh until the row of `name` shows `busy`, `idle` and `starting` (at most 10 s).
async fn row_shows(browser: &Browser, name: &str, busy: &str, idle: &str, starting: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        browser.click("#functions-refresh").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let row = function_row(browser, name).await;
        if row[1..4] == [busy, idle, starting] {
            return row;
        }
        assert!(Instant::now() < deadline, "{name} never showed {busy}/{idle}/{starting}: {row:?}");
    }
}

#[tokio::test]
async fn functions_show_instances_by_state_counters_cold_starts_and_output_as_they_happen() {
    let Some(browser) = Browser::start().await else { return };
    let gw =
        Gw::start_with(FUNCTIONS, &[("held.mjs", HELD), ("fails.mjs", FAILS), ("sleepy.mjs", SLEEPY)], &[]);
    let client = TestClient::http1();
    browser.goto(&admin(&gw, "/ui#functions")).await;
    until(
        &browser,
        "document.querySelectorAll('#functions-table tr[data-function]').length === 3",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(function_row(&browser, "held").await, ["nodejs", "0", "0", "0", "0", "0", "0", "none"]);

    // A request in flight: first its instance starting (init held), then busy (handler held).
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), gw.url("/held"));
        async move { client.get(&url).await }
    });
    function_when(&gw, "held", "one instance starting", |f| f["instances"] == instances(0, 0, 1)).await;
    row_shows(&browser, "held", "0", "0", "1").await;
    let held_init = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(gw.dir.path().join("init-open"), "").expect("open the init gate");
    let busy = function_when(&gw, "held", "one instance busy and its line", |f| {
        f["instances"] == instances(1, 0, 0)
            && f["last_lines"].as_array().is_some_and(|lines| !lines.is_empty())
    })
    .await;
    let held_for = held_init.elapsed();
    assert_eq!(
        (busy["invocations"].as_u64(), busy["cold_starts"].as_array().map(Vec::len)),
        (Some(0), Some(1))
    );
    row_shows(&browser, "held", "1", "0", "0").await;
    std::fs::write(gw.dir.path().join("call-open"), "").expect("open the call gate");
    let reply = in_flight.await.expect("the request");
    assert_eq!((reply.status.as_u16(), reply.text()), (200, "released".to_owned()));
    let request_id = reply.header("apigw-requestid").expect("a request id").to_owned();
    let held =
        function_when(&gw, "held", "one idle instance", |f| f["instances"] == instances(0, 1, 0)).await;
    assert_eq!(
        (held["invocations"].as_u64(), held["errors"].as_u64(), held["timeouts"].as_u64()),
        (Some(1), Some(0), Some(0))
    );
    // The one cold start lasted at least as long as the test held the init.
    let colds = held["cold_starts"].as_array().expect("cold starts");
    assert_eq!(colds.len(), 1, "{held}");
    let cold_ms = colds[0]["duration_ms"].as_u64().expect("duration_ms");
    assert!((500..=20_000).contains(&cold_ms), "cold start of {cold_ms} ms (init held ~{held_for:?})");
    let lines = held["last_lines"].as_array().expect("last lines");
    let line = lines.iter().find(|l| l["text"] == "held /held").unwrap_or_else(|| panic!("{held}"));
    assert_eq!((line["stream"].as_str(), line["request_id"].as_str()), (Some("stdout"), Some(&*request_id)));

    // A throwing handler: errors; its instance stays (a handler error is not a crash).
    for _ in 0..2 {
        assert_eq!(client.get(&gw.url("/fails")).await.status, 500);
    }
    let fails = function_when(&gw, "fails", "two invocations", |f| f["invocations"] == 2).await;
    assert_eq!((fails["errors"].as_u64(), fails["timeouts"].as_u64()), (Some(2), Some(0)));
    assert_eq!(fails["instances"], instances(0, 1, 0));
    assert_eq!(fails["cold_starts"].as_array().map(Vec::len), Some(1));
    let printed = fails["last_lines"].as_array().expect("last lines");
    assert!(printed.iter().any(|l| l["text"] == "failing /fails" && l["stream"] == "stderr"), "{fails}");

    // A handler past its 1 s timeout: a timeout, not an error; its instance is killed.
    let started = Instant::now();
    assert_eq!(client.get(&gw.url("/sleepy")).await.status, 500);
    assert!(started.elapsed() < Duration::from_millis(2900), "answered after {:?}", started.elapsed());
    let sleepy = function_when(&gw, "sleepy", "a timeout and no instance", |f| {
        f["timeouts"] == 1 && f["instances"] == instances(0, 0, 0)
    })
    .await;
    assert_eq!((sleepy["invocations"].as_u64(), sleepy["errors"].as_u64()), (Some(1), Some(0)));
    assert_eq!(sleepy["cold_starts"].as_array().map(Vec::len), Some(1));

    // The page: one row per function with these figures.
    let row = row_shows(&browser, "held", "0", "1", "0").await;
    assert_eq!(row[..7], ["nodejs", "0", "1", "0", "1", "0", "0"]);
    // "just now (1.23 s)": the duration of the last cold start.
    let shown = regex::Regex::new(r"^(just now|\d+ s ago) \((\d+(?:\.\d+)?) (ms|s)\)$").expect("regex");
    let parts = shown.captures(&row[7]).unwrap_or_else(|| panic!("last cold start shown as {:?}", row[7]));
    let value: f64 = parts[2].parse().expect("a number");
    let shown_ms = if &parts[3] == "s" { value * 1000.0 } else { value };
    assert!((shown_ms - cold_ms as f64).abs() <= 5.0, "{:?} for {cold_ms} ms", row[7]);
    assert_eq!(function_row(&browser, "fails").await[..7], ["nodejs", "0", "1", "0", "2", "2", "0"]);
    assert_eq!(function_row(&browser, "sleepy").await[..7], ["nodejs", "0", "0", "0", "1", "0", "1"]);
    // The detail row: the cold start and the line with its request id.
    browser.click("#functions-table tr[data-function=held]").await;
    let detail = "tr.fn-detail[data-detail-for=held]";
    until(&browser, &format!("document.querySelector('{detail} .log .log-line')"), Duration::from_secs(10))
        .await;
    let log = browser
        .execute(
            &format!(
                "return Array.from(document.querySelectorAll('{detail} .log .log-line'), l =>\
                 ({{stream: l.dataset.stream, rid: l.dataset.requestId, text: l.querySelector('.text').textContent}}));"
            ),
            &[],
        )
        .await;
    assert!(
        log.as_array().is_some_and(
            |lines| lines.contains(&json!({"stream": "stdout", "rid": request_id, "text": "held /held"}))
        ),
        "{log}"
    );
    assert_eq!(
        browser
            .execute(
                &format!("return document.querySelectorAll('{detail} table.cold-starts tbody tr').length;"),
                &[]
            )
            .await,
        1
    );
    browser.screenshot(&shots().join("console-functions-counters.png")).await;
    no_console_errors(&browser).await;
}

#[tokio::test]
async fn the_api_changes_nothing_but_explain_runs_only_when_posted() {
    let gw = start("", &[]);
    let client = TestClient::http1();
    let get = async |path: &str| {
        let reply = client.get(&admin(&gw, path)).await;
        assert_eq!(reply.status, 200, "{path}");
        reply.json()
    };
    // What could change: the route table, the Lambda authorizer's invocations and cache, the
    // functions, the live streams.
    let state = async || {
        let authorizers = get("/api/authorizers").await;
        json!({
            "routes": get("/api/routes").await,
            "lambda": authorizers["lambda"],
            "jwt_cache": authorizers["jwt"][0]["cache"],
            "jwt_denials": authorizers["jwt"][0]["denials"],
            "functions": get("/api/functions").await,
            "live": get("/api/overview").await["live"],
        })
    };
    let before = state().await;
    assert_eq!(before["lambda"][0]["invocations"], 0);
    assert_eq!(before["routes"]["routes"].as_array().map(Vec::len), Some(6));

    // An explain that would invoke the Lambda authorizer, sent with every method but POST.
    let explain = r#"{"route_key":"GET /keyed","path":null,"token":null,"headers":[["x-api-key","good"]]}"#;
    let json_body = [("content-type", "application/json")];
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = client.send(method.clone(), &admin(&gw, "/api/explain"), &json_body, explain).await;
        assert_eq!(reply.status, 405, "{method} /api/explain");
        assert_eq!(reply.header("allow"), Some("POST"), "{method} /api/explain");
        assert_eq!(reply.json(), json!({"error": "use POST"}), "{method} /api/explain");
    }
    // Every other endpoint answers only GET.
    let writes = [Method::POST, Method::PUT, Method::DELETE, Method::PATCH];
    for path in [
        "/api/overview",
        "/api/routes",
        "/api/match?method=GET&path=/",
        "/api/authorizers",
        "/api/functions",
        "/api/series",
        "/api/live",
        "/api/live/some-request",
    ] {
        for method in &writes {
            let body = r#"{"routes":{"GET /evil":{"respond":{"status":200}}}}"#;
            let reply = client.send(method.clone(), &admin(&gw, path), &json_body, body).await;
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("allow"), Some("GET"), "{method} {path}");
            assert_eq!(
                reply.json(),
                json!({"error": "the admin API is read-only apart from explain: use GET"}),
                "{method} {path}"
            );
        }
    }
    assert_eq!(state().await, before, "a refused method changed something");
    assert_eq!(client.get(&gw.url("/evil")).await.status, 404);

    // POST runs it: the authorizer's function is really invoked.
    let reply = client.send(Method::POST, &admin(&gw, "/api/explain"), &json_body, explain).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["allowed"], true);
    let after = state().await;
    assert_eq!(after["lambda"][0]["invocations"], 1);
    assert_eq!(after["routes"], before["routes"]);
}

#[tokio::test]
async fn the_live_table_keeps_the_newest_500_rows_and_counts_what_it_removed() {
    let Some(browser) = Browser::start().await else { return };
    let gw = start("", &[]);
    let client = TestClient::http1();
    browser.goto(&admin(&gw, "/ui#live")).await;
    until(&browser, "document.querySelector('#live-conn').dataset.state === 'open'", Duration::from_secs(20))
        .await;

    // 620 requests at most 200 a second (10 every 50 ms), well under the 500 a second the
    // gateway streams: every one reaches the page.
    const SENT: usize = 620;
    for batch in 0..SENT / 10 {
        let started = Instant::now();
        for i in batch * 10..batch * 10 + 10 {
            assert_eq!(client.get(&gw.url(&format!("/files/n-{i}"))).await.status, 200);
        }
        tokio::time::sleep(Duration::from_millis(50).saturating_sub(started.elapsed())).await;
    }
    let live = client.get(&admin(&gw, "/api/overview")).await.json()["live"].clone();
    assert_eq!((live["skipped"].as_u64(), live["dropped"].as_u64()), (Some(0), Some(0)), "{live}");
    until(
        &browser,
        &format!(
            "document.querySelector('#live-table tbody tr td.path')?.textContent === '/files/n-{}'",
            SENT - 1
        ),
        Duration::from_secs(20),
    )
    .await;
    let shown = browser
        .execute(
            "const rows = document.querySelectorAll('#live-table tbody tr');\
             const value = (id) => document.getElementById(id).dataset.value;\
             return {rows: rows.length, first: rows[0].querySelector('td.path').textContent,\
               last: rows[rows.length - 1].querySelector('td.path').textContent,\
               count: value('live-count'), here: value('live-dropped-client'),\
               gateway: value('live-dropped-server'),\
               label: document.getElementById('live-dropped-client').parentElement.textContent};",
            &[],
        )
        .await;
    let removed = SENT - 500;
    assert_eq!(
        shown,
        json!({
            "rows": 500, "first": format!("/files/n-{}", SENT - 1), "last": format!("/files/n-{removed}"),
            "count": "500", "here": removed.to_string(), "gateway": "0",
            "label": format!("dropped here {removed}"),
        })
    );
    browser.screenshot(&shots().join("console-live-full.png")).await;
    no_console_errors(&browser).await;
}

/// With no console in use, a function's output lines and cold starts are not kept (the
/// counters `/metrics` renders are); once the console is used, they are.
#[tokio::test]
async fn functions_keep_their_output_only_while_the_console_is_in_use() {
    let gw = Gw::start_with(
        "functions:\n  talk: {runtime: nodejs, handler: talk.handler}\nroutes:\n  GET /talk: {function: talk}\n",
        &[(
            "talk.mjs",
            "export const handler = async () => { console.log('said it'); return { statusCode: 200, body: 'ok' }; };\n",
        )],
        &[],
    );
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/talk")).await.status, 200);
    // The line reached the log: it was printed and read.
    assert!(
        wait_until(Duration::from_secs(5), || gw.proc.stderr_lines().iter().any(|l| l.contains("said it")))
            .await
    );
    let metrics = client.get(&admin(&gw, "/metrics")).await.text();
    assert!(metrics.contains("portcullis_function_invocations_total{function=\"talk\"} 1"), "{metrics}");
    let before = function_when(&gw, "talk", "an invocation", |f| f["invocations"] == 1).await;
    assert_eq!(before["last_lines"], json!([]), "nothing kept while nobody looked: {before}");
    assert_eq!(before["cold_starts"], json!([]), "{before}");
    // The console is in use now: the next lines are kept.
    assert_eq!(client.get(&gw.url("/talk")).await.status, 200);
    let after = function_when(&gw, "talk", "a kept line", |f| {
        f["last_lines"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    assert_eq!(after["last_lines"][0]["text"], "said it", "{after}");
}

#[tokio::test]
async fn the_admin_token_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::write(
        dir.path(),
        "portcullis.yaml",
        "admin: {token_env: PORTCULLIS_TEST_ADMIN_TOKEN}\nroutes:\n  GET /a: {respond: {body: a}}\n",
    );
    let gw = portcullis_test_support::SpawnedGateway::spawn_with_env(
        exe(),
        &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
        &[("PORTCULLIS_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let client = TestClient::http1();
    let metrics = format!("http://{}/metrics", gw.admin);
    assert_eq!(client.get(&metrics).await.status, 401);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    assert_eq!(client.send(Method::GET, &metrics, &[("authorization", &bearer)], "").await.status, 200);
    // As long as the token, one character off.
    let off_by_one = format!("Bearer {}x", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    assert_ne!(off_by_one, bearer);
    let wrong = client.send(Method::GET, &metrics, &[("authorization", &off_by_one)], "").await;
    assert_eq!(wrong.status, 401);
}

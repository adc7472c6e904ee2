//! The admin console in a real browser (headless Chromium through chromedriver): every page
//! shows what the config holds and what the gateway did, the live stream carries finished
//! requests with their reason codes, explain runs from the form; plus the admin token, the
//! origin check, and a stream nobody reads.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::Method;
use portcullis_test_support::Browser;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::harness::{Gw, TestClient, cli, exe, mint};

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
    // A function invocation and a Lambda authorizer invocation, for the Functions and
    // Authorizers pages.
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

//! The production edge end to end: CORS answered before any authorizer (with a real browser),
//! throttling before the authorizer and the backend, named stages and stage variables, response
//! parameter mapping, and access-log formats with file rotation.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, mint, wait_until};

/// A request authorizer that writes one line per invocation to `calls.log` and allows the key
/// `good` (simple answers).
const COUNTING_AUTHZ: &str = "import { appendFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  appendFileSync('calls.log', event.requestContext.http.method + ' ' + event.rawPath + '\\n');\n\
  return { isAuthorized: (event.headers['x-api-key'] ?? '') === 'good', context: { user: 'u-' + (event.headers['x-user'] ?? 'anon') } };\n\
};\n";

fn authorizer_calls(gw: &Gw) -> Vec<String> {
    std::fs::read_to_string(gw.dir.path().join("calls.log"))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn counting_authorizer() -> &'static str {
    "functions:\n  authz: {runtime: nodejs, handler: authz.handler}\n\
     authorizers:\n  keys:\n    type: lambda\n    function: authz\n    event: request\n    payload_format_version: \"2.0\"\n    simple_responses: true\n    identity_source: [$request.header.x-api-key]\n    result_ttl: 0s\n"
}

const APP: &str = "https://app.example.com";

fn cors_config(upstream: &str, extra: &str, own_route: bool) -> String {
    let own = if own_route {
        format!("  OPTIONS /own: {{http: \"{upstream}/own\", authorizer: none}}\n")
    } else {
        String::new()
    };
    format!(
        "{extra}{authz}cors:\n  allow_origins: [{APP}]\n  allow_methods: [GET, POST]\n  allow_headers: [authorization, content-type, x-api-key]\n  expose_headers: [apigw-requestid]\n  max_age: 600\n  allow_credentials: true\n\
         routes:\n  ANY /{{proxy+}}: {{http: \"{upstream}/{{proxy}}\", authorizer: keys}}\n  $default: {{http: \"{upstream}\", authorizer: keys}}\n{own}",
        authz = counting_authorizer()
    )
}

fn preflight_headers<'a>(origin: &'a str, method: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "authorization,content-type"),
    ]
}

#[tokio::test]
async fn preflights_are_answered_before_the_authorizer_and_responses_carry_cors_headers() {
    let up = RecordingUpstream::start(Behavior::Fixed(
        200,
        vec![
            ("access-control-allow-origin", "*"),
            ("access-control-max-age", "1"),
            ("content-type", "text/plain"),
        ],
        "hello",
    ))
    .await;
    let gw = Gw::start_with(&cors_config(&up.url(), "", true), &[("authz.mjs", COUNTING_AUTHZ)], &[]);
    let client = TestClient::http1();

    // A preflight on `ANY /{proxy+}` (and on `/`, which only `$default` serves) is answered by
    // the gateway: 204 with the allow headers. Nothing behind it runs.
    for path in ["/items/1", "/"] {
        let reply = client.send(Method::OPTIONS, &gw.url(path), &preflight_headers(APP, "POST"), "").await;
        assert_eq!(reply.status, 204, "{path}: {}", reply.text());
        assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
        assert_eq!(reply.header("access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(
            reply.header("access-control-allow-headers"),
            Some("authorization,content-type,x-api-key")
        );
        assert_eq!(reply.header("access-control-max-age"), Some("600"));
        assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
        assert!(reply.body.is_empty());
    }
    // Refused origin or method: 204 without allow headers (the browser then refuses), never 401.
    for (origin, method) in [("https://evil.example", "POST"), (APP, "DELETE")] {
        let reply =
            client.send(Method::OPTIONS, &gw.url("/items/1"), &preflight_headers(origin, method), "").await;
        assert_eq!(reply.status, 204);
        assert!(reply.header("access-control-allow-origin").is_none(), "{origin} {method}");
        assert!(reply.header("access-control-allow-methods").is_none());
    }
    assert!(authorizer_calls(&gw).is_empty(), "no preflight reached the authorizer");
    assert_eq!(up.count(), 0, "no preflight reached the backend");

    // A route whose method is literally OPTIONS takes its preflights itself.
    // (AWS's documented workaround for an authorized `$default`), and its answer carries the
    // policy's preflight headers in place of the backend's.
    let own = client.send(Method::OPTIONS, &gw.url("/own"), &preflight_headers(APP, "POST"), "").await;
    assert_eq!(own.status, 200);
    assert_eq!(up.requests()[0].method, Method::OPTIONS);
    assert_eq!(own.header("access-control-allow-origin"), Some(APP));
    assert_eq!(own.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(own.header("access-control-max-age"), Some("600"), "not the backend's 1");

    // A plain OPTIONS (no preflight headers) follows normal routing: the authorizer runs.
    let plain = client.send(Method::OPTIONS, &gw.url("/items/1"), &[("x-api-key", "good")], "").await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(authorizer_calls(&gw), ["OPTIONS /items/1"]);
    assert_eq!(up.count(), 2);

    // The real request: the policy's headers replace the backend's own.
    let real =
        client.send(Method::POST, &gw.url("/items/1"), &[("origin", APP), ("x-api-key", "good")], "{}").await;
    assert_eq!(real.status, 200);
    assert_eq!(real.header("access-control-allow-origin"), Some(APP), "not the backend's `*`");
    assert_eq!(real.header("vary"), Some("origin"));
    assert_eq!(real.header("access-control-expose-headers"), Some("apigw-requestid"));
    assert_eq!(real.header("access-control-allow-credentials"), Some("true"));
    assert!(real.header("access-control-max-age").is_none(), "the backend's CORS headers are dropped");

    // The gateway's own refusals carry them too, so the app can read why.
    let refused =
        client.send(Method::GET, &gw.url("/items/1"), &[("origin", APP), ("x-api-key", "bad")], "").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("access-control-allow-origin"), Some(APP));
    // Another origin gets none, and not the backend's either.
    let other = client
        .send(
            Method::GET,
            &gw.url("/items/1"),
            &[("origin", "https://evil.example"), ("x-api-key", "good")],
            "",
        )
        .await;
    assert_eq!(other.status, 200);
    assert!(other.header("access-control-allow-origin").is_none());
    // No Origin, no CORS headers.
    let none = client.send(Method::GET, &gw.url("/items/1"), &[("x-api-key", "good")], "").await;
    assert!(none.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn under_compat_aws_an_authorized_any_route_takes_the_preflight_as_aws_does() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let yaml = cors_config(&up.url(), "compat: aws\n", false);
    let gw = Gw::start_with(&yaml, &[("authz.mjs", COUNTING_AUTHZ)], &[]);
    let client = TestClient::http1();
    // AWS's documented caveat: the ANY route catches the preflight and its authorizer refuses
    // it (no identity: 401 without invoking).
    let reply = client.send(Method::OPTIONS, &gw.url("/items/1"), &preflight_headers(APP, "POST"), "").await;
    assert_eq!(reply.status, 401);
    assert_eq!(up.count(), 0);
    let (code, text) = crate::harness::cli(gw.dir.path(), "check", &[]);
    assert_eq!(code, Some(0), "{text}");
}

#[tokio::test]
async fn check_compat_aws_names_cors_extensions() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::write(
        dir.path(),
        "portcullis.yaml",
        "cors: {allow_origins: [\"https://*.example.com\"]}\nroutes:\n  GET /x:\n    respond: {body: hi}\n    cors: {allow_origins: [\"https://a.example\"]}\n",
    );
    let (code, text) = crate::harness::cli(dir.path(), "check", &["--compat", "aws"]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("portcullis.yaml:1:24: cors.allow_origins[0]: the origin pattern"), "{text}");
    assert!(
        text.contains("routes.\"GET /x\".cors: `cors` on a route is not available with compat: aws"),
        "{text}"
    );
}

/// The page a browser loads from its own origin: it calls the gateway named in its URL's hash
/// with a bearer token and a JSON body, and writes what it got into `#result`.
const PAGE: &str = "<!doctype html><html><head><meta charset=utf-8><title>app</title></head><body><pre id=result>pending</pre><script>\n\
const [gateway, token] = decodeURIComponent(location.hash.slice(1)).split(' ');\n\
fetch(gateway + '/api/items', { method: 'POST', headers: { 'authorization': 'Bearer ' + token, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'pen' }) })\n\
  .then(async (r) => { window.outcome = { status: r.status, body: await r.text(), requestId: r.headers.get('apigw-requestid') }; })\n\
  .catch((e) => { window.outcome = { error: String(e) }; })\n\
  .finally(() => { document.getElementById('result').textContent = JSON.stringify(window.outcome); });\n\
</script></body></html>";

#[tokio::test]
async fn a_real_browser_calls_the_gateway_across_origins_with_a_token_and_json() {
    let Some(browser) = portcullis_test_support::Browser::start().await else { return };
    let page =
        RecordingUpstream::start(Behavior::Fixed(200, vec![("content-type", "text/html")], PAGE)).await;
    let other_page =
        RecordingUpstream::start(Behavior::Fixed(200, vec![("content-type", "text/html")], PAGE)).await;
    let backend = RecordingUpstream::start(Behavior::Fixed(
        201,
        vec![("content-type", "application/json")],
        r#"{"created":true}"#,
    ))
    .await;
    let origin = page.url();
    let gw = Gw::start(&format!(
        "authorizers:\n  dev: {{type: jwt, issuer: dev, audience: [api]}}\n\
         cors:\n  allow_origins: [{origin}]\n  allow_methods: [GET, POST]\n  allow_headers: [authorization, content-type]\n  expose_headers: [apigw-requestid]\n\
         routes:\n  ANY /{{proxy+}}: {{http: \"{backend}/{{proxy}}\", authorizer: dev}}\n",
        backend = backend.url()
    ));
    let token = mint(gw.dir.path(), &["--sub", "alice", "--aud", "api"]);

    browser.goto(&format!("{origin}/app#{} {token}", gw.url(""))).await;
    let outcome = browser.wait_for("window.outcome", Duration::from_secs(20)).await;
    assert_eq!(outcome["status"], 201, "{outcome}");
    assert_eq!(outcome["body"], r#"{"created":true}"#);
    assert!(
        outcome["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "exposed header readable: {outcome}"
    );
    assert!(browser.text("#result").await.contains("201"));
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    browser.screenshot(&screenshots.join("cors-browser.png")).await;

    // The browser sent its own preflight, which the gateway answered; only the POST went on.
    let seen = backend.requests();
    assert_eq!(seen.len(), 1, "only the real request reached the backend");
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].uri.path(), "/api/items");
    assert!(wait_until(Duration::from_secs(5), || gw.access_log().len() >= 2).await);
    let methods: Vec<(String, u64)> = gw
        .access_log()
        .iter()
        .map(|l| (l["method"].as_str().unwrap_or("").to_owned(), l["status"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(methods, [("OPTIONS".to_owned(), 204), ("POST".to_owned(), 201)]);

    // From an origin the policy does not list, the browser itself refuses: the script sees a
    // network error and the backend sees nothing.
    browser.goto(&format!("{}/app#{} {token}", other_page.url(), gw.url(""))).await;
    let refused = browser.wait_for("window.outcome", Duration::from_secs(20)).await;
    assert!(refused["error"].is_string(), "{refused}");
    assert_eq!(backend.count(), 1);
}

async fn metrics(gw: &Gw) -> String {
    TestClient::http1().get(&format!("http://{}/metrics", gw.proc.admin)).await.text()
}

#[tokio::test]
async fn a_throttled_request_runs_no_authorizer_and_no_backend() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(
        &format!(
            "{authz}throttle: {{rate: 1000, burst: 1000}}\nroutes:\n  GET /limited:\n    http: {up}/limited\n    authorizer: keys\n    throttle: {{rate: 0.01, burst: 2}}\n  GET /other: {{http: {up}/other, authorizer: keys}}\n",
            authz = counting_authorizer(),
            up = up.url()
        ),
        &[("authz.mjs", COUNTING_AUTHZ)],
        &[],
    );
    let client = TestClient::http1();
    let key = [("x-api-key", "good")];
    for _ in 0..2 {
        assert_eq!(client.send(Method::GET, &gw.url("/limited"), &key, "").await.status, 200);
    }
    for _ in 0..3 {
        let reply = client.send(Method::GET, &gw.url("/limited"), &key, "").await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.text(), r#"{"message":"Too Many Requests"}"#);
        assert_eq!(reply.header("content-type"), None, "AWS sends no content-type on its own answers");
        let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=100).contains(&retry), "retry-after {retry}");
    }
    assert_eq!(authorizer_calls(&gw).len(), 2, "throttled requests never invoked the authorizer");
    assert_eq!(up.count(), 2, "nor reached the backend");
    // Another route has its own budget.
    assert_eq!(client.send(Method::GET, &gw.url("/other"), &key, "").await.status, 200);
    let text = metrics(&gw).await;
    assert!(text.contains("portcullis_throttled_total{route=\"GET /limited\",limit=\"route\"} 3"), "{text}");
    assert!(text.contains("portcullis_throttled_total{route=\"*\",limit=\"api\"} 0"), "{text}");
    assert!(text.contains("portcullis_gateway_errors_total{kind=\"throttled\"} 3"), "{text}");
    let throttled_lines =
        || gw.access_log().iter().filter(|l| l["status"] == 429 && l["error"] == "throttled").count();
    assert!(
        wait_until(Duration::from_secs(5), || throttled_lines() == 3).await,
        "{} lines",
        throttled_lines()
    );
}

#[tokio::test]
async fn keyed_limits_give_each_caller_a_bucket_and_claims_are_keyed_after_the_authorizer() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "authorizers:\n  dev: {{type: jwt, issuer: dev, audience: [api]}}\nroutes:\n\
         \x20 GET /by-header:\n    http: {up}/h\n    throttle: [{{rate: 0.01, burst: 1, key: $request.header.x-client}}]\n\
         \x20 GET /by-claim:\n    http: {up}/c\n    authorizer: dev\n    throttle: [{{rate: 0.01, burst: 1, key: $context.authorizer.claims.sub}}]\n\
         \x20 GET /by-ip:\n    http: {up}/i\n    throttle: [{{rate: 0.01, burst: 2, key: $context.identity.sourceIp}}]\n\
         \x20 GET /fallback:\n    http: {up}/f\n    throttle: [{{rate: 0.01, burst: 3}}, {{rate: 0.01, burst: 1, key: $request.header.x-client}}]\n",
        up = up.url()
    ));
    let client = TestClient::http1();
    let get = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = gw.url(path);
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            client.send(Method::GET, &url, &headers, "").await.status.as_u16()
        }
    };
    let h = |v: &str| vec![("x-client", v.to_owned())];
    assert_eq!(get("/by-header", h("a")).await, 200);
    assert_eq!(get("/by-header", h("a")).await, 429);
    assert_eq!(get("/by-header", h("b")).await, 200, "another key, another bucket");
    // Requests without the key share one bucket of the limit (a missing header is no escape).
    assert_eq!(get("/by-header", vec![]).await, 200);
    assert_eq!(get("/by-header", vec![]).await, 429);
    // On a route with a limit of its own, they fall back to that route bucket instead.
    for _ in 0..3 {
        assert_eq!(get("/fallback", vec![]).await, 200);
    }
    assert_eq!(get("/fallback", vec![]).await, 429, "the route bucket (burst 3) is spent");
    assert_eq!(get("/fallback", h("a")).await, 429, "every request counts in the route bucket");

    let alice = format!("Bearer {}", mint(gw.dir.path(), &["--sub", "alice", "--aud", "api"]));
    let bob = format!("Bearer {}", mint(gw.dir.path(), &["--sub", "bob", "--aud", "api"]));
    let auth = |t: &String| vec![("authorization", t.clone())];
    assert_eq!(get("/by-claim", auth(&alice)).await, 200);
    assert_eq!(get("/by-claim", auth(&alice)).await, 429);
    assert_eq!(get("/by-claim", auth(&bob)).await, 200);
    // An invalid token is refused by the authorizer, never counted against anyone.
    assert_eq!(get("/by-claim", vec![("authorization", "Bearer forged".to_owned())]).await, 401);
    assert_eq!(get("/by-claim", auth(&bob)).await, 429);

    assert_eq!(get("/by-ip", vec![]).await, 200);
    assert_eq!(get("/by-ip", vec![]).await, 200);
    assert_eq!(get("/by-ip", vec![]).await, 429);
    let text = metrics(&gw).await;
    assert!(
        text.contains(
            "portcullis_throttle_keys{route=\"GET /by-header\",limit=\"${request.header.x-client}\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "portcullis_throttled_total{route=\"GET /by-claim\",limit=\"${context.authorizer.claims.sub}\"} 2"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_admitted_rate_stays_within_five_percent_of_the_configured_rate_over_ten_seconds() {
    const RATE: f64 = 200.0;
    const BURST: f64 = 20.0;
    let gw = Gw::start_with(
        "routes:\n  GET /r: {respond: {body: ok}, throttle: {rate: 200, burst: 20}}\n",
        &[],
        &[],
    );
    // One client (one connection) per worker, each warmed outside the measured window: a shared
    // pool may open a spare connection it leaves unused past the gateway's first-request
    // deadline, which then closes it under the pool.
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = TestClient::http1();
        assert_eq!(client.get(&gw.url("/nothing")).await.status, 404);
        clients.push(client);
    }
    let started = Instant::now();
    let window = Duration::from_secs(10);
    let mut workers = Vec::new();
    for client in clients {
        let url = gw.url("/r");
        workers.push(tokio::spawn(async move {
            let (mut admitted, mut refused) = (0u64, 0u64);
            while started.elapsed() < window {
                match client.get(&url).await.status.as_u16() {
                    200 => admitted += 1,
                    429 => refused += 1,
                    other => panic!("unexpected status {other}"),
                }
            }
            (admitted, refused)
        }));
    }
    let (mut admitted, mut refused) = (0, 0);
    for worker in workers {
        let (a, r) = worker.await.unwrap();
        admitted += a;
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let expected = BURST + RATE * elapsed;
    let ratio = admitted as f64 / expected;
    eprintln!(
        "admitted {admitted} of {} in {elapsed:.2} s: {ratio:.4} of the configured rate",
        admitted + refused
    );
    assert!(refused > admitted, "the load was above the limit: {refused} refused");
    assert!((0.95..=1.05).contains(&ratio), "admitted {admitted}, expected {expected:.0} ({ratio:.3})");
}

#[tokio::test]
async fn a_flood_of_distinct_keys_keeps_the_gateways_memory_bounded() {
    let gw = Gw::start_with(
        "routes:\n  GET /k: {respond: {body: ok}, throttle: [{rate: 1, burst: 1, key: $request.header.x-key, max_keys: 5000}]}\n",
        &[],
        &[],
    );
    let client = TestClient::http1();
    assert_eq!(client.send(Method::GET, &gw.url("/k"), &[("x-key", "warm")], "").await.status, 200);
    let before = gw.proc.memory_kb("VmRSS");
    const KEYS: usize = 20_000;
    let mut workers = Vec::new();
    for w in 0..4 {
        let client = client.clone();
        let url = gw.url("/k");
        workers.push(tokio::spawn(async move {
            for i in (w..KEYS).step_by(4) {
                let key = format!("key-{i}");
                assert_eq!(client.send(Method::GET, &url, &[("x-key", &key)], "").await.status, 200);
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let peak = gw.proc.memory_kb("VmHWM");
    let text = metrics(&gw).await;
    let held: u64 = text
        .lines()
        .find(|l| l.starts_with("portcullis_throttle_keys{route=\"GET /k\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the keys gauge");
    eprintln!("{KEYS} distinct keys: {held} held, RSS {before} kB before, peak {peak} kB");
    assert!(held <= 5000, "at most `max_keys` keys are kept: {held}");
    assert!(peak < before + 32 * 1024, "peak RSS {peak} kB from {before} kB");
}

/// A handler that returns the parts of its event a stage changes.
const STAGE_ECHO: &str = "export const handler = async (event) => ({ statusCode: 200, body: JSON.stringify({ rawPath: event.rawPath, path: event.requestContext.http.path, stage: event.requestContext.stage, routeKey: event.routeKey, stageVariables: event.stageVariables ?? null }) });\n";

#[tokio::test]
async fn a_named_stage_serves_under_its_prefix_with_its_variables() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(
        &format!(
            "stage: dev\nstage_variables: {{backend: \"{up}\", region_label: eu}}\n\
             functions:\n  echo: {{runtime: nodejs, handler: echo.handler}}\n\
             routes:\n  GET /fn/{{id}}: {{function: echo}}\n  ANY /svc/{{proxy+}}:\n    http: ${{stageVariables.backend}}/base/{{proxy}}\n    parameter_mapping:\n      overwrite:header.x-region: $stageVariables.region_label\n      overwrite:header.x-path: $request.path\n  $default: {{http: \"${{stageVariables.backend}}\"}}\n",
            up = up.url()
        ),
        &[("echo.mjs", STAGE_ECHO)],
        &[],
    );
    let client = TestClient::http1();
    let reply = client.get(&gw.url("/dev/fn/42")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let event = reply.json();
    assert_eq!(event["rawPath"], "/dev/fn/42", "rawPath keeps the stage");
    assert_eq!(event["path"], "/dev/fn/42");
    assert_eq!(event["stage"], "dev");
    assert_eq!(event["routeKey"], "GET /fn/{id}", "the route key never has it");
    assert_eq!(event["stageVariables"]["region_label"], "eu");

    assert_eq!(client.get(&gw.url("/dev/svc/a/b")).await.status, 200);
    let seen = &up.requests()[0];
    assert_eq!(seen.uri.path(), "/base/a/b");
    assert_eq!(seen.headers["x-region"], "eu");
    assert_eq!(seen.headers["x-path"], "/svc/a/b", "$request.path is without the stage");
    // `$default` forwards the whole client path, stage included.
    assert_eq!(client.get(&gw.url("/dev/elsewhere")).await.status, 200);
    assert_eq!(up.requests()[1].uri.path(), "/dev/elsewhere");

    // Outside the stage nothing is served.
    for path in ["/fn/42", "/devx/fn/42", "/prod/fn/42"] {
        let reply = client.get(&gw.url(path)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.text()),
            (404, r#"{"message":"Not Found"}"#.to_owned()),
            "{path}"
        );
    }
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn an_undefined_stage_variable_is_a_load_error_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::write(
        dir.path(),
        "portcullis.yaml",
        "stage: dev\nstage_variables: {backend: \"http://127.0.0.1:1\"}\nroutes:\n  GET /x:\n    http: \"${stageVariables.backnd}/x\"\n",
    );
    let (code, text) = crate::harness::cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("portcullis.yaml:5:"), "{text}");
    assert!(text.contains("backnd"), "{text}");
}

const STATUS_FN: &str = "export const handler = async (event) => ({ statusCode: Number(event.queryStringParameters?.status ?? 200), headers: { 'x-fn': 'yes', server: 'node' }, body: JSON.stringify({ user: { id: 'u-7' } }) });\n";

#[tokio::test]
async fn response_parameters_remap_integration_answers_but_never_the_gateways() {
    let up = RecordingUpstream::start(Behavior::Fixed(
        500,
        vec![("server", "nginx"), ("content-type", "text/plain")],
        "boom",
    ))
    .await;
    let gw = Gw::start_with(
        &format!(
            "stage_variables: {{region_label: eu}}\n{authz}\
             routes:\n  GET /up:\n    http: {up}/up\n    response_parameters:\n      \"500\": {{overwrite:statuscode: \"502\", append:header.x-failed: \"true\", remove:header.server: \"\"}}\n\
             \x20 GET /fn:\n    function: status\n    authorizer: keys\n    response_parameters:\n      \"200\": {{overwrite:header.x-user: $response.body.user.id, overwrite:header.x-region: $stageVariables.region_label, append:header.x-seen: $response.header.x-fn}}\n      \"401\": {{overwrite:statuscode: \"200\"}}\n      \"403\": {{overwrite:statuscode: \"200\"}}\n",
            authz = counting_authorizer().replace(
                "functions:\n",
                "functions:\n  status: {runtime: nodejs, handler: status.handler}\n"
            ),
            up = up.url()
        ),
        &[("status.mjs", STATUS_FN), ("authz.mjs", COUNTING_AUTHZ)],
        &[],
    );
    let client = TestClient::http1();
    let failed = client.get(&gw.url("/up")).await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.header("x-failed"), Some("true"));
    assert!(failed.header("server").is_none());
    assert_eq!(failed.text(), "boom");

    let key = [("x-api-key", "good")];
    let ok = client.send(Method::GET, &gw.url("/fn"), &key, "").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("x-user"), Some("u-7"));
    assert_eq!(ok.header("x-region"), Some("eu"));
    assert_eq!(ok.header("x-seen"), Some("yes"));
    // The function's own 401 is its answer, and is remapped...
    let own = client.send(Method::GET, &gw.url("/fn?status=401"), &key, "").await;
    assert_eq!(own.status, 200);
    // ...the gateway's 401 and 403 are not.
    assert_eq!(client.get(&gw.url("/fn")).await.status, 401);
    assert_eq!(client.send(Method::GET, &gw.url("/fn"), &[("x-api-key", "bad")], "").await.status, 403);
}

fn access_log_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_template_access_log_prints_aws_variables() {
    let gw = Gw::start(
        "stage: dev\nauthorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\n\
         access_log:\n  output: access.log\n  format: '{\"id\":\"$context.requestId\",\"ip\":\"$context.identity.sourceIp\",\"route\":\"$context.routeKey\",\"status\":\"$context.status\",\"latency\":\"$context.responseLatency\",\"authError\":\"$context.authorizer.error\",\"sub\":\"$context.authorizer.claims.sub\",\"stage\":\"$context.stage\",\"integration\":\"$context.integrationStatus\",\"type\":\"$context.error.responseType\",\"host\":\"$context.domainName\"}'\n\
         routes:\n  GET /p: {authorizer: dev, respond: {status: 201, body: ok}}\n",
    );
    let client = TestClient::http1();
    let alice = format!("Bearer {}", mint(gw.dir.path(), &["--sub", "alice", "--aud", "api"]));
    let ok = client.send(Method::GET, &gw.url("/dev/p"), &[("authorization", &alice)], "").await;
    assert_eq!(ok.status, 201);
    assert_eq!(client.get(&gw.url("/dev/p")).await.status, 401);
    let path = gw.dir.path().join("access.log");
    assert!(wait_until(Duration::from_secs(5), || access_log_lines(&path).len() == 2).await);
    let lines: Vec<Value> =
        access_log_lines(&path).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["id"], ok.header("apigw-requestid").unwrap());
    assert_eq!(lines[0]["ip"], "127.0.0.1");
    assert_eq!(lines[0]["route"], "GET /p");
    assert_eq!(lines[0]["status"], "201");
    assert!(lines[0]["latency"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(lines[0]["authError"], "-");
    assert_eq!(lines[0]["sub"], "alice");
    assert_eq!(lines[0]["stage"], "dev");
    assert_eq!(lines[0]["integration"], "201");
    assert_eq!(lines[0]["type"], "-");
    assert_eq!(lines[0]["host"], "127.0.0.1", "the host without its port, as in events");
    assert_eq!(lines[1]["status"], "401");
    assert_eq!(lines[1]["authError"], "token_missing");
    assert_eq!(lines[1]["type"], "UNAUTHORIZED");
    assert_eq!(lines[1]["sub"], "-");
    assert!(gw.proc.stdout_lines().is_empty(), "the file, not stdout, has the lines");
}

#[tokio::test]
async fn clf_lines_follow_awss_format() {
    let gw = Gw::start("access_log: {format: clf}\nroutes:\n  GET /p: {respond: {body: hello}}\n");
    let reply = TestClient::http1().get(&gw.url("/p")).await;
    assert!(wait_until(Duration::from_secs(5), || !gw.proc.stdout_lines().is_empty()).await);
    let line = gw.proc.stdout_lines()[0].clone();
    let id = reply.header("apigw-requestid").unwrap();
    let pattern = regex::Regex::new(r#"^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET GET /p HTTP/1\.1" 200 5 (\S+)$"#).unwrap();
    let captured = pattern.captures(&line).unwrap_or_else(|| panic!("not CLF: {line}"));
    assert_eq!(&captured[1], id);
}

#[tokio::test]
async fn the_access_log_file_is_reopened_on_sigusr1_without_losing_or_tearing_a_line() {
    let gw = Gw::start_with(
        "access_log: {output: access.log}\nroutes:\n  GET /p: {respond: {body: hello}}\n",
        &[],
        &[],
    );
    let path = gw.dir.path().join("access.log");
    let rotated = gw.dir.path().join("access.log.1");
    let rotated_again = gw.dir.path().join("access.log.2");
    let client = TestClient::http1();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (client, url, sent, stop) = (client.clone(), gw.url("/p"), sent.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                assert_eq!(client.get(&url).await.status, 200);
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    // Rotate twice under load, as logrotate does: rename, then signal.
    for target in [&rotated, &rotated_again] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        std::fs::rename(&path, target).unwrap();
        gw.proc.signal("USR1");
        assert!(wait_until(Duration::from_secs(5), || path.exists()).await, "the file was reopened");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed) as usize;
    let count = || [&rotated, &rotated_again, &path].iter().map(|p| access_log_lines(p).len()).sum::<usize>();
    assert!(
        wait_until(Duration::from_secs(5), || count() == sent).await,
        "{} lines for {sent} requests",
        count()
    );
    for file in [&rotated, &rotated_again, &path] {
        let lines = access_log_lines(file);
        assert!(!lines.is_empty(), "{} got lines", file.display());
        for line in lines {
            let parsed: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
            assert_eq!(parsed["status"], 200);
        }
    }
    eprintln!("{sent} requests, {} lines across three files", count());
}

#[tokio::test]
async fn the_api_wide_limit_refuses_across_routes_and_before_the_route_limits() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "throttle: {{rate: 0.01, burst: 3}}\nroutes:\n  GET /a: {{http: {up}/a}}\n  GET /b: {{http: {up}/b, throttle: {{rate: 1000, burst: 1000}}}}\n",
        up = up.url()
    ));
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/a")).await.status, 200);
    assert_eq!(client.get(&gw.url("/b")).await.status, 200);
    assert_eq!(client.get(&gw.url("/a")).await.status, 200);
    // The API's budget is spent: a route with plenty of its own is refused all the same.
    let refused = client.get(&gw.url("/b")).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.text(), r#"{"message":"Too Many Requests"}"#);
    assert!(refused.header("retry-after").is_some());
    assert_eq!(client.get(&gw.url("/a")).await.status, 429);
    assert_eq!(up.count(), 3, "refused requests never reached the backend");
    let text = metrics(&gw).await;
    assert!(text.contains("portcullis_throttled_total{route=\"*\",limit=\"api\"} 2"), "{text}");
    assert!(text.contains("portcullis_throttled_total{route=\"GET /b\",limit=\"route\"} 0"), "{text}");
}

#[tokio::test]
async fn a_limit_keyed_on_a_lambda_authorizers_context_gives_each_principal_a_bucket() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(
        &format!(
            "{authz}routes:\n  GET /k:\n    http: {up}/k\n    authorizer: keys\n    throttle: [{{rate: 0.01, burst: 1, key: $context.authorizer.user}}]\n",
            authz = counting_authorizer(),
            up = up.url()
        ),
        &[("authz.mjs", COUNTING_AUTHZ)],
        &[],
    );
    let client = TestClient::http1();
    let as_user = |user: &'static str| [("x-api-key", "good"), ("x-user", user)];
    let get =
        async |headers: &[(&str, &str)]| client.send(Method::GET, &gw.url("/k"), headers, "").await.status;
    assert_eq!(get(&as_user("ann")).await, 200);
    assert_eq!(get(&as_user("ann")).await, 429, "u-ann's bucket is spent");
    assert_eq!(get(&as_user("ben")).await, 200, "u-ben has his own");
    assert_eq!(get(&as_user("ben")).await, 429);
    assert_eq!(up.count(), 2);
    let text = metrics(&gw).await;
    assert!(
        text.contains("portcullis_throttle_keys{route=\"GET /k\",limit=\"${context.authorizer.user}\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn the_gateways_own_429_500_and_503_are_never_remapped() {
    let slow = RecordingUpstream::start(Behavior::Delay(Duration::from_secs(3))).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gw = Gw::start_with(
        &format!(
            "functions:\n  status: {{runtime: nodejs, handler: status.handler}}\nroutes:\n\
             \x20 GET /fn:\n    function: status\n    throttle: {{rate: 0.01, burst: 1}}\n    response_parameters:\n      \"200\": {{append:header.x-mapped: \"yes\"}}\n      \"429\": {{overwrite:statuscode: \"200\"}}\n\
             \x20 GET /down:\n    http: http://{closed}/down\n    response_parameters:\n      \"500\": {{overwrite:statuscode: \"200\"}}\n\
             \x20 GET /slow:\n    http: {slow}/slow\n    timeout: 1s\n    response_parameters:\n      \"503\": {{overwrite:statuscode: \"200\"}}\n",
            slow = slow.url()
        ),
        &[("status.mjs", STATUS_FN)],
        &[],
    );
    let client = TestClient::http1();
    let mapped = client.get(&gw.url("/fn")).await;
    assert_eq!(
        (mapped.status.as_u16(), mapped.header("x-mapped")),
        (200, Some("yes")),
        "the mapping applies"
    );
    let throttled = client.get(&gw.url("/fn")).await;
    assert_eq!(throttled.status, 429, "the gateway's throttle answer stays");
    assert_eq!(throttled.header("x-mapped"), None);
    let down = client.get(&gw.url("/down")).await;
    assert_eq!(down.status, 500, "{}", down.text());
    assert_eq!(down.text(), r#"{"message":"Internal Server Error"}"#);
    let timed_out = client.get(&gw.url("/slow")).await;
    assert_eq!(timed_out.status, 503, "{}", timed_out.text());
    assert_eq!(timed_out.text(), r#"{"message":"Service Unavailable"}"#);
}

#[tokio::test]
async fn a_template_access_log_prints_the_authorizers_context_and_the_integrations_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gw = Gw::start_with(
        &format!(
            "{authz}access_log:\n  output: access.log\n  format: '{{\"user\":\"$context.authorizer.user\",\"ierr\":\"$context.integrationErrorMessage\",\"ierr2\":\"$context.integration.error\",\"status\":\"$context.status\"}}'\n\
             routes:\n  GET /ok: {{authorizer: keys, respond: {{body: ok}}}}\n  GET /down: {{authorizer: keys, http: http://{closed}/down}}\n",
            authz = counting_authorizer()
        ),
        &[("authz.mjs", COUNTING_AUTHZ)],
        &[],
    );
    let client = TestClient::http1();
    let headers = [("x-api-key", "good"), ("x-user", "ann")];
    assert_eq!(client.send(Method::GET, &gw.url("/ok"), &headers, "").await.status, 200);
    assert_eq!(client.send(Method::GET, &gw.url("/down"), &headers, "").await.status, 500);
    let path = gw.dir.path().join("access.log");
    assert!(wait_until(Duration::from_secs(5), || access_log_lines(&path).len() == 2).await);
    let lines: Vec<Value> =
        access_log_lines(&path).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["user"], "u-ann");
    assert_eq!(lines[0]["ierr"], "-", "no error, no message");
    assert_eq!(lines[1]["user"], "u-ann");
    assert_eq!(lines[1]["status"], "500");
    let message = lines[1]["ierr"].as_str().unwrap();
    assert!(message.starts_with("could not connect to the upstream"), "{message}");
    assert_eq!(lines[1]["ierr2"], lines[1]["ierr"]);
}

#[tokio::test]
async fn a_routes_own_cors_policy_replaces_the_top_level_one_and_wildcards_echo_the_request() {
    const PARTNER: &str = "https://partner.example.com";
    let gw = Gw::start(&format!(
        "cors:\n  allow_origins: [{APP}]\n  allow_methods: [GET]\n  allow_headers: [authorization]\n\
         routes:\n  GET /main: {{respond: {{body: main}}}}\n\
         \x20 GET /partner:\n    respond: {{body: partner}}\n    cors: {{allow_origins: [\"{PARTNER}\"], allow_methods: [\"*\"], allow_headers: [\"*\"], max_age: 60}}\n"
    ));
    let client = TestClient::http1();
    let preflight = async |path: &str, origin: &str| {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-one,x-two"),
        ];
        let reply = client.send(Method::OPTIONS, &gw.url(path), &headers, "").await;
        assert_eq!(reply.status, 204, "{path} from {origin}");
        reply
    };
    // The route's policy: its origin, and `*` echoes what the preflight asked for.
    let partner = preflight("/partner", PARTNER).await;
    assert_eq!(partner.header("access-control-allow-origin"), Some(PARTNER));
    assert_eq!(partner.header("access-control-allow-methods"), Some("GET"));
    assert_eq!(partner.header("access-control-allow-headers"), Some("x-one,x-two"));
    assert_eq!(partner.header("access-control-max-age"), Some("60"));
    // The top-level origin is not the route's.
    assert_eq!(preflight("/partner", APP).await.header("access-control-allow-origin"), None);
    // Other routes keep the top-level policy, whose headers are a fixed list.
    let main = preflight("/main", APP).await;
    assert_eq!(main.header("access-control-allow-origin"), Some(APP));
    assert_eq!(main.header("access-control-allow-headers"), Some("authorization"));
    assert_eq!(main.header("access-control-max-age"), None);
    assert_eq!(preflight("/main", PARTNER).await.header("access-control-allow-origin"), None);

    // Actual requests follow the same policies.
    let get = async |path: &str, origin: &str| {
        client.send(Method::GET, &gw.url(path), &[("origin", origin)], "").await
    };
    let reply = get("/partner", PARTNER).await;
    assert_eq!(reply.text(), "partner");
    assert_eq!(reply.header("access-control-allow-origin"), Some(PARTNER));
    assert!(reply.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
    assert_eq!(get("/partner", APP).await.header("access-control-allow-origin"), None);
    assert_eq!(get("/main", APP).await.header("access-control-allow-origin"), Some(APP));
    assert_eq!(get("/main", PARTNER).await.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_reload_keeps_the_answers_and_buckets_of_what_it_did_not_change() {
    let config = |ttl: &str, extra_route: &str| {
        counting_authorizer().replace("result_ttl: 0s", &format!("result_ttl: {ttl}"))
            + "routes:\n  GET /k: {authorizer: keys, respond: {body: k}, throttle: {rate: 0.01, burst: 3}}\n"
            + extra_route
    };
    let gw = Gw::start_with(&config("300s", ""), &[("authz.mjs", COUNTING_AUTHZ)], &[]);
    let client = TestClient::http1();
    let key = [("x-api-key", "good")];
    let get = async || client.send(Method::GET, &gw.url("/k"), &key, "").await.status;
    let reload = async |yaml: String| {
        crate::harness::write(gw.dir.path(), "portcullis.yaml", &yaml);
        gw.reload().await;
    };
    assert_eq!(get().await, 200);
    assert_eq!(authorizer_calls(&gw).len(), 1);

    // A reload that adds a route keeps the authorizer's answers and the route's bucket.
    reload(config("300s", "  GET /new: {respond: {body: new}}\n")).await;
    assert_eq!(client.get(&gw.url("/new")).await.status, 200, "the reload applied");
    assert_eq!(get().await, 200);
    assert_eq!(authorizer_calls(&gw).len(), 1, "the cached answer survived the reload");
    assert_eq!(get().await, 200);
    assert_eq!(get().await, 429, "the bucket kept the two requests before the reload");

    // Changing the authorizer's settings starts its cache afresh; the unchanged limit stays spent.
    reload(config("301s", "  GET /new: {respond: {body: new}}\n")).await;
    assert_eq!(get().await, 429);
    assert_eq!(authorizer_calls(&gw).len(), 1, "throttled before the authorizer");
    reload(
        config("301s", "").replace("throttle: {rate: 0.01, burst: 3}", "throttle: {rate: 0.01, burst: 4}"),
    )
    .await;
    assert_eq!(get().await, 200, "a changed limit is a new, full bucket");
    assert_eq!(authorizer_calls(&gw).len(), 2, "a changed authorizer asks again");
}

#[tokio::test]
async fn a_throttled_request_never_reaches_the_identity_provider_path() {
    // An issuer nobody answers for: every request the authorizer sees fails closed (401,
    // `keys_unavailable`); a throttled one is refused before it, with 429.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gw = Gw::start(&format!(
        "debug_headers: true\nauthorizers:\n  idp: {{type: jwt, issuer: \"http://{closed}/idp\", audience: [api]}}\n\
         routes:\n  GET /p: {{authorizer: idp, respond: {{body: in}}, throttle: {{rate: 0.01, burst: 1}}}}\n"
    ));
    let client = TestClient::http1();
    let token = [("authorization", "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhIn0.c2ln")];
    let first = client.send(Method::GET, &gw.url("/p"), &token, "").await;
    assert_eq!(first.status, 401);
    assert_eq!(first.header("x-portcullis-deny-reason"), Some("keys_unavailable"));
    let second = client.send(Method::GET, &gw.url("/p"), &token, "").await;
    assert_eq!(second.status, 429, "{}", second.text());
    assert_eq!(second.header("x-portcullis-deny-reason"), None, "no authorizer decided");
}

/// A REQUEST authorizer that writes the identity it was given to `identity.log` and allows.
const IDENTITY_AUTHZ: &str = "import { appendFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  appendFileSync('identity.log', JSON.stringify(event.identitySource) + '\\n');\n\
  return { isAuthorized: true, context: { tier: event.stageVariables?.tier ?? '-' } };\n\
};\n";

#[tokio::test]
async fn a_stage_variable_is_part_of_a_lambda_authorizers_identity() {
    let gw = Gw::start_with(
        "stage_variables: {tier: gold}\nfunctions:\n  authz: {runtime: nodejs, handler: authz.handler}\n\
         authorizers:\n  keys: {type: lambda, function: authz, event: request, payload_format_version: \"2.0\", simple_responses: true, identity_source: [$request.header.x-api-key, $stageVariables.tier], result_ttl: 0s}\n\
         routes:\n  GET /k: {authorizer: keys, respond: {body: in}}\n",
        &[("authz.mjs", IDENTITY_AUTHZ)],
        &[],
    );
    let reply = TestClient::http1().send(Method::GET, &gw.url("/k"), &[("x-api-key", "k-1")], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = std::fs::read_to_string(gw.dir.path().join("identity.log")).unwrap();
    assert_eq!(seen.trim(), r#"["k-1","gold"]"#);
}

/// A REQUEST authorizer answering with an IAM policy for any route of the API, as `p-<key>`.
const PRINCIPAL_AUTHZ: &str = "export const handler = async (event) => ({\n\
  principalId: 'p-' + event.headers['x-api-key'],\n\
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: event.headers['x-api-key'] === 'good' ? 'Allow' : 'Deny', Resource: '*' }] },\n\
});\n";

#[tokio::test]
async fn a_template_access_log_prints_the_apis_identity_the_principal_and_the_gateways_error() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_with(
        &format!(
            "stage: dev\napi_id: abc123\naccount_id: \"111122223333\"\n\
             functions:\n  authz: {{runtime: nodejs, handler: authz.handler}}\n\
             authorizers:\n  keys: {{type: lambda, function: authz, event: request, payload_format_version: \"2.0\", identity_source: [$request.header.x-api-key], result_ttl: 0s}}\n\
             access_log:\n  output: access.log\n  format: '{{\"api\":\"$context.apiId\",\"account\":\"$context.accountId\",\"id\":\"$context.requestId\",\"xid\":\"$context.extendedRequestId\",\"epoch\":\"$context.requestTimeEpoch\",\"prefix\":\"$context.domainPrefix\",\"path\":\"$context.path\",\"principal\":\"$context.authorizer.principalId\",\"message\":\"$context.error.message\",\"quoted\":\"$context.error.messageString\",\"ilat\":\"$context.integrationLatency\",\"len\":\"$context.responseLength\",\"data\":\"$context.dataProcessed\"}}'\n\
             routes:\n  POST /p: {{authorizer: keys, http: {up}/p}}\n",
            up = up.url()
        ),
        &[("authz.mjs", PRINCIPAL_AUTHZ)],
        &[],
    );
    let client = TestClient::http1();
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let host = [("x-api-key", "good"), ("host", "api.example.com")];
    let ok = client.send(Method::POST, &gw.url("/dev/p"), &host, "hello").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let denied = client.send(Method::POST, &gw.url("/dev/p"), &[("x-api-key", "bad")], "hello").await;
    assert_eq!(denied.status, 403);
    let after =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let path = gw.dir.path().join("access.log");
    assert!(wait_until(Duration::from_secs(5), || access_log_lines(&path).len() == 2).await);
    let lines: Vec<Value> =
        access_log_lines(&path).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (first, second) = (&lines[0], &lines[1]);
    assert_eq!((first["api"].as_str(), first["account"].as_str()), (Some("abc123"), Some("111122223333")));
    assert_eq!(first["id"], ok.header("apigw-requestid").unwrap());
    assert_eq!(first["xid"], first["id"], "one id for both, as there is one gateway");
    let epoch: u64 = first["epoch"].as_str().unwrap().parse().unwrap();
    assert!((before..=after).contains(&epoch), "{epoch} in {before}..{after}");
    assert_eq!(first["prefix"], "api");
    assert_eq!(first["path"], "/dev/p", "the path as sent, stage included");
    assert_eq!(first["principal"], "p-good");
    assert_eq!((first["message"].as_str(), first["quoted"].as_str()), (Some("-"), Some("-")));
    assert!(first["ilat"].as_str().unwrap().parse::<u64>().is_ok(), "{}", first["ilat"]);
    assert_eq!(second["principal"], "-", "a denied request established no principal");
    assert_eq!(second["message"], "Forbidden");
    assert_eq!(
        second["quoted"], "\"Forbidden\"",
        "the message in quotes (escaped in the line, so it stays JSON)"
    );
    assert_eq!(second["ilat"], "-", "the integration never ran");
    // Bytes of request body received plus response body sent.
    let number = |line: &Value, key: &str| line[key].as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(number(first, "data"), 5 + number(first, "len"), "{first}");
    assert_eq!(
        number(second, "data"),
        number(second, "len"),
        "a denied request's body is never read: {second}"
    );
    assert!(number(second, "len") > 0);
}

//! Many replicas, one gateway: three `portcullis serve` processes share throttle buckets,
//! Lambda-authorizer answers and revocations through a real `redis-server`, and keep serving
//! when it goes away.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::Method;

use crate::harness::{SpawnedGateway, TestClient, exe, mint, write};
use portcullis_test_support::RedisServer;

/// Three replicas of the config in `dir` (the same file, the same state_dir: one development
/// issuer), each on its own ports.
fn replicas(dir: &Path, n: usize) -> Vec<SpawnedGateway> {
    (0..n)
        .map(|_| {
            SpawnedGateway::spawn(
                exe(),
                &[
                    "serve",
                    "--config",
                    "portcullis.yaml",
                    "--listen",
                    "127.0.0.1:0",
                    "--admin",
                    "127.0.0.1:0",
                ],
                dir,
            )
        })
        .collect()
}

/// Requests admitted (200) by a bounded load spread over `gateways` for `window`: one client
/// (one connection) per worker, two workers per replica.
async fn admitted_over(gateways: &[SpawnedGateway], path: &str, window: Duration) -> (u64, f64) {
    let admitted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for gateway in gateways.iter().chain(gateways) {
        let url = format!("{}{path}", gateway.url());
        let admitted = Arc::clone(&admitted);
        let client = TestClient::http1();
        workers.push(tokio::spawn(async move {
            while started.elapsed() < window {
                match client.get(&url).await.status.as_u16() {
                    200 => {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    429 => {}
                    other => panic!("unexpected status {other}"),
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    (admitted.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
}

#[tokio::test]
async fn a_shared_limit_is_one_bucket_for_three_replicas_and_a_local_one_three() {
    let Some(redis) = RedisServer::start() else { return };
    const RATE: f64 = 40.0;
    const BURST: f64 = 10.0;
    let dir = tempfile::tempdir().unwrap();
    for (scope, replicas_of_the_rate) in [("shared", 1.0), ("local", 3.0)] {
        write(
            dir.path(),
            "portcullis.yaml",
            &format!(
                "shared_state: {{redis: \"{}\", key_prefix: \"t-{scope}:\"}}\nroutes:\n  GET /r: {{respond: {{body: ok}}, throttle: {{rate: 40, burst: 10, scope: {scope}}}}}\n",
                redis.url()
            ),
        );
        let gateways = replicas(dir.path(), 3);
        let (admitted, elapsed) = admitted_over(&gateways, "/r", Duration::from_secs(5)).await;
        let expected = replicas_of_the_rate * (BURST + RATE * elapsed);
        let ratio = admitted as f64 / expected;
        eprintln!(
            "scope {scope}: admitted {admitted} in {elapsed:.2} s over 3 replicas: {ratio:.3} of {expected:.0}"
        );
        assert!((0.95..=1.05).contains(&ratio), "scope {scope}: admitted {admitted}, expected {expected:.0}");
    }
}

/// A request authorizer counting its invocations in one file for every replica.
const AUTHZ: &str = "import { appendFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  appendFileSync(process.env.CALLS, event.identitySource[0] + '\\n');\n\
  return { isAuthorized: event.identitySource[0] === 'good', context: { who: 'w-' + event.identitySource[0] } };\n\
};\n";

#[tokio::test]
async fn a_shared_answer_is_invoked_once_for_three_replicas() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.log");
    write(dir.path(), "authz.mjs", AUTHZ);
    write(
        dir.path(),
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: \"{}\"}}\nfunctions:\n  authz: {{runtime: nodejs, handler: authz.handler, environment: {{CALLS: \"{}\"}}}}\n\
             authorizers:\n  keys: {{type: lambda, function: authz, event: request, payload_format_version: \"2.0\", simple_responses: true, identity_source: [$request.header.x-key], result_ttl: 60s, cache: shared}}\n\
             routes:\n  GET /a: {{authorizer: keys, respond: {{body: in}}}}\n",
            redis.url(),
            calls.display()
        ),
    );
    let gateways = replicas(dir.path(), 3);
    let client = TestClient::http1();
    for gateway in &gateways {
        for _ in 0..2 {
            let reply =
                client.send(Method::GET, &format!("{}/a", gateway.url()), &[("x-key", "good")], "").await;
            assert_eq!(reply.status, 200);
        }
    }
    let bad = client.send(Method::GET, &format!("{}/a", gateways[1].url()), &[("x-key", "bad")], "").await;
    assert_eq!(bad.status, 403);
    let again = client.send(Method::GET, &format!("{}/a", gateways[2].url()), &[("x-key", "bad")], "").await;
    assert_eq!(again.status, 403, "a denial is an answer too, shared");
    let invocations = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        invocations.lines().collect::<Vec<_>>(),
        ["good", "bad"],
        "one invocation per identity for all replicas"
    );
}

fn revocation_config(redis: Option<&RedisServer>) -> String {
    let shared = redis.map(|r| format!("shared_state: {{redis: \"{}\"}}\n", r.url())).unwrap_or_default();
    format!(
        "{shared}revocation: {{enabled: true, resync: 2s}}\ndebug_headers: true\n\
         authorizers:\n  dev: {{type: jwt, issuer: dev, audience: [api]}}\nroutes:\n  GET /p: {{authorizer: dev, respond: {{body: in}}}}\n"
    )
}

/// Asks with `token` until it is refused (401) or `limit` has passed since `since`; the last
/// answer's status and reason.
async fn until_refused(
    client: &TestClient,
    gateway: &SpawnedGateway,
    token: &str,
    since: Instant,
    limit: Duration,
) -> (u16, Option<String>) {
    loop {
        let seen = status_and_reason(client, gateway, token).await;
        if seen.0 == 401 || since.elapsed() >= limit {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_and_reason(
    client: &TestClient,
    gateway: &SpawnedGateway,
    token: &str,
) -> (u16, Option<String>) {
    let reply = client
        .send(
            Method::GET,
            &format!("{}/p", gateway.url()),
            &[("authorization", &format!("Bearer {token}"))],
            "",
        )
        .await;
    (reply.status.as_u16(), reply.header("x-portcullis-deny-reason").map(str::to_owned))
}

/// `portcullis revoke` against `gateway`'s admin listener; what it printed.
fn revoke(dir: &Path, gateway: &SpawnedGateway, args: &[&str]) -> String {
    let admin = gateway.admin.to_string();
    let out = std::process::Command::new(exe())
        .args(["revoke", "--admin", &admin])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_revocation_made_while_redis_is_down_reaches_every_replica_when_it_returns() {
    let Some(mut redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &revocation_config(Some(&redis)));
    let gateways = replicas(dir.path(), 2);
    let client = TestClient::http1();
    let token = mint(dir.path(), &["--sub", "carol", "--aud", "api", "--claim", "jti=\"t-down\""]);
    for gateway in &gateways {
        assert_eq!(status_and_reason(&client, gateway, &token).await.0, 200);
    }
    redis.stop();
    let answer = revoke(dir.path(), &gateways[0], &["--jti", "t-down"]);
    assert!(answer.contains("\"queued\""), "the answer says it is not shared yet: {answer}");
    assert_eq!(status_and_reason(&client, &gateways[0], &token).await, (401, Some("revoked".to_owned())));
    assert_eq!(status_and_reason(&client, &gateways[1], &token).await.0, 200, "no way to know yet");
    redis.restart();
    let back = Instant::now();
    let mut seen = (0, None);
    while back.elapsed() < Duration::from_secs(10) {
        seen = status_and_reason(&client, &gateways[1], &token).await;
        if seen.0 == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, (401, Some("revoked".to_owned())), "published once Redis answered");
    eprintln!("the queued revocation reached the other replica {:?} after Redis restarted", back.elapsed());
    // The full reads after Redis came back keep it on the replica that made it, too.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for gateway in &gateways {
        assert_eq!(status_and_reason(&client, gateway, &token).await.0, 401);
    }
    let listed = client.get(&format!("http://{}/revocations", gateways[1].admin)).await.json();
    assert_eq!(listed[0]["jti"], "t-down");
}

#[tokio::test]
async fn the_admin_listener_takes_revocations_only_as_json_and_never_from_a_page() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &revocation_config(None));
    let gateway = &replicas(dir.path(), 1)[0];
    let client = TestClient::http1();
    let url = format!("http://{}/revocations", gateway.admin);
    let json = ("content-type", "application/json");
    let body = r#"{"jti":"x"}"#;
    let from_page = client.send(Method::POST, &url, &[json, ("origin", "http://evil.example")], body).await;
    assert_eq!(from_page.status, 403, "{}", from_page.text());
    let form = client.send(Method::POST, &url, &[("content-type", "text/plain")], body).await;
    assert_eq!(form.status, 415, "a simple (CORS-less) content type is refused");
    for bad in [r#"{"jti":"x","sub":"y"}"#, r#"{}"#, r#"{"jti":""}"#, r#"{"jti":"x","until":1}"#, "[1]"] {
        assert_eq!(client.send(Method::POST, &url, &[json], bad).await.status, 400, "{bad}");
    }
    let huge = format!(r#"{{"jti":"{}"}}"#, "a".repeat(5000));
    assert_eq!(client.send(Method::POST, &url, &[json], huge).await.status, 413);
    assert_eq!(client.get(&url).await.json(), serde_json::json!([]), "nothing refused was kept");
    assert_eq!(client.send(Method::POST, &url, &[json], body).await.status, 201);
    assert_eq!(client.get(&url).await.json()[0]["jti"], "x");
}

#[tokio::test]
async fn a_revoked_token_is_refused_by_every_replica_within_a_second() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &revocation_config(Some(&redis)));
    let gateways = replicas(dir.path(), 3);
    let client = TestClient::http1();
    let token = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "jti=\"t-1\""]);
    let other = mint(dir.path(), &["--sub", "bob", "--aud", "api", "--claim", "jti=\"t-2\""]);
    // Verified once on each replica: the verified-token cache holds it.
    for gateway in &gateways {
        assert_eq!(status_and_reason(&client, gateway, &token).await.0, 200);
    }
    revoke(dir.path(), &gateways[0], &["--jti", "t-1"]);
    let revoked_at = Instant::now();
    for gateway in &gateways {
        let seen = until_refused(&client, gateway, &token, revoked_at, Duration::from_secs(1)).await;
        assert_eq!(seen, (401, Some("revoked".to_owned())), "within 1 s of the revocation");
        assert_eq!(status_and_reason(&client, gateway, &other).await.0, 200, "other tokens are not touched");
    }
    // A subject: its tokens issued until now; a sign-in afterwards gets through.
    revoke(dir.path(), &gateways[1], &["--sub", "bob", "--until", "1h"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for gateway in &gateways {
        assert_eq!(status_and_reason(&client, gateway, &other).await.0, 401);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = mint(dir.path(), &["--sub", "bob", "--aud", "api"]);
    assert_eq!(status_and_reason(&client, &gateways[2], &fresh).await.0, 200);
    // A replica started afterwards knows every revocation at once.
    let late = &replicas(dir.path(), 1)[0];
    assert_eq!(status_and_reason(&client, late, &token).await, (401, Some("revoked".to_owned())));
}

#[tokio::test]
async fn without_shared_state_a_revocation_persists_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &revocation_config(None));
    let token = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "jti=\"t-9\""]);
    let client = TestClient::http1();
    {
        let gateway = &replicas(dir.path(), 1)[0];
        assert_eq!(status_and_reason(&client, gateway, &token).await.0, 200);
        revoke(dir.path(), gateway, &["--jti", "t-9"]);
        assert_eq!(status_and_reason(&client, gateway, &token).await, (401, Some("revoked".to_owned())));
    }
    let restarted = &replicas(dir.path(), 1)[0];
    assert_eq!(status_and_reason(&client, restarted, &token).await, (401, Some("revoked".to_owned())));
    let listed = client.get(&format!("http://{}/revocations", restarted.admin)).await.json();
    assert_eq!(listed[0]["jti"], "t-9");
}

/// `/readyz` and `/metrics` of `gateway` say Redis is unavailable, and its log said so once
/// (not once per request). Returns the metrics.
async fn says_redis_is_unavailable(client: &TestClient, gateway: &SpawnedGateway) -> String {
    let ready = client.get(&format!("http://{}/readyz", gateway.admin)).await.json();
    assert_eq!(ready["shared_state"], "unavailable");
    let metrics = client.get(&format!("http://{}/metrics", gateway.admin)).await.text();
    assert!(metrics.contains("portcullis_shared_state_available 0"), "{metrics}");
    let warnings = gateway.stderr_lines().iter().filter(|l| l.contains("Redis unavailable")).count();
    assert_eq!(warnings, 1, "one warning, not one per request");
    metrics
}

/// Whether, within 10 s, `url` answers 200 and `/readyz` says shared state is available again.
async fn comes_back(client: &TestClient, gateway: &SpawnedGateway, url: &str) -> bool {
    for _ in 0..100 {
        if client.get(url).await.status == 200
            && client.get(&format!("http://{}/readyz", gateway.admin)).await.json()["shared_state"]
                == "available"
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// One replica sharing state through `redis` (a 50 ms timeout, `on_unavailable: mode`),
/// serving `routes` (the lines under `routes:`).
fn one_replica(dir: &Path, redis: &RedisServer, mode: &str, routes: &str) -> SpawnedGateway {
    write(
        dir,
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: \"{}\", timeout: 50ms, on_unavailable: {mode}}}\nroutes:\n{routes}",
            redis.url()
        ),
    );
    replicas(dir, 1).remove(0)
}

#[tokio::test]
async fn redis_going_away_and_coming_back_never_stops_the_gateway() {
    let Some(mut redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let client = TestClient::http1();
    for mode in ["local", "deny"] {
        let gateway = &one_replica(
            dir.path(),
            &redis,
            mode,
            "  GET /r: {respond: {body: ok}, throttle: {rate: 10000, burst: 10000}}\n  GET /free: {respond: {body: free}}\n",
        );
        let url = format!("{}/r", gateway.url());
        let readyz = || async { client.get(&format!("http://{}/readyz", gateway.admin)).await.json() };
        assert_eq!(client.get(&url).await.status, 200);
        assert_eq!(readyz().await["shared_state"], "available");
        redis.stop();
        let mut statuses = std::collections::BTreeMap::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            *statuses.entry(client.get(&url).await.status.as_u16()).or_insert(0) += 1;
        }
        assert_eq!(
            client.get(&format!("{}/free", gateway.url())).await.status,
            200,
            "unthrottled routes never need Redis"
        );
        let expected = if mode == "local" { 200 } else { 503 };
        assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), [expected], "{mode}: {statuses:?}");
        let metrics = says_redis_is_unavailable(&client, gateway).await;
        assert!(!metrics.contains("portcullis_shared_state_fallbacks_total 0\n"), "{metrics}");
        if mode == "deny" {
            let refused = client.get(&url).await;
            assert_eq!(refused.header("retry-after"), Some("1"));
            assert_eq!(refused.text(), r#"{"message":"Service Unavailable"}"#);
            assert!(
                metrics.contains(r#"portcullis_gateway_errors_total{kind="throttle_unavailable"}"#),
                "a store outage is not an integration timeout: {metrics}"
            );
            assert!(!metrics.contains(r#"kind="integration_timeout""#), "{metrics}");
        }
        redis.restart();
        assert!(comes_back(&client, gateway, &url).await, "{mode}: shared state resumed without a restart");
        eprintln!("{mode}: {statuses:?} while Redis was down");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The example in `examples/replicas/` as its README runs it, on free ports: Redis, three
/// replicas and HAProxy in front.
#[tokio::test]
async fn the_replicas_example_runs_behind_haproxy() {
    let Some(redis) = RedisServer::start() else { return };
    if std::process::Command::new("haproxy").arg("-v").output().is_err() {
        assert!(std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_none(), "haproxy is not installed");
        eprintln!("SKIPPED: haproxy not installed");
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/replicas");
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(example.join("portcullis.yaml")).unwrap();
    write(dir.path(), "portcullis.yaml", &config.replace("redis://127.0.0.1:6379/0", &redis.url()));
    let (listen, admin): (Vec<u16>, Vec<u16>) = (0..3).map(|_| (free_port(), free_port())).unzip();
    let balancer = free_port();
    let mut haproxy_cfg = std::fs::read_to_string(example.join("haproxy.cfg")).unwrap();
    haproxy_cfg = haproxy_cfg.replace("127.0.0.1:8080", &format!("127.0.0.1:{balancer}"));
    for i in 0..3 {
        haproxy_cfg = haproxy_cfg
            .replace(&format!("127.0.0.1:808{}", i + 1), &format!("127.0.0.1:{}", listen[i]))
            .replace(&format!("port 990{}", i + 1), &format!("port {}", admin[i]));
    }
    write(dir.path(), "haproxy.cfg", &haproxy_cfg);
    let _replicas: Vec<SpawnedGateway> = (0..3)
        .map(|i| {
            let (l, a) = (format!("127.0.0.1:{}", listen[i]), format!("127.0.0.1:{}", admin[i]));
            SpawnedGateway::spawn(
                exe(),
                &["serve", "--config", "portcullis.yaml", "--listen", &l, "--admin", &a],
                dir.path(),
            )
        })
        .collect();
    let mut haproxy = std::process::Command::new("haproxy")
        .args(["-f", "haproxy.cfg", "-db"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let front = format!("http://127.0.0.1:{balancer}");
    let client = TestClient::http1();
    let mut up = false;
    for _ in 0..100 {
        if client.try_get(&format!("{front}/hello")).await.is_some_and(|r| r.status == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "HAProxy serves the replicas");

    let token = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "jti=\"session-1\""]);
    for _ in 0..3 {
        let reply = client
            .send(Method::GET, &format!("{front}/me"), &[("authorization", &format!("Bearer {token}"))], "")
            .await;
        assert_eq!(reply.status, 200);
    }
    let out = std::process::Command::new(exe())
        .args(["revoke", "--jti", "session-1", "--admin", &format!("127.0.0.1:{}", admin[0])])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for _ in 0..3 {
        let reply = client
            .send(Method::GET, &format!("{front}/me"), &[("authorization", &format!("Bearer {token}"))], "")
            .await;
        assert_eq!(reply.status, 401, "every replica refuses it");
    }
    let _ = haproxy.kill();
    let _ = haproxy.wait();
}

/// A REQUEST authorizer answering with an IAM policy for the route it was asked about only,
/// slowly (so concurrent requests overlap), failing for the identity `boom`, and counting its
/// invocations in one file for every replica.
const POLICY_AUTHZ: &str = "import { appendFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  const key = event.identitySource[0];\n\
  appendFileSync(process.env.CALLS, key + '\\n');\n\
  await new Promise((r) => setTimeout(r, 300));\n\
  if (key === 'boom') throw new Error('the identity provider is down');\n\
  return { principalId: 'p-' + key, policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.routeArn }] }, context: { who: 'w-' + key } };\n\
};\n";

fn invocations(calls: &Path, key: &str) -> usize {
    std::fs::read_to_string(calls).unwrap_or_default().lines().filter(|l| *l == key).count()
}

#[tokio::test]
async fn shared_answers_keep_the_authorizers_rules_on_every_replica() {
    let Some(mut redis) = RedisServer::start() else { return };
    let up = crate::harness::RecordingUpstream::start(crate::harness::Behavior::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.log");
    write(dir.path(), "authz.mjs", POLICY_AUTHZ);
    write(
        dir.path(),
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: \"{}\", timeout: 100ms}}\nfunctions:\n  authz: {{runtime: nodejs, handler: authz.handler, environment: {{CALLS: \"{}\"}}}}\n\
             authorizers:\n  keys: {{type: lambda, function: authz, event: request, payload_format_version: \"2.0\", identity_source: [$request.header.x-key], result_ttl: 60s, cache: shared, forward_context: {{x-who: who}}}}\n\
             routes:\n  GET /a: {{authorizer: keys, http: {up}/a}}\n  GET /b: {{authorizer: keys, http: {up}/b}}\n",
            redis.url(),
            calls.display(),
            up = up.url()
        ),
    );
    let gateways = replicas(dir.path(), 3);
    let client = TestClient::http1();
    let get = |gateway: usize, path: &str, key: &str| {
        let client = client.clone();
        let url = format!("{}{path}", gateways[gateway].url());
        let key = key.to_owned();
        async move { client.send(Method::GET, &url, &[("x-key", &key)], "").await.status.as_u16() }
    };

    // Single flight on one replica: eight requests at once, one invocation.
    let burst: Vec<_> = (0..8).map(|_| tokio::spawn(get(0, "/a", "good"))).collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(invocations(&calls, "good"), 1, "one invocation for eight concurrent requests");
    // Another replica takes the answer from Redis, its context included.
    assert_eq!(get(1, "/a", "good").await, 200);
    assert_eq!(invocations(&calls, "good"), 1);
    let last = up.requests().last().cloned().unwrap();
    assert_eq!(
        last.headers.get("x-who").and_then(|v| v.to_str().ok()),
        Some("w-good"),
        "the context came along"
    );
    // The shared answer is a policy for GET /a: it is checked again for GET /b, and refuses.
    let before = up.count();
    assert_eq!(get(2, "/b", "good").await, 403);
    assert_eq!(invocations(&calls, "good"), 1, "refused from the shared answer, not invoked again");
    assert_eq!(up.count(), before, "the backend never saw /b");

    // A failure is never an answer: each replica asks again, and so does the same one.
    assert_eq!(get(0, "/a", "boom").await, 500);
    assert_eq!(get(1, "/a", "boom").await, 500);
    assert_eq!(get(1, "/a", "boom").await, 500);
    assert_eq!(invocations(&calls, "boom"), 3);
    let answers = redis.cli(&["--scan", "--pattern", "portcullis:authz:*"]);
    assert_eq!(answers.lines().count(), 1, "only good's answer is stored");
    // It expires by itself with the authorizer's `result_ttl` (60 s).
    let ttl: i64 = redis.cli(&["PTTL", answers.trim()]).parse().unwrap();
    assert!((50_000..=60_000).contains(&ttl), "{ttl} ms");

    // Redis gone: each replica falls back to its own cache.
    redis.stop();
    assert_eq!(get(2, "/a", "fresh").await, 200);
    assert_eq!(get(2, "/a", "fresh").await, 200);
    assert_eq!(invocations(&calls, "fresh"), 1, "the replica's own cache answers the second time");
    assert_eq!(get(1, "/a", "fresh").await, 200);
    assert_eq!(invocations(&calls, "fresh"), 2, "another replica cannot see it without Redis");
}

#[tokio::test]
async fn a_redis_slower_than_the_timeout_counts_as_unavailable_and_requests_keep_flowing() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let client = TestClient::http1();
    for mode in ["local", "deny"] {
        // Two shared limits: asked in one round trip, and both fall back together.
        let gateway = &one_replica(
            dir.path(),
            &redis,
            mode,
            "  GET /r: {respond: {body: ok}, throttle: [{rate: 10000, burst: 10000}, {rate: 10000, burst: 10000, key: $context.identity.sourceIp}]}\n",
        );
        let url = format!("{}/r", gateway.url());
        assert_eq!(client.get(&url).await.status, 200);
        // Frozen: connections stay open, nothing answers.
        redis.pause();
        let expected = if mode == "local" { 200 } else { 503 };
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let started = Instant::now();
            assert_eq!(client.get(&url).await.status, expected, "{mode}");
            slowest = slowest.max(started.elapsed());
        }
        assert!(slowest < Duration::from_millis(500), "{mode}: a request waited {slowest:?}");
        says_redis_is_unavailable(&client, gateway).await;
        redis.resume();
        assert!(
            comes_back(&client, gateway, &url).await,
            "{mode}: shared state resumed once Redis answered again"
        );
    }
}

#[tokio::test]
async fn keyed_shared_limits_are_one_bucket_per_key_and_every_key_expires_by_itself() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: \"{}\", key_prefix: \"exp:\"}}\nroutes:\n  GET /k: {{respond: {{body: ok}}, throttle: [{{rate: 1, burst: 1, key: $request.header.x-client}}]}}\n",
            redis.url()
        ),
    );
    let gateways = replicas(dir.path(), 3);
    let client = TestClient::http1();
    let get = async |gateway: usize, who: &str| {
        client
            .send(Method::GET, &format!("{}/k", gateways[gateway].url()), &[("x-client", who)], "")
            .await
            .status
    };
    assert_eq!(get(0, "ann").await, 200);
    assert_eq!(get(1, "ann").await, 429, "ann's one bucket is spent, whichever replica she asks");
    assert_eq!(get(2, "ben").await, 200, "ben has his own");
    assert_eq!(get(0, "ben").await, 429);
    let keys = redis.cli(&["--scan", "--pattern", "exp:rl:*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2, "one key per caller: {keys:?}");
    for key in &keys {
        let ttl: i64 = redis.cli(&["PTTL", key]).parse().unwrap();
        assert!((1..=1001).contains(&ttl), "{key} expires once its bucket is full again: {ttl} ms");
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(redis.cli(&["--scan", "--pattern", "exp:*"]), "", "nothing outlives its bucket");
    assert_eq!(get(1, "ann").await, 200, "a full bucket again");
}

/// A self-signed certificate for `localhost`, as PEM files in `dir`.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (write(dir, "redis.crt", &cert.cert.pem()), write(dir, "redis.key", &cert.signing_key.serialize_pem()))
}

/// Two replicas of a config whose one route allows a single request for all of them, started
/// with `env`: whether the second request is refused says whether the bucket is shared. The
/// timeout is long: connecting (a TLS handshake on a loaded machine) must not fall back.
async fn one_request_for_both(
    dir: &Path,
    redis: &str,
    env: &[(&str, &str)],
) -> (u16, u16, Vec<SpawnedGateway>) {
    write(
        dir,
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: {redis}, timeout: 2s}}\nroutes:\n  GET /one: {{respond: {{body: ok}}, throttle: {{rate: 0.01, burst: 1}}}}\n"
        ),
    );
    let args = ["serve", "--config", "portcullis.yaml", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"];
    let gateways: Vec<SpawnedGateway> =
        (0..2).map(|_| SpawnedGateway::spawn_with_env(exe(), &args, dir, env)).collect();
    let client = TestClient::http1();
    let first = client.get(&format!("{}/one", gateways[0].url())).await.status.as_u16();
    let second = client.get(&format!("{}/one", gateways[1].url())).await.status.as_u16();
    (first, second, gateways)
}

#[tokio::test]
async fn rediss_verifies_the_servers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let Some(redis) = RedisServer::start_tls(&cert, &key) else { return };
    let url = format!("\"{}\"", redis.url());
    // Trusted (the system roots, extended by SSL_CERT_FILE): one bucket over TLS.
    let cert_file = cert.display().to_string();
    let (first, second, _gateways) =
        one_request_for_both(dir.path(), &url, &[("SSL_CERT_FILE", &cert_file)]).await;
    assert_eq!((first, second), (200, 429));
    // Not trusted: no connection is made, so each replica counts alone.
    let (first, second, gateways) = one_request_for_both(dir.path(), &url, &[]).await;
    assert_eq!((first, second), (200, 200));
    let ready = TestClient::http1().get(&format!("http://{}/readyz", gateways[0].admin)).await.json();
    assert_eq!(ready["shared_state"], "unavailable");
}

#[tokio::test]
async fn a_sentinel_names_the_master_and_buckets_live_there() {
    let Some(master) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sentinel_port = free_port();
    write(
        dir.path(),
        "sentinel.conf",
        &format!(
            "port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {} 1\n",
            master.port()
        ),
    );
    let mut sentinel = std::process::Command::new("redis-server")
        .args(["sentinel.conf", "--sentinel"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server --sentinel");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", sentinel_port)).is_err() {
        assert!(Instant::now() < deadline, "the sentinel did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("\"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster\"");
    let (first, second, _gateways) = one_request_for_both(dir.path(), &url, &[]).await;
    let _ = sentinel.kill();
    let _ = sentinel.wait();
    assert_eq!((first, second), (200, 429), "one bucket, through the master the sentinel named");
    assert_eq!(master.cli(&["--scan", "--pattern", "portcullis:rl:*"]).lines().count(), 1);
}

#[tokio::test]
async fn a_cluster_holds_buckets_and_revocations_across_its_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let conf = dir.path().join(format!("nodes-{i}.conf")).display().to_string();
        let Some(node) =
            RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", &conf])
        else {
            return;
        };
        nodes.push(node);
    }
    let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
    let created = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
        assert!(Instant::now() < deadline, "the cluster did not form");
        std::thread::sleep(Duration::from_millis(100));
    }
    let list =
        format!("[{}]", addresses.iter().map(|a| format!("\"redis://{a}\"")).collect::<Vec<_>>().join(", "));
    write(
        dir.path(),
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: {list}}}\nrevocation: {{enabled: true}}\ndebug_headers: true\n\
             authorizers:\n  dev: {{type: jwt, issuer: dev, audience: [api]}}\n\
             routes:\n  GET /k: {{authorizer: dev, respond: {{body: ok}}, throttle: [{{rate: 0.01, burst: 1, key: $request.header.x-client}}]}}\n"
        ),
    );
    let gateways = replicas(dir.path(), 2);
    let token = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "jti=\"j-1\""]);
    let bearer = format!("Bearer {token}");
    let client = TestClient::http1();
    let get = async |gateway: usize, who: &str| {
        client
            .send(
                Method::GET,
                &format!("{}/k", gateways[gateway].url()),
                &[("x-client", who), ("authorization", &bearer)],
                "",
            )
            .await
    };
    // Enough callers that their buckets land on different nodes (hash slots).
    let callers: Vec<String> = (0..12).map(|i| format!("caller-{i}")).collect();
    for caller in &callers {
        assert_eq!(get(0, caller).await.status, 200, "{caller}");
        assert_eq!(get(1, caller).await.status, 429, "{caller}: one bucket across replicas");
    }
    let holding = nodes.iter().filter(|n| n.cli(&["DBSIZE"]).parse::<u64>().unwrap_or(0) > 0).count();
    assert!(holding >= 2, "keys are spread over the cluster's nodes ({holding} hold some)");
    // A revocation made on one replica reaches the other through the cluster.
    revoke(dir.path(), &gateways[0], &["--jti", "j-1"]);
    let mut refused = false;
    for _ in 0..30 {
        let reply = get(1, "another").await;
        if reply.status == 401 {
            assert_eq!(reply.header("x-portcullis-deny-reason"), Some("revoked"));
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the other replica refuses the revoked token:\n{}\n---\n{}",
        gateways[0].stderr_lines().join("\n"),
        gateways[1].stderr_lines().join("\n")
    );
}

/// `calls - failed_calls` of a command in `INFO commandstats` (a script's first EVALSHA fails
/// with NOSCRIPT before it is loaded).
fn succeeded_calls(redis: &RedisServer, command: &str) -> u64 {
    let stats = redis.cli(&["INFO", "commandstats"]);
    let Some(line) = stats.lines().find(|l| l.starts_with(&format!("cmdstat_{command}:"))) else { return 0 };
    let field = |name: &str| -> u64 {
        line.split([':', ','])
            .find_map(|f| f.strip_prefix(&format!("{name}="))?.trim().parse().ok())
            .unwrap_or(0)
    };
    field("calls") - field("failed_calls")
}

#[tokio::test]
async fn a_requests_shared_limits_are_checked_in_one_round_trip() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "portcullis.yaml",
        &format!(
            "shared_state: {{redis: \"{}\"}}\nthrottle: {{rate: 1000, burst: 1000}}\n\
             routes:\n  GET /r: {{respond: {{body: ok}}, throttle: [{{rate: 1000, burst: 1000}}, {{rate: 0.01, burst: 2, key: $request.header.x-client}}]}}\n",
            redis.url()
        ),
    );
    let gateway = &replicas(dir.path(), 1)[0];
    let client = TestClient::http1();
    let get = async |who: &str| {
        client.send(Method::GET, &format!("{}/r", gateway.url()), &[("x-client", who)], "").await.status
    };
    for who in ["ann", "ben"] {
        assert_eq!(get(who).await, 200);
        assert_eq!(get(who).await, 200);
        assert_eq!(get(who).await, 429, "{who}'s key, the third limit, refuses in the same round trip");
    }
    let scripts = succeeded_calls(&redis, "evalsha") + succeeded_calls(&redis, "eval");
    assert_eq!(scripts, 6, "one script per request for its three shared limits");
    // ann's and ben's buckets; the API's and the route's were full again within milliseconds,
    // and expired.
    let keys = redis.cli(&["--scan", "--pattern", "portcullis:rl:*"]);
    assert_eq!(keys.lines().count(), 2, "{keys}");
}

#[tokio::test]
async fn a_revocation_no_replica_was_told_of_arrives_with_the_periodic_resync() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &revocation_config(Some(&redis)));
    let token = mint(dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "jti=\"j-quiet\""]);
    let gateway = &replicas(dir.path(), 1)[0];
    let client = TestClient::http1();
    assert_eq!(status_and_reason(&client, gateway, &token).await.0, 200);
    // Stored the way a replica stores one, but never announced (as if the message was lost).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let entry = format!(r#"{{"jti":"j-quiet","revoked_at":{now},"until":{}}}"#, now + 3600);
    assert_eq!(redis.cli(&["HSET", "portcullis:revocations", "jti:j-quiet", &entry]), "1");
    let stored = Instant::now();
    let seen = until_refused(&client, gateway, &token, stored, Duration::from_secs(5)).await;
    assert_eq!(seen, (401, Some("revoked".to_owned())), "within the resync period (2 s) and a little");
    assert!(stored.elapsed() < Duration::from_secs(3), "{:?}", stored.elapsed());
}

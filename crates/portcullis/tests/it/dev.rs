//! The development loop: `serve --dev`, reloads that recycle changed functions, and the
//! command line's address forms and messages.

use std::time::Duration;

use crate::harness::{Gw, SpawnedGateway, TestClient, exe, wait_until, write};

fn handler(version: &str) -> String {
    format!("export const handler = async () => ({{ statusCode: 200, body: '{version}' }});\n")
}

#[tokio::test]
async fn serve_dev_prints_the_routes_watches_functions_and_names_the_nearest_routes() {
    let gw = Gw::start_with(
        "authorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\nfunctions:\n  f: {runtime: nodejs, handler: f.handler}\n\
         routes:\n  GET /pets/{id}: {function: f}\n  GET /pets: {respond: {body: all}}\n  GET /private: {authorizer: dev, respond: {body: in}}\n",
        &[("f.mjs", &handler("v1"))],
        &["--dev"],
    );
    let stderr = gw.proc.stderr_lines().join("\n");
    assert!(stderr.contains("3 routes:"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("GET /pets/{id}") && l.contains("public") && l.contains("function f")),
        "{stderr}"
    );
    let client = TestClient::http1();

    // A 404 names the nearest routes.
    let miss = client.get(&gw.url("/pet/7")).await;
    assert_eq!(miss.status, 404);
    assert_eq!(miss.json()["message"], "Not Found");
    assert_eq!(miss.json()["nearestRoutes"][0], "GET /pets/{id}", "{}", miss.text());
    // debug_headers is on: a denial says why.
    let denied = client.get(&gw.url("/private")).await;
    assert_eq!(denied.header("x-portcullis-deny-reason"), Some("token_missing"));

    // Every function is watched: an edit is served without a restart.
    assert_eq!(client.get(&gw.url("/pets/1")).await.text(), "v1");
    write(gw.dir.path(), "f.mjs", &handler("v2"));
    let mut served = String::new();
    for _ in 0..100 {
        served = client.get(&gw.url("/pets/1")).await.text();
        if served == "v2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served, "v2");
}

#[tokio::test]
async fn without_dev_nothing_changes() {
    let gw = Gw::start("routes:\n  GET /pets: {respond: {body: all}}\n");
    let miss = TestClient::http1().get(&gw.url("/pet")).await;
    assert_eq!(miss.text(), r#"{"message":"Not Found"}"#);
    assert!(!gw.proc.stderr_lines().join("\n").contains("routes:"));
}

#[tokio::test]
async fn dev_logs_are_json_without_colours_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", "routes:\n  GET /a: {respond: {body: a}}\n");
    let gw = SpawnedGateway::spawn_as_is(
        exe(),
        &["serve", "--dev", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    TestClient::http1().get(&format!("{}/a", gw.url())).await;
    let all = gw.stderr_lines().join("\n") + &gw.stdout_lines().join("\n");
    assert!(!all.contains('\u{1b}'), "no escape codes in a pipe: {all}");
    let ready = gw.stderr_lines().into_iter().find(|l| l.contains("ready")).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&ready).unwrap()["message"], "ready", "{ready}");
    // The access log is JSON too (written in batches: wait for it).
    let logged = || {
        gw.stdout_lines()
            .iter()
            .any(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["path"] == "/a"))
    };
    assert!(wait_until(Duration::from_secs(5), logged).await, "{}", gw.stdout_lines().join("\n"));
}

#[tokio::test]
async fn a_reload_recycles_functions_whose_code_changed_and_starts_watching() {
    let yaml = |watch: bool| {
        format!(
            "functions:\n  f: {{runtime: nodejs, handler: f.handler, watch: {watch}}}\nroutes:\n  GET /f: {{function: f}}\n"
        )
    };
    let gw = Gw::start_with(&yaml(false), &[("f.mjs", &handler("v1"))], &[]);
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/f")).await.text(), "v1");
    write(gw.dir.path(), "f.mjs", &handler("v2"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(client.get(&gw.url("/f")).await.text(), "v1", "unwatched: the warm instance keeps its code");
    // A reload with the same config recycles it: its code changed since the last load.
    gw.reload().await;
    assert_eq!(client.get(&gw.url("/f")).await.text(), "v2");

    // A reload that turns `watch` on starts watching.
    write(gw.dir.path(), "portcullis.yaml", &yaml(true));
    gw.reload().await;
    write(gw.dir.path(), "f.mjs", &handler("v3"));
    let mut served = String::new();
    for _ in 0..100 {
        served = client.get(&gw.url("/f")).await.text();
        if served == "v3" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served, "v3");
}

#[tokio::test]
async fn listen_takes_a_port_a_colon_port_or_localhost() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", "listen: 127.0.0.1:8080\nroutes:\n  GET /a: {respond: {body: a}}\n");
    for (listen, admin) in [("0", ":0"), (":0", "localhost:0")] {
        let gw = SpawnedGateway::spawn(exe(), &["serve", "--listen", listen, "--admin", admin], dir.path());
        assert!(gw.listen.ip().is_loopback() && gw.listen.port() != 8080, "{}", gw.listen);
        assert!(gw.admin.ip().is_loopback());
        assert_eq!(TestClient::http1().get(&format!("{}/a", gw.url())).await.text(), "a");
    }
    let bad = std::process::Command::new(exe())
        .args(["serve", "--listen", "localhost"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("is not a port"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_port_in_use_names_the_flag_that_changes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", "routes:\n  GET /a: {respond: {body: a}}\n");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    // What `serve` says, exiting 1, when one listener's port is taken.
    let refused = |listen: &str, admin: &str| {
        let out = std::process::Command::new(exe())
            .args(["serve", "--listen", listen, "--admin", admin])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.matches("is in use").count(), 1, "said once: {stderr}");
        assert!(
            stderr.contains(&format!("cannot listen on 127.0.0.1:{port}: the port is in use")),
            "{stderr}"
        );
        stderr
    };
    let stderr = refused(&port, "127.0.0.1:0");
    assert!(stderr.contains("--listen PORT") && stderr.contains("`listen:`"), "{stderr}");
    // The admin listener's port names its own flag.
    let stderr = refused("127.0.0.1:0", &port);
    assert!(stderr.contains("--admin PORT") && stderr.contains("`admin:`"), "{stderr}");
}

#[tokio::test]
async fn the_demo_runs_a_function_and_keeps_its_state_out_of_git() {
    let dir = tempfile::tempdir().unwrap();
    let gw = SpawnedGateway::spawn(
        exe(),
        &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    let reply = TestClient::http1().get(&format!("{}/fn/you", gw.url())).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["message"], "Hello, you!");
    // The demo runs as `--dev` does: the route table at start, and a 404 that names the
    // nearest routes.
    let table_header =
        |l: &String| ["route", "authorizer", "scopes", "integration"].iter().all(|c| l.contains(c));
    assert!(gw.stderr_lines().iter().any(table_header), "{}", gw.stderr_lines().join("\n"));
    let miss = TestClient::http1().get(&format!("{}/fn", gw.url())).await;
    assert_eq!(miss.status, 404);
    assert!(miss.json()["nearestRoutes"].as_array().is_some_and(|r| !r.is_empty()), "{}", miss.text());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".portcullis/.gitignore")).unwrap().lines().last(),
        Some("*")
    );
    // README's `invoke` line runs against the demo.
    let out =
        std::process::Command::new(exe()).args(["invoke", "hello"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello, world!"));
}

#[tokio::test]
async fn a_reload_recycles_a_function_whose_settings_changed() {
    let yaml = |greeting: &str| {
        format!(
            "functions:\n  f: {{runtime: nodejs, handler: f.handler, environment: {{GREETING: {greeting}}}}}\nroutes:\n  GET /f: {{function: f}}\n"
        )
    };
    let handler = "export const handler = async () => ({ statusCode: 200, body: process.env.GREETING });\n";
    let gw = Gw::start_with(&yaml("hello"), &[("f.mjs", handler)], &[]);
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/f")).await.text(), "hello");
    // Only the environment changes; the code does not.
    write(gw.dir.path(), "portcullis.yaml", &yaml("bonjour"));
    gw.reload().await;
    assert_eq!(client.get(&gw.url("/f")).await.text(), "bonjour", "a fresh instance with the new settings");
}

/// A public route and one behind the development issuer.
const OPEN_AND_PRIVATE: &str = "authorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\n\
     routes:\n  GET /open: {respond: {body: a}}\n  GET /private: {authorizer: dev, respond: {body: in}}\n";

/// `portcullis serve --dev` with stderr and stdout on a terminal (a pseudo-terminal held by
/// util-linux `script`): coloured, human-readable lines, and one line per request with its
/// route key, status, latency and the authorizer's decision and reason.
#[tokio::test]
async fn on_a_terminal_dev_prints_coloured_lines_and_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", OPEN_AND_PRIVATE);
    let command = format!("exec {} serve --dev --listen 127.0.0.1:0 --admin 127.0.0.1:0", exe().display());
    let mut gw = SpawnedGateway::spawn_as_is(
        std::path::Path::new("script"),
        &["--quiet", "--flush", "--return", "--command", &command, "/dev/null"],
        dir.path(),
    );
    let client = TestClient::http1();
    assert_eq!(client.get(&format!("{}/open", gw.url())).await.status, 200);
    assert_eq!(client.get(&format!("{}/private", gw.url())).await.status, 401);
    let printed = || gw.stdout_lines().join("\n");
    assert!(
        wait_until(Duration::from_secs(5), || printed().contains("reason=token_missing")).await,
        "{}",
        printed()
    );
    let printed = printed();
    assert!(printed.contains("\u{1b}["), "colours on a terminal: {printed}");
    assert!(printed.contains("2 routes:"), "{printed}");
    let open = printed.lines().find(|l| l.contains("\"GET /open\"")).expect("a line for GET /open");
    assert!(open.contains(" 200 ") && open.contains("ms route=GET /open auth="), "{open}");
    let private = printed.lines().find(|l| l.contains("\"GET /private\"")).expect("a line for GET /private");
    assert!(
        private.contains(" 401 ") && private.contains("route=GET /private auth=deny reason=token_missing"),
        "{private}"
    );
    assert!(!printed.lines().any(|l| l.trim_start().starts_with('{')), "no JSON on a terminal: {printed}");
    // `script` passes SIGTERM on to the gateway, which drains and exits.
    gw.signal("TERM");
    let status = tokio::task::spawn_blocking(move || gw.wait_exit(Duration::from_secs(10))).await.unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn token_exports_the_dev_issuers_key_and_warns_about_an_audience_nobody_accepts() {
    use crate::harness::mint;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "portcullis.yaml",
        "authorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\nroutes:\n  GET /private: {authorizer: dev, respond: {body: in}}\n",
    );
    let token = mint(dir.path(), &["--sub", "alice", "--aud", "api"]);
    let header = jsonwebtoken::decode_header(&token).unwrap();

    // The JWKS verifies the token it minted.
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&mint(dir.path(), &["--print-jwks"])).unwrap();
    let jwk = jwks.find(header.kid.as_deref().expect("a kid")).expect("the token's kid is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["api"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("verified with the printed JWKS")
    .claims;
    assert_eq!(claims["sub"], "alice");
    // So does the PEM.
    let pem = mint(dir.path(), &["--print-pem"]);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let key = match header.alg {
        jsonwebtoken::Algorithm::ES256 => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap();
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .expect("verified with the printed PEM");

    // An audience that no dev authorizer accepts: the token is still printed, with a warning.
    let run = |aud: &str| {
        std::process::Command::new(exe())
            .args(["token", "--aud", aud])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let wrong = run("apii");
    assert_eq!(wrong.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&wrong.stdout).matches('.').count(), 2, "a JWT is printed");
    let warning = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        warning.contains("warning: no `issuer: dev` authorizer") && warning.contains("\"apii\""),
        "{warning}"
    );
    assert!(run("api").stderr.is_empty(), "no warning for an accepted audience");
}

#[test]
fn explain_needs_no_token_for_a_public_route_and_suggests_a_misspelt_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", OPEN_AND_PRIVATE);
    let (code, text) = crate::harness::cli(dir.path(), "explain", &["--route", "GET /open"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("authorizer: none (public route)"), "{text}");
    let (code, text) = crate::harness::cli(dir.path(), "explain", &["--route", "GET /privat"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no route `GET /privat` in portcullis.yaml; did you mean `GET /private`?"),
        "{text}"
    );
    // Without a token, a protected route is explained as denied (exit 3), not refused.
    let (code, text) = crate::harness::cli(dir.path(), "explain", &["--route", "GET /private"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("token_missing"), "{text}");
}

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
    // `spawn_as_is` only finds the ready line if it is JSON.
    let gw = SpawnedGateway::spawn_as_is(
        exe(),
        &["serve", "--dev", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    TestClient::http1().get(&format!("{}/a", gw.url())).await;
    let all = gw.stderr_lines().join("\n") + &gw.stdout_lines().join("\n");
    assert!(!all.contains('\u{1b}'), "no escape codes in a pipe: {all}");
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
    gw.proc.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || gw
            .proc
            .stderr_lines()
            .iter()
            .any(|l| l.contains("configuration reloaded")))
        .await
    );
    assert_eq!(client.get(&gw.url("/f")).await.text(), "v2");

    // A reload that turns `watch` on starts watching.
    write(gw.dir.path(), "portcullis.yaml", &yaml(true));
    gw.proc.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || gw
            .proc
            .stderr_lines()
            .iter()
            .filter(|l| l.contains("configuration reloaded"))
            .count()
            == 2)
        .await
    );
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
    let out = std::process::Command::new(exe())
        .args(["serve", "--listen", &port, "--admin", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("is in use").count(), 1, "said once: {stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}: the port is in use")), "{stderr}");
    assert!(stderr.contains("--listen PORT"), "{stderr}");
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

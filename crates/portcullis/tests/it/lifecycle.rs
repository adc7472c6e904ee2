//! Process lifecycle: graceful shutdown, reload, the embedded demo, admin endpoints, TLS.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::harness::{Behavior, Gw, RecordingUpstream, SpawnedGateway, TestClient, exe, wait_until, write};

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_refuses_new_connections() {
    let up = RecordingUpstream::start(Behavior::Delay(Duration::from_millis(1500))).await;
    let mut gw = Gw::start(&format!("routes:\n  GET /slow:\n    http: {}/slow\n", up.url()));
    let url = gw.url("/slow");
    let in_flight = tokio::spawn(async move { TestClient::http1().get(&url).await });
    assert!(
        wait_until(Duration::from_secs(5), || up.count() == 1).await,
        "request never reached the upstream"
    );

    gw.proc.signal("TERM");
    let listen = gw.proc.listen;
    let refused = wait_until(Duration::from_secs(2), || std::net::TcpStream::connect(listen).is_err()).await;
    assert!(refused, "new connections still accepted while draining");

    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "in-flight request was cut: {}", reply.text());
    let status = tokio::task::spawn_blocking(move || gw.proc.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("gateway exits after draining");
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn sighup_reloads_a_good_config_and_keeps_serving_through_a_bad_one() {
    let gw = Gw::start("routes:\n  GET /a: {respond: {body: a}}\n");
    let client = TestClient::http1();
    assert_eq!(client.get(&gw.url("/a")).await.text(), "a");
    assert_eq!(client.get(&gw.url("/b")).await.status, 404);

    write(
        gw.dir.path(),
        "portcullis.yaml",
        "routes:\n  GET /a: {respond: {body: a2}}\n  GET /b: {respond: {body: b}}\n",
    );
    gw.proc.signal("HUP");
    let client2 = client.clone();
    let url = gw.url("/b");
    let mut reloaded = false;
    for _ in 0..100 {
        if client2.get(&url).await.status == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reloaded, "route /b never appeared after SIGHUP");
    assert_eq!(client.get(&gw.url("/a")).await.text(), "a2");

    write(
        gw.dir.path(),
        "portcullis.yaml",
        "routes:\n  GET /a: {respond: {body: a3}}\n  GET /c: {tiemout: 5s}\n",
    );
    gw.proc.signal("HUP");
    let logged = wait_until(Duration::from_secs(5), || {
        gw.proc.stderr_lines().iter().any(|l| l.contains("reload refused"))
    })
    .await;
    assert!(logged, "bad reload not reported: {:?}", gw.proc.stderr_lines());
    let refusal = gw.proc.stderr_lines().into_iter().find(|l| l.contains("reload refused")).unwrap();
    assert!(refusal.contains("portcullis.yaml:3:"), "error names file and line: {refusal}");
    assert_eq!(client.get(&gw.url("/a")).await.text(), "a2", "old config keeps serving");
    assert_eq!(client.get(&gw.url("/b")).await.text(), "b");
}

#[tokio::test]
async fn a_reload_that_changes_a_restart_only_setting_says_so_and_applies_the_rest() {
    let gw =
        Gw::start("limits: {max_body: 1000, idle_timeout: 60s}\nroutes:\n  POST /a: {respond: {body: a}}\n");
    let client = TestClient::http1();
    let body = "x".repeat(500);
    let first = client.send(http::Method::POST, &gw.url("/a"), &[], body.clone()).await;
    assert_eq!((first.status.as_u16(), first.text()), (200, "a".to_owned()));

    write(
        gw.dir.path(),
        "portcullis.yaml",
        "limits: {max_body: 100, idle_timeout: 5s}\nstate_dir: elsewhere\nroutes:\n  POST /a: {respond: {body: a2}}\n",
    );
    gw.proc.signal("HUP");
    let warned = |key: &str| {
        gw.proc.stderr_lines().iter().any(|l| l.contains("next restart") && l.contains(&format!("\"{key}\"")))
    };
    let logged =
        wait_until(Duration::from_secs(5), || warned("limits.idle_timeout") && warned("state_dir")).await;
    assert!(logged, "restart-only changes are named: {:?}", gw.proc.stderr_lines());
    assert!(!warned("limits.max_body"), "max_body is reloaded, not warned about");
    assert!(!warned("listen") && !warned("revocation"), "only what changed is named");
    // The rest of the reload applies: the new body, and the new max_body.
    let small = client.send(http::Method::POST, &gw.url("/a"), &[], "x").await;
    assert_eq!(small.text(), "a2");
    let large = client.send(http::Method::POST, &gw.url("/a"), &[], body.clone()).await;
    assert_eq!(large.status, 413, "max_body took effect on reload");
    assert!(!gw.dir.path().join("elsewhere").exists(), "the running state_dir stays");
}

#[tokio::test]
async fn serve_without_a_config_file_runs_the_embedded_demo() {
    let dir = tempfile::tempdir().unwrap();
    let gw = SpawnedGateway::spawn(
        exe(),
        &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    let client = TestClient::http1();
    let home = client.get(&format!("{}/", gw.url())).await;
    assert_eq!(home.status, 200, "{}", home.text());
    let hello = client.get(&format!("{}/hello/world", gw.url())).await;
    assert_eq!(hello.status, 200);
    assert_eq!(client.get(&format!("{}/nowhere", gw.url())).await.status, 404);
    let banner = gw.stderr_lines().join("\n");
    assert!(banner.contains(&format!("curl -i http://{}/", gw.listen)), "banner shows what to try: {banner}");
    let health = client.get(&format!("http://{}/healthz", gw.admin)).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(client.get(&format!("http://{}/readyz", gw.admin)).await.status, 200);
}

#[tokio::test]
async fn tls_listener_negotiates_h2_and_http1_by_alpn() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    // Relative paths in the config resolve against the config file's directory.
    let gw = Gw::start_with(
        "tls:\n  cert: cert.pem\n  key: key.pem\nroutes:\n  GET /t: {respond: {body: secure}}\n",
        &[("cert.pem", &cert.cert.pem()), ("key.pem", &cert.signing_key.serialize_pem())],
        &[],
    );
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let url = format!("https://localhost:{}/t", gw.proc.listen.port());
    for expected in [http::Version::HTTP_2, http::Version::HTTP_11] {
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots.clone()).with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only();
        // The connector offers exactly one protocol by ALPN, so the server's choice is visible.
        let https = if expected == http::Version::HTTP_2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        let client: Client<_, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).http2_only(expected == http::Version::HTTP_2).build(https);
        let response = client.get(url.parse().unwrap()).await.expect("TLS request");
        assert_eq!(response.version(), expected);
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"secure");
    }
}

/// The Runtime API loop of a `provided` function, as an executable script.
const PROVIDED_BOOTSTRAP: &str = r#"#!/usr/bin/env python3
import json, os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps({"statusCode": 200, "body": "from provided"}).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/response", data=body, method="POST"))
"#;

const ADMIN_TOKEN: &str = "relative-admin-token-0123456789";

/// A config whose every path-valued key is relative: TLS files, `state_dir`, a function's
/// `dir`, a `provided` function's `command`, a JWT public key file and a JWKS file, an
/// upstream's CA, the admin token file and the access-log file. `upstream` is an https
/// server whose certificate is `certs/cert.pem`.
fn relative_config(
    root: &std::path::Path,
    upstream: u16,
) -> (String, rcgen::CertifiedKey<rcgen::KeyPair>, rcgen::KeyPair) {
    let conf = root.join("conf");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let signing = rcgen::KeyPair::generate().unwrap();
    write(&conf, "certs/cert.pem", &cert.cert.pem());
    write(&conf, "certs/key.pem", &cert.signing_key.serialize_pem());
    write(&conf, "keys/idp.pem", &signing.public_key_pem());
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(signing.serialize_pem().as_bytes()).unwrap();
    let mut jwk =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".into());
    write(&conf, "keys/jwks.json", &serde_json::json!({ "keys": [jwk] }).to_string());
    write(&conf, "secrets/admin.token", &format!("{ADMIN_TOKEN}\n"));
    write(
        &conf,
        "fn/app.mjs",
        "export const handler = async () => ({ statusCode: 200, body: 'from fn' });\n",
    );
    write(&conf, "bin/bootstrap", PROVIDED_BOOTSTRAP);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(conf.join("bin/bootstrap"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = format!(
        "tls: {{cert: certs/cert.pem, key: certs/key.pem}}\nstate_dir: state\n\
         admin: {{token_file: secrets/admin.token}}\n\
         access_log: {{output: logs/access.log}}\n\
         functions:\n  f: {{runtime: nodejs, handler: app.handler, dir: fn}}\n  p: {{runtime: provided, command: bin/bootstrap}}\n\
         authorizers:\n  idp: {{type: jwt, issuer: https://idp.example.com/, audience: [api], public_key_file: keys/idp.pem}}\n\
         \x20 set: {{type: jwt, issuer: https://idp.example.com/, audience: [api], jwks_file: keys/jwks.json}}\n\
         routes:\n  GET /fn: {{function: f}}\n  GET /provided: {{function: p}}\n\
         \x20 GET /private: {{authorizer: idp, respond: {{body: in}}}}\n  GET /set: {{authorizer: set, respond: {{body: in}}}}\n\
         \x20 GET /up: {{http: https://localhost:{upstream}/fn, upstream_ca: certs/ca.pem}}\n"
    );
    write(&conf, "certs/ca.pem", &cert.cert.pem());
    write(&conf, "portcullis.yaml", &yaml);
    (yaml, cert, signing)
}

async fn https_get(
    port: u16,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let https =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut request = http::Request::get(format!("https://localhost:{port}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client.request(request.body(Empty::new()).unwrap()).await.expect("TLS request");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn relative_paths_resolve_against_the_config_files_directory_once() {
    let root = tempfile::tempdir().unwrap();
    // The https upstream: another gateway serving the same certificate, configured with
    // absolute paths, answering `/fn` itself.
    let upstream_dir = tempfile::tempdir().unwrap();
    let certs = root.path().join("conf/certs");
    write(
        upstream_dir.path(),
        "portcullis.yaml",
        &format!(
            "tls: {{cert: {}, key: {}}}\nroutes:\n  GET /fn: {{respond: {{body: from upstream}}}}\n",
            certs.join("cert.pem").display(),
            certs.join("key.pem").display()
        ),
    );
    // The certificate files are written before the upstream reads them.
    let upstream_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, cert, signing) = relative_config(root.path(), upstream_port);
    let listen = format!("127.0.0.1:{upstream_port}");
    let _upstream = SpawnedGateway::spawn(
        exe(),
        &["serve", "--listen", &listen, "--admin", "127.0.0.1:0"],
        upstream_dir.path(),
    );

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims =
        serde_json::json!({"iss": "https://idp.example.com/", "aud": "api", "sub": "a", "exp": now + 600});
    let key = jsonwebtoken::EncodingKey::from_ec_pem(signing.serialize_pem().as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let absolute = root.path().join("conf/portcullis.yaml");
    let absolute = absolute.to_str().unwrap();
    // A relative --config from the directory above, and an absolute one from elsewhere.
    for (cwd, config) in [(root.path(), "conf/portcullis.yaml"), (std::path::Path::new("/"), absolute)] {
        let gw = SpawnedGateway::spawn(
            exe(),
            &["serve", "--config", config, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
            cwd,
        );
        let from = format!("{config} from {}", cwd.display());
        let port = gw.listen.port();
        assert_eq!(https_get(port, &cert, "/fn", None).await, (200, "from fn".into()), "conf/fn ({from})");
        assert_eq!(
            https_get(port, &cert, "/provided", None).await,
            (200, "from provided".into()),
            "conf/bin/bootstrap ({from})"
        );
        assert_eq!(https_get(port, &cert, "/private", Some(&token)).await.0, 200, "the key file ({from})");
        assert_eq!(https_get(port, &cert, "/set", Some(&token)).await.0, 200, "the JWKS file ({from})");
        assert_eq!(
            https_get(port, &cert, "/up", None).await,
            (200, "from upstream".into()),
            "the upstream's CA ({from})"
        );
        let client = TestClient::http1();
        let metrics = format!("http://{}/metrics", gw.admin);
        assert_eq!(client.get(&metrics).await.status, 401, "the admin token file was read ({from})");
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let allowed = client.send(http::Method::GET, &metrics, &[("authorization", &bearer)], "").await;
        assert_eq!(allowed.status, 200, "({from})");
        let log = root.path().join("conf/logs/access.log");
        assert!(
            wait_until(Duration::from_secs(5), || std::fs::read_to_string(&log)
                .is_ok_and(|t| t.lines().count() >= 5))
            .await
        );
        assert!(root.path().join("conf/state").is_dir(), "state_dir under the config's directory");
        assert!(!root.path().join("conf/conf").exists() && !root.path().join("conf/fn/fn").exists());
        drop(gw);
        std::fs::remove_file(&log).unwrap();
    }
    // The other subcommands read the same paths.
    for function in ["f", "p"] {
        let out = std::process::Command::new(exe())
            .args(["invoke", function, "--config", "conf/portcullis.yaml"])
            .current_dir(root.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("from "), "{function}");
    }
    let out = std::process::Command::new(exe())
        .args(["check", "--config", "conf/portcullis.yaml"])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

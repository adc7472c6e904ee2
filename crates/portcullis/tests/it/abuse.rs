//! Attacks on the gateway's own listener, reproduced with bounded loads: HTTP/2 fan-out,
//! connection floods, silent sockets, keep-alive clients during a drain, config bombs, encoded
//! slashes. Each test states the attack and asserts what the gateway and its upstream saw.

use std::io::{Read as _, Write as _};
use std::net::TcpStream as StdTcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, cli, exe, wait_until, write};

/// Twenty HTTP/2 connections opening 200 streams each to a slow upstream: the gateway opens no
/// more upstream connections than the cap, refuses what its queue cannot hold with 503, and its
/// memory does not follow the number of streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_fan_out_stays_within_the_upstream_connection_cap() {
    let up = RecordingUpstream::start(Behavior::Delay(Duration::from_millis(50))).await;
    let gw = Gw::start(&format!(
        "access_log: {{enabled: false}}\nlimits: {{upstream_max_connections: 32, upstream_max_pending: 200}}\nroutes:\n  GET /slow:\n    http: {}/slow\n",
        up.url()
    ));
    let rss_before = gw.proc.memory_kb("VmRSS");
    let url = gw.url("/slow");
    let started = Instant::now();
    let clients = (0..20).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            // One client, one HTTP/2 connection: its streams multiplex onto it.
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).http2_only(true).build_http();
            let streams = (0..200).map(|_| {
                let client = client.clone();
                let url = url.clone();
                async move {
                    let request = Request::get(&url).body(Empty::new()).unwrap();
                    match tokio::time::timeout(Duration::from_secs(30), client.request(request)).await {
                        Ok(Ok(response)) => {
                            let status = response.status();
                            let _ = response.into_body().collect().await;
                            Some(status)
                        }
                        _ => None,
                    }
                }
            });
            futures_util::future::join_all(streams).await
        })
    });
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    let ok = statuses.iter().filter(|s| **s == Some(StatusCode::OK)).count();
    let refused = statuses.iter().filter(|s| **s == Some(StatusCode::SERVICE_UNAVAILABLE)).count();
    assert_eq!(ok + refused, 4000, "every stream got 200 or 503: {:?}", &statuses[..10]);
    assert!(ok >= 200, "the upstream still served at its cap ({ok} answered) in {elapsed:?}");
    assert!(up.connections() <= 32, "{} upstream connections for a cap of 32", up.connections());
    assert_eq!(up.count(), ok, "only admitted requests reached the upstream");
    let grown_mib = gw.proc.memory_kb("VmRSS").saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 40, "4,000 streams grew the gateway by {grown_mib} MiB");
}

/// The gateway announces its per-connection stream cap in its HTTP/2 SETTINGS.
#[tokio::test]
async fn http2_clients_are_told_the_concurrent_stream_cap() {
    let gw =
        Gw::start("limits: {http2_max_concurrent_streams: 7}\nroutes:\n  GET /: {respond: {body: ok}}\n");
    let tcp = TcpStream::connect(gw.proc.listen).await.unwrap();
    let (mut sender, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // The server's SETTINGS arrive with the first exchange.
    let request = Request::get(format!("http://{}/", gw.proc.listen)).body(()).unwrap();
    let (response, _) = sender.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), StatusCode::OK);
    assert_eq!(sender.current_max_send_streams(), 7);
}

/// How long a connection to `addr` that says nothing is kept open (it must be closed, or
/// refused, without a word).
async fn silent_connection_lasts(addr: std::net::SocketAddr) -> Duration {
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let mut silent = StdTcpStream::connect(addr).unwrap();
        silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let read = silent.read(&mut buf);
        assert!(matches!(read, Ok(0) | Err(_)), "{addr} said something: {read:?}");
        started.elapsed()
    })
    .await
    .unwrap()
}

/// A client that connects and says nothing is disconnected after `header_timeout`, counted from
/// the accept, not kept until the idle timeout.
#[tokio::test]
async fn a_silent_connection_is_closed_after_header_timeout() {
    let gw = Gw::start(
        "limits: {header_timeout: 1s, idle_timeout: 60s}\nroutes:\n  GET /: {respond: {body: ok}}\n",
    );
    let closed_after = silent_connection_lasts(gw.proc.listen).await;
    assert!(closed_after >= Duration::from_millis(900), "closed too early: {closed_after:?}");
    assert!(closed_after < Duration::from_secs(4), "a silent socket was held for {closed_after:?}");
}

/// The first-request deadline is for connections that never send one: a keep-alive connection
/// busy with requests from its start keeps serving past `header_timeout`.
#[tokio::test]
async fn a_busy_keep_alive_connection_outlives_the_first_request_deadline() {
    let gw = Gw::start(
        "limits: {header_timeout: 1s, idle_timeout: 60s}\nroutes:\n  GET /: {respond: {body: ok}}\n",
    );
    let addr = gw.proc.listen;
    let served = tokio::task::spawn_blocking(move || {
        let mut socket = StdTcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut served = 0;
        while started.elapsed() < Duration::from_millis(2500) {
            socket.write_all(b"GET / HTTP/1.1\r\nhost: gw.test\r\n\r\n").unwrap();
            let mut response = Vec::new();
            let mut buf = [0u8; 512];
            while !response.ends_with(b"ok") {
                let n = socket.read(&mut buf).unwrap();
                assert!(
                    n > 0,
                    "the gateway closed a busy connection after {:?} and {served} requests",
                    started.elapsed()
                );
                response.extend_from_slice(&buf[..n]);
            }
            assert!(response.starts_with(b"HTTP/1.1 200"));
            served += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    })
    .await
    .unwrap();
    assert!(served > 20, "{served} requests on one connection");
}

/// Opens `n` idle TCP connections to `addr` (each sends nothing).
fn idle_sockets(addr: std::net::SocketAddr, n: usize) -> Vec<StdTcpStream> {
    (0..n).filter_map(|_| StdTcpStream::connect(addr).ok()).collect()
}

/// Whether the server closed `socket` (a read returns end-of-file or a reset within `wait`).
fn closed_by_server(socket: &StdTcpStream, wait: Duration) -> bool {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 16];
    let mut reader = socket;
    match reader.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        // A reset is a close; a timeout means the socket is still open.
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

/// At `max_connections`, idle sockets make way: a new client is answered while twenty idle
/// connections are held open against a cap of eight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_idle_connections_make_room_for_new_clients() {
    connection_cap_makes_room(&[]).await;
}

/// The same with three request threads accepting: the cap is the listener's, not each
/// thread's (three caps of eight would hold all twenty and close none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_threads_share_one_connection_cap() {
    connection_cap_makes_room(&[("PORTCULLIS_REQUEST_THREADS", "3")]).await;
}

async fn connection_cap_makes_room(env: &[(&str, &str)]) {
    let gw = Gw::start_env(
        "limits: {max_connections: 8, header_timeout: 30s, idle_timeout: 60s}\nroutes:\n  GET /: {respond: {body: ok}}\n",
        env,
    );
    let listen = gw.proc.listen;
    let idle = tokio::task::spawn_blocking(move || idle_sockets(listen, 20)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reply = tokio::time::timeout(Duration::from_secs(10), TestClient::http1().get(&gw.url("/")))
        .await
        .expect("a new client is answered at the cap");
    assert_eq!(reply.status, 200);
    let closed = tokio::task::spawn_blocking(move || {
        idle.iter().filter(|s| closed_by_server(s, Duration::from_millis(300))).count()
    })
    .await
    .unwrap();
    assert!(closed >= 8, "only {closed} of 20 idle connections were closed to make room");
}

/// `max_connections_per_client` refuses one address's connections beyond its cap.
#[tokio::test]
async fn one_client_address_cannot_hold_more_than_its_cap() {
    per_client_cap_refuses(&[]).await;
}

/// The same with three request threads accepting: one count per address for all of them.
#[tokio::test]
async fn request_threads_share_one_per_client_cap() {
    per_client_cap_refuses(&[("PORTCULLIS_REQUEST_THREADS", "3")]).await;
}

async fn per_client_cap_refuses(env: &[(&str, &str)]) {
    let gw = Gw::start_env(
        "limits: {max_connections_per_client: 3, header_timeout: 30s}\nroutes:\n  GET /: {respond: {body: ok}}\n",
        env,
    );
    let listen = gw.proc.listen;
    let (held_open, refused) = tokio::task::spawn_blocking(move || {
        let kept = idle_sockets(listen, 3);
        std::thread::sleep(Duration::from_millis(200));
        let fourth = StdTcpStream::connect(listen).unwrap();
        let refused = closed_by_server(&fourth, Duration::from_secs(2));
        let held_open = kept.iter().filter(|s| !closed_by_server(s, Duration::from_millis(200))).count();
        (held_open, refused)
    })
    .await
    .unwrap();
    assert!(refused, "a fourth connection from the same address was accepted");
    assert_eq!(held_open, 3, "the first three stay open");
}

/// A soft descriptor limit below the hard one is raised to the hard one at start, so a default
/// `ulimit -n` of 1,024 does not cap connections the host would allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_descriptor_limit_is_raised_to_the_hard_one_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "portcullis.yaml", "routes:\n  GET /: {respond: {body: ok}}\n");
    let proc = portcullis_test_support::SpawnedGateway::spawn_wrapped(
        &["prlimit", "--nofile=256:2048", "--"],
        exe(),
        &["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proc.pid())).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).expect("a descriptor line");
    let fields: Vec<&str> = open_files.split_whitespace().collect();
    assert_eq!(&fields[3..5], ["2048", "2048"], "{open_files}");
}

/// With the descriptor limit at 1,024 (soft and hard), 1,140 idle sockets do not lock out the
/// health check or a new client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_and_new_clients_are_answered_past_the_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "portcullis.yaml",
        "limits: {header_timeout: 30s, idle_timeout: 60s}\nroutes:\n  GET /: {respond: {body: ok}}\n",
    );
    let proc = portcullis_test_support::SpawnedGateway::spawn_wrapped(
        &["prlimit", "--nofile=1024:1024", "--"],
        exe(),
        &["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        dir.path(),
    );
    let listen = proc.listen;
    let flood = tokio::task::spawn_blocking(move || idle_sockets(listen, 1140)).await.unwrap();
    assert!(flood.len() >= 1100, "the test itself could open only {} sockets", flood.len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = tokio::time::timeout(
        Duration::from_secs(10),
        TestClient::http1().get(&format!("http://{}/healthz", proc.admin)),
    )
    .await
    .expect("/healthz answered");
    assert_eq!(health.status, 200);
    let reply =
        tokio::time::timeout(Duration::from_secs(15), TestClient::http1().get(&format!("{}/", proc.url())))
            .await
            .expect("a new client answered");
    assert_eq!(reply.status, 200);
    drop(flood);
}

/// What one keep-alive client saw during a drain.
#[derive(Debug, Default)]
struct DrainOutcome {
    answered: usize,
    told_to_close: bool,
    lost: Option<String>,
}

/// 64 keep-alive HTTP/1.1 clients send requests back to back while the gateway drains: every
/// request sent gets an answer; each client is told `connection: close` and loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_clients_lose_no_request_when_the_gateway_drains() {
    let up = RecordingUpstream::start(Behavior::Delay(Duration::from_millis(5))).await;
    let gw = Gw::start(&format!(
        "access_log: {{enabled: false}}\nlimits: {{drain_timeout: 10s}}\nroutes:\n  GET /k:\n    http: {}/k\n",
        up.url()
    ));
    let listen = gw.proc.listen;
    let workers: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(async move {
                let mut outcome = DrainOutcome::default();
                let tcp = TcpStream::connect(listen).await.unwrap();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
                tokio::spawn(connection);
                let deadline = Instant::now() + Duration::from_secs(15);
                while Instant::now() < deadline {
                    if sender.ready().await.is_err() {
                        outcome.lost = Some("connection closed without connection: close".into());
                        break;
                    }
                    let request =
                        Request::get("/k").header("host", "gw").body(Empty::<Bytes>::new()).unwrap();
                    match sender.send_request(request).await {
                        Ok(response) => {
                            let close = response.headers().get("connection").is_some_and(|v| v == "close");
                            let status = response.status();
                            let _ = response.into_body().collect().await;
                            if status != StatusCode::OK {
                                outcome.lost = Some(format!("status {status}"));
                                break;
                            }
                            outcome.answered += 1;
                            if close {
                                outcome.told_to_close = true;
                                break;
                            }
                        }
                        Err(error) => {
                            outcome.lost = Some(format!("request failed: {error}"));
                            break;
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    // Let every client get going, then drain.
    assert!(wait_until(Duration::from_secs(10), || up.count() >= 640).await, "load did not start");
    gw.proc.signal("TERM");
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.push(worker.await.unwrap());
    }
    let lost: Vec<_> = outcomes.iter().filter_map(|o| o.lost.clone()).collect();
    assert!(lost.is_empty(), "{} of 64 clients lost a request: {:?}", lost.len(), &lost[..lost.len().min(5)]);
    assert!(outcomes.iter().all(|o| o.told_to_close), "every client was told to close");
    assert!(outcomes.iter().all(|o| o.answered > 1));
}

/// An HTTP/2 client with requests in flight when the drain starts gets them answered, then a
/// GOAWAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_in_flight_finish_when_the_gateway_drains() {
    let up = RecordingUpstream::start(Behavior::Delay(Duration::from_millis(500))).await;
    let gw =
        Gw::start(&format!("limits: {{drain_timeout: 10s}}\nroutes:\n  GET /s:\n    http: {}/s\n", up.url()));
    let tcp = TcpStream::connect(gw.proc.listen).await.unwrap();
    let (sender, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut sender = sender.ready().await.unwrap();
    let mut pending = Vec::new();
    for _ in 0..10 {
        let request = Request::get(format!("http://{}/s", gw.proc.listen)).body(()).unwrap();
        pending.push(sender.send_request(request, true).unwrap().0);
    }
    assert!(wait_until(Duration::from_secs(5), || up.count() >= 10).await);
    gw.proc.signal("TERM");
    for response in pending {
        assert_eq!(response.await.expect("an in-flight stream is answered").status(), StatusCode::OK);
    }
    // The connection ends with the GOAWAY once its streams are done.
    let ended = tokio::time::timeout(Duration::from_secs(5), driver).await;
    assert!(ended.is_ok(), "the HTTP/2 connection was not closed after its streams finished");
}

/// 104 KB of YAML whose aliases expand to gigabytes of text.
fn alias_bomb() -> String {
    let big = "x".repeat(100_000);
    let mut yaml = format!("x-a: &a \"{big}\"\n");
    let mut previous = "a".to_owned();
    for level in ["b", "c", "d", "e", "f", "g"] {
        let items = vec![format!("*{previous}"); 10].join(", ");
        yaml.push_str(&format!("x-{level}: &{level} [{items}]\n"));
        previous = level.to_owned();
    }
    yaml.push_str("routes:\n  GET /: {respond: {body: ok}}\n");
    yaml
}

#[test]
fn check_refuses_an_alias_bomb_quickly() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &alias_bomb());
    let started = Instant::now();
    let (code, out) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("after expanding aliases"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn serve_refuses_an_alias_bomb() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &alias_bomb());
    let out = std::process::Command::new(exe())
        .args(["serve", "--config", "portcullis.yaml", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("after expanding aliases"));
}

#[tokio::test]
async fn an_alias_bomb_sent_by_sighup_leaves_the_old_config_serving() {
    let gw = Gw::start("routes:\n  GET /a: {respond: {body: first}}\n");
    let rss_before = gw.proc.memory_kb("VmRSS");
    write(gw.dir.path(), "portcullis.yaml", &alias_bomb());
    gw.proc.signal("HUP");
    let refused = wait_until(Duration::from_secs(10), || {
        gw.proc.stderr_lines().iter().any(|l| l.contains("reload refused") && l.contains("aliases"))
    })
    .await;
    assert!(refused, "no refusal logged: {:?}", gw.proc.stderr_lines());
    let reply = TestClient::http1().get(&gw.url("/a")).await;
    assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "first"));
    let grown_mib = gw.proc.memory_kb("VmHWM").saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 200, "the refused reload peaked {grown_mib} MiB above the idle gateway");
}

#[test]
fn config_paths_that_are_not_regular_files_are_refused_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for path in [std::path::Path::new("/dev/zero"), fifo.as_path(), dir.path()] {
        let started = Instant::now();
        let out = std::process::Command::new(exe()).args(["check", "--config"]).arg(path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains("not a regular file") || stderr.contains("directory"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
    }
    let big = dir.path().join("big.yaml");
    std::fs::File::create(&big).unwrap().set_len(17 * 1024 * 1024).unwrap();
    let out = std::process::Command::new(exe()).args(["check", "--config"]).arg(&big).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more than"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An upstream that percent-decodes before resolving dot segments would read
/// `/static/..%2Finternal` as `/internal`: such paths never leave the gateway.
#[tokio::test]
async fn encoded_slashes_cannot_escape_an_integration_prefix() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "routes:\n  ANY /files/{{proxy+}}:\n    http: {0}/static/{{proxy}}\n  GET /pets/{{id}}:\n    http: {0}/pets/{{id}}\n",
        up.url()
    ));
    let client = TestClient::http1();
    let attacks = [
        "/files/..%2Finternal%2Fsecret",
        "/files/a/..%2F..%2Finternal",
        "/files/..%5Cinternal",
        "/files/%2e%2e%2finternal",
        "/files/%252e%252e%252finternal",
        "/pets/..%2F..%2Fadmin",
        "/pets/%2E%2E%2Fadmin",
    ];
    for path in attacks {
        let reply = client.get(&gw.url(path)).await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.text(), r#"{"message":"Bad Request"}"#);
    }
    assert_eq!(up.count(), 0, "no attack reached the upstream: {:?}", up.requests());

    // An encoded slash without dots is data, and stays under the prefix even once decoded.
    assert_eq!(client.get(&gw.url("/files/a%2Fb/c")).await.status, 200);
    let seen = up.requests().pop().expect("forwarded");
    let decoded = percent_encoding::percent_decode_str(seen.uri.path()).decode_utf8_lossy().into_owned();
    assert!(decoded.starts_with("/static/") && !decoded.contains(".."), "{decoded}");
}

/// A chunked body that breaks the chunked encoding is the client's fault: 400, not 500.
#[tokio::test]
async fn a_malformed_chunked_body_gets_400() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!("routes:\n  POST /u:\n    http: {}/u\n", up.url()));
    let listen = gw.proc.listen;
    let head = tokio::task::spawn_blocking(move || {
        let mut s = StdTcpStream::connect(listen).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(
            b"POST /u HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
        )
        .unwrap();
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

/// HTTP/1.1 requires exactly one `Host` (RFC 9112, section 3.2).
#[tokio::test]
async fn a_request_without_host_or_with_two_gets_400() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!("routes:\n  GET /h:\n    http: {}/h\n", up.url()));
    let listen = gw.proc.listen;
    let heads = tokio::task::spawn_blocking(move || {
        let raw: [&[u8]; 3] = [
            b"GET /h HTTP/1.1\r\nconnection: close\r\n\r\n",
            b"GET /h HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
            b"GET /h HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        ];
        raw.iter()
            .map(|request| {
                let mut s = StdTcpStream::connect(listen).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(request).unwrap();
                let mut response = Vec::new();
                let _ = s.read_to_end(&mut response);
                String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(heads[0].starts_with("HTTP/1.1 400"), "no host: {}", heads[0]);
    assert!(heads[1].starts_with("HTTP/1.1 400"), "two hosts: {}", heads[1]);
    assert!(heads[2].starts_with("HTTP/1.1 200"), "one host: {}", heads[2]);
    assert_eq!(up.count(), 1);
}

#[test]
fn the_development_issuer_refuses_a_public_listener_unless_allowed() {
    let yaml = |extra: &str| {
        format!(
            "listen: 0.0.0.0:0\n{extra}authorizers:\n  dev: {{type: jwt, issuer: dev, audience: [a]}}\nroutes:\n  GET /p: {{authorizer: dev, respond: {{body: ok}}}}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", &yaml(""));
    let (code, out) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("allow_dev_issuer"), "{out}");
    write(dir.path(), "portcullis.yaml", &yaml("allow_dev_issuer: true\n"));
    let (code, out) = cli(dir.path(), "check", &[]);
    assert_eq!(code, Some(0), "{out}");

    // The same refusal when the loopback address in the file is overridden on the command line.
    write(dir.path(), "portcullis.yaml", &yaml("").replace("0.0.0.0:0", "127.0.0.1:0"));
    let out = std::process::Command::new(exe())
        .args(["serve", "--config", "portcullis.yaml", "--listen", "0.0.0.0:0", "--admin", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("allow_dev_issuer"));
}

#[test]
fn token_lifetimes_are_capped_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "portcullis.yaml",
        "authorizers:\n  dev: {type: jwt, issuer: dev, audience: [a]}\nroutes:\n  GET /p: {authorizer: dev, respond: {body: ok}}\n",
    );
    let (code, out) = cli(dir.path(), "token", &["--sub", "x", "--aud", "a", "--ttl", "365d"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--force"), "{out}");
    let (code, out) = cli(dir.path(), "token", &["--sub", "x", "--aud", "a", "--ttl", "365d", "--force"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _) = cli(dir.path(), "token", &["--sub", "x", "--aud", "a", "--ttl", "12h"]);
    assert_eq!(code, Some(0));
}

/// Nothing of a function outlives a gateway killed with SIGKILL (no shutdown code runs).
#[tokio::test]
async fn function_processes_die_with_a_killed_gateway() {
    let gw = Gw::start_with(
        "functions:\n  f: {runtime: nodejs, handler: app.handler, prewarm: 2}\nroutes:\n  GET /f: {function: f}\n",
        &[("app.mjs", "export const handler = async () => ({ statusCode: 200, body: 'ok' });")],
        &[],
    );
    assert_eq!(TestClient::http1().get(&gw.url("/f")).await.status, 200);
    let gateway = gw.proc.pid();
    let children = child_pids(gateway);
    assert!(!children.is_empty(), "no function process found under the gateway");
    let status = std::process::Command::new("kill").args(["-KILL", &gateway.to_string()]).status().unwrap();
    assert!(status.success());
    let gone = wait_until(Duration::from_secs(5), || children.iter().all(|pid| !alive(*pid))).await;
    assert!(gone, "function processes outlived the gateway: {children:?}");
}

fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The admin listener is served like the main one: a silent connection is closed after
/// `header_timeout`, and on SIGTERM it stops accepting and its open streams get `drain_timeout`,
/// not forever.
#[tokio::test]
async fn the_admin_listener_has_the_main_listeners_timeouts_and_drain() {
    let mut gw = Gw::start(
        "limits: {header_timeout: 1s, idle_timeout: 60s, drain_timeout: 2s}\nroutes:\n  GET /: {respond: {body: ok}}\n",
    );
    let admin = gw.proc.admin;
    let closed_after = silent_connection_lasts(admin).await;
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&closed_after),
        "a silent admin socket was held for {closed_after:?}"
    );

    // A live stream open on the admin listener, then SIGTERM.
    let mut stream = StdTcpStream::connect(admin).unwrap();
    stream.write_all(format!("GET /api/live HTTP/1.1\r\nhost: {admin}\r\n\r\n").as_bytes()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "the stream is open");
    let stopping = Instant::now();
    gw.proc.signal("TERM");
    assert!(
        crate::harness::wait_until(Duration::from_secs(2), || StdTcpStream::connect(admin).is_err()).await,
        "new admin connections are refused while draining"
    );
    let status =
        tokio::task::spawn_blocking(move || gw.proc.wait_exit(Duration::from_secs(10))).await.unwrap();
    assert!(status.is_some(), "the open stream did not hold the process past drain_timeout");
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopped after {:?}", stopping.elapsed());
}

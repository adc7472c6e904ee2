//! The main listener's request threads (`PORTCULLIS_REQUEST_THREADS`): each accepts from the
//! same socket and keeps its connections and their upstream connections; together they serve
//! every client, reuse upstream connections, and stop cleanly.

use std::time::Duration;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, cli_env, write};

/// The names of the gateway's threads that serve requests.
fn request_threads(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("request-"))
        .collect();
    names.sort();
    names
}

/// Three request threads: twelve keep-alive clients sending ten requests each are all answered,
/// the upstream gets every request on no more connections than there are clients (each thread
/// reuses its own), and SIGTERM stops the gateway cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_request_threads_serve_every_client_and_reuse_upstream_connections() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let mut gw = Gw::start_env(
        &format!(
            "access_log: {{enabled: false}}\nroutes:\n  GET /items/{{id}}:\n    http: {}/items/{{id}}\n",
            up.url()
        ),
        &[("PORTCULLIS_REQUEST_THREADS", "3")],
    );
    assert_eq!(request_threads(gw.proc.pid()), ["request-0", "request-1", "request-2"]);

    let clients = (0..12).map(|client| {
        let base = gw.url("/items/");
        tokio::spawn(async move {
            // One client, one keep-alive connection, requests one after another.
            let http = TestClient::http1();
            let mut statuses = Vec::new();
            for n in 0..10 {
                let reply = http.get(&format!("{base}{client}-{n}")).await;
                statuses.push(reply.status.as_u16());
            }
            statuses
        })
    });
    for client in clients {
        assert_eq!(client.await.unwrap(), [200; 10]);
    }
    let mut paths: Vec<String> = up.requests().iter().map(|r| r.uri.to_string()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 120, "every request reached the upstream once");
    assert!(up.connections() <= 12, "{} upstream connections for 12 clients: not reused", up.connections());

    gw.proc.signal("TERM");
    let status = tokio::task::spawn_blocking(move || gw.proc.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the gateway exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
}

/// A request-thread count that is not a positive number stops the start with the variable's
/// name, before anything listens.
#[test]
fn a_bad_request_thread_count_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "portcullis.yaml", "routes:\n  GET /: {respond: {body: ok}}\n");
    for bad in ["0", "many", "-2"] {
        let (code, output) = cli_env(
            dir.path(),
            "serve",
            &["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
            &[("PORTCULLIS_REQUEST_THREADS", bad)],
        );
        assert_eq!(code, Some(2), "{bad}: {output}");
        assert!(output.contains("PORTCULLIS_REQUEST_THREADS") && output.contains(bad), "{bad}: {output}");
    }
}

/// With an upstream allowed one connection, requests arriving on different request threads
/// share it: a thread at the cap takes the connection another thread left idle rather than
/// wait for a connection that would only close at its idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_threads_at_the_upstream_cap_take_each_others_idle_connection() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start_env(
        &format!(
            "access_log: {{enabled: false}}\nlimits: {{upstream_max_connections: 1}}\nroutes:\n  GET /items/{{id}}:\n    http: {}/items/{{id}}\n",
            up.url()
        ),
        &[("PORTCULLIS_REQUEST_THREADS", "3")],
    );
    // Three keep-alive clients open at once: no thread takes more than its share, so at least
    // two threads hold a client.
    let clients: Vec<TestClient> = (0..3).map(|_| TestClient::http1()).collect();
    for round in 0..3 {
        for (n, client) in clients.iter().enumerate() {
            let reply = tokio::time::timeout(
                Duration::from_secs(10),
                client.get(&gw.url(&format!("/items/{round}-{n}"))),
            )
            .await
            .unwrap_or_else(|_| panic!("request {round}-{n} waited for the upstream connection"));
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
    }
    assert_eq!(up.count(), 9);
    assert_eq!(up.connections(), 1, "one upstream connection, shared by the threads");
}

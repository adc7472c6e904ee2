//! How our bootstraps reach the Runtime API: a private Unix socket in the state directory,
//! with `AWS_LAMBDA_RUNTIME_API` (TCP) as the fallback.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;

/// Starts `settings` with its state directory in `state`.
async fn start_in(state: &TempDir, settings: FunctionSettings) -> (Functions, Invoker) {
    let options = FunctionsOptions { state_dir: state.path().into(), ..FunctionsOptions::default() };
    let name = settings.name.clone();
    let functions = Functions::start([settings], options).await.expect("start");
    let invoker = functions.invoker(&name).expect("invoker");
    (functions, invoker)
}

fn socket_files(state: &TempDir) -> Vec<String> {
    std::fs::read_dir(state.path().join("sockets"))
        .expect("sockets dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// The socket lives in a directory only the gateway's user can enter, and is removed with its
/// instance.
#[tokio::test]
async fn the_local_socket_is_private_and_removed_with_its_instance() {
    let dir = dir_with(&[("app.mjs", "export const handler = async () => 'ok';")]);
    let state = tempfile::tempdir().unwrap();
    let (functions, invoker) = start_in(&state, node(&dir, "app.handler")).await;
    assert_eq!(invoke_json(&invoker, json!({}), "s-1").await, json!("ok"));
    assert_eq!(invoker.runtime_api_connections(), (0, 1));
    let mode = std::fs::metadata(state.path().join("sockets")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(socket_files(&state).len(), 1, "{:?}", socket_files(&state));
    functions.shutdown().await;
    drop(functions);
    assert!(
        eventually(Duration::from_secs(2), || socket_files(&state).is_empty()).await,
        "{:?}",
        socket_files(&state)
    );
}

/// Each bootstrap, given a socket path nothing listens on, answers over TCP. Run as a `provided`
/// command so that the gateway passes no socket of its own and the path below is the one the
/// bootstrap sees.
#[tokio::test]
async fn our_bootstraps_fall_back_to_tcp_when_the_local_socket_is_unreachable() {
    let cases = [
        (
            "node",
            "bootstrap/node/bootstrap.mjs",
            "app.mjs",
            "export const handler = async (e) => ({ ok: e.n });",
        ),
        (
            "python3",
            "bootstrap/python/bootstrap.py",
            "app.py",
            "def handler(event, context):\n    return {'ok': event['n']}\n",
        ),
    ];
    for (program, bootstrap, file, code) in cases {
        let dir = dir_with(&[(file, code)]);
        let state = tempfile::tempdir().unwrap();
        let command = vec![program.to_owned(), state.path().join(bootstrap).to_string_lossy().into_owned()];
        let mut settings = FunctionSettings::new("fb", FunctionKind::Provided { command }, dir.path());
        settings.environment = vec![
            ("_HANDLER".into(), "app.handler".into()),
            ("PORTCULLIS_RUNTIME_API_LOCAL".into(), "/nonexistent/portcullis.sock".into()),
        ];
        settings.timeout = Duration::from_secs(10);
        let (functions, invoker) = start_in(&state, settings).await;
        assert_eq!(invoke_json(&invoker, json!({"n": 1}), "fb-1").await, json!({"ok": 1}), "{program}");
        assert_eq!(invoke_json(&invoker, json!({"n": 2}), "fb-2").await, json!({"ok": 2}), "{program}");
        assert_eq!(invoker.runtime_api_connections(), (1, 0), "{program}");
        functions.shutdown().await;
    }
}

//! Integration tests: real processes (node, python3, a `lambda_runtime` binary, the AWS runtime
//! interface clients) against the emulated Runtime API.

mod clients;
mod faults;
mod hangs;
mod node;
mod output;
mod pool;
mod python;
mod remote;
mod shutdown;
mod transport;

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use bytes::Bytes;
use portcullis_functions::{FunctionKind, FunctionSettings, Functions, FunctionsOptions, Invoker};
use serde_json::Value;
use tempfile::TempDir;

/// A function directory with the given files.
pub(crate) fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    dir
}

pub(crate) fn node(dir: &TempDir, handler: &str) -> FunctionSettings {
    let mut s = FunctionSettings::new("fn", FunctionKind::Node { handler: handler.into() }, dir.path());
    s.timeout = Duration::from_secs(10);
    s
}

pub(crate) fn concurrency(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero")
}

/// A running function; the state dir lives as long as it does.
pub(crate) struct Running {
    pub(crate) functions: Functions,
    pub(crate) invoker: Invoker,
    _state: TempDir,
}

pub(crate) async fn start(settings: FunctionSettings) -> Running {
    init_tracing();
    let state = tempfile::tempdir().expect("state dir");
    let options = FunctionsOptions { state_dir: state.path().into(), ..FunctionsOptions::default() };
    let name = settings.name.clone();
    let functions = Functions::start([settings], options).await.expect("start");
    let invoker = functions.invoker(&name).expect("invoker");
    Running { functions, invoker, _state: state }
}

pub(crate) async fn invoke_json(invoker: &Invoker, event: Value, id: &str) -> Value {
    let out = invoker
        .invoke(Bytes::from(event.to_string()), id)
        .await
        .unwrap_or_else(|e| panic!("invoke failed: {e}"));
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

pub(crate) fn process_exists(pid: u32) -> bool {
    // A zombie is not running; only its parent's reaping removes it from /proc.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub(crate) fn proc_entry_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `check` every 20 ms for at most `limit`.
pub(crate) async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
            )
            .try_init();
    });
}

/// Whether a test that needs an optional runtime client must fail rather than skip when the
/// client is missing (set in CI where the clients are installed).
pub(crate) fn clients_required() -> bool {
    std::env::var_os("PORTCULLIS_REQUIRE_RUNTIME_CLIENTS").is_some()
}

use std::time::Instant;

use portcullis_functions::InvokeError;
use serde_json::json;

use super::*;

async fn invoke(run: &Running, event: Value) -> Result<Bytes, InvokeError> {
    run.invoker.invoke(Bytes::from(event.to_string()), "fault").await
}

#[tokio::test]
async fn a_thrown_error_is_a_function_error_and_the_instance_stays_warm() {
    let dir = dir_with(&[(
        "f.mjs",
        "export const handler = async (e) => { if (e.fail) { const err = new TypeError('boom'); throw err; } return process.pid; };",
    )]);
    let run = start(node(&dir, "f.handler")).await;
    let pid = invoke_json(&run.invoker, json!({}), "a").await;
    match invoke(&run, json!({"fail": true})).await {
        Err(InvokeError::FunctionError { error_type, body }) => {
            assert_eq!(error_type, "TypeError");
            let doc: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc["errorMessage"], "boom");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_eq!(invoke_json(&run.invoker, json!({}), "b").await, pid);
    run.functions.shutdown().await;
}

#[tokio::test]
async fn a_crash_mid_invocation_is_reported_and_the_instance_replaced() {
    let dir = dir_with(&[(
        "f.mjs",
        "export const handler = async (e) => { if (e.crash) { setTimeout(() => process.kill(process.pid, 'SIGKILL'), 10); await new Promise(() => {}); } return process.pid; };",
    )]);
    let run = start(node(&dir, "f.handler")).await;
    let first = invoke_json(&run.invoker, json!({}), "a").await;
    let started = Instant::now();
    match invoke(&run, json!({"crash": true})).await {
        Err(InvokeError::Crashed { reason }) => assert!(reason.contains("signal"), "{reason}"),
        other => panic!("expected a crash, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let second = invoke_json(&run.invoker, json!({}), "b").await;
    assert_ne!(first, second, "a new instance answers");
    run.functions.shutdown().await;
}

#[tokio::test]
async fn a_timeout_kills_the_instance_within_timeout_plus_one_second() {
    let dir = dir_with(&[(
        "f.mjs",
        "export const handler = async (e) => { if (e.hang) { setInterval(() => {}, 1000); await new Promise(() => {}); } return process.pid; };",
    )]);
    let mut settings = node(&dir, "f.handler");
    settings.timeout = Duration::from_millis(500);
    let run = start(settings).await;
    let pid = invoke_json(&run.invoker, json!({}), "a").await.as_u64().unwrap() as u32;
    let started = Instant::now();
    let result = invoke(&run, json!({"hang": true})).await;
    let took = started.elapsed();
    assert!(matches!(result, Err(InvokeError::Timeout(_))), "{result:?}");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_millis(1500), "{took:?}");
    assert!(eventually(Duration::from_secs(2), || !proc_entry_exists(pid)).await, "killed and reaped");
    assert_ne!(invoke_json(&run.invoker, json!({}), "b").await.as_u64().unwrap() as u32, pid);
    run.functions.shutdown().await;
}

#[tokio::test]
async fn an_init_failure_is_reported_then_retried_with_backoff() {
    let dir = dir_with(&[(
        "f.mjs",
        "throw new Error('cannot init');\nexport const handler = async () => 'never';",
    )]);
    let run = start(node(&dir, "f.handler")).await;
    match invoke(&run, json!({})).await {
        Err(InvokeError::InitFailed { reason }) => {
            assert!(reason.contains("cannot init"), "{reason}")
        }
        other => panic!("expected an init failure, got {other:?}"),
    }
    // Backing off: the next request fails fast without starting a process.
    let started = Instant::now();
    match invoke(&run, json!({})).await {
        Err(InvokeError::InitFailed { reason }) => {
            assert!(reason.contains("next attempt"), "{reason}")
        }
        other => panic!("expected a fast init failure, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(eventually(Duration::from_secs(2), || run.invoker.instance_pids().is_empty()).await);
    // Fixed code is picked up by the next attempt once the backoff has passed.
    std::fs::write(dir.path().join("f.mjs"), "export const handler = async () => 'fixed';").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(invoke_json(&run.invoker, json!({}), "c").await, json!("fixed"));
    run.functions.shutdown().await;
}

#[tokio::test]
async fn a_missing_handler_and_a_missing_runtime_are_init_failures() {
    let dir = dir_with(&[("f.mjs", "export const other = 1;")]);
    let run = start(node(&dir, "f.handler")).await;
    match invoke(&run, json!({})).await {
        Err(InvokeError::InitFailed { reason }) => {
            assert!(reason.contains("Runtime.HandlerNotFound"), "{reason}")
        }
        other => panic!("expected an init failure, got {other:?}"),
    }
    run.functions.shutdown().await;
    let settings = FunctionSettings::new(
        "nope",
        FunctionKind::Provided { command: vec!["./does-not-exist".into()] },
        dir.path(),
    );
    let run = start(settings).await;
    assert!(matches!(invoke(&run, json!({})).await, Err(InvokeError::InitFailed { .. })));
    run.functions.shutdown().await;
}

#[tokio::test]
async fn oversized_responses_and_payloads_are_refused() {
    let dir = dir_with(&[(
        "f.mjs",
        "export const handler = async (e) => e.big ? 'x'.repeat(7 * 1024 * 1024) : process.pid;",
    )]);
    let run = start(node(&dir, "f.handler")).await;
    let pid = invoke_json(&run.invoker, json!({}), "before").await;
    assert!(matches!(invoke(&run, json!({"big": true})).await, Err(InvokeError::ResponseTooLarge)));
    // The instance survives an oversized response (its refused post is no reason to exit).
    assert_eq!(invoke_json(&run.invoker, json!({}), "a").await, pid);
    let payload = Bytes::from(vec![b' '; 6 * 1024 * 1024 + 1]);
    assert!(matches!(run.invoker.invoke(payload, "big").await, Err(InvokeError::RequestTooLarge)));
    run.functions.shutdown().await;
}

#[tokio::test]
async fn an_init_that_never_finishes_fails_after_the_init_timeout() {
    let dir = dir_with(&[(
        "f.mjs",
        "await new Promise(() => setInterval(() => {}, 1000));\nexport const handler = async () => 1;",
    )]);
    let mut settings = node(&dir, "f.handler");
    settings.init_timeout = Duration::from_millis(400);
    let run = start(settings).await;
    let started = Instant::now();
    match invoke(&run, json!({})).await {
        Err(InvokeError::InitFailed { reason }) => {
            assert!(reason.contains("init did not finish"), "{reason}")
        }
        other => panic!("expected an init timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(1400));
    assert!(eventually(Duration::from_secs(2), || run.invoker.instance_pids().is_empty()).await);
    run.functions.shutdown().await;
}

#[tokio::test]
async fn recycle_replaces_instances_with_fresh_code() {
    let dir = dir_with(&[("f.mjs", "export const handler = async () => ({ v: 1, pid: process.pid });")]);
    let run = start(node(&dir, "f.handler")).await;
    let first = invoke_json(&run.invoker, json!({}), "a").await;
    assert_eq!(first["v"], 1);
    std::fs::write(
        dir.path().join("f.mjs"),
        "export const handler = async () => ({ v: 2, pid: process.pid });",
    )
    .unwrap();
    assert_eq!(invoke_json(&run.invoker, json!({}), "b").await["v"], 1, "warm instance keeps old code");
    run.invoker.recycle();
    let fresh = invoke_json(&run.invoker, json!({}), "c").await;
    assert_eq!(fresh["v"], 2);
    assert_ne!(fresh["pid"], first["pid"]);
    let old = first["pid"].as_u64().unwrap() as u32;
    assert!(eventually(Duration::from_secs(2), || !proc_entry_exists(old)).await);
    run.functions.shutdown().await;
}

/// A caller's deadline shorter than the function's timeout (a Lambda authorizer's 10 s) ends the
/// invocation at the deadline: the instance still running is killed, and the next invocation
/// gets a fresh one.
#[tokio::test]
async fn an_invocation_past_the_callers_deadline_is_killed_and_its_instance_replaced() {
    let dir = dir_with(&[(
        "f.mjs",
        "export const handler = async (e) => { if (e.hang) await new Promise((r) => setTimeout(r, 20000)); return process.pid; };",
    )]);
    let run = start(node(&dir, "f.handler")).await;
    let first: u32 = serde_json::from_value(invoke_json(&run.invoker, json!({}), "a").await).unwrap();
    let started = Instant::now();
    let hung = run
        .invoker
        .invoke_within(Bytes::from(json!({"hang": true}).to_string()), "b", Duration::from_millis(500))
        .await;
    assert!(matches!(hung, Err(InvokeError::Timeout(_))), "{hung:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "ended after {:?}", started.elapsed());
    assert!(
        eventually(Duration::from_secs(3), || !process_exists(first)).await,
        "the hung instance still runs"
    );
    let second: u32 = serde_json::from_value(invoke_json(&run.invoker, json!({}), "c").await).unwrap();
    assert_ne!(first, second, "a fresh instance answers next");
    run.functions.shutdown().await;
}

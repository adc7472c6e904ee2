use futures_util::future::join_all;
use serde_json::json;

use super::*;

#[tokio::test]
async fn shutdown_kills_busy_and_idle_instances_and_their_children() {
    let dir = dir_with(&[(
        "f.mjs",
        "import { spawn } from 'node:child_process';\nexport const handler = async (e) => { const child = spawn('sleep', ['60']); if (e.hang) await new Promise(() => {}); await new Promise((r) => setTimeout(r, 300)); return { pid: process.pid, child: child.pid }; };",
    )]);
    let mut settings = node(&dir, "f.handler");
    settings.concurrency = concurrency(3);
    let run = start(settings).await;
    // Two instances that answered; one then takes a hanging invocation, the other stays idle.
    let (idle, _) = tokio::join!(
        invoke_json(&run.invoker, json!({}), "idle-1"),
        invoke_json(&run.invoker, json!({}), "idle-2")
    );
    let busy: Vec<_> = (0..1)
        .map(|i| {
            let invoker = run.invoker.clone();
            tokio::spawn(async move {
                invoker.invoke(Bytes::from_static(br#"{"hang":true}"#), &format!("b{i}")).await
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || run.invoker.instance_pids().len() == 2).await);
    let pids = run.invoker.instance_pids();
    let child = idle["child"].as_u64().unwrap() as u32;
    assert!(process_exists(child));

    run.functions.shutdown().await;
    for pid in &pids {
        assert!(!proc_entry_exists(*pid), "instance {pid} still in /proc");
    }
    assert!(
        eventually(Duration::from_secs(2), || !process_exists(child)).await,
        "handler child {child} still running"
    );
    for result in join_all(busy).await {
        assert!(result.unwrap().is_err(), "in-flight invocations end with an error");
    }
    assert!(matches!(
        run.invoker.invoke(Bytes::from_static(b"{}"), "late").await,
        Err(portcullis_functions::InvokeError::ShuttingDown)
    ));
}

#[tokio::test]
async fn dropping_functions_kills_every_instance() {
    let dir = dir_with(&[("f.mjs", "export const handler = async () => process.pid;")]);
    let run = start(node(&dir, "f.handler")).await;
    let pid = invoke_json(&run.invoker, json!({}), "a").await.as_u64().unwrap() as u32;
    drop(run);
    assert!(eventually(Duration::from_secs(2), || !process_exists(pid)).await);
}

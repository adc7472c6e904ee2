use std::time::Instant;

use futures_util::future::join_all;
use portcullis_functions::InvokeError;
use serde_json::json;

use super::*;

/// Sleeps `event.ms`, reports its pid and start/end times (ms since epoch).
const SLEEPER: &str = "export const handler = async (event) => { const start = Date.now(); await new Promise((r) => setTimeout(r, event.ms)); return { pid: process.pid, start, end: Date.now() }; };";

async fn sleepers(invoker: &Invoker, n: usize, ms: u64) -> Vec<Result<Value, InvokeError>> {
    let calls = (0..n).map(|i| {
        let invoker = invoker.clone();
        async move {
            let out = invoker.invoke(Bytes::from(json!({"ms": ms}).to_string()), &format!("r{i}")).await?;
            Ok(serde_json::from_slice::<Value>(&out).expect("json"))
        }
    });
    join_all(calls).await
}

#[tokio::test]
async fn n_requests_with_concurrency_n_run_in_parallel_on_n_instances() {
    let dir = dir_with(&[("s.mjs", SLEEPER)]);
    let mut settings = node(&dir, "s.handler");
    settings.concurrency = concurrency(3);
    settings.prewarm = 3;
    let run = start(settings).await;
    // Prewarmed and ready, so cold starts do not stagger the three runs.
    assert!(eventually(Duration::from_secs(10), || run.invoker.idle_instances() == 3).await);
    let results: Vec<Value> = sleepers(&run.invoker, 3, 1000).await.into_iter().map(|r| r.unwrap()).collect();
    let pids: std::collections::HashSet<_> = results.iter().map(|r| r["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 3, "three instances: {results:?}");
    let latest_start = results.iter().map(|r| r["start"].as_u64().unwrap()).max().unwrap();
    let earliest_end = results.iter().map(|r| r["end"].as_u64().unwrap()).min().unwrap();
    assert!(latest_start < earliest_end, "all three overlapped: {results:?}");
    run.functions.shutdown().await;
}

#[tokio::test]
async fn the_request_beyond_concurrency_waits_for_a_free_instance() {
    let dir = dir_with(&[("s.mjs", SLEEPER)]);
    let mut settings = node(&dir, "s.handler");
    settings.concurrency = concurrency(2);
    let run = start(settings).await;
    let results: Vec<Value> = sleepers(&run.invoker, 3, 300).await.into_iter().map(|r| r.unwrap()).collect();
    let pids: std::collections::HashSet<_> = results.iter().map(|r| r["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 2, "never more than two instances: {results:?}");
    let mut by_start = results.clone();
    by_start.sort_by_key(|r| r["start"].as_u64().unwrap());
    let first_end = by_start[..2].iter().map(|r| r["end"].as_u64().unwrap()).min().unwrap();
    assert!(by_start[2]["start"].as_u64().unwrap() >= first_end, "the third waited: {results:?}");
    run.functions.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_throttles_at_once_and_a_long_wait_throttles_on_time() {
    let dir = dir_with(&[("s.mjs", SLEEPER)]);
    let mut settings = node(&dir, "s.handler");
    settings.concurrency = concurrency(1);
    settings.queue_size = 1;
    settings.queue_timeout = Duration::from_secs(5);
    let run = start(settings).await;
    invoke_json(&run.invoker, json!({"ms": 0}), "warm-up").await;
    let started = Instant::now();
    let results = sleepers(&run.invoker, 3, 400).await;
    let throttled = results.iter().filter(|r| matches!(r, Err(InvokeError::Throttled))).count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!((ok, throttled), (2, 1), "{results:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    run.functions.shutdown().await;

    let mut settings = node(&dir, "s.handler");
    settings.concurrency = concurrency(1);
    settings.queue_timeout = Duration::from_millis(100);
    let run = start(settings).await;
    let results = sleepers(&run.invoker, 2, 600).await;
    assert!(results.iter().any(|r| r.is_ok()));
    assert!(results.iter().any(|r| matches!(r, Err(InvokeError::Throttled))), "{results:?}");
    run.functions.shutdown().await;
}

#[tokio::test]
async fn idle_instances_are_stopped_and_prewarmed_ones_kept() {
    let dir = dir_with(&[("s.mjs", SLEEPER)]);
    let mut settings = node(&dir, "s.handler");
    settings.idle_timeout = Duration::from_millis(800);
    settings.concurrency = concurrency(3);
    settings.prewarm = 1;
    let run = start(settings).await;
    assert!(eventually(Duration::from_secs(10), || run.invoker.instance_pids().len() == 1).await);
    let results = sleepers(&run.invoker, 3, 300).await;
    let pids: std::collections::HashSet<u32> =
        results.iter().map(|r| r.as_ref().unwrap()["pid"].as_u64().unwrap() as u32).collect();
    assert!(pids.len() >= 2, "ran in parallel on several instances: {results:?}");
    // All but the prewarmed minimum of one stop after the idle timeout, and stay stopped.
    assert!(eventually(Duration::from_secs(5), || run.invoker.instance_pids().len() == 1).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let survivors = run.invoker.instance_pids();
    assert_eq!(survivors.len(), 1);
    for pid in pids.iter().filter(|pid| !survivors.contains(pid)) {
        assert!(eventually(Duration::from_secs(2), || !proc_entry_exists(*pid)).await, "{pid} reaped");
    }
    run.functions.shutdown().await;
}

/// Not a benchmark harness (that is `bench/`), just a quick number: sequential and concurrent
/// invocations of a trivial warm Node handler. `cargo test -p portcullis-functions --test it
/// throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_of_a_trivial_node_handler() {
    let dir = dir_with(&[("t.mjs", "export const handler = async () => ({ statusCode: 200, body: 'ok' });")]);
    let mut settings = node(&dir, "t.handler");
    settings.concurrency = concurrency(4);
    let run = start(settings).await;
    invoke_json(&run.invoker, json!({}), "warm").await;
    let n = 2000;
    let started = Instant::now();
    for i in 0..n {
        run.invoker.invoke(Bytes::from_static(b"{}"), &format!("s{i}")).await.unwrap();
    }
    let sequential = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let invoker = run.invoker.clone();
            tokio::spawn(async move {
                for i in 0..n / 4 {
                    invoker.invoke(Bytes::from_static(b"{}"), &format!("c{w}-{i}")).await.unwrap();
                }
            })
        })
        .collect();
    join_all(tasks).await;
    let concurrent = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "sequential: {sequential:.0} invocations/s; 4 concurrent on 4 instances: {concurrent:.0} invocations/s"
    );
    run.functions.shutdown().await;
}

#[tokio::test]
async fn callers_that_give_up_while_queued_free_their_place() {
    let dir = dir_with(&[("s.mjs", SLEEPER)]);
    let mut settings = node(&dir, "s.handler");
    settings.concurrency = concurrency(1);
    settings.queue_size = 1;
    let run = start(settings).await;
    invoke_json(&run.invoker, json!({"ms": 0}), "warm-up").await;
    let busy = {
        let invoker = run.invoker.clone();
        tokio::spawn(async move { invoker.invoke(Bytes::from(json!({"ms": 500}).to_string()), "busy").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Queue, then give up (as a client that disconnects does), five times over.
    for i in 0..5 {
        let gave_up = tokio::time::timeout(
            Duration::from_millis(20),
            run.invoker.invoke(Bytes::from(json!({"ms": 0}).to_string()), &format!("q{i}")),
        )
        .await;
        assert!(gave_up.is_err(), "still queued behind the busy instance");
    }
    // The single queue place is free again: this one waits and runs instead of being throttled.
    let queued = run.invoker.invoke(Bytes::from(json!({"ms": 0}).to_string()), "last").await;
    assert!(queued.is_ok(), "{queued:?}");
    assert!(busy.await.unwrap().is_ok());
    run.functions.shutdown().await;
}

#[tokio::test]
async fn a_caller_that_goes_away_mid_invocation_leaves_the_instance_warm_and_busy_until_done() {
    let dir = dir_with(&[(
        "c.mjs",
        "let done = 0; export const handler = async (event) => { await new Promise((r) => setTimeout(r, event.ms)); done += 1; return { pid: process.pid, done }; };",
    )]);
    let mut settings = node(&dir, "c.handler");
    settings.concurrency = concurrency(1);
    let run = start(settings).await;
    let first = invoke_json(&run.invoker, json!({"ms": 0}), "warm-up").await;
    // The caller gives up while the handler runs (as a client that disconnects does).
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        run.invoker.invoke(Bytes::from(json!({"ms": 400}).to_string()), "abandoned"),
    )
    .await;
    assert!(gave_up.is_err(), "the handler was still running");
    let started = Instant::now();
    let next = invoke_json(&run.invoker, json!({"ms": 0}), "next").await;
    // The same process, not a cold start; the abandoned invocation ran to its end first (the
    // instance stayed busy and counted against concurrency 1 until then).
    assert_eq!(next["pid"], first["pid"], "{next}");
    assert_eq!(next["done"], 3, "{next}");
    assert!(started.elapsed() >= Duration::from_millis(250), "waited {:?}", started.elapsed());
    assert_eq!(run.invoker.instance_pids().len(), 1);
    run.functions.shutdown().await;
}

/// `max_invocations`: an instance is retired (its process stopped) after that many finished
/// invocations, handled errors included, and the next request gets a fresh one.
#[tokio::test]
async fn an_instance_is_retired_after_max_invocations() {
    let dir = dir_with(&[(
        "f.mjs",
        "let n = 0; export const handler = async (e) => { n += 1; if (e.fail) throw new Error('x'); return { pid: process.pid, n }; };",
    )]);
    let mut settings = node(&dir, "f.handler");
    settings.max_invocations = std::num::NonZeroU64::new(3);
    let run = start(settings).await;
    let mut seen = Vec::new();
    for i in 0..7 {
        if i == 1 {
            // A handled error counts as an invocation, and the instance stays warm for the next.
            assert!(run.invoker.invoke(Bytes::from_static(br#"{"fail":true}"#), "fail").await.is_err());
            seen.push(seen[0]);
            continue;
        }
        let r = invoke_json(&run.invoker, json!({}), &format!("r-{i}")).await;
        seen.push(r["pid"].as_u64().unwrap() as u32);
        assert_eq!(r["n"], (i % 3) as u64 + 1, "the instance's own count: {r}");
    }
    assert_eq!(seen[0..3], [seen[0]; 3]);
    assert_eq!(seen[3..6], [seen[3]; 3]);
    assert!(seen[0] != seen[3] && seen[3] != seen[6], "{seen:?}");
    for retired in [seen[0], seen[3]] {
        assert!(
            eventually(Duration::from_secs(2), || !proc_entry_exists(retired)).await,
            "{retired} stopped"
        );
    }
    assert_eq!(run.invoker.instance_pids(), vec![seen[6]]);
    run.functions.shutdown().await;
}

/// A retired `prewarm` instance is replaced in the background, without waiting for a request.
#[tokio::test]
async fn a_retired_prewarmed_instance_is_replaced() {
    let dir = dir_with(&[("f.mjs", "export const handler = async () => ({ pid: process.pid });")]);
    let mut settings = node(&dir, "f.handler");
    settings.prewarm = 1;
    settings.concurrency = concurrency(2);
    settings.max_invocations = std::num::NonZeroU64::new(2);
    let run = start(settings).await;
    assert!(eventually(Duration::from_secs(10), || run.invoker.idle_instances() == 1).await);
    let first = invoke_json(&run.invoker, json!({}), "p-1").await["pid"].as_u64().unwrap() as u32;
    let second = invoke_json(&run.invoker, json!({}), "p-2").await["pid"].as_u64().unwrap() as u32;
    assert_eq!(first, second, "the prewarmed instance served both");
    assert!(
        eventually(Duration::from_secs(10), || {
            let pids = run.invoker.instance_pids();
            pids.len() == 1 && pids[0] != first && run.invoker.idle_instances() == 1
        })
        .await,
        "a fresh prewarmed instance, idle: {:?}",
        run.invoker.instance_pids()
    );
    assert!(!proc_entry_exists(first));
    run.functions.shutdown().await;
}

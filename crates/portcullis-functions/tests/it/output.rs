//! A function's output cannot grow the gateway: lines are read with a length bound.

use std::time::Duration;

use serde_json::json;

use super::*;

/// Prints `mb` megabytes to stdout without a newline, then one short line, then returns.
const FLOOD: &str = "export const handler = async (e) => {
  const chunk = 'x'.repeat(1 << 20);
  for (let i = 0; i < e.mb; i++) {
    if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
  }
  process.stdout.write('\\nafter the flood\\n');
  return { done: true };
};";

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_printing_without_newline_does_not_grow_gateway_memory() {
    let dir = dir_with(&[("flood.mjs", FLOOD)]);
    let mut settings = node(&dir, "flood.handler");
    settings.timeout = Duration::from_secs(60);
    let run = start(settings).await;
    // Warm up: the first invocation starts the instance and its readers.
    assert_eq!(invoke_json(&run.invoker, json!({ "mb": 1 }), "warm").await["done"], true);
    let before = rss_kib();
    for round in 0..3 {
        let out = invoke_json(&run.invoker, json!({ "mb": 64 }), &format!("flood-{round}")).await;
        assert_eq!(out["done"], true);
    }
    // The reader runs concurrently with the invocation's answer: give it time to drain the pipe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    run.functions.shutdown().await;
    assert!(grown_mib < 24, "192 MiB of output without a newline grew the gateway by {grown_mib} MiB");
}

//! Regression tests for invocations that hung until their timeout: every invocation must end,
//! whatever its request id, with thrown errors and successes mixed, on one instance or several.
//!
//! The gateway passes its API Gateway style request ids (`dGM90RIFmf/GGDg=`: base64, so `/`,
//! `+` and `=` occur) and runtime clients paste the id verbatim into
//! `invocation/{id}/response`. The Runtime API used to take the id as one path segment, so an id
//! with a `/` made the result post a 404, and the caller waited for its timeout. Which gateway
//! requests hung depended on their random ids, which is why it looked like a race.

use std::time::Duration;

use futures_util::future::join_all;
use portcullis_functions::InvokeError;
use serde_json::json;

use super::*;

/// Throws when `event.fail`, else returns its pid and `context.awsRequestId`.
const MIXED: &str = "export const handler = async (e, context) => { if (e.fail) throw new Error('boom'); return { pid: process.pid, id: context.awsRequestId }; };";

/// Far below the function timeout (10 s): a hung invocation fails the test instead of passing
/// as a slow one.
const BOUND: Duration = Duration::from_secs(5);

/// Request ids shaped like the gateway's, with `/`, `+` and `=` in varying places.
fn gateway_id(worker: usize, round: usize) -> String {
    format!("dGM9{worker}RIF/m{round}f+GGDg=")
}

async fn bounded(invoker: &Invoker, fail: bool, id: &str) -> Result<Bytes, InvokeError> {
    let event = Bytes::from(json!({ "fail": fail }).to_string());
    match tokio::time::timeout(BOUND, invoker.invoke(event, id)).await {
        Ok(result) => result,
        Err(_) => panic!("invocation {id} (fail: {fail}) hung for {BOUND:?}"),
    }
}

fn check(result: Result<Bytes, InvokeError>, fail: bool, id: &str) {
    match (fail, result) {
        (true, Err(InvokeError::FunctionError { error_type, .. })) => assert_eq!(error_type, "Error", "{id}"),
        (false, Ok(out)) => {
            let out: Value = serde_json::from_slice(&out).expect("json");
            assert_eq!(out["id"], id, "the handler sees the request id unchanged");
        }
        (_, other) => panic!("invocation {id} (fail: {fail}) ended with {other:?}"),
    }
}

/// `workers` callers, each making `rounds` invocations back to back; `pattern(worker, round)`
/// says which ones throw.
async fn hammer(concurrency_limit: usize, workers: usize, rounds: usize, pattern: fn(usize, usize) -> bool) {
    let dir = dir_with(&[("m.mjs", MIXED)]);
    let mut settings = node(&dir, "m.handler");
    settings.concurrency = concurrency(concurrency_limit);
    let run = start(settings).await;
    let calls = (0..workers).map(|w| {
        let invoker = run.invoker.clone();
        async move {
            for r in 0..rounds {
                let fail = pattern(w, r);
                let id = gateway_id(w, r);
                check(bounded(&invoker, fail, &id).await, fail, &id);
            }
        }
    });
    join_all(calls).await;
    run.functions.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_thrown_errors_with_gateway_ids_all_end() {
    hammer(1, 1, 60, |_, _| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_successes_with_gateway_ids_all_end() {
    hammer(1, 1, 60, |_, _| false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_errors_and_successes_with_gateway_ids_all_end() {
    hammer(1, 1, 60, |_, r| r % 2 == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_sharing_one_instance_all_end() {
    hammer(1, 2, 40, |w, r| (w + r) % 3 == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_on_two_instances_all_end() {
    hammer(2, 2, 40, |w, r| (w + r) % 2 == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_invocation_of_a_cold_instance_ends_whether_it_throws_or_not() {
    for (r, fail) in [true, false, true].into_iter().enumerate() {
        let dir = dir_with(&[("m.mjs", MIXED)]);
        let run = start(node(&dir, "m.handler")).await;
        for i in 0..2 {
            let id = gateway_id(i, r);
            check(bounded(&run.invoker, fail, &id).await, fail, &id);
        }
        run.functions.shutdown().await;
    }
}

#[tokio::test]
async fn python_results_with_gateway_ids_all_end() {
    let dir = dir_with(&[(
        "app.py",
        "def handler(event, context):\n    if event['fail']:\n        raise Exception('boom')\n    return {'id': context.aws_request_id}\n",
    )]);
    let settings =
        FunctionSettings::new("py", FunctionKind::Python { handler: "app.handler".into() }, dir.path());
    let run = start(settings).await;
    for r in 0..6 {
        let fail = r % 2 == 1;
        let id = gateway_id(0, r);
        match (fail, bounded(&run.invoker, fail, &id).await) {
            (true, Err(InvokeError::FunctionError { error_type, .. })) => assert_eq!(error_type, "Exception"),
            (false, Ok(out)) => assert_eq!(serde_json::from_slice::<Value>(&out).unwrap()["id"], id),
            (_, other) => panic!("invocation {id} (fail: {fail}) ended with {other:?}"),
        }
    }
    run.functions.shutdown().await;
}

/// A minimal runtime client that percent-encodes the id it echoes (as a careful client may) and
/// returns the id it was given.
const ENCODING_CLIENT: &str = r#"
import http from 'node:http';
const api = process.env.AWS_LAMBDA_RUNTIME_API;
const sep = api.lastIndexOf(':');
const call = (method, path, body) => new Promise((resolve, reject) => {
  const req = http.request({ host: api.slice(0, sep), port: Number(api.slice(sep + 1)), method, path: '/2018-06-01/runtime' + path }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
  });
  req.on('error', reject);
  req.end(body);
});
for (;;) {
  const next = await call('GET', '/invocation/next');
  const id = next.headers['lambda-runtime-aws-request-id'];
  await call('POST', `/invocation/${encodeURIComponent(id)}/response`, JSON.stringify({ id }));
}
"#;

#[tokio::test]
async fn a_client_that_percent_encodes_the_id_is_understood() {
    let dir = dir_with(&[("client.mjs", ENCODING_CLIENT)]);
    let command = vec!["node".to_owned(), "client.mjs".to_owned()];
    let mut settings = FunctionSettings::new("enc", FunctionKind::Provided { command }, dir.path());
    settings.timeout = Duration::from_secs(10);
    let run = start(settings).await;
    for id in ["dGM90RIFmf/GGDg=", "5l+7vUyEm2/cvwM=", "plain-uuid-like-0001"] {
        let out = bounded(&run.invoker, false, id).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap()["id"], id);
    }
    run.functions.shutdown().await;
}

#[tokio::test]
async fn ids_a_url_path_cannot_carry_reach_the_handler_percent_encoded_and_still_end() {
    let dir = dir_with(&[("m.mjs", MIXED)]);
    let run = start(node(&dir, "m.handler")).await;
    let out = bounded(&run.invoker, false, "a?b #c").await.expect("ends");
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap()["id"], "a%3Fb%20%23c");
    assert!(matches!(bounded(&run.invoker, true, "é?").await, Err(InvokeError::FunctionError { .. })));
    run.functions.shutdown().await;
}

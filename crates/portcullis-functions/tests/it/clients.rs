//! Unmodified real runtime clients against the emulator: a binary built with the
//! `lambda_runtime` crate (the `portcullis-testfn` fixture crate), Python's `awslambdaric` and
//! Node's `aws-lambda-ric`. The last two are installed by the test setup
//! (`pip install awslambdaric`; `npm install --prefix tests/fixtures/node-ric`); without them
//! these tests skip with a message, unless `PORTCULLIS_REQUIRE_RUNTIME_CLIENTS` is set.

use std::path::PathBuf;

use portcullis_functions::InvokeError;
use serde_json::json;

use super::*;

/// Builds the fixture crate with the same cargo and target dir as this test run.
fn build_testfn() -> PathBuf {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "portcullis-testfn", "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building portcullis-testfn failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "portcullis-testfn")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("an executable for portcullis-testfn")
}

#[tokio::test]
async fn a_function_built_with_lambda_runtime_runs_unmodified() {
    let exe = build_testfn();
    let dir = dir_with(&[]);
    let mut settings = FunctionSettings::new(
        "native",
        FunctionKind::Provided { command: vec![exe.to_string_lossy().into_owned()] },
        dir.path(),
    );
    settings.timeout = Duration::from_secs(5);
    let run = start(settings).await;
    let out = invoke_json(&run.invoker, json!({"a": 1}), "rust-1").await;
    assert_eq!(out["event"], json!({"a": 1}));
    assert_eq!(out["request_id"], "rust-1");
    assert_eq!(out["arn"], "arn:aws:lambda:us-east-1:123456789012:function:native");
    assert_eq!(out["function_name"], "native");
    assert!(out["deadline"].as_u64().unwrap() > 1_600_000_000_000);
    match run.invoker.invoke(Bytes::from_static(br#"{"fail":true}"#), "rust-2").await {
        Err(InvokeError::FunctionError { body, .. }) => {
            let doc: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc["errorMessage"], "asked to fail");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    let again = invoke_json(&run.invoker, json!({}), "rust-3").await;
    assert_eq!(again["pid"], out["pid"], "warm after a handled error");
    let (tcp, local) = run.invoker.runtime_api_connections();
    assert!(
        tcp >= 1 && local == 0,
        "other runtime clients use AWS_LAMBDA_RUNTIME_API: {tcp} tcp, {local} local"
    );
    run.functions.shutdown().await;
}

fn skip_or_fail(what: &str) {
    assert!(!clients_required(), "{what} is required (PORTCULLIS_REQUIRE_RUNTIME_CLIENTS) but missing");
    eprintln!("SKIPPED: {what} is not installed");
}

#[tokio::test]
async fn python_awslambdaric_runs_unmodified() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        return skip_or_fail("awslambdaric (pip install awslambdaric)");
    }
    let dir = dir_with(&[(
        "app.py",
        "def handler(event, context):\n    if event.get('fail'):\n        raise KeyError('missing')\n    return {'echo': event, 'id': context.aws_request_id, 'name': context.function_name}\n",
    )]);
    let command = ["python3", "-m", "awslambdaric", "app.handler"].map(String::from).to_vec();
    let mut settings = FunctionSettings::new("ric", FunctionKind::Provided { command }, dir.path());
    settings.timeout = Duration::from_secs(5);
    let run = start(settings).await;
    let out = invoke_json(&run.invoker, json!({"x": [1]}), "py-ric-1").await;
    assert_eq!(out, json!({"echo": {"x": [1]}, "id": "py-ric-1", "name": "ric"}));
    match run.invoker.invoke(Bytes::from_static(br#"{"fail":true}"#), "py-ric-2").await {
        Err(InvokeError::FunctionError { error_type, .. }) => {
            assert!(error_type.contains("KeyError"), "{error_type}")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    run.functions.shutdown().await;
}

#[tokio::test]
async fn node_aws_lambda_ric_runs_unmodified() {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/node-ric/node_modules/.bin/aws-lambda-ric");
    if !bin.exists() {
        return skip_or_fail("aws-lambda-ric (npm install --prefix tests/fixtures/node-ric)");
    }
    let dir = dir_with(&[(
        "index.js",
        "exports.handler = async (event, context) => { if (event.fail) throw new RangeError('nope'); return { echo: event, id: context.awsRequestId }; };",
    )]);
    let command = vec![bin.to_string_lossy().into_owned(), "index.handler".to_owned()];
    let mut settings = FunctionSettings::new("noderic", FunctionKind::Provided { command }, dir.path());
    settings.timeout = Duration::from_secs(5);
    let run = start(settings).await;
    let out = invoke_json(&run.invoker, json!({"y": true}), "node-ric-1").await;
    assert_eq!(out, json!({"echo": {"y": true}, "id": "node-ric-1"}));
    match run.invoker.invoke(Bytes::from_static(br#"{"fail":true}"#), "node-ric-2").await {
        Err(InvokeError::FunctionError { error_type, .. }) => {
            assert!(error_type.contains("RangeError"), "{error_type}")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    run.functions.shutdown().await;
}

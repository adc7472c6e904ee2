use serde_json::json;

use super::*;

#[tokio::test]
async fn python_handler_gets_the_event_context_and_environment() {
    let dir = dir_with(&[
        (
            "app.py",
            "import os\ncount = 0\ndef handler(event, context):\n    global count\n    count += 1\n    print('handling', context.aws_request_id)\n    return {'event': event, 'count': count, 'pid': os.getpid(), 'id': context.aws_request_id,\n            'name': context.function_name, 'arn': context.invoked_function_arn,\n            'remaining': context.get_remaining_time_in_millis(), 'handler': os.environ['_HANDLER'],\n            'local': os.environ.get('PORTCULLIS_RUNTIME_API_LOCAL'),\n            'tz': os.environ['TZ'], 'root': os.environ['LAMBDA_TASK_ROOT']}\n",
        ),
        ("pkg/mod.py", "def fn(event, context):\n    return 'nested ' + event['x']\n"),
    ]);
    let mut settings =
        FunctionSettings::new("report", FunctionKind::Python { handler: "app.handler".into() }, dir.path());
    settings.timeout = Duration::from_secs(5);
    let run = start(settings.clone()).await;
    let first = invoke_json(&run.invoker, json!({"a": [1, 2]}), "py-1").await;
    assert_eq!(first["event"], json!({"a": [1, 2]}));
    assert_eq!(first["id"], "py-1");
    assert_eq!(first["name"], "report");
    assert_eq!(first["arn"], "arn:aws:lambda:us-east-1:123456789012:function:report");
    assert_eq!(first["handler"], "app.handler");
    assert_eq!(first["local"], serde_json::Value::Null, "the bootstrap's own variable, removed");
    assert_eq!(first["tz"], ":UTC");
    assert_eq!(first["root"], dir.path().to_str().unwrap());
    assert!(first["remaining"].as_u64().unwrap() > 3_000);
    let second = invoke_json(&run.invoker, json!({}), "py-2").await;
    assert_eq!(second["count"], 2);
    assert_eq!(second["pid"], first["pid"]);
    assert_eq!(run.invoker.runtime_api_connections(), (0, 1), "over the private Unix socket");
    run.functions.shutdown().await;

    settings.kind = FunctionKind::Python { handler: "pkg/mod.fn".into() };
    let run = start(settings).await;
    assert_eq!(invoke_json(&run.invoker, json!({"x": "ok"}), "py-3").await, json!("nested ok"));
    run.functions.shutdown().await;
}

#[tokio::test]
async fn python_handler_exception_is_a_function_error() {
    let dir = dir_with(&[("app.py", "def handler(event, context):\n    raise ValueError('bad input')\n")]);
    let settings =
        FunctionSettings::new("p", FunctionKind::Python { handler: "app.handler".into() }, dir.path());
    let run = start(settings).await;
    match run.invoker.invoke(Bytes::from_static(b"{}"), "e").await {
        Err(portcullis_functions::InvokeError::FunctionError { error_type, body }) => {
            assert_eq!(error_type, "ValueError");
            let doc: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc["errorMessage"], "bad input");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    run.functions.shutdown().await;
}

/// As in Node: the trace header is per invocation in `os.environ`, and never putenv(3)'d (glibc
/// keeps every value ever set, so that leaked per invocation).
#[tokio::test]
async fn python_trace_id_is_per_invocation_in_os_environ_and_not_in_the_c_environment() {
    let dir = dir_with(&[(
        "app.py",
        r#"import ctypes, os
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
def handler(event, context):
    os.environ['SET_BY_HANDLER'] = '42'
    return {'t': os.environ.get('_X_AMZN_TRACE_ID'), 'has': '_X_AMZN_TRACE_ID' in os.environ,
            'native': libc.getenv(b'_X_AMZN_TRACE_ID'), 'native_set': libc.getenv(b'SET_BY_HANDLER').decode()}
"#,
    )]);
    let settings =
        FunctionSettings::new("py", FunctionKind::Python { handler: "app.handler".into() }, dir.path());
    let run = start(settings).await;
    let mut seen = Vec::new();
    for id in ["p-1", "p-2"] {
        let r = invoke_json(&run.invoker, json!({}), id).await;
        let t = r["t"].as_str().unwrap().to_owned();
        assert!(t.starts_with("Root=1-") && t.ends_with(";Sampled=0"), "{t}");
        assert_eq!(r["has"], true);
        assert_eq!(r["native"], serde_json::Value::Null, "never putenv(3)");
        assert_eq!(r["native_set"], "42", "other writes still reach the C environment");
        seen.push(t);
    }
    assert_ne!(seen[0], seen[1]);
    run.functions.shutdown().await;
}

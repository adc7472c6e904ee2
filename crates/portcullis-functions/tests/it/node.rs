use serde_json::json;

use super::*;

const ENV_KEYS: &str = r#"["AWS_LAMBDA_RUNTIME_API","_HANDLER","AWS_LAMBDA_FUNCTION_NAME","AWS_LAMBDA_FUNCTION_VERSION","AWS_LAMBDA_FUNCTION_MEMORY_SIZE","AWS_REGION","AWS_DEFAULT_REGION","LAMBDA_TASK_ROOT","TZ","AWS_LAMBDA_LOG_GROUP_NAME","AWS_LAMBDA_LOG_STREAM_NAME","TABLE","_X_AMZN_TRACE_ID","CARGO_MANIFEST_DIR","PORTCULLIS_RUNTIME_API_LOCAL"]"#;

#[tokio::test]
async fn esm_handler_gets_the_event_context_and_lambda_environment() {
    let handler = format!(
        r#"let count = 0;
export const handler = async (event, context) => {{
  count += 1;
  const env = Object.fromEntries({ENV_KEYS}.map((k) => [k, process.env[k] ?? null]));
  return {{ event, count, pid: process.pid, env,
    ctx: {{ name: context.functionName, id: context.awsRequestId, arn: context.invokedFunctionArn,
            memory: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis() }} }};
}};"#
    );
    let dir = dir_with(&[("src/app.mjs", &handler)]);
    let mut settings = node(&dir, "src/app.handler");
    settings.environment = vec![("TABLE".into(), "orders".into())];
    // The gateway's own environment does not leak: cargo sets CARGO_MANIFEST_DIR for this test
    // process, but instances start from a clean environment.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let run = start(settings).await;
    let first = invoke_json(&run.invoker, json!({"hello": "world"}), "req-1").await;
    assert_eq!(first["event"], json!({"hello": "world"}));
    assert_eq!(first["ctx"]["name"], "fn");
    assert_eq!(first["ctx"]["id"], "req-1");
    assert_eq!(first["ctx"]["arn"], "arn:aws:lambda:us-east-1:123456789012:function:fn");
    assert_eq!(first["ctx"]["memory"], "128");
    let remaining = first["ctx"]["remaining"].as_u64().unwrap();
    assert!(remaining > 8_000 && remaining <= 10_000, "remaining {remaining}");
    let env = &first["env"];
    assert!(env["AWS_LAMBDA_RUNTIME_API"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(env["_HANDLER"], "src/app.handler");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "fn");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["LAMBDA_TASK_ROOT"], dir.path().to_str().unwrap());
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/fn");
    assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().unwrap().contains("[$LATEST]"));
    assert_eq!(env["TABLE"], "orders");
    assert!(env["_X_AMZN_TRACE_ID"].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(env["CARGO_MANIFEST_DIR"], serde_json::Value::Null);
    assert_eq!(env["PORTCULLIS_RUNTIME_API_LOCAL"], serde_json::Value::Null, "the bootstrap's own, removed");

    // Warm: the same process answers the second invocation, module state intact.
    let second = invoke_json(&run.invoker, json!({}), "req-2").await;
    assert_eq!(second["count"], 2);
    assert_eq!(second["pid"], first["pid"]);
    // Our bootstrap talks to the API over its private Unix socket, on one kept-alive connection.
    assert_eq!(run.invoker.runtime_api_connections(), (0, 1));
    run.functions.shutdown().await;
}

#[tokio::test]
async fn commonjs_callback_and_sync_handlers_work() {
    let dir = dir_with(&[
        (
            "cb.js",
            "exports.handler = function (event, context, callback) { setTimeout(() => callback(null, { via: 'callback', n: event.n }), 5); };",
        ),
        ("plain.cjs", "module.exports = { nested: { fn: (event) => ({ via: 'sync', n: event.n }) } };"),
    ]);
    let run = start(node(&dir, "cb.handler")).await;
    assert_eq!(invoke_json(&run.invoker, json!({"n": 1}), "a").await, json!({"via": "callback", "n": 1}));
    run.functions.shutdown().await;
    let run = start(node(&dir, "plain.nested.fn")).await;
    assert_eq!(invoke_json(&run.invoker, json!({"n": 2}), "b").await, json!({"via": "sync", "n": 2}));
    run.functions.shutdown().await;
}

#[tokio::test]
async fn js_files_in_a_module_package_load_as_esm() {
    let dir = dir_with(&[
        ("package.json", r#"{"type":"module"}"#),
        (
            "lib/index.js",
            "import os from 'node:os';\nexport async function go() { return typeof os.hostname(); }",
        ),
    ]);
    let run = start(node(&dir, "lib/index.go")).await;
    assert_eq!(invoke_json(&run.invoker, json!({}), "c").await, json!("string"));
    run.functions.shutdown().await;
}

/// The SST/Auth0 guide: `"GET /private": "src/private.main"`, the handler exactly as the article has it
/// (ESM syntax in a plain `.js` file, no package.json).
#[tokio::test]
async fn sst_guide_private_handler_runs_verbatim() {
    let handler = "export async function main(event) {\nreturn {\nstatusCode: 200,\nbody: `Hello ${event.requestContext.authorizer.jwt.claims.sub}!`,\n};\n}\n";
    let dir = dir_with(&[("src/private.js", handler)]);
    let run = start(node(&dir, "src/private.main")).await;
    let event = json!({
        "version": "2.0",
        "routeKey": "GET /private",
        "requestContext": {"authorizer": {"jwt": {"claims": {"sub": "auth0|60357a6d98e3e5006a9d74a3"}, "scopes": null}}}
    });
    assert_eq!(
        invoke_json(&run.invoker, event, "sst-guide").await,
        json!({"statusCode": 200, "body": "Hello auth0|60357a6d98e3e5006a9d74a3!"})
    );
    run.functions.shutdown().await;
}

/// `_X_AMZN_TRACE_ID` is the invocation's trace header wherever JavaScript looks (reads, `in`,
/// keys, spreads, child processes), changes per invocation, and is never written to the C
/// environment: glibc keeps every `setenv` value forever, so writing it leaked per invocation.
#[tokio::test]
async fn the_trace_id_is_per_invocation_everywhere_javascript_looks_and_not_in_the_c_environment() {
    let handler = r#"import { execFileSync } from 'node:child_process';
import { env as importedEnv } from 'node:process';
const { env: capturedEnv } = process;
export const handler = async () => {
  const t = process.env._X_AMZN_TRACE_ID;
  let getterRefused = false;
  try {
    Object.defineProperty(process.env, '_X_AMZN_TRACE_ID', { get: () => 'x', configurable: true, enumerable: true });
  } catch (e) {
    getterRefused = e.code === 'ERR_INVALID_OBJECT_DEFINE_PROPERTY';
  }
  process.env.SET_BY_HANDLER = 42;
  const child = execFileSync('/bin/sh', ['-c', 'printf "%s|%s" "$_X_AMZN_TRACE_ID" "$SET_BY_HANDLER"']).toString();
  const native = process.report.getReport().environmentVariables;
  return {
    t,
    has: '_X_AMZN_TRACE_ID' in process.env,
    keys: Object.keys(process.env).filter((k) => k === '_X_AMZN_TRACE_ID').length,
    spread: { ...process.env }._X_AMZN_TRACE_ID,
    json: JSON.parse(JSON.stringify(process.env))._X_AMZN_TRACE_ID,
    child,
    setType: typeof process.env.SET_BY_HANDLER,
    nativeTrace: native._X_AMZN_TRACE_ID ?? null,
    nativeSet: native.SET_BY_HANDLER ?? null,
    imported: importedEnv._X_AMZN_TRACE_ID,
    captured: capturedEnv._X_AMZN_TRACE_ID,
    getterRefused,
    after: process.env._X_AMZN_TRACE_ID,
  };
};"#;
    let dir = dir_with(&[("app.mjs", handler)]);
    let run = start(node(&dir, "app.handler")).await;
    let mut seen = Vec::new();
    for id in ["t-1", "t-2", "t-3"] {
        let r = invoke_json(&run.invoker, json!({}), id).await;
        let t = r["t"].as_str().unwrap().to_owned();
        assert!(t.starts_with("Root=1-") && t.contains(";Parent=") && t.ends_with(";Sampled=0"), "{t}");
        assert_eq!(r["has"], true);
        assert_eq!(r["keys"], 1, "listed once");
        assert_eq!(r["spread"], t.as_str());
        assert_eq!(r["json"], t.as_str());
        assert_eq!(
            r["child"],
            format!("{t}|42"),
            "a child process gets the trace id and handler-set variables"
        );
        assert_eq!(r["setType"], "string", "process.env still coerces values to strings");
        assert_eq!(r["nativeTrace"], serde_json::Value::Null, "never setenv(3)");
        assert_eq!(r["nativeSet"], "42", "other writes still reach the C environment");
        assert_eq!(r["imported"], t.as_str(), "import {{ env }} from 'node:process' sees it");
        assert_eq!(r["captured"], t.as_str(), "a module-level `const {{ env }} = process` sees it");
        assert_eq!(r["getterRefused"], true, "an accessor is refused with Node's own error");
        assert_eq!(r["after"], t.as_str(), "and changes nothing");
        seen.push(t);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "a new trace id per invocation: {seen:?}");
    run.functions.shutdown().await;
}

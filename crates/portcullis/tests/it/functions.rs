//! Lambda function integrations through the gateway: our Node bootstrap runs an unmodified
//! handler; the event it gets and the response mapping are AWS's
//! (docs/aws-compatibility.md#lambda-proxy-integration).

use http::Method;

use crate::harness::{Gw, TestClient};

const HANDLER: &str = r#"
export const main = async (event) => {
  return {
    statusCode: 201,
    headers: { "content-type": "application/json", "x-fn": "yes" },
    cookies: ["a=1; Path=/", "b=2"],
    body: JSON.stringify({
      routeKey: event.routeKey,
      rawPath: event.rawPath,
      id: event.pathParameters.id,
      q: event.queryStringParameters.q,
      method: event.requestContext.http.method,
      requestId: event.requestContext.requestId,
      body: event.body,
      version: event.version,
    }),
  };
};
"#;

const LEGACY: &str = r#"
exports.handler = async (event) => ({
  statusCode: 200,
  multiValueHeaders: { "x-multi": ["1", "2"] },
  body: JSON.stringify({ version: event.version, resource: event.resource, path: event.path, id: event.pathParameters.id }),
});
"#;

#[tokio::test]
async fn a_node_handler_gets_a_payload_2_event_and_its_answer_is_mapped() {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        panic!("node is required for function tests (scripts/test.sh installs it)");
    }
    let gw = Gw::start_with(
        "functions:\n  api:\n    runtime: nodejs\n    handler: src/app.main\n  legacy:\n    runtime: nodejs\n    handler: legacy.handler\n\
         routes:\n  POST /items/{id}: {function: api}\n  GET /old/{id}: {function: legacy, payload_format_version: \"1.0\"}\n",
        &[("src/app.mjs", HANDLER), ("legacy.js", LEGACY)],
        &[],
    );
    let client = TestClient::http1();
    let reply = client
        .send(Method::POST, &gw.url("/items/42?q=search"), &[("content-type", "text/plain")], "payload")
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.header("x-fn"), Some("yes"));
    let cookies: Vec<_> =
        reply.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
    let body = reply.json();
    assert_eq!(body["routeKey"], "POST /items/{id}");
    assert_eq!(body["rawPath"], "/items/42");
    assert_eq!(body["id"], "42");
    assert_eq!(body["q"], "search");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], "payload");
    assert_eq!(body["version"], "2.0");
    assert_eq!(body["requestId"], reply.header("apigw-requestid").unwrap());

    let old = client.get(&gw.url("/old/7")).await;
    assert_eq!(old.status, 200, "{}", old.text());
    let values: Vec<_> =
        old.headers.get_all("x-multi").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(values, ["1", "2"]);
    let body = old.json();
    assert_eq!(body["version"], "1.0");
    assert_eq!(body["resource"], "/old/{id}");
    assert_eq!(body["path"], "/old/7");
    assert_eq!(body["id"], "7");
}

const THROWS: &str = "export const handler = async () => {\n  throw new Error('kaboom');\n};\n";

#[tokio::test]
async fn a_throwing_handler_is_awss_500_and_its_error_is_shown() {
    let gw = Gw::start_with(
        "functions:\n  bad:\n    runtime: nodejs\n    handler: bad.handler\nroutes:\n  GET /bad: {function: bad}\n",
        &[("bad.mjs", THROWS)],
        &[],
    );
    let client = TestClient::http1();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let reply = client.get(&gw.url("/bad")).await;
        assert_eq!(reply.status, 500);
        assert_eq!(
            reply.text(),
            r#"{"message":"Internal Server Error"}"#,
            "nothing of the error leaks to clients"
        );
        ids.push(reply.header("apigw-requestid").unwrap().to_owned());
    }
    // One structured event per failure, with what the handler reported.
    let failures = || -> Vec<serde_json::Value> {
        gw.proc
            .stderr_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["error_type"] == "Error")
            .collect()
    };
    assert!(crate::harness::wait_until(std::time::Duration::from_secs(5), || failures().len() == 2).await);
    let failures = failures();
    assert_eq!(failures[0]["error_message"], "kaboom");
    assert_eq!(failures[0]["request_id"], ids[0].as_str());
    assert!(failures[0]["stack_trace"].as_str().unwrap().contains("bad.mjs:2"), "{}", failures[0]);
    assert!(failures[0]["message"].as_str().unwrap().contains("Error: kaboom"), "{}", failures[0]);
}

#[tokio::test]
async fn with_debug_headers_the_500_carries_the_handlers_report() {
    let gw = Gw::start_with(
        "debug_headers: true\nfunctions:\n  bad:\n    runtime: nodejs\n    handler: bad.handler\nroutes:\n  GET /bad: {function: bad}\n",
        &[("bad.mjs", THROWS)],
        &[],
    );
    let reply = TestClient::http1().get(&gw.url("/bad")).await;
    assert_eq!(reply.status, 500);
    let body = reply.json();
    assert_eq!(body["message"], "Internal Server Error");
    assert_eq!(body["errorType"], "Error");
    assert_eq!(body["errorMessage"], "kaboom");
    assert!(
        body["stackTrace"].as_array().unwrap().iter().any(|f| f.as_str().unwrap().contains("bad.mjs:2")),
        "{body}"
    );
}

#[test]
fn invoke_runs_a_function_once_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::write(
        dir.path(),
        "portcullis.yaml",
        "functions:\n  echo:\n    runtime: nodejs\n    handler: echo.handler\n",
    );
    crate::harness::write(
        dir.path(),
        "echo.mjs",
        "export const handler = async (event) => ({ got: event.name });\n",
    );
    crate::harness::write(dir.path(), "event.json", r#"{"name":"portcullis"}"#);
    let out = std::process::Command::new(crate::harness::exe())
        .args(["invoke", "echo", "--event", "event.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["got"], "portcullis");
    let missing = std::process::Command::new(crate::harness::exe())
        .args(["invoke", "nope"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("no function `nope`") && said.contains("; defined: echo"), "{said}");
}

#[test]
fn invoke_shows_what_a_failing_handler_reported() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::write(
        dir.path(),
        "portcullis.yaml",
        "functions:\n  bad: {runtime: nodejs, handler: bad.handler}\n  broken: {runtime: python, handler: app.handler}\n",
    );
    crate::harness::write(dir.path(), "bad.mjs", THROWS);
    crate::harness::write(
        dir.path(),
        "app.py",
        "import json\nimport not_a_module_anywhere\n\ndef handler(event, context):\n    return {}\n",
    );
    let run = |name: &str| {
        let out = std::process::Command::new(crate::harness::exe())
            .args(["invoke", name])
            .current_dir(dir.path())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, text) = run("bad");
    assert_eq!(code, Some(1));
    assert!(text.contains("the function failed: Error: kaboom"), "{text}");
    assert!(text.contains("bad.mjs:2"), "the trace is shown: {text}");
    // A Python import error names the file and line of the import.
    let (code, text) = run("broken");
    assert_eq!(code, Some(1));
    assert!(text.contains("Runtime.ImportModuleError: Unable to import module 'app': No module named 'not_a_module_anywhere'"), "{text}");
    assert!(text.contains("app.py\", line 2"), "{text}");
}

#[tokio::test]
async fn a_provided_function_gets_its_handler_as_underscore_handler() {
    // A `provided` runtime written in shell: the Runtime API loop with curl-free bash /dev/tcp
    // would be fragile, so use Python's standard library as "any executable".
    let program = r#"
import json, os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps({"statusCode": 200, "body": os.environ.get("_HANDLER", "-")}).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/response", data=body, method="POST"))
"#;
    let gw = Gw::start_with(
        "functions:\n  raw:\n    runtime: provided\n    command: [python3, bootstrap.py]\n    handler: my.handler\nroutes:\n  GET /raw: {function: raw}\n",
        &[("bootstrap.py", program)],
        &[],
    );
    let reply = TestClient::http1().get(&gw.url("/raw")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "my.handler");
}

const SLOW: &str = "export const handler = async () => {\n  await new Promise((r) => setTimeout(r, 3000));\n  return { statusCode: 200, body: 'late' };\n};\n";

#[tokio::test]
async fn the_functions_own_timeout_is_500_and_the_routes_is_503() {
    let gw = Gw::start_with(
        "functions:\n  short: {runtime: nodejs, handler: slow.handler, timeout: 1s}\n  long: {runtime: nodejs, handler: slow.handler, timeout: 30s}\n\
         routes:\n  GET /function-timeout: {function: short}\n  GET /route-timeout: {function: long, timeout: 1s}\n",
        &[("slow.mjs", SLOW)],
        &[],
    );
    let client = TestClient::http1();
    let started = std::time::Instant::now();
    let own = client.get(&gw.url("/function-timeout")).await;
    assert_eq!(own.status, 500, "{}", own.text());
    assert_eq!(own.text(), r#"{"message":"Internal Server Error"}"#);
    assert_eq!(own.header("content-type"), None, "AWS's gateway errors carry no content-type");
    assert!(started.elapsed() < std::time::Duration::from_millis(2800), "{:?}", started.elapsed());

    let started = std::time::Instant::now();
    let route = client.get(&gw.url("/route-timeout")).await;
    assert_eq!(route.status, 503, "{}", route.text());
    assert_eq!(route.text(), r#"{"message":"Service Unavailable"}"#);
    assert!(started.elapsed() < std::time::Duration::from_millis(2800), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_functions_output_is_logged_under_its_name_and_request_id() {
    let handler = "export const handler = async () => {\n  console.log('hello from f');\n  console.error('oops from f');\n  return { statusCode: 200, body: 'ok' };\n};\n";
    for format in ["json", "pretty"] {
        let dir = tempfile::tempdir().unwrap();
        crate::harness::write(dir.path(), "f.mjs", handler);
        crate::harness::write(
            dir.path(),
            "portcullis.yaml",
            "functions:\n  greeter: {runtime: nodejs, handler: f.handler}\nroutes:\n  GET /f: {function: greeter}\n",
        );
        let gw = crate::harness::SpawnedGateway::spawn_as_is(
            crate::harness::exe(),
            &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-format", format],
            dir.path(),
        );
        let reply = TestClient::http1().get(&format!("{}/f", gw.url())).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let id = reply.header("apigw-requestid").unwrap().to_owned();
        let printed = |needle: &str| gw.stderr_lines().into_iter().find(|l| l.contains(needle));
        assert!(
            crate::harness::wait_until(std::time::Duration::from_secs(5), || printed("oops from f")
                .is_some()
                && printed("hello from f").is_some())
            .await,
            "{}",
            gw.stderr_lines().join("\n")
        );
        let out = printed("hello from f").unwrap();
        let err = printed("oops from f").unwrap();
        if format == "json" {
            let line: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(line["function"], "greeter", "{out}");
            assert_eq!(line["request_id"], id.as_str(), "{out}");
            assert_eq!(line["stream"], "stdout", "{out}");
            let line: serde_json::Value = serde_json::from_str(&err).unwrap();
            assert_eq!(line["stream"], "stderr", "{err}");
        } else {
            // SAM CLI's shape: the function, the request id, then what it printed.
            assert!(out.contains(&format!("greeter {id} | ")) && out.ends_with("hello from f"), "{out}");
            assert!(err.contains(&format!("greeter {id} ! ")), "{err}");
        }
    }
}

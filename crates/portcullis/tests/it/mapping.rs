//! Request parameter mapping (docs/aws-compatibility.md#request-parameter-mapping) end to end: what
//! the upstream (or the Lambda handler) receives after `parameter_mapping`, with real tokens from
//! the development issuer, and bad mappings refused by `portcullis check` with file:line:column.

use std::process::Command;

use http::Method;

use crate::harness::{Behavior, Gw, RecordingUpstream, TestClient, exe, mint, write};

fn config(upstream: &str) -> String {
    format!(
        "stage: prod\nauthorizers:\n  dev: {{type: jwt, issuer: dev, audience: [api]}}\nroutes:\n\
         \x20 GET /orders/{{id}}:\n    http: {upstream}/orders/{{id}}\n    authorizer: dev\n    parameter_mapping:\n\
         \x20     overwrite:header.x-user: $context.authorizer.claims.sub\n\
         \x20     overwrite:header.x-tenant: $context.authorizer.claims.tenant\n\
         \x20     append:header.x-trace: ${{context.requestId}}-${{request.path.id}}\n\
         \x20     overwrite:header.x-stage: $context.stage\n\
         \x20     overwrite:querystring.user: $context.authorizer.claims.sub\n\
         \x20     remove:querystring.debug: \"''\"\n\
         \x20     remove:header.x-debug: \"''\"\n\
         \x20     overwrite:path: /v2/orders/$request.path.id\n"
    )
}

#[tokio::test]
async fn the_upstream_receives_exactly_the_mapped_request() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&config(&up.url()));
    let client = TestClient::http1();
    let alice = mint(gw.dir.path(), &["--sub", "alice", "--aud", "api", "--claim", "tenant=\"acme\""]);

    let reply = client
        .send(
            Method::GET,
            &gw.url("/prod/orders/a%20b?user=mallory&debug=1&keep=yes"),
            &[
                ("authorization", &format!("Bearer {alice}")),
                ("x-user", "mallory"),
                ("x-tenant", "evil"),
                ("x-trace", "client"),
                ("x-debug", "1"),
            ],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let request_id = reply.header("apigw-requestid").unwrap().to_owned();
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.uri.path(), "/v2/orders/a%20b", "overwrite:path keeps the raw path value");
    assert_eq!(got.uri.query(), Some("keep=yes&user=alice"));
    let all = |name: &str| -> Vec<String> {
        got.headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    };
    assert_eq!(all("x-user"), ["alice"], "the client's copy is overwritten");
    assert_eq!(all("x-tenant"), ["acme"]);
    assert_eq!(all("x-trace"), ["client".to_owned(), format!("{request_id}-a b")], "append adds a line");
    assert_eq!(all("x-stage"), ["prod"]);
    assert!(all("x-debug").is_empty(), "removed");

    // A token without the `tenant` claim: that mapping is skipped, and the client's spoofed
    // copy does not survive an `overwrite`.
    let bob = mint(gw.dir.path(), &["--sub", "bob", "--aud", "api"]);
    let reply = client
        .send(
            Method::GET,
            &gw.url("/prod/orders/7"),
            &[("authorization", &format!("Bearer {bob}")), ("x-tenant", "evil")],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = up.requests();
    let got = seen.last().unwrap();
    assert!(got.headers.get("x-tenant").is_none(), "{:?}", got.headers);
    assert_eq!(got.headers["x-user"], "bob");
    assert_eq!(got.uri.to_string(), "/v2/orders/7?user=bob");

    // Unauthenticated requests never reach the mapping or the upstream.
    assert_eq!(client.get(&gw.url("/prod/orders/7")).await.status, 401);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn body_values_are_mapped_and_the_body_still_reaches_the_upstream() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let gw = Gw::start(&format!(
        "limits: {{max_body: 1KB}}\nroutes:\n  POST /orders:\n    http: {}/orders\n    parameter_mapping:\n\
         \x20     overwrite:header.x-order: $request.body.order.items[1].id\n\
         \x20     overwrite:querystring.kind: $request.body.kind\n",
        up.url()
    ));
    let client = TestClient::http1();
    let body = r#"{"kind":"rush order","order":{"items":[{"id":1},{"id":"b-2"}]}}"#;
    let reply =
        client.send(Method::POST, &gw.url("/orders"), &[("content-type", "application/json")], body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = up.requests();
    assert_eq!(seen[0].headers["x-order"], "b-2");
    assert_eq!(seen[0].uri.query(), Some("kind=rush%20order"));
    assert_eq!(seen[0].body, body.as_bytes(), "the body is forwarded unchanged");

    // Not JSON: the entries are skipped, the request still goes through.
    let reply = client.send(Method::POST, &gw.url("/orders"), &[], "plain text").await;
    assert_eq!(reply.status, 200);
    assert!(up.requests()[1].headers.get("x-order").is_none());

    // A body over `max_body` is still 413 (the mapping reads the body through the same limit;
    // its own 413 path is a unit test in portcullis-pipeline).
    let reply = client.send(Method::POST, &gw.url("/orders"), &[], "x".repeat(2000)).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn a_lambda_handler_sees_mapped_headers_and_query_in_its_event() {
    let handler = "export async function main(event) {\n  return {\n    statusCode: 200,\n    body: JSON.stringify({tenant: event.headers['x-tenant'], query: event.rawQueryString, q: event.queryStringParameters}),\n  };\n}\n";
    let gw = Gw::start_with(
        "functions:\n  f:\n    runtime: nodejs\n    handler: src/f.main\nroutes:\n  GET /f:\n    function: f\n    parameter_mapping:\n\
         \x20     overwrite:header.x-tenant: static-$request.header.x-src\n      append:querystring.tag: $context.httpMethod\n",
        &[("src/f.js", handler)],
        &[],
    );
    let reply = TestClient::http1()
        .send(Method::GET, &gw.url("/f?tag=a"), &[("x-src", "s1"), ("x-tenant", "evil")], "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["tenant"], "static-s1");
    assert_eq!(body["query"], "tag=a&tag=GET");
    assert_eq!(body["q"]["tag"], "a,GET");
}

#[test]
fn bad_mappings_fail_check_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "gateway.yaml",
        "routes:\n  GET /a:\n    http: http://127.0.0.1:3000/a\n    parameter_mapping:\n\
         \x20     overwrite:header.x-a: x-$context.requestid\n\
         \x20     overwrite:header.x-b: $stageVariables.env\n\
         \x20     overwrite:header.authorization: x\n\
         \x20     overwrite:header.x-c: \"${request.body.name}\"\n",
    );
    let out = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Load-time problems (reserved header) are reported by the loader, which stops there.
    assert!(
        stderr.contains("gateway.yaml:7:7: routes.\"GET /a\".parameter_mapping.\"overwrite:header.authorization\": header \"authorization\" is reserved"),
        "{stderr}"
    );

    // Without it, the value grammar is compiled: each error points into the value.
    let path = write(
        dir.path(),
        "gateway.yaml",
        "routes:\n  GET /a:\n    http: http://127.0.0.1:3000/a\n    parameter_mapping:\n\
         \x20     overwrite:header.x-a: x-$context.requestid\n\
         \x20 GET /b:\n    http: http://127.0.0.1:3000/b\n    parameter_mapping: {overwrite:header.x-b: $stageVariables.env}\n\
         \x20 GET /c:\n    http: http://127.0.0.1:3000/c\n    parameter_mapping: {overwrite:header.x-c: \"${request.body..name}\"}\n",
    );
    let out = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "gateway.yaml:5:32: routes.\"GET /a\".parameter_mapping.\"overwrite:header.x-a\": invalid mapping value: unknown context variable `$context.requestid`\n  help: did you mean `$context.requestId`?",
        "gateway.yaml:8:48: routes.\"GET /b\".parameter_mapping.\"overwrite:header.x-b\": invalid mapping value: stage variable \"env\" is not defined",
        "gateway.yaml:11:50: routes.\"GET /c\".parameter_mapping.\"overwrite:header.x-c\": invalid mapping value: `$request.body..name`: recursive descent (`..`) is not supported (as on AWS)",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

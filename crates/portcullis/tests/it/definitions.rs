//! Definitions a user already has, served as they are: a SAM template, an OpenAPI document and
//! a serverless.yml behind `serve --sam/--openapi/--serverless` with an overlay; and the
//! commands around them (`import`, `check`, `routes`, `event`, `init`, `token`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use http::Method;

use crate::harness::{Behavior, RecordingUpstream, SpawnedGateway, TestClient, exe, wait_until, write};

/// A SAM template as the SST/Auth0 guide's users write it: a JWT authorizer on every route by
/// default, one public route, Node handlers from `CodeUri` with no build step.
const TEMPLATE: &str = "AWSTemplateFormatVersion: \"2010-09-09\"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
    CodeUri: ./
    Timeout: 10
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: $default
      Auth:
        DefaultAuthorizer: Auth0Authorizer
        Authorizers:
          Auth0Authorizer:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: https://example.us.auth0.com/
              audience: [my-api]
  PrivateFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: src/private.main
      Events:
        GetPrivate:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /private, Method: GET}
  PublicFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: src/public.main
      Events:
        GetPublic:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /public, Method: get, Auth: {Authorizer: NONE}}
";

const PRIVATE: &str = "export const main = async (event) => ({ statusCode: 200, body: `Hello ${event.requestContext.authorizer.jwt.claims.sub}!` });\n";
const PUBLIC: &str = "export const main = async () => ({ statusCode: 200, body: 'Hello stranger!' });\n";
/// Where the template's issuer cannot be reached from a laptop: the overlay puts the built-in
/// development issuer in its place.
const OVERLAY: &str = "authorizers:\n  Auth0Authorizer:\n    issuer: dev\n";

fn sam_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "template.yaml", TEMPLATE);
    write(dir.path(), "overlay.yaml", OVERLAY);
    write(dir.path(), "src/private.mjs", PRIVATE);
    write(dir.path(), "src/public.mjs", PUBLIC);
    dir
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(exe()).args(args).current_dir(dir).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn serve(dir: &Path, args: &[&str]) -> SpawnedGateway {
    let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"];
    all.extend_from_slice(args);
    SpawnedGateway::spawn(exe(), &all, dir)
}

#[tokio::test]
async fn a_sam_template_is_served_as_it_is_with_real_jwt_checks() {
    let dir = sam_project();
    let gw = serve(dir.path(), &["--sam", "template.yaml", "--config", "overlay.yaml"]);
    let client = TestClient::http1();
    let url = |p: &str| format!("{}{p}", gw.url());
    assert_eq!(client.get(&url("/public")).await.text(), "Hello stranger!");
    assert_eq!(client.get(&url("/private")).await.status, 401, "the default authorizer applies");
    let (code, token, stderr) = run(
        dir.path(),
        &["token", "--sam", "template.yaml", "--config", "overlay.yaml", "--sub", "alice", "--aud", "my-api"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let reply = client
        .send(Method::GET, &url("/private"), &[("authorization", &format!("Bearer {}", token.trim()))], "")
        .await;
    assert_eq!((reply.status.as_u16(), reply.text()), (200, "Hello alice!".to_owned()));

    // A reload reads the template again.
    write(dir.path(), "template.yaml", &TEMPLATE.replace("Path: /public", "Path: /open"));
    gw.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || gw
            .stderr_lines()
            .iter()
            .any(|l| l.contains("configuration reloaded")))
        .await
    );
    assert_eq!(client.get(&url("/open")).await.text(), "Hello stranger!");
    assert_eq!(client.get(&url("/public")).await.status, 404);
}

#[test]
fn import_check_routes_and_event_read_the_same_definition() {
    let dir = sam_project();
    let (code, yaml, stderr) = run(dir.path(), &["import", "sam", "template.yaml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(yaml.contains("# from template.yaml:"), "{yaml}");
    write(dir.path(), "imported.yaml", &yaml);
    let (code, _, stderr) = run(dir.path(), &["check", "--config", "imported.yaml"]);
    assert_eq!(code, Some(0), "the import's output loads: {stderr}");

    let (code, out, stderr) =
        run(dir.path(), &["check", "--sam", "template.yaml", "--config", "overlay.yaml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(out.contains("template.yaml: OK (2 routes, 1 authorizers, 2 functions)"), "{out}");
    // The overlay's development issuer is no AWS issuer.
    let (code, _, stderr) =
        run(dir.path(), &["check", "--sam", "template.yaml", "--config", "overlay.yaml", "--compat", "aws"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("`issuer: dev` is not available with compat: aws"), "{stderr}");

    let (code, table, _) = run(dir.path(), &["routes", "--sam", "template.yaml", "--config", "overlay.yaml"]);
    assert_eq!(code, Some(0));
    assert!(
        table.lines().any(|l| l.contains("GET /private")
            && l.contains("Auth0Authorizer")
            && l.contains("function PrivateFunction")),
        "{table}"
    );
    assert!(table.lines().any(|l| l.contains("GET /public") && l.contains("public")), "{table}");

    let (code, event, stderr) = run(
        dir.path(),
        &["event", "http-2.0", "--sam", "template.yaml", "--config", "overlay.yaml", "--path", "/public?x=1"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["routeKey"], "GET /public");
    assert_eq!(event["queryStringParameters"]["x"], "1");
}

#[test]
fn what_a_definition_holds_that_portcullis_cannot_honour_is_named_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "api.yaml",
        "openapi: \"3.0.1\"\ninfo: {title: t, version: \"1\"}\npaths:\n  /private-link:\n    get:\n      x-amazon-apigateway-integration:\n        type: http_proxy\n        uri: http://10.0.0.1/x\n        connectionType: VPC_LINK\n        connectionId: abc\n  /ok:\n    get:\n      x-amazon-apigateway-integration: {type: http_proxy, uri: \"http://127.0.0.1:1/ok\"}\n",
    );
    let (code, yaml, stderr) = run(dir.path(), &["import", "openapi", "api.yaml"]);
    assert_eq!(code, Some(2), "an error needs an overlay");
    assert!(yaml.contains("GET /ok"), "the config is still printed: {yaml}");
    assert!(stderr.contains("api.yaml:9:25: error:") && stderr.contains("VPC link"), "{stderr}");
    // `serve` and `check` refuse it with the same message, never serving the route unprotected.
    let (code, _, stderr) = run(dir.path(), &["check", "--openapi", "api.yaml"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("api.yaml:9:25:") && stderr.contains("VPC link"), "{stderr}");
    let (code, _, stderr) = run(
        dir.path(),
        &["serve", "--openapi", "api.yaml", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    // An overlay that gives the route a reachable URL resolves it.
    write(dir.path(), "overlay.yaml", "routes:\n  GET /private-link:\n    http: http://127.0.0.1:1/x\n");
    let (code, _, stderr) = run(dir.path(), &["check", "--openapi", "api.yaml", "--config", "overlay.yaml"]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test]
async fn an_openapi_document_and_a_serverless_service_are_served() {
    let up = RecordingUpstream::start(Behavior::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "api.yaml",
        &format!(
            "openapi: \"3.0.1\"\ninfo: {{title: pets, version: \"1\"}}\nx-amazon-apigateway-cors:\n  allowOrigins: [\"https://app.example.com\"]\n  allowMethods: [GET]\n\
             paths:\n  /pets/{{id}}:\n    get:\n      x-amazon-apigateway-integration:\n        type: http_proxy\n        httpMethod: GET\n        uri: {}/pets/{{id}}\n        payloadFormatVersion: \"1.0\"\n",
            up.url()
        ),
    );
    let gw = serve(dir.path(), &["--openapi", "api.yaml"]);
    let client = TestClient::http1();
    let reply = client
        .send(Method::GET, &format!("{}/pets/7", gw.url()), &[("origin", "https://app.example.com")], "")
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(up.requests()[0].uri.path(), "/pets/7");
    drop(gw);

    write(
        dir.path(),
        "serverless.yml",
        "service: pets\nframeworkVersion: \"3\"\nprovider:\n  name: aws\n  runtime: nodejs20.x\n  stage: ${opt:stage, 'dev'}\n  environment:\n    GREETING: ${env:PORTCULLIS_TEST_GREETING, 'hi'}\n\
         functions:\n  hello:\n    handler: handler.hello\n    events:\n      - httpApi: 'GET /hello/{name}'\n",
    );
    write(
        dir.path(),
        "handler.mjs",
        "export const hello = async (event) => ({ statusCode: 200, body: `${process.env.GREETING} ${event.pathParameters.name} (${event.requestContext.stage})` });\n",
    );
    let gw = serve(dir.path(), &["--serverless", "serverless.yml"]);
    // A Serverless Framework `httpApi` is deployed on the `$default` stage: no prefix.
    let reply = client.get(&format!("{}/hello/bob", gw.url())).await;
    assert_eq!((reply.status.as_u16(), reply.text()), (200, "hi bob ($default)".to_owned()));
}

#[test]
fn init_writes_a_project_that_checks_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(dir.path(), &["init"]);
    assert_eq!(code, Some(0), "{stderr}");
    for file in ["portcullis.yaml", "handlers/hello.mjs", ".gitignore"] {
        assert!(stderr.contains(&format!("wrote {file}")), "{stderr}");
    }
    let (code, _, stderr) = run(dir.path(), &["check"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = run(dir.path(), &["init"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("portcullis.yaml already exists"), "{stderr}");

    let other = sam_project();
    let (code, _, stderr) = run(other.path(), &["init", "--from", "sam", "template.yaml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        std::fs::read_to_string(other.path().join("portcullis.yaml")).unwrap().contains("PrivateFunction")
    );
}

#[test]
fn export_writes_an_openapi_document_that_imports_back_to_the_same_routes() {
    let dir = sam_project();
    let (code, json, notes) = run(dir.path(), &["export", "openapi", "--sam", "template.yaml"]);
    assert_eq!(code, Some(0), "{notes}");
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["openapi"], "3.0.1");
    assert_eq!(document["x-amazon-apigateway-importexport-version"], "1.0");
    let private = &document["paths"]["/private"]["get"];
    assert_eq!(private["x-amazon-apigateway-integration"]["type"], "aws_proxy");
    assert_eq!(private["security"][0]["Auth0Authorizer"], serde_json::json!([]));
    assert!(document["paths"]["/public"]["get"].get("security").is_none());
    assert!(notes.contains("functions.PrivateFunction"), "functions live outside the document: {notes}");
    write(dir.path(), "api.json", &json);
    let (_, yaml, _) = run(dir.path(), &["import", "openapi", "api.json"]);
    assert!(yaml.contains("GET /private:") && yaml.contains("authorizer: Auth0Authorizer"), "{yaml}");
    let public = &yaml[yaml.find("GET /public:").expect("the public route")..];
    assert!(!public.contains("authorizer: Auth0Authorizer"), "still public: {yaml}");
    // The development issuer has no AWS equivalent: its routes are left out, and said so.
    let (_, json, notes) =
        run(dir.path(), &["export", "openapi", "--sam", "template.yaml", "--config", "overlay.yaml"]);
    assert!(notes.contains("authorizers.Auth0Authorizer"), "{notes}");
    assert!(!json.contains("/private"), "never exported unprotected");
}

/// Returns the event it got as its body; the authorizers write theirs to a file and allow.
const ECHO: &str =
    "export const handler = async (event) => ({ statusCode: 200, body: JSON.stringify(event) });\n";
const TOKEN_AUTHZ: &str = "import { writeFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  writeFileSync('seen-token.json', JSON.stringify(event));\n\
  return { principalId: 'p', policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }] } };\n\
};\n";
const REQUEST_AUTHZ: &str = "import { writeFileSync } from 'node:fs';\n\
export const handler = async (event) => {\n\
  writeFileSync('seen-request.json', JSON.stringify(event));\n\
  return { isAuthorized: true, context: { who: 'k' } };\n\
};\n";

/// What differs between two requests by nature (ids, times, the client's address, port and
/// user agent): left out of the comparison wherever it appears.
const VOLATILE: &[&str] = &[
    "requestId",
    "extendedRequestId",
    "time",
    "timeEpoch",
    "requestTime",
    "requestTimeEpoch",
    "sourceIp",
    "userAgent",
    "host",
    "user-agent",
    "x-forwarded-for",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-amzn-trace-id",
    "domainName",
];

fn without_volatile(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !VOLATILE.contains(&k.as_str()));
            for v in map.values_mut() {
                *v = without_volatile(v.take());
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                *v = without_volatile(v.take());
            }
        }
        _ => {}
    }
    value
}

#[tokio::test]
async fn portcullis_event_prints_the_event_the_gateway_sends() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "echo.mjs", ECHO);
    write(dir.path(), "token.mjs", TOKEN_AUTHZ);
    write(dir.path(), "request.mjs", REQUEST_AUTHZ);
    write(
        dir.path(),
        "portcullis.yaml",
        "stage_variables: {env: test}\n\
         functions:\n  echo: {runtime: nodejs, handler: echo.handler}\n  tok: {runtime: nodejs, handler: token.handler}\n  req: {runtime: nodejs, handler: request.handler}\n\
         authorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\n\
         \x20 tok: {type: lambda, function: tok, event: token, result_ttl: 0s}\n\
         \x20 req: {type: lambda, function: req, event: request, simple_responses: true, identity_source: [$request.header.x-key], result_ttl: 0s}\n\
         routes:\n  POST /items/{id}: {function: echo, authorizer: dev, scopes: [items:write]}\n\
         \x20 GET /old/{id}: {function: echo, authorizer: dev, payload_format_version: \"1.0\"}\n\
         \x20 GET /tok/{id}: {function: echo, authorizer: tok}\n\
         \x20 GET /req/{id}: {function: echo, authorizer: req}\n",
    );
    let (code, token, stderr) = run(
        dir.path(),
        &[
            "token",
            "--sub",
            "alice",
            "--aud",
            "api",
            "--scope",
            "items:write items:read",
            "--claim",
            "tier=gold",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let token = token.trim().to_owned();
    let bearer = format!("Bearer {token}");
    let gw = serve(dir.path(), &[]);
    let client = TestClient::http1();
    let url = |p: &str| format!("{}{p}", gw.url());
    let printed = |args: &[&str]| -> serde_json::Value {
        let (code, out, stderr) = run(dir.path(), &[&["event"], args].concat());
        assert_eq!(code, Some(0), "{stderr}");
        serde_json::from_str(&out).unwrap()
    };
    let same = |what: &str, served: serde_json::Value, printed: serde_json::Value| {
        let (served, printed) = (without_volatile(served), without_volatile(printed));
        assert_eq!(
            served,
            printed,
            "{what}:\nserved  {}\nprinted {}",
            serde_json::to_string_pretty(&served).unwrap(),
            serde_json::to_string_pretty(&printed).unwrap()
        );
    };

    // Payload 2.0, with a JWT's claims and scopes, a query string, a header and a body.
    let served = client
        .send(
            Method::POST,
            &url("/items/7?q=1&q=2&x=y"),
            &[("authorization", &bearer), ("content-type", "application/json"), ("x-custom", "v")],
            r#"{"a":1}"#,
        )
        .await;
    assert_eq!(served.status, 200, "{}", served.text());
    same(
        "http-2.0",
        served.json(),
        printed(&[
            "http-2.0",
            "--method",
            "POST",
            "--path",
            "/items/7?q=1&q=2&x=y",
            "--token",
            &token,
            "-H",
            "content-type: application/json",
            "-H",
            "x-custom: v",
            "--body",
            r#"{"a":1}"#,
        ]),
    );

    // Payload 1.0.
    let served = client.send(Method::GET, &url("/old/9?k=v"), &[("authorization", &bearer)], "").await;
    assert_eq!(served.status, 200, "{}", served.text());
    same("http-1.0", served.json(), printed(&["http-1.0", "--path", "/old/9?k=v", "--token", &token]));

    // The TOKEN authorizer's event.
    let served = client.send(Method::GET, &url("/tok/3"), &[("authorization", &bearer)], "").await;
    assert_eq!(served.status, 200, "{}", served.text());
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("seen-token.json")).unwrap()).unwrap();
    assert_eq!(seen["type"], "TOKEN");
    same("authorizer-token", seen, printed(&["authorizer-token", "--path", "/tok/3", "--token", &token]));

    // The REQUEST authorizer's event (payload 2.0).
    let served = client.send(Method::GET, &url("/req/4?z=1"), &[("x-key", "k1")], "").await;
    assert_eq!(served.status, 200, "{}", served.text());
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("seen-request.json")).unwrap())
            .unwrap();
    assert_eq!(seen["type"], "REQUEST");
    same(
        "authorizer-request",
        seen,
        printed(&["authorizer-request", "--path", "/req/4?z=1", "-H", "x-key: k1"]),
    );
}

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_core::{AuthContext, JwtContext, Params, RequestIdGenerator};
use portcullis_functions::{FunctionKind, FunctionSettings, Functions, FunctionsOptions};
use serde_json::{Value, json};

use super::*;

struct Fixture {
    functions: Functions,
    integration: FunctionIntegration,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn fixture(
    files: &[(&str, &str)],
    kind: FunctionKind,
    format: PayloadFormat,
    timeout: Duration,
) -> Fixture {
    let code = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = code.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let mut settings = FunctionSettings::new("private", kind, code.path());
    settings.timeout = timeout;
    let options = FunctionsOptions { state_dir: state.path().into(), ..Default::default() };
    let functions = Functions::start([settings], options).await.unwrap();
    let invoker = functions.invoker("private").unwrap();
    let integration = FunctionIntegration::new(
        invoker,
        FunctionIntegrationSettings { payload_format: format, ..Default::default() },
    );
    Fixture { functions, integration, _dirs: (code, state) }
}

fn ctx(route_key: &str, auth: AuthContext) -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: "127.0.0.1:40000".parse().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: route_key.into(),
        params: Params::default(),
        received_at: SystemTime::now(),
        auth,
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).header("host", "localhost").body(portcullis_core::empty()).unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The SST/Auth0 guide end to end below the pipeline: the article's `src/private.js`, verbatim, behind a
/// payload 2.0 integration with JWT claims in the context.
#[tokio::test]
async fn sst_guide_private_route_answers_with_the_callers_sub() {
    let handler = "export async function main(event) {\nreturn {\nstatusCode: 200,\nbody: `Hello ${event.requestContext.authorizer.jwt.claims.sub}!`,\n};\n}\n";
    let f = fixture(
        &[("src/private.js", handler)],
        FunctionKind::Node { handler: "src/private.main".into() },
        PayloadFormat::V2,
        Duration::from_secs(10),
    )
    .await;
    let claims = json!({"sub": "auth0|60357a6d98e3e5006a9d74a3", "iat": 1614140219});
    let auth =
        AuthContext::Jwt(JwtContext { claims: Arc::new(claims.as_object().unwrap().clone()), scopes: None });
    let call_ctx = ctx("GET /private", auth);
    let response = f.integration.call(get("/private"), &call_ctx).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text(response).await, "Hello auth0|60357a6d98e3e5006a9d74a3!");
    f.functions.shutdown().await;
}

#[tokio::test]
async fn payload_1_0_event_and_multi_value_response() {
    let handler = "exports.handler = async (event) => ({ statusCode: 201, multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] }, body: JSON.stringify({ version: event.version, q: event.multiValueQueryStringParameters.q, method: event.httpMethod }) });";
    let f = fixture(
        &[("h.js", handler)],
        FunctionKind::Node { handler: "h.handler".into() },
        PayloadFormat::V1,
        Duration::from_secs(10),
    )
    .await;
    let call_ctx = ctx("GET /legacy", AuthContext::None);
    let response = f.integration.call(get("/legacy?q=1&q=2"), &call_ctx).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
    let body: Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(body, json!({"version": "1.0", "q": ["1", "2"], "method": "GET"}));
    f.functions.shutdown().await;
}

#[tokio::test]
async fn failures_map_to_the_spec_answers() {
    let handler = "export const handler = async (e) => { if (e.rawPath === '/throw') throw new Error('x'); if (e.rawPath === '/bad') return { statusCode: 'nope' }; if (e.rawPath === '/slow') await new Promise((r) => setTimeout(r, 5000)); return 'ok'; };";
    let f = fixture(
        &[("h.mjs", handler)],
        FunctionKind::Node { handler: "h.handler".into() },
        PayloadFormat::V2,
        Duration::from_millis(700),
    )
    .await;
    let call_ctx = ctx("$default", AuthContext::None);
    let ok = f.integration.call(get("/"), &call_ctx).await.unwrap();
    assert_eq!(ok.headers()["content-type"], "application/json");
    assert_eq!(text(ok).await, "ok");
    match f.integration.call(get("/throw"), &call_ctx).await {
        Err(IntegrationError::FunctionFailed(failure)) => {
            assert_eq!((failure.error_type.as_str(), failure.message.as_str()), ("Error", "x"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.integration.call(get("/bad"), &call_ctx).await, Err(IntegrationError::Upstream(_))));
    // The function's own timeout (700 ms) is a function error, 500 on AWS ...
    assert!(matches!(
        f.integration.call(get("/slow"), &call_ctx).await,
        Err(IntegrationError::FunctionTimeout(_))
    ));
    // ... while the integration's (the route's `timeout`) is 503.
    let invoker = f.functions.invoker("private").unwrap();
    let short = FunctionIntegration::new(
        invoker,
        FunctionIntegrationSettings { timeout: Duration::from_millis(200), ..Default::default() },
    );
    assert!(matches!(short.call(get("/slow"), &call_ctx).await, Err(IntegrationError::Timeout(_))));
    let big = Request::post("/").body(portcullis_core::full(vec![b'a'; MAX_PAYLOAD_BYTES + 1])).unwrap();
    assert!(matches!(f.integration.call(big, &call_ctx).await, Err(IntegrationError::BodyTooLarge)));
    f.functions.shutdown().await;
}

/// One trace per request: the event's `x-amzn-trace-id` is the root of the function's
/// `_X_AMZN_TRACE_ID` (Lambda adds its own `Parent` and `Sampled`, which X-Ray SDKs need).
#[tokio::test]
async fn the_events_trace_header_is_the_root_of_the_functions_trace() {
    let handler = "import os\ndef handler(event, context):\n    return {'statusCode': 200, 'body': event['headers']['x-amzn-trace-id'] + ' ' + os.environ['_X_AMZN_TRACE_ID']}\n";
    let f = fixture(
        &[("app.py", handler)],
        FunctionKind::Python { handler: "app.handler".into() },
        PayloadFormat::V2,
        Duration::from_secs(10),
    )
    .await;
    let mut call_ctx = ctx("GET /t", AuthContext::None);
    call_ctx.trace_id = portcullis_core::TraceId::derive(call_ctx.request_id, call_ctx.received_at);
    let response = f.integration.call(get("/t"), &call_ctx).await.unwrap();
    let body = text(response).await;
    let (event_header, function_trace) = body.split_once(' ').unwrap();
    assert_eq!(event_header, call_ctx.trace_id.header());
    let (root, rest) = function_trace.split_once(";Parent=").unwrap_or_else(|| panic!("{function_trace}"));
    assert_eq!(root, event_header, "{function_trace}");
    assert!(rest.ends_with(";Sampled=0") && rest.len() == 16 + ";Sampled=0".len(), "{function_trace}");
    f.functions.shutdown().await;
}

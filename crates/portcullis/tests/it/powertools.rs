//! AWS Powertools for Lambda (Python), unmodified, behind the gateway: its
//! `APIGatewayHttpResolver` reads our payload 2.0 events as it reads AWS's
//! (docs/aws-compatibility.md#payload-20-request-event): path parameters from the decoded
//! `rawPath`, bodies through `isBase64Encoded`, cookies, headers and query parameters.

use http::Method;

use crate::harness::{Gw, TestClient};

/// A Powertools app whose routes answer with what the resolver read.
const APP: &str = r#"
import os
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/pets/<pet_id>")
def get_pet(pet_id):
    event = app.current_event
    return {
        "pet_id": pet_id,
        "path": event.path,
        "cookies": event.cookies,
        "query": event.query_string_parameters,
        "tag": event.get_header_value("X-Tag"),
        "trace": event.get_header_value("x-amzn-trace-id"),
        "function_trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "request_id": event.request_context.request_id,
    }


@app.post("/json")
def post_json():
    event = app.current_event
    return {"json": event.json_body, "base64": event.is_base64_encoded}


@app.post("/form")
def post_form():
    event = app.current_event
    return {"form": parse_qs(event.decoded_body), "base64": event.is_base64_encoded}


def handler(event, context):
    return app.resolve(event, context)
"#;

/// Whether Powertools is installed; without it the test is skipped loudly, unless
/// `PORTCULLIS_REQUIRE_INTEROP` asks for every interop peer.
fn powertools_available() -> bool {
    let installed = std::process::Command::new("python3")
        .args(["-c", "import aws_lambda_powertools.event_handler"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_none(),
            "aws-lambda-powertools is required (PORTCULLIS_REQUIRE_INTEROP) but missing (pip install -r tests/requirements.txt)"
        );
        eprintln!("SKIPPED: pip install -r tests/requirements.txt to run AWS Powertools for Lambda (Python)");
    }
    installed
}

#[tokio::test]
async fn powertools_http_resolver_reads_our_events_as_it_reads_awss() {
    if !powertools_available() {
        return;
    }
    let gw = Gw::start_with(
        "functions:\n  api:\n    runtime: python\n    handler: app.handler\n    timeout: 20s\n\
         routes:\n  ANY /{proxy+}: {function: api}\n",
        &[("app.py", APP)],
        &[],
    );
    let client = TestClient::http1();

    // An encoded path parameter, cookies, a repeated query parameter and a header.
    let reply = client
        .send(
            Method::GET,
            &gw.url("/pets/caf%C3%A9%20x?color=red&color=blue&q=a%20b"),
            &[("cookie", "session=abc; theme=dark"), ("x-tag", "t1")],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let pet = reply.json();
    assert_eq!(pet["pet_id"], "café x", "{pet}");
    assert_eq!(pet["path"], "/pets/café x");
    assert_eq!(pet["cookies"], serde_json::json!(["session=abc", "theme=dark"]));
    assert_eq!(pet["query"], serde_json::json!({"color": "red,blue", "q": "a b"}));
    assert_eq!(pet["tag"], "t1");
    assert_eq!(pet["request_id"], reply.header("apigw-requestid").unwrap());
    // One trace: the event's header is the root of the function's `_X_AMZN_TRACE_ID`.
    let trace = pet["trace"].as_str().unwrap();
    assert!(trace.starts_with("Root=1-"), "{pet}");
    assert!(pet["function_trace"].as_str().unwrap().starts_with(&format!("{trace};Parent=")), "{pet}");

    // JSON travels as text; a form post travels base64 and `decoded_body` gives it back.
    let reply = client
        .send(Method::POST, &gw.url("/json"), &[("content-type", "application/json")], r#"{"name":"Rex"}"#)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({"json": {"name": "Rex"}, "base64": false}));
    let reply = client
        .send(
            Method::POST,
            &gw.url("/form"),
            &[("content-type", "application/x-www-form-urlencoded")],
            "name=R%C3%A9x&tag=a&tag=b",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({"form": {"name": ["Réx"], "tag": ["a", "b"]}, "base64": true})
    );
}

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use portcullis_functions::InvokeError;
use serde_json::json;

use super::*;

/// A stand-in for the Runtime Interface Emulator's invoke endpoint: echoes the payload, marks a
/// function error when the payload asks for one.
async fn fake_invoke_endpoint() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let path = req.uri().path().to_owned();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let mut response = http::Response::new(Full::new(body.clone()));
                    if path != "/2015-03-31/functions/function/invocations" {
                        *response.status_mut() = http::StatusCode::NOT_FOUND;
                    } else if body.windows(4).any(|w| w == b"fail") {
                        *response.body_mut() =
                            Full::new(Bytes::from_static(br#"{"errorType":"Boom","errorMessage":"x"}"#));
                        response.headers_mut().insert("x-amz-function-error", "Unhandled".parse().unwrap());
                    }
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn remote_functions_are_invoked_through_their_invoke_url() {
    let addr = fake_invoke_endpoint().await;
    let url = format!("http://{addr}/2015-03-31/functions/function/invocations").parse().unwrap();
    let settings = FunctionSettings::new("remote", FunctionKind::Remote { invoke_url: url }, ".");
    let run = start(settings).await;
    assert_eq!(invoke_json(&run.invoker, json!({"k": "v"}), "r1").await, json!({"k": "v"}));
    match run.invoker.invoke(Bytes::from_static(br#"{"fail":1}"#), "r2").await {
        Err(InvokeError::FunctionError { error_type, .. }) => assert_eq!(error_type, "Boom"),
        other => panic!("expected a function error, got {other:?}"),
    }
    run.functions.shutdown().await;
    let refused = FunctionSettings::new(
        "gone",
        FunctionKind::Remote { invoke_url: "http://127.0.0.1:1/".parse().unwrap() },
        ".",
    );
    let run = start(refused).await;
    assert!(matches!(run.invoker.invoke(Bytes::from_static(b"{}"), "r3").await, Err(InvokeError::Remote(_))));
}

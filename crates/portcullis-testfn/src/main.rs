//! A function built with the `lambda_runtime` crate, unmodified client code: echoes the event
//! with what the runtime told it, fails when the event says `"fail": true`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("fail").and_then(Value::as_bool) == Some(true) {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "event": payload,
        "request_id": context.request_id,
        "arn": context.invoked_function_arn,
        "deadline": context.deadline,
        "function_name": context.env_config.function_name,
        "pid": std::process::id(),
    }))
}

/// One thread: an instance runs one invocation at a time, so a multi-thread runtime only adds
/// cross-thread wake-ups (and CPU per invocation) to every request.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}

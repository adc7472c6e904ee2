//! Integration stage: hand the request to the route's integration and time it.

use std::time::Instant;

use http::{Request, Response};
use portcullis_core::{Body, CallContext};
use portcullis_integration::{Integration, IntegrationError};

use crate::access_log::AccessRecord;

/// The integration stage's request half: the integration's response, or why there is none.
///
/// # Errors
/// [`IntegrationError`]: the one table in [`crate::respond`] turns it into AWS's answer.
pub async fn request(
    integration: &dyn Integration,
    request: Request<Body>,
    ctx: &CallContext,
    record: &mut AccessRecord,
) -> Result<Response<Body>, IntegrationError> {
    let started = Instant::now();
    let result = integration.call(request, ctx).await;
    record.integration_latency = Some(started.elapsed());
    // A function that ran, whatever it answered, is a 200 from the Lambda service.
    let lambda_ran = matches!(
        &result,
        Ok(_) | Err(IntegrationError::FunctionFailed(_) | IntegrationError::FunctionTimeout(_))
    );
    if integration.is_lambda() && lambda_ran {
        record.lambda_status = Some(200);
    }
    match &result {
        Ok(response) => record.integration_status = Some(response.status().as_u16()),
        Err(error) => {
            tracing::warn!(request_id = %ctx.request_id, route = %ctx.route_key, %error, "integration failed");
            record.integration_error = Some(error.to_string().into_boxed_str());
        }
    }
    result
}

//! Integration stage: hand the request to the route's integration and time it.

use std::time::Instant;

use http::{Request, Response};
use portcullis_core::{Body, CallContext};

use crate::access_log::{AccessRecord, millis};
use crate::plan::RoutePlan;
use crate::respond::Rejection;

/// Call the integration; failures become the rejection the spec names (spec §4.5, §7.3).
pub async fn call(
    plan: &RoutePlan,
    request: Request<Body>,
    ctx: &CallContext,
    record: &mut AccessRecord,
) -> Result<Response<Body>, Rejection> {
    let started = Instant::now();
    let result = plan.integration.call(request, ctx).await;
    record.integration_latency_ms = Some(millis(started.elapsed()));
    result.map_err(|error| {
        tracing::warn!(request_id = %ctx.request_id, route = %ctx.route_key, %error, "integration failed");
        Rejection::from(&error)
    })
}

//! Authorizer stage: run the route's authorizer, if any, and record the outcome.
//!
//! Fail closed: any denial, including an authorizer that cannot reach its keys or function,
//! ends the request here and the integration is never called.

use http::request::Parts;
use portcullis_authz::{DenialStatus, Reason};
use portcullis_core::CallContext;

use crate::access_log::AccessRecord;
use crate::plan::{Access, RoutePlan};
use crate::respond::Rejection;

/// Authorize the request; on success `ctx.auth` holds what the authorizer established.
pub async fn run(
    plan: &RoutePlan,
    parts: &mut Parts,
    ctx: &mut CallContext,
    record: &mut AccessRecord,
) -> Result<(), Rejection> {
    let Access::Authorizer { name, authorizer, route } = &plan.access else {
        return Ok(());
    };
    match authorizer.authorize(parts, ctx, route).await {
        Ok(auth) => {
            ctx.auth = auth;
            record.authorizer = "allow";
            Ok(())
        }
        Err(denial) => {
            record.authorizer = match denial.status {
                DenialStatus::Error => "error",
                _ => "deny",
            };
            record.authorizer_reason = Some(denial.reason.as_str());
            // A bad token is ordinary traffic (debug); an authorizer that cannot decide at all
            // (keys unreachable, function broken) is an operational problem (warn).
            if denial.reason == Reason::CachedPolicyMismatch {
                // A configuration trap users must see without debug logging (spec §3.7).
                tracing::warn!(
                    request_id = %ctx.request_id,
                    authorizer = %name,
                    reason = denial.reason.as_str(),
                    detail = %denial.detail,
                    "a cached authorizer policy denied this route"
                );
            } else if denial.status == DenialStatus::Error || denial.reason == Reason::KeysUnavailable {
                tracing::warn!(
                    request_id = %ctx.request_id,
                    authorizer = %name,
                    reason = denial.reason.as_str(),
                    detail = %denial.detail,
                    "authorizer could not decide; request denied"
                );
            } else {
                tracing::debug!(
                    request_id = %ctx.request_id,
                    authorizer = %name,
                    reason = denial.reason.as_str(),
                    detail = %denial.detail,
                    "request denied"
                );
            }
            Err(Rejection::from(&denial))
        }
    }
}

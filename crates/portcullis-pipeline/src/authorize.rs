//! Authorizer stage: run the route's authorizer, if any, and record the outcome.
//!
//! Fail closed: any denial, including an authorizer that cannot reach its keys or function,
//! ends the request here and the integration is never called.

use http::request::Parts;
use portcullis_authz::{Authorizer, Denial, DenialStatus, Reason, RouteAuth};
use portcullis_core::CallContext;
use portcullis_rules::RuleSet;

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
    if let Access::Authorizer(access) = &plan.access {
        decide(&access.name, access.authorizer.as_ref(), &access.route, parts, ctx, record).await?;
        check_rules(access.rules.as_deref(), "authorizer", parts, ctx, record)?;
    }
    check_rules(plan.rules.as_deref(), "route", parts, ctx, record)
}

/// Declarative rules (issue 5): every rule must hold, else 403 naming the rule. An evaluation
/// error (a missing claim, a wrong type) fails the rule: fail closed.
fn check_rules(
    rules: Option<&RuleSet>,
    owner: &str,
    parts: &Parts,
    ctx: &CallContext,
    record: &mut AccessRecord,
) -> Result<(), Rejection> {
    let Some(rules) = rules else { return Ok(()) };
    match rules.evaluate(parts, ctx) {
        Ok(()) => Ok(()),
        Err(failure) => {
            record.authorizer = "deny";
            record.authorizer_reason = Some(Reason::RuleFailed.as_str());
            tracing::info!(
                request_id = %ctx.request_id,
                rule_index = failure.index,
                rule = %failure.source,
                "{owner} rule did not hold: {failure}; request denied"
            );
            let denial =
                Denial::plain(DenialStatus::Forbidden, Reason::RuleFailed, format!("{owner} {failure}"));
            Err(Rejection::from(&denial))
        }
    }
}

async fn decide(
    name: &str,
    authorizer: &dyn Authorizer,
    route: &RouteAuth,
    parts: &mut Parts,
    ctx: &mut CallContext,
    record: &mut AccessRecord,
) -> Result<(), Rejection> {
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

//! Authorize stage: run the route's authorizer, then the authorizer's and the route's `rules`,
//! and record the outcome.
//!
//! Fail closed: any denial, including an authorizer that cannot reach its keys or function,
//! ends the request here and the integration is never called. The same function serves
//! requests and `portcullis explain`: with a recording [`Trace`] every check is written down.

use http::HeaderValue;
use http::Response;
use http::header::HeaderName;
use http::request::Parts;
use portcullis_authz::{Authorizer, Denial, DenialStatus, Reason, RouteAuth, Trace};
use portcullis_core::{Body, CallContext};
use portcullis_rules::RuleSet;

use crate::access_log::AccessRecord;
use crate::plan::Access;

/// With `debug_headers: true`, the reason code of a denial.
pub static DENY_REASON_HEADER: HeaderName = HeaderName::from_static("x-portcullis-deny-reason");

/// The authorize stage's request half. On success `ctx.auth` holds what the authorizer
/// established.
///
/// # Errors
/// The [`Denial`]: the request must not reach the integration.
pub async fn request(
    access: &Access,
    route_rules: Option<&RuleSet>,
    parts: &mut Parts,
    ctx: &mut CallContext,
    record: &mut AccessRecord,
    trace: &mut Trace,
) -> Result<(), Denial> {
    if let Access::Authorizer(access) = access {
        decide(&access.name, access.authorizer.as_ref(), &access.route, parts, ctx, record, trace).await?;
        check_rules(access.rules.as_deref(), "authorizer", parts, ctx, record, trace)?;
    }
    check_rules(route_rules, "route", parts, ctx, record, trace)
}

/// The authorize stage's response half: with `debug_headers`, a denial carries its reason code.
pub fn response(response: &mut Response<Body>, record: &AccessRecord, debug_headers: bool) {
    if debug_headers && let Some(reason) = record.authorizer_reason {
        response.headers_mut().insert(&DENY_REASON_HEADER, HeaderValue::from_static(reason));
    }
}

/// Declarative rules: every rule must hold, else 403 naming the rule. An evaluation error (a
/// missing claim, a wrong type) fails the rule: fail closed.
fn check_rules(
    rules: Option<&RuleSet>,
    owner: &str,
    parts: &Parts,
    ctx: &CallContext,
    record: &mut AccessRecord,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let Some(rules) = rules else { return Ok(()) };
    match rules.evaluate(parts, ctx) {
        Ok(()) => {
            for rule in rules.rules() {
                trace.pass("rule", || format!("{owner} rule `{}` holds", rule.source()));
            }
            Ok(())
        }
        Err(failure) => {
            record.authorizer = "deny";
            record.authorizer_reason = Some(Reason::RuleFailed.as_str());
            trace.fail("rule", || format!("{owner} {failure}"));
            tracing::info!(
                request_id = %ctx.request_id,
                rule_index = failure.index,
                rule = %failure.source,
                "{owner} rule did not hold: {failure}; request denied"
            );
            Err(Denial::plain(DenialStatus::Forbidden, Reason::RuleFailed, format!("{owner} {failure}")))
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
    trace: &mut Trace,
) -> Result<(), Denial> {
    match authorizer.authorize(parts, ctx, route, trace).await {
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
            log_denial(name, &denial, ctx);
            Err(denial)
        }
    }
}

/// A bad token is ordinary traffic (debug); an authorizer that cannot decide at all (keys
/// unreachable, function broken) is an operational problem (warn), and so is the cached-policy
/// trap, which users must see without debug logging.
fn log_denial(name: &str, denial: &Denial, ctx: &CallContext) {
    let reason = denial.reason.as_str();
    let detail = &denial.detail;
    let request_id = &ctx.request_id;
    if denial.reason == Reason::CachedPolicyMismatch {
        tracing::warn!(%request_id, authorizer = %name, reason, %detail, "a cached authorizer policy denied this route");
    } else if denial.status == DenialStatus::Error || denial.reason == Reason::KeysUnavailable {
        tracing::warn!(%request_id, authorizer = %name, reason, %detail, "authorizer could not decide; request denied");
    } else {
        tracing::debug!(%request_id, authorizer = %name, reason, %detail, "request denied");
    }
}

//! `parameter_mapping:` of a route: AWS's `RequestParameters`, parsed into typed
//! [`MappingEntry`]s: the key grammar (`append|overwrite|remove:header.<name>`,
//! `append|overwrite|remove:querystring.<name>`, `overwrite:path`), header-name validity, AWS's
//! reserved headers, the 512-character value limit, and the value grammar
//! (`$request.header.x`, `${context.requestId}`, ..., see [`crate::expr`]) with each problem
//! reported at its character.
//!
//! ```yaml
//! routes:
//!   GET /orders/{id}:
//!     http: http://127.0.0.1:3000/orders/{id}
//!     parameter_mapping:
//!       overwrite:header.x-tenant: $context.authorizer.tenant
//!       append:header.x-trace: ${context.requestId}-${request.path.id}
//!       remove:header.x-debug: "''"
//!       overwrite:path: /v2/orders/$request.path.id
//! ```

use portcullis_core::{MappingAction, MappingEntry, MappingTarget, Template};

use crate::decode::{self, Cx, YPath, did_you_mean};
use crate::error::Span;
use crate::expr::{self, Place};
use crate::route::IntegrationKind;
use crate::yaml::{Entry, Node};

/// AWS's limit on one mapping value (`StringWithLengthBetween1And512`).
const MAX_VALUE_CHARS: usize = 512;

/// Header names no mapping may touch: AWS's reserved list, plus what Portcullis
/// itself sets towards upstreams (`host` from the upstream URL, `x-forwarded-port`) and the
/// other hop-by-hop names, which never reach an upstream anyway.
const RESERVED_EXACT: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-location",
    "forwarded",
    "keep-alive",
    "origin",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
    // Portcullis: set by the gateway on every upstream request.
    "host",
    "x-forwarded-port",
    "proxy-connection",
    "expect",
];
/// Reserved prefixes.
const RESERVED_PREFIXES: &[&str] = &["access-control-", "apigw-", "x-amz-", "x-amzn-"];

/// Whether a mapping may not target header `name` (lower-case).
fn reserved(name: &str) -> bool {
    RESERVED_EXACT.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Decodes `parameter_mapping` (a mapping of key -> value), reporting every problem; `kind` is
/// the route's integration when known. `None` when any entry is invalid.
pub(crate) fn decode_request(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
    key_span: Span,
    kind: Option<IntegrationKind>,
) -> Option<Vec<MappingEntry>> {
    if kind == Some(IntegrationKind::Respond) {
        cx.error(key_span, path, "`parameter_mapping` applies only to `http` and `function` integrations");
        return None;
    }
    let entries = decode::entries(cx, node, path)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for e in entries {
        match entry(cx, e, &path.key(&e.key), Side::Request(kind)) {
            Some(entry) => out.push(entry),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Decodes `response_parameters`: status code -> entries (AWS's `ResponseParameters`), applied
/// to the integration's responses with that status.
pub(crate) fn decode_response(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
) -> Option<Vec<(u16, Vec<MappingEntry>)>> {
    let entries = decode::entries(cx, node, path)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for status in entries {
        let sp = path.key(&status.key);
        let code = status.key.parse::<u16>().ok().filter(|c| (200..=599).contains(c));
        let Some(code) = code else {
            cx.error(
                status.key_span,
                &sp,
                format!("invalid status code {:?} (200 to 599, as the integration answers)", status.key),
            );
            ok = false;
            continue;
        };
        let Some(items) = decode::entries(cx, &status.value, &sp) else {
            ok = false;
            continue;
        };
        let mut decoded = Vec::with_capacity(items.len());
        for e in items {
            match entry(cx, e, &sp.key(&e.key), Side::Response) {
                Some(entry) => decoded.push(entry),
                None => ok = false,
            }
        }
        out.push((code, decoded));
    }
    ok.then_some(out)
}

/// Which mapping an entry belongs to.
#[derive(Clone, Copy)]
enum Side {
    /// `parameter_mapping` of a route with this integration kind.
    Request(Option<IntegrationKind>),
    /// `response_parameters`.
    Response,
}

/// One `key: value` entry: the key checked, the value parsed.
fn entry(cx: &mut Cx, e: &Entry, p: &YPath, side: Side) -> Option<MappingEntry> {
    let (action, target) = match side {
        Side::Request(kind) => check_key(cx, &e.key, e.key_span, p, kind)?,
        Side::Response => check_response_key(cx, &e.key, e.key_span, p)?,
    };
    let text = decode::string(cx, &e.value, p)?;
    if action == MappingAction::Remove {
        // AWS ignores the value (its examples write `"''"`).
        return Some(MappingEntry { action, target, value: Template::default() });
    }
    let chars = text.chars().count();
    if text.is_empty() {
        cx.error(e.value.span, p, "a mapping value must not be empty (AWS: 1 to 512 characters)");
        return None;
    }
    if chars > MAX_VALUE_CHARS {
        cx.error(
            e.value.span,
            p,
            format!("a mapping value is {chars} characters long; AWS allows at most {MAX_VALUE_CHARS}"),
        );
        return None;
    }
    let place = match side {
        Side::Request(_) => Place::RequestMapping,
        Side::Response => Place::ResponseMapping,
    };
    match expr::template(&text, place, &cx.stage_variables) {
        Ok(value) if target == MappingTarget::StatusCode => status_value(cx, e, p, value, action),
        Ok(value) => Some(MappingEntry { action, target, value }),
        Err(problem) => {
            cx.expr_error(&e.value, p, &problem, "invalid mapping value");
            None
        }
    }
}

/// An `overwrite:statuscode` value: a status code, or variables that give one at run time.
fn status_value(
    cx: &mut Cx,
    e: &Entry,
    p: &YPath,
    value: Template,
    action: MappingAction,
) -> Option<MappingEntry> {
    if let Some(text) = value.as_text()
        && !text.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c))
    {
        cx.error(e.value.span, p, format!("invalid status code {text:?} (100 to 599)"));
        return None;
    }
    Some(MappingEntry { action, target: MappingTarget::StatusCode, value })
}

/// Checks one `response_parameters` key: `append|overwrite|remove:header.NAME` or
/// `overwrite:statuscode`.
fn check_response_key(
    cx: &mut Cx,
    key: &str,
    span: Span,
    p: &YPath,
) -> Option<(MappingAction, MappingTarget)> {
    const FORMS: &str = "`append|overwrite|remove:header.NAME` or `overwrite:statuscode`";
    if key == "overwrite:statuscode" {
        return Some((MappingAction::Overwrite, MappingTarget::StatusCode));
    }
    if key.ends_with(":statuscode") {
        cx.error(
            span,
            p,
            format!("the status code can only be overwritten: write `overwrite:statuscode`, not {key:?}"),
        );
        return None;
    }
    match check_key(cx, key, span, p, Some(IntegrationKind::Http))? {
        (action, MappingTarget::Header(name)) => Some((action, MappingTarget::Header(name))),
        _ => {
            cx.error(span, p, format!("invalid response mapping key {key:?} (expected {FORMS})"));
            None
        }
    }
}

/// Checks one key; returns its action and target when valid.
fn check_key(
    cx: &mut Cx,
    key: &str,
    span: Span,
    p: &YPath,
    kind: Option<IntegrationKind>,
) -> Option<(MappingAction, MappingTarget)> {
    const FORMS: &str = "`append|overwrite|remove:header.NAME`, `append|overwrite|remove:querystring.NAME` or `overwrite:path`";
    let Some((action, target)) = key.split_once(':') else {
        cx.error(span, p, format!("invalid mapping key {key:?} (expected {FORMS})"));
        return None;
    };
    let action = match action {
        "append" => MappingAction::Append,
        "overwrite" => MappingAction::Overwrite,
        "remove" => MappingAction::Remove,
        other => {
            let hint = did_you_mean(other, ["append", "overwrite", "remove"]);
            cx.error_hint(
                span,
                p,
                format!(
                    "unknown mapping action {other:?} in {key:?} (expected `append`, `overwrite` or `remove`)"
                ),
                hint,
            );
            return None;
        }
    };
    if target == "path" {
        if action != MappingAction::Overwrite {
            cx.error(
                span,
                p,
                format!("the path can only be overwritten: write `overwrite:path`, not {key:?}"),
            );
            return None;
        }
        if kind == Some(IntegrationKind::Function) {
            cx.error(
                span,
                p,
                "`overwrite:path` applies only to `http` integrations (its effect on a Lambda event is undocumented)",
            );
            return None;
        }
        return Some((action, MappingTarget::Path));
    }
    let Some((place, name)) = target.split_once('.') else {
        let hint = did_you_mean(target, ["header", "querystring", "path"]);
        cx.error_hint(span, p, format!("invalid mapping key {key:?} (expected {FORMS})"), hint);
        return None;
    };
    match place {
        "header" => {
            let Ok(h) = http::HeaderName::from_bytes(name.as_bytes()) else {
                cx.error(span, p, format!("invalid header name {name:?} in {key:?}"));
                return None;
            };
            if reserved(h.as_str()) {
                cx.error(span, p, format!("header {name:?} is reserved: AWS allows no mapping of it"));
                return None;
            }
            Some((action, MappingTarget::Header(h)))
        }
        "querystring" => {
            if name.is_empty() {
                cx.error(span, p, format!("missing query string parameter name in {key:?}"));
                return None;
            }
            Some((action, MappingTarget::Query(name.to_owned())))
        }
        other => {
            let hint = did_you_mean(other, ["header", "querystring"]);
            cx.error_hint(
                span,
                p,
                format!("unknown mapping target {other:?} in {key:?} (expected {FORMS})"),
                hint,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    fn errors(yaml: &str) -> String {
        match from_str(yaml, "t.yaml") {
            Ok(_) => panic!("config unexpectedly valid:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    }

    fn route(mapping: &str) -> String {
        format!(
            "routes:\n  GET /orders/{{id}}:\n    http: http://127.0.0.1:3000/orders/{{id}}\n    parameter_mapping:\n{mapping}"
        )
    }

    #[test]
    fn valid_mappings_are_kept_in_order_and_parsed() {
        let c = from_str(
            &route(
                "      overwrite:header.x-tenant: $context.authorizer.tenant\n      append:header.x-trace: \"${context.requestId}-${request.path.id}\"\n      remove:header.x-debug: \"''\"\n      overwrite:querystring.user: $context.authorizer.claims.sub\n      overwrite:path: /v2/orders/$request.path.id\n",
            ),
            "t.yaml",
        )
        .unwrap();
        let m = &c.routes[0].parameter_mapping;
        let keys: Vec<String> = m.iter().map(ToString::to_string).collect();
        assert_eq!(
            keys,
            [
                "overwrite:header.x-tenant",
                "append:header.x-trace",
                "remove:header.x-debug",
                "overwrite:querystring.user",
                "overwrite:path"
            ]
        );
        assert_eq!(m[0].value.to_string(), "${context.authorizer.tenant}");
        assert_eq!(m[1].value.to_string(), "${context.requestId}-${request.path.id}");
        assert_eq!(m[2].value, portcullis_core::Template::default(), "a remove has no value");
        assert_eq!(m[4].value.to_string(), "/v2/orders/${request.path.id}");
    }

    #[test]
    fn bad_values_are_reported_at_their_character() {
        let e = errors(&route(
            "      overwrite:header.a: ab $context.requestid\n      overwrite:header.b: \"x-${context.requestId\"\n      overwrite:header.c: $stageVariables.nope\n",
        ));
        assert_eq!(
            e,
            "t.yaml:5:31: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.a\": invalid mapping value: unknown context variable `$context.requestid`\n  help: did you mean `$context.requestId`?\n\
             t.yaml:6:30: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.b\": invalid mapping value: `${` is not closed by `}`\n\
             t.yaml:7:28: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.c\": invalid mapping value: stage variable \"nope\" is not defined\n  help: define it under `stage_variables:`"
        );
    }

    #[test]
    fn routes_without_mapping_have_none() {
        let c = from_str("routes:\n  GET /: {http: http://127.0.0.1:3000}\n", "t.yaml").unwrap();
        assert!(c.routes[0].parameter_mapping.is_empty());
    }

    #[test]
    fn bad_keys_are_reported_at_the_key() {
        let e = errors(&route(
            "      overwite:header.a: x\n      append:path: /x\n      overwrite:headers.a: x\n      overwrite:header.Authorization: x\n      append:header.X-Amz-Date: x\n      overwrite:header.bad name: x\n      overwrite:querystring.: x\n      overwrite: x\n",
        ));
        assert_eq!(
            e,
            "t.yaml:5:7: routes.\"GET /orders/{id}\".parameter_mapping.\"overwite:header.a\": unknown mapping action \"overwite\" in \"overwite:header.a\" (expected `append`, `overwrite` or `remove`)\n  help: did you mean `overwrite`?\n\
             t.yaml:6:7: routes.\"GET /orders/{id}\".parameter_mapping.\"append:path\": the path can only be overwritten: write `overwrite:path`, not \"append:path\"\n\
             t.yaml:7:7: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:headers.a\": unknown mapping target \"headers\" in \"overwrite:headers.a\" (expected `append|overwrite|remove:header.NAME`, `append|overwrite|remove:querystring.NAME` or `overwrite:path`)\n  help: did you mean `header`?\n\
             t.yaml:8:7: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.Authorization\": header \"Authorization\" is reserved: AWS allows no mapping of it\n\
             t.yaml:9:7: routes.\"GET /orders/{id}\".parameter_mapping.\"append:header.X-Amz-Date\": header \"X-Amz-Date\" is reserved: AWS allows no mapping of it\n\
             t.yaml:10:7: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.bad name\": invalid header name \"bad name\" in \"overwrite:header.bad name\"\n\
             t.yaml:11:7: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:querystring.\": missing query string parameter name in \"overwrite:querystring.\"\n\
             t.yaml:12:7: routes.\"GET /orders/{id}\".parameter_mapping.overwrite: invalid mapping key \"overwrite\" (expected `append|overwrite|remove:header.NAME`, `append|overwrite|remove:querystring.NAME` or `overwrite:path`)"
        );
    }

    #[test]
    fn values_are_limited_to_512_characters_and_must_not_be_empty() {
        let long = "a".repeat(513);
        let e =
            errors(&route(&format!("      overwrite:header.a: {long}\n      overwrite:header.b: \"\"\n")));
        assert_eq!(
            e,
            "t.yaml:5:27: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.a\": a mapping value is 513 characters long; AWS allows at most 512\n\
             t.yaml:6:27: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.b\": a mapping value must not be empty (AWS: 1 to 512 characters)"
        );
        assert!(
            from_str(&route(&format!("      overwrite:header.a: {}\n", "a".repeat(512))), "t.yaml").is_ok()
        );
    }

    #[test]
    fn path_overwrite_is_for_http_and_mapping_is_not_for_fixed_responses() {
        let e = errors(
            "functions:\n  f: {runtime: python, handler: app.h}\nroutes:\n  GET /f:\n    function: f\n    parameter_mapping: {overwrite:path: /x, overwrite:header.a: b}\n  GET /r:\n    respond: {status: 200}\n    parameter_mapping: {overwrite:header.a: b}\n",
        );
        assert_eq!(
            e,
            "t.yaml:6:25: routes.\"GET /f\".parameter_mapping.\"overwrite:path\": `overwrite:path` applies only to `http` integrations (its effect on a Lambda event is undocumented)\n\
             t.yaml:9:5: routes.\"GET /r\".parameter_mapping: `parameter_mapping` applies only to `http` and `function` integrations"
        );
    }
}

//! `parameter_mapping:` of a route: AWS `RequestParameters` (spec §5.2), checked shallowly.
//!
//! This module checks what can be judged without knowing the runtime: the key grammar
//! (`append|overwrite|remove:header.<name>`, `append|overwrite|remove:querystring.<name>`,
//! `overwrite:path`), header-name validity, AWS's reserved headers, and the 512-character value
//! limit. The value grammar (`$request.header.x`, `${context.requestId}`, ...) is compiled by
//! `portcullis-pipeline` (`RequestMapping::compile`), which reports problems with a column
//! inside the value; the value's [`Spanned`] position points at its first character so that
//! `span.column + offset` is the column of the offending character (exact for plain and simply
//! quoted scalars; escapes in double-quoted scalars shift it).
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

use crate::decode::{self, Cx, YPath, did_you_mean};
use crate::error::{Span, Spanned};
use crate::yaml::{Kind, Node};

/// AWS's limit on one mapping value (`StringWithLengthBetween1And512`, spec §5.2).
const MAX_VALUE_CHARS: usize = 512;

/// Header names no mapping may touch: AWS's reserved list (spec §5.2), plus what Portcullis
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
/// Reserved prefixes (spec §5.2).
const RESERVED_PREFIXES: &[&str] = &["access-control-", "apigw-", "x-amz-", "x-amzn-"];

/// Whether a mapping may not target header `name` (lower-case).
fn reserved(name: &str) -> bool {
    RESERVED_EXACT.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Decodes `parameter_mapping` (a mapping of key -> value), reporting every problem.
/// `kind` is the route's integration (`http`, `function`, `respond`) when known.
pub(crate) fn decode(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
    key_span: Span,
    kind: Option<&str>,
) -> Vec<(Spanned<String>, Spanned<String>)> {
    let mut out = Vec::new();
    if kind == Some("respond") {
        cx.error(key_span, path, "`parameter_mapping` applies only to `http` and `function` integrations");
        return out;
    }
    let Some(entries) = decode::entries(cx, node, path) else {
        return out;
    };
    for e in entries {
        let p = path.key(&e.key);
        let Some(action) = check_key(cx, &e.key, e.key_span, &p, kind) else {
            continue;
        };
        let Some(text) = decode::string(cx, &e.value, &p) else {
            continue;
        };
        let quoted = matches!(&e.value.kind, Kind::Scalar { plain: false, .. });
        let chars = text.chars().count();
        if action != "remove" && text.is_empty() {
            cx.error(e.value.span, &p, "a mapping value must not be empty (AWS: 1 to 512 characters)");
            continue;
        }
        if chars > MAX_VALUE_CHARS {
            cx.error(
                e.value.span,
                &p,
                format!("a mapping value is {chars} characters long; AWS allows at most {MAX_VALUE_CHARS}"),
            );
            continue;
        }
        let value_span = Span { line: e.value.span.line, column: e.value.span.column + usize::from(quoted) };
        out.push((Spanned::new(e.key.clone(), e.key_span), Spanned::new(text, value_span)));
    }
    out
}

/// Checks one key; returns its action (`append`, `overwrite`, `remove`) when valid.
fn check_key(cx: &mut Cx, key: &str, span: Span, p: &YPath, kind: Option<&str>) -> Option<&'static str> {
    const FORMS: &str = "`append|overwrite|remove:header.NAME`, `append|overwrite|remove:querystring.NAME` or `overwrite:path`";
    let Some((action, target)) = key.split_once(':') else {
        cx.error(span, p, format!("invalid mapping key {key:?} (expected {FORMS})"));
        return None;
    };
    let action = match action {
        "append" => "append",
        "overwrite" => "overwrite",
        "remove" => "remove",
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
        if action != "overwrite" {
            cx.error(
                span,
                p,
                format!("the path can only be overwritten: write `overwrite:path`, not {key:?}"),
            );
            return None;
        }
        if kind == Some("function") {
            cx.error(
                span,
                p,
                "`overwrite:path` applies only to `http` integrations (its effect on a Lambda event is undocumented)",
            );
            return None;
        }
        return Some(action);
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
                cx.error(
                    span,
                    p,
                    format!("header {name:?} is reserved: AWS allows no mapping of it (spec §5.2 reserved headers)"),
                );
                return None;
            }
        }
        "querystring" => {
            if name.is_empty() {
                cx.error(span, p, format!("missing query string parameter name in {key:?}"));
                return None;
            }
        }
        other => {
            let hint = did_you_mean(other, ["header", "querystring"]);
            cx.error_hint(
                span,
                p,
                format!("unknown mapping target {other:?} in {key:?} (expected {FORMS})"),
                hint,
            );
            return None;
        }
    }
    Some(action)
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
    fn valid_mappings_are_kept_in_order_with_value_positions() {
        let c = from_str(
            &route(
                "      overwrite:header.x-tenant: $context.authorizer.tenant\n      append:header.x-trace: \"${context.requestId}-${request.path.id}\"\n      remove:header.x-debug: \"''\"\n      overwrite:querystring.user: $context.authorizer.claims.sub\n      overwrite:path: /v2/orders/$request.path.id\n",
            ),
            "t.yaml",
        )
        .unwrap();
        let m = &c.routes[0].parameter_mapping;
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.value.as_str()).collect();
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
        assert_eq!(m[0].1.value, "$context.authorizer.tenant");
        assert_eq!((m[0].1.span.line, m[0].1.span.column), (5, 34));
        // Quoted: the position is the first character inside the quotes.
        assert_eq!((m[1].1.span.line, m[1].1.span.column), (6, 31));
        assert_eq!(m[2].1.value, "''");
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
             t.yaml:8:7: routes.\"GET /orders/{id}\".parameter_mapping.\"overwrite:header.Authorization\": header \"Authorization\" is reserved: AWS allows no mapping of it (spec §5.2 reserved headers)\n\
             t.yaml:9:7: routes.\"GET /orders/{id}\".parameter_mapping.\"append:header.X-Amz-Date\": header \"X-Amz-Date\" is reserved: AWS allows no mapping of it (spec §5.2 reserved headers)\n\
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

//! `x-amazon-apigateway-integration` -> a route's target and integration settings
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html>).

use crate::native::{Native, Route, Target};
use crate::source::{Cx, Val};

/// Integration properties that only REST APIs use.
const REST_ONLY: &[&str] = &[
    "passthroughBehavior",
    "requestTemplates",
    "responses",
    "contentHandling",
    "cacheKeyParameters",
    "cacheNamespace",
];

/// Properties read here; anything else is reported.
const KNOWN: &[&str] = &[
    "type",
    "uri",
    "httpMethod",
    "payloadFormatVersion",
    "timeoutInMillis",
    "requestParameters",
    "responseParameters",
    "connectionType",
    "connectionId",
    "credentials",
    "tlsConfig",
    "integrationSubtype",
    "description",
];

/// Follows `$ref: '#/components/x-amazon-apigateway-integrations/NAME'`.
pub(super) fn resolve_ref<'v>(
    cx: &mut Cx<'_>,
    integration: &'v Val,
    named: Option<&'v Val>,
) -> Option<&'v Val> {
    let Some(reference) = integration.get("$ref") else {
        return Some(integration);
    };
    let Some(text) = reference.str() else {
        cx.error(
            reference,
            "expected a reference such as #/components/x-amazon-apigateway-integrations/NAME",
        );
        return None;
    };
    let name = text.strip_prefix("#/components/x-amazon-apigateway-integrations/");
    match name.and_then(|n| named.and_then(|all| all.get(n))) {
        Some(target) => Some(target),
        None => {
            cx.error(reference, format!("integration reference {text:?} names no entry of components.x-amazon-apigateway-integrations; route left out"));
            None
        }
    }
}

/// The route an integration describes, or `None` (reported) when Portcullis cannot serve it.
pub(super) fn decode(
    cx: &mut Cx<'_>,
    route_key: &str,
    method: &str,
    integ: &Val,
    native: &mut Native,
) -> Option<Route> {
    unknown_properties(cx, integ);
    if !served_connection(cx, route_key, integ) {
        return None;
    }
    let Some(kind) = integ.get("type").and_then(Val::str).map(str::to_ascii_lowercase) else {
        cx.error_key(integ, "type", format!("route `{route_key}`: the integration has no `type`; left out"))
            .resolved_by_route(route_key);
        return None;
    };
    if kind != "aws_proxy" && kind != "http_proxy" {
        let t = integ.get("type").unwrap_or(integ);
        cx.error(t, format!("route `{route_key}`: integration type `{kind}` is not an HTTP API integration (only aws_proxy and http_proxy are); left out"))
            .resolved_by_route(route_key);
        return None;
    }
    let Some(uri) = integ.get("uri") else {
        cx.error_key(integ, "uri", format!("route `{route_key}`: the integration has no `uri`; left out"))
            .resolved_by_route(route_key);
        return None;
    };
    let mut route = if kind == "aws_proxy" {
        Route::new(Target::Function(lambda_target(cx, route_key, integ, uri, native)?))
    } else {
        Route::new(Target::Http(http_target(cx, route_key, method, integ, uri)?))
    };
    route.payload_format_version = payload_format_version(cx, integ, kind == "aws_proxy");
    route.timeout_ms = timeout(cx, integ);
    route.parameter_mapping = pairs(cx, integ.get("requestParameters"));
    route.response_parameters = response_parameters(cx, integ.get("responseParameters"));
    if let Some(c) = integ.get("credentials") {
        cx.warn(c, "`credentials` (the IAM role API Gateway assumes to invoke the integration) has no meaning locally; ignored");
    }
    if let Some(t) = integ.get("tlsConfig") {
        cx.warn(t, "`tlsConfig` (serverNameToVerify for private integrations) is not supported; the upstream's certificate is checked against its host name");
    }
    Some(route)
}

fn unknown_properties(cx: &mut Cx<'_>, integ: &Val) {
    for (key, _) in integ.entries() {
        let name = key.text.as_str();
        if REST_ONLY.contains(&name) {
            cx.warn_key(
                integ,
                name,
                format!("integration `{name}` is a REST API setting; HTTP API proxy integrations ignore it"),
            );
        } else if !KNOWN.contains(&name) {
            cx.warn_key(integ, name, format!("unknown integration property `{name}`; ignored"));
        }
    }
}

/// `false` (reported) for integrations through a VPC link or to an AWS service action.
fn served_connection(cx: &mut Cx<'_>, route_key: &str, integ: &Val) -> bool {
    if let Some(ct) = integ.get("connectionType")
        && ct.str().is_some_and(|c| c.eq_ignore_ascii_case("VPC_LINK"))
    {
        cx.error(ct, format!("route `{route_key}`: a VPC link integration (connectionType: VPC_LINK) reaches a private AWS network Portcullis cannot join; left out"))
            .help(format!("give `routes.\"{route_key}\"` an `http` URL the gateway can reach, in the overlay"))
            .resolved_by_route(route_key);
        return false;
    }
    if let Some(sub) = integ.get("integrationSubtype") {
        cx.error(
            sub,
            format!(
                "route `{route_key}`: AWS service integration `{}` is not supported; left out",
                sub.str().unwrap_or("?")
            ),
        )
        .resolved_by_route(route_key);
        return false;
    }
    true
}

fn lambda_target(
    cx: &mut Cx<'_>,
    route_key: &str,
    integ: &Val,
    uri: &Val,
    native: &mut Native,
) -> Option<String> {
    if let Some(m) = integ.get("httpMethod").and_then(Val::str)
        && !m.eq_ignore_ascii_case("POST")
    {
        cx.warn_key(
            integ,
            "httpMethod",
            format!("a Lambda proxy integration is invoked with POST; httpMethod {m} ignored"),
        );
    }
    let name = native.lambda_function(cx, uri);
    if name.is_none()
        && let Some(d) = cx.diagnostics.last_mut()
    {
        d.resolved_by_route(route_key);
    }
    name
}

fn http_target(cx: &mut Cx<'_>, route_key: &str, method: &str, integ: &Val, uri: &Val) -> Option<String> {
    let Some(url) = uri.str() else {
        cx.error(
            uri,
            format!("route `{route_key}`: expected an http(s) URL, found {}; left out", uri.describe()),
        )
        .resolved_by_route(route_key);
        return None;
    };
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("${stagevariables."))
    {
        cx.error(uri, format!("route `{route_key}`: {url:?} is not an http(s) URL (a Cloud Map or load balancer ARN needs a VPC link); left out"))
            .resolved_by_route(route_key);
        return None;
    }
    if let Some(m) = integ.get("httpMethod").and_then(Val::str)
        && !m.eq_ignore_ascii_case("ANY")
        && !m.eq_ignore_ascii_case(method)
    {
        cx.warn_key(
            integ,
            "httpMethod",
            format!("httpMethod {m}: Portcullis forwards the client's method ({method}) unchanged"),
        );
    }
    Some(url.to_owned())
}

/// `payloadFormatVersion`, a string or a number (`1.0`, `2.0`). Only Lambda integrations have
/// a choice (HTTP integrations always use 1.0 on AWS), so it is written for them only.
fn payload_format_version(cx: &mut Cx<'_>, integ: &Val, lambda: bool) -> Option<String> {
    let v = integ.get("payloadFormatVersion")?;
    let version = match v.str().map(str::trim) {
        Some("1.0" | "1") => "1.0",
        Some("2.0" | "2") => "2.0",
        _ => {
            cx.warn(
                v,
                format!(
                    "payloadFormatVersion {}: expected \"1.0\" or \"2.0\"; the default 2.0 applies",
                    v.describe()
                ),
            );
            return None;
        }
    };
    lambda.then(|| version.to_owned())
}

fn timeout(cx: &mut Cx<'_>, integ: &Val) -> Option<u64> {
    let v = integ.get("timeoutInMillis")?;
    match v.uint() {
        Some(ms) if ms > 0 => Some(ms),
        _ => {
            cx.warn(
                v,
                format!(
                    "timeoutInMillis {}: expected a positive number of milliseconds; the default 30s applies",
                    v.describe()
                ),
            );
            None
        }
    }
}

/// A mapping of strings to strings, as `requestParameters` is. Entries with other values are
/// reported and skipped.
pub(crate) fn pairs(cx: &mut Cx<'_>, v: Option<&Val>) -> Vec<(String, String)> {
    let Some(v) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in v.entries() {
        match value.str() {
            Some(s) => out.push((key.text.clone(), s.to_owned())),
            None => cx.expected(value, "a string"),
        }
    }
    out
}

fn response_parameters(cx: &mut Cx<'_>, v: Option<&Val>) -> Vec<(String, Vec<(String, String)>)> {
    let Some(v) = v else {
        return Vec::new();
    };
    v.entries().iter().map(|(status, mappings)| (status.text.clone(), pairs(cx, Some(mappings)))).collect()
}

//! `components.securitySchemes` (with `x-amazon-apigateway-authorizer`) -> authorizers, and
//! each operation's `security` -> the route's authorizer and scopes
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authorizer.html>).

use indexmap::IndexMap;
use portcullis_config::Span;

use crate::native::{Authorizer, Item, Native, RouteAuth};
use crate::source::{Cx, Val};

/// What a security scheme turned into.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scheme {
    /// An authorizer under `authorizers:` of the same name; `jwt` when scopes apply.
    Authorizer { jwt: bool },
    /// IAM authorization (SigV4): not available in Portcullis.
    Iam,
    /// Something API Gateway cannot enforce either, or that could not be read (reported at the
    /// scheme already); routes requiring it are left out.
    Unusable,
}

const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

/// Reads every scheme, adding authorizers (and their functions) to `native`.
pub(super) fn schemes(cx: &mut Cx<'_>, all: &Val, native: &mut Native) -> IndexMap<String, Scheme> {
    let mut out = IndexMap::new();
    for (key, scheme) in all.entries() {
        let s = read_scheme(cx, &key.text, key.span, scheme, native);
        out.insert(key.text.clone(), s);
    }
    out
}

fn read_scheme(cx: &mut Cx<'_>, name: &str, at: Span, scheme: &Val, native: &mut Native) -> Scheme {
    let ext = scheme.get("x-amazon-apigateway-authorizer");
    let auth_type = scheme.get("x-amazon-apigateway-authtype").and_then(Val::str);
    if auth_type.is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4")) {
        return Scheme::Iam;
    }
    let kind = ext.and_then(|e| e.get("type")).and_then(Val::str).map(str::to_ascii_lowercase);
    let openid = scheme.get("type").and_then(Val::str) == Some("openIdConnect");
    let authorizer = match (kind.as_deref(), ext) {
        (Some("jwt"), Some(ext)) => jwt(cx, name, scheme, Some(ext)),
        (None, None) if openid => jwt(cx, name, scheme, None),
        (Some(event @ ("request" | "token")), Some(ext)) => lambda(cx, name, ext, event, native),
        (None, None) => {
            cx.warn(scheme, format!("security scheme `{name}` has no x-amazon-apigateway-authorizer: API Gateway cannot enforce it; routes requiring it are left out"));
            None
        }
        (other, Some(ext)) => {
            cx.error(ext, format!("authorizer `{name}`: type {:?} is not an HTTP API authorizer type (jwt or request); routes requiring it are left out", other.unwrap_or("")))
                .resolved_by(&[&["authorizers", name, "type"]]);
            None
        }
        (_, None) => None,
    };
    match authorizer {
        Some(a) => {
            let jwt = matches!(a, Authorizer::Jwt { .. });
            native.authorizers.insert(name.to_owned(), Item::new(a, at));
            Scheme::Authorizer { jwt }
        }
        None => Scheme::Unusable,
    }
}

/// A JWT authorizer: `jwtConfiguration`, or the issuer from an `openIdConnect` scheme's
/// discovery URL.
fn jwt(cx: &mut Cx<'_>, name: &str, scheme: &Val, ext: Option<&Val>) -> Option<Authorizer> {
    let config = ext.and_then(|e| e.get("jwtConfiguration"));
    let issuer = match config.and_then(|c| c.get("issuer")) {
        Some(i) => i.str().map(str::to_owned),
        None => scheme.get("openIdConnectUrl").and_then(|u| issuer_of_discovery_url(cx, name, u)),
    };
    if issuer.is_none() {
        cx.error(config.or(ext).unwrap_or(scheme), format!("JWT authorizer `{name}` names no issuer"))
            .help(format!("write `authorizers.{name}.issuer` in the overlay"))
            .resolved_by(&[&["authorizers", name, "issuer"]]);
    }
    let audience = config.and_then(|c| c.get("audience")).and_then(Val::strings).unwrap_or_default();
    if audience.is_empty() {
        cx.error(config.or(ext).unwrap_or(scheme), format!("JWT authorizer `{name}` names no audience"))
            .help(format!("write `authorizers.{name}.audience` in the overlay"))
            .resolved_by(&[&["authorizers", name, "audience"]]);
    }
    let identity_source =
        ext.and_then(|e| e.get("identitySource")).map(|v| identity_sources(cx, v)).unwrap_or_default();
    Some(Authorizer::Jwt { issuer, audience, identity_source })
}

/// `https://idp/realm/.well-known/openid-configuration` -> `https://idp/realm`.
fn issuer_of_discovery_url(cx: &mut Cx<'_>, name: &str, url: &Val) -> Option<String> {
    let text = url.str()?;
    match text.strip_suffix(DISCOVERY_SUFFIX) {
        Some(issuer) => Some(issuer.to_owned()),
        None => {
            cx.warn(url, format!("authorizer `{name}`: openIdConnectUrl does not end with {DISCOVERY_SUFFIX}; the issuer cannot be derived from it"));
            None
        }
    }
}

/// A Lambda authorizer (`type: request`, or REST's `token`).
fn lambda(cx: &mut Cx<'_>, name: &str, ext: &Val, event: &str, native: &mut Native) -> Option<Authorizer> {
    let Some(uri) = ext.get("authorizerUri") else {
        cx.error_key(
            ext,
            "authorizerUri",
            format!("Lambda authorizer `{name}` has no authorizerUri; routes requiring it are left out"),
        );
        return None;
    };
    let function = native.lambda_function(cx, uri)?;
    let event: &'static str = if event == "token" {
        cx.warn_key(
            ext,
            "type",
            format!("authorizer `{name}`: `type: token` is a REST API authorizer; run as a TOKEN authorizer"),
        );
        "token"
    } else {
        "request"
    };
    if let Some(c) = ext.get("authorizerCredentials") {
        cx.warn(c, "`authorizerCredentials` (the IAM role API Gateway assumes to invoke the authorizer) has no meaning locally; ignored");
    }
    let payload_format_version = ext.get("authorizerPayloadFormatVersion").and_then(|v| version(cx, v));
    let simple_responses = ext.get("enableSimpleResponses").and_then(|v| {
        let b = v.bool();
        if b.is_none() {
            cx.expected(v, "true or false");
        }
        b
    });
    let identity_source = ext.get("identitySource").map(|v| identity_sources(cx, v)).unwrap_or_default();
    let result_ttl = ext.get("authorizerResultTtlInSeconds").and_then(|v| {
        let n = v.uint();
        if n.is_none() {
            cx.expected(v, "a number of seconds");
        }
        n
    });
    let token_validation = ext.get("identityValidationExpression").and_then(|v| {
        if event == "token" {
            v.str().map(str::to_owned)
        } else {
            cx.warn(v, "`identityValidationExpression` applies to REST TOKEN authorizers only; ignored");
            None
        }
    });
    Some(Authorizer::Lambda {
        function,
        event,
        payload_format_version,
        simple_responses,
        identity_source,
        result_ttl,
        token_validation,
    })
}

/// `"1.0"`, `"2.0"` (also written as numbers).
pub(crate) fn version(cx: &mut Cx<'_>, v: &Val) -> Option<String> {
    match v.str().map(str::trim) {
        Some("1.0" | "1") => Some("1.0".into()),
        Some("2.0" | "2") => Some("2.0".into()),
        _ => {
            cx.warn(
                v,
                format!(
                    "payload format version {}: expected \"1.0\" or \"2.0\"; the default applies",
                    v.describe()
                ),
            );
            None
        }
    }
}

/// Identity sources as AWS writes them in OpenAPI: one comma-separated string (a list is
/// accepted too). REST's `method.request.header.X` form becomes `$request.header.X`.
pub(crate) fn identity_sources(cx: &mut Cx<'_>, v: &Val) -> Vec<String> {
    let Some(items) = v.strings() else {
        cx.expected(v, "identity sources (a comma-separated string)");
        return Vec::new();
    };
    items
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(rest_identity_source)
        .collect()
}

fn rest_identity_source(s: &str) -> String {
    if let Some(rest) = s.strip_prefix("method.request.") {
        format!("$request.{rest}")
    } else if s.starts_with("stageVariables.") || s.starts_with("context.") {
        format!("${s}")
    } else {
        s.to_owned()
    }
}

/// An operation's authorizer and scopes, from `security` (and `x-amazon-apigateway-auth`).
/// `None` (reported) when the route cannot be served as secured as it is on AWS.
pub(super) fn route_auth(
    cx: &mut Cx<'_>,
    route_key: &str,
    op: &Val,
    schemes: &IndexMap<String, Scheme>,
) -> Option<(RouteAuth, Vec<String>)> {
    if let Some(auth) = op.get("x-amazon-apigateway-auth") {
        match auth.get("type").and_then(Val::str).map(str::to_ascii_uppercase).as_deref() {
            Some("AWS_IAM") => {
                iam(cx, route_key, auth.get("type").unwrap_or(auth));
                return None;
            }
            Some("NONE") => return Some((RouteAuth::Public, Vec::new())),
            _ => {
                cx.warn(auth, "x-amazon-apigateway-auth: expected `type: AWS_IAM` or `type: NONE`; ignored");
            }
        }
    }
    let Some(security) = op.entry("security").map(|(_, v)| v) else {
        return Some((RouteAuth::Inherit, Vec::new()));
    };
    let requirements: Vec<&Val> = security.items().iter().filter(|r| !r.entries().is_empty()).collect();
    match requirements.as_slice() {
        [] => Some((RouteAuth::Public, Vec::new())),
        [one] if one.entries().len() == 1 => {
            let (name, scopes) = &one.entries()[0];
            requirement(cx, route_key, &name.text, scopes, one, schemes)
        }
        _ => {
            cx.error(security, format!("route `{route_key}`: several security requirements; API Gateway allows one authorizer per route (IAM, Lambda or JWT); left out"))
                .resolved_by_route(route_key);
            None
        }
    }
}

fn requirement(
    cx: &mut Cx<'_>,
    route_key: &str,
    name: &str,
    scopes: &Val,
    at: &Val,
    schemes: &IndexMap<String, Scheme>,
) -> Option<(RouteAuth, Vec<String>)> {
    let scopes = scopes.strings().unwrap_or_default();
    match schemes.get(name) {
        Some(Scheme::Authorizer { jwt: true }) => Some((RouteAuth::Named(name.to_owned()), scopes)),
        Some(Scheme::Authorizer { jwt: false }) => {
            if !scopes.is_empty() {
                cx.warn(at, format!("route `{route_key}`: scopes apply to JWT authorizers only; `{name}` is a Lambda authorizer, scopes ignored"));
            }
            Some((RouteAuth::Named(name.to_owned()), Vec::new()))
        }
        Some(Scheme::Iam) => {
            iam(cx, route_key, at);
            None
        }
        Some(Scheme::Unusable) => {
            cx.error(at, format!("route `{route_key}` requires security scheme `{name}`, which Portcullis cannot enforce; left out"))
                .resolved_by_route(route_key);
            None
        }
        None => {
            cx.error(at, format!("route `{route_key}` requires security scheme `{name}`, which components.securitySchemes does not define; left out"))
                .resolved_by_route(route_key);
            None
        }
    }
}

fn iam(cx: &mut Cx<'_>, route_key: &str, at: &Val) {
    cx.error(at, format!("route `{route_key}` uses IAM authorization (AWS_IAM, SigV4), which Portcullis cannot check; left out"))
        .help(format!("define `routes.\"{route_key}\"` in the overlay with an authorizer Portcullis can run"))
        .resolved_by_route(route_key);
}

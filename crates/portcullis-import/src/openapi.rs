//! OpenAPI 3.0 with API Gateway's `x-amazon-apigateway-*` extensions -> routes, authorizers,
//! functions and CORS, as API Gateway imports it for an HTTP API
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html>).
//!
//! Also reads a SAM `DefinitionBody` (after its intrinsics are resolved).

mod integration;
mod security;

use indexmap::IndexMap;

use crate::cfn::Template;
use crate::cors;
use crate::diagnostic::ImportErrors;
use crate::native::{Cors, Item, Native, Route};
use crate::source::{Cx, Val};

use security::Scheme;
pub(crate) use security::{identity_sources, version};

/// Methods an operation may be written under, and the route method each stands for.
const METHODS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Extensions only REST APIs honour, at the document root.
const REST_ONLY_ROOT: &[&str] = &[
    "x-amazon-apigateway-api-key-source",
    "x-amazon-apigateway-binary-media-types",
    "x-amazon-apigateway-documentation",
    "x-amazon-apigateway-gateway-responses",
    "x-amazon-apigateway-minimum-compression-size",
    "x-amazon-apigateway-policy",
    "x-amazon-apigateway-request-validators",
];

/// Imports a stand-alone OpenAPI document.
pub(crate) fn import(cx: &mut Cx<'_>, root: &Val) -> Result<Native, ImportErrors> {
    let mut native = Native::default();
    check_version(cx, root)?;
    // Definitions written for CloudFormation's `AWS::Include` carry `Fn::Sub` URIs.
    let root = Template::standalone(cx).resolve(cx, root).unwrap_or_else(|_| root.clone());
    read_into(cx, &root, &mut native);
    Ok(native)
}

/// Refuses Swagger 2.0 and documents that are not OpenAPI, as API Gateway does; warns on
/// versions other than 3.0.
pub(crate) fn check_version(cx: &mut Cx<'_>, root: &Val) -> Result<(), ImportErrors> {
    if let Some(v) = root.get("swagger") {
        let version = v.str().unwrap_or("?").to_owned();
        return Err(cx.fatal(
            v.span,
            "swagger",
            format!("Swagger {version} (OpenAPI 2.0) cannot be imported: HTTP APIs import OpenAPI 3.0 definitions only, as on AWS"),
        ));
    }
    let Some(v) = root.get("openapi") else {
        return Err(cx.fatal(
            root.span,
            "",
            "not an OpenAPI document: no `openapi` version at the top level",
        ));
    };
    let version = v.str().unwrap_or_default();
    if !version.starts_with("3.0") && version != "3" {
        cx.warn(v, format!("OpenAPI {version}: API Gateway imports OpenAPI 3.0; read as 3.0"));
    }
    Ok(())
}

/// Adds what `root` (an OpenAPI document) defines to `native`.
pub(crate) fn read_into(cx: &mut Cx<'_>, root: &Val, native: &mut Native) {
    root_extensions(cx, root, native);
    let components = root.get("components");
    let mut schemes = components
        .and_then(|c| c.get("securitySchemes"))
        .map(|s| security::schemes(cx, s, native))
        .unwrap_or_default();
    // Authorizers defined beside the document (a SAM API's `Auth`) are security schemes too.
    for (name, a) in &native.authorizers {
        let jwt = matches!(a.value, crate::native::Authorizer::Jwt { .. });
        schemes.entry(name.clone()).or_insert(Scheme::Authorizer { jwt });
    }
    let integrations = components.and_then(|c| c.get("x-amazon-apigateway-integrations"));
    if root.get("security").is_some() {
        cx.warn_key(root, "security", "a root-level `security` is not applied to routes by API Gateway; routes without their own `security` are public")
            .help = Some("write `security` on each operation, or set `default_authorizer` in the overlay".into());
    }
    let Some(paths) = root.get("paths") else {
        return;
    };
    for (key, item) in paths.entries() {
        path_item(cx, &key.text, item, &schemes, integrations, native);
    }
}

fn root_extensions(cx: &mut Cx<'_>, root: &Val, native: &mut Native) {
    for (key, value) in root.entries() {
        let name = key.text.as_str();
        if name == "x-amazon-apigateway-cors" {
            if let Some(c) = cors(cx, value) {
                native.cors = Some(Item::new(c, key.span));
            }
        } else if name == "x-amazon-apigateway-importexport-version" {
            if value.str().is_none_or(|v| v != "1.0") {
                cx.warn(
                    value,
                    format!(
                        "x-amazon-apigateway-importexport-version {}: only \"1.0\" exists; read as 1.0",
                        value.describe()
                    ),
                );
            }
        } else if REST_ONLY_ROOT.contains(&name) {
            cx.warn_key(root, name, format!("`{name}` is a REST API setting; HTTP APIs ignore it"));
        } else if name == "x-amazon-apigateway-endpoint-configuration" {
            cx.warn_key(root, name, "`x-amazon-apigateway-endpoint-configuration` (the execute-api endpoint switch) has no meaning for a self-hosted gateway");
        } else if name.starts_with("x-amazon-apigateway-") && name != "x-amazon-apigateway-tag-value" {
            cx.warn_key(root, name, format!("`{name}` is not supported; ignored"));
        }
    }
}

/// `x-amazon-apigateway-cors`: lower-camel keys.
fn cors(cx: &mut Cx<'_>, v: &Val) -> Option<Cors> {
    cors::read(
        cx,
        v,
        &[
            ("allowOrigins", cors::Field::Origins),
            ("allowMethods", cors::Field::Methods),
            ("allowHeaders", cors::Field::Headers),
            ("exposeHeaders", cors::Field::Expose),
            ("maxAge", cors::Field::MaxAge),
            ("allowCredentials", cors::Field::Credentials),
        ],
    )
}

fn path_item(
    cx: &mut Cx<'_>,
    path: &str,
    item: &Val,
    schemes: &IndexMap<String, Scheme>,
    integrations: Option<&Val>,
    native: &mut Native,
) {
    let is_default_path = path == "/$default" || path == "$default";
    if !path.starts_with('/') && !is_default_path {
        cx.warn(item, format!("path {path:?} does not start with `/`; left out"));
        return;
    }
    for (key, op) in item.entries() {
        let Some((_, method)) = METHODS.iter().find(|(m, _)| *m == key.text) else {
            if key.text == "trace" {
                cx.warn_key(item, "trace", "TRACE is not a method HTTP API routes support; left out");
            }
            continue;
        };
        let route_key = if is_default_path
            && *method == "ANY"
            && op.get("isDefaultRoute").and_then(Val::bool) == Some(true)
        {
            "$default".to_owned()
        } else {
            format!("{method} {path}")
        };
        if let Some(route) = operation(cx, &route_key, method, op, schemes, integrations, native) {
            native.routes.insert(route_key, Item::new(route, key.span));
        }
    }
}

/// One operation -> its route, or `None` (reported) when it cannot be served.
fn operation(
    cx: &mut Cx<'_>,
    route_key: &str,
    method: &str,
    op: &Val,
    schemes: &IndexMap<String, Scheme>,
    integrations: Option<&Val>,
    native: &mut Native,
) -> Option<Route> {
    operation_extensions(cx, op);
    let (auth, scopes) = security::route_auth(cx, route_key, op, schemes)?;
    let Some(integration) = op.get("x-amazon-apigateway-integration") else {
        cx.warn(op, format!("route `{route_key}` has no x-amazon-apigateway-integration; left out")).help =
            Some(format!("give `routes.\"{route_key}\"` an integration in the overlay"));
        return None;
    };
    let integration = integration::resolve_ref(cx, integration, integrations)?;
    let mut route = integration::decode(cx, route_key, method, integration, native)?;
    route.scopes = scopes;
    route.auth = auth;
    Some(route)
}

fn operation_extensions(cx: &mut Cx<'_>, op: &Val) {
    for (key, _) in op.entries() {
        let name = key.text.as_str();
        match name {
            "x-amazon-apigateway-integration" | "x-amazon-apigateway-auth" | "isDefaultRoute" => {}
            "x-amazon-apigateway-request-validator" => {
                cx.warn_key(op, name, "`x-amazon-apigateway-request-validator`: request validation is a REST API feature; HTTP APIs do not validate requests");
            }
            "x-amazon-apigateway-api-key-required" => {
                cx.warn_key(
                    op,
                    name,
                    "`x-amazon-apigateway-api-key-required`: API keys are a REST API feature; not enforced",
                );
            }
            _ if name.starts_with("x-amazon-apigateway-") => {
                cx.warn_key(op, name, format!("`{name}` is not supported on an operation; ignored"));
            }
            _ => {}
        }
    }
}

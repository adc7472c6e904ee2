//! An AWS SAM template -> functions (`AWS::Serverless::Function`), routes (their `HttpApi`
//! events and the API's `DefinitionBody`), authorizers, CORS and the stage of one
//! `AWS::Serverless::HttpApi`
//! (<https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-httpapi.html>).
//!
//! Intrinsics are resolved by [`cfn`](crate::cfn) where they name things of the template.
//! Functions run from their `CodeUri` (relative to the template) as written: no `sam build`.

mod events;
mod function;
mod http_api;

use crate::cfn::Template;
use crate::diagnostic::ImportErrors;
use crate::diagnostic::Severity;
use crate::native::{Native, RouteAuth};
use crate::source::{Cx, Key, Val};

/// The logical id SAM gives the API it creates for events that name no `ApiId`.
const IMPLICIT_API: &str = "ServerlessHttpApi";

/// Imports a SAM template.
pub(crate) fn import(cx: &mut Cx<'_>, root: &Val) -> Result<Native, ImportErrors> {
    let Some(resources) = root.get("Resources") else {
        return Err(cx.fatal(root.span, "", "not a SAM template: no `Resources`"));
    };
    if root.get("Transform").is_none() {
        cx.warn(root, "no `Transform: AWS::Serverless-2016-10-31`: read as a SAM template anyway");
    }
    let overrides = cx.options.parameters.clone();
    let template = Template::new(cx, root, &overrides);
    let globals = root.get("Globals");
    let mut native = Native::default();
    let mut events = Vec::new();
    let mut apis: Vec<(&Key, &Val)> = Vec::new();
    for (key, resource) in resources.entries() {
        match resource.get("Type").and_then(Val::str).unwrap_or_default() {
            "AWS::Serverless::Function" => {
                let globals = globals.and_then(|g| g.get("Function"));
                function::read(cx, &template, key, resource, globals, &mut native, &mut events);
            }
            "AWS::Serverless::HttpApi" => apis.push((key, resource)),
            other => other_resource(cx, resources, key, other),
        }
    }
    if native.functions.is_empty() && apis.is_empty() {
        return Err(cx.fatal(
            resources.span,
            "Resources",
            "no AWS::Serverless::Function or AWS::Serverless::HttpApi in this template: nothing to serve",
        ));
    }
    let api = choose_api(cx, resources, &apis, &events);
    let api_props = apis.iter().find(|(k, _)| k.text == api).and_then(|(_, r)| r.get("Properties"));
    let auth = http_api::read(cx, &template, api_props, globals.and_then(|g| g.get("HttpApi")), &mut native);
    events::routes(cx, &events, &api, &auth, &mut native);
    if auth.default_iam {
        leave_out_iam_defaulted(cx, root, &mut native);
    }
    Ok(native)
}

/// Resources that describe APIs or functions Portcullis does not read from a template.
fn other_resource(cx: &mut Cx<'_>, resources: &Val, key: &Key, kind: &str) {
    let why = match kind {
        "AWS::Serverless::Api" | "AWS::ApiGateway::RestApi" => "a REST API; Portcullis serves HTTP APIs",
        "AWS::ApiGatewayV2::Api"
        | "AWS::ApiGatewayV2::Route"
        | "AWS::ApiGatewayV2::Integration"
        | "AWS::ApiGatewayV2::Authorizer" => {
            "a CloudFormation API Gateway V2 resource; only AWS::Serverless::HttpApi and function events are read"
        }
        "AWS::Lambda::Function" => "a CloudFormation function; only AWS::Serverless::Function is read",
        _ => return,
    };
    cx.warn_key(resources, &key.text, format!("resource `{}` ({kind}) is {why}; not imported", key.text));
}

/// The logical id of the API to import: the one the options name, the only one, or the first
/// explicit one. Every `AWS::Serverless::HttpApi` and the implicit `ServerlessHttpApi` (when
/// an event names no `ApiId`) count.
fn choose_api(cx: &mut Cx<'_>, resources: &Val, apis: &[(&Key, &Val)], events: &[events::Event]) -> String {
    let mut ids: Vec<String> = apis.iter().map(|(k, _)| k.text.clone()).collect();
    if events.iter().any(|e| e.api == IMPLICIT_API) {
        ids.push(IMPLICIT_API.to_owned());
    }
    if let Some(wanted) = &cx.options.api {
        if !ids.contains(wanted) {
            let message = format!(
                "ImportOptions::api names `{wanted}`, which is not an HTTP API of this template (it has: {})",
                ids.join(", ")
            );
            cx.warn(resources, message);
        }
        return wanted.clone();
    }
    ids.into_iter().next().unwrap_or_else(|| IMPLICIT_API.to_owned())
}

/// Routes that fall back to an IAM default authorizer: left out (fail closed), each reported.
fn leave_out_iam_defaulted(cx: &mut Cx<'_>, root: &Val, native: &mut Native) {
    let defaulted: Vec<String> = native
        .routes
        .iter()
        .filter(|(_, r)| r.value.auth == RouteAuth::Inherit)
        .map(|(k, _)| k.clone())
        .collect();
    for key in defaulted {
        let Some(route) = native.routes.shift_remove(&key) else {
            continue;
        };
        let message = format!(
            "route `{key}` uses the API's default IAM authorization, which Portcullis cannot check; left out"
        );
        cx.report(Severity::Error, route.at, &root.path, message)
            .help(format!("define `routes.\"{key}\"` in the overlay with an authorizer Portcullis can run"))
            .resolved_by_route(&key);
    }
}

/// A stage's or a route's `RouteSettings`/`DefaultRouteSettings`: the throttle they set
/// (`ThrottlingRateLimit`, `ThrottlingBurstLimit`, both needed); the logging and metrics
/// settings are reported as not applied.
fn route_settings(cx: &mut Cx<'_>, settings: &Val) -> Option<crate::native::Throttle> {
    for key in ["DetailedMetricsEnabled", "LoggingLevel", "DataTraceEnabled"] {
        if let Some(v) = settings.get(key) {
            cx.warn(v, format!("`{key}`: per-route logging and metrics are not applied; the access log and /metrics cover every route"));
        }
    }
    let rate = settings.get("ThrottlingRateLimit");
    let burst = settings.get("ThrottlingBurstLimit");
    match (rate, burst) {
        (None, None) => None,
        (Some(rate), Some(burst)) => {
            let text = rate.str().map(str::trim).filter(|t| t.parse::<f64>().is_ok_and(|r| r >= 0.0));
            match (text, burst.uint()) {
                (Some(text), Some(burst)) => Some(crate::native::Throttle { rate: text.to_owned(), burst }),
                (None, _) => {
                    cx.expected(rate, "a rate in requests per second");
                    None
                }
                (_, None) => {
                    cx.expected(burst, "a whole number of requests");
                    None
                }
            }
        }
        (Some(one), None) | (None, Some(one)) => {
            cx.warn(
                one,
                "throttling needs both `ThrottlingRateLimit` and `ThrottlingBurstLimit`; not applied",
            );
            None
        }
    }
}

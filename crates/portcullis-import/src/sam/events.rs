//! A function's `Events` of `Type: HttpApi` -> routes
//! (<https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-httpapi.html>).

use crate::cfn::Template;
use crate::diagnostic::Severity;
use crate::native::{Item, Native, Route, RouteAuth, Target};
use crate::openapi::version;
use crate::source::{Cx, Key, Val, path_key};

use super::IMPLICIT_API;
use super::http_api::ApiAuth;

/// Methods an HTTP API route may have.
const METHODS: &[&str] = &["ANY", "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"];

/// One `Type: HttpApi` event, its properties resolved.
pub(crate) struct Event {
    /// The native function it invokes.
    pub(crate) function: String,
    /// The event's key (its name and position).
    pub(crate) key: Key,
    /// The event's YAML path.
    pub(crate) path: String,
    /// `Properties`, resolved (an empty mapping when absent).
    pub(crate) props: Val,
    /// The logical id of its API (`ApiId`, or the implicit `ServerlessHttpApi`).
    pub(crate) api: String,
}

/// Collects the HTTP API events of `function`; other event types are reported.
pub(crate) fn collect(cx: &mut Cx<'_>, t: &Template<'_>, function: &str, list: &Val, out: &mut Vec<Event>) {
    for (key, event) in list.entries() {
        let kind = event.get("Type").and_then(Val::str).unwrap_or_default();
        let path = path_key(&list.path, &key.text);
        if kind != "HttpApi" {
            let why = if kind == "Api" {
                "belongs to a REST API (Type: Api); Portcullis serves HTTP APIs".to_owned()
            } else {
                format!("(Type: {kind}) is not an HTTP API request")
            };
            cx.report(
                Severity::Warning,
                key.span,
                &path,
                format!("event `{}` of function `{function}` {why}; not imported", key.text),
            );
            continue;
        }
        let props = match event.get("Properties") {
            Some(p) => t.resolve(cx, p).unwrap_or_else(|_| Val::string_at("", p)),
            None => Val { kind: crate::source::VKind::Map(Vec::new()), ..Val::string_at("", event) },
        };
        let api = props.get("ApiId").and_then(Val::str).unwrap_or(IMPLICIT_API).to_owned();
        out.push(Event { function: function.to_owned(), key: key.clone(), path, props, api });
    }
}

/// Adds a route for each event of `api`; events of other APIs are reported.
pub(crate) fn routes(cx: &mut Cx<'_>, events: &[Event], api: &str, auth: &ApiAuth, native: &mut Native) {
    for event in events {
        if event.api != api {
            cx.report(
                Severity::Warning,
                event.key.span,
                &event.path,
                format!(
                    "event `{}` belongs to API `{}`; only `{api}` is imported",
                    event.key.text, event.api
                ),
            )
            .help("choose the API with ImportOptions::api");
            continue;
        }
        let Some(route_key) = route_key(cx, event) else {
            continue;
        };
        route(cx, event, route_key, auth, native);
    }
}

/// `METHOD /path`, or `$default` when the event has neither `Path` nor `Method`.
fn route_key(cx: &mut Cx<'_>, event: &Event) -> Option<String> {
    let p = &event.props;
    let (path, method) = (p.get("Path").and_then(Val::str), p.get("Method").and_then(Val::str));
    match (path, method) {
        (None, None) => Some("$default".to_owned()),
        (Some(path), Some(method)) => {
            let upper = method.to_ascii_uppercase();
            let upper = if upper == "X-AMAZON-APIGATEWAY-ANY-METHOD" || upper == "*" {
                "ANY".to_owned()
            } else {
                upper
            };
            if !METHODS.contains(&upper.as_str()) {
                cx.warn(
                    p.get("Method").unwrap_or(p),
                    format!("method {method:?} is not an HTTP API route method; event not imported"),
                );
                return None;
            }
            Some(format!("{upper} {path}"))
        }
        _ => {
            cx.report(
                Severity::Warning,
                event.key.span,
                &event.path,
                format!(
                    "event `{}` has a Path without a Method (or a Method without a Path); not imported",
                    event.key.text
                ),
            );
            None
        }
    }
}

fn route(cx: &mut Cx<'_>, event: &Event, key: String, auth: &ApiAuth, native: &mut Native) {
    let p = &event.props;
    let Some(route_auth) = event_auth(cx, event, &key, auth, native) else {
        return;
    };
    // An operation of the DefinitionBody with this key gets its integration from the event,
    // keeping its own security unless the event says otherwise (as SAM merges them).
    let existing = native.routes.shift_remove(&key);
    let mut route = existing
        .as_ref()
        .map_or_else(|| Route::new(Target::Function(event.function.clone())), |r| r.value.clone());
    route.target = Target::Function(event.function.clone());
    if let Some(v) = p.get("PayloadFormatVersion") {
        route.payload_format_version = version(cx, v);
    }
    if let Some(v) = p.get("TimeoutInMillis") {
        match v.uint() {
            Some(ms) if ms > 0 => route.timeout_ms = Some(ms),
            _ => cx.expected(v, "a positive number of milliseconds"),
        }
    }
    if let Some((a, scopes)) = route_auth {
        route.auth = a;
        route.scopes = scopes;
    }
    if let Some(s) = p.get("RouteSettings") {
        route.throttle = super::route_settings(cx, s);
    }
    let at = existing.map_or(event.key.span, |r| r.at);
    native.routes.insert(key, Item::new(route, at));
}

/// The route's authorizer and scopes from `Auth`: `Some(None)` when the event does not say
/// (the API's default applies), `None` (reported) when the route cannot be served.
fn event_auth(
    cx: &mut Cx<'_>,
    event: &Event,
    key: &str,
    auth: &ApiAuth,
    native: &Native,
) -> Option<Option<(RouteAuth, Vec<String>)>> {
    let written = event.props.get("Auth");
    let named = written.and_then(|a| a.get("Authorizer"));
    let scopes = written.and_then(|a| a.get("AuthorizationScopes")).and_then(Val::strings);
    let (route_auth, effective) = match named.and_then(Val::str) {
        Some("NONE") => return Some(Some((RouteAuth::Public, Vec::new()))),
        Some("AWS_IAM") if auth.iam => {
            cx.error(
                named.unwrap_or(&event.props),
                format!(
                    "route `{key}` uses IAM authorization (AWS_IAM), which Portcullis cannot check; left out"
                ),
            )
            .help(format!("define `routes.\"{key}\"` in the overlay with an authorizer Portcullis can run"))
            .resolved_by_route(key);
            return None;
        }
        Some(name) if native.authorizers.contains_key(name) => {
            (Some(RouteAuth::Named(name.to_owned())), Some(name.to_owned()))
        }
        Some(name) => {
            cx.error(
                named.unwrap_or(&event.props),
                format!(
                    "route `{key}`: authorizer `{name}` is not one of the API's Auth.Authorizers; left out"
                ),
            )
            .resolved_by_route(key);
            return None;
        }
        None => (None, native.default_authorizer.as_ref().map(|d| d.value.clone())),
    };
    let scopes =
        scopes.or_else(|| effective.as_ref().and_then(|a| auth.scopes.get(a).cloned())).unwrap_or_default();
    let jwt = effective.as_ref().is_some_and(|a| {
        matches!(native.authorizers.get(a).map(|i| &i.value), Some(crate::native::Authorizer::Jwt { .. }))
    });
    let scopes = if !scopes.is_empty() && !jwt {
        cx.report(
            Severity::Warning,
            event.key.span,
            &event.path,
            format!("route `{key}`: AuthorizationScopes apply to JWT authorizers only; ignored"),
        );
        Vec::new()
    } else {
        scopes
    };
    Some(match route_auth {
        Some(a) => Some((a, scopes)),
        None if scopes.is_empty() => None,
        None => Some((RouteAuth::Inherit, scopes)),
    })
}

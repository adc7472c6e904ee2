//! `provider.httpApi` (authorizers, CORS, payload) and `httpApi` events -> authorizers, CORS
//! and routes.

use crate::cors;
use crate::native::{Authorizer, Cors, Item, Native, Route, RouteAuth, Target};
use crate::openapi::version;
use crate::source::{Cx, Val};

/// Headers the Framework allows when `cors: true` (or an object without `allowedHeaders`).
const DEFAULT_CORS_HEADERS: &[&str] = &[
    "Content-Type",
    "X-Amz-Date",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Security-Token",
    "X-Amz-User-Agent",
    "X-Amzn-Trace-Id",
];

/// The methods `ANY` stands for when the Framework fills `allowedMethods`.
const ANY_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "OPTIONS", "HEAD", "DELETE"];

/// One `httpApi` event of a function.
pub(crate) struct Event {
    function: String,
    /// The event as written (its position).
    at: Val,
    /// `$default`, or `METHOD /path`.
    key: String,
    authorizer: Option<Val>,
    /// The function's `httpApi.payload`.
    payload: Option<Val>,
}

/// Reads one item of a function's `events`; other event types are reported.
pub(crate) fn collect(
    cx: &mut Cx<'_>,
    function: &str,
    item: &Val,
    payload: Option<&Val>,
    out: &mut Vec<Event>,
) {
    let Some((kind, event)) = item.entries().first().map(|(k, v)| (k.text.as_str(), v)) else {
        return;
    };
    match kind {
        "httpApi" => {}
        "http" => {
            cx.warn_key(item, kind, format!("function `{function}`: an `http` event belongs to a REST API; Portcullis serves HTTP APIs (`httpApi`); not imported"));
            return;
        }
        other => {
            cx.warn_key(
                item,
                other,
                format!("function `{function}`: a `{other}` event is not an HTTP API request; not imported"),
            );
            return;
        }
    }
    let (method, path, authorizer) = match event.str() {
        Some(short) => match short.trim().split_once(' ') {
            Some((m, p)) => (Some(m.to_owned()), p.trim().to_owned(), None),
            None => (None, short.trim().to_owned(), None),
        },
        None => (
            event.get("method").and_then(Val::str).map(str::to_owned),
            event.get("path").and_then(Val::str).unwrap_or_default().to_owned(),
            event.get("authorizer").cloned(),
        ),
    };
    let key = if path == "*" {
        "$default".to_owned()
    } else {
        let Some(method) = method else {
            cx.warn(
                event,
                format!("function `{function}`: httpApi event for {path:?} has no method; not imported"),
            );
            return;
        };
        let method = if method == "*" { "ANY".to_owned() } else { method.to_ascii_uppercase() };
        if !ANY_METHODS.contains(&method.as_str()) && method != "ANY" {
            cx.warn(
                event,
                format!(
                    "function `{function}`: method {method:?} is not an HTTP API route method; not imported"
                ),
            );
            return;
        }
        format!("{method} {path}")
    };
    out.push(Event {
        function: function.to_owned(),
        at: event.clone(),
        key,
        authorizer,
        payload: payload.cloned(),
    });
}

/// `provider.httpApi.authorizers`: JWT (`issuerUrl`, `audience`, `identitySource`) and
/// Lambda (`type: request`, `functionName` or `functionArn`, ...).
pub(crate) fn authorizers(cx: &mut Cx<'_>, http_api: Option<&Val>, native: &mut Native) {
    for (key, def) in http_api.and_then(|h| h.get("authorizers")).map(Val::entries).unwrap_or_default() {
        let name = key.text.as_str();
        let is_request =
            def.get("type").and_then(Val::str).is_some_and(|t| t.eq_ignore_ascii_case("request"));
        let authorizer = if is_request { lambda(cx, name, def, native) } else { jwt(cx, name, def) };
        if let Some(a) = authorizer {
            native.authorizers.insert(name.to_owned(), Item::new(a, key.span));
        }
    }
}

fn identity(def: &Val) -> Vec<String> {
    def.get("identitySource").and_then(Val::strings).unwrap_or_default()
}

fn jwt(cx: &mut Cx<'_>, name: &str, def: &Val) -> Option<Authorizer> {
    let issuer = def.get("issuerUrl").and_then(Val::str).map(str::to_owned);
    if issuer.is_none() {
        cx.error(def, format!("JWT authorizer `{name}` has no issuerUrl")).resolved_by(&[&[
            "authorizers",
            name,
            "issuer",
        ]]);
    }
    let audience = def.get("audience").and_then(Val::strings).unwrap_or_default();
    if audience.is_empty() {
        cx.error(def, format!("JWT authorizer `{name}` has no audience")).resolved_by(&[&[
            "authorizers",
            name,
            "audience",
        ]]);
    }
    Some(Authorizer::Jwt { issuer, audience, identity_source: identity(def) })
}

fn lambda(cx: &mut Cx<'_>, name: &str, def: &Val, native: &mut Native) -> Option<Authorizer> {
    let function = match (def.get("functionName"), def.get("functionArn")) {
        (Some(f), _) => match f.str().filter(|f| native.functions.contains_key(*f)) {
            Some(f) => f.to_owned(),
            None => {
                cx.error(f, format!("authorizer `{name}`: functionName {} is not a function of this service; routes using it are left out", f.describe()));
                return None;
            }
        },
        (None, Some(arn)) => native.lambda_function(cx, arn)?,
        (None, None) => {
            cx.error(def, format!("Lambda authorizer `{name}` has neither functionName nor functionArn; routes using it are left out"));
            return None;
        }
    };
    let payload_format_version = def.get("payloadVersion").and_then(|v| version(cx, v));
    let result_ttl = def.get("resultTtlInSeconds").and_then(|v| {
        let n = v.uint();
        if n.is_none() {
            cx.expected(v, "a number of seconds");
        }
        n
    });
    Some(Authorizer::Lambda {
        function,
        event: "request",
        payload_format_version,
        simple_responses: def.get("enableSimpleResponses").and_then(Val::bool),
        identity_source: identity(def),
        result_ttl,
        token_validation: None,
    })
}

/// Adds the events' routes; returns the methods they use (for CORS's filled methods).
pub(crate) fn routes(cx: &mut Cx<'_>, events: &[Event], native: &mut Native) -> Vec<String> {
    let mut methods = Vec::new();
    for event in events {
        if native.routes.contains_key(&event.key) {
            cx.warn(&event.at, format!("route `{}` is defined twice; the first is kept", event.key));
            continue;
        }
        let Some((auth, scopes)) = route_auth(cx, event, native) else {
            continue;
        };
        let mut route = Route::new(Target::Function(event.function.clone()));
        route.payload_format_version = event.payload.as_ref().and_then(|p| version(cx, p));
        route.auth = auth;
        route.scopes = scopes;
        let method = event.key.split(' ').next().filter(|_| event.key != "$default").unwrap_or("ANY");
        methods.push(method.to_owned());
        native.routes.insert(event.key.clone(), Item::new(route, event.at.span));
    }
    methods
}

/// `authorizer: NAME` or `{name, scopes}`; `{type: aws_iam}` and external `{id}` authorizers
/// cannot be served (reported, route left out).
fn route_auth(cx: &mut Cx<'_>, event: &Event, native: &Native) -> Option<(RouteAuth, Vec<String>)> {
    let Some(a) = &event.authorizer else {
        return Some((RouteAuth::Inherit, Vec::new()));
    };
    let key = &event.key;
    let name = a.str().or_else(|| a.get("name").and_then(Val::str));
    if a.get("type").and_then(Val::str).is_some_and(|t| t.eq_ignore_ascii_case("aws_iam")) {
        cx.error(
            a,
            format!(
                "route `{key}` uses IAM authorization (aws_iam), which Portcullis cannot check; left out"
            ),
        )
        .help(format!("define `routes.\"{key}\"` in the overlay with an authorizer Portcullis can run"))
        .resolved_by_route(key);
        return None;
    }
    if let Some(id) = a.get("id") {
        cx.error(id, format!("route `{key}` uses an authorizer of an external API (id); left out"))
            .resolved_by_route(key);
        return None;
    }
    let Some(name) = name.filter(|n| native.authorizers.contains_key(*n)) else {
        cx.error(
            a,
            format!(
                "route `{key}`: authorizer {} is not one of provider.httpApi.authorizers; left out",
                a.describe()
            ),
        )
        .resolved_by_route(key);
        return None;
    };
    let mut scopes = a.get("scopes").and_then(Val::strings).unwrap_or_default();
    let jwt = matches!(native.authorizers.get(name).map(|i| &i.value), Some(Authorizer::Jwt { .. }));
    if !jwt && !scopes.is_empty() {
        cx.warn(a, format!("route `{key}`: scopes apply to JWT authorizers only; `{name}` is a Lambda authorizer, scopes ignored"));
        scopes.clear();
    }
    Some((RouteAuth::Named(name.to_owned()), scopes))
}

/// `provider.httpApi.cors`: `true` (the Framework's defaults), or an object; methods the
/// Framework fills from the routes when none are given.
pub(crate) fn cors(cx: &mut Cx<'_>, http_api: Option<&Val>, methods: &[String], native: &mut Native) {
    let Some(v) = http_api.and_then(|h| h.get("cors")) else {
        return;
    };
    let mut c = match v.bool() {
        Some(false) => return,
        Some(true) => Cors::default(),
        None => {
            let keys = [
                ("allowedOrigins", cors::Field::Origins),
                ("allowedMethods", cors::Field::Methods),
                ("allowedHeaders", cors::Field::Headers),
                ("exposedResponseHeaders", cors::Field::Expose),
                ("maxAge", cors::Field::MaxAge),
                ("allowCredentials", cors::Field::Credentials),
            ];
            match cors::read(cx, v, &keys) {
                Some(c) => c,
                None => return,
            }
        }
    };
    if c.allow_origins.is_empty() {
        c.allow_origins = vec!["*".into()];
    }
    if c.allow_headers.is_empty() {
        c.allow_headers = DEFAULT_CORS_HEADERS.iter().map(|h| (*h).to_owned()).collect();
    }
    if c.allow_methods.is_empty() {
        c.allow_methods = filled_methods(methods);
    }
    if c.allow_credentials == Some(false) {
        c.allow_credentials = None;
    }
    native.cors = Some(Item::new(c, v.span));
}

/// `OPTIONS`, then each route's method (every method for `ANY`), as the Framework fills them.
fn filled_methods(methods: &[String]) -> Vec<String> {
    let mut out = vec!["OPTIONS".to_owned()];
    for m in methods {
        let expanded: Vec<&str> = if m == "ANY" { ANY_METHODS.to_vec() } else { vec![m.as_str()] };
        for e in expanded {
            if !out.iter().any(|o| o == e) {
                out.push(e.to_owned());
            }
        }
    }
    out
}

//! `AWS::Serverless::HttpApi` (with `Globals.HttpApi`) -> stage, stage variables, authorizers,
//! default authorizer, CORS, and the routes of its `DefinitionBody`.

use indexmap::IndexMap;

use crate::cfn::Template;
use crate::cors;
use crate::native::{Authorizer, Cors, Item, Native};
use crate::openapi::{self, identity_sources, version};
use crate::source::{Cx, VKind, Val};

/// What events need to know about the API's `Auth`.
#[derive(Debug, Default)]
pub(crate) struct ApiAuth {
    /// `AuthorizationScopes` of JWT authorizers: the scopes of routes that use them and name
    /// none of their own.
    pub(crate) scopes: IndexMap<String, Vec<String>>,
    /// `EnableIamAuthorizer: true`: routes may name `AWS_IAM`.
    pub(crate) iam: bool,
    /// `DefaultAuthorizer: AWS_IAM`: routes without their own authorizer cannot be served.
    pub(crate) default_iam: bool,
}

/// Settings Portcullis does not apply, and why.
const NOT_APPLIED: &[(&str, &str)] =
    &[("Domain", "custom domains are not served; the gateway listens on `listen`")];

/// The API's properties, with `Globals.HttpApi` beneath them.
struct Props<'v> {
    own: Option<&'v Val>,
    globals: Option<&'v Val>,
}

impl<'v> Props<'v> {
    fn get(&self, key: &str) -> Option<&'v Val> {
        self.own.and_then(|p| p.get(key)).or_else(|| self.globals.and_then(|g| g.get(key)))
    }
}

/// Reads the API (`own` is `None` for the implicit API) into `native`.
pub(crate) fn read(
    cx: &mut Cx<'_>,
    t: &Template<'_>,
    own: Option<&Val>,
    globals: Option<&Val>,
    native: &mut Native,
) -> ApiAuth {
    let props = Props { own, globals };
    stage(cx, t, &props, native);
    let auth = match t.get(cx, props.get("Auth")) {
        Some(a) => read_auth(cx, &a, native),
        None => ApiAuth::default(),
    };
    if let Some(body) = t.get(cx, props.get("DefinitionBody")) {
        definition_body(cx, &body, native);
    }
    if let Some(uri) = props.get("DefinitionUri") {
        cx.error(uri, "DefinitionUri: the OpenAPI definition is in another file, which is not read here")
            .help("import that file as an OpenAPI definition, with this template's functions in the overlay");
    }
    if let Some(c) = props.get("CorsConfiguration")
        && let Some(c) = t.get(cx, Some(c)).and_then(|c| cors(cx, &c))
    {
        let at = c.1;
        let merged = match native.cors.take() {
            Some(body) => cors::over(body.value, c.0),
            None => c.0,
        };
        native.cors = Some(Item::new(merged, at));
    }
    if let Some(settings) = t.get(cx, props.get("DefaultRouteSettings")) {
        native.throttle =
            super::route_settings(cx, &settings).map(|throttle| Item::new(throttle, settings.span));
    }
    if let Some(routes) = t.get(cx, props.get("RouteSettings")) {
        for (key, settings) in routes.entries() {
            if let Some(throttle) = super::route_settings(cx, settings) {
                native.route_throttles.insert(key.text.clone(), Item::new(throttle, settings.span));
            }
        }
    }
    if let Some(logs) = t.get(cx, props.get("AccessLogSettings")) {
        match logs.get("Format").and_then(Val::str) {
            Some(format) => native.access_log_format = Some(Item::new(format.to_owned(), logs.span)),
            None => cx.expected(&logs, "`Format`, an access-log format"),
        }
        if let Some(destination) = logs.get("DestinationArn") {
            cx.warn(
                destination,
                "`DestinationArn`: the lines go to the gateway's own access-log output (`access_log.output`)",
            );
        }
    }
    for (key, why) in NOT_APPLIED {
        if let Some(v) = props.get(key) {
            cx.warn(v, format!("`{key}`: {why}"));
        }
    }
    auth
}

fn stage(cx: &mut Cx<'_>, t: &Template<'_>, props: &Props<'_>, native: &mut Native) {
    if let Some(name) = t.get(cx, props.get("StageName")) {
        match name.str() {
            Some("$default") => {}
            Some(s) => native.stage = Some(Item::new(s.to_owned(), name.span)),
            None => cx.expected(&name, "a stage name"),
        }
    }
    if let Some(vars) = t.get(cx, props.get("StageVariables")) {
        let mut out = Vec::new();
        for (key, value) in vars.entries() {
            match value.str() {
                Some(s) => out.push((key.text.clone(), s.to_owned())),
                None => cx.expected(value, "a string"),
            }
        }
        native.stage_variables = Some(Item::new(out, vars.span));
    }
}

fn read_auth(cx: &mut Cx<'_>, a: &Val, native: &mut Native) -> ApiAuth {
    let mut auth =
        ApiAuth { iam: a.get("EnableIamAuthorizer").and_then(Val::bool) == Some(true), ..ApiAuth::default() };
    for (key, def) in a.get("Authorizers").map(Val::entries).unwrap_or_default() {
        let name = key.text.as_str();
        let authorizer = if def.get("JwtConfiguration").is_some() {
            jwt(cx, name, def)
        } else if def.get("FunctionArn").is_some() {
            lambda(cx, name, def, native)
        } else {
            if def.get("OpenIdConnectUrl").is_some() {
                cx.warn_key(def, "OpenIdConnectUrl", format!("authorizer `{name}`: OpenIdConnectUrl is no longer supported by SAM; give JwtConfiguration.issuer"));
            } else {
                cx.warn(
                    def,
                    format!("authorizer `{name}` has neither JwtConfiguration nor FunctionArn; not imported"),
                );
            }
            None
        };
        let Some(authorizer) = authorizer else {
            continue;
        };
        if let Some(scopes) = def.get("AuthorizationScopes").and_then(Val::strings) {
            auth.scopes.insert(name.to_owned(), scopes);
        }
        native.authorizers.insert(name.to_owned(), Item::new(authorizer, key.span));
    }
    if let Some(d) = a.get("DefaultAuthorizer") {
        match d.str() {
            Some("AWS_IAM") => {
                cx.warn(d, "DefaultAuthorizer AWS_IAM: routes without an Auth.Authorizer of their own use IAM authorization, which Portcullis cannot check; they are left out");
                auth.default_iam = true;
            }
            Some(name) if native.authorizers.contains_key(name) => {
                native.default_authorizer = Some(Item::new(name.to_owned(), d.span))
            }
            _ => {
                cx.warn(
                    d,
                    format!(
                        "DefaultAuthorizer {} names no authorizer of Auth.Authorizers; ignored",
                        d.describe()
                    ),
                );
            }
        }
    }
    auth
}

/// A JWT authorizer: `JwtConfiguration` (keys in any case, as SAM lower-cases them) and
/// `IdentitySource`.
fn jwt(cx: &mut Cx<'_>, name: &str, def: &Val) -> Option<Authorizer> {
    let config = def.get("JwtConfiguration")?;
    let field =
        |key: &str| config.entries().iter().find(|(k, _)| k.text.eq_ignore_ascii_case(key)).map(|(_, v)| v);
    let issuer = field("issuer").and_then(Val::str).map(str::to_owned);
    if issuer.is_none() {
        cx.error(config, format!("JWT authorizer `{name}` names no issuer")).resolved_by(&[&[
            "authorizers",
            name,
            "issuer",
        ]]);
    }
    let audience = field("audience").and_then(Val::strings).unwrap_or_default();
    if audience.is_empty() {
        cx.error(config, format!("JWT authorizer `{name}` names no audience")).resolved_by(&[&[
            "authorizers",
            name,
            "audience",
        ]]);
    }
    let identity_source = def.get("IdentitySource").map(|v| identity_sources(cx, v)).unwrap_or_default();
    Some(Authorizer::Jwt { issuer, audience, identity_source })
}

/// A Lambda authorizer: `FunctionArn`, `AuthorizerPayloadFormatVersion`,
/// `EnableSimpleResponses`, `Identity`.
fn lambda(cx: &mut Cx<'_>, name: &str, def: &Val, native: &mut Native) -> Option<Authorizer> {
    let function = native.lambda_function(cx, def.get("FunctionArn")?)?;
    let event = match def.get("FunctionPayloadType").and_then(Val::str) {
        Some(t) if t.eq_ignore_ascii_case("TOKEN") => {
            cx.warn_key(def, "FunctionPayloadType", format!("authorizer `{name}`: FunctionPayloadType TOKEN is a REST API authorizer; run as a TOKEN authorizer"));
            "token"
        }
        _ => "request",
    };
    if let Some(role) = def.get("FunctionInvokeRole").filter(|r| r.str() != Some("NONE")) {
        cx.warn(role, "FunctionInvokeRole (the role API Gateway assumes to invoke the authorizer) has no meaning locally; ignored");
    }
    let payload_format_version = def.get("AuthorizerPayloadFormatVersion").and_then(|v| version(cx, v));
    let simple_responses = def.get("EnableSimpleResponses").and_then(Val::bool);
    let (identity_source, result_ttl) = match def.get("Identity") {
        Some(identity) => (identity_list(cx, identity), identity.get("ReauthorizeEvery").and_then(Val::uint)),
        None => (Vec::new(), None),
    };
    Some(Authorizer::Lambda {
        function,
        event,
        payload_format_version,
        simple_responses,
        identity_source,
        result_ttl,
        token_validation: None,
    })
}

/// `Identity: {Headers, QueryStrings, StageVariables, Context}` -> identity source expressions.
fn identity_list(cx: &mut Cx<'_>, identity: &Val) -> Vec<String> {
    let mut out = Vec::new();
    for (key, prefix) in [
        ("Headers", "$request.header."),
        ("QueryStrings", "$request.querystring."),
        ("StageVariables", "$stageVariables."),
        ("Context", "$context."),
    ] {
        if let Some(v) = identity.get(key) {
            match v.strings() {
                Some(names) => out.extend(names.into_iter().map(|n| format!("{prefix}{n}"))),
                None => cx.expected(v, "a list of names"),
            }
        }
    }
    out
}

fn definition_body(cx: &mut Cx<'_>, body: &Val, native: &mut Native) {
    if body.get("swagger").is_some() || body.get("openapi").is_none() {
        cx.error(body, "DefinitionBody is not an OpenAPI 3.0 definition (HTTP APIs import OpenAPI 3.0 only); its routes are not imported");
        return;
    }
    openapi::read_into(cx, body, native);
}

/// `CorsConfiguration`: `true` (any origin, as SAM does), a string (one origin), or a mapping
/// of upper-camel keys. Returns the configuration and where it was written.
fn cors(cx: &mut Cx<'_>, v: &Val) -> Option<(Cors, portcullis_config::Span)> {
    if let Some(b) = v.bool() {
        return b.then(|| (Cors { allow_origins: vec!["*".into()], ..Cors::default() }, v.span));
    }
    if let VKind::Scalar { .. } = v.kind {
        return v.str().map(|o| (Cors { allow_origins: vec![o.to_owned()], ..Cors::default() }, v.span));
    }
    let keys = [
        ("AllowOrigins", cors::Field::Origins),
        ("AllowMethods", cors::Field::Methods),
        ("AllowHeaders", cors::Field::Headers),
        ("ExposeHeaders", cors::Field::Expose),
        ("MaxAge", cors::Field::MaxAge),
        ("AllowCredentials", cors::Field::Credentials),
    ];
    cors::read(cx, v, &keys).map(|c| (c, v.span))
}

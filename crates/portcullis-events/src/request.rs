//! Request events for payload format 2.0 (docs/aws-compatibility.md#payload-20-request-event) and
//! 1.0 (docs/aws-compatibility.md#payload-10-request-event).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, TRANSFER_ENCODING, USER_AGENT};
use portcullis_core::{AuthContext, CallContext};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::claims::claim_string;
use crate::clf::{clf_time, epoch_millis};
use crate::json::Object;

/// Everything an event is built from. The pipeline owns all of it; the builders only borrow.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The request head as the client sent it. `uri.path()`, decoded as API Gateway decodes it
    /// ([`portcullis_route::integration_path`]), becomes `rawPath`, so it must be the full path
    /// the client used, including the `/{stage}` prefix of a named stage
    /// (docs/aws-compatibility.md#stages-and-stage-variables).
    pub parts: &'a http::request::Parts,
    /// The whole request body (the integration collects it; at most 6 MB,
    /// docs/aws-compatibility.md#lambda-integration-failures).
    pub body: &'a [u8],
    /// Route key, path parameters, request id, receive time, source address, authorizer outcome.
    pub ctx: &'a CallContext,
    /// Stage name (`$default` for the default stage).
    pub stage: &'a str,
    /// `requestContext.apiId`.
    pub api_id: &'a str,
    /// `requestContext.accountId`.
    pub account_id: &'a str,
    /// `requestContext.domainName` override; `None` uses the `Host` header (or the URI authority
    /// for HTTP/2), without its port.
    pub domain: Option<&'a str>,
    /// The stage's variables (`stageVariables`), in any order; empty means none.
    pub stage_variables: &'a [(String, String)],
}

impl<'a> RequestFacts<'a> {
    /// The facts of one request on the API described by `api`.
    pub fn new(
        parts: &'a http::request::Parts,
        body: &'a [u8],
        ctx: &'a CallContext,
        api: &'a portcullis_core::ApiIdentity,
    ) -> Self {
        Self {
            parts,
            body,
            ctx,
            stage: &api.stage,
            api_id: &api.api_id,
            account_id: &api.account_id,
            domain: api.domain.as_deref(),
            stage_variables: &api.stage_variables,
        }
    }
}

/// The event could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// JSON encoding failed (cannot happen with the string-keyed maps used; kept typed anyway).
    #[error("could not encode the event: {0}")]
    Encode(#[from] serde_json::Error),
}

// === payload 2.0 ===

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum AuthorizerV2<'a> {
    Jwt { claims: BTreeMap<&'a str, String>, scopes: Option<&'a [String]> },
    Lambda(Option<&'a Map<String, Value>>),
}

/// Which 2.0-shaped event [`write_v2`] writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum V2Kind<'a> {
    /// The integration event (docs/aws-compatibility.md#payload-20-request-event).
    Integration,
    /// The REQUEST 2.0 authorizer event (docs/aws-compatibility.md#lambda-authorizer-events): the
    /// integration event without `body`, `isBase64Encoded` and `requestContext.authorizer`, plus
    /// `type`, `routeArn` and `identitySource` (the resolved values, in configuration order;
    /// `null` when there are none).
    Authorizer { route_arn: &'a str, identity_source: &'a [String] },
}

/// The payload 2.0 request event (docs/aws-compatibility.md#payload-20-request-event) as JSON bytes.
///
/// Field rules: header names lower-cased (the `http` crate already stores them so) and repeated
/// headers joined with `,`; `Cookie` headers moved to `cookies` and dropped from `headers`;
/// `rawQueryString` as sent (`""` when none); `queryStringParameters` decoded, repeats joined
/// with `,`; `cookies`, `queryStringParameters`, `pathParameters`, `stageVariables` and `body`
/// omitted when empty; `http.protocol` always `HTTP/1.1`; `authorizer` omitted when no
/// authorizer ran. Maps are written with their keys in byte order.
///
/// # Errors
/// [`EventError::Encode`] if JSON encoding of an authorizer context fails.
pub fn request_v2(facts: &RequestFacts<'_>) -> Result<Vec<u8>, EventError> {
    write_v2(facts, V2Kind::Integration)
}

/// Writes a 2.0-shaped event field by field (see [`crate::json`] for why not through serde
/// structs). The member order is the one the serde structs had: the documented sample's.
pub(crate) fn write_v2(facts: &RequestFacts<'_>, kind: V2Kind<'_>) -> Result<Vec<u8>, EventError> {
    let parts = facts.parts;
    let ctx = facts.ctx;
    let path = event_path(&parts.uri);
    let raw_query = parts.uri.query().unwrap_or("");
    let source_ip = ip_text(ctx.client_addr.ip());
    let integration = matches!(kind, V2Kind::Integration);
    let (body, is_base64_encoded) =
        if integration { encode_body(facts.body, &parts.headers) } else { (None, false) };
    let mut out = Vec::with_capacity(1024 + body.as_ref().map_or(0, |b| b.len()));
    let mut event = Object::new(&mut out);
    if let V2Kind::Authorizer { route_arn, identity_source } = kind {
        event.str("type", "REQUEST");
        event.str("routeArn", route_arn);
        // No identity sources configured: AWS sends `null`, not an empty array
        // (docs/aws-compatibility.md#lambda-authorizer-events).
        if identity_source.is_empty() {
            event.null("identitySource");
        } else {
            event.str_array("identitySource", identity_source);
        }
    }
    event.str("version", "2.0");
    event.str("routeKey", &ctx.route_key);
    event.str("rawPath", &path);
    event.str("rawQueryString", raw_query);
    let cookie_list = cookies(&parts.headers);
    if !cookie_list.is_empty() {
        event.str_array("cookies", &cookie_list);
    }
    event.str_map("headers", headers_v2(facts, &source_ip));
    let query = joined_query(raw_query);
    if !query.is_empty() {
        event.str_map("queryStringParameters", &query);
    }
    {
        let mut context = Object::new(event.key("requestContext"));
        context.str("accountId", facts.account_id);
        context.str("apiId", facts.api_id);
        if integration {
            match &ctx.auth {
                AuthContext::None => {}
                AuthContext::Jwt(jwt) => {
                    let claims =
                        jwt.claims.iter().filter_map(|(k, v)| claim_string(v).map(|s| (k.as_str(), s)));
                    let authorizer =
                        AuthorizerV2::Jwt { claims: claims.collect(), scopes: jwt.scopes.as_deref() };
                    context.serialize("authorizer", &authorizer)?;
                }
                AuthContext::Lambda(lambda) => {
                    context.serialize("authorizer", &AuthorizerV2::Lambda(lambda.context.as_deref()))?;
                }
            }
        }
        let domain = domain_name(facts);
        context.str("domainName", domain);
        context.str("domainPrefix", domain_prefix(domain));
        {
            let mut http = Object::new(context.key("http"));
            http.str("method", parts.method.as_str());
            http.str("path", &path);
            http.str("protocol", "HTTP/1.1");
            http.str("sourceIp", &source_ip);
            http.str("userAgent", header_str(&parts.headers, USER_AGENT.as_str()));
            http.end();
        }
        context.str("requestId", ctx.request_id.as_str());
        context.str("routeKey", &ctx.route_key);
        context.str("stage", facts.stage);
        context.str("time", &clf_time(ctx.received_at));
        context.u64("timeEpoch", epoch_millis(ctx.received_at));
        context.end();
    }
    if let Some(body) = &body {
        event.str("body", body);
    }
    if !ctx.params.is_empty() {
        event.str_map(
            "pathParameters",
            sorted_last_wins(ctx.params.iter().map(|p| (&*p.name, p.decoded.as_str()))),
        );
    }
    if integration {
        event.bool("isBase64Encoded", is_base64_encoded);
    }
    if !facts.stage_variables.is_empty() {
        let vars = facts.stage_variables.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        event.str_map("stageVariables", sorted_last_wins(vars));
    }
    event.end();
    Ok(out)
}

/// The 2.0 `headers` map: one member per name, repeats joined with `,`, `cookie` left out and
/// the headers API Gateway sets ([`gateway_headers`]) in place of client-sent ones; sorted by
/// name.
fn headers_v2<'h>(facts: &RequestFacts<'h>, source_ip: &str) -> Vec<(&'h str, Cow<'h, str>)> {
    let headers = &facts.parts.headers;
    let gateway = gateway_headers(facts, source_ip);
    let mut out = Vec::with_capacity(headers.keys_len() + gateway.len());
    for name in headers.keys() {
        let name = name.as_str();
        if name == COOKIE.as_str() || gateway.iter().any(|(g, value)| *g == name && value.is_some()) {
            continue;
        }
        if let Some(value) = header_value(headers, name) {
            out.push((name, value));
        }
    }
    out.extend(gateway.into_iter().filter_map(|(name, value)| Some((name, value?))));
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out
}

/// `pairs` sorted by key, the last of repeated keys kept (what collecting into a `BTreeMap` does).
fn sorted_last_wins<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<_> = pairs.collect();
    out.reverse();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out.dedup_by(|later, earlier| later.0 == earlier.0);
    out
}

/// An IP address as text, without `core::fmt` for IPv4 (under callgrind the `Display` of an
/// `Ipv4Addr` cost 2,700 instructions, called twice per event).
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
            out
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

// === payload 1.0 ===

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestV1<'a> {
    version: &'static str,
    resource: Cow<'a, str>,
    path: Cow<'a, str>,
    http_method: &'a str,
    headers: BTreeMap<String, String>,
    multi_value_headers: BTreeMap<String, Vec<String>>,
    query_string_parameters: Option<BTreeMap<String, String>>,
    multi_value_query_string_parameters: Option<BTreeMap<String, Vec<String>>>,
    request_context: ContextV1<'a>,
    path_parameters: Option<BTreeMap<&'a str, &'a str>>,
    stage_variables: Option<BTreeMap<&'a str, &'a str>>,
    body: Option<Cow<'a, str>>,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContextV1<'a> {
    account_id: &'a str,
    api_id: &'a str,
    authorizer: Map<String, Value>,
    domain_name: &'a str,
    domain_prefix: &'a str,
    extended_request_id: &'a str,
    http_method: &'a str,
    identity: IdentityV1<'a>,
    path: Cow<'a, str>,
    protocol: &'static str,
    request_id: &'a str,
    request_time: String,
    request_time_epoch: u64,
    resource_id: &'a str,
    resource_path: Cow<'a, str>,
    stage: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentityV1<'a> {
    access_key: Option<&'a str>,
    account_id: Option<&'a str>,
    caller: Option<&'a str>,
    cognito_authentication_provider: Option<&'a str>,
    cognito_authentication_type: Option<&'a str>,
    cognito_identity_id: Option<&'a str>,
    cognito_identity_pool_id: Option<&'a str>,
    principal_org_id: Option<&'a str>,
    source_ip: String,
    user: Option<&'a str>,
    user_agent: &'a str,
    user_arn: Option<&'a str>,
}

/// The payload 1.0 request event (docs/aws-compatibility.md#payload-10-request-event) as JSON bytes.
///
/// Field rules: absent maps are `null`; `headers` and `queryStringParameters` carry the **last**
/// value of a repeated name (spec recommendation, REST behaviour), the `multiValue…` maps carry
/// all; the `Cookie` header stays in the headers (1.0 has no `cookies`); `resource` and
/// `requestContext.resourcePath` are the route's path template (the request path for
/// `$default`); `requestContext.resourceId` is the route key; `identity` has only `sourceIp`
/// and `userAgent` set.
///
/// # Errors
/// [`EventError::Encode`] if JSON encoding fails.
pub fn request_v1(facts: &RequestFacts<'_>) -> Result<Vec<u8>, EventError> {
    Ok(serde_json::to_vec(&event_v1(facts))?)
}

/// The payload 1.0 event as a JSON value, for the Lambda authorizer's REQUEST 1.0 event
/// (docs/aws-compatibility.md#lambda-authorizer-events): this event without `body`, `isBase64Encoded` and `requestContext.authorizer`, plus the
/// authorizer fields.
pub(crate) fn value_v1(facts: &RequestFacts<'_>) -> Result<Value, EventError> {
    Ok(serde_json::to_value(event_v1(facts))?)
}

fn event_v1<'a>(facts: &RequestFacts<'a>) -> RequestV1<'a> {
    let parts = facts.parts;
    let ctx = facts.ctx;
    let path = event_path(&parts.uri);
    let mut multi_headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        multi_headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let source_ip = ip_text(ctx.client_addr.ip());
    for (name, value) in gateway_headers(facts, &source_ip) {
        if let Some(value) = value {
            multi_headers.insert(name.to_owned(), vec![value.into_owned()]);
        }
    }
    let headers =
        multi_headers.iter().filter_map(|(k, v)| v.last().map(|last| (k.clone(), last.clone()))).collect();
    let multi_query = multi_query(parts.uri.query().unwrap_or(""));
    let query: BTreeMap<String, String> =
        multi_query.iter().filter_map(|(k, v)| v.last().map(|last| (k.clone(), last.clone()))).collect();
    let (body, is_base64_encoded) = encode_body(facts.body, &parts.headers);
    let domain = domain_name(facts);
    let resource = match ctx.route_key.split_once(' ') {
        Some((_method, template)) => Cow::Borrowed(template),
        None => path.clone(),
    };
    RequestV1 {
        version: "1.0",
        resource: resource.clone(),
        path: path.clone(),
        http_method: parts.method.as_str(),
        headers,
        multi_value_headers: multi_headers,
        query_string_parameters: (!query.is_empty()).then_some(query),
        multi_value_query_string_parameters: (!multi_query.is_empty()).then_some(multi_query),
        request_context: ContextV1 {
            account_id: facts.account_id,
            api_id: facts.api_id,
            authorizer: authorizer_v1(&ctx.auth),
            domain_name: domain,
            domain_prefix: domain_prefix(domain),
            extended_request_id: ctx.request_id.as_str(),
            http_method: parts.method.as_str(),
            identity: IdentityV1 {
                access_key: None,
                account_id: None,
                caller: None,
                cognito_authentication_provider: None,
                cognito_authentication_type: None,
                cognito_identity_id: None,
                cognito_identity_pool_id: None,
                principal_org_id: None,
                source_ip,
                user: None,
                user_agent: header_str(&parts.headers, USER_AGENT.as_str()),
                user_arn: None,
            },
            path,
            protocol: "HTTP/1.1",
            request_id: ctx.request_id.as_str(),
            request_time: clf_time(ctx.received_at),
            request_time_epoch: epoch_millis(ctx.received_at),
            resource_id: &ctx.route_key,
            resource_path: resource,
            stage: facts.stage,
        },
        path_parameters: path_parameters(ctx),
        stage_variables: stage_variables(facts.stage_variables),
        body,
        is_base64_encoded,
    }
}

/// `requestContext.authorizer` for payload 1.0: the doc sample's `{"claims":null,"scopes":null}`
/// without an authorizer, flat `claims`/`scopes` for JWT
/// (docs/aws-compatibility.md#claims-passed-to-the-integration), and the REST shape for a Lambda
/// authorizer (`principalId` plus the context keys at top level, JSON types kept; AWS does not
/// document this shape for HTTP APIs).
fn authorizer_v1(auth: &AuthContext) -> Map<String, Value> {
    let mut out = Map::new();
    match auth {
        AuthContext::None => {
            out.insert("claims".into(), Value::Null);
            out.insert("scopes".into(), Value::Null);
        }
        AuthContext::Jwt(jwt) => {
            let claims: Map<String, Value> = jwt
                .claims
                .iter()
                .filter_map(|(k, v)| claim_string(v).map(|s| (k.clone(), Value::String(s))))
                .collect();
            out.insert("claims".into(), Value::Object(claims));
            out.insert(
                "scopes".into(),
                match &jwt.scopes {
                    Some(scopes) => scopes.iter().map(|s| Value::String(s.clone())).collect(),
                    None => Value::Null,
                },
            );
        }
        AuthContext::Lambda(lambda) => {
            if let Some(context) = &lambda.context {
                out.extend(context.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(principal) = &lambda.principal_id {
                out.insert("principalId".into(), Value::String(principal.clone()));
            }
            out.insert("integrationLatency".into(), Value::from(0));
        }
    }
    out
}

/// The path an event carries: percent-decoded as API Gateway decodes it
/// ([`portcullis_route::integration_path`]: once, cut at a decoded `?`, once more). A path that
/// cannot be decoded so never gets here through the pipeline (the route stage refuses it with
/// 400); anything else that builds an event gets the path as sent.
fn event_path(uri: &http::Uri) -> Cow<'_, str> {
    let raw = uri.path();
    portcullis_route::integration_path(raw).unwrap_or(Cow::Borrowed(raw))
}

// === shared pieces (also for the Lambda authorizer events of
// docs/aws-compatibility.md#lambda-authorizer-events) ===

/// The value of header `name` as AWS hands it on
/// (docs/aws-compatibility.md#payload-20-request-event): every occurrence, in order, joined with
/// `,` (AWS documents `,`; its own emulator uses `", "`:
/// docs/aws-compatibility.md#payload-20-request-event); non-UTF-8 bytes replaced with U+FFFD.
/// `None` when the header is absent. Borrowed when it occurs once. Shared by events, identity
/// sources, parameter mapping and rules, so that all read a repeated header the same way.
pub fn header_value<'h>(
    headers: &'h HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<Cow<'h, str>> {
    let mut values = headers.get_all(name).into_iter();
    let first = String::from_utf8_lossy(values.next()?.as_bytes());
    let Some(second) = values.next() else { return Some(first) };
    let mut joined = first.into_owned();
    for value in std::iter::once(second).chain(values) {
        joined.push(',');
        joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    Some(Cow::Owned(joined))
}

/// The decoded value of query parameter `name` (exact, case-sensitive name), repeats joined
/// with `,` as in `queryStringParameters` (docs/aws-compatibility.md#payload-20-request-event);
/// `None` when it is not in `raw`.
pub fn query_value(raw: &str, name: &str) -> Option<String> {
    let mut joined: Option<String> = None;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(n) != name {
            continue;
        }
        let v = form_decode(v);
        match &mut joined {
            Some(j) => {
                j.push(',');
                j.push_str(&v);
            }
            None => joined = Some(v),
        }
    }
    joined
}

/// The `cookies` array: every `name=value` pair of every `Cookie` header, in order, trimmed;
/// nameless cookies (no `=`, or an empty name) dropped (docs/aws-compatibility.md#payload-20-request-event).
pub fn cookies(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| c.split_once('=').is_some_and(|(name, _)| !name.trim().is_empty()))
        .collect()
}

/// Decoded query parameters with repeated names joined by `,` (payload 2.0,
/// docs/aws-compatibility.md#payload-20-request-event).
pub fn joined_query(raw: &str) -> BTreeMap<String, String> {
    multi_query(raw).into_iter().map(|(k, v)| (k, v.join(","))).collect()
}

/// Decoded query parameters, every value kept in order. `application/x-www-form-urlencoded`
/// rules: `+` is a space, `%XX` is decoded, a name without `=` has the value `""`.
fn multi_query(raw: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(form_decode(name)).or_default().push(form_decode(value));
    }
    out
}

/// `application/x-www-form-urlencoded` decoding of a query name or value: `+` is a space,
/// `%XX` is decoded, invalid UTF-8 replaced.
pub fn form_decode(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8_lossy().into_owned()
}

/// The headers API Gateway sets on what it hands an integration or authorizer
/// (docs/aws-compatibility.md#payload-20-request-event, observed in real events), by name. A
/// value replaces what the client sent under that name; `None` leaves the client's header as it
/// was (or absent):
///
/// - `content-length`: the client's, else the length of the body (also of one sent chunked), else
///   `0` for a request without a body. An authorizer event is built without reading the body: a
///   chunked upload (`transfer-encoding`) has no length there, and is left without one.
/// - `host`: the client's `Host`, else the URI authority (an HTTP/2 client's `:authority`).
/// - `x-amzn-trace-id`: the request's trace ([`portcullis_core::TraceId`]); a client's own
///   well-formed trace header is kept as sent.
/// - `x-forwarded-for`: the source IP appended to any client-sent value (with `", "`, as proxies
///   append).
/// - `x-forwarded-port`, `x-forwarded-proto`: the port the client connected to and its scheme,
///   from the connection, never from `Host`.
fn gateway_headers<'a>(
    facts: &RequestFacts<'a>,
    source_ip: &str,
) -> [(&'static str, Option<Cow<'a, str>>); 6] {
    let ctx = facts.ctx;
    let headers = &facts.parts.headers;
    let mut xff = String::new();
    for sent in headers.get_all(X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()) {
        xff.push_str(sent);
        xff.push_str(", ");
    }
    xff.push_str(source_ip);
    let port = match ctx.local_port {
        80 => Cow::Borrowed("80"),
        443 => Cow::Borrowed("443"),
        port => Cow::Owned(itoa::Buffer::new().format(port).to_owned()),
    };
    let proto = if ctx.tls { "https" } else { "http" };
    let trace = (!ctx.trace_id.is_from_client()).then(|| Cow::Borrowed(ctx.trace_id.header()));
    let host = match headers.contains_key(HOST) {
        true => None,
        false => facts.parts.uri.authority().map(|authority| Cow::Borrowed(authority.as_str())),
    };
    [
        (CONTENT_LENGTH.as_str(), content_length(facts)),
        (HOST.as_str(), host),
        (portcullis_core::TraceId::HEADER, trace),
        (X_FORWARDED_FOR, Some(Cow::Owned(xff))),
        ("x-forwarded-port", Some(port)),
        ("x-forwarded-proto", Some(Cow::Borrowed(proto))),
    ]
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The `content-length` the gateway writes, if it writes one (see [`gateway_headers`]).
fn content_length<'a>(facts: &RequestFacts<'a>) -> Option<Cow<'a, str>> {
    let headers = &facts.parts.headers;
    if headers.contains_key(CONTENT_LENGTH) {
        return None;
    }
    if !facts.body.is_empty() {
        return Some(Cow::Owned(itoa::Buffer::new().format(facts.body.len()).to_owned()));
    }
    (!headers.contains_key(TRANSFER_ENCODING)).then_some(Cow::Borrowed("0"))
}

fn path_parameters(ctx: &CallContext) -> Option<BTreeMap<&str, &str>> {
    (!ctx.params.is_empty()).then(|| ctx.params.iter().map(|p| (&*p.name, p.decoded.as_str())).collect())
}

fn stage_variables(vars: &[(String, String)]) -> Option<BTreeMap<&str, &str>> {
    (!vars.is_empty()).then(|| vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `requestContext.domainName`: the configured domain, else the `Host` header, else the URI
/// authority (an HTTP/2 client's `:authority`), always without a port (AWS: "the same as the
/// incoming `Host` header", whose port an AWS endpoint never has: docs/aws-compatibility.md#payload-20-request-event).
pub(crate) fn domain_name<'a>(facts: &RequestFacts<'a>) -> &'a str {
    if let Some(domain) = facts.domain {
        return domain;
    }
    let host = match facts.parts.headers.get(HOST).and_then(|v| v.to_str().ok()) {
        Some(host) => host,
        None => facts.parts.uri.authority().map(|a| a.as_str()).unwrap_or(""),
    };
    without_port(host)
}

/// `host` of `host:port`, `[v6]` of `[v6]:port`; anything else as it is (`$context.domainName`
/// from a `Host` header).
pub fn without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').and_then(|end| authority.get(..=end)).unwrap_or(authority);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// The first DNS label of the domain (`id` of `id.execute-api…`).
pub(crate) fn domain_prefix(domain: &str) -> &str {
    let host = without_port(domain);
    host.split('.').next().unwrap_or(host)
}

/// Whether API Gateway hands a body of this content type on as text: `text/*`,
/// `application/json`, `application/xml`, `application/javascript`, and the `+json`/`+xml`
/// application types (`application/problem+json`); parameters and case do not matter. Everything
/// else travels base64, a form post or a missing content type too
/// (docs/aws-compatibility.md#payload-20-request-event: observed on the live service, not
/// documented). Compared in place, without lower-casing a copy.
fn is_text_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else { return false };
    if kind.eq_ignore_ascii_case("text") {
        return !subtype.is_empty();
    }
    let ends_with = |suffix: &str| {
        subtype.len() > suffix.len()
            && subtype.get(subtype.len() - suffix.len()..).is_some_and(|end| end.eq_ignore_ascii_case(suffix))
    };
    kind.eq_ignore_ascii_case("application")
        && (["json", "xml", "javascript"].iter().any(|t| subtype.eq_ignore_ascii_case(t))
            || ends_with("+json")
            || ends_with("+xml"))
}

/// `(body, isBase64Encoded)`: `None` for an empty body; text only for the content types
/// [`is_text_content_type`] names and bytes that are UTF-8, base64 otherwise. Payload 1.0 on an
/// HTTP API follows the same rule: HTTP APIs have no binary media types setting, so the choice
/// does not depend on the payload version.
fn encode_body<'a>(body: &'a [u8], headers: &HeaderMap) -> (Option<Cow<'a, str>>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    let text_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_text_content_type);
    match std::str::from_utf8(body) {
        Ok(text) if text_type => (Some(Cow::Borrowed(text)), false),
        _ => (Some(Cow::Owned(STANDARD.encode(body))), true),
    }
}

#[cfg(test)]
mod tests;

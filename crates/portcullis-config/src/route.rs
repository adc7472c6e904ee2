//! `routes:`: route key -> integration and per-route settings.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use portcullis_core::MappingEntry;
use portcullis_route::RouteKey;

use crate::authorizer::{AuthorizerKind, decode_rules};
use crate::cors::CorsConfig;
use crate::decode::{self, Cx, MapReader, YPath, did_you_mean, opt};
use crate::error::{Span, Spanned};
use crate::throttle::ThrottleConfig;
use crate::types::{Compat, PayloadFormatVersion, payload_format_version};
use crate::url_template::{self, Scheme, UrlTemplate};
use crate::yaml::{Entry, Node};

/// One route under `routes:`, keyed by its route key (`GET /pets/{id}`, `ANY /{proxy+}`,
/// `$default`; docs/aws-compatibility.md#routes-and-route-selection).
///
/// ```yaml
/// routes:
///   GET /pets/{id}: {http: http://127.0.0.1:3000/pets/{id}, timeout: 5s}
///   GET /private:   {function: private, scopes: [orders:read]}
///   GET /:          {respond: {status: 200, body: hello}}
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// The route key, parsed, with the position of the key (for later compile errors).
    pub key: Spanned<RouteKey>,
    /// The integration: exactly one of `http`, `function`, `respond`.
    pub integration: Integration,
    /// `timeout`: integration timeout. Default `30s`. AWS allows 50ms to 30s (an error outside
    /// that under `compat: aws`); `compat: extended` allows any positive duration.
    pub timeout: Duration,
    /// `payload_format_version` (function integrations only): `"2.0"` (default) or `"1.0"`.
    pub payload_format_version: PayloadFormatVersion,
    /// `authorizer`: the authorizer protecting the route, already resolved: `None` for
    /// `authorizer: none` or when there is no `default_authorizer`; otherwise the name of an
    /// authorizer under `authorizers:` (absent = `default_authorizer`).
    pub authorizer: Option<String>,
    /// `scopes`: with a JWT authorizer, the token must carry at least one of these
    /// (`scope`/`scp`), else 403 (docs/aws-compatibility.md#claim-and-scope-checks). Default: none
    /// (no scope check). AWS: at most 10, each 1 to 64 characters (checked under `compat: aws`).
    pub scopes: Vec<String>,
    /// `rules`: CEL expressions that must all hold, else 403; source text with positions,
    /// compiled by the app. Extension: an error under `compat: aws`.
    pub rules: Vec<Spanned<String>>,
    /// `http_version` (http integrations only): `auto` (default: HTTP/1.1, or HTTP/2 when an
    /// https upstream offers it by ALPN), `"1.1"`, or `"2"` (h2c on http://). AWS always uses
    /// HTTP/1.1 to backends.
    pub http_version: HttpVersion,
    /// `upstream_ca` (https integrations only): a PEM file of CA certificates trusted in
    /// addition to the system roots, resolved against the config's directory. Extension.
    pub upstream_ca: Option<PathBuf>,
    /// `parameter_mapping`: AWS `RequestParameters`, in file order, parsed: keys (grammar,
    /// reserved headers) and values (variables, at most 512 characters). Default: none.
    pub parameter_mapping: Vec<MappingEntry>,
    /// `response_parameters`: AWS `ResponseParameters`: status code -> entries applied to the
    /// integration's responses with that status. Default: none.
    pub response_parameters: Vec<(u16, Vec<MappingEntry>)>,
    /// `cors`: this route's CORS policy, replacing the top level's. Extension (AWS's CORS is
    /// API-wide): an error under `compat: aws`.
    pub cors: Option<CorsConfig>,
    /// `throttle`: this route's limits (one without a key, any number keyed).
    pub throttle: Vec<ThrottleConfig>,
}

/// What a route does with a matched request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integration {
    /// `http: URL`: HTTP proxy integration (docs/aws-compatibility.md#http-proxy-integration);
    /// `{var}` placeholders are filled from the route's path variables.
    Http(UrlTemplate),
    /// `function: name`: Lambda proxy integration with a function under `functions:`.
    Function(String),
    /// `respond: {status, headers, body}`: a fixed response, no backend. Extension (an error
    /// under `compat: aws`); the embedded demo uses it.
    Respond(FixedResponse),
}

impl Integration {
    /// One line for people: `http https://backend/pets/{id}`, `function hello`,
    /// `respond 200`.
    pub fn describe(&self) -> String {
        match self {
            Integration::Http(url) => format!("http {url}"),
            Integration::Function(name) => format!("function {name}"),
            Integration::Respond(fixed) => format!("respond {}", fixed.status.as_u16()),
        }
    }
}

/// A fixed response (`respond:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    /// `status`: default `200`.
    pub status: http::StatusCode,
    /// `headers`: name -> value. Default none (`content-type` is not guessed).
    pub headers: http::HeaderMap,
    /// `body`: default empty.
    pub body: String,
}

/// HTTP version used towards an http upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// `auto`: HTTP/1.1, or HTTP/2 when negotiated by ALPN on https.
    Auto,
    /// `"1.1"`.
    Http1,
    /// `"2"`: HTTP/2 only (prior knowledge on http://).
    Http2,
}

/// The kind of a route's integration, named by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationKind {
    /// `http:`
    Http,
    /// `function:`
    Function,
    /// `respond:`
    Respond,
}

impl IntegrationKind {
    const ALL: [IntegrationKind; 3] =
        [IntegrationKind::Http, IntegrationKind::Function, IntegrationKind::Respond];

    /// The route key that selects it.
    pub fn key(self) -> &'static str {
        match self {
            IntegrationKind::Http => "http",
            IntegrationKind::Function => "function",
            IntegrationKind::Respond => "respond",
        }
    }
}

impl Integration {
    /// Its kind.
    pub fn kind(&self) -> IntegrationKind {
        match self {
            Integration::Http(_) => IntegrationKind::Http,
            Integration::Function(_) => IntegrationKind::Function,
            Integration::Respond(_) => IntegrationKind::Respond,
        }
    }
}

/// What routes may refer to.
pub(crate) struct RouteRefs<'a> {
    pub(crate) functions: &'a [String],
    pub(crate) authorizers: &'a IndexMap<String, AuthorizerKind>,
    pub(crate) default_authorizer: Option<&'a str>,
}

/// Decodes one `routes:` entry: the key, then one small unit per setting.
pub(crate) fn decode(
    cx: &mut Cx,
    entry: &Entry,
    routes_path: &YPath,
    refs: &RouteRefs<'_>,
) -> Option<RouteConfig> {
    let path = routes_path.key(&entry.key);
    let key = match entry.key.parse::<RouteKey>() {
        Ok(k) => Some(k),
        Err(e) => {
            let suggestion = e.suggestion().or_else(|| misspelt_method(&e));
            let hint = suggestion.map(|s| format!("did you mean `{s}`?"));
            cx.error_hint(entry.key_span, &path, e.to_string(), hint);
            None
        }
    };
    let mut m = MapReader::new(cx, &entry.value, &path)?;
    let (integration, kind) = integration(cx, &mut m, entry, key.as_ref(), refs);
    let timeout = timeout(cx, &mut m);
    let payload_format_version = payload_format(cx, &mut m, kind);
    let http_version = http_version(cx, &mut m, kind);
    let upstream_ca = upstream_ca(cx, &mut m, kind, integration.as_ref());
    let authorizer = authorizer(cx, &mut m, refs);
    let scopes = scopes(cx, &mut m, refs, authorizer.as_ref());
    let rules = rules(cx, &mut m);
    let parameter_mapping = parameter_mapping(cx, &mut m, kind);
    let response_parameters =
        opt(cx, &mut m, "response_parameters", Vec::new(), crate::mapping::decode_response);
    let cors = opt(cx, &mut m, "cors", None, |cx, n, p| {
        cx.aws_forbids(n.span, p, "`cors` on a route", "AWS configures CORS for the whole API");
        crate::cors::decode(cx, n, p).map(Some)
    });
    let throttle = opt(cx, &mut m, "throttle", Vec::new(), crate::throttle::decode_route);
    m.finish(cx);
    Some(RouteConfig {
        key: Spanned::new(key?, entry.key_span),
        integration: integration?,
        timeout: timeout?,
        payload_format_version: payload_format_version?,
        authorizer: authorizer?,
        scopes: scopes?,
        rules,
        http_version: http_version?,
        upstream_ca: upstream_ca?,
        parameter_mapping: parameter_mapping?,
        response_parameters: response_parameters?,
        cors: cors?,
        throttle: throttle?,
    })
}

/// `http`, `function` or `respond`: exactly one. Returns the integration (when valid) and its
/// kind (when exactly one was written, valid or not), which other settings are checked against.
fn integration(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    entry: &Entry,
    key: Option<&RouteKey>,
    refs: &RouteRefs<'_>,
) -> (Option<Integration>, Option<IntegrationKind>) {
    let mut found: Option<(IntegrationKind, Option<Integration>)> = None;
    let mut several = false;
    for kind in IntegrationKind::ALL {
        let Some((n, p)) = m.get(kind.key()) else { continue };
        if let Some((first, _)) = &found {
            cx.error(
                m.key_span(kind.key()).unwrap_or(n.span),
                &p,
                format!(
                    "a route has exactly one integration, but both `{}` and `{}` are written",
                    first.key(),
                    kind.key()
                ),
            );
            several = true;
            continue;
        }
        let decoded = match kind {
            IntegrationKind::Http => decode::non_empty(cx, n, &p).and_then(|u| {
                // Placeholders cannot be checked against an invalid key: accept what is written.
                let vars: Vec<String> = match key {
                    Some(key) => {
                        key.path().map(|p| p.var_names().map(str::to_owned).collect()).unwrap_or_default()
                    }
                    None => placeholders(&u),
                };
                url_template::parse(cx, &u, n.span, &p, &vars).map(Integration::Http)
            }),
            IntegrationKind::Function => decode::non_empty(cx, n, &p).and_then(|f| {
                if refs.functions.contains(&f) {
                    return Some(Integration::Function(f));
                }
                let hint = did_you_mean(&f, refs.functions.iter().map(String::as_str));
                let problem = format!("unknown function {f:?}: it is not defined under `functions:`");
                cx.error_hint(n.span, &p, problem, hint);
                None
            }),
            IntegrationKind::Respond => {
                cx.aws_forbids(
                    m.key_span(kind.key()).unwrap_or(n.span),
                    &p,
                    "a `respond` integration",
                    "AWS HTTP APIs have no fixed-response integration",
                );
                respond(cx, n, &p).map(Integration::Respond)
            }
        };
        found = Some((kind, decoded));
    }
    match found {
        None => {
            cx.error(
                entry.key_span,
                &m.path,
                "a route needs an integration: `http: URL`, `function: NAME` or `respond: {...}`",
            );
            (None, None)
        }
        Some((kind, _)) if several => (None, Some(kind)),
        Some((kind, integration)) => (integration, Some(kind)),
    }
}

fn timeout(cx: &mut Cx, m: &mut MapReader<'_>) -> Option<Duration> {
    let Some((n, p)) = m.get("timeout") else { return Some(Duration::from_secs(30)) };
    decode::duration(cx, n, &p, false).inspect(|d| {
        if cx.compat == Compat::Aws && (*d < Duration::from_millis(50) || *d > Duration::from_secs(30)) {
            cx.error(
                n.span,
                &p,
                format!(
                    "timeout {} is outside AWS's integration limit of 50ms to 30s (compat: aws)",
                    decode::show_duration(*d)
                ),
            )
            .suggestion = Some("use at most 30s, or set `compat: extended`".into());
        }
    })
}

fn payload_format(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    kind: Option<IntegrationKind>,
) -> Option<PayloadFormatVersion> {
    let Some((n, p)) = m.get("payload_format_version") else { return Some(PayloadFormatVersion::V2) };
    if !only(cx, m, kind, IntegrationKind::Function, "payload_format_version", n.span, &p) {
        return None;
    }
    payload_format_version(cx, n, &p)
}

fn http_version(cx: &mut Cx, m: &mut MapReader<'_>, kind: Option<IntegrationKind>) -> Option<HttpVersion> {
    let Some((n, p)) = m.get("http_version") else { return Some(HttpVersion::Auto) };
    only(cx, m, kind, IntegrationKind::Http, "http_version", n.span, &p);
    decode::choice(
        cx,
        n,
        &p,
        &[("auto", HttpVersion::Auto), ("1.1", HttpVersion::Http1), ("2", HttpVersion::Http2)],
    )
}

fn upstream_ca(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    kind: Option<IntegrationKind>,
    integration: Option<&Integration>,
) -> Option<Option<PathBuf>> {
    let Some((n, p)) = m.get("upstream_ca") else { return Some(None) };
    only(cx, m, kind, IntegrationKind::Http, "upstream_ca", n.span, &p);
    if let Some(Integration::Http(u)) = integration
        && u.scheme == Scheme::Http
    {
        cx.error(m.key_span("upstream_ca").unwrap_or(n.span), &p, "`upstream_ca` needs an https:// upstream");
    }
    decode::non_empty(cx, n, &p).map(|s| Some(cx.resolve(&s)))
}

/// `authorizer`: `None` for a public route; absent means `default_authorizer`.
fn authorizer(cx: &mut Cx, m: &mut MapReader<'_>, refs: &RouteRefs<'_>) -> Option<Option<String>> {
    let Some((n, p)) = m.get("authorizer") else {
        return Some(refs.default_authorizer.map(str::to_owned));
    };
    let a = decode::non_empty(cx, n, &p)?;
    if a == "none" {
        return Some(None);
    }
    if refs.authorizers.contains_key(&a) {
        return Some(Some(a));
    }
    let names = refs.authorizers.keys().map(String::as_str).chain(std::iter::once("none"));
    let hint = did_you_mean(&a, names);
    cx.error_hint(
        n.span,
        &p,
        format!(
            "unknown authorizer {a:?}: it is not defined under `authorizers:` (use `none` for a public route)"
        ),
        hint,
    );
    None
}

fn scopes(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    refs: &RouteRefs<'_>,
    authorizer: Option<&Option<String>>,
) -> Option<Vec<String>> {
    let Some((n, p)) = m.get("scopes") else { return Some(Vec::new()) };
    let scopes = decode::string_list(cx, n, &p)?;
    for (i, s) in scopes.iter().enumerate() {
        if s.chars().any(char::is_whitespace) {
            cx.error(
                item_span(n, i),
                &p.index(i),
                format!("scope {s:?} contains whitespace (scopes are single words)"),
            );
        } else if s.chars().count() > 64 {
            cx.aws_forbids(
                item_span(n, i),
                &p.index(i),
                "a scope longer than 64 characters",
                "AWS limits scopes to 1 to 64 characters",
            );
        }
    }
    if scopes.len() > 10 {
        cx.aws_forbids(n.span, &p, "more than 10 scopes", "AWS allows at most 10 scopes per route");
    }
    match authorizer {
        Some(Some(a)) if !scopes.is_empty() && refs.authorizers.get(a) == Some(&AuthorizerKind::Lambda) => {
            cx.error(n.span, &p, format!("`scopes` need a JWT authorizer, but {a:?} is a Lambda authorizer"));
        }
        Some(None) if !scopes.is_empty() => {
            cx.error(n.span, &p, "`scopes` need a JWT authorizer, but this route has none");
        }
        _ => {}
    }
    Some(scopes)
}

fn rules(cx: &mut Cx, m: &mut MapReader<'_>) -> Vec<Spanned<String>> {
    let Some((n, p)) = m.get("rules") else { return Vec::new() };
    let rules = decode_rules(cx, n, &p);
    if !rules.is_empty() {
        cx.aws_forbids(
            m.key_span("rules").unwrap_or(n.span),
            &p,
            "`rules` on a route",
            "AWS routes have no declarative authorization rules",
        );
    }
    rules
}

fn parameter_mapping(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    kind: Option<IntegrationKind>,
) -> Option<Vec<MappingEntry>> {
    let Some((n, p)) = m.get("parameter_mapping") else { return Some(Vec::new()) };
    let key_span = m.key_span("parameter_mapping").unwrap_or(n.span);
    crate::mapping::decode_request(cx, n, &p, key_span, kind)
}

/// `DELETE` for `DELET`: the closest known method to a misspelt one.
fn misspelt_method(e: &portcullis_route::RouteKeyError) -> Option<String> {
    let portcullis_route::RouteKeyErrorKind::UnknownMethod { method } = e.kind() else { return None };
    crate::decode::suggest(method, portcullis_route::KNOWN_METHODS).map(str::to_owned)
}

/// The names of `{...}` placeholders written in `u` (used when the route key is invalid, so
/// that only the key is reported).
fn placeholders(u: &str) -> Vec<String> {
    u.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(n, _)| n.to_owned())).collect()
}

fn item_span(n: &Node, i: usize) -> Span {
    match &n.kind {
        crate::yaml::Kind::Seq(items) => items.get(i).map_or(n.span, |x| x.span),
        _ => n.span,
    }
}

/// Reports `k` written on a route whose integration is not `wanted`; whether it is allowed.
fn only(
    cx: &mut Cx,
    m: &MapReader<'_>,
    kind: Option<IntegrationKind>,
    wanted: IntegrationKind,
    k: &str,
    span: Span,
    p: &YPath,
) -> bool {
    if kind.is_some_and(|kind| kind != wanted) {
        cx.error(
            m.key_span(k).unwrap_or(span),
            p,
            format!("`{k}` applies only to `{}` integrations", wanted.key()),
        );
        return false;
    }
    true
}

fn respond(cx: &mut Cx, node: &Node, path: &YPath) -> Option<FixedResponse> {
    let mut m = MapReader::new(cx, node, path)?;
    let status = match m.get("status") {
        Some((n, p)) => {
            decode::integer(cx, n, &p, 100, 599).and_then(|s| http::StatusCode::from_u16(s as u16).ok())
        }
        None => Some(http::StatusCode::OK),
    };
    let mut headers = http::HeaderMap::new();
    let mut ok = true;
    if let Some((n, p)) = m.get("headers")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        for e in entries {
            let ep = p.key(&e.key);
            let name = decode::header_name(cx, &e.key, e.key_span, &ep);
            let value = decode::string(cx, &e.value, &ep).and_then(|v| {
                http::HeaderValue::from_str(&v)
                    .map_err(|_| cx.error(e.value.span, &ep, format!("invalid header value {v:?}")))
                    .ok()
            });
            match (name, value) {
                (Some(n), Some(v)) => {
                    headers.append(n, v);
                }
                _ => ok = false,
            }
        }
    }
    let body = match m.get("body") {
        Some((n, p)) => decode::string(cx, n, &p),
        None => Some(String::new()),
    };
    m.finish(cx);
    if !ok {
        return None;
    }
    Some(FixedResponse { status: status?, headers, body: body? })
}

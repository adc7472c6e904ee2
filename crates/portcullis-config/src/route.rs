//! `routes:`: route key -> integration and per-route settings (issue 2, spec §1, §5).

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use portcullis_route::RouteKey;

use crate::authorizer::{AuthorizerKind, decode_rules};
use crate::decode::{self, Cx, MapReader, YPath, did_you_mean};
use crate::error::{Span, Spanned};
use crate::types::{Compat, PayloadFormatVersion, payload_format_version};
use crate::url_template::{self, Scheme, UrlTemplate};
use crate::yaml::{Entry, Node};

/// One route under `routes:`, keyed by its route key (`GET /pets/{id}`, `ANY /{proxy+}`,
/// `$default`; spec §1.1).
///
/// ```yaml
/// routes:
///   GET /pets/{id}: {http: http://127.0.0.1:3000/pets/{id}, timeout: 5s}
///   GET /private:   {function: private, scopes: [orders:read]}
///   GET /:          {respond: {status: 200, body: hello}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// (`scope`/`scp`), else 403 (spec §2.6). Default: none (no scope check). AWS: at most
    /// 10, each 1 to 64 characters (checked under `compat: aws`).
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
    /// `parameter_mapping`: AWS `RequestParameters` (spec §5.2), key -> value in file order,
    /// keys checked (grammar, reserved headers) and values at most 512 characters; the value
    /// grammar is compiled by the app. Default: none.
    pub parameter_mapping: Vec<(Spanned<String>, Spanned<String>)>,
}

/// What a route does with a matched request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integration {
    /// `http: URL`: HTTP proxy integration (spec §5.1); `{var}` placeholders are filled from
    /// the route's path variables.
    Http(UrlTemplate),
    /// `function: name`: Lambda proxy integration with a function under `functions:`.
    Function(String),
    /// `respond: {status, headers, body}`: a fixed response, no backend. Extension (an error
    /// under `compat: aws`); the embedded demo uses it.
    Respond(FixedResponse),
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

/// What routes may refer to.
pub(crate) struct RouteRefs<'a> {
    pub(crate) functions: &'a [String],
    pub(crate) authorizers: &'a IndexMap<String, AuthorizerKind>,
    pub(crate) default_authorizer: Option<&'a str>,
}

/// Decodes one `routes:` entry.
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
            let hint = e.suggestion().map(|s| format!("did you mean `{s}`?"));
            cx.error_hint(entry.key_span, &path, e.to_string(), hint);
            None
        }
    };
    let vars: Vec<String> = key
        .as_ref()
        .and_then(RouteKey::path)
        .map(|p| p.var_names().map(str::to_owned).collect())
        .unwrap_or_default();
    let node = &entry.value;
    let mut m = MapReader::new(cx, node, &path)?;

    // Exactly one integration.
    let candidates = ["http", "function", "respond"];
    let mut integration = None;
    let mut integration_ok = true;
    let mut first: Option<&str> = None;
    let mut kind: Option<&str> = None;
    for k in candidates {
        let Some((n, p)) = m.get(k) else { continue };
        if let Some(f) = first {
            cx.error(
                m.key_span(k).unwrap_or(n.span),
                &p,
                format!("a route has exactly one integration, but both `{f}` and `{k}` are written"),
            );
            integration_ok = false;
            continue;
        }
        first = Some(k);
        kind = Some(k);
        integration = match k {
            "http" => decode::non_empty(cx, n, &p).and_then(|u| {
                if key.is_some() {
                    url_template::parse(cx, &u, n.span, &p, &vars).map(Integration::Http)
                } else {
                    // Placeholders cannot be checked against an invalid key.
                    url_template::parse(cx, &u, n.span, &p, &placeholders(&u)).map(Integration::Http)
                }
            }),
            "function" => decode::non_empty(cx, n, &p).and_then(|f| {
                if refs.functions.contains(&f) {
                    Some(Integration::Function(f))
                } else {
                    let hint = did_you_mean(&f, refs.functions.iter().map(String::as_str));
                    cx.error_hint(
                        n.span,
                        &p,
                        format!("unknown function {f:?}: it is not defined under `functions:`"),
                        hint,
                    );
                    None
                }
            }),
            _ => {
                cx.aws_forbids(
                    m.key_span(k).unwrap_or(n.span),
                    &p,
                    "a `respond` integration",
                    "AWS HTTP APIs have no fixed-response integration",
                );
                respond(cx, n, &p).map(Integration::Respond)
            }
        };
        integration_ok &= integration.is_some();
    }
    if first.is_none() {
        cx.error(
            entry.key_span,
            &path,
            "a route needs an integration: `http: URL`, `function: NAME` or `respond: {...}`",
        );
        integration_ok = false;
    }

    let timeout = match m.get("timeout") {
        Some((n, p)) => decode::duration(cx, n, &p, false).inspect(|d| {
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
        }),
        None => Some(Duration::from_secs(30)),
    };

    let payload_format_version = match m.get("payload_format_version") {
        Some((n, p)) => {
            if kind.is_some() && kind != Some("function") {
                cx.error(
                    m.key_span("payload_format_version").unwrap_or(n.span),
                    &p,
                    "`payload_format_version` applies only to `function` integrations",
                );
                None
            } else {
                payload_format_version(cx, n, &p)
            }
        }
        None => Some(PayloadFormatVersion::V2),
    };

    let http_version = match m.get("http_version") {
        Some((n, p)) => {
            only_http(cx, &m, kind, "http_version", n.span, &p);
            decode::choice(
                cx,
                n,
                &p,
                &[("auto", HttpVersion::Auto), ("1.1", HttpVersion::Http1), ("2", HttpVersion::Http2)],
            )
        }
        None => Some(HttpVersion::Auto),
    };
    let upstream_ca = match m.get("upstream_ca") {
        Some((n, p)) => {
            only_http(cx, &m, kind, "upstream_ca", n.span, &p);
            if let Some(Integration::Http(u)) = &integration
                && u.scheme == Scheme::Http
            {
                cx.error(
                    m.key_span("upstream_ca").unwrap_or(n.span),
                    &p,
                    "`upstream_ca` needs an https:// upstream",
                );
            }
            decode::non_empty(cx, n, &p).map(|s| Some(cx.resolve(&s)))
        }
        None => Some(None),
    };

    let authorizer = match m.get("authorizer") {
        Some((n, p)) => decode::non_empty(cx, n, &p).and_then(|a| {
            if a == "none" {
                Some(None)
            } else if refs.authorizers.contains_key(&a) {
                Some(Some(a))
            } else {
                let hint = did_you_mean(
                    &a,
                    refs.authorizers
                        .keys()
                        .map(String::as_str)
                        .chain(std::iter::once("none")),
                );
                cx.error_hint(
                    n.span,
                    &p,
                    format!("unknown authorizer {a:?}: it is not defined under `authorizers:` (use `none` for a public route)"),
                    hint,
                );
                None
            }
        }),
        None => Some(refs.default_authorizer.map(str::to_owned)),
    };

    let scopes = match m.get("scopes") {
        Some((n, p)) => decode::string_list(cx, n, &p).inspect(|scopes| {
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
            if !scopes.is_empty()
                && let Some(Some(a)) = &authorizer
            {
                if let Some(AuthorizerKind::Lambda) = refs.authorizers.get(a) {
                    cx.error(
                        n.span,
                        &p,
                        format!("`scopes` need a JWT authorizer, but {a:?} is a Lambda authorizer"),
                    );
                }
            } else if !scopes.is_empty() && matches!(authorizer, Some(None)) {
                cx.error(n.span, &p, "`scopes` need a JWT authorizer, but this route has none");
            }
        }),
        None => Some(Vec::new()),
    };

    let rules = match m.get("rules") {
        Some((n, p)) => {
            let r = decode_rules(cx, n, &p);
            if !r.is_empty() {
                cx.aws_forbids(
                    m.key_span("rules").unwrap_or(n.span),
                    &p,
                    "`rules` on a route",
                    "AWS routes have no declarative authorization rules",
                );
            }
            r
        }
        None => Vec::new(),
    };
    let parameter_mapping = match m.get("parameter_mapping") {
        Some((n, p)) => {
            let key_span = m.key_span("parameter_mapping").unwrap_or(n.span);
            crate::mapping::decode(cx, n, &p, key_span, kind)
        }
        None => Vec::new(),
    };
    m.finish(cx);

    if !integration_ok {
        return None;
    }
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
        parameter_mapping,
    })
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

fn only_http(cx: &mut Cx, m: &MapReader<'_>, kind: Option<&str>, k: &str, span: Span, p: &YPath) {
    if kind.is_some() && kind != Some("http") {
        cx.error(m.key_span(k).unwrap_or(span), p, format!("`{k}` applies only to `http` integrations"));
    }
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

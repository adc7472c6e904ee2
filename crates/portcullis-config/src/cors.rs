//! `cors:` at the top level (every route) or on a route (that route only, replacing the top
//! level's): AWS's `CorsConfiguration`, with origin patterns as an extension.
//!
//! ```yaml
//! cors:
//!   allow_origins: [https://app.example.com, "https://*.example.com"]
//!   allow_methods: [GET, POST]
//!   allow_headers: [authorization, content-type]
//!   expose_headers: [apigw-requestid]
//!   max_age: 600
//!   allow_credentials: true
//! ```

use crate::decode::{self, Cx, MapReader, YPath, opt};
use crate::error::Span;
use crate::yaml::{Kind, Node};

/// A CORS policy as written, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// `allow_origins`: exact origins (`https://app.example.com`), `*` (any), or patterns with
    /// one `*` standing for a run of host labels (`https://*.example.com`). Default: none (no
    /// origin is allowed).
    pub allow_origins: Vec<String>,
    /// `allow_methods`: methods (upper case) or `*`. Default: none.
    pub allow_methods: Vec<String>,
    /// `allow_headers`: request header names (lower-cased) or `*`. Default: none.
    pub allow_headers: Vec<String>,
    /// `expose_headers`: response header names (lower-cased) or `*`. Default: none.
    pub expose_headers: Vec<String>,
    /// `max_age`: seconds a browser may cache a preflight answer, -1 to 86400 (AWS's range).
    /// Default: not sent.
    pub max_age: Option<i32>,
    /// `allow_credentials`: allow cookies and `Authorization` from the browser. Default `false`;
    /// refused together with an origin `*`, as AWS refuses it.
    pub allow_credentials: bool,
    /// Where `cors:` is written.
    pub span: Span,
}

/// Decodes a `cors:` mapping.
pub(crate) fn decode(cx: &mut Cx, n: &Node, p: &YPath) -> Option<CorsConfig> {
    let mut m = MapReader::new(cx, n, p)?;
    let allow_origins = opt(cx, &mut m, "allow_origins", Vec::new(), origins);
    let allow_methods = opt(cx, &mut m, "allow_methods", Vec::new(), methods);
    let allow_headers = opt(cx, &mut m, "allow_headers", Vec::new(), header_names);
    let expose_headers = opt(cx, &mut m, "expose_headers", Vec::new(), header_names);
    let max_age = opt(cx, &mut m, "max_age", None, max_age);
    let allow_credentials = opt(cx, &mut m, "allow_credentials", false, decode::boolean);
    if let (Some(origins), Some(true)) = (&allow_origins, allow_credentials)
        && origins.iter().any(|o| o == "*")
    {
        let span = m.key_span("allow_credentials").unwrap_or(n.span);
        cx.error(
            span,
            &p.key("allow_credentials"),
            "`allow_credentials: true` cannot go with the origin `*`: browsers refuse it, and AWS rejects it (allow-credentials is not supported if allow-origin is *)",
        )
        .suggestion = Some("list the origins that may send credentials".into());
        m.finish(cx);
        return None;
    }
    m.finish(cx);
    Some(CorsConfig {
        allow_origins: allow_origins?,
        allow_methods: allow_methods?,
        allow_headers: allow_headers?,
        expose_headers: expose_headers?,
        max_age: max_age?,
        allow_credentials: allow_credentials?,
        span: n.span,
    })
}

fn item_span(n: &Node, i: usize) -> Span {
    match &n.kind {
        Kind::Seq(items) => items.get(i).map_or(n.span, |x| x.span),
        _ => n.span,
    }
}

/// Origins: `*`, `scheme://host[:port]`, or a pattern with a `*` in the host.
fn origins(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Vec<String>> {
    let list = decode::string_list(cx, n, p)?;
    let mut ok = true;
    for (i, origin) in list.iter().enumerate() {
        if origin == "*" {
            continue;
        }
        let Some((scheme, host)) = origin.split_once("://") else {
            cx.error(item_span(n, i), &p.index(i), format!("invalid origin {origin:?} (expected `https://host`, `*` or a pattern like `https://*.example.com`)"));
            ok = false;
            continue;
        };
        let host_ok = !host.is_empty()
            && !host.contains('/')
            && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]*".contains(c))
            && host.matches('*').count() <= 1;
        if !matches!(scheme, "http" | "https") || !host_ok {
            cx.error(
                item_span(n, i),
                &p.index(i),
                format!("invalid origin {origin:?}: an origin is `scheme://host[:port]`, without a path"),
            );
            ok = false;
            continue;
        }
        // AWS accepts `*`, exact origins, and `https://*` / `http://*`; anything else with a `*`
        // is a Portcullis pattern.
        if host.contains('*') && host != "*" {
            cx.aws_forbids(
                item_span(n, i),
                &p.index(i),
                &format!("the origin pattern {origin:?}"),
                "AWS matches origins exactly, or `*`, `https://*` and `http://*`",
            );
        }
    }
    ok.then_some(list)
}

fn methods(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Vec<String>> {
    let list = decode::string_list(cx, n, p)?;
    let mut ok = true;
    let mut out = Vec::with_capacity(list.len());
    for (i, method) in list.into_iter().enumerate() {
        let upper = method.to_ascii_uppercase();
        let known = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"];
        if !known.contains(&upper.as_str()) {
            let hint = decode::did_you_mean(&upper, known);
            cx.error_hint(
                item_span(n, i),
                &p.index(i),
                format!("unknown method {method:?} in `allow_methods`"),
                hint,
            );
            ok = false;
        }
        out.push(upper);
    }
    ok.then_some(out)
}

fn header_names(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Vec<String>> {
    let list = decode::string_list(cx, n, p)?;
    let mut ok = true;
    let mut out = Vec::with_capacity(list.len());
    for (i, name) in list.into_iter().enumerate() {
        if name != "*" && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            cx.error(item_span(n, i), &p.index(i), format!("invalid header name {name:?}"));
            ok = false;
        }
        out.push(name.to_ascii_lowercase());
    }
    ok.then_some(out)
}

fn max_age(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Option<i32>> {
    let text = decode::string(cx, n, p)?;
    match text.trim().parse::<i32>() {
        Ok(seconds) if (-1..=86_400).contains(&seconds) => Some(Some(seconds)),
        _ => {
            cx.error(n.span, p, format!("invalid max_age {text:?} (seconds, -1 to 86400)"));
            None
        }
    }
}

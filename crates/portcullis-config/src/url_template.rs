//! `http:` integration URLs with `{var}` placeholders, parsed once so the runtime only fills in.

use std::fmt;

use crate::decode::{Cx, YPath, did_you_mean};
use crate::error::Span;
use crate::expr::{self, Place};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (h2c when `http_version: "2"`).
    Http,
    /// HTTP over TLS (rustls, system roots plus `upstream_ca`).
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// One piece of a URL template's path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UrlPart {
    /// Text copied as written (already valid URL path text, percent-encoding kept).
    Literal(String),
    /// A route variable substituted at request time: `{id}` -> the request's `id` segment,
    /// `{proxy}` -> everything matched by `{proxy+}`
    /// (docs/aws-compatibility.md#routes-and-route-selection, #http-proxy-integration).
    Var(String),
}

/// A parsed `http:` integration URL (docs/aws-compatibility.md#http-proxy-integration).
///
/// Validated at load: scheme `http`/`https`, a host, no user info (`user:pass@`), no fragment;
/// every `{name}` placeholder names a variable of the route key (`{proxy}` for `{proxy+}`);
/// placeholders appear only in the path. For the `$default` route AWS appends the whole
/// client path to the URL; the runtime does that, the template only records what was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlTemplate {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host[:port]` as sent in `Host`/`:authority` (port omitted when it is the default).
    pub authority: String,
    /// Host name or IP (IPv6 in brackets).
    pub host: String,
    /// Port, defaulted from the scheme (80/443) when not written.
    pub port: u16,
    /// The path, split into literal text and variables; empty when the URL has no path.
    pub path: Vec<UrlPart>,
    /// The query string without `?`, if written (no placeholders allowed there).
    pub query: Option<String>,
}

impl UrlTemplate {
    /// Variable names used in the path, in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.path.iter().filter_map(|p| match p {
            UrlPart::Var(v) => Some(v.as_str()),
            UrlPart::Literal(_) => None,
        })
    }
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.authority)?;
        for p in &self.path {
            match p {
                UrlPart::Literal(l) => f.write_str(l)?,
                UrlPart::Var(v) => write!(f, "{{{v}}}")?,
            }
        }
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// Checks that `text` is plain URL text: printable ASCII without characters that must be
/// percent-encoded, and `%` always followed by two hex digits.
fn check_text(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err("`%` must start a percent-escape such as %20".into());
            }
        } else if !c.is_ascii_graphic() || b"\"<>\\^`|{}".contains(&c) {
            let ch = text[i..].chars().next().unwrap_or(' ');
            return Err(format!("character {ch:?} must be percent-encoded"));
        }
        i += 1;
    }
    Ok(())
}

/// Parses `text` for a route whose key has variables `vars`, with `${stageVariables.NAME}`
/// replaced by the stage variable's value first (anywhere in the URL, the host included, as
/// AWS allows).
pub(crate) fn parse(
    cx: &mut Cx,
    text: &str,
    span: Span,
    path: &YPath,
    vars: &[String],
) -> Option<UrlTemplate> {
    if text.contains("${") {
        let template = match expr::template(text, Place::Url, &cx.stage_variables) {
            Ok(template) => template,
            Err(e) => {
                let span = Span { line: span.line, column: span.column + e.offset };
                cx.error_hint(span, path, format!("invalid URL {text:?}: {}", e.problem), e.hint);
                return None;
            }
        };
        let api = portcullis_core::ApiIdentity {
            stage_variables: cx.stage_variables.clone(),
            ..Default::default()
        };
        let resolved = template.resolve_constants(&api);
        let resolved = resolved.as_text().unwrap_or(text).to_owned();
        return parse_resolved(cx, &resolved, span, path, vars);
    }
    parse_resolved(cx, text, span, path, vars)
}

fn parse_resolved(cx: &mut Cx, text: &str, span: Span, path: &YPath, vars: &[String]) -> Option<UrlTemplate> {
    let bad = |cx: &mut Cx, why: String| {
        cx.error(span, path, format!("invalid URL {text:?}: {why}"));
        None
    };
    let Some((scheme, rest)) = text.split_once("://") else {
        return bad(cx, "expected an absolute http:// or https:// URL".into());
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return bad(cx, format!("scheme {other:?} is not supported (use http or https)"));
        }
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(auth_end);
    if authority.contains('@') {
        return bad(cx, "user info (user:password@) is not allowed; send credentials with headers".into());
    }
    if authority.contains('{') {
        return bad(cx, "placeholders are only allowed in the path".into());
    }
    if authority.is_empty() {
        return bad(cx, "the URL has no host".into());
    }
    let base = match url::Url::parse(&format!("{}://{authority}/", scheme.as_str())) {
        Ok(u) => u,
        Err(e) => return bad(cx, format!("bad host or port ({e})")),
    };
    let Some(host) = base.host_str().map(str::to_owned) else {
        return bad(cx, "the URL has no host".into());
    };
    let port = base.port_or_known_default().unwrap_or(if scheme == Scheme::Https { 443 } else { 80 });
    let authority = match base.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((a, _)) => (a, true),
        None => (rest, false),
    };
    if fragment {
        return bad(cx, "fragments (#...) are never sent to servers; remove it".into());
    }
    let (path_text, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (before_fragment, None),
    };
    if let Some(q) = &query {
        if q.contains('{') {
            return bad(cx, "placeholders are only allowed in the path, not the query".into());
        }
        if let Err(why) = check_text(q) {
            return bad(cx, why);
        }
    }
    let mut parts = Vec::new();
    let mut ok = true;
    let mut rest = path_text;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            if let Err(why) = check_text(rest) {
                return bad(cx, why);
            }
            parts.push(UrlPart::Literal(rest.to_owned()));
            break;
        };
        let lit = &rest[..open];
        if let Err(why) = check_text(lit) {
            return bad(cx, why);
        }
        if !lit.is_empty() {
            parts.push(UrlPart::Literal(lit.to_owned()));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return bad(cx, "`{` without a closing `}`".into());
        };
        let name = &after[..close];
        rest = &after[close + 1..];
        if let Some(base) = name.strip_suffix('+') {
            cx.error(
                span,
                path,
                format!("placeholder {{{name}}} in the URL: greedy `+` belongs only in the route key"),
            )
            .suggestion = Some(format!("write `{{{base}}}`"));
            ok = false;
            continue;
        }
        if name.is_empty() {
            return bad(cx, "empty placeholder `{}`".into());
        }
        if !vars.iter().any(|v| v == name) {
            let problem = if vars.is_empty() {
                format!("unknown placeholder {{{name}}} in URL: the route key has no variables")
            } else {
                let list: Vec<String> = vars.iter().map(|v| format!("{{{v}}}")).collect();
                format!(
                    "unknown placeholder {{{name}}} in URL: the route key's variables are {}",
                    list.join(", ")
                )
            };
            let hint = did_you_mean(name, vars.iter().map(String::as_str)).map(|_| {
                let best = crate::decode::suggest(name, vars.iter().map(String::as_str)).unwrap_or_default();
                format!("did you mean `{{{best}}}`?")
            });
            cx.error_hint(span, path, problem, hint);
            ok = false;
            continue;
        }
        parts.push(UrlPart::Var(name.to_owned()));
    }
    ok.then_some(UrlTemplate { scheme, authority, host, port, path: parts, query })
}

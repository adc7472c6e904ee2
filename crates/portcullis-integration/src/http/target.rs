//! The upstream URL of a route and how one request's URL is built from it
//! (docs/aws-compatibility.md#routes-and-route-selection, #http-proxy-integration).

use std::fmt;
use std::sync::Arc;

use ::http::Uri;
use ::http::uri::{Authority, InvalidUri};
use portcullis_core::Params;

/// URL scheme of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS (rustls), verified against the client's roots.
    Https,
}

impl Scheme {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of the upstream path as written in the config, e.g. `/pets/{id}` is
/// `[Literal("/pets/"), Var("id")]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// Text copied as is; must already be valid in a URI path (percent-encoded where needed).
    Literal(String),
    /// A route path variable, replaced by its raw value as the client sent it (still
    /// percent-encoded; a greedy value keeps its `/` separators). A variable the match did not
    /// capture becomes the empty string.
    Var(Arc<str>),
}

/// Where an HTTP proxy integration sends requests: the integration URI of
/// docs/aws-compatibility.md#http-proxy-integration, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTarget {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and optional port.
    pub authority: Authority,
    /// The path, literal text and variables in order. Empty means `/`.
    pub path: Vec<PathPart>,
    /// Query of the target URL without `?`; the client's query is appended after it with `&`.
    pub query: Option<String>,
    /// Append the client's full request path to the target path (the `$default` route,
    /// docs/aws-compatibility.md); a trailing `/` of the target path is dropped first so `http://h/base/` plus
    /// `/pets` gives `/base/pets`.
    pub append_request_path: bool,
}

/// Request extension set by parameter mapping's `overwrite:path`
/// (docs/aws-compatibility.md#request-parameter-mapping): the upstream path to use instead of the
/// target's path (already percent-encoded, starting with `/`). The target's scheme, authority and
/// query, and the client's query, are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOverride(pub String);

/// An [`UpstreamTarget`] prepared for cheap per-request URL building.
#[derive(Debug)]
pub(super) struct CompiledTarget {
    /// `scheme://authority`; empty when building origin-form URIs ([`Self::in_origin_form`]).
    prefix: Box<str>,
    /// `scheme://host:port`, without any userinfo, for logs.
    log_prefix: Box<str>,
    parts: Box<[PathPart]>,
    literal_len: usize,
    query: Option<Box<str>>,
    append_request_path: bool,
}

impl CompiledTarget {
    pub(super) fn new(target: UpstreamTarget) -> Self {
        let prefix = format!("{}://{}", target.scheme, target.authority).into_boxed_str();
        let log_prefix = match target.authority.port() {
            Some(port) => format!("{}://{}:{port}", target.scheme, target.authority.host()),
            None => format!("{}://{}", target.scheme, target.authority.host()),
        }
        .into_boxed_str();
        let mut parts = target.path;
        // A path must start with `/` after the authority; tolerate a config that wrote
        // `{proxy}` or `pets` first rather than producing `http://hostpets`.
        let starts_with_slash =
            matches!(parts.first(), Some(PathPart::Literal(text)) if text.starts_with('/'));
        if !parts.is_empty() && !starts_with_slash {
            parts.insert(0, PathPart::Literal("/".to_owned()));
        }
        let literal_len = parts
            .iter()
            .map(|part| match part {
                PathPart::Literal(text) => text.len(),
                PathPart::Var(_) => 0,
            })
            .sum();
        Self {
            prefix,
            log_prefix,
            parts: parts.into_boxed_slice(),
            literal_len,
            query: target.query.filter(|q| !q.is_empty()).map(String::into_boxed_str),
            append_request_path: target.append_request_path,
        }
    }

    /// The same target, building origin-form URIs (`/path?query`) for a connection-level client
    /// that writes the URI as it is (the HTTP/1.1 pools): no `scheme://authority` prefix.
    pub(super) fn in_origin_form(mut self) -> Self {
        self.prefix = Box::default();
        self
    }

    /// `scheme://host:port`, for logs (no userinfo).
    pub(super) fn log_prefix(&self) -> &str {
        &self.log_prefix
    }

    /// The target as configured, for people: `http://host:port/pets/{id}?q`, without userinfo;
    /// a `$default`-style target that appends the request path ends in `/…`.
    pub(super) fn display(&self) -> String {
        let mut out = String::from(&*self.log_prefix);
        for part in &self.parts {
            match part {
                PathPart::Literal(text) => out.push_str(text),
                PathPart::Var(name) => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            }
        }
        if self.append_request_path {
            out.push_str(if out.ends_with('/') { "…" } else { "/…" });
        }
        if let Some(query) = &self.query {
            out.push('?');
            out.push_str(query);
        }
        out
    }

    /// The absolute upstream URI for a request to `request_uri` whose route captured `params`.
    /// One allocation (the string, sized up front), then parsed without copying.
    #[cfg(test)]
    pub(super) fn upstream_uri(&self, request_uri: &Uri, params: &Params) -> Result<Uri, InvalidUri> {
        self.upstream_uri_with(request_uri, params, None)
    }

    /// [`Self::upstream_uri`], with the path replaced by `path` when given ([`PathOverride`]).
    pub(super) fn upstream_uri_with(
        &self,
        request_uri: &Uri,
        params: &Params,
        path: Option<&PathOverride>,
    ) -> Result<Uri, InvalidUri> {
        let client_path = if self.append_request_path { request_uri.path() } else { "" };
        let client_query = request_uri.query().filter(|q| !q.is_empty());
        let capacity = self.prefix.len()
            + self.literal_len
            + params.iter().map(|p| p.raw.len()).sum::<usize>()
            + client_path.len()
            + path.map_or(0, |p| p.0.len())
            + self.query.as_deref().map_or(0, |q| q.len() + 1)
            + client_query.map_or(0, |q| q.len() + 1)
            + 1;
        let mut url = String::with_capacity(capacity);
        url.push_str(&self.prefix);
        let path_start = url.len();
        let parts: &[PathPart] = if path.is_some() { &[] } else { &self.parts };
        if let Some(PathOverride(path)) = path {
            url.push_str(path);
        }
        for part in parts {
            match part {
                PathPart::Literal(text) => url.push_str(text),
                PathPart::Var(name) => {
                    if let Some(param) = params.get(name) {
                        url.push_str(&param.raw);
                    }
                }
            }
        }
        if self.append_request_path && path.is_none() {
            if url.len() > path_start && url.ends_with('/') {
                url.pop();
            }
            url.push_str(client_path);
        }
        if url.len() == path_start {
            url.push('/');
        }
        match (self.query.as_deref(), client_query) {
            (Some(target), Some(client)) => {
                url.push('?');
                url.push_str(target);
                url.push('&');
                url.push_str(client);
            }
            (Some(query), None) | (None, Some(query)) => {
                url.push('?');
                url.push_str(query);
            }
            (None, None) => {}
        }
        Uri::try_from(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::Param;

    fn target(path: Vec<PathPart>, query: Option<&str>, append: bool) -> CompiledTarget {
        CompiledTarget::new(UpstreamTarget {
            scheme: Scheme::Http,
            authority: Authority::from_static("up:3000"),
            path,
            query: query.map(str::to_owned),
            append_request_path: append,
        })
    }

    fn lit(s: &str) -> PathPart {
        PathPart::Literal(s.to_owned())
    }

    fn var(s: &str) -> PathPart {
        PathPart::Var(Arc::from(s))
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(name, raw)| Param {
                    name: Arc::from(*name),
                    raw: (*raw).to_owned(),
                    decoded: String::new(),
                })
                .collect(),
        )
    }

    fn build(t: &CompiledTarget, request: &str, p: &Params) -> String {
        let uri: Uri = request.parse().unwrap();
        t.upstream_uri(&uri, p).unwrap().to_string()
    }

    #[test]
    fn variables_are_replaced_by_raw_values_and_greedy_keeps_slashes() {
        let t = target(vec![lit("/static/"), var("proxy")], None, false);
        let p = params(&[("proxy", "a%2Fb/c%20d/%C3%A9")]);
        assert_eq!(build(&t, "/files/a%2Fb/c%20d/%C3%A9", &p), "http://up:3000/static/a%2Fb/c%20d/%C3%A9");
    }

    #[test]
    fn several_variables_and_a_missing_one() {
        let t = target(vec![lit("/u/"), var("a"), lit("/x/"), var("b"), lit("/"), var("nope")], None, false);
        let p = params(&[("a", "1"), ("b", "two")]);
        assert_eq!(build(&t, "/whatever", &p), "http://up:3000/u/1/x/two/");
    }

    #[test]
    fn default_route_appends_the_full_request_path() {
        let empty = target(vec![], None, true);
        assert_eq!(build(&empty, "/pets/1?x=1", &Params::default()), "http://up:3000/pets/1?x=1");
        let base = target(vec![lit("/base/")], None, true);
        assert_eq!(build(&base, "/pets/1", &Params::default()), "http://up:3000/base/pets/1");
        let root = target(vec![lit("/")], None, true);
        assert_eq!(build(&root, "/", &Params::default()), "http://up:3000/");
    }

    #[test]
    fn queries_are_joined_with_ampersand() {
        let t = target(vec![lit("/p")], Some("fixed=1"), false);
        assert_eq!(build(&t, "/x?a=b&c=%20", &Params::default()), "http://up:3000/p?fixed=1&a=b&c=%20");
        assert_eq!(build(&t, "/x", &Params::default()), "http://up:3000/p?fixed=1");
        let no_query = target(vec![lit("/p")], None, false);
        assert_eq!(build(&no_query, "/x?a=b", &Params::default()), "http://up:3000/p?a=b");
    }

    #[test]
    fn a_path_override_replaces_the_target_path_and_keeps_the_queries() {
        let t = target(vec![lit("/base/"), var("id")], Some("fixed=1"), true);
        let uri: Uri = "/orders/7?a=b".parse().unwrap();
        let over = PathOverride("/v2/orders/7".to_owned());
        let built = t.upstream_uri_with(&uri, &params(&[("id", "7")]), Some(&over)).unwrap();
        assert_eq!(built.to_string(), "http://up:3000/v2/orders/7?fixed=1&a=b");
    }

    #[test]
    fn an_empty_path_becomes_root_and_a_relative_one_gets_a_slash() {
        let t = target(vec![], None, false);
        assert_eq!(build(&t, "/x", &Params::default()), "http://up:3000/");
        let relative = target(vec![var("id")], None, false);
        assert_eq!(build(&relative, "/x", &params(&[("id", "7")])), "http://up:3000/7");
    }
}

//! The three ways routing can refuse something: a route key that does not parse
//! ([`RouteKeyError`], a config error), two routes that cannot be told apart ([`DuplicateRoute`],
//! a config error) and a request path the gateway will not route ([`PathError`], answered 400 by
//! the pipeline). A miss is not an error: [`crate::RouteTable::find`] returns `Ok(None)`.

use crate::key::RouteKey;

/// A route key that does not parse. `Display` is a message for a human reading a config error;
/// [`RouteKeyError::suggestion`] offers a fix where one is obvious.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid route key `{key}`: {kind}")]
pub struct RouteKeyError {
    key: String,
    kind: RouteKeyErrorKind,
    suggestion: Option<String>,
}

impl RouteKeyError {
    pub(crate) fn new(key: &str, kind: RouteKeyErrorKind, suggestion: Option<String>) -> Self {
        Self { key: key.to_owned(), kind, suggestion }
    }

    /// The route key text that was refused.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &RouteKeyErrorKind {
        &self.kind
    }

    /// What to write instead, where there is an obvious fix: the method name for
    /// [`RouteKeyErrorKind::UnknownMethod`] in another case (`get` -> `GET`), `$default`
    /// for [`RouteKeyErrorKind::DefaultWithOther`], otherwise a corrected whole route key.
    pub fn suggestion(&self) -> Option<String> {
        self.suggestion.clone()
    }
}

/// The problem found in a route key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteKeyErrorKind {
    /// Nothing at all.
    #[error("a route key is `METHOD /path` or `$default`, not empty")]
    Empty,
    /// `$default` combined with a method or path, or spelt in another case.
    #[error("`$default` must stand alone, exactly as written here")]
    DefaultWithOther,
    /// `GET/pets`.
    #[error("the method and the path must be separated by one space")]
    MissingSpace,
    /// `GET  /pets`, ` GET /pets`, a tab, a trailing space.
    #[error("the method and the path must be separated by exactly one space, with none around")]
    ExtraSpace,
    /// `GET /my pets`.
    #[error("a route key has exactly one space; write a space inside the path as `%20`")]
    SpaceInPath,
    /// `/pets`.
    #[error("the method is missing (write e.g. `GET /pets` or `ANY /pets`)")]
    MissingMethod,
    /// `GET`.
    #[error("the path is missing (write e.g. `GET /pets`)")]
    MissingPath,
    /// A method that is not one of `ANY GET POST PUT PATCH DELETE HEAD OPTIONS` (case matters).
    #[error(
        "unknown method `{method}`: use one of ANY, GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (upper case)"
    )]
    UnknownMethod {
        /// The method as written.
        method: String,
    },
    /// `TRACE` or `CONNECT`: real HTTP methods that HTTP APIs cannot route by name.
    #[error("method `{method}` cannot be routed by name; only `ANY` or `$default` catch it")]
    UnsupportedMethod {
        /// The method as written.
        method: String,
    },
    /// The path does not start with `/`.
    #[error("the path must start with `/`")]
    PathNotAbsolute,
    /// `//` or an empty segment anywhere but the end (a trailing `/` is allowed and significant).
    #[error("the path has an empty segment (`//`)")]
    EmptySegment,
    /// `.` or `..` (also percent-encoded): such requests are refused, so the route could never match.
    #[error("the path has a `.` or `..` segment, which requests are never allowed to contain")]
    DotSegment,
    /// `/a{b}`, `/{a}b`, `/{a}{b}`: a variable must be a whole segment.
    #[error("`{segment}`: a path variable must be a whole segment, like `/{{name}}`")]
    VarNotWholeSegment {
        /// The offending segment.
        segment: String,
    },
    /// `{}`, `{a-b}`, `{+}`: names use only `A-Z a-z 0-9 _` and are not empty.
    #[error("`{{{name}}}`: a variable name uses only letters, digits and `_`, and is not empty")]
    BadVarName {
        /// The name as written (without braces and `+`).
        name: String,
    },
    /// `/{proxy+}/x`: a greedy variable must be the last segment.
    #[error("greedy variable `{{{name}+}}` must be the last segment of the path")]
    GreedyNotLast {
        /// The variable name.
        name: String,
    },
    /// `/{id}/x/{id}`.
    #[error("variable `{name}` appears twice in one route key")]
    DuplicateVar {
        /// The repeated name.
        name: String,
    },
    /// A `%` not followed by two hex digits, or an escape that does not decode to UTF-8.
    #[error("`{segment}`: invalid percent-encoding (a `%` must start `%XX` and decode to UTF-8)")]
    BadPercentEncoding {
        /// The offending segment.
        segment: String,
    },
    /// A character that cannot appear in a request path: `?`, `#`, control characters.
    #[error("the path contains {ch:?}, which cannot appear in a request path (percent-encode it)")]
    BadChar {
        /// The character.
        ch: char,
    },
    /// More segments than any request may have (see [`crate::MAX_SEGMENTS`]).
    #[error("the path has more than {limit} segments")]
    TooManySegments {
        /// The limit.
        limit: usize,
    },
}

/// Two routes that no request could tell apart: the same method selector and the same path
/// shape. Variable names do not distinguish routes (`GET /pets/{id}` clashes with
/// `GET /pets/{petId}`), and literal segments are compared after percent-decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route `{key}` clashes with the earlier route `{existing}` (same method and path shape)")]
pub struct DuplicateRoute {
    /// The route that was refused.
    pub key: RouteKey,
    /// The earlier route it clashes with.
    pub existing: RouteKey,
    /// Insertion index of the earlier route (0-based, counting only accepted routes).
    pub existing_index: usize,
}

/// A request path the gateway refuses to route (the pipeline answers it with 400).
///
/// The messages never repeat the path, so they are safe to send to the client and to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty or does not start with `/` (e.g. `*` or an absolute URI).
    #[error("request path must start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("request path has invalid percent-encoding")]
    BadPercentEncoding,
    /// A segment whose percent-decoded bytes are not UTF-8.
    #[error("request path does not decode to UTF-8")]
    NotUtf8,
    /// A `%` that arrived encoded (`%25`) and, once decoded, starts no escape
    /// (`percent%25done`): API Gateway decodes a path twice and refuses such a path with 400
    /// (see [`crate::integration_path`]).
    #[error("request path has an encoded '%' that starts no escape once decoded")]
    BadEncodedPercent,
    /// A `.` or `..` segment, raw or percent-encoded (`%2e`, `.%2E`).
    #[error("request path contains a '.' or '..' segment")]
    DotSegment,
    /// More than [`crate::MAX_SEGMENTS`] segments.
    #[error("request path has more than {limit} segments")]
    TooManySegments {
        /// The limit.
        limit: usize,
    },
}

//! Where a credential is read from: `$request.header.X`, `$request.querystring.X`,
//! `$request.cookie.X`. Shared by the JWT authorizer and (later) Lambda authorizers.

use std::borrow::Cow;
use std::fmt;

use http::HeaderName;
use http::header::COOKIE;

/// One identity source, compiled from its selection expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `$request.header.<name>` (names are case-insensitive).
    Header(HeaderName),
    /// `$request.querystring.<name>` (case-sensitive, percent-decoded).
    Query(String),
    /// `$request.cookie.<name>` (extended mode only; not an AWS JWT source).
    Cookie(String),
}

/// A selection expression that is not a supported identity source.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "{expression:?} is not an identity source: expected $request.header.NAME, $request.querystring.NAME or $request.cookie.NAME"
)]
pub struct IdentitySourceError {
    /// What was given.
    pub expression: String,
}

impl IdentitySource {
    /// The `Authorization` header, AWS's default.
    pub fn authorization() -> Self {
        IdentitySource::Header(http::header::AUTHORIZATION)
    }

    /// Parses `$request.header.X`, `$request.querystring.X` or `$request.cookie.X`.
    ///
    /// # Errors
    /// [`IdentitySourceError`] for anything else or an empty or invalid name.
    pub fn parse(expression: &str) -> Result<Self, IdentitySourceError> {
        let err = || IdentitySourceError { expression: expression.to_owned() };
        if let Some(name) = expression.strip_prefix("$request.header.") {
            return HeaderName::from_bytes(name.as_bytes()).map(IdentitySource::Header).map_err(|_| err());
        }
        let (kind, name) = if let Some(name) = expression.strip_prefix("$request.querystring.") {
            (0, name)
        } else if let Some(name) = expression.strip_prefix("$request.cookie.") {
            (1, name)
        } else {
            return Err(err());
        };
        if name.is_empty() {
            return Err(err());
        }
        Ok(if kind == 0 {
            IdentitySource::Query(name.to_owned())
        } else {
            IdentitySource::Cookie(name.to_owned())
        })
    }

    /// The raw value from the request, trimmed; `None` when absent or empty (spec §2.2: missing
    /// and empty are the same case). For headers sent several times, the first value counts.
    pub fn extract<'a>(&self, parts: &'a http::request::Parts) -> Option<Cow<'a, str>> {
        let value: Cow<'a, str> = match self {
            IdentitySource::Header(name) => Cow::Borrowed(parts.headers.get(name)?.to_str().ok()?),
            IdentitySource::Query(name) => {
                let query = parts.uri.query()?;
                url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v)?
            }
            IdentitySource::Cookie(name) => {
                let found = parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(
                    |header| {
                        header.split(';').find_map(|pair| {
                            let (k, v) = pair.trim().split_once('=')?;
                            (k.trim() == name).then(|| v.trim().trim_matches('"'))
                        })
                    },
                )?;
                Cow::Borrowed(found)
            }
        };
        let trimmed = match value {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        };
        (!trimmed.is_empty()).then_some(trimmed)
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::Header(name) => write!(f, "$request.header.{name}"),
            IdentitySource::Query(name) => write!(f, "$request.querystring.{name}"),
            IdentitySource::Cookie(name) => write!(f, "$request.cookie.{name}"),
        }
    }
}

/// The token inside an identity-source value: `Bearer <token>` or the bare token (spec §2.2).
/// The scheme matches case-insensitively and must be followed by exactly one space ([UNDOC],
/// the spec's recommendation). A lone `Bearer` counts as no token.
pub(crate) fn strip_bearer(value: &str) -> Option<&str> {
    if value.len() >= 6 && value[..6].eq_ignore_ascii_case("bearer") {
        let rest = &value[6..];
        if rest.is_empty() {
            return None;
        }
        if let Some(token) = rest.strip_prefix(' ') {
            return (!token.is_empty()).then_some(token);
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn expressions_round_trip() {
        for e in ["$request.header.authorization", "$request.querystring.token", "$request.cookie.session"] {
            assert_eq!(IdentitySource::parse(e).unwrap().to_string(), e);
        }
        assert!(IdentitySource::parse("$request.body.x").is_err());
        assert!(IdentitySource::parse("$request.querystring.").is_err());
    }

    #[test]
    fn values_come_from_header_query_and_cookie() {
        let p = parts(
            "/x?a=1&token=abc%2Edef&b",
            &[("authorization", " Bearer t "), ("cookie", "x=1; session=\"s.t\"")],
        );
        assert_eq!(IdentitySource::authorization().extract(&p).unwrap(), "Bearer t");
        assert_eq!(IdentitySource::Query("token".into()).extract(&p).unwrap(), "abc.def");
        assert_eq!(IdentitySource::Cookie("session".into()).extract(&p).unwrap(), "s.t");
        assert!(IdentitySource::Query("b".into()).extract(&p).is_none());
        assert!(IdentitySource::Cookie("nope".into()).extract(&p).is_none());
    }

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        assert_eq!(strip_bearer("Bearer abc"), Some("abc"));
        assert_eq!(strip_bearer("bEaReR abc"), Some("abc"));
        assert_eq!(strip_bearer("abc"), Some("abc"));
        assert_eq!(strip_bearer("Bearer"), None);
        assert_eq!(strip_bearer("Bearer  abc"), Some(" abc"));
    }
}

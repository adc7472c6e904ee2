//! Where a JWT authorizer reads its token: `$request.header.X`, `$request.querystring.X` or
//! `$request.cookie.X` (identity sources are [`Variable`]s, parsed by the config loader).

use std::borrow::Cow;

use portcullis_core::Variable;

/// The `Authorization` header, AWS's default identity source.
pub fn authorization() -> Variable {
    Variable::Header(http::header::AUTHORIZATION)
}

/// The raw token value a JWT authorizer reads from `source`, trimmed; `None` when absent or
/// empty (missing and empty are the same case on AWS). For a header sent several times the
/// first value counts; a query parameter is form-decoded. Only header, query and cookie
/// sources carry tokens (the config loader allows no other for JWT authorizers).
pub(crate) fn extract<'a>(source: &Variable, parts: &'a http::request::Parts) -> Option<Cow<'a, str>> {
    let value: Cow<'a, str> = match source {
        Variable::Header(name) => Cow::Borrowed(parts.headers.get(name)?.to_str().ok()?),
        Variable::Query(name) => {
            let query = parts.uri.query()?;
            url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v)?
        }
        Variable::Cookie(name) => Cow::Borrowed(portcullis_events::cookie(parts, name)?),
        _ => return None,
    };
    let trimmed = match value {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    };
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The token inside an identity-source value: `Bearer <token>` or the bare token
/// (docs/aws-compatibility.md#token-extraction-and-keys). The scheme matches case-insensitively and
/// must be followed by exactly one space ([UNDOC], the spec's recommendation). A lone `Bearer`
/// counts as no token.
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
    fn values_come_from_header_query_and_cookie() {
        let p = parts(
            "/x?a=1&token=abc%2Edef&b",
            &[("authorization", " Bearer t "), ("cookie", "x=1; session=\"s.t\"")],
        );
        assert_eq!(extract(&authorization(), &p).unwrap(), "Bearer t");
        assert_eq!(extract(&Variable::Query("token".into()), &p).unwrap(), "abc.def");
        assert_eq!(extract(&Variable::Cookie("session".into()), &p).unwrap(), "s.t");
        assert!(extract(&Variable::Query("b".into()), &p).is_none());
        assert!(extract(&Variable::Cookie("nope".into()), &p).is_none());
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

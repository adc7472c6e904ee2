//! Identity-source expressions: where an authorizer finds its token or cache key.

use std::fmt;

use portcullis_core::ContextVariable;

use crate::decode::{Cx, YPath};
use crate::error::Span;

/// One identity-source selection expression (spec §2.1, §3.9), parsed.
///
/// | YAML | variant | notes |
/// |---|---|---|
/// | `$request.header.Authorization` | [`Header`](Self::Header) | name case-insensitive |
/// | `$request.querystring.token` | [`QueryString`](Self::QueryString) | name case-sensitive |
/// | `$request.cookie.session` | [`Cookie`](Self::Cookie) | Portcullis extension (not in AWS) |
/// | `$context.routeKey` | [`Context`](Self::Context) | Lambda authorizers only |
/// | `$stageVariables.tenant` | [`StageVariable`](Self::StageVariable) | Lambda authorizers only |
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// A request header (stored lower-cased).
    Header(http::HeaderName),
    /// A query-string parameter.
    QueryString(String),
    /// A cookie. **Not AWS**: an error under `compat: aws`.
    Cookie(String),
    /// A `$context` variable such as `routeKey` or `identity.sourceIp`.
    Context(ContextVariable),
    /// A stage variable.
    StageVariable(String),
}

impl IdentitySource {
    /// The expression AWS would show for this source (e.g. `$request.header.authorization`).
    pub fn expression(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(h) => write!(f, "$request.header.{h}"),
            Self::QueryString(q) => write!(f, "$request.querystring.{q}"),
            Self::Cookie(c) => write!(f, "$request.cookie.{c}"),
            Self::Context(c) => write!(f, "$context.{c}"),
            Self::StageVariable(s) => write!(f, "$stageVariables.{s}"),
        }
    }
}

const PREFIXES: &[&str] =
    &["$request.header.", "$request.querystring.", "$request.cookie.", "$context.", "$stageVariables."];

/// Parses one expression; reports and returns `None` when it is not one of the five forms.
pub(crate) fn parse(cx: &mut Cx, text: &str, span: Span, path: &YPath) -> Option<IdentitySource> {
    let split = PREFIXES.iter().find_map(|p| text.strip_prefix(p).map(|rest| (*p, rest)));
    let Some((prefix, name)) = split else {
        let hint = text
            .rfind('.')
            .and_then(|i| {
                crate::decode::suggest(&text[..=i], PREFIXES.iter().copied())
                    .map(|p| format!("did you mean `{p}{}`?", &text[i + 1..]))
            })
            .or_else(|| {
                Some(
                    "write e.g. `$request.header.Authorization`, `$request.querystring.token`, \
                     `$request.cookie.session`, `$context.routeKey` or `$stageVariables.name`"
                        .into(),
                )
            });
        cx.error_hint(span, path, format!("invalid identity source {text:?}"), hint);
        return None;
    };
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.error(span, path, format!("identity source {text:?} needs a name after {prefix:?}"));
        return None;
    }
    Some(match prefix {
        "$request.header." => {
            let Ok(h) = http::HeaderName::from_bytes(name.as_bytes()) else {
                cx.error(span, path, format!("invalid header name {name:?}"));
                return None;
            };
            IdentitySource::Header(h)
        }
        "$request.querystring." => IdentitySource::QueryString(name.to_owned()),
        "$request.cookie." => IdentitySource::Cookie(name.to_owned()),
        "$context." => match ContextVariable::parse(name) {
            Some(variable) => IdentitySource::Context(variable),
            None => {
                let hint = crate::decode::suggest(name, ContextVariable::names())
                    .map(|v| format!("did you mean `$context.{v}`?"))
                    .or_else(|| {
                        Some(format!(
                            "supported: {}",
                            ContextVariable::names().collect::<Vec<_>>().join(", ")
                        ))
                    });
                cx.error_hint(span, path, format!("unknown context variable {text:?}"), hint);
                return None;
            }
        },
        _ => IdentitySource::StageVariable(name.to_owned()),
    })
}

//! Identity sources of Lambda authorizers (spec §3.9): request headers, query parameters,
//! cookies (extension), `$context` variables and stage variables.

use std::fmt;

use http::header::{COOKIE, USER_AGENT};
use portcullis_core::CallContext;
pub use portcullis_core::ContextVariable;

use super::ApiIdentity;

/// One identity source of a Lambda authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaIdentity {
    /// `$request.header.<name>` (case-insensitive; repeated headers joined with `,`).
    Header(http::HeaderName),
    /// `$request.querystring.<name>` (case-sensitive; repeated parameters joined with `,`).
    Query(String),
    /// `$request.cookie.<name>`: a Portcullis extension.
    Cookie(String),
    /// `$context.<variable>`.
    Context(ContextVariable),
    /// `$stageVariables.<name>`.
    StageVariable(String),
}

impl LambdaIdentity {
    /// The value for this request; `None` when absent or empty (spec §3.9: both mean 401).
    pub(crate) fn extract(
        &self,
        parts: &http::request::Parts,
        ctx: &CallContext,
        api: &ApiIdentity,
    ) -> Option<String> {
        let value = match self {
            Self::Header(name) => portcullis_events::header_value(&parts.headers, name)?.into_owned(),
            Self::Query(name) => portcullis_events::query_value(parts.uri.query()?, name)?,
            Self::Cookie(name) => {
                parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|header| {
                    header.split(';').find_map(|pair| {
                        let (k, v) = pair.trim().split_once('=')?;
                        (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
                    })
                })?
            }
            Self::Context(variable) => match variable {
                ContextVariable::RouteKey => ctx.route_key.to_string(),
                ContextVariable::HttpMethod => parts.method.as_str().to_owned(),
                ContextVariable::Path => parts.uri.path().to_owned(),
                ContextVariable::Stage => api.stage.clone(),
                ContextVariable::ApiId => api.api_id.clone(),
                ContextVariable::AccountId => api.account_id.clone(),
                ContextVariable::RequestId => ctx.request_id.as_str().to_owned(),
                ContextVariable::SourceIp => ctx.client_addr.ip().to_string(),
                ContextVariable::UserAgent => {
                    parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())?.to_owned()
                }
                ContextVariable::DomainName => match &api.domain {
                    Some(domain) => domain.clone(),
                    None => parts.headers.get(http::header::HOST).and_then(|v| v.to_str().ok())?.to_owned(),
                },
            },
            Self::StageVariable(name) => {
                api.stage_variables.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())?
            }
        };
        (!value.trim().is_empty()).then_some(value)
    }
}

impl fmt::Display for LambdaIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(name) => write!(f, "$request.header.{name}"),
            Self::Query(name) => write!(f, "$request.querystring.{name}"),
            Self::Cookie(name) => write!(f, "$request.cookie.{name}"),
            Self::Context(variable) => write!(f, "$context.{variable}"),
            Self::StageVariable(name) => write!(f, "$stageVariables.{name}"),
        }
    }
}

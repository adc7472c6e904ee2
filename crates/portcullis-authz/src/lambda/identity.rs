//! Identity sources of Lambda authorizers: request headers, query parameters, cookies
//! (extension), `$context` variables and stage variables, read as AWS hands them on (repeated
//! headers and parameters joined with `,`).

use portcullis_core::{CallContext, Variable};

use super::ApiIdentity;

/// The value of `source` for this request; `None` when absent or empty (both mean 401).
pub(crate) fn extract(
    source: &Variable,
    parts: &http::request::Parts,
    ctx: &CallContext,
    api: &ApiIdentity,
) -> Option<String> {
    let facts = portcullis_events::RequestFacts::new(parts, &[], ctx, api);
    let value = portcullis_events::request_value(source, &facts)?;
    (!value.trim().is_empty()).then(|| value.into_owned())
}

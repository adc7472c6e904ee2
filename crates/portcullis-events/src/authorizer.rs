//! Lambda authorizer input events (docs/aws-compatibility.md#lambda-authorizer-events).
//!
//! The REQUEST events are the integration events of the same payload version with the body
//! removed and the authorizer fields added, so field rules (header joining, cookies, query
//! decoding, `requestContext`) cannot drift between the two.

use serde::Serialize;
use serde_json::Value;

use crate::request::{EventError, RequestFacts, V2Kind, value_v1, write_v2};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    authorization_token: &'a str,
    method_arn: &'a str,
}

/// The REST API TOKEN event (docs/aws-compatibility.md#lambda-authorizer-events):
/// `{"type":"TOKEN","authorizationToken","methodArn"}`. The token is the whole header value,
/// `Bearer ` included, as AWS sends it.
///
/// # Errors
/// [`EventError::Encode`] if JSON encoding fails.
pub fn token_event(authorization_token: &str, method_arn: &str) -> Result<Vec<u8>, EventError> {
    Ok(serde_json::to_vec(&TokenEvent { kind: "TOKEN", authorization_token, method_arn })?)
}

/// The HTTP API REQUEST event, payload 1.0 (docs/aws-compatibility.md#lambda-authorizer-events):
/// the REST-compatible request event plus `type`, `methodArn`, and `identitySource` /
/// `authorizationToken`, both the identity values joined with `,`. No body, no `isBase64Encoded`,
/// no `requestContext.authorizer`.
///
/// # Errors
/// [`EventError::Encode`] if JSON encoding fails.
pub fn request_authorizer_v1(
    facts: &RequestFacts<'_>,
    method_arn: &str,
    identity_source: &[String],
) -> Result<Vec<u8>, EventError> {
    let mut event = value_v1(facts)?;
    if let Value::Object(map) = &mut event {
        map.remove("body");
        map.remove("isBase64Encoded");
        if let Some(Value::Object(context)) = map.get_mut("requestContext") {
            context.remove("authorizer");
        }
        let joined = identity_source.join(",");
        map.insert("type".into(), Value::from("REQUEST"));
        map.insert("methodArn".into(), Value::from(method_arn));
        map.insert("identitySource".into(), Value::from(joined.clone()));
        map.insert("authorizationToken".into(), Value::from(joined));
    }
    Ok(serde_json::to_vec(&event)?)
}

/// The HTTP API REQUEST event, payload 2.0 (docs/aws-compatibility.md#lambda-authorizer-events):
/// the 2.0 request event without `body` and `isBase64Encoded` (and without
/// `requestContext.authorizer`), plus `type`, `routeArn` and `identitySource` (the resolved values,
/// in configuration order; `null`, not `[]`, when the authorizer has no identity sources).
///
/// # Errors
/// [`EventError::Encode`] if JSON encoding fails.
pub fn request_authorizer_v2(
    facts: &RequestFacts<'_>,
    route_arn: &str,
    identity_source: &[String],
) -> Result<Vec<u8>, EventError> {
    write_v2(facts, V2Kind::Authorizer { route_arn, identity_source })
}

#[cfg(test)]
mod tests;

//! The two answers a Lambda authorizer may give
//! (docs/aws-compatibility.md#iam-policy-and-simple-responses IAM policy and simple responses) and the
//! rules on their `context` (docs/aws-compatibility.md#authorizer-context-to-the-integration).
//! Parsing is strict: anything malformed is a [`ResponseError`], which the authorizer turns into
//! 500 and never caches (docs/aws-compatibility.md#lambda-authorizer-status-codes,
//! #identity-sources-and-caching).
//!
//! Null handling, one rule everywhere: an optional member that is `null` (`principalId`,
//! `context`, `usageIdentifierKey`) is treated as absent, since Python's `None` and JavaScript's
//! `null` are the usual ways of "not setting" it; a required member that is `null` is a type error.

use serde_json::{Map, Value};

use super::{Policy, PolicyError, json_type};

/// Largest accepted `context`, serialized as compact JSON, in bytes. AWS documents 8 KB only for
/// WebSocket APIs; for HTTP/REST AWS does not document one, and the same 8 KB is kept.
pub const MAX_CONTEXT_BYTES: usize = 8 * 1024;

/// How `context` values are validated (docs/aws-compatibility.md#iam-policy-and-simple-responses,
/// #authorizer-context-to-the-integration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContextRules {
    /// REST-style authorizers (`event: token`, and REQUEST 1.0 in REST compatibility): values
    /// must be a string, number or boolean; an array, object or `null` is an error (AWS answers
    /// `AuthorizerConfigurationException`). `false` (HTTP API): any JSON value, types preserved.
    pub primitives_only: bool,
    /// HTTP API payload 1.0: the key `claims` is reserved and may not be used
    /// (docs/aws-compatibility.md#iam-policy-and-simple-responses).
    pub reserve_claims: bool,
}

/// Why an authorizer's output was rejected (a malformed answer: 500, never cached).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The output is not valid JSON.
    #[error("authorizer output is not JSON: {reason}")]
    NotJson {
        /// The JSON parser's message (line and column; never the output itself).
        reason: String,
    },
    /// The output is JSON but not an object.
    #[error("authorizer output must be a JSON object, found {found}")]
    NotAnObject {
        /// JSON type found.
        found: &'static str,
    },
    /// An IAM-policy answer without `policyDocument`.
    #[error("authorizer output has no policyDocument")]
    MissingPolicyDocument,
    /// The `policyDocument` is invalid.
    #[error("invalid policyDocument: {0}")]
    Policy(#[from] PolicyError),
    /// `principalId` is present but not a string.
    #[error("principalId must be a string, found {found}")]
    PrincipalIdNotString {
        /// JSON type found.
        found: &'static str,
    },
    /// `usageIdentifierKey` is present but not a string.
    #[error("usageIdentifierKey must be a string, found {found}")]
    UsageIdentifierKeyNotString {
        /// JSON type found.
        found: &'static str,
    },
    /// `context` is present but not an object.
    #[error("context must be a JSON object, found {found}")]
    ContextNotObject {
        /// JSON type found.
        found: &'static str,
    },
    /// A `context` value is not a string, number or boolean where only those are allowed.
    #[error("context value for key {key:?} must be a string, number or boolean, found {found}")]
    ContextValueNotPrimitive {
        /// The offending key.
        key: String,
        /// JSON type found.
        found: &'static str,
    },
    /// `context` uses a reserved key (`claims` under HTTP API payload 1.0).
    #[error("context key {key:?} is reserved")]
    ContextKeyReserved {
        /// The reserved key.
        key: String,
    },
    /// `context` serializes to more than [`MAX_CONTEXT_BYTES`].
    #[error("context is {size} bytes as JSON, more than the limit of {limit}")]
    ContextTooLarge {
        /// Its serialized size.
        size: usize,
        /// [`MAX_CONTEXT_BYTES`].
        limit: usize,
    },
    /// A simple answer without `isAuthorized`.
    #[error("simple authorizer output has no isAuthorized")]
    MissingIsAuthorized,
    /// `isAuthorized` is not a JSON boolean (`"true"` is not `true`).
    #[error("isAuthorized must be a boolean, found {found}")]
    IsAuthorizedNotBoolean {
        /// JSON type found.
        found: &'static str,
    },
}

/// An IAM-policy authorizer answer (docs/aws-compatibility.md#iam-policy-and-simple-responses):
/// REST TOKEN/REQUEST, HTTP API 1.0, and HTTP API 2.0 without simple responses.
#[derive(Debug, Clone)]
pub struct IamResponse {
    /// `principalId`, exposed as `$context.authorizer.principalId`. `None` when absent or null.
    pub principal_id: Option<String>,
    /// The compiled `policyDocument`.
    pub policy: Policy,
    /// `context`, validated per [`ContextRules`]. `None` when absent or null.
    pub context: Option<Map<String, Value>>,
    /// `usageIdentifierKey` (REST API keys from the authorizer; kept, unused by HTTP APIs).
    pub usage_identifier_key: Option<String>,
}

impl IamResponse {
    /// Parses a function's raw output as an IAM-policy answer. Unknown members are ignored.
    ///
    /// # Errors
    /// A [`ResponseError`]: not JSON, not an object, no `policyDocument`, an invalid policy,
    /// a non-string `principalId`/`usageIdentifierKey`, or a `context` that breaks `rules` or
    /// [`MAX_CONTEXT_BYTES`].
    pub fn parse(output: &[u8], rules: ContextRules) -> Result<IamResponse, ResponseError> {
        let answer = parse_object(output)?;
        let policy = match answer.get("policyDocument") {
            None => return Err(ResponseError::MissingPolicyDocument),
            Some(document) => Policy::parse(document)?,
        };
        let principal_id = optional_string(&answer, "principalId")
            .map_err(|found| ResponseError::PrincipalIdNotString { found })?;
        let usage_identifier_key = optional_string(&answer, "usageIdentifierKey")
            .map_err(|found| ResponseError::UsageIdentifierKeyNotString { found })?;
        let context = parse_context(answer.get("context"), rules)?;
        Ok(IamResponse { principal_id, policy, context, usage_identifier_key })
    }
}

/// A simple authorizer answer `{isAuthorized, context}`
/// (docs/aws-compatibility.md#iam-policy-and-simple-responses, HTTP API payload 2.0 with simple
/// responses enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleResponse {
    /// `true`: on to the integration; `false`: 403.
    pub is_authorized: bool,
    /// `context`, validated per [`ContextRules`]. `None` when absent or null.
    pub context: Option<Map<String, Value>>,
}

impl SimpleResponse {
    /// Parses a function's raw output as a simple answer. Unknown members are ignored.
    ///
    /// # Errors
    /// A [`ResponseError`]: not JSON, not an object, `isAuthorized` missing or not a boolean, or
    /// a `context` that breaks `rules` or [`MAX_CONTEXT_BYTES`].
    pub fn parse(output: &[u8], rules: ContextRules) -> Result<SimpleResponse, ResponseError> {
        let answer = parse_object(output)?;
        let is_authorized = match answer.get("isAuthorized") {
            None => return Err(ResponseError::MissingIsAuthorized),
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(ResponseError::IsAuthorizedNotBoolean { found: json_type(other) }),
        };
        let context = parse_context(answer.get("context"), rules)?;
        Ok(SimpleResponse { is_authorized, context })
    }
}

fn parse_object(output: &[u8]) -> Result<Map<String, Value>, ResponseError> {
    match serde_json::from_slice::<Value>(output) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ResponseError::NotAnObject { found: json_type(&other) }),
        // serde_json's message carries a line and column, never the input.
        Err(e) => Err(ResponseError::NotJson { reason: e.to_string() }),
    }
}

/// A string member, `None` when absent or null; `Err(json type)` otherwise.
fn optional_string(answer: &Map<String, Value>, key: &str) -> Result<Option<String>, &'static str> {
    match answer.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(json_type(other)),
    }
}

fn parse_context(
    value: Option<&Value>,
    rules: ContextRules,
) -> Result<Option<Map<String, Value>>, ResponseError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(ResponseError::ContextNotObject { found: json_type(other) }),
    };
    for (key, value) in map {
        if rules.reserve_claims && key == "claims" {
            return Err(ResponseError::ContextKeyReserved { key: key.clone() });
        }
        if rules.primitives_only && !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            return Err(ResponseError::ContextValueNotPrimitive {
                key: key.clone(),
                found: json_type(value),
            });
        }
    }
    // Serializing a `Value` map cannot fail (string keys, no non-finite floats in a `Value`).
    let size = serde_json::to_vec(map).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_CONTEXT_BYTES {
        return Err(ResponseError::ContextTooLarge { size, limit: MAX_CONTEXT_BYTES });
    }
    Ok(Some(map.clone()))
}

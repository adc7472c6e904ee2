//! What an authorizer established about the caller, handed on to integrations.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The outcome of a successful authorization, as later stages (integration, parameter mapping,
/// access log) need it. `None` is a public route (`authorizer: none`).
#[derive(Debug, Clone, Default)]
pub enum AuthContext {
    /// No authorizer ran.
    #[default]
    None,
    /// A JWT authorizer accepted the token.
    Jwt(JwtContext),
    /// A Lambda authorizer allowed the request.
    Lambda(LambdaContext),
}

/// Claims and scopes of an accepted JWT (docs/aws-compatibility.md#claims-passed-to-the-integration).
#[derive(Debug, Clone)]
pub struct JwtContext {
    /// The token's claims as JSON; shared because verified-token cache hits hand out the same map.
    pub claims: Arc<Map<String, Value>>,
    /// Token scopes when the route has scopes configured; `None` otherwise (AWS sends `null`).
    pub scopes: Option<Arc<[String]>>,
}

/// What a Lambda authorizer returned with an Allow
/// (docs/aws-compatibility.md#authorizer-context-to-the-integration).
#[derive(Debug, Clone)]
pub struct LambdaContext {
    /// `principalId` of an IAM-policy response.
    pub principal_id: Option<String>,
    /// The `context` object, JSON types preserved.
    pub context: Option<Arc<Map<String, Value>>>,
}

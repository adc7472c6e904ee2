//! Where this "API" lives: the facts AWS puts into ARNs and `requestContext`, fixed for a whole
//! configuration and shared by Lambda events, Lambda authorizers and parameter mapping.

/// `region`, `account_id`, `api_id`, stage, domain and stage variables of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiIdentity {
    /// `region` (ARNs).
    pub region: String,
    /// `account_id` (ARNs, `requestContext.accountId`).
    pub account_id: String,
    /// `api_id` (ARNs, `requestContext.apiId`).
    pub api_id: String,
    /// Stage name (`$default` by default): `requestContext.stage` and the ARN stage.
    pub stage: String,
    /// `requestContext.domainName` override; `None` uses the request's `Host`.
    pub domain: Option<String>,
    /// Stage variables (`stageVariables`, `$stageVariables.<name>`).
    pub stage_variables: Vec<(String, String)>,
}

impl Default for ApiIdentity {
    /// The config's defaults: `us-east-1`, `123456789012`, `portcullis`, `$default`.
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            api_id: "portcullis".into(),
            stage: "$default".into(),
            domain: None,
            stage_variables: Vec::new(),
        }
    }
}

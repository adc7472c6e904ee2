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

impl ApiIdentity {
    /// Whether the API is served under a named stage (`/dev/...`) rather than at the root.
    pub fn is_named_stage(&self) -> bool {
        self.stage != "$default"
    }

    /// `path` without the stage prefix a named stage serves under; see [`strip_stage`].
    pub fn strip_stage<'p>(&self, path: &'p str) -> Option<&'p str> {
        strip_stage(&self.stage, path)
    }

    /// `path` as a client of this API sends it: under `/{stage}` for a named stage (a path
    /// already there, or any path of `$default`, is left as it is).
    pub fn under_stage(&self, path: String) -> String {
        if self.strip_stage(&path).is_some() { path } else { format!("/{}{path}", self.stage) }
    }

    /// [`ApiIdentity::strip_stage`] for a path known to be under the stage (the route stage
    /// checked it); the path itself otherwise.
    pub fn route_path<'p>(&self, path: &'p str) -> &'p str {
        self.strip_stage(path).unwrap_or(path)
    }
}

/// `path` without the prefix of the stage `stage` (`/dev/pets` -> `/pets`, `/dev` -> `/`);
/// `None` when `path` is not under the stage. The `$default` stage serves at the root: every
/// path is its own.
pub fn strip_stage<'p>(stage: &str, path: &'p str) -> Option<&'p str> {
    if stage == "$default" {
        return Some(path);
    }
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    match rest {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::ApiIdentity;

    #[test]
    fn a_named_stage_serves_under_its_prefix_and_default_at_the_root() {
        let dev = ApiIdentity { stage: "dev".into(), ..ApiIdentity::default() };
        assert_eq!(dev.strip_stage("/dev/pets/1"), Some("/pets/1"));
        assert_eq!(dev.strip_stage("/dev"), Some("/"));
        assert_eq!(dev.strip_stage("/dev/"), Some("/"));
        assert_eq!(dev.strip_stage("/devices"), None);
        assert_eq!(dev.strip_stage("/pets"), None);
        let root = ApiIdentity::default();
        assert_eq!(root.strip_stage("/pets"), Some("/pets"));
    }
}

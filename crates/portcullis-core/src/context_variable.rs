//! The `$context` variables a Lambda authorizer's identity source may name (spec §3.9, §7.4):
//! parsed once by the config loader, resolved per request by the authorizer.

use std::fmt;

/// One `$context.<variable>` of an identity source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextVariable {
    /// `routeKey`: makes the answer cache per route, as on AWS.
    RouteKey,
    /// `httpMethod`.
    HttpMethod,
    /// `path` (the request path).
    Path,
    /// `stage`.
    Stage,
    /// `apiId`.
    ApiId,
    /// `accountId`.
    AccountId,
    /// `requestId` (in effect disables caching: every request is its own identity).
    RequestId,
    /// `identity.sourceIp`.
    SourceIp,
    /// `identity.userAgent`.
    UserAgent,
    /// `domainName`.
    DomainName,
}

/// Every variable with its name as written after `$context.`: the one table both directions
/// are read from.
const ALL: [(ContextVariable, &str); 10] = [
    (ContextVariable::RouteKey, "routeKey"),
    (ContextVariable::HttpMethod, "httpMethod"),
    (ContextVariable::Path, "path"),
    (ContextVariable::Stage, "stage"),
    (ContextVariable::ApiId, "apiId"),
    (ContextVariable::AccountId, "accountId"),
    (ContextVariable::RequestId, "requestId"),
    (ContextVariable::SourceIp, "identity.sourceIp"),
    (ContextVariable::UserAgent, "identity.userAgent"),
    (ContextVariable::DomainName, "domainName"),
];

impl ContextVariable {
    /// The variable written `$context.<name>`; `None` for a name identity sources do not support.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
    }

    /// The name after `$context.`.
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(v, _)| *v == self).map_or("", |(_, n)| n)
    }

    /// Every supported name, for error messages and suggestions.
    pub fn names() -> impl Iterator<Item = &'static str> {
        ALL.iter().map(|(_, n)| *n)
    }
}

impl fmt::Display for ContextVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_parses_back_from_its_name() {
        for name in ContextVariable::names() {
            assert_eq!(ContextVariable::parse(name).map(ContextVariable::name), Some(name));
        }
        assert_eq!(ContextVariable::parse("routekey"), None);
    }
}

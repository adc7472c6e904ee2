//! The `$context.<variable>` names AWS HTTP APIs define, one table for every use: identity
//! sources, parameter mapping, response mapping, throttle keys and the access log. Parsed once
//! by the config loader, resolved per request by the stage that uses it.

use std::fmt;

/// One `$context.<variable>` (except `authorizer.claims.*` and `authorizer.<key>`, which carry
/// a name: see [`crate::Variable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextVariable {
    /// `requestId`.
    RequestId,
    /// `extendedRequestId` (the same as `requestId` here).
    ExtendedRequestId,
    /// `routeKey`: makes a Lambda authorizer's answer cache per route, as on AWS.
    RouteKey,
    /// `httpMethod`.
    HttpMethod,
    /// `path` (the request path, with the stage prefix for a named stage).
    Path,
    /// `protocol` (`HTTP/1.1`, `HTTP/2.0`).
    Protocol,
    /// `stage`.
    Stage,
    /// `apiId`.
    ApiId,
    /// `accountId`.
    AccountId,
    /// `domainName` (the host the client used, without a port).
    DomainName,
    /// `domainPrefix` (its first label).
    DomainPrefix,
    /// `requestTime` (CLF, `06/Dec/2026:03:04:05 +0000`).
    RequestTime,
    /// `requestTimeEpoch` (milliseconds).
    RequestTimeEpoch,
    /// `identity.sourceIp`.
    SourceIp,
    /// `identity.userAgent`.
    UserAgent,
    /// `authorizer.principalId` (Lambda authorizers).
    PrincipalId,
    /// `authorizer.error`: why the authorizer denied the request.
    AuthorizerError,
    /// `status`: the status code sent to the client.
    Status,
    /// `responseLength`: bytes of response body sent.
    ResponseLength,
    /// `dataProcessed`: bytes of request body received plus bytes of response body sent.
    DataProcessed,
    /// `responseLatency`: milliseconds from the request to the end of the response.
    ResponseLatency,
    /// `integrationLatency` (also `integration.latency`): milliseconds the integration took.
    IntegrationLatency,
    /// `integration.status`: the status the integration answered (a function's `statusCode`).
    IntegrationStatus,
    /// `integrationStatus`: for a Lambda integration, the Lambda service's status (200 when the
    /// function ran, whatever it answered); for an HTTP integration, the upstream's status.
    IntegrationServiceStatus,
    /// `integrationErrorMessage` (also `integration.error`): why the integration failed.
    IntegrationErrorMessage,
    /// `error.message`: the message of a response the gateway produced itself.
    ErrorMessage,
    /// `error.messageString`: the same, quoted.
    ErrorMessageString,
    /// `error.responseType`: the kind of such a response (`UNAUTHORIZED`, `THROTTLED`, ...).
    ErrorResponseType,
}

/// When a variable's value is known, which decides where it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Known {
    /// From the configuration: the same for every request.
    Config,
    /// When the request arrives (before any authorizer).
    Request,
    /// Once the authorizer has decided.
    Authorized,
    /// Once the response is known (response mapping, the access log).
    Response,
}

/// Every variable with its name(s) after `$context.`: the first name is the one printed.
const ALL: [(ContextVariable, &[&str], Known); 28] = {
    use ContextVariable as C;
    use Known::{Authorized, Config, Request, Response};
    [
        (C::RequestId, &["requestId"], Request),
        (C::ExtendedRequestId, &["extendedRequestId"], Request),
        (C::RouteKey, &["routeKey"], Request),
        (C::HttpMethod, &["httpMethod"], Request),
        (C::Path, &["path"], Request),
        (C::Protocol, &["protocol"], Request),
        (C::Stage, &["stage"], Config),
        (C::ApiId, &["apiId"], Config),
        (C::AccountId, &["accountId"], Config),
        (C::DomainName, &["domainName"], Request),
        (C::DomainPrefix, &["domainPrefix"], Request),
        (C::RequestTime, &["requestTime"], Request),
        (C::RequestTimeEpoch, &["requestTimeEpoch"], Request),
        (C::SourceIp, &["identity.sourceIp"], Request),
        (C::UserAgent, &["identity.userAgent"], Request),
        (C::PrincipalId, &["authorizer.principalId"], Authorized),
        (C::AuthorizerError, &["authorizer.error"], Authorized),
        (C::Status, &["status"], Response),
        (C::ResponseLength, &["responseLength"], Response),
        (C::DataProcessed, &["dataProcessed"], Response),
        (C::ResponseLatency, &["responseLatency"], Response),
        (C::IntegrationLatency, &["integrationLatency", "integration.latency"], Response),
        (C::IntegrationStatus, &["integration.status"], Response),
        (C::IntegrationServiceStatus, &["integrationStatus"], Response),
        (C::IntegrationErrorMessage, &["integrationErrorMessage", "integration.error"], Response),
        (C::ErrorMessage, &["error.message"], Response),
        (C::ErrorMessageString, &["error.messageString"], Response),
        (C::ErrorResponseType, &["error.responseType"], Response),
    ]
};

impl ContextVariable {
    /// The variable written `$context.<name>`.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.iter().find(|(_, names, _)| names.contains(&name)).map(|(v, _, _)| *v)
    }

    /// The name after `$context.`.
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(v, _, _)| *v == self).and_then(|(_, names, _)| names.first()).copied().unwrap_or("")
    }

    /// When its value is known.
    pub fn known(self) -> Known {
        ALL.iter().find(|(v, _, _)| *v == self).map_or(Known::Response, |(_, _, known)| *known)
    }

    /// Every supported name known by `by` at the latest, for error messages and suggestions.
    pub fn names(by: Known) -> impl Iterator<Item = &'static str> {
        ALL.iter().filter(move |(_, _, known)| *known <= by).flat_map(|(_, names, _)| names.iter().copied())
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
    fn every_variable_parses_back_from_each_of_its_names() {
        for (variable, names, _) in ALL {
            for name in names {
                assert_eq!(ContextVariable::parse(name), Some(variable), "{name}");
            }
            assert_eq!(ContextVariable::parse(variable.name()), Some(variable));
        }
        assert_eq!(ContextVariable::parse("routekey"), None);
    }

    #[test]
    fn names_are_filtered_by_when_they_are_known() {
        let request: Vec<_> = ContextVariable::names(Known::Request).collect();
        assert!(request.contains(&"routeKey") && request.contains(&"stage"));
        assert!(!request.contains(&"status") && !request.contains(&"authorizer.principalId"));
        assert!(ContextVariable::names(Known::Response).any(|n| n == "integration.error"));
    }
}

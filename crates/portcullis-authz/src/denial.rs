//! Why a request was denied: a status class, a stable reason code and a log detail.

use std::fmt;

use http::HeaderValue;

/// Which answer a denial gets (the pipeline maps it to AWS's bodies,
/// docs/aws-compatibility.md#jwt-failure-responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialStatus {
    /// `401 {"message":"Unauthorized"}`.
    Unauthorized,
    /// `403 {"message":"Forbidden"}`.
    Forbidden,
    /// The authorizer itself failed (`500 {"message":"Internal Server Error"}`); fail closed.
    Error,
}

/// A reason code for the access log, metrics, `debug_headers` and `portcullis explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No token in the identity source (or an empty one).
    TokenMissing,
    /// Not three canonical base64url parts, header or payload not a JSON object, duplicate
    /// members, a non-string `kid`.
    TokenMalformed,
    /// Over 16 KiB.
    TokenTooLarge,
    /// `alg` is `none`, HMAC, unknown, or not in the authorizer's allow-list.
    AlgNotAllowed,
    /// The header carries a key or key URL (`jwk`, `jku`, `x5u`, `x5c`); never trusted.
    HeaderKeyRejected,
    /// The header has `crit`: no extension is supported (RFC 7515 §4.1.11).
    CritUnsupported,
    /// No `kid` where one is required (`compat: aws`, or several keys fit).
    KidMissing,
    /// No key with this `kid`, even after the permitted refetch.
    KidUnknown,
    /// The key with this `kid` has a `kty`/`crv`/`alg` that does not fit the token's `alg`.
    KeyAlgMismatch,
    /// No usable keys (IdP never reached, or keys too stale); fail closed.
    KeysUnavailable,
    /// The signature does not verify.
    SignatureInvalid,
    /// `iss` differs from the configured issuer.
    IssuerMismatch,
    /// No `aud` (or, without `aud`, `client_id`) matches a configured audience.
    AudienceMismatch,
    /// A required claim (`exp`) is absent.
    ClaimMissing,
    /// A time claim is not a number.
    ClaimInvalid,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// None of the route's scopes is in the token.
    ScopeInsufficient,
    /// A Lambda authorizer's identity source is missing or empty; the function was not invoked.
    IdentityMissing,
    /// A TOKEN authorizer's token does not match `token_validation`; not invoked.
    TokenValidationFailed,
    /// The authorizer function failed with the error message `Unauthorized`
    /// (docs/aws-compatibility.md#lambda-authorizer-status-codes).
    FunctionUnauthorized,
    /// The returned policy has a matching `Deny` statement.
    PolicyExplicitDeny,
    /// No `Allow` statement of the returned policy matches this request's ARN.
    PolicyImplicitDeny,
    /// An implicit deny by a *cached* policy that allows other ARNs only: the classic AWS
    /// surprise of a policy naming the ARN of the request that produced it
    /// (docs/aws-compatibility.md#iam-policy-and-simple-responses).
    CachedPolicyMismatch,
    /// A simple response with `isAuthorized: false`.
    NotAuthorized,
    /// The authorizer function failed, crashed, was throttled or could not be invoked.
    FunctionFailed,
    /// The authorizer function did not answer within 10 s.
    FunctionTimeout,
    /// The authorizer function answered something that is not a valid response.
    ResponseMalformed,
    /// A declarative rule (`rules:`) did not hold.
    RuleFailed,
    /// The token was revoked (its `jti`, or its subject), an extension.
    Revoked,
}

impl Reason {
    /// Every reason, in declaration order (for tests that must cover each one).
    pub const ALL: [Reason; 31] = [
        Reason::TokenMissing,
        Reason::TokenMalformed,
        Reason::TokenTooLarge,
        Reason::AlgNotAllowed,
        Reason::HeaderKeyRejected,
        Reason::CritUnsupported,
        Reason::KidMissing,
        Reason::KidUnknown,
        Reason::KeyAlgMismatch,
        Reason::KeysUnavailable,
        Reason::SignatureInvalid,
        Reason::IssuerMismatch,
        Reason::AudienceMismatch,
        Reason::ClaimMissing,
        Reason::ClaimInvalid,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::IssuedInFuture,
        Reason::ScopeInsufficient,
        Reason::IdentityMissing,
        Reason::TokenValidationFailed,
        Reason::FunctionUnauthorized,
        Reason::PolicyExplicitDeny,
        Reason::PolicyImplicitDeny,
        Reason::CachedPolicyMismatch,
        Reason::NotAuthorized,
        Reason::FunctionFailed,
        Reason::FunctionTimeout,
        Reason::ResponseMalformed,
        Reason::RuleFailed,
        Reason::Revoked,
    ];

    /// The stable snake_case code (`token_missing`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TokenMissing => "token_missing",
            Reason::TokenMalformed => "token_malformed",
            Reason::TokenTooLarge => "token_too_large",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::HeaderKeyRejected => "header_key_rejected",
            Reason::CritUnsupported => "crit_unsupported",
            Reason::KidMissing => "kid_missing",
            Reason::KidUnknown => "kid_unknown",
            Reason::KeyAlgMismatch => "key_alg_mismatch",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::SignatureInvalid => "signature_invalid",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::ClaimMissing => "claim_missing",
            Reason::ClaimInvalid => "claim_invalid",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::ScopeInsufficient => "scope_insufficient",
            Reason::IdentityMissing => "identity_missing",
            Reason::TokenValidationFailed => "token_validation_failed",
            Reason::FunctionUnauthorized => "function_unauthorized",
            Reason::PolicyExplicitDeny => "policy_explicit_deny",
            Reason::PolicyImplicitDeny => "policy_implicit_deny",
            Reason::CachedPolicyMismatch => "cached_policy_mismatch",
            Reason::NotAuthorized => "not_authorized",
            Reason::FunctionFailed => "authorizer_function_failed",
            Reason::FunctionTimeout => "authorizer_function_timeout",
            Reason::ResponseMalformed => "authorizer_response_malformed",
            Reason::RuleFailed => "rule_failed",
            Reason::Revoked => "revoked",
        }
    }

    /// The `error_description` of the `www-authenticate` header
    /// (docs/aws-compatibility.md#jwt-failure-responses: AWS documents only the audience text; the
    /// others follow its short lower-case shape).
    pub(crate) fn description(self) -> &'static str {
        match self {
            Reason::TokenMissing => "the token is missing",
            Reason::TokenMalformed | Reason::TokenTooLarge => "the token is malformed",
            Reason::AlgNotAllowed | Reason::HeaderKeyRejected | Reason::CritUnsupported => {
                "the token header is not acceptable"
            }
            Reason::KidMissing | Reason::KidUnknown | Reason::KeyAlgMismatch => {
                "the token signing key is not known"
            }
            Reason::KeysUnavailable => "the signing keys are unavailable",
            Reason::SignatureInvalid => "the token signature is invalid",
            Reason::IssuerMismatch => "the token does not have a valid issuer",
            Reason::AudienceMismatch => "the token does not have a valid audience",
            Reason::ClaimMissing | Reason::ClaimInvalid => "the token claims are invalid",
            Reason::Expired => "the token has expired",
            Reason::NotYetValid => "the token is not valid yet",
            Reason::IssuedInFuture => "the token was issued in the future",
            Reason::ScopeInsufficient => "the token does not have a required scope",
            Reason::Revoked => "the token has been revoked",
            Reason::IdentityMissing
            | Reason::TokenValidationFailed
            | Reason::FunctionUnauthorized
            | Reason::PolicyExplicitDeny
            | Reason::PolicyImplicitDeny
            | Reason::CachedPolicyMismatch
            | Reason::NotAuthorized
            | Reason::FunctionFailed
            | Reason::FunctionTimeout
            | Reason::ResponseMalformed
            | Reason::RuleFailed => "the request is not authorized",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A denied request.
#[derive(Debug, Clone)]
pub struct Denial {
    /// Which answer to send.
    pub status: DenialStatus,
    /// The reason code.
    pub reason: Reason,
    /// Human detail for logs and `explain` (kid, iss, ...); never the token.
    pub detail: String,
    /// The `www-authenticate` value to send, if any (docs/aws-compatibility.md#jwt-failure-responses).
    pub www_authenticate: Option<HeaderValue>,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}): {}", self.reason, self.status, self.detail)
    }
}

impl std::error::Error for Denial {}

impl Denial {
    /// A 401 with the documented header shape:
    /// `Bearer scope="…" error="invalid_token" error_description="…"` (space-separated, no
    /// commas, docs/aws-compatibility.md#jwt-failure-responses). A missing token gets no header, as on AWS.
    pub(crate) fn unauthorized(reason: Reason, detail: impl Into<String>, route_scopes: &[String]) -> Self {
        let www_authenticate =
            (reason != Reason::TokenMissing).then(|| bearer_challenge(reason, route_scopes));
        Self { status: DenialStatus::Unauthorized, reason, detail: detail.into(), www_authenticate }
    }

    /// A 403 for missing scopes (docs/aws-compatibility.md#claim-and-scope-checks); no header, as
    /// observed on AWS.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::plain(DenialStatus::Forbidden, Reason::ScopeInsufficient, detail)
    }

    /// A denial without a `www-authenticate` header (Lambda authorizers and rules: AWS sends
    /// none, docs/aws-compatibility.md#lambda-authorizer-status-codes).
    pub fn plain(status: DenialStatus, reason: Reason, detail: impl Into<String>) -> Self {
        Self { status, reason, detail: detail.into(), www_authenticate: None }
    }
}

fn bearer_challenge(reason: Reason, route_scopes: &[String]) -> HeaderValue {
    let scope: String = route_scopes.join(" ").chars().filter(|c| *c != '"' && *c != '\\').collect();
    let value = format!(
        "Bearer scope=\"{scope}\" error=\"invalid_token\" error_description=\"{}\"",
        reason.description()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every variant: the match has no wildcard, so a new reason fails to compile
    /// here until it is added to the list (and its position checked).
    #[test]
    fn all_lists_every_reason_once() {
        for (i, reason) in Reason::ALL.iter().enumerate() {
            let position = match reason {
                Reason::TokenMissing => 0,
                Reason::TokenMalformed => 1,
                Reason::TokenTooLarge => 2,
                Reason::AlgNotAllowed => 3,
                Reason::HeaderKeyRejected => 4,
                Reason::CritUnsupported => 5,
                Reason::KidMissing => 6,
                Reason::KidUnknown => 7,
                Reason::KeyAlgMismatch => 8,
                Reason::KeysUnavailable => 9,
                Reason::SignatureInvalid => 10,
                Reason::IssuerMismatch => 11,
                Reason::AudienceMismatch => 12,
                Reason::ClaimMissing => 13,
                Reason::ClaimInvalid => 14,
                Reason::Expired => 15,
                Reason::NotYetValid => 16,
                Reason::IssuedInFuture => 17,
                Reason::ScopeInsufficient => 18,
                Reason::IdentityMissing => 19,
                Reason::TokenValidationFailed => 20,
                Reason::FunctionUnauthorized => 21,
                Reason::PolicyExplicitDeny => 22,
                Reason::PolicyImplicitDeny => 23,
                Reason::CachedPolicyMismatch => 24,
                Reason::NotAuthorized => 25,
                Reason::FunctionFailed => 26,
                Reason::FunctionTimeout => 27,
                Reason::ResponseMalformed => 28,
                Reason::RuleFailed => 29,
                Reason::Revoked => 30,
            };
            assert_eq!(i, position, "{reason:?}");
        }
    }

    #[test]
    fn audience_denial_header_matches_the_documented_aws_value() {
        let denial = Denial::unauthorized(Reason::AudienceMismatch, "x", &[]);
        assert_eq!(
            denial.www_authenticate.unwrap(),
            "Bearer scope=\"\" error=\"invalid_token\" error_description=\"the token does not have a valid audience\""
        );
        assert!(Denial::unauthorized(Reason::TokenMissing, "x", &[]).www_authenticate.is_none());
    }
}

//! Errors of this crate. None reaches a client directly: the authorizer turns a [`KeyError`] into
//! a denial reason, and [`JwksError`] is a start-up/config problem.

use std::time::Duration;

/// Why no key could be produced for a token header.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// No key in the (fresh enough) JWKS has the token's `kid`, even after the permitted refetch.
    #[error("no key with this kid in the JWKS")]
    UnknownKid,
    /// Keys with the `kid` exist but their `kty`/`crv`/`alg` do not fit the token's `alg`.
    #[error("the key with this kid does not fit the token algorithm")]
    AlgMismatch,
    /// The token has no `kid` and more than one key would fit.
    #[error("the token has no kid and several keys fit its algorithm")]
    KidRequired,
    /// No usable key set: never fetched successfully, or older than the staleness bound, and no
    /// fetch succeeded within the request's wait bound. Carries why, for the log.
    #[error("signing keys are unavailable: {0}")]
    Unavailable(String),
}

/// A problem creating a key store (bad source), reported at config load.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Issuer or key URL is not https and not on a loopback address.
    #[error(
        "{url}: identity provider URLs must use https (plain http is allowed only for loopback addresses)"
    )]
    InsecureUrl {
        /// The offending URL.
        url: String,
    },
    /// Issuer is not a URL.
    #[error("issuer {issuer:?} is not a URL: {source}")]
    BadIssuer {
        /// The configured issuer.
        issuer: String,
        /// Parse error.
        source: url::ParseError,
    },
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file or static set holds no usable key.
    #[error("{origin}: {source}")]
    Parse {
        /// The file or "static key set".
        origin: String,
        /// What was wrong.
        source: crate::key::JwksParseError,
    },
    /// The HTTP client could not be built (bad extra root certificate).
    #[error("cannot build the HTTPS client for key fetches: {0}")]
    Client(String),
}

/// Why one fetch from an identity provider failed (logged, kept as the store's last error).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Connect/read failure.
    #[error("GET {url}: {message}")]
    Http {
        /// Where.
        url: String,
        /// reqwest's error chain.
        message: String,
    },
    /// No answer within the fetch timeout.
    #[error("GET {url}: no answer within {timeout:?}")]
    Timeout {
        /// Where.
        url: String,
        /// The bound.
        timeout: Duration,
    },
    /// Non-2xx status.
    #[error("GET {url}: status {status}")]
    Status {
        /// Where.
        url: String,
        /// The status.
        status: u16,
    },
    /// Body over the cap.
    #[error("GET {url}: response larger than {limit} bytes")]
    TooLarge {
        /// Where.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// Not JSON, not a discovery document or not a usable JWKS.
    #[error("GET {url}: {message}")]
    Invalid {
        /// Where.
        url: String,
        /// What was wrong.
        message: String,
    },
}

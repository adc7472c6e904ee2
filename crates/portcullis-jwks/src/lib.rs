//! Signing keys of identity providers: OIDC discovery, JWKS fetch, refresh and caching, plus the
//! built-in development issuer. This is the only crate that calls identity providers.
//!
//! Where it sits: `portcullis-authz` asks a [`KeyStore`] for the key of a token header
//! ([`KeyStore::key`]); `portcullis-app` owns the process-wide [`JwksRegistry`], which hands out
//! one store per issuer / JWKS URL / key file and keeps it (with its background refresh) across
//! config reloads. It does not verify tokens or check claims (that is `portcullis-authz`).
//!
//! Lifecycle (docs/aws-compatibility.md#token-extraction-and-keys): stores created
//! together fetch in parallel; each refreshes in the background at 90 % of the JWKS lifetime
//! (`Cache-Control: max-age` clamped, default 1 h); an unknown `kid` causes one single-flight,
//! rate-limited refetch; when the IdP is down or slow the last good keys are served up to a
//! staleness bound (24 h), fetches time out after 1.5 s and back off; bodies are capped at 150 000
//! bytes; no request waits more than 2 s for keys. The request path is one `ArcSwap` load and a
//! scan of a few keys: no locks.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod der;
mod dev;
mod error;
mod fetch;
mod key;
mod registry;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use dev::{DevIssuer, DevIssuerError};
pub use error::{FetchError, JwksError, KeyError};
pub use jsonwebtoken::Algorithm;
pub use key::{JwksParseError, KeyKind, KeySet, VerifyKey, asymmetric_alg, parse_jwks, parse_pem_public_key};
pub use registry::{JwksOptions, JwksRegistry, KeySource};
pub use store::{KeyStatus, KeyStore, LoadedKeys, StoreStatus};

/// Every algorithm Portcullis verifies (the default allow-list): RS256/384/512, PS256/384/512,
/// ES256/384 and EdDSA (Ed25519). HMAC and `none` are never accepted.
pub const ASYMMETRIC_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Installs jsonwebtoken's aws-lc-rs `CryptoProvider` as the process default. jsonwebtoken picks
/// one automatically only when exactly one backend feature is enabled in the whole build, and
/// otherwise panics on first use, so we always install it explicitly.
/// Idempotent; called by the registry, the authorizer and the dev issuer.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}

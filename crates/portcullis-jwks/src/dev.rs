//! The built-in development issuer: an ES256 key generated on first use and
//! persisted under the state directory, its discovery document and JWKS (served by the gateway's
//! admin listener), and token minting for `portcullis token`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::registry::KeySource;

/// Why the dev issuer could not be opened or could not sign.
#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    /// Reading or writing the key file failed.
    #[error("dev issuer key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a PKCS#8 P-256 private key.
    #[error("dev issuer key {path} is not a PKCS#8 EC P-256 private key (delete it to generate a new one)")]
    BadKey {
        /// The key file.
        path: PathBuf,
    },
    /// Key generation or signing failed in the crypto library.
    #[error("dev issuer crypto failure")]
    Crypto,
}

/// A local OpenID issuer for development: `issuer: dev` authorizers verify its tokens.
pub struct DevIssuer {
    issuer: String,
    kid: String,
    key: EcdsaKeyPair,
    jwk: Value,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Opens the key at `<state_dir>/dev-issuer/key.pem`, generating it (mode 0600) on first use.
    /// `issuer` is the URL tokens carry in `iss`, e.g. `http://127.0.0.1:9901/dev`.
    ///
    /// # Errors
    /// I/O errors, an unreadable key file, crypto failure.
    pub fn open(state_dir: &Path, issuer: impl Into<String>) -> Result<Self, DevIssuerError> {
        let dir = state_dir.join("dev-issuer");
        let path = dir.join("key.pem");
        let io = |source| DevIssuerError::Io { path: path.clone(), source };
        let pkcs8 = match std::fs::read_to_string(&path) {
            Ok(pem) => decode_pem(&pem).ok_or_else(|| DevIssuerError::BadKey { path: path.clone() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir).map_err(io)?;
                let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| DevIssuerError::Crypto)?;
                let der = key.to_pkcs8v1().map_err(|_| DevIssuerError::Crypto)?.as_ref().to_vec();
                match write_private(&path, &encode_pem(&der)) {
                    Ok(()) => der,
                    // Another process generated it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let pem = std::fs::read_to_string(&path).map_err(io)?;
                        decode_pem(&pem).ok_or_else(|| DevIssuerError::BadKey { path: path.clone() })?
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|_| DevIssuerError::BadKey { path: path.clone() })?;
        let point = key.public_key().as_ref();
        if point.len() != 65 {
            return Err(DevIssuerError::BadKey { path });
        }
        let kid = URL_SAFE_NO_PAD.encode(&digest::digest(&digest::SHA256, point).as_ref()[..12]);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        Ok(Self { issuer: issuer.into(), kid, key, jwk })
    }

    /// The issuer URL (`iss` of minted tokens).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id in minted tokens and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Where the JWKS is published: `{issuer}/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.issuer.trim_end_matches('/'))
    }

    /// The OIDC discovery document, to serve at `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri(),
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        })
    }

    /// The JWKS document, to serve at [`Self::jwks_uri`].
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), for verifiers that embed a
    /// key instead of fetching a JWKS (a networkless Lambda authorizer, say).
    pub fn public_key_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.key.public_key().as_ref());
        pem_block("PUBLIC KEY", &der)
    }

    /// The keys as a source, so the gateway verifies dev tokens without an HTTP round trip.
    pub fn key_source(&self) -> KeySource {
        KeySource::Static(self.jwks())
    }

    /// Signs `claims`, adding `iss` (the issuer), `iat` (now) and `exp` (now + `ttl`) unless the
    /// caller set them.
    ///
    /// # Errors
    /// [`DevIssuerError::Crypto`] if signing fails.
    pub fn mint(&self, mut claims: Map<String, Value>, ttl: Duration) -> Result<String, DevIssuerError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        claims.entry("iss").or_insert_with(|| Value::String(self.issuer.clone()));
        claims.entry("iat").or_insert_with(|| json!(now));
        claims.entry("exp").or_insert_with(|| json!(now.saturating_add(ttl.as_secs())));
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let mut token = String::new();
        URL_SAFE_NO_PAD.encode_string(header.to_string(), &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(Value::Object(claims).to_string(), &mut token);
        let signature =
            self.key.sign(&SystemRandom::new(), token.as_bytes()).map_err(|_| DevIssuerError::Crypto)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

fn encode_pem(der: &[u8]) -> String {
    pem_block("PRIVATE KEY", der)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of a P-256 SubjectPublicKeyInfo up to its 65-byte point: `SEQUENCE { SEQUENCE {
/// id-ecPublicKey, prime256v1 }, BIT STRING (no unused bits) }`.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86,
    0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn decode_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_generated_once_persisted_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = DevIssuer::open(dir.path(), "http://127.0.0.1:1/dev").unwrap();
        let second = DevIssuer::open(dir.path(), "http://127.0.0.1:1/dev").unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwks(), second.jwks());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("dev-issuer/key.pem")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let doc = first.discovery_document();
        assert_eq!(doc["jwks_uri"], "http://127.0.0.1:1/dev/jwks.json");
    }

    #[test]
    fn minted_tokens_carry_iss_iat_exp_and_the_callers_claims() {
        let dir = tempfile::tempdir().unwrap();
        let dev = DevIssuer::open(dir.path(), "http://127.0.0.1:1/dev").unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let token = dev.mint(claims, Duration::from_secs(60)).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(payload["sub"], "alice");
        assert_eq!(payload["iss"], "http://127.0.0.1:1/dev");
        assert_eq!(payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap(), 60);
    }
}

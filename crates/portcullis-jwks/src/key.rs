//! Verification keys: built once per JWK (never per request) and looked up by `kid` and `alg`.

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as lc, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::der;
use crate::error::KeyError;

/// The kind of public key, which fixes the algorithms it may verify (the JWK's
/// `kty`/`crv` must agree with the token's `alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `kty: RSA`: RS256/384/512 and PS256/384/512.
    Rsa,
    /// `kty: EC, crv: P-256`: ES256 only.
    EcP256,
    /// `kty: EC, crv: P-384`: ES384 only.
    EcP384,
    /// `kty: OKP, crv: Ed25519`: EdDSA only.
    Ed25519,
}

impl KeyKind {
    /// Whether a key of this kind may verify `alg`.
    pub fn supports(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::EcP256 => alg == ES256,
            KeyKind::EcP384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }

    /// `RSA`, `EC P-256`, `EC P-384` or `OKP Ed25519`, for logs and `explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "EC P-256",
            KeyKind::EcP384 => "EC P-384",
            KeyKind::Ed25519 => "OKP Ed25519",
        }
    }
}

/// Raw public key material, however it arrived (JWK members, `x5c`, PEM).
#[derive(Debug, Clone)]
pub(crate) enum KeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point `04 || x || y`.
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// One public key ready to verify signatures: the `DecodingKey` is built when the JWKS is loaded
/// and shared by every request (`Arc`), so ES/RSA key parsing never happens per request.
#[derive(Debug)]
pub struct VerifyKey {
    kid: Option<Arc<str>>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    decoding: DecodingKey,
    /// The key parsed by aws-lc once per algorithm it supports, so a verify never rebuilds it
    /// (jsonwebtoken's `crypto::verify` clones the key and rebuilds the RSA/EC key object on
    /// every call). `None` where aws-lc refused the material: such a key verifies
    /// nothing, as before.
    parsed: Vec<(Algorithm, Option<ParsedPublicKey>)>,
    fingerprint: [u8; 32],
    /// When this key was first loaded (a refresh that still publishes it keeps this `Arc`).
    loaded_at: std::time::Instant,
}

impl VerifyKey {
    pub(crate) fn new(
        kid: Option<String>,
        alg: Option<Algorithm>,
        material: KeyMaterial,
    ) -> Result<Self, String> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        let (kind, decoding) = match &material {
            KeyMaterial::Rsa { n, e } => {
                // aws-lc verifies only 2048..=8192-bit moduli; say so at load rather than as a
                // `signature_invalid` on every request.
                let bits = n.len() * 8;
                if !(2048..=8192).contains(&bits) {
                    return Err(format!("RSA modulus of {bits} bits is outside 2048..=8192"));
                }
                ctx.update(b"RSA");
                ctx.update(n);
                ctx.update(b".");
                ctx.update(e);
                (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(n, e))
            }
            KeyMaterial::EcP256(point) => {
                ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|e| format!("bad P-256 point: {e}"))?;
                ctx.update(b"P-256");
                ctx.update(point);
                (KeyKind::EcP256, DecodingKey::from_ec_der(point))
            }
            KeyMaterial::EcP384(point) => {
                ParsedPublicKey::new(&lc::ECDSA_P384_SHA384_FIXED, point)
                    .map_err(|e| format!("bad P-384 point: {e}"))?;
                ctx.update(b"P-384");
                ctx.update(point);
                (KeyKind::EcP384, DecodingKey::from_ec_der(point))
            }
            KeyMaterial::Ed25519(x) => {
                ParsedPublicKey::new(&lc::ED25519, x).map_err(|e| format!("bad Ed25519 key: {e}"))?;
                ctx.update(b"Ed25519");
                ctx.update(x);
                (KeyKind::Ed25519, DecodingKey::from_ed_der(x))
            }
        };
        if let Some(alg) = alg
            && !kind.supports(alg)
        {
            return Err(format!("JWK alg {alg:?} does not fit a {} key", kind.as_str()));
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(ctx.finish().as_ref());
        let parsed = parse_for_each_alg(kind, &material);
        Ok(Self {
            kid: kid.map(Arc::from),
            kind,
            alg,
            decoding,
            parsed,
            fingerprint,
            loaded_at: std::time::Instant::now(),
        })
    }

    /// Whether `signature` (decoded bytes) is a valid `alg` signature of `message` by this key.
    /// The same aws-lc algorithms as jsonwebtoken's aws-lc provider (`*_2048_8192_*` RSA, fixed
    /// ECDSA), without re-parsing the key.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .and_then(|(_, key)| key.as_ref())
            .is_some_and(|key| key.verify_sig(message, signature).is_ok())
    }

    /// The JWK `kid`, if it had one (PEM keys have none).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// What kind of key this is.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The JWK's `alg` member, when the JWKS stated one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether this key may verify a token signed with `alg`: the key type must fit and, when the
    /// JWK names an `alg`, it must be exactly that one.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.kind.supports(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// The key for `jsonwebtoken::crypto::verify`.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// SHA-256 over the key type and public material: the key's identity across refetches.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// How long this key has been loaded: since the first fetch that published it.
    pub fn age(&self) -> std::time::Duration {
        self.loaded_at.elapsed()
    }

    /// Same kid and same material.
    pub fn same_key(&self, other: &VerifyKey) -> bool {
        self.fingerprint == other.fingerprint && self.kid == other.kid
    }
}

/// The aws-lc verification algorithm jsonwebtoken's aws-lc provider uses for `alg`.
fn lc_algorithm(alg: Algorithm) -> Option<&'static dyn lc::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &lc::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &lc::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &lc::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &lc::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &lc::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &lc::ED25519,
        _ => return None,
    })
}

fn rsa_params(alg: Algorithm) -> Option<&'static lc::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &lc::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &lc::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &lc::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// One parsed key per algorithm the key kind supports (built at load, never per request).
fn parse_for_each_alg(kind: KeyKind, material: &KeyMaterial) -> Vec<(Algorithm, Option<ParsedPublicKey>)> {
    crate::ASYMMETRIC_ALGORITHMS
        .iter()
        .copied()
        .filter(|alg| kind.supports(*alg))
        .map(|alg| {
            let parsed = match material {
                KeyMaterial::Rsa { n, e } => rsa_params(alg).and_then(|params| {
                    lc::RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                        .to_parsed_public_key(params)
                        .ok()
                }),
                KeyMaterial::EcP256(bytes) | KeyMaterial::EcP384(bytes) | KeyMaterial::Ed25519(bytes) => {
                    lc_algorithm(alg).and_then(|lc_alg| ParsedPublicKey::new(lc_alg, bytes).ok())
                }
            };
            (alg, parsed)
        })
        .collect()
}

/// An immutable set of keys, swapped whole on refresh.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

impl KeySet {
    pub(crate) fn new(keys: Vec<Arc<VerifyKey>>) -> Self {
        Self { keys }
    }

    /// The keys, in JWKS order.
    pub fn keys(&self) -> &[Arc<VerifyKey>] {
        &self.keys
    }

    /// Finds the key for a token header.
    ///
    /// With a `kid`: the key with that `kid` that supports `alg`; if none has the `kid`, a
    /// kid-less key (a PEM file) that supports `alg`. Without a `kid`: the one key that supports
    /// `alg`, if there is exactly one.
    ///
    /// # Errors
    /// [`KeyError::UnknownKid`] when nothing matches the kid, [`KeyError::AlgMismatch`] when keys
    /// with that kid exist but none fits `alg`, [`KeyError::KidRequired`] when the token has no
    /// kid and several keys fit.
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, KeyError> {
        if let Some(kid) = kid {
            let mut found_kid = false;
            for key in &self.keys {
                if key.kid() == Some(kid) {
                    found_kid = true;
                    if key.supports(alg) {
                        return Ok(key.clone());
                    }
                }
            }
            if found_kid {
                return Err(KeyError::AlgMismatch);
            }
            return self
                .keys
                .iter()
                .find(|k| k.kid.is_none() && k.supports(alg))
                .cloned()
                .ok_or(KeyError::UnknownKid);
        }
        let mut fitting = self.keys.iter().filter(|k| k.supports(alg));
        match (fitting.next(), fitting.next()) {
            (Some(key), None) => Ok(key.clone()),
            (None, _) => Err(KeyError::UnknownKid),
            (Some(_), Some(_)) => Err(KeyError::KidRequired),
        }
    }

    /// Whether `key` (same kid, same material) is still in this set: a verified-token cache hit
    /// stays valid only while its key is published.
    pub fn contains(&self, key: &VerifyKey) -> bool {
        self.keys.iter().any(|k| k.same_key(key))
    }

    /// Keeps the already-built `Arc` for keys that did not change, so a refresh costs no key
    /// parsing and key identity is stable.
    pub(crate) fn reuse_from(mut self, old: Option<&KeySet>) -> Self {
        if let Some(old) = old {
            for key in &mut self.keys {
                if let Some(existing) = old.keys.iter().find(|k| k.same_key(key)) {
                    *key = existing.clone();
                }
            }
        }
        self
    }
}

/// Why a JWKS document was not usable at all.
#[derive(Debug, thiserror::Error)]
pub enum JwksParseError {
    /// Not `{"keys": [...]}`.
    #[error("not a JWKS document: expected an object with a `keys` array")]
    NotAJwks,
    /// Every entry was skipped.
    #[error("the JWKS has no usable signing key ({skipped} entries skipped: {reasons})")]
    NoUsableKeys {
        /// How many entries were skipped.
        skipped: usize,
        /// Why, for the log.
        reasons: String,
    },
    /// A PEM file held no public key we understand.
    #[error("no RSA, EC P-256/P-384 or Ed25519 public key found in the PEM data")]
    BadPem,
}

/// Parses a JWKS document into verification keys. Entries that cannot be used are skipped (and
/// named in `skipped`): `use` other than `sig`, `key_ops` without `verify`, symmetric (`oct`) or
/// unknown key types, HMAC or unknown `alg`, malformed members. One bad entry never hides the
/// good ones, as IdPs publish encryption keys beside signing keys.
///
/// # Errors
/// [`JwksParseError`] when the document is not a JWKS or no entry is usable.
pub fn parse_jwks(doc: &Value) -> Result<(KeySet, Vec<String>), JwksParseError> {
    let entries = doc.get("keys").and_then(Value::as_array).ok_or(JwksParseError::NotAJwks)?;
    let mut keys = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match parse_jwk(entry) {
            Ok(key) => keys.push(Arc::new(key)),
            Err(why) => {
                let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("-");
                skipped.push(format!("#{i} kid={kid}: {why}"));
            }
        }
    }
    if keys.is_empty() {
        return Err(JwksParseError::NoUsableKeys { skipped: skipped.len(), reasons: skipped.join("; ") });
    }
    Ok((KeySet::new(keys), skipped))
}

/// One JWK to a [`VerifyKey`]; `Err` says why it is skipped.
pub(crate) fn parse_jwk(jwk: &Value) -> Result<VerifyKey, String> {
    let obj = jwk.as_object().ok_or("not an object")?;
    let text = |name: &str| obj.get(name).and_then(Value::as_str);
    if let Some(usage) = obj.get("use")
        && usage.as_str() != Some("sig")
    {
        return Err(format!("use {usage} is not sig"));
    }
    if let Some(ops) = obj.get("key_ops") {
        let verifies = ops.as_array().is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")));
        if !verifies {
            return Err("key_ops does not include verify".into());
        }
    }
    let alg = match obj.get("alg") {
        None => None,
        Some(Value::String(s)) => {
            Some(asymmetric_alg(s).ok_or_else(|| format!("alg {s} is not an accepted signature algorithm"))?)
        }
        Some(other) => return Err(format!("alg {other} is not a string")),
    };
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("kid {other} is not a string")),
    };
    let kty = text("kty").ok_or("no kty")?;
    let material = match kty {
        "RSA" => match (text("n"), text("e")) {
            (Some(n), Some(e)) => KeyMaterial::Rsa { n: b64_member(n, "n")?, e: b64_member(e, "e")? },
            _ => {
                from_x5c(obj.get("x5c")).ok_or("RSA key without n/e and without a usable x5c certificate")?
            }
        },
        "EC" => {
            let crv = text("crv").ok_or("EC key without crv")?;
            let (x, y) = match (text("x"), text("y")) {
                (Some(x), Some(y)) => (b64_member(x, "x")?, b64_member(y, "y")?),
                _ => {
                    return from_x5c(obj.get("x5c"))
                        .ok_or_else(|| "EC key without x/y and without a usable x5c certificate".to_owned())
                        .and_then(|m| VerifyKey::new(kid, alg, m));
                }
            };
            let size = match crv {
                "P-256" => 32,
                "P-384" => 48,
                other => return Err(format!("EC curve {other} is not supported")),
            };
            if x.len() != size || y.len() != size {
                return Err(format!("EC {crv} coordinates must be {size} bytes"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if size == 32 { KeyMaterial::EcP256(point) } else { KeyMaterial::EcP384(point) }
        }
        "OKP" => match text("crv") {
            Some("Ed25519") => {
                let x = b64_member(text("x").ok_or("OKP key without x")?, "x")?;
                if x.len() != 32 {
                    return Err("Ed25519 x must be 32 bytes".into());
                }
                KeyMaterial::Ed25519(x)
            }
            other => return Err(format!("OKP curve {other:?} is not supported")),
        },
        other => return Err(format!("kty {other} is not a signature key type we accept")),
    };
    VerifyKey::new(kid, alg, material)
}

/// The asymmetric algorithms Portcullis verifies; HMAC and `none` are never accepted.
pub fn asymmetric_alg(name: &str) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match name {
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        "EdDSA" => EdDSA,
        _ => return None,
    })
}

/// JWK members are base64url without padding (RFC 7518); a few IdPs pad them, which is harmless
/// for public key material, so padding is tolerated here (not in tokens).
fn b64_member(value: &str, name: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).map_err(|e| format!("{name} is not base64url: {e}"))
}

/// The public key of the first `x5c` certificate (standard base64 DER, RFC 7517 §4.7).
fn from_x5c(x5c: Option<&Value>) -> Option<KeyMaterial> {
    let first = x5c?.as_array()?.first()?.as_str()?;
    let der = STANDARD.decode(first).ok()?;
    der::spki_from_certificate(&der)
}

/// Reads a PEM public key: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE`.
/// This is Clerk's "networkless verification" key.
///
/// # Errors
/// [`JwksParseError::BadPem`] when no supported key is found.
pub fn parse_pem_public_key(pem: &str) -> Result<VerifyKey, JwksParseError> {
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_owned());
            body.clear();
        } else if line.starts_with("-----END ") {
            let der = STANDARD.decode(body.as_bytes()).map_err(|_| JwksParseError::BadPem)?;
            let material = match label.as_deref() {
                Some("PUBLIC KEY") => der::parse_spki(&der),
                Some("RSA PUBLIC KEY") => der::parse_rsa_public_key(&der),
                Some("CERTIFICATE") => der::spki_from_certificate(&der),
                _ => None,
            };
            if let Some(material) = material {
                return VerifyKey::new(None, None, material).map_err(|_| JwksParseError::BadPem);
            }
            label = None;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    Err(JwksParseError::BadPem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_jwk(kid: &str) -> Value {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref();
        json!({"kty":"EC","crv":"P-256","kid":kid,"x":URL_SAFE_NO_PAD.encode(&point[1..33]),"y":URL_SAFE_NO_PAD.encode(&point[33..])})
    }

    #[test]
    fn encryption_and_symmetric_entries_are_skipped_but_signing_keys_kept() {
        let mut enc = ec_jwk("enc");
        enc["use"] = json!("enc");
        let doc = json!({"keys":[enc, {"kty":"oct","k":"c2VjcmV0","kid":"hmac"}, ec_jwk("sig")]});
        let (set, skipped) = parse_jwks(&doc).unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(set.keys()[0].kid(), Some("sig"));
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn jwk_alg_must_fit_the_key_type() {
        let mut jwk = ec_jwk("a");
        jwk["alg"] = json!("RS256");
        assert!(parse_jwk(&jwk).is_err());
        jwk["alg"] = json!("HS256");
        assert!(parse_jwk(&jwk).is_err());
        jwk["alg"] = json!("ES256");
        let key = parse_jwk(&jwk).unwrap();
        assert!(key.supports(Algorithm::ES256));
        assert!(!key.supports(Algorithm::ES384));
    }

    #[test]
    fn lookup_distinguishes_unknown_kid_from_wrong_key_type() {
        let (set, _) = parse_jwks(&json!({"keys":[ec_jwk("a"), ec_jwk("b")]})).unwrap();
        assert_eq!(set.lookup(Some("a"), Algorithm::ES256).unwrap().kid(), Some("a"));
        assert!(matches!(set.lookup(Some("a"), Algorithm::RS256), Err(KeyError::AlgMismatch)));
        assert!(matches!(set.lookup(Some("zz"), Algorithm::ES256), Err(KeyError::UnknownKid)));
        assert!(matches!(set.lookup(None, Algorithm::ES256), Err(KeyError::KidRequired)));
    }

    #[test]
    fn an_empty_or_unusable_jwks_is_an_error() {
        assert!(matches!(parse_jwks(&json!({"keys":[]})), Err(JwksParseError::NoUsableKeys { .. })));
        assert!(matches!(parse_jwks(&json!([1])), Err(JwksParseError::NotAJwks)));
    }
}

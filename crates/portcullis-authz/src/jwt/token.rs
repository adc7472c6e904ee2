//! Structural checks of a compact JWS, all before any crypto.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::{Algorithm, Reason};

/// Largest token accepted.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Header members that carry a key or a key location; trusting them lets the sender pick the
/// key, so their presence rejects the token.
const EMBEDDED_KEY_MEMBERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// A token that passed the structural checks.
#[derive(Debug)]
pub(crate) struct Parsed<'t> {
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'t str,
    /// The third part, still base64url (jsonwebtoken decodes it).
    pub(crate) signature: &'t str,
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) claims: Map<String, Value>,
}

/// A failed check: reason and detail for logs.
pub(crate) type Failure = (Reason, String);

/// Splits and decodes `token`, checking in this order: size; three parts of canonical base64url
/// (no padding, no stray bits); header a JSON object without duplicate members; `alg` allowed;
/// no embedded keys; no `crit`; `kid` a string; payload a JSON object without duplicates;
/// a non-empty signature.
pub(crate) fn parse<'t>(token: &'t str, allowed: &[Algorithm]) -> Result<Parsed<'t>, Failure> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err((Reason::TokenTooLarge, format!("{} bytes, limit {MAX_TOKEN_BYTES}", token.len())));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err((Reason::TokenMalformed, "not three dot-separated parts".into()));
    };
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];

    let header = decode_object(header_b64, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            let alg = portcullis_jwks::asymmetric_alg(name)
                .ok_or_else(|| (Reason::AlgNotAllowed, format!("alg {name:?} is never accepted")))?;
            if !allowed.contains(&alg) {
                return Err((
                    Reason::AlgNotAllowed,
                    format!("alg {name} is not in this authorizer's algorithms"),
                ));
            }
            alg
        }
        Some(other) => {
            return Err((Reason::AlgNotAllowed, format!("alg {other} is not a string")));
        }
        None => return Err((Reason::TokenMalformed, "header has no alg".into())),
    };
    if let Some(member) = EMBEDDED_KEY_MEMBERS.iter().find(|m| header.contains_key(**m)) {
        return Err((
            Reason::HeaderKeyRejected,
            format!("header carries {member}; keys come only from the issuer's JWKS"),
        ));
    }
    if let Some(crit) = header.get("crit") {
        return Err((Reason::CritUnsupported, format!("crit {crit}: no JWS extension is supported")));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(other) => {
            return Err((Reason::TokenMalformed, format!("kid {other} is not a string")));
        }
    };
    let claims = decode_object(payload_b64, "payload")?;
    if signature.is_empty() {
        return Err((Reason::SignatureInvalid, "empty signature".into()));
    }
    if !is_canonical_b64url(signature) {
        return Err((Reason::TokenMalformed, "signature is not canonical base64url".into()));
    }
    Ok(Parsed { signing_input, signature, alg, kid, claims })
}

/// Base64url without padding whose unused trailing bits are zero (RFC 7515 §2, RFC 4648 §3.5):
/// two spellings of one token would otherwise be two cache keys and a malleability vector.
fn is_canonical_b64url(part: &str) -> bool {
    URL_SAFE_NO_PAD.decode(part).is_ok()
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, Failure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| (Reason::TokenMalformed, format!("{what} is not canonical base64url: {e}")))?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let object = StrictObject::deserialize_from(&mut de)
        .and_then(|o| de.end().map(|()| o))
        .map_err(|e| (Reason::TokenMalformed, format!("{what} is not a JSON object: {e}")))?;
    Ok(object.0)
}

/// A JSON object that rejects duplicate member names (which parsers resolve differently:
/// a classic way to make two components disagree about `alg` or `sub`).
struct StrictObject(Map<String, Value>);

impl StrictObject {
    fn deserialize_from<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member {key:?}")));
            }
            let value: Value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(StrictObject(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    const ALL: &[Algorithm] = &portcullis_jwks::ASYMMETRIC_ALGORITHMS;

    #[test]
    fn well_formed_token_parses() {
        let t = token(r#"{"alg":"RS256","kid":"k"}"#, r#"{"sub":"a"}"#);
        let p = parse(&t, ALL).unwrap();
        assert_eq!(p.alg, Algorithm::RS256);
        assert_eq!(p.kid.as_deref(), Some("k"));
        assert_eq!(p.claims["sub"], "a");
    }

    #[test]
    fn duplicate_members_and_trailing_data_are_malformed() {
        let t = token(r#"{"alg":"RS256","alg":"RS256"}"#, "{}");
        assert_eq!(parse(&t, ALL).unwrap_err().0, Reason::TokenMalformed);
        let t = token(r#"{"alg":"RS256"} x"#, "{}");
        assert_eq!(parse(&t, ALL).unwrap_err().0, Reason::TokenMalformed);
    }

    #[test]
    fn padded_or_non_canonical_parts_are_malformed() {
        let t = token(r#"{"alg":"RS256"}"#, "{}");
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[2] = "c2lnAB=".into();
        assert_eq!(parse(&parts.join("."), ALL).unwrap_err().0, Reason::TokenMalformed);
        // "c2lnAA" is canonical; "c2lnAB" encodes the same bytes with non-zero stray bits.
        parts[2] = "c2lnAA".into();
        assert!(parse(&parts.join("."), ALL).is_ok());
        parts[2] = "c2lnAB".into();
        assert_eq!(parse(&parts.join("."), ALL).unwrap_err().0, Reason::TokenMalformed);
    }
}

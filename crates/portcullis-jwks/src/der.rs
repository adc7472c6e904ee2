//! Just enough DER to find a public key: the SubjectPublicKeyInfo inside an X.509 certificate
//! (JWKS entries that carry only `x5c`, as WSO2 and ADFS publish) or a PEM `PUBLIC KEY`.
//!
//! Deliberately tiny: we never validate certificates (the JWKS is trusted because it came from
//! the configured issuer over TLS); we only take the key out of them.

use crate::key::KeyMaterial;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xA0;

const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

/// One tag-length-value: `(tag, content, rest of input)`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = tlv(input)?;
    (t == tag).then_some((content, rest))
}

/// The SubjectPublicKeyInfo of a DER X.509 certificate.
pub(crate) fn spki_from_certificate(cert: &[u8]) -> Option<KeyMaterial> {
    let (cert, _) = expect(cert, TAG_SEQUENCE)?;
    let (tbs, _) = expect(cert, TAG_SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&TAG_CONTEXT_0) {
        rest = tlv(rest)?.2; // version
    }
    rest = expect(rest, TAG_INTEGER)?.1; // serialNumber
    rest = expect(rest, TAG_SEQUENCE)?.1; // signature
    rest = expect(rest, TAG_SEQUENCE)?.1; // issuer
    rest = expect(rest, TAG_SEQUENCE)?.1; // validity
    rest = expect(rest, TAG_SEQUENCE)?.1; // subject
    parse_spki(rest)
}

/// A DER SubjectPublicKeyInfo (RSA, EC P-256/P-384 or Ed25519).
pub(crate) fn parse_spki(der: &[u8]) -> Option<KeyMaterial> {
    let (spki, _) = expect(der, TAG_SEQUENCE)?;
    let (alg_id, rest) = expect(spki, TAG_SEQUENCE)?;
    let (bits, _) = expect(rest, TAG_BIT_STRING)?;
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    let (oid, params) = expect(alg_id, TAG_OID)?;
    match oid {
        OID_RSA_ENCRYPTION => parse_rsa_public_key(key),
        OID_EC_PUBLIC_KEY => {
            let (curve, _) = expect(params, TAG_OID)?;
            match curve {
                OID_P256 if key.len() == 65 && key[0] == 4 => Some(KeyMaterial::EcP256(key.to_vec())),
                OID_P384 if key.len() == 97 && key[0] == 4 => Some(KeyMaterial::EcP384(key.to_vec())),
                _ => None,
            }
        }
        OID_ED25519 if key.len() == 32 => Some(KeyMaterial::Ed25519(key.to_vec())),
        _ => None,
    }
}

/// A PKCS#1 RSAPublicKey: `SEQUENCE { n INTEGER, e INTEGER }`.
pub(crate) fn parse_rsa_public_key(der: &[u8]) -> Option<KeyMaterial> {
    let (seq, _) = expect(der, TAG_SEQUENCE)?;
    let (n, rest) = expect(seq, TAG_INTEGER)?;
    let (e, _) = expect(rest, TAG_INTEGER)?;
    Some(KeyMaterial::Rsa { n: strip_leading_zeros(n).to_vec(), e: strip_leading_zeros(e).to_vec() })
}

fn strip_leading_zeros(mut bytes: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_input_is_rejected_not_panicking() {
        assert!(tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(tlv(&[0x30, 0x05, 0x01]).is_none());
        assert!(parse_spki(&[]).is_none());
        assert!(spki_from_certificate(&[0x30, 0x00]).is_none());
    }
}

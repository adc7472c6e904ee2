//! The X-Ray trace of one request, `x-amzn-trace-id: Root=1-<8 hex>-<24 hex>`: AWS adds the
//! header to every request it hands an integration
//! (docs/aws-compatibility.md#payload-20-request-event), and the same root reaches the function
//! as `_X_AMZN_TRACE_ID`, so one request can be followed from the gateway's log through every
//! function it invokes.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::HeaderName;

use crate::RequestId;

/// `Root=` and the 35-character root `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`.
const LEN: usize = 40;
const PREFIX: &[u8; 7] = b"Root=1-";

/// The trace root of one request, as the `x-amzn-trace-id` header value AWS writes
/// (`Root=1-5fff599f-6fca6ee66e37fe5e518eb45b`): the request's receive time in epoch seconds
/// (8 hex digits) and 96 bits unique to the request. `Copy` and fixed-size: made once per
/// request without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId {
    header: [u8; LEN],
    from_client: bool,
}

impl TraceId {
    /// The header that carries it.
    pub const HEADER: &'static str = "x-amzn-trace-id";

    /// The trace of a request: the client's own root when its first `x-amzn-trace-id` carries a
    /// well-formed one (a caller continuing its trace through the gateway, as AWS services pass
    /// the header on), else one made from the request id and receive time
    /// ([`TraceId::derive`]).
    pub fn for_request(headers: &HeaderMap, request_id: RequestId, received_at: SystemTime) -> Self {
        const NAME: HeaderName = HeaderName::from_static(TraceId::HEADER);
        headers
            .get(NAME)
            .and_then(|value| Self::from_header(value.as_bytes()))
            .unwrap_or_else(|| Self::derive(request_id, received_at))
    }

    /// A new root for a request: the epoch seconds of `received_at`, then 96 bits mixed from
    /// the request id. The first 64 of them are a bijection of the id's own unique 64 bits, so
    /// two requests of one process never share a trace; no lock, no clock read, no allocation.
    pub fn derive(request_id: RequestId, received_at: SystemTime) -> Self {
        let raw = id_bytes(request_id.as_bytes());
        let mut unique = [0u8; 8];
        unique.copy_from_slice(&raw[..8]);
        let unique = u64::from_be_bytes(unique);
        let salt = u64::from(raw[8]) << 16 | u64::from(raw[9]) << 8 | u64::from(raw[10]);
        let high = mix(unique ^ 0x6a09_e667_f3bc_c908);
        let low = mix(unique ^ salt.rotate_left(40) ^ 0xbb67_ae85_84ca_a73b) >> 32;
        let secs = received_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut header = [0u8; LEN];
        header[..7].copy_from_slice(PREFIX);
        hex(&mut header[7..15], secs & 0xFFFF_FFFF);
        header[15] = b'-';
        hex(&mut header[16..32], high);
        hex(&mut header[32..40], low);
        Self { header, from_client: false }
    }

    /// The root of an `x-amzn-trace-id` value (`Root=1-…;Parent=…;Sampled=…`, fields in any
    /// order), if it has a well-formed one.
    pub fn from_header(value: &[u8]) -> Option<Self> {
        let root = value
            .split(|&b| b == b';')
            .map(|field| field.trim_ascii())
            .find_map(|field| field.strip_prefix(b"Root="))?;
        let well_formed = root.len() == LEN - 5
            && root.starts_with(b"1-")
            && root[10] == b'-'
            && root[2..10].iter().chain(&root[11..]).all(u8::is_ascii_hexdigit);
        if !well_formed {
            return None;
        }
        let mut header = [0u8; LEN];
        header[..5].copy_from_slice(b"Root=");
        header[5..].copy_from_slice(root);
        Some(Self { header, from_client: true })
    }

    /// The header value, `Root=1-…-…`.
    pub fn header(&self) -> &str {
        // Always ASCII: written from hex digits or copied from a checked client value.
        std::str::from_utf8(&self.header).unwrap_or("")
    }

    /// The root alone, `1-…-…`.
    pub fn root(&self) -> &str {
        self.header().get(5..).unwrap_or("")
    }

    /// Whether the root is the client's own. The client's header then travels on as it was
    /// sent (its other fields included) instead of being replaced.
    pub fn is_from_client(&self) -> bool {
        self.from_client
    }
}

impl Default for TraceId {
    /// `Root=1-00000000-000000000000000000000000`: a placeholder for tests and tools that serve
    /// no request.
    fn default() -> Self {
        Self { header: *b"Root=1-00000000-000000000000000000000000", from_client: false }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.header())
    }
}

/// splitmix64's finaliser: a bijection on `u64`.
/// The bytes a request id encodes: 16 URL-safe base64 characters with one `=` are 11 bytes (the
/// twelfth is zero). By table, as the shape is fixed; a character outside the alphabet (no id
/// has one) counts as zero and still gives a well-formed trace.
fn id_bytes(id: &[u8; 16]) -> [u8; 12] {
    const VALUE: [u8; 256] = {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut table = [0u8; 256];
        let mut i = 0;
        while i < alphabet.len() {
            table[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        table
    };
    let mut out = [0u8; 12];
    for (group, chars) in id.chunks_exact(4).enumerate() {
        let bits = chars.iter().fold(0u32, |bits, &c| bits << 6 | u32::from(VALUE[usize::from(c)]));
        out[group * 3..group * 3 + 3].copy_from_slice(&bits.to_be_bytes()[1..]);
    }
    out
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The low `out.len()` hex digits of `value`, lower case.
fn hex(out: &mut [u8], value: u64) {
    let digits = out.len();
    for (i, slot) in out.iter_mut().enumerate() {
        let nibble = (value >> ((digits - 1 - i) * 4)) as u8 & 0xF;
        *slot = if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 };
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::RequestIdGenerator;

    fn is_root(root: &str) -> bool {
        let parts: Vec<_> = root.split('-').collect();
        parts.len() == 3
            && parts[0] == "1"
            && parts[1].len() == 8
            && parts[2].len() == 24
            && parts[1..].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    }

    #[test]
    fn derived_roots_have_awss_shape_carry_the_epoch_and_never_repeat() {
        let ids = RequestIdGenerator::new(3);
        let at = UNIX_EPOCH + Duration::from_millis(1_610_570_143_250);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let trace = TraceId::derive(ids.next_id(), at);
            assert!(trace.header().starts_with("Root=1-5fff599f-"), "{trace}");
            assert!(is_root(trace.root()), "{trace}");
            assert!(!trace.is_from_client());
            assert!(seen.insert(trace.root().to_owned()), "repeated {trace}");
        }
        let id = ids.next_id();
        assert_eq!(TraceId::derive(id, at), TraceId::derive(id, at), "one request, one trace");
    }

    #[test]
    fn request_ids_decode_to_the_bytes_base64_gives() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE;
        let ids = RequestIdGenerator::new(11);
        for _ in 0..10_000 {
            let id = ids.next_id();
            let mut expected = [0u8; 12];
            assert_eq!(URL_SAFE.decode_slice(id.as_bytes(), &mut expected).unwrap(), 11);
            assert_eq!(id_bytes(id.as_bytes()), expected, "{id}");
        }
    }

    #[test]
    fn a_clients_well_formed_root_is_kept_anything_else_is_replaced() {
        let id = RequestIdGenerator::new(3).next_id();
        let at = UNIX_EPOCH;
        let mut headers = HeaderMap::new();
        headers.insert(
            TraceId::HEADER,
            "Self=1-67891234-12456789abcdef012345678; Root=1-67891233-ABCDEF012345678912345678;Sampled=1"
                .parse()
                .unwrap(),
        );
        let kept = TraceId::for_request(&headers, id, at);
        assert_eq!(kept.header(), "Root=1-67891233-ABCDEF012345678912345678");
        assert!(kept.is_from_client());
        for bad in
            ["Root=1-6789123-abcdef012345678912345678", "Root=2-67891233-abcdef012345678912345678", "x", ""]
        {
            headers.insert(TraceId::HEADER, bad.parse().unwrap());
            let made = TraceId::for_request(&headers, id, at);
            assert_eq!(made, TraceId::derive(id, at), "{bad}");
        }
        assert!(is_root(TraceId::default().root()));
    }
}

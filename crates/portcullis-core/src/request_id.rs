//! Request ids shaped like AWS's `apigw-requestid` (15 characters of the URL-safe base64
//! alphabet and `=`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;

/// A request id: 16 ASCII bytes, e.g. `LV7fzho-PHcEJPw=`
/// (docs/aws-compatibility.md#payload-20-request-event): URL-safe base64, never `/` or `+`, as
/// AWS's, so an id goes into a URL path or query unescaped. `Copy`, so stages pass it around
/// without allocating.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RequestId([u8; 16]);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Always valid: built only from base64 output (or, in tests, ASCII).
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The id's ASCII bytes, for writers that copy bytes (the access log).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// Makes unique request ids without locks: a per-process random seed mixed with an atomic
/// counter through a bijective mixer (splitmix64), so ids never repeat within a process and do
/// not reveal the request count.
#[derive(Debug)]
pub struct RequestIdGenerator {
    seed: u64,
    counter: AtomicU64,
    salt: u32,
}

impl RequestIdGenerator {
    /// A generator seeded from `seed` (use a random value; tests may fix it).
    pub fn new(seed: u64) -> Self {
        Self { seed, counter: AtomicU64::new(0), salt: (seed >> 17) as u32 ^ 0x9e37_79b9 }
    }

    /// The next id.
    pub fn next_id(&self) -> RequestId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mixed = splitmix64(self.seed.wrapping_add(n));
        let mut raw = [0u8; 11];
        raw[..8].copy_from_slice(&mixed.to_be_bytes());
        raw[8..].copy_from_slice(&self.salt.to_be_bytes()[..3]);
        let mut out = [0u8; 16];
        // 11 bytes encode to exactly 16 characters with one `=` of padding.
        let written = URL_SAFE.encode_slice(raw, &mut out).unwrap_or(0);
        debug_assert_eq!(written, 16);
        RequestId(out)
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_have_the_aws_shape_and_do_not_repeat() {
        let generator = RequestIdGenerator::new(42);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = generator.next_id();
            let s = id.as_str();
            assert_eq!(s.len(), 16);
            assert!(s.ends_with('='));
            assert!(s[..15].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{s}");
            assert!(seen.insert(s.to_owned()), "duplicate id {s}");
        }
    }

    /// AWS's ids never contain `/` or `+` (`LV7fzho-PHcEJPw=`): an id can go into a URL path or
    /// a query unescaped, which handlers that log or echo it rely on.
    #[test]
    fn ten_thousand_ids_are_url_safe_16_characters_and_unique() {
        let generator = RequestIdGenerator::new(0x5eed);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = generator.next_id();
            let s = id.as_str();
            assert_eq!(s.len(), 16, "{s}");
            assert!(!s.contains('/') && !s.contains('+'), "{s}");
            assert!(seen.insert(s.to_owned()), "duplicate id {s}");
        }
    }
}

//! The verified-token cache: a token seen before is accepted without another
//! signature check until it expires or its key leaves the JWKS. Keyed by SHA-256 of the whole
//! token, bounded, one per authorizer (issuer and audience checks are authorizer-specific).

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use portcullis_jwks::VerifyKey;
use serde_json::{Map, Value};

use super::claims::Times;
use crate::CacheStats;
use crate::stats::HitCounter;

/// What a hit needs to re-check and to answer.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) claims: Arc<Map<String, Value>>,
    pub(crate) scopes: Arc<[String]>,
    pub(crate) times: Times,
    /// The key that verified it: the hit is void once the key is no longer published.
    pub(crate) key: Arc<VerifyKey>,
    /// How long the entry may live (until `exp` + leeway, capped).
    pub(crate) lifetime: Duration,
}

pub(crate) type TokenHash = [u8; 32];

/// Upper bound of an entry's life whatever its `exp` says, so a key removal is noticed even for
/// very long-lived tokens without relying on the check at hit time alone.
const MAX_ENTRY_LIFE: Duration = Duration::from_secs(3600);

struct UntilExpiry;

impl moka::Expiry<TokenHash, Arc<Verified>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Arc<Verified>,
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.lifetime.min(MAX_ENTRY_LIFE))
    }
}

pub(crate) struct TokenCache {
    cache: Cache<TokenHash, Arc<Verified>>,
    counter: HitCounter,
}

impl TokenCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            cache: Cache::builder().max_capacity(capacity).expire_after(UntilExpiry).build(),
            counter: HitCounter::default(),
        }
    }

    pub(crate) fn hash(token: &str) -> TokenHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
        out
    }

    pub(crate) fn get(&self, hash: &TokenHash) -> Option<Arc<Verified>> {
        let found = self.cache.get(hash);
        self.counter.record(found.is_some());
        found
    }

    /// Entries, hits and misses (settles moka's pending bookkeeping first, so the entry count
    /// is current; never called on the request path).
    pub(crate) fn stats(&self) -> CacheStats {
        self.cache.run_pending_tasks();
        self.counter.stats(self.cache.entry_count())
    }

    pub(crate) fn insert(&self, hash: TokenHash, verified: Arc<Verified>) {
        self.cache.insert(hash, verified);
    }

    pub(crate) fn remove(&self, hash: &TokenHash) {
        self.cache.invalidate(hash);
    }
}

//! One bucket per key (a principal, a client address, a header value), in a bounded cache.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::{Bucket, Decision, Gcra};

/// Buckets by key for one limit, at most `capacity` of them.
///
/// A bucket unused for as long as it takes to refill is dropped (forgetting a full bucket
/// changes no decision). Beyond `capacity` live keys the cache keeps the keys used most often
/// (TinyLFU admission): a flood of new keys cannot grow memory, nor push out the buckets of the
/// keys that keep coming back. A key that is not kept starts from a full bucket, so per-key
/// limits bound each steady caller; the route's and the API's own limits bound the flood.
pub struct KeyedBuckets {
    limit: Gcra,
    buckets: Cache<Box<str>, Arc<Bucket>>,
}

impl std::fmt::Debug for KeyedBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedBuckets")
            .field("limit", &self.limit)
            .field("keys", &self.buckets.entry_count())
            .finish()
    }
}

impl KeyedBuckets {
    /// Buckets of `limit`, at most `capacity` keys.
    pub fn new(limit: Gcra, capacity: u64) -> Self {
        let idle = limit.idle_after().max(Duration::from_secs(1));
        let buckets = Cache::builder().max_capacity(capacity).time_to_idle(idle).build();
        KeyedBuckets { limit, buckets }
    }

    /// The limit every bucket applies.
    pub fn limit(&self) -> &Gcra {
        &self.limit
    }

    /// Checks (and counts, when allowed) a request of `key` at `now`.
    pub fn check(&self, key: &str, now: Duration) -> Decision {
        let bucket = match self.buckets.get(key) {
            Some(bucket) => bucket,
            None => self.buckets.get_with(Box::from(key), || Arc::new(Bucket::new())),
        };
        bucket.check(&self.limit, now)
    }

    /// Keys held now (approximate; for metrics and tests).
    pub fn len(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.entry_count()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_bucket() {
        let keyed = KeyedBuckets::new(Gcra::new(1.0, 1), 1000);
        let t = Duration::from_secs(5);
        assert_eq!(keyed.check("alice", t), Decision::Allowed);
        assert!(matches!(keyed.check("alice", t), Decision::Throttled { .. }));
        assert_eq!(keyed.check("bob", t), Decision::Allowed);
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_capacity() {
        let keyed = KeyedBuckets::new(Gcra::new(1.0, 1), 1000);
        let t = Duration::from_secs(5);
        // A steady caller keeps coming back while new keys flood in.
        for i in 0..50_000 {
            if i % 50 == 0 {
                let _ = keyed.check("steady", t);
            }
            let _ = keyed.check(&format!("flood-{i}"), t);
        }
        assert!(keyed.len() <= 1000, "{} keys held", keyed.len());
        assert!(
            matches!(keyed.check("steady", t), Decision::Throttled { .. }),
            "the steady caller's bucket was kept"
        );
    }
}

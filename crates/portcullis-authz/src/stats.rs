//! Counters an authorizer keeps for operators (the admin console and `/metrics`): cache hits
//! and misses, denials by reason code. Relaxed atomics only: a hit costs one increment on the
//! authorizer's own counter, a denial one more; nothing is allocated or locked.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Reason;

/// An answer cache's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held now.
    pub entries: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
}

/// Hit and miss counters of one cache.
#[derive(Debug, Default)]
pub(crate) struct HitCounter {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl HitCounter {
    pub(crate) fn record(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self, entries: u64) -> CacheStats {
        CacheStats {
            entries,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// Denials of one authorizer, by reason code.
#[derive(Debug)]
pub struct DenialCounts {
    counts: [AtomicU64; Reason::ALL.len()],
}

impl Default for DenialCounts {
    fn default() -> Self {
        DenialCounts { counts: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl DenialCounts {
    /// Counts one denial.
    pub fn count(&self, reason: Reason) {
        // `Reason::ALL` lists the variants in declaration order, so the discriminant indexes it.
        if let Some(counter) = self.counts.get(reason as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The reasons counted at least once, with their counts, in declaration order.
    pub fn snapshot(&self) -> Vec<(Reason, u64)> {
        Reason::ALL
            .iter()
            .zip(&self.counts)
            .map(|(reason, counter)| (*reason, counter.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter() {
        let counts = DenialCounts::default();
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{reason:?} is not at its declaration index");
            for _ in 0..=i {
                counts.count(*reason);
            }
        }
        let seen = counts.snapshot();
        assert_eq!(seen.len(), Reason::ALL.len());
        for (i, (reason, n)) in seen.iter().enumerate() {
            assert_eq!((*reason, *n), (Reason::ALL[i], i as u64 + 1));
        }
    }
}

//! The answer cache of one Lambda authorizer
//! (docs/aws-compatibility.md#identity-sources-and-caching): keyed by the identity values, bounded,
//! expiring after `result_ttl`, single-flight, and never holding a failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Answer, FunctionFailure};

/// The identity values joined with NUL separators.
pub(crate) type Key = Arc<str>;

pub(crate) struct DecisionCache {
    answers: moka::future::Cache<Key, Arc<Answer>>,
}

impl DecisionCache {
    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        Self { answers: moka::future::Cache::builder().max_capacity(capacity).time_to_live(ttl).build() }
    }

    /// The cached answer for `key`, or the result of `invoke`. Concurrent callers with the same
    /// key wait for one `invoke` (moka's `try_get_with` coalesces them); an `Err` is handed to
    /// every waiter and not stored, so the next request invokes again.
    pub(crate) async fn get_or_invoke(
        &self,
        key: Key,
        invoke: impl Future<Output = Result<Arc<Answer>, FunctionFailure>>,
    ) -> Result<Arc<Answer>, FunctionFailure> {
        self.answers.try_get_with(key, invoke).await.map_err(|shared| (*shared).clone())
    }

    /// Answers held now (after moka's pending bookkeeping; never on the request path).
    pub(crate) async fn entries(&self) -> u64 {
        self.answers.run_pending_tasks().await;
        self.answers.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cache_holds_at_most_its_capacity() {
        let cache = DecisionCache::new(8, Duration::from_secs(300));
        for i in 0..500 {
            let answer = Answer::Simple { is_authorized: true, context: None };
            cache
                .get_or_invoke(Key::from(format!("identity-{i}")), async { Ok(Arc::new(answer)) })
                .await
                .unwrap();
        }
        cache.answers.run_pending_tasks().await;
        let held = cache.answers.entry_count();
        assert!((1..=8).contains(&held), "{held} entries for a capacity of 8");
    }
}

//! The answer cache of one Lambda authorizer (spec §3.9): keyed by the identity values, bounded,
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
}

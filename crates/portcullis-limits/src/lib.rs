//! Rate limits for the throttle stage: the generic cell rate algorithm (GCRA), which is a token
//! bucket kept as one number (the theoretical arrival time of the next request), so a check is
//! one atomic compare-and-swap with no lock and no timer.
//!
//! Where it sits: below `portcullis-pipeline` (the throttle stage holds [`Bucket`]s and
//! [`KeyedBuckets`]); it knows no HTTP and reads no clock of its own: callers pass the time
//! ([`Clock`]), so tests control it.
//!
//! Why our own GCRA rather than `governor`'s: the arithmetic is a dozen lines
//! ([`Gcra::check`]), and two properties matter more than reuse: a per-key store whose memory is
//! bounded even when every request brings a new key (a moka cache with a capacity, not a map
//! that grows until a sweep), and the exact same arithmetic in a store several gateways share
//! ([`SharedBuckets`], implemented over Redis by `portcullis-shared`).
//!
//! ```
//! use std::time::Duration;
//! use portcullis_limits::{Bucket, Decision, Gcra};
//!
//! let gcra = Gcra::new(10.0, 2); // 10 requests per second, 2 at once
//! let bucket = Bucket::new();
//! let t0 = Duration::from_secs(100);
//! assert_eq!(bucket.check(&gcra, t0), Decision::Allowed);
//! assert_eq!(bucket.check(&gcra, t0), Decision::Allowed);
//! assert!(matches!(bucket.check(&gcra, t0), Decision::Throttled { .. }));
//! assert_eq!(bucket.check(&gcra, t0 + Duration::from_millis(100)), Decision::Allowed);
//! ```

mod gcra;
mod keyed;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use gcra::{Bucket, Clock, Decision, Gcra};
pub use keyed::KeyedBuckets;

/// What a [`SharedBuckets`] store answers, once asked.
pub type Asked<'a, T> = Pin<Box<dyn Future<Output = Result<T, Unavailable>> + Send + 'a>>;

/// Buckets kept outside this process, one per key for every gateway that shares the store.
pub trait SharedBuckets: Send + Sync {
    /// Checks one request against several buckets (each a key and its limit), in order and in
    /// one exchange with the store where it can, with the store's clock: each bucket that
    /// allows it counts it; the first that refuses ends the check, and the ones after it are
    /// neither checked nor counted. `Ok(None)`: every bucket allowed it; `Ok(Some((i, wait)))`:
    /// bucket `i` refused it, and would allow it after `wait`.
    ///
    /// # Errors
    /// [`Unavailable`]: the store did not answer in time; the caller decides what a request
    /// gets then.
    fn check_all<'a>(&'a self, buckets: &'a [(&'a str, &'a Gcra)]) -> Asked<'a, Option<(usize, Duration)>>;

    /// [`check_all`](Self::check_all) for one bucket.
    ///
    /// # Errors
    /// [`Unavailable`], as [`check_all`](Self::check_all).
    fn check<'a>(&'a self, key: &'a str, limit: &'a Gcra) -> Asked<'a, Decision> {
        Box::pin(async move {
            Ok(match self.check_all(&[(key, limit)]).await? {
                None => Decision::Allowed,
                Some((_, retry_after)) => Decision::Throttled { retry_after },
            })
        })
    }
}

/// The shared store could not be asked (down, slow, unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shared store is unavailable")
    }
}

impl std::error::Error for Unavailable {}

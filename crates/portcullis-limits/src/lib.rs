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
//! that grows until a sweep), and the exact same arithmetic in the shared store, where it runs as
//! one Redis script.
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

pub use gcra::{Bucket, Clock, Decision, Gcra};
pub use keyed::KeyedBuckets;

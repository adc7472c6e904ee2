//! The generic cell rate algorithm.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A limit: `rate` requests per second refilled, `burst` at once.
///
/// Kept as two intervals in nanoseconds: the emission interval `T = 1 / rate` and the burst
/// tolerance `tau = (burst - 1) * T`. A request at time `now` is allowed when the theoretical
/// arrival time (TAT) of the bucket is at most `now + tau`; the TAT then moves to
/// `max(TAT, now) + T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gcra {
    emission: u64,
    tolerance: u64,
    burst: u32,
}

/// What a check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the limit (and counted).
    Allowed,
    /// Over the limit (not counted): retry after this long.
    Throttled {
        /// When the next request would be allowed.
        retry_after: Duration,
    },
}

impl Gcra {
    /// `rate` requests per second (fractional rates allowed; `0` refills nothing), `burst`
    /// requests at once (`0` refuses everything).
    pub fn new(rate: f64, burst: u32) -> Self {
        let emission = if rate > 0.0 { (1e9 / rate).min(u64::MAX as f64 / 4.0) as u64 } else { u64::MAX / 4 };
        let tolerance = emission.saturating_mul(u64::from(burst.saturating_sub(1)));
        Gcra { emission, tolerance, burst }
    }

    /// Requests allowed at once (`0` refuses everything).
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval `T`, in nanoseconds.
    pub fn emission_nanos(&self) -> u64 {
        self.emission
    }

    /// The burst tolerance `tau`, in nanoseconds.
    pub fn tolerance_nanos(&self) -> u64 {
        self.tolerance
    }

    /// How long a bucket must be kept after its last request before it is full again (and can
    /// be forgotten without changing any decision).
    pub fn idle_after(&self) -> Duration {
        Duration::from_nanos(self.emission.saturating_add(self.tolerance))
    }

    /// The decision for a request at `now` on a bucket whose TAT is `tat`, and the new TAT when
    /// allowed. Times are nanoseconds on the caller's clock.
    pub fn check(&self, tat: u64, now: u64) -> (Decision, Option<u64>) {
        if self.burst == 0 {
            return (Decision::Throttled { retry_after: Duration::from_secs(1) }, None);
        }
        let tat = tat.max(now);
        let allowed_at = tat.saturating_sub(self.tolerance);
        if allowed_at > now {
            return (Decision::Throttled { retry_after: Duration::from_nanos(allowed_at - now) }, None);
        }
        (Decision::Allowed, Some(tat.saturating_add(self.emission)))
    }
}

/// One bucket: its TAT in an atomic. Lock-free; a check is a load and a compare-and-swap.
#[derive(Debug, Default)]
pub struct Bucket {
    tat: AtomicU64,
}

impl Bucket {
    /// A full bucket.
    pub fn new() -> Self {
        Bucket::default()
    }

    /// Checks (and counts, when allowed) a request at `now` (nanoseconds since the clock's
    /// start, as a `Duration`).
    pub fn check(&self, limit: &Gcra, now: Duration) -> Decision {
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let mut current = self.tat.load(Ordering::Acquire);
        loop {
            let (decision, next) = limit.check(current, now);
            let Some(next) = next else { return decision };
            match self.tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return decision,
                Err(actual) => current = actual,
            }
        }
    }
}

/// The time buckets are checked at: a monotonic clock from a fixed start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Clock { start: Instant::now() }
    }

    /// Time since the start (never zero: buckets start with a TAT of zero, which must mean
    /// "full").
    pub fn now(&self) -> Duration {
        self.start.elapsed() + Duration::from_secs(1)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_is_allowed_at_once_then_one_request_per_interval() {
        let limit = Gcra::new(10.0, 3);
        let bucket = Bucket::new();
        let t = Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(bucket.check(&limit, t), Decision::Allowed);
        }
        assert_eq!(bucket.check(&limit, t), Decision::Throttled { retry_after: 100 * MS });
        assert!(matches!(bucket.check(&limit, t + 99 * MS), Decision::Throttled { .. }));
        assert_eq!(bucket.check(&limit, t + 100 * MS), Decision::Allowed);
        assert!(matches!(bucket.check(&limit, t + 100 * MS), Decision::Throttled { .. }));
        // Idle long enough, the whole burst is back.
        let later = t + Duration::from_secs(5);
        for _ in 0..3 {
            assert_eq!(bucket.check(&limit, later), Decision::Allowed);
        }
    }

    #[test]
    fn a_zero_burst_refuses_and_a_zero_rate_never_refills() {
        assert!(matches!(
            Bucket::new().check(&Gcra::new(5.0, 0), Duration::from_secs(1)),
            Decision::Throttled { .. }
        ));
        let limit = Gcra::new(0.0, 2);
        let bucket = Bucket::new();
        let t = Duration::from_secs(1);
        assert_eq!(bucket.check(&limit, t), Decision::Allowed);
        assert_eq!(bucket.check(&limit, t), Decision::Allowed);
        assert!(matches!(bucket.check(&limit, t + Duration::from_secs(3600)), Decision::Throttled { .. }));
    }

    #[test]
    fn over_a_long_run_the_admitted_rate_is_the_configured_rate() {
        // 1,000 attempts per second for 10 s against 50/s with a burst of 20.
        let limit = Gcra::new(50.0, 20);
        let bucket = Bucket::new();
        let start = Duration::from_secs(1);
        let admitted = (0..10_000u64)
            .filter(|i| bucket.check(&limit, start + Duration::from_millis(*i)) == Decision::Allowed)
            .count();
        // 20 at once, then 50 per second for 10 s.
        assert!((519..=521).contains(&admitted), "{admitted}");
    }
}

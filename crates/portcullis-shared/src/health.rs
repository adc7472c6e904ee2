//! Whether Redis answers, and what its absence cost: for the log, `/metrics` and `/readyz`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Least time between two warnings about Redis.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// While Redis is down, one call in this long tries it; the others fall back at once instead of
/// each waiting for the timeout.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Availability of the shared store, and counters of what fell back.
#[derive(Debug)]
pub struct Health {
    available: AtomicBool,
    fallbacks: AtomicU64,
    failures: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last probe while down.
    last_probe: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            available: AtomicBool::new(true),
            fallbacks: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_warning: Mutex::new(None),
            epoch: Instant::now(),
            last_probe: AtomicU64::new(0),
        }
    }
}

impl Health {
    /// Whether the last call to Redis succeeded.
    pub fn available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// Requests that went without the shared store (counted on this replica alone, or refused).
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Calls to Redis that failed or timed out.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether to call Redis now: always while it answers; while it does not, one caller per
    /// probe period (the others fall back at once, counted).
    pub(crate) fn should_try(&self) -> bool {
        if self.available() {
            return true;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_probe.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= PROBE_EVERY.as_millis() as u64
            && self.last_probe.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            return true;
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        false
    }

    pub(crate) fn succeeded(&self) {
        if !self.available.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "shared state: Redis answers again; shared buckets, answers and revocations resume"
            );
        }
    }

    /// A call failed (`what` names it); the request goes on without the shared store.
    pub(crate) fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        let was_available = self.available.swap(false, Ordering::Relaxed);
        let mut last = self.last_warning.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if was_available || last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                %error,
                fallbacks = self.fallbacks(),
                "shared state: Redis unavailable ({what}); requests go on with this replica's own state (next warning in a minute at most)"
            );
        }
    }
}

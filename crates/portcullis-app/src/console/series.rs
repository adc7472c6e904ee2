//! The Charts page's 15 minutes: requests, p50/p99 time to response head and denials by reason,
//! one point per 10 s, read from the same counters `/metrics` renders ([`Metrics::totals`]).
//!
//! Nothing is sampled until the console is used: the first API call starts a sampler, which
//! stops (and forgets its points) once the console has been left alone for 15 minutes. The
//! functions' last output lines and cold starts are kept for the same span. So a gateway nobody
//! looks at keeps exactly what `/metrics` keeps.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use portcullis_functions::KeepRecent;
use portcullis_pipeline::Metrics;
use portcullis_pipeline::metrics::{LATENCY_BUCKETS, Totals};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::catalog::now_ms;

/// One point per this.
const INTERVAL: Duration = Duration::from_secs(10);
/// Points kept: 15 minutes.
const POINTS: usize = 90;
/// The sampler stops when the console has not been used for this long.
const IDLE: Duration = Duration::from_secs(15 * 60);

/// One interval.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    /// End of the interval, epoch ms.
    t: u64,
    requests: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    denials: Vec<(&'static str, u64)>,
}

/// The sampled series, started on demand.
pub(crate) struct Series {
    metrics: Arc<Metrics>,
    points: Mutex<VecDeque<Point>>,
    running: AtomicBool,
    last_used_ms: AtomicU64,
    /// Functions keep their last output lines and cold starts while the console is in use.
    keep_recent: KeepRecent,
    shutdown: watch::Receiver<bool>,
}

impl Series {
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        keep_recent: KeepRecent,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Series {
            metrics,
            points: Mutex::new(VecDeque::with_capacity(POINTS)),
            running: AtomicBool::new(false),
            last_used_ms: AtomicU64::new(0),
            keep_recent,
            shutdown,
        })
    }

    /// The console is in use: keep sampling (start if stopped).
    pub(crate) fn touch(self: &Arc<Self>) {
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
        if !self.running.swap(true, Ordering::AcqRel) {
            // While the console is in use, functions keep their last output lines and cold
            // starts for its Functions page.
            self.keep_recent.set(true);
            tokio::spawn(Arc::clone(self).sample());
        }
    }

    /// `{interval_ms, points: [{t, requests, p50_ms, p99_ms, denials}]}`, oldest first.
    pub(crate) fn json(&self) -> Value {
        let points = self.points.lock().unwrap_or_else(PoisonError::into_inner);
        let points: Vec<Value> = points
            .iter()
            .map(|p| {
                let denials: Map<String, Value> = p.denials.iter().map(|(r, n)| ((*r).to_owned(), json!(n))).collect();
                json!({"t": p.t, "requests": p.requests, "p50_ms": p.p50_ms, "p99_ms": p.p99_ms, "denials": denials})
            })
            .collect();
        json!({"interval_ms": INTERVAL.as_millis() as u64, "points": points})
    }

    async fn sample(self: Arc<Self>) {
        let mut shutdown = self.shutdown.clone();
        let mut previous = self.metrics.totals();
        // Points end on wall-clock multiples of the interval, so they line up across restarts.
        let interval_ms = INTERVAL.as_millis() as u64;
        loop {
            let now = now_ms();
            let next = (now / interval_ms + 1) * interval_ms;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(next - now)) => {}
                _ = shutdown.changed() => break,
            }
            let current = self.metrics.totals();
            let point = point(next, &previous, &current);
            previous = current;
            {
                let mut points = self.points.lock().unwrap_or_else(PoisonError::into_inner);
                if points.len() == POINTS {
                    points.pop_front();
                }
                points.push_back(point);
            }
            let idle_ms = now_ms().saturating_sub(self.last_used_ms.load(Ordering::Relaxed));
            if idle_ms > IDLE.as_millis() as u64 {
                break;
            }
        }
        self.points.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.keep_recent.set(false);
        self.running.store(false, Ordering::Release);
    }
}

fn point(t: u64, before: &Totals, after: &Totals) -> Point {
    let buckets: Vec<u64> = after
        .latency_buckets
        .iter()
        .zip(&before.latency_buckets)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let count = after.latency_count.saturating_sub(before.latency_count);
    let denials = after
        .denials
        .iter()
        .filter_map(|(reason, n)| {
            let was = before.denials.iter().find(|(r, _)| r == reason).map_or(0, |(_, n)| *n);
            let delta = n.saturating_sub(was);
            (delta > 0).then_some((*reason, delta))
        })
        .collect();
    Point {
        t,
        requests: after.requests.saturating_sub(before.requests),
        p50_ms: quantile(&buckets, count, 0.50),
        p99_ms: quantile(&buckets, count, 0.99),
        denials,
    }
}

/// The `q` quantile, in ms, of `count` observations whose cumulative bucket counts are
/// `buckets` (upper bounds [`LATENCY_BUCKETS`]), interpolated linearly inside its bucket as
/// Prometheus's `histogram_quantile` does; observations past the last bound report that bound.
fn quantile(buckets: &[u64], count: u64, q: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let mut lower = (0.0, 0u64);
    for (bound, cumulative) in LATENCY_BUCKETS.iter().zip(buckets) {
        if *cumulative as f64 >= rank {
            let (low, below) = lower;
            let inside = cumulative.saturating_sub(below) as f64;
            let fraction = if inside > 0.0 { (rank - below as f64) / inside } else { 1.0 };
            let seconds = low + (bound - low) * fraction.clamp(0.0, 1.0);
            return Some((seconds * 1e6).round() / 1e3);
        }
        lower = (*bound, *cumulative);
    }
    LATENCY_BUCKETS.last().map(|b| b * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64, under: &[(f64, u64)], denials: Vec<(&'static str, u64)>) -> Totals {
        let mut t = Totals { requests, latency_count: requests, denials, ..Totals::default() };
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            t.latency_buckets[i] = under.iter().filter(|(b, _)| b <= bound).map(|(_, n)| n).sum();
        }
        t
    }

    #[test]
    fn a_point_is_the_difference_of_two_readings() {
        let before = totals(10, &[(0.001, 10)], vec![("expired", 2)]);
        // 100 more requests: 90 under 1 ms, 10 between 10 and 25 ms.
        let after = totals(110, &[(0.001, 100), (0.025, 10)], vec![("expired", 5), ("kid_unknown", 1)]);
        let p = point(20_000, &before, &after);
        assert_eq!(p.requests, 100);
        assert_eq!(p.denials, vec![("expired", 3), ("kid_unknown", 1)]);
        let p50 = p.p50_ms.expect("p50");
        assert!(p50 > 0.5 && p50 <= 1.0, "{p50}");
        let p99 = p.p99_ms.expect("p99");
        assert!(p99 > 10.0 && p99 <= 25.0, "{p99}");
    }

    #[test]
    fn no_requests_no_latency_and_the_tail_reports_the_last_bound() {
        assert_eq!(quantile(&[0; LATENCY_BUCKETS.len()], 0, 0.5), None);
        // Every observation above the last bound (5 s).
        assert_eq!(quantile(&[0; LATENCY_BUCKETS.len()], 3, 0.99), Some(5000.0));
    }
}

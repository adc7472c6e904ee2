//! Request metrics, rendered in the Prometheus text format on the admin listener (`/metrics`).
//!
//! Counting is a handful of relaxed atomic increments per request: no lock, no allocation.
//! Labelled counters (denial reasons, error kinds) live in a small fixed table of
//! insert-once slots keyed by `&'static str`, so a new label costs one `OnceLock`
//! initialisation the first time it is seen and nothing after.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the time-to-response-head histogram.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Gateway-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    by_status_class: [AtomicU64; 6],
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    denials: Labels,
    errors: Labels,
}

impl Metrics {
    /// Count one answered request: its status and the time until its response head.
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).min(5);
        self.by_status_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Count an authorizer denial by reason code (`expired`, `kid_unknown`, …).
    pub fn denial(&self, reason: &'static str) {
        self.denials.increment(reason);
    }

    /// Count a request the gateway answered itself, by kind (`not_found`, `integration_timeout`, …).
    pub fn error(&self, kind: &'static str) {
        self.errors.increment(kind);
    }

    /// The counters as they are now: what `/metrics` renders, for the admin console's charts.
    pub fn totals(&self) -> Totals {
        Totals {
            requests: self.by_status_class.iter().map(|c| c.load(Ordering::Relaxed)).sum(),
            latency_buckets: std::array::from_fn(|i| self.latency_buckets[i].load(Ordering::Relaxed)),
            latency_count: self.latency_count.load(Ordering::Relaxed),
            denials: self.denials.values(),
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP portcullis_requests_total Requests answered, by status class.\n");
        out.push_str("# TYPE portcullis_requests_total counter\n");
        for (class, counter) in self.by_status_class.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "portcullis_requests_total{{class=\"{class}xx\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP portcullis_response_head_seconds Time from request head to response head.\n");
        out.push_str("# TYPE portcullis_response_head_seconds histogram\n");
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "portcullis_response_head_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "portcullis_response_head_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "portcullis_response_head_seconds_sum {sum}");
        let _ = writeln!(out, "portcullis_response_head_seconds_count {count}");
        out.push_str("# HELP portcullis_authorizer_denials_total Authorizer denials, by reason code.\n");
        out.push_str("# TYPE portcullis_authorizer_denials_total counter\n");
        self.denials.render(&mut out, "portcullis_authorizer_denials_total", "reason");
        out.push_str(
            "# HELP portcullis_gateway_errors_total Requests the gateway answered itself, by kind.\n",
        );
        out.push_str("# TYPE portcullis_gateway_errors_total counter\n");
        self.errors.render(&mut out, "portcullis_gateway_errors_total", "kind");
        out
    }
}

/// A reading of [`Metrics`].
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Requests answered.
    pub requests: u64,
    /// Cumulative time-to-response-head histogram: requests at or under each of
    /// [`LATENCY_BUCKETS`].
    pub latency_buckets: [u64; BUCKETS.len()],
    /// Requests observed by the histogram (every answered request).
    pub latency_count: u64,
    /// Denials by reason code.
    pub denials: Vec<(&'static str, u64)>,
}

/// Upper bounds, in seconds, of the time-to-response-head histogram's buckets.
pub const LATENCY_BUCKETS: [f64; BUCKETS.len()] = BUCKETS;

/// Appends the throttled-requests counters of `limits` (by route and limit) and the keys each
/// keyed limit holds, in the Prometheus text exposition.
pub fn render_limits(out: &mut String, limits: &[std::sync::Arc<crate::throttle::Limit>]) {
    out.push_str("# HELP portcullis_throttled_total Requests refused with 429, by route and limit.\n");
    out.push_str("# TYPE portcullis_throttled_total counter\n");
    for limit in limits {
        let settings = limit.settings();
        let _ = writeln!(
            out,
            "portcullis_throttled_total{{route=\"{}\",limit=\"{}\"}} {}",
            label_value(&settings.route),
            label_value(&settings.label),
            limit.throttled()
        );
    }
    out.push_str("# HELP portcullis_throttle_keys Keys a keyed limit holds a bucket for.\n");
    out.push_str("# TYPE portcullis_throttle_keys gauge\n");
    for limit in limits.iter().filter(|l| l.settings().key.is_some()) {
        let settings = limit.settings();
        let _ = writeln!(
            out,
            "portcullis_throttle_keys{{route=\"{}\",limit=\"{}\"}} {}",
            label_value(&settings.route),
            label_value(&settings.label),
            limit.keys()
        );
    }
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Insert-once label slots, probed linearly. 64 slots is far more than the set of reason codes
/// and error kinds, which are all compile-time constants.
#[derive(Debug)]
struct Labels {
    slots: [OnceLock<(&'static str, AtomicU64)>; 64],
}

impl Default for Labels {
    fn default() -> Self {
        Labels { slots: std::array::from_fn(|_| OnceLock::new()) }
    }
}

impl Labels {
    fn increment(&self, label: &'static str) {
        let start = label.len().wrapping_mul(31).wrapping_add(label.bytes().next().map_or(0, usize::from));
        for i in 0..self.slots.len() {
            let slot = &self.slots[(start + i) % self.slots.len()];
            let (key, counter) = slot.get_or_init(|| (label, AtomicU64::new(0)));
            if *key == label {
                counter.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // All 64 slots hold other labels: impossible with constant label sets; drop the count.
    }

    fn values(&self) -> Vec<(&'static str, u64)> {
        let mut rows: Vec<(&'static str, u64)> =
            self.slots.iter().filter_map(|s| s.get()).map(|(k, c)| (*k, c.load(Ordering::Relaxed))).collect();
        rows.sort_unstable();
        rows
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        let mut rows: Vec<(&str, u64)> =
            self.slots.iter().filter_map(|s| s.get()).map(|(k, c)| (*k, c.load(Ordering::Relaxed))).collect();
        rows.sort_unstable();
        for (key, value) in rows {
            let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_in_prometheus_text() {
        let metrics = Metrics::default();
        metrics.observe(200, Duration::from_millis(3));
        metrics.observe(404, Duration::from_micros(200));
        metrics.denial("expired");
        metrics.denial("expired");
        metrics.denial("kid_unknown");
        metrics.error("not_found");
        let text = metrics.render();
        assert!(text.contains("portcullis_requests_total{class=\"2xx\"} 1"), "{text}");
        assert!(text.contains("portcullis_requests_total{class=\"4xx\"} 1"));
        assert!(text.contains("portcullis_authorizer_denials_total{reason=\"expired\"} 2"));
        assert!(text.contains("portcullis_authorizer_denials_total{reason=\"kid_unknown\"} 1"));
        assert!(text.contains("portcullis_gateway_errors_total{kind=\"not_found\"} 1"));
        assert!(text.contains("portcullis_response_head_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("portcullis_response_head_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("portcullis_response_head_seconds_count 2"));
    }

    #[test]
    fn many_labels_are_counted_separately() {
        let labels = Labels::default();
        const NAMES: [&str; 20] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
            "t",
        ];
        for (i, name) in NAMES.iter().enumerate() {
            for _ in 0..=i {
                labels.increment(name);
            }
        }
        let mut out = String::new();
        labels.render(&mut out, "x", "l");
        for (i, name) in NAMES.iter().enumerate() {
            assert!(out.contains(&format!("x{{l=\"{name}\"}} {}", i + 1)), "{out}");
        }
    }
}

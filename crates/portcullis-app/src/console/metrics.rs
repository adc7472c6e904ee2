//! The counters the console shows, in the Prometheus text format, appended to `/metrics`: the
//! console reads nothing that `/metrics` does not also expose.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use portcullis_authz::lambda::LambdaAuthorizer;
use portcullis_authz::{Authorizer, CacheStats, JwtAuthorizer, Reason};
use portcullis_pipeline::{Access, Snapshot};

use crate::registry::Registry;

/// Appends the authorizer, function and live-stream families.
pub(crate) async fn render(
    out: &mut String,
    snapshot: &Snapshot,
    registry: &Registry,
    live: &super::live::Live,
) {
    let mut authorizers: BTreeMap<&str, &Arc<dyn Authorizer>> = BTreeMap::new();
    for (_, plan) in snapshot.routes.routes() {
        if let Access::Authorizer(route) = &plan.access {
            authorizers.entry(&*route.name).or_insert(&route.authorizer);
        }
    }
    let mut caches: Vec<(&str, CacheStats)> = Vec::new();
    let mut denials: Vec<(&str, Vec<(Reason, u64)>)> = Vec::new();
    let mut lambdas: Vec<(&str, u64, u64)> = Vec::new();
    for (name, authorizer) in &authorizers {
        let any: &dyn Any = authorizer.as_ref();
        if let Some(jwt) = any.downcast_ref::<JwtAuthorizer>() {
            let stats = jwt.stats();
            caches.extend(stats.cache.map(|c| (*name, c)));
            denials.push((name, stats.denials));
        } else if let Some(lambda) = any.downcast_ref::<LambdaAuthorizer>() {
            let stats = lambda.stats().await;
            caches.extend(stats.cache.map(|c| (*name, c)));
            denials.push((name, stats.denials));
            lambdas.push((name, stats.invocations, stats.errors));
        }
    }
    family(
        out,
        "portcullis_authorizer_cache_entries",
        "gauge",
        "Entries of an authorizer's cache (verified tokens, Lambda answers).",
    );
    for (name, c) in &caches {
        let _ = writeln!(
            out,
            "portcullis_authorizer_cache_entries{{authorizer=\"{}\"}} {}",
            label(name),
            c.entries
        );
    }
    family(
        out,
        "portcullis_authorizer_cache_hits_total",
        "counter",
        "Lookups an authorizer's cache answered.",
    );
    for (name, c) in &caches {
        let _ = writeln!(
            out,
            "portcullis_authorizer_cache_hits_total{{authorizer=\"{}\"}} {}",
            label(name),
            c.hits
        );
    }
    family(
        out,
        "portcullis_authorizer_cache_misses_total",
        "counter",
        "Lookups an authorizer's cache could not answer.",
    );
    for (name, c) in &caches {
        let _ = writeln!(
            out,
            "portcullis_authorizer_cache_misses_total{{authorizer=\"{}\"}} {}",
            label(name),
            c.misses
        );
    }
    family(
        out,
        "portcullis_authorizer_denials_by_authorizer_total",
        "counter",
        "Denials by authorizer and reason code (rules checked after the authorizer are not included).",
    );
    for (name, counts) in &denials {
        for (reason, n) in counts {
            let _ = writeln!(
                out,
                "portcullis_authorizer_denials_by_authorizer_total{{authorizer=\"{}\",reason=\"{}\"}} {n}",
                label(name),
                reason.as_str()
            );
        }
    }
    family(
        out,
        "portcullis_lambda_authorizer_invocations_total",
        "counter",
        "Invocations of a Lambda authorizer's function.",
    );
    for (name, invocations, _) in &lambdas {
        let _ = writeln!(
            out,
            "portcullis_lambda_authorizer_invocations_total{{authorizer=\"{}\"}} {invocations}",
            label(name)
        );
    }
    family(
        out,
        "portcullis_lambda_authorizer_errors_total",
        "counter",
        "Lambda authorizer invocations that failed, timed out or answered something malformed.",
    );
    for (name, _, errors) in &lambdas {
        let _ = writeln!(
            out,
            "portcullis_lambda_authorizer_errors_total{{authorizer=\"{}\"}} {errors}",
            label(name)
        );
    }

    let functions: Vec<(String, portcullis_functions::FunctionStats)> =
        registry.functions().into_iter().map(|(s, i)| (s.name, i.stats())).collect();
    let counters: [(&str, &str, Counter); 4] = [
        ("portcullis_function_invocations_total", "Function invocations that ended.", |s| s.invocations),
        (
            "portcullis_function_errors_total",
            "Function invocations that failed other than by timing out.",
            |s| s.errors,
        ),
        ("portcullis_function_timeouts_total", "Function invocations that timed out.", |s| s.timeouts),
        ("portcullis_function_cold_starts_total", "Function instances started.", |s| s.cold_start_count),
    ];
    for (metric, help, value) in counters {
        family(out, metric, "counter", help);
        for (name, stats) in &functions {
            let _ = writeln!(out, "{metric}{{function=\"{}\"}} {}", label(name), value(stats));
        }
    }
    family(out, "portcullis_function_instances", "gauge", "Function instances by state.");
    for (name, stats) in &functions {
        let i = stats.instances;
        for (state, n) in [("busy", i.busy), ("idle", i.idle), ("starting", i.starting)] {
            let _ = writeln!(
                out,
                "portcullis_function_instances{{function=\"{}\",state=\"{state}\"}} {n}",
                label(name)
            );
        }
    }

    family(out, "portcullis_console_live_streams", "gauge", "Open live streams of the admin console.");
    let _ = writeln!(out, "portcullis_console_live_streams {}", live.subscribers());
    family(
        out,
        "portcullis_console_live_dropped_total",
        "counter",
        "Finished requests a live stream did not receive because it fell behind.",
    );
    let _ = writeln!(out, "portcullis_console_live_dropped_total {}", live.dropped());
    family(
        out,
        "portcullis_console_live_skipped_total",
        "counter",
        "Finished requests not streamed because the live stream's per-second budget was spent.",
    );
    let _ = writeln!(out, "portcullis_console_live_skipped_total {}", live.skipped());
}

/// Reads one counter of a function.
type Counter = fn(&portcullis_functions::FunctionStats) -> u64;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

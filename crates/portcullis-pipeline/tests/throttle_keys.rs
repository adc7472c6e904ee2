//! A million distinct throttle keys through the throttle stage: the keyed limit keeps at most
//! `max_keys` buckets, and the process's peak memory says what the flood cost. Its own test
//! binary, so the peak (`VmHWM`) is this test's alone.

use std::sync::Arc;
use std::time::Instant;

use http::HeaderName;
use portcullis_core::{ApiIdentity, AuthContext, CallContext, RequestIdGenerator, Template, Variable};
use portcullis_pipeline::throttle::{self, Limit, LimitSettings, RouteThrottle};

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap()
}

#[tokio::test]
async fn a_million_distinct_keys_keep_memory_bounded() {
    const KEYS: u64 = 1_000_000;
    const MAX_KEYS: u64 = 100_000;
    let key = Template::variable(Variable::Header(HeaderName::from_static("x-key")));
    let limit = Arc::new(Limit::new(LimitSettings {
        route: "GET /k".into(),
        label: "x-key".into(),
        rate: portcullis_pipeline::PerSecond(1.0),
        burst: 1,
        key: Some(key),
        max_keys: MAX_KEYS,
        shared: false,
    }));
    let route = RouteThrottle::new(vec![Arc::clone(&limit)]);
    let api = ApiIdentity::default();
    let ctx = CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: "192.0.2.1:1".parse().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /k"),
        params: Default::default(),
        received_at: std::time::SystemTime::now(),
        auth: AuthContext::None,
    };
    let (mut parts, ()) = http::Request::get("/k").body(()).unwrap().into_parts();
    let before = status_kb("VmRSS");
    let started = Instant::now();
    for i in 0..KEYS {
        parts.headers.insert("x-key", format!("client-{i}").parse().unwrap());
        assert!(
            throttle::request(None, Some(&route), &parts, &ctx, &api).await.is_ok(),
            "a new key has a full bucket"
        );
    }
    let elapsed = started.elapsed();
    // A steady caller is still limited in the flood's wake.
    parts.headers.insert("x-key", "steady".parse().unwrap());
    assert!(throttle::request(None, Some(&route), &parts, &ctx, &api).await.is_ok());
    assert!(throttle::request(None, Some(&route), &parts, &ctx, &api).await.is_err());
    let held = limit.keys();
    let peak = status_kb("VmHWM");
    eprintln!(
        "{KEYS} distinct keys in {elapsed:.2?}: {held} buckets held (max {MAX_KEYS}); RSS {before} kB before, peak {peak} kB (+{} MB)",
        (peak.saturating_sub(before)) / 1024
    );
    assert!(held <= MAX_KEYS, "{held} buckets held");
    assert!(peak < before + 128 * 1024, "peak RSS {peak} kB from {before} kB");
}

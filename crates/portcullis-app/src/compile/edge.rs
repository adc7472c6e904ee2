//! The production edge of a configuration: CORS policies and throttle limits.

use std::sync::Arc;

use portcullis_config::{Compat, Config, CorsConfig, RouteConfig, ThrottleConfig, ThrottleScope};
use portcullis_pipeline::{
    CorsPolicy, CorsSettings, Limit, LimitSettings, PerSecond, PreflightMode, RouteThrottle,
};

use crate::resources::Resources;

/// The compiled form of a `cors:` block.
pub(super) fn cors(config: &CorsConfig) -> Arc<CorsPolicy> {
    Arc::new(CorsPolicy::new(&CorsSettings {
        allow_origins: config.allow_origins.clone(),
        allow_methods: config.allow_methods.clone(),
        allow_headers: config.allow_headers.clone(),
        expose_headers: config.expose_headers.clone(),
        max_age: config.max_age,
        allow_credentials: config.allow_credentials,
    }))
}

/// Whether any CORS policy is configured, and how preflights meet routes.
pub(super) fn cors_mode(config: &Config) -> (bool, PreflightMode) {
    let any = config.cors.is_some() || config.routes.iter().any(|r| r.cors.is_some());
    let mode = if config.compat == Compat::Aws { PreflightMode::Aws } else { PreflightMode::Answer };
    (any, mode)
}

/// The API-wide limit.
pub(super) fn api_limit(config: &Config, resources: &dyn Resources) -> Option<Arc<Limit>> {
    let limit = config.throttle.as_ref()?;
    Some(resources.limit(settings("*", "api", limit)))
}

/// A route's limits, in the order written.
pub(super) fn route_throttle(route: &RouteConfig, resources: &dyn Resources) -> Option<RouteThrottle> {
    if route.throttle.is_empty() {
        return None;
    }
    let key = route.key.value.to_string();
    let limits = route
        .throttle
        .iter()
        .map(|limit| {
            let label = limit.key.as_ref().map_or_else(|| "route".to_owned(), ToString::to_string);
            resources.limit(settings(&key, &label, limit))
        })
        .collect();
    Some(RouteThrottle::new(limits))
}

fn settings(route: &str, label: &str, limit: &ThrottleConfig) -> LimitSettings {
    LimitSettings {
        route: route.to_owned(),
        label: label.to_owned(),
        rate: PerSecond(limit.rate),
        burst: limit.burst,
        key: limit.key.clone(),
        max_keys: limit.max_keys,
        shared: limit.scope == ThrottleScope::Shared,
    }
}

//! What the console's Routes, Authorizers and Functions pages show: read from the live snapshot
//! (the route table as it serves), its authorizers' own counters and the registry's function
//! pools. Nothing here is kept between calls; every answer is read when asked for.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use portcullis_authz::lambda::LambdaAuthorizer;
use portcullis_authz::{Authorizer, CacheStats, JwtAuthorizer, Reason};
use portcullis_functions::{FunctionKind, Invoker};
use portcullis_pipeline::route::RouteError;
use portcullis_pipeline::{Access, RoutePlan, Snapshot};
use portcullis_route::RouteKey;
use serde_json::{Value, json};

/// Every route in priority order, with what serves it.
pub(crate) fn routes(snapshot: &Snapshot) -> Value {
    let mut routes: Vec<(&RouteKey, &Arc<RoutePlan>)> = snapshot.routes.routes().collect();
    routes.sort_by(|a, b| a.0.precedence_cmp(b.0));
    let listed: Vec<Value> = routes
        .into_iter()
        .enumerate()
        .map(|(priority, (key, plan))| route(snapshot, priority, key, plan))
        .collect();
    json!({ "routes": listed })
}

fn route(snapshot: &Snapshot, priority: usize, key: &RouteKey, plan: &RoutePlan) -> Value {
    let mut rules = Vec::new();
    let authorizer = match &plan.access {
        Access::Public => Value::Null,
        Access::Authorizer(route) => {
            if let Some(set) = &route.rules {
                rules.extend(set.rules().iter().map(|r| r.source().to_owned()));
            }
            json!({
                "name": &*route.name,
                "kind": crate::explain::kind(route.authorizer.as_ref()),
                "scopes": &*route.route.scopes,
            })
        }
    };
    if let Some(set) = &plan.rules {
        rules.extend(set.rules().iter().map(|r| r.source().to_owned()));
    }
    let described = plan.integration.describe();
    let throttle: Vec<Value> = plan
        .throttle()
        .map(|t| t.limits())
        .unwrap_or_default()
        .iter()
        .map(|limit| {
            let s = limit.settings();
            json!({"rate": s.rate.0, "burst": s.burst, "key": s.key.as_ref().map(ToString::to_string)})
        })
        .collect();
    let cors = snapshot
        .has_cors
        .then(|| portcullis_pipeline::cors::policy(snapshot, Some(plan)))
        .flatten()
        .map_or(Value::Null, |policy| {
            let s = policy.settings();
            json!({
                "allow_origins": s.allow_origins,
                "allow_methods": s.allow_methods,
                "allow_headers": s.allow_headers,
                "expose_headers": s.expose_headers,
                "max_age": s.max_age,
                "allow_credentials": s.allow_credentials,
            })
        });
    json!({
        "key": key.to_string(),
        "priority": priority,
        "authorizer": authorizer,
        "rules": rules,
        "integration": {"kind": described.kind, "target": described.target},
        "throttle": throttle,
        "cors": cors,
    })
}

/// Which route `method path` reaches, by the route stage itself (stage prefix, AWS priority).
pub(crate) fn matched(snapshot: &Snapshot, method: &str, path: &str) -> Value {
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return json!({"matched": false, "status": 400, "reason": format!("{method:?} is not an HTTP method")});
    };
    match portcullis_pipeline::route::request(snapshot, &method, path) {
        Ok((plan, params)) => {
            let params: serde_json::Map<String, Value> =
                params.iter().map(|p| (p.name.to_string(), Value::String(p.decoded.clone()))).collect();
            json!({"matched": true, "key": &*plan.key, "params": params})
        }
        Err(RouteError::NotFound) => json!({"matched": false, "status": 404}),
        Err(error @ RouteError::BadPath(_)) => {
            json!({"matched": false, "status": 400, "reason": error.to_string()})
        }
    }
}

/// Every authorizer the snapshot's routes use, by kind, with its counters.
pub(crate) async fn authorizers(snapshot: &Snapshot) -> Value {
    let mut seen: BTreeMap<&str, &Arc<dyn Authorizer>> = BTreeMap::new();
    for (_, plan) in snapshot.routes.routes() {
        if let Access::Authorizer(route) = &plan.access {
            seen.entry(&*route.name).or_insert(&route.authorizer);
        }
    }
    let (mut jwt, mut lambda) = (Vec::new(), Vec::new());
    for (name, authorizer) in seen {
        let any: &dyn Any = authorizer.as_ref();
        if let Some(a) = any.downcast_ref::<JwtAuthorizer>() {
            jwt.push(jwt_card(name, a));
        } else if let Some(a) = any.downcast_ref::<LambdaAuthorizer>() {
            lambda.push(lambda_card(name, a).await);
        }
    }
    json!({"jwt": jwt, "lambda": lambda})
}

fn jwt_card(name: &str, authorizer: &JwtAuthorizer) -> Value {
    let status = authorizer.keys().status();
    let stats = authorizer.stats();
    let now = now_ms();
    let last_fetch = match (status.last_attempt, status.next_refresh) {
        (Some(ago), _) => json!({
            "at": now.saturating_sub(millis(ago)),
            "ok": status.last_error.is_none(),
            "error": status.last_error,
        }),
        // A key file or the development issuer: loaded once, when the oldest key was.
        (None, None) if !status.keys.is_empty() => {
            let oldest = status.keys.iter().map(|k| k.age).max().unwrap_or_default();
            json!({"at": now.saturating_sub(millis(oldest)), "ok": true, "error": null})
        }
        (None, _) => Value::Null,
    };
    json!({
        "name": name,
        "issuer": authorizer.settings().issuer,
        "discovery_url": status.discovery_url,
        "jwks_url": status.jwks_url,
        "keys": status.keys.iter().map(|k| json!({"kid": k.kid, "alg": k.alg, "age_ms": millis(k.age)})).collect::<Vec<_>>(),
        "last_fetch": last_fetch,
        "next_refresh_ms": status.next_refresh.map(millis),
        "cache": cache(stats.cache),
        "denials": denials(&stats.denials),
    })
}

async fn lambda_card(name: &str, authorizer: &LambdaAuthorizer) -> Value {
    let stats = authorizer.stats().await;
    json!({
        "name": name,
        "function": authorizer.function_name(),
        "result_ttl_ms": millis(authorizer.settings().result_ttl),
        "cache": cache(stats.cache),
        "invocations": stats.invocations,
        "errors": stats.errors,
        "denials": denials(&stats.denials),
    })
}

fn cache(stats: Option<CacheStats>) -> Value {
    let stats = stats.unwrap_or_default();
    json!({"size": stats.entries, "hits": stats.hits, "misses": stats.misses})
}

fn denials(denials: &[(Reason, u64)]) -> Value {
    Value::Object(denials.iter().map(|(reason, n)| (reason.as_str().to_owned(), json!(n))).collect())
}

/// Every function with its instances, counters, recent cold starts and output lines.
pub(crate) fn functions(invokers: &[(portcullis_functions::FunctionSettings, Invoker)]) -> Value {
    let listed: Vec<Value> = invokers
        .iter()
        .map(|(settings, invoker)| {
            let stats = invoker.stats();
            let runtime = match &settings.kind {
                FunctionKind::Node { .. } => "nodejs",
                FunctionKind::Python { .. } => "python",
                FunctionKind::Provided { .. } => "provided",
                FunctionKind::Remote { .. } => "remote",
            };
            json!({
                "name": settings.name,
                "runtime": runtime,
                "instances": {
                    "busy": stats.instances.busy,
                    "idle": stats.instances.idle,
                    "starting": stats.instances.starting,
                },
                "cold_starts": stats.cold_starts.iter().map(|c| json!({
                    "at": epoch_ms(c.at),
                    "duration_ms": millis(c.duration),
                })).collect::<Vec<_>>(),
                "invocations": stats.invocations,
                "errors": stats.errors,
                "timeouts": stats.timeouts,
                "last_lines": stats.last_lines.iter().map(|l| json!({
                    "at": epoch_ms(l.at),
                    "stream": l.stream,
                    "request_id": l.request_id.as_deref(),
                    "text": l.text,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "functions": listed })
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn epoch_ms(at: SystemTime) -> u64 {
    millis(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

pub(crate) fn now_ms() -> u64 {
    epoch_ms(SystemTime::now())
}

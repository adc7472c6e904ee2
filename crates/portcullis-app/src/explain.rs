//! `portcullis explain`: run one route's authorizer on a token, outside the request path, and
//! report every check it made. Uses the same compiled authorizer and key stores as `serve`.

use std::collections::HashMap;
use std::time::Duration;

use http::Request;
use portcullis_authz::{IdentitySource, RouteAuth};
use portcullis_config::{Config, ConfigErrors};
use portcullis_route::RouteKey;

use crate::compile_authorizers;
use crate::registry::Registry;

/// Why no explanation could be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The config does not compile.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The route key is not valid or not configured.
    #[error("{0}")]
    Route(String),
    /// A process-wide resource could not be created.
    #[error("{0}")]
    Start(#[from] crate::StartError),
}

/// The decision for `token` on `route_key`, and whether the request would be let through.
pub async fn explain(config: &Config, route_key: &str, token: &str) -> Result<(String, bool), ExplainError> {
    let key: RouteKey =
        route_key.parse().map_err(|e: portcullis_route::RouteKeyError| ExplainError::Route(e.to_string()))?;
    let route = config
        .routes
        .iter()
        .find(|r| r.key.value == key)
        .ok_or_else(|| ExplainError::Route(format!("no route `{key}` in {}", config.origin)))?;
    let Some(name) = &route.authorizer else {
        return Ok((
            format!("route `{key}` is public (authorizer: none): every request reaches its integration\n"),
            true,
        ));
    };
    let registry = Registry::for_check(config)?;
    let mut errors = Vec::new();
    let compiled: HashMap<_, _> = compile_authorizers::all(config, &registry, &mut errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    let Some(jwt) = compiled.get(name).and_then(|c| c.jwt.clone()) else {
        return Err(ExplainError::Route(format!("authorizer `{name}` is not a JWT authorizer")));
    };
    registry.jwks().start_all();
    let _ = registry.jwks().ready_all(Duration::from_secs(3)).await;

    // A request for the route with the token where the authorizer looks for it.
    let path = match &key {
        RouteKey::Route { path, .. } => path.as_str().replace(['{', '}', '+'], ""),
        RouteKey::Default => "/".to_owned(),
    };
    let method = match key.method() {
        Some(portcullis_route::MethodSel::Method(m)) => m.clone(),
        _ => http::Method::GET,
    };
    let mut builder = Request::builder().method(method);
    let uri = match jwt.settings().identity_source.first() {
        Some(IdentitySource::Header(header)) => {
            builder = builder.header(header, format!("Bearer {token}"));
            path
        }
        Some(IdentitySource::Query(q)) => format!("{path}?{q}={token}"),
        Some(IdentitySource::Cookie(c)) => {
            builder = builder.header(http::header::COOKIE, format!("{c}={token}"));
            path
        }
        None => path,
    };
    let request = builder.uri(uri).body(()).map_err(|e| ExplainError::Route(e.to_string()))?;
    let (parts, ()) = request.into_parts();
    let explanation = jwt.explain(&parts, &RouteAuth { scopes: route.scopes.clone().into() }).await;
    registry.shutdown().await;
    let allowed = explanation.outcome.is_ok();
    Ok((format!("route: {key}\nauthorizer: {name} (jwt)\n{explanation}"), allowed))
}

/// Mint a token from the development issuer of `config` (`portcullis token`).
pub fn mint_dev_token(
    config: &Config,
    claims: serde_json::Map<String, serde_json::Value>,
    ttl: Duration,
) -> Result<String, String> {
    let registry = Registry::for_check(config).map_err(|e| e.to_string())?;
    let dev = registry.dev_issuer(config)?;
    dev.mint(claims, ttl).map_err(|e| e.to_string())
}

/// Run function `name` once with `event` and return its raw result (`portcullis invoke`). The
/// function gets a fresh instance, exactly as the gateway would start it.
pub async fn invoke_once(config: &Config, name: &str, event: bytes::Bytes) -> Result<bytes::Bytes, String> {
    let function =
        config.functions.get(name).ok_or_else(|| format!("no function `{name}` in {}", config.origin))?;
    let settings = crate::registry::function_settings(config, name, function);
    let options = portcullis_functions::FunctionsOptions {
        state_dir: config.state_dir.join("functions"),
        account_id: config.account_id.clone(),
    };
    let functions =
        portcullis_functions::Functions::start([settings], options).await.map_err(|e| e.to_string())?;
    let invoker = functions.invoker(name).ok_or_else(|| format!("function `{name}` did not start"))?;
    let result = invoker.invoke(event, "portcullis-invoke").await.map_err(|e| e.to_string());
    functions.shutdown().await;
    result
}

//! `portcullis explain`: run one route's authorizer on a token, outside the request path, and
//! report every check it made. Uses the same compiled authorizer and key stores as `serve`.

use std::collections::HashMap;
use std::time::Duration;

use http::Request;
use portcullis_authz::lambda::{LambdaAuthorizer, LambdaIdentity};
use portcullis_authz::{IdentitySource, RouteAuth};
use portcullis_config::{AuthorizerConfig, Config, ConfigErrors};
use portcullis_core::{CallContext, RequestIdGenerator};
use portcullis_route::RouteKey;
use portcullis_rules::RuleSet;

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

/// What to explain: one request to one route.
#[derive(Debug, Clone, Default)]
pub struct ExplainRequest {
    /// The route key, e.g. `GET /pets/{id}`.
    pub route_key: String,
    /// The token, placed where the authorizer looks for it (JWT: `Bearer ` added for headers;
    /// Lambda: the value as given).
    pub token: String,
    /// The request path; default: the route's path with the braces removed.
    pub path: Option<String>,
    /// Extra request headers (`name: value`), e.g. further identity sources.
    pub headers: Vec<(String, String)>,
    /// Lambda authorizers: first send the same identity to this path, as an earlier request
    /// would have, so that the explained request reuses that cached answer.
    pub cached_from: Option<String>,
}

/// The decision for the request on `request.route_key`, and whether it would be let through.
pub async fn explain(config: &Config, request: &ExplainRequest) -> Result<(String, bool), ExplainError> {
    let key: RouteKey = request
        .route_key
        .parse()
        .map_err(|e: portcullis_route::RouteKeyError| ExplainError::Route(e.to_string()))?;
    let route = config
        .routes
        .iter()
        .find(|r| r.key.value == key)
        .ok_or_else(|| ExplainError::Route(format!("no route `{key}` in {}", config.origin)))?;
    let (method, sample_path) = sample_request(&key);
    let path = request.path.clone().unwrap_or(sample_path);
    let Some(name) = &route.authorizer else {
        if route.rules.is_empty() {
            return Ok((
                format!(
                    "route `{key}` is public (authorizer: none): every request reaches its integration\n"
                ),
                true,
            ));
        }
        let mut text = format!("route `{key}` is public (authorizer: none); its rules decide\n");
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let parts = builder.body(()).map_err(|e| ExplainError::Route(e.to_string()))?.into_parts().0;
        let allowed = explain_rules(&mut text, config, route, None, &parts, &call_context(&key, &parts))?;
        return Ok((text, allowed));
    };
    let is_lambda = matches!(config.authorizers.get(name), Some(AuthorizerConfig::Lambda(_)));
    // A Lambda authorizer needs its function running; a JWT authorizer needs nothing started.
    let registry = if is_lambda { Registry::new(config)? } else { Registry::for_check(config)? };
    registry.prepare_functions(config).await?;
    let mut errors = Vec::new();
    let compiled: HashMap<_, _> = compile_authorizers::all(config, &registry, &mut errors);
    if !errors.is_empty() {
        registry.shutdown().await;
        return Err(ConfigErrors(errors).into());
    }
    if let Some(lambda) = compiled.get(name).and_then(|c| c.lambda.clone()) {
        let result = explain_lambda(config, &lambda, name, &key, method, &path, request).await;
        registry.shutdown().await;
        return result;
    }
    let Some(jwt) = compiled.get(name).and_then(|c| c.jwt.clone()) else {
        return Err(ExplainError::Route(format!("authorizer `{name}` cannot be explained")));
    };
    registry.jwks().start_all();
    let _ = registry.jwks().ready_all(Duration::from_secs(3)).await;

    // A request for the route with the token where the authorizer looks for it.
    let token = request.token.strip_prefix("Bearer ").unwrap_or(&request.token);
    let mut builder = Request::builder().method(method);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
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
    let mut text = format!("route: {key}\nauthorizer: {name} (jwt)\n{explanation}");
    let mut allowed = explanation.outcome.is_ok();
    if let Ok(auth) = explanation.outcome {
        let mut ctx = call_context(&key, &parts);
        ctx.auth = auth;
        let authorizer_rules = compiled.get(name).and_then(|c| c.rules.clone());
        allowed = explain_rules(&mut text, config, route, authorizer_rules.as_deref(), &parts, &ctx)?;
    }
    Ok((text, allowed))
}

/// Appends the authorizer's and the route's `rules` checks to `out`; whether all hold.
fn explain_rules(
    out: &mut String,
    config: &Config,
    route: &portcullis_config::RouteConfig,
    authorizer_rules: Option<&RuleSet>,
    parts: &http::request::Parts,
    ctx: &CallContext,
) -> Result<bool, ExplainError> {
    use std::fmt::Write as _;
    let mut errors = Vec::new();
    let route_rules = compile_authorizers::compile_rules(config, "rules", &route.rules, &mut errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    for (owner, rules) in [("authorizer", authorizer_rules), ("route", route_rules.as_deref())] {
        let Some(rules) = rules else { continue };
        match rules.evaluate(parts, ctx) {
            Ok(()) => {
                for rule in rules.rules() {
                    let _ = writeln!(out, "ok   {owner} rule `{}`", rule.source());
                }
            }
            Err(failure) => {
                let _ = writeln!(out, "FAIL {owner} {failure}");
                let _ = writeln!(out, "=> deny rule_failed (Forbidden)");
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// A method and path that `key` matches: its method (GET for `ANY` and `$default`) and its path
/// with the braces of variables removed (`/pets/{id}` -> `/pets/id`).
fn sample_request(key: &RouteKey) -> (http::Method, String) {
    let method = match key.method() {
        Some(portcullis_route::MethodSel::Method(m)) => m.clone(),
        _ => http::Method::GET,
    };
    let path = match key {
        RouteKey::Route { path, .. } => path.as_str().replace(['{', '}', '+'], ""),
        RouteKey::Default => "/".to_owned(),
    };
    (method, path)
}

/// A request to `path` carrying the explained identity: the token in the first identity
/// source (as given, `Bearer ` included), plus the extra headers.
fn lambda_request(
    lambda: &LambdaAuthorizer,
    method: &http::Method,
    path: &str,
    request: &ExplainRequest,
) -> Result<http::request::Parts, ExplainError> {
    let mut builder = Request::builder().method(method.clone()).header(http::header::HOST, "localhost");
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let uri = match lambda.settings().identity_source.first() {
        Some(LambdaIdentity::Header(header)) => {
            builder = builder.header(header, &request.token);
            path.to_owned()
        }
        Some(LambdaIdentity::Query(q)) => format!("{path}?{q}={}", request.token),
        Some(LambdaIdentity::Cookie(c)) => {
            builder = builder.header(http::header::COOKIE, format!("{c}={}", request.token));
            path.to_owned()
        }
        _ => path.to_owned(),
    };
    let built = builder.uri(uri).body(()).map_err(|e| ExplainError::Route(e.to_string()))?;
    Ok(built.into_parts().0)
}

/// The context the pipeline would build for `parts` on `route_key` (path parameters included,
/// so that rules reading `route.params` see them).
fn call_context(route_key: &RouteKey, parts: &http::request::Parts) -> CallContext {
    let mut table = portcullis_route::RouteTableBuilder::new();
    let params = match table.insert(route_key.clone(), ()) {
        Ok(()) => table.build().find(&parts.method, parts.uri.path()).ok().flatten().map(|m| m.params),
        Err(_) => None,
    };
    CallContext {
        request_id: RequestIdGenerator::new(std::process::id().into()).next_id(),
        client_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: false,
        route_key: route_key.to_string().into(),
        params: params.unwrap_or_default(),
        received_at: std::time::SystemTime::now(),
        auth: portcullis_core::AuthContext::None,
    }
}

async fn explain_lambda(
    config: &Config,
    lambda: &LambdaAuthorizer,
    name: &str,
    key: &RouteKey,
    method: http::Method,
    path: &str,
    request: &ExplainRequest,
) -> Result<(String, bool), ExplainError> {
    use std::fmt::Write as _;
    let settings = lambda.settings();
    let mut out = String::new();
    let _ = writeln!(out, "route: {key}");
    let _ = writeln!(
        out,
        "authorizer: {name} (lambda: function {}, event {:?}, result_ttl {}s, identity [{}])",
        lambda.function_name(),
        settings.event,
        settings.result_ttl.as_secs(),
        settings.identity_source.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    if let Some(earlier) = &request.cached_from {
        let mut parts = lambda_request(lambda, &method, earlier, request)?;
        let ctx = call_context(key, &parts);
        let first = lambda.explain(&mut parts, &ctx).await;
        let _ = writeln!(out, "earlier request: {method} {earlier} ({})", first.arn);
        if let Some(answer) = &first.answer {
            let _ = writeln!(out, "  answer (now cached): {answer}");
        }
    }
    let mut parts = lambda_request(lambda, &method, path, request)?;
    let ctx = call_context(key, &parts);
    let explanation = lambda.explain(&mut parts, &ctx).await;
    let route = config.routes.iter().find(|r| r.key.value == *key);
    let _ = writeln!(out, "request: {method} {path}");
    let _ = writeln!(out, "  arn: {}", explanation.arn);
    let source = if explanation.cached { "from the cache" } else { "invoked" };
    match &explanation.answer {
        Some(answer) => {
            let _ = writeln!(out, "  answer ({source}): {answer}");
        }
        None => {
            let _ = writeln!(out, "  answer: none");
        }
    }
    let allowed = match &explanation.outcome {
        Ok(auth) => {
            let mut ctx = ctx.clone();
            ctx.auth = auth.clone();
            let rules_hold = match route {
                Some(route) => explain_rules(&mut out, config, route, None, &parts, &ctx)?,
                None => true,
            };
            let _ = writeln!(out, "decision: {}", if rules_hold { "ALLOW" } else { "DENY 403 rule_failed" });
            rules_hold
        }
        Err(denial) => {
            let status = match denial.status {
                portcullis_authz::DenialStatus::Unauthorized => 401,
                portcullis_authz::DenialStatus::Forbidden => 403,
                portcullis_authz::DenialStatus::Error => 500,
            };
            let _ = writeln!(out, "decision: DENY {status} {}: {}", denial.reason, denial.detail);
            false
        }
    };
    // The cache surprise, before it happens: other routes of this authorizer that the same
    // cached answer would deny (spec §3.7).
    if let Some(answer) = &explanation.answer
        && !settings.result_ttl.is_zero()
    {
        let denied: Vec<String> = config
            .routes
            .iter()
            .filter(|r| r.authorizer.as_deref() == Some(name) && r.key.value != *key)
            .filter_map(|r| {
                let (m, p) = sample_request(&r.key.value);
                let arn = lambda.arn(&m, &p);
                (!answer.allows(&arn)).then(|| format!("{} ({arn})", r.key.value))
            })
            .collect();
        if !denied.is_empty() && allowed {
            let _ = writeln!(
                out,
                "note: this answer is cached for {}s per identity and reused for every route of `{name}`; it would deny: {}. Return a wildcard Resource or add $context.routeKey to identity_source.",
                settings.result_ttl.as_secs(),
                denied.join("; ")
            );
        }
    }
    Ok((out, allowed))
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

/// The development issuer's JWKS (JSON text) and public key (PEM) for `config`
/// (`portcullis token --print-jwks`, `--print-pem`).
pub fn dev_issuer_keys(config: &Config) -> Result<(String, String), String> {
    let registry = Registry::for_check(config).map_err(|e| e.to_string())?;
    let dev = registry.dev_issuer(config)?;
    Ok((dev.jwks().to_string(), dev.public_key_pem()))
}

/// Whether some `issuer: dev` authorizer of `config` accepts tokens for `audience`.
pub fn dev_audience_accepted(config: &Config, audience: &str) -> bool {
    config.authorizers.values().any(|authorizer| match authorizer {
        AuthorizerConfig::Jwt(jwt) => {
            matches!(jwt.issuer, portcullis_config::Issuer::Dev)
                && (jwt.audience.is_empty() || jwt.audience.iter().any(|a| a == audience))
        }
        AuthorizerConfig::Lambda(_) => false,
    })
}

/// Run function `name` once with `event` and return its raw result (`portcullis invoke`). The
/// function gets a fresh instance, exactly as the gateway would start it.
pub async fn invoke_once(config: &Config, name: &str, event: bytes::Bytes) -> Result<bytes::Bytes, String> {
    let function =
        config.functions.get(name).ok_or_else(|| format!("no function `{name}` in {}", config.origin))?;
    let settings = crate::registry::function_settings(config, name, function);
    let options = portcullis_functions::FunctionsOptions {
        state_dir: crate::registry::functions_state_dir(config),
        account_id: config.account_id.clone(),
    };
    let functions =
        portcullis_functions::Functions::start([settings], options).await.map_err(|e| e.to_string())?;
    let invoker = functions.invoker(name).ok_or_else(|| format!("function `{name}` did not start"))?;
    let result = invoker.invoke(event, "portcullis-invoke").await.map_err(|e| e.to_string());
    functions.shutdown().await;
    result
}

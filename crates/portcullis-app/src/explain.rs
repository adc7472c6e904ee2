//! `portcullis explain`: one request through the real pipeline's route and authorize stages,
//! with every check written down. The snapshot is compiled exactly as `serve` compiles it (a
//! Lambda authorizer's function is started, an issuer's keys are fetched), and the decision is
//! the pipeline's own ([`portcullis_pipeline::explain`]): explain and serve cannot disagree.

use std::any::Any;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use portcullis_authz::lambda::{LambdaAuthorizer, LambdaSettings};
use portcullis_authz::{Authorizer, JwtAuthorizer, Sibling};
use portcullis_config::Config;
use portcullis_core::Variable;
use portcullis_functions::{FunctionSettings, Invoker};
use portcullis_integration::http::HttpClient;
use portcullis_jwks::{DevIssuer, KeySource, KeyStore};
use portcullis_pipeline::{Access, Snapshot};
use portcullis_route::{MethodSel, RouteKey};

use crate::compile::{self, CompileError};
use crate::registry::Registry;
use crate::resources::{ResourceError, Resources};

/// Why no explanation could be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The config does not compile, or a resource failed.
    #[error("{0}")]
    Compile(#[from] CompileError),
    /// The route key is not valid or not configured.
    #[error("{0}")]
    Route(String),
}

/// What to explain: one request to one route.
#[derive(Debug, Clone, Default)]
pub struct ExplainRequest {
    /// The route key, e.g. `GET /pets/{id}`.
    pub route_key: String,
    /// The token, placed where the route's authorizer looks for it first (for a header source
    /// `Bearer ` is added unless present); none for a public route.
    pub token: Option<String>,
    /// The request path; default: the route's path with the braces removed.
    pub path: Option<String>,
    /// Extra request headers (`name: value`), e.g. further identity sources.
    pub headers: Vec<(String, String)>,
    /// Lambda authorizers: first send the same identity to this path, as an earlier request
    /// would have, so that the explained request reuses that cached answer.
    pub cached_from: Option<String>,
}

/// The decision and its checks.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Every check, one per line, and the decision.
    pub text: String,
    /// Whether the request would reach its integration.
    pub allowed: bool,
    /// The status a client would get when denied (the one table's answer).
    pub status: Option<u16>,
    /// The denial's reason code.
    pub reason: Option<&'static str>,
}

/// Explains `request` on `config`.
///
/// # Errors
/// An unknown or invalid route key; a config that does not compile.
pub async fn explain(config: &Config, request: &ExplainRequest) -> Result<Explanation, ExplainError> {
    // Compiled as serving compiles it. Only the function the route's authorizer invokes is
    // started; every other function is a stand-in (explain never reaches an integration).
    let wanted = compile::authorizer_function(config, &request.route_key).map_err(ExplainError::Route)?;
    let process = compile::process(config);
    let mut started = process.clone();
    started.functions.retain(|f| Some(&f.name) == wanted.as_ref());
    let registry = Registry::new(&started).map_err(CompileError::from)?;
    let resources = ExplainResources { registry: &registry, all: &process.functions };
    let result = explain_with(config, request, &resources, &started).await;
    registry.shutdown().await;
    result
}

/// The live registry for what explain starts, stand-ins for the functions it does not.
struct ExplainResources<'a> {
    registry: &'a Registry,
    all: &'a [FunctionSettings],
}

impl Resources for ExplainResources<'_> {
    fn http_client(&self, ca_file: Option<&std::path::Path>) -> Result<HttpClient, ResourceError> {
        self.registry.http_client(ca_file)
    }

    fn key_store(&self, source: KeySource) -> Result<Arc<KeyStore>, ResourceError> {
        self.registry.key_store(source)
    }

    fn dev_issuer(&self, state_dir: &std::path::Path, issuer: &str) -> Result<Arc<DevIssuer>, ResourceError> {
        self.registry.dev_issuer(state_dir, issuer)
    }

    fn function(&self, name: &str) -> Result<Invoker, ResourceError> {
        match self.registry.invoker(name) {
            Some(invoker) => Ok(invoker),
            None => crate::resources::stand_in(self.all, name),
        }
    }

    fn lambda_authorizer(
        &self,
        settings: LambdaSettings,
        function: Invoker,
    ) -> Result<Arc<LambdaAuthorizer>, ResourceError> {
        if self.registry.invoker(function.name()).is_some() {
            return self.registry.lambda_authorizer(settings, function);
        }
        // The authorizer of another route: built around its stand-in, never invoked.
        let function = Arc::new(function) as Arc<dyn portcullis_authz::lambda::AuthorizerFunction>;
        Ok(Arc::new(LambdaAuthorizer::new(settings, function)?))
    }
}

async fn explain_with(
    config: &Config,
    request: &ExplainRequest,
    resources: &ExplainResources<'_>,
    started: &compile::ProcessSettings,
) -> Result<Explanation, ExplainError> {
    let registry = resources.registry;
    registry.prepare_functions(started).await.map_err(CompileError::from)?;
    let snapshot = compile::snapshot(config, resources)?;
    registry.jwks().start_all();
    let _ = registry.jwks().ready_all(Duration::from_secs(3)).await;
    explain_on(&snapshot, request).await
}

/// Explains `request` on a compiled `snapshot`: what `portcullis explain` prints after
/// compiling the file, and what the admin console's Explain page shows for the live snapshot.
///
/// # Errors
/// [`ExplainError::Route`] for a route key that is not valid or not in the snapshot.
pub async fn explain_on(snapshot: &Snapshot, request: &ExplainRequest) -> Result<Explanation, ExplainError> {
    let key: RouteKey = request.route_key.parse().map_err(|e: portcullis_route::RouteKeyError| {
        ExplainError::Route(format!("{e}{}", nearest_route(snapshot, &request.route_key)))
    })?;
    let plan = snapshot.routes.routes().find(|(k, _)| **k == key).map(|(_, plan)| plan).ok_or_else(|| {
        ExplainError::Route(format!("no route `{key}`{}", nearest_route(snapshot, &request.route_key)))
    })?;
    let (method, sample_path) = sample_request(&key);
    let api = &snapshot.api;
    let path = api.under_stage(request.path.clone().unwrap_or(sample_path));
    let authorizer = match &plan.access {
        Access::Authorizer(route) => Some(route),
        Access::Public => None,
    };
    let identity = authorizer.and_then(|route| first_identity_source(route.authorizer.as_ref()));
    let mut out = String::new();
    let _ = writeln!(out, "route: {key}");
    match authorizer {
        Some(route) => {
            let _ = writeln!(out, "authorizer: {} ({})", route.name, kind(route.authorizer.as_ref()));
        }
        None => {
            let _ = writeln!(out, "authorizer: none (public route)");
        }
    }
    let siblings = siblings(snapshot, authorizer.map(|route| &*route.name), &key);
    if let Some(earlier) = &request.cached_from {
        let earlier = api.under_stage(earlier.clone());
        let parts = request_parts(&method, &earlier, request, identity.as_ref())?;
        let first = portcullis_pipeline::explain(snapshot, parts, Vec::new()).await;
        let _ = writeln!(out, "earlier request: {method} {earlier}: {}", verdict(&first));
    }
    let parts = request_parts(&method, &path, request, identity.as_ref())?;
    let explained = portcullis_pipeline::explain(snapshot, parts, siblings).await;
    let _ = writeln!(out, "request: {method} {path}");
    for step in &explained.steps {
        let _ = writeln!(out, "{step}");
    }
    let _ = writeln!(out, "=> {}", verdict(&explained));
    let (status, reason) = match &explained.outcome {
        Ok(_) => (None, None),
        Err((rejection, denial)) => {
            (Some(rejection.status().as_u16()), denial.as_ref().map(|d| d.reason.as_str()))
        }
    };
    Ok(Explanation { text: out, allowed: explained.allowed(), status, reason })
}

/// The kind of an authorizer as config names it.
pub(crate) fn kind(authorizer: &dyn Authorizer) -> &'static str {
    let any: &dyn Any = authorizer;
    if any.is::<JwtAuthorizer>() {
        "jwt"
    } else if any.is::<LambdaAuthorizer>() {
        "lambda"
    } else {
        "custom"
    }
}

/// `allow`, or `deny <reason> (<status> <text>): <detail>` with the status from the one table.
fn verdict(explained: &portcullis_pipeline::Explained) -> String {
    match &explained.outcome {
        Ok(_) => "allow".to_owned(),
        Err((rejection, Some(denial))) => format!(
            "deny {} ({} {}): {}",
            denial.reason,
            rejection.status().as_u16(),
            rejection.status().canonical_reason().unwrap_or(""),
            denial.detail
        ),
        Err((rejection, None)) => format!("{} ({})", rejection.kind(), rejection.status().as_u16()),
    }
}

/// Other routes of the same authorizer, with the ARN a request to each has.
fn siblings(snapshot: &Snapshot, authorizer: Option<&str>, key: &RouteKey) -> Vec<Sibling> {
    let Some(name) = authorizer else { return Vec::new() };
    let api = &snapshot.api;
    snapshot
        .routes
        .routes()
        .filter(|(k, plan)| {
            *k != key && matches!(&plan.access, Access::Authorizer(route) if &*route.name == name)
        })
        .map(|(k, _)| {
            let (method, path) = sample_request(k);
            let arn = portcullis_authz::policy::method_arn(api, method.as_str(), &path);
            Sibling { route_key: k.to_string(), arn }
        })
        .collect()
}

/// Where the authorizer looks for its token first, and whether it is a JWT authorizer (a
/// header source then gets `Bearer `).
fn first_identity_source(authorizer: &dyn Authorizer) -> Option<(Variable, bool)> {
    let any: &dyn Any = authorizer;
    if let Some(jwt) = any.downcast_ref::<JwtAuthorizer>() {
        return jwt.settings().identity_source.first().map(|v| (v.clone(), true));
    }
    let lambda = any.downcast_ref::<LambdaAuthorizer>()?;
    lambda.settings().identity_source.first().map(|v| (v.clone(), false))
}

/// A request to `path` carrying the token where the authorizer looks first, plus the extra
/// headers.
fn request_parts(
    method: &http::Method,
    path: &str,
    request: &ExplainRequest,
    identity: Option<&(Variable, bool)>,
) -> Result<http::request::Parts, ExplainError> {
    let mut builder = Request::builder().method(method.clone()).header(http::header::HOST, "localhost");
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let mut uri = path.to_owned();
    if let (Some(token), Some((source, jwt))) = (&request.token, identity) {
        match source {
            Variable::Header(header) => {
                let bearer = *jwt && !token.to_ascii_lowercase().starts_with("bearer ");
                let value = if bearer { format!("Bearer {token}") } else { token.clone() };
                builder = builder.header(header, value);
            }
            Variable::Query(name) => uri = format!("{path}?{name}={token}"),
            Variable::Cookie(name) => {
                builder = builder.header(http::header::COOKIE, format!("{name}={token}"))
            }
            _ => {}
        }
    }
    let built = builder.uri(uri).body(()).map_err(|e| ExplainError::Route(e.to_string()))?;
    Ok(built.into_parts().0)
}

/// A method and path that `key` matches: its method (GET for `ANY` and `$default`) and its path
/// with the braces of variables removed (`/pets/{id}` -> `/pets/id`).
fn sample_request(key: &RouteKey) -> (http::Method, String) {
    let method = match key.method() {
        Some(MethodSel::Method(m)) => m.clone(),
        _ => http::Method::GET,
    };
    let path = match key {
        RouteKey::Route { path, .. } => path.as_str().replace(['{', '}', '+'], ""),
        RouteKey::Default => "/".to_owned(),
    };
    (method, path)
}

/// `; did you mean `KEY`?` for the configured route key closest to `written`, or nothing.
fn nearest_route(snapshot: &Snapshot, written: &str) -> String {
    let keys: Vec<String> = snapshot.routes.routes().map(|(k, _)| k.to_string()).collect();
    compile::suggestion(written, &keys)
}

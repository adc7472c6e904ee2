//! `Config` -> runtime objects: the only code that reads a [`Config`].
//!
//! Two steps, because long-lived objects must exist before a snapshot can use them:
//! 1. [`process`] derives the typed settings of what outlives a configuration (HTTP clients,
//!    JWKS caches, function pools), and [`serving`] those of the listeners; the registry and
//!    the lifecycle take only these typed values;
//! 2. [`snapshot`] compiles routes, authorizers, integrations, rules and mappings into the
//!    immutable [`Snapshot`] the pipeline reads, asking a [`Resources`] provider for the
//!    long-lived objects: the live registry when serving, a dry run for `portcullis check`.
//!
//! Each kind is reached by exactly one arm here (`authorizers`, `integrations`); the runtime
//! crates take their own settings types and never see the config's.

mod authorizers;
mod edge;
mod functions;
mod integrations;
mod restart;
mod rules;
mod serving;
mod views;

use std::sync::Arc;

use portcullis_config::{Config, ConfigError, ConfigErrors, RouteConfig};
use portcullis_core::ApiIdentity;
use portcullis_functions::{FunctionSettings, FunctionsOptions};
use portcullis_integration::http::ClientOptions;
use portcullis_jwks::JwksOptions;
use portcullis_pipeline::{RequestLimits, RequestMapping, ResponseMapping, RouteExtras, RoutePlan, Snapshot};
use portcullis_route::RouteTableBuilder;

pub(crate) use functions::dev_issuer;
pub use restart::RestartOnly;
pub use serving::{AdminTokenSourceAt, Serving, TlsFiles, admin_token_source, serving};
pub use views::{
    Basics, SampleAuthorizer, SampleRoute, SampleRouteError, authorizer_function, basics,
    dev_audience_accepted, developing, route_table, sample_host, sample_route, suggestion, summary, warnings,
};

use crate::resources::{ResourceError, Resources};

/// Why a configuration could not be compiled into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// Problems with the configuration, each at its position.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A resource the configuration needs could not be created, through no fault of the file
    /// (an exit status 1 problem, not 2).
    #[error(transparent)]
    Resource(#[from] ResourceError),
}

/// The typed settings of everything that outlives one configuration.
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// The upstream HTTP client.
    pub client: ClientOptions,
    /// Key-set lifetimes (process-wide: key stores are shared by every authorizer of an
    /// issuer; the most conservative `cache:` of the JWT authorizers applies).
    pub jwks: JwksOptions,
    /// The functions to run.
    pub functions: Vec<FunctionSettings>,
    /// Where their bootstraps go, the account in their ARNs.
    pub functions_options: FunctionsOptions,
    /// Functions with `watch: true`: recycled whenever a file under their `dir` changes.
    pub watched: Vec<String>,
    /// `state_dir`, created (with a `.gitignore`) before anything is written in it.
    pub state_dir: std::path::PathBuf,
    /// `shared_state`: the Redis replicas share.
    pub shared: Option<portcullis_shared::SharedSettings>,
    /// `revocation`.
    pub revocation: portcullis_config::RevocationConfig,
    /// Where the config came from (a file name), for messages.
    pub origin: String,
}

/// Key-set lifetimes: the most conservative `cache:` of the JWT authorizers.
pub fn process_jwks(config: &Config) -> JwksOptions {
    let mut jwks = JwksOptions::default();
    for authorizer in config.authorizers.values() {
        if let portcullis_config::AuthorizerConfig::Jwt(jwt) = authorizer {
            jwks.default_ttl = jwks.default_ttl.min(jwt.cache.jwks_refresh);
            jwks.max_staleness = jwks.max_staleness.min(jwt.cache.jwks_max_stale);
        }
    }
    jwks.min_ttl = jwks.min_ttl.min(jwks.default_ttl);
    jwks
}

/// The settings of the long-lived objects `config` needs.
pub fn process(config: &Config) -> ProcessSettings {
    let jwks = process_jwks(config);
    let client = ClientOptions {
        max_connections_per_origin: usize::try_from(config.limits.upstream_max_connections)
            .unwrap_or(usize::MAX),
        max_pending_per_origin: usize::try_from(config.limits.upstream_max_pending).unwrap_or(usize::MAX),
        ..ClientOptions::default()
    };
    ProcessSettings {
        client,
        jwks,
        functions: config.functions.iter().map(|(name, f)| functions::settings(config, name, f)).collect(),
        functions_options: functions::options(config),
        watched: config.functions.iter().filter(|(_, f)| f.watch).map(|(name, _)| name.clone()).collect(),
        state_dir: config.state_dir.clone(),
        shared: config.shared_state.as_ref().map(|shared| portcullis_shared::SharedSettings {
            urls: shared.redis.clone(),
            key_prefix: shared.key_prefix.clone(),
            timeout: shared.timeout,
            on_unavailable: match shared.on_unavailable {
                portcullis_config::OnUnavailable::Local => portcullis_shared::OnUnavailable::Local,
                portcullis_config::OnUnavailable::Deny => portcullis_shared::OnUnavailable::Deny,
            },
        }),
        revocation: config.revocation,
        origin: config.origin.clone(),
    }
}

/// The snapshot of `config`, with long-lived objects from `resources`. Every problem found is
/// reported, positioned at the config element it comes from.
///
/// # Errors
/// [`CompileError::Config`] with every positioned problem, or [`CompileError::Resource`] when
/// a resource failed for a reason that is not the file's.
pub fn snapshot(config: &Config, resources: &dyn Resources) -> Result<Snapshot, CompileError> {
    let mut errors = Vec::new();
    let authorizers = authorizers::all(config, resources, &mut errors)?;
    let api = api_identity(config);
    let mut table = RouteTableBuilder::new();
    for route in &config.routes {
        let rules = rules::compile(
            config,
            &format!("routes.\"{}\".rules", route.key.value),
            &route.rules,
            &mut errors,
        );
        let Some(integration) = integrations::compile(config, route, resources, &mut errors)? else {
            continue;
        };
        let Some(access) = authorizers::access(route, &authorizers) else {
            // The authorizer failed to compile; its own error is already recorded.
            continue;
        };
        let extras = RouteExtras {
            mapping: (!route.parameter_mapping.is_empty())
                .then(|| RequestMapping::new(&route.parameter_mapping, &api)),
            response_mapping: (!route.response_parameters.is_empty())
                .then(|| ResponseMapping::new(&route.response_parameters, &api)),
            cors: route.cors.as_ref().map(edge::cors),
            throttle: edge::route_throttle(route, resources),
        };
        let plain = extras.mapping.is_none()
            && extras.response_mapping.is_none()
            && extras.cors.is_none()
            && extras.throttle.is_none();
        let extras = (!plain).then(|| Box::new(extras));
        let key: Arc<str> = Arc::from(route.key.value.to_string());
        let plan = Arc::new(RoutePlan { key, access, rules, extras, integration });
        // The table keeps its own copies of the key's names (see `heap`).
        if let Err(duplicate) = table.insert(route.key.value.clone(), plan) {
            errors.push(error_at(config, route, duplicate.to_string()));
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    let (has_cors, preflight_mode) = edge::cors_mode(config);
    Ok(Snapshot {
        routes: table.build(),
        limits: RequestLimits {
            max_body: config.limits.max_body,
            max_header_bytes: usize::try_from(config.limits.max_header_bytes).unwrap_or(usize::MAX),
        },
        debug_headers: config.debug_headers,
        cors: config.cors.as_ref().map(edge::cors),
        has_cors,
        preflight_mode,
        throttle: edge::api_limit(config, resources),
        api,
    })
}

/// The `region`, `account_id`, `api_id`, stage and stage variables of `config`: what ARNs,
/// events and mappings share.
pub fn api_identity(config: &Config) -> ApiIdentity {
    ApiIdentity {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        api_id: config.api_id.clone(),
        stage: config.stage.clone(),
        domain: None,
        stage_variables: config.stage_variables.clone(),
    }
}

fn error_at(config: &Config, route: &RouteConfig, problem: String) -> ConfigError {
    ConfigError::at(config.origin.clone(), route.key.span, format!("routes.\"{}\"", route.key.value), problem)
}

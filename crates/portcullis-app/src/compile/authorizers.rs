//! `authorizers:` -> ready-to-call authorizers, one per configured name, shared by every route
//! that uses it: one arm per kind. Key stores and Lambda authorizers come from the
//! [`Resources`] provider, so authorizers with the same issuer share one JWKS cache and a
//! reload keeps caches warm.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use portcullis_authz::lambda::{LambdaEvent, LambdaSettings, TokenPattern};
use portcullis_authz::{Algorithm, Authorizer, JwtAuthorizer, JwtSettings, RouteAuth};
use portcullis_config::{
    AuthorizerConfig, AuthorizerEvent, Compat, Config, ConfigError, Issuer, JwtAuthorizerConfig,
    KeySource as KeyConfig, LambdaAuthorizerConfig, PayloadFormatVersion, RouteConfig,
};
use portcullis_jwks::KeySource;
use portcullis_pipeline::{Access, RouteAuthorizer};
use portcullis_rules::RuleSet;

use super::{api_identity, functions, rules};
use crate::resources::{ResourceError, Resources};

/// One compiled authorizer and the rules checked after it allowed a request.
pub(crate) struct Compiled {
    name: Arc<str>,
    authorizer: Arc<dyn Authorizer>,
    rules: Option<Arc<RuleSet>>,
}

/// Compiles every configured authorizer; positioned problems are pushed to `errors`.
///
/// # Errors
/// A [`ResourceError`] that is not the configuration's fault.
pub(crate) fn all(
    config: &Config,
    resources: &dyn Resources,
    errors: &mut Vec<ConfigError>,
) -> Result<HashMap<String, Compiled>, ResourceError> {
    let mut compiled = HashMap::new();
    for (name, authorizer) in &config.authorizers {
        let at = |problem: String| {
            ConfigError::at(
                config.origin.clone(),
                config.authorizer_spans.get(name).copied().unwrap_or_default(),
                format!("authorizers.{name}"),
                problem,
            )
        };
        let built = match authorizer {
            AuthorizerConfig::Jwt(jwt) => jwt_authorizer(config, resources, name, jwt).map(|a| {
                let rules = rules::compile(config, &format!("authorizers.{name}.rules"), &jwt.rules, errors);
                (a, rules)
            }),
            AuthorizerConfig::Lambda(lambda) => {
                lambda_authorizer(config, resources, name, lambda).map(|a| (a, None))
            }
        };
        match built {
            Ok((authorizer, rules)) => {
                compiled.insert(name.clone(), Compiled { name: Arc::from(name.as_str()), authorizer, rules });
            }
            Err(Problem::Config(problem)) => errors.push(at(problem)),
            Err(Problem::Resource(error)) if error.is_about_config() => errors.push(at(error.to_string())),
            Err(Problem::Resource(error)) => return Err(error),
        }
    }
    Ok(compiled)
}

/// The access requirement of `route`: public, or its authorizer with the route's scopes.
/// `None` when the authorizer did not compile.
pub(crate) fn access(route: &RouteConfig, compiled: &HashMap<String, Compiled>) -> Option<Access> {
    let Some(name) = &route.authorizer else { return Some(Access::Public) };
    let authorizer = compiled.get(name)?;
    Some(Access::Authorizer(Box::new(RouteAuthorizer {
        name: Arc::clone(&authorizer.name),
        authorizer: Arc::clone(&authorizer.authorizer),
        route: RouteAuth { scopes: route.scopes.clone().into() },
        rules: authorizer.rules.clone(),
    })))
}

/// Why one authorizer did not compile.
enum Problem {
    /// A problem with what the config says.
    Config(String),
    /// A resource failed.
    Resource(ResourceError),
}

impl From<ResourceError> for Problem {
    fn from(error: ResourceError) -> Self {
        Problem::Resource(error)
    }
}

fn jwt_authorizer(
    config: &Config,
    resources: &dyn Resources,
    name: &str,
    jwt: &JwtAuthorizerConfig,
) -> Result<Arc<dyn Authorizer>, Problem> {
    let (issuer, source) = match (&jwt.issuer, &jwt.keys) {
        (Issuer::Dev, _) => {
            let (state_dir, url) = functions::dev_issuer(config);
            let dev = resources.dev_issuer(&state_dir, &url)?;
            (dev.issuer().to_owned(), dev.key_source())
        }
        (Issuer::Url { exact, .. }, KeyConfig::Discovery) => {
            (exact.clone(), KeySource::Discovery { issuer: exact.clone() })
        }
        (Issuer::Url { exact, .. }, KeyConfig::JwksUri(url)) => {
            (exact.clone(), KeySource::JwksUri(url.clone()))
        }
        (Issuer::Url { exact, .. }, KeyConfig::JwksFile(path)) => {
            (exact.clone(), KeySource::JwksFile(path.clone()))
        }
        (Issuer::Url { exact, .. }, KeyConfig::PublicKeyFile(path)) => {
            (exact.clone(), KeySource::PublicKeyPem(path.clone()))
        }
    };
    let store = resources.key_store(source)?;
    let mut settings = JwtSettings::new(issuer, jwt.audience.clone());
    settings.name = name.to_owned();
    settings.identity_source = jwt.identity_source.clone();
    settings.algorithms = jwt
        .algorithms
        .iter()
        .map(|alg| {
            Algorithm::from_str(alg.as_str())
                .map_err(|e| Problem::Config(format!("algorithm {}: {e}", alg.as_str())))
        })
        .collect::<Result<_, _>>()?;
    settings.leeway = jwt.leeway;
    settings.forward_claims = jwt.forward_claims.iter().map(|(h, c)| (h.clone(), c.clone())).collect();
    settings.compat_aws = config.compat == Compat::Aws;
    settings.token_cache_capacity = jwt.cache.max_tokens;
    let mut authorizer = JwtAuthorizer::new(settings, store).map_err(|e| Problem::Config(e.to_string()))?;
    if config.revocation.enabled {
        authorizer = authorizer.with_revocations(resources.revocations());
    }
    Ok(Arc::new(authorizer))
}

fn lambda_authorizer(
    config: &Config,
    resources: &dyn Resources,
    name: &str,
    lambda: &LambdaAuthorizerConfig,
) -> Result<Arc<dyn Authorizer>, Problem> {
    let event = match lambda.event {
        AuthorizerEvent::Token => LambdaEvent::Token,
        AuthorizerEvent::Request { payload_format_version: PayloadFormatVersion::V1 } => {
            LambdaEvent::RequestV1
        }
        AuthorizerEvent::Request { payload_format_version: PayloadFormatVersion::V2 } => {
            LambdaEvent::RequestV2
        }
    };
    let mut settings = LambdaSettings::new(name, event);
    settings.simple_responses = lambda.simple_responses;
    settings.identity_source = lambda.identity_source.clone();
    settings.result_ttl = lambda.result_ttl;
    settings.token_validation = lambda.token_validation.as_ref().map(|t| TokenPattern(t.regex.clone()));
    settings.forward_context = lambda.forward_context.iter().map(|(h, k)| (h.clone(), k.clone())).collect();
    settings.api = api_identity(config);
    settings.shared_cache = lambda.cache == portcullis_config::AnswerCache::Shared;
    let function = resources.function(&lambda.function)?;
    Ok(resources.lambda_authorizer(settings, function)?)
}

//! Authorizers: config -> ready-to-call authorizers, one per configured name, shared by every
//! route that uses it. Key stores come from the registry, so authorizers with the same issuer
//! share one JWKS cache, and a reload keeps it warm.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use portcullis_authz::lambda::{LambdaAuthorizer, LambdaEvent, LambdaIdentity, LambdaSettings};
use portcullis_authz::{Algorithm, Authorizer, IdentitySource, JwtAuthorizer, JwtSettings};
use portcullis_config::{
    AuthorizerConfig, AuthorizerEvent, Compat, Config, ConfigError, IdentitySource as IdentityConfig, Issuer,
    JwtAuthorizerConfig, KeySource as KeyConfig, LambdaAuthorizerConfig, PayloadFormatVersion, Span, Spanned,
};
use portcullis_jwks::KeySource;
use portcullis_rules::{Rule, RuleSet};

use crate::registry::Registry;

/// One compiled authorizer: the trait object the pipeline calls and the concrete type
/// `portcullis explain` needs.
#[derive(Clone)]
pub(crate) struct Compiled {
    pub(crate) dynamic: Arc<dyn Authorizer>,
    pub(crate) jwt: Option<Arc<JwtAuthorizer>>,
    pub(crate) lambda: Option<Arc<LambdaAuthorizer>>,
    /// `rules:` of a JWT authorizer, checked after it allowed a request.
    pub(crate) rules: Option<Arc<RuleSet>>,
}

/// Compile every configured authorizer; problems are pushed to `errors`.
pub(crate) fn all(
    config: &Config,
    registry: &Registry,
    errors: &mut Vec<ConfigError>,
) -> HashMap<String, Compiled> {
    let mut compiled = HashMap::new();
    for (name, authorizer) in &config.authorizers {
        let at = |problem: String| {
            ConfigError::at(
                config.origin.clone(),
                config.authorizer_spans.get(name).copied().unwrap_or(Span { line: 1, column: 1 }),
                format!("authorizers.{name}"),
                problem,
            )
        };
        match authorizer {
            AuthorizerConfig::Jwt(jwt) => match jwt_authorizer(config, registry, name, jwt) {
                Ok(authorizer) => {
                    let authorizer = Arc::new(authorizer);
                    compiled.insert(
                        name.clone(),
                        Compiled {
                            dynamic: Arc::clone(&authorizer) as Arc<dyn Authorizer>,
                            jwt: Some(authorizer),
                            lambda: None,
                            rules: compile_rules(
                                config,
                                &format!("authorizers.{name}.rules"),
                                &jwt.rules,
                                errors,
                            ),
                        },
                    );
                }
                Err(problem) => errors.push(at(problem)),
            },
            AuthorizerConfig::Lambda(lambda) => match lambda_authorizer(config, registry, name, lambda) {
                Ok(authorizer) => {
                    compiled.insert(
                        name.clone(),
                        Compiled {
                            dynamic: Arc::clone(&authorizer) as Arc<dyn Authorizer>,
                            jwt: None,
                            lambda: Some(authorizer),
                            rules: None,
                        },
                    );
                }
                Err(problem) => errors.push(at(problem)),
            },
        }
    }
    compiled
}

fn jwt_authorizer(
    config: &Config,
    registry: &Registry,
    name: &str,
    jwt: &JwtAuthorizerConfig,
) -> Result<JwtAuthorizer, String> {
    let (issuer, source) = match (&jwt.issuer, &jwt.keys) {
        (Issuer::Dev, _) => {
            let dev = registry.dev_issuer(config)?;
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
    let store = registry.key_store(source)?;
    let mut settings = JwtSettings::new(issuer, jwt.audience.clone());
    settings.name = name.to_owned();
    settings.identity_source = jwt
        .identity_source
        .iter()
        .map(|source| match source {
            IdentityConfig::Header(header) => Ok(IdentitySource::Header(header.clone())),
            IdentityConfig::QueryString(name) => Ok(IdentitySource::Query(name.clone())),
            IdentityConfig::Cookie(name) => Ok(IdentitySource::Cookie(name.clone())),
            other => Err(format!("identity source {other} cannot carry a JWT")),
        })
        .collect::<Result<_, _>>()?;
    settings.algorithms = jwt
        .algorithms
        .iter()
        .map(|alg| Algorithm::from_str(alg.as_str()).map_err(|e| format!("algorithm {}: {e}", alg.as_str())))
        .collect::<Result<_, _>>()?;
    settings.leeway = jwt.leeway;
    settings.forward_claims = jwt.forward_claims.iter().map(|(h, c)| (h.clone(), c.clone())).collect();
    settings.compat_aws = config.compat == Compat::Aws;
    settings.token_cache_capacity = jwt.cache.max_tokens;
    JwtAuthorizer::new(settings, store).map_err(|e| e.to_string())
}

fn lambda_authorizer(
    config: &Config,
    registry: &Registry,
    name: &str,
    lambda: &LambdaAuthorizerConfig,
) -> Result<Arc<LambdaAuthorizer>, String> {
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
    settings.identity_source = lambda
        .identity_source
        .iter()
        .map(|source| match source {
            IdentityConfig::Header(header) => LambdaIdentity::Header(header.clone()),
            IdentityConfig::QueryString(name) => LambdaIdentity::Query(name.clone()),
            IdentityConfig::Cookie(name) => LambdaIdentity::Cookie(name.clone()),
            IdentityConfig::Context(variable) => LambdaIdentity::Context(*variable),
            IdentityConfig::StageVariable(name) => LambdaIdentity::StageVariable(name.clone()),
        })
        .collect();
    settings.result_ttl = lambda.result_ttl;
    settings.token_validation = lambda.token_validation.as_ref().map(|t| t.regex.clone());
    settings.forward_context = lambda.forward_context.iter().map(|(h, k)| (h.clone(), k.clone())).collect();
    settings.api = crate::compile::api_identity(config);
    registry.lambda_authorizer(settings, &lambda.function)
}

/// Compile `rules:` (CEL) once at load; a syntax or type error is a config error at the rule's
/// position (the line within a multi-line rule added, the column given within the rule).
pub(crate) fn compile_rules(
    config: &Config,
    path: &str,
    rules: &[Spanned<String>],
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<RuleSet>> {
    if rules.is_empty() {
        return None;
    }
    let mut compiled = Vec::with_capacity(rules.len());
    for (index, rule) in rules.iter().enumerate() {
        match Rule::compile(rule) {
            Ok(rule) => compiled.push(rule),
            Err(e) => {
                let span = Span { line: rule.span.line + e.line.saturating_sub(1), column: rule.span.column };
                errors.push(ConfigError::at(
                    config.origin.clone(),
                    span,
                    format!("{path}[{index}]"),
                    format!(
                        "invalid rule {:?}: {} (at line {}, column {} of the rule)",
                        rule.value, e.message, e.line, e.column
                    ),
                ));
            }
        }
    }
    (compiled.len() == rules.len()).then(|| Arc::new(RuleSet::new(compiled)))
}

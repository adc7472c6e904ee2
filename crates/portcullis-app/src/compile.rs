//! `Config` -> `Snapshot`: the dull, explicit mapping from validated config to ready-to-call
//! runtime objects. Every runtime crate takes its own typed settings; this is the only place
//! that knows both vocabularies.

use std::sync::Arc;

use bytes::Bytes;
use portcullis_authz::RouteAuth;
use portcullis_config::{Config, ConfigError, ConfigErrors, Integration as IntegrationConfig, RouteConfig};
use portcullis_core::ApiIdentity;
use portcullis_integration::Integration;
use portcullis_integration::function::{FunctionIntegration, FunctionIntegrationSettings, PayloadFormat};
use portcullis_integration::http::{
    HttpIntegration, HttpSettings, HttpVersion, PathPart, Scheme, UpstreamTarget,
};
use portcullis_integration::respond::RespondIntegration;
use portcullis_pipeline::{
    Access, MappingError, RequestLimits, RequestMapping, RouteAuthorizer, RoutePlan, Snapshot,
};
use portcullis_route::{RouteKey, RouteTableBuilder};

use crate::registry::Registry;

/// Build the snapshot for `config`, reusing long-lived state from `registry`. Every problem
/// found is reported, positioned at the config element it comes from.
pub fn snapshot(config: &Config, registry: &Registry) -> Result<Snapshot, ConfigErrors> {
    let mut errors = Vec::new();
    let authorizers = crate::compile_authorizers::all(config, registry, &mut errors);
    let mut table = RouteTableBuilder::new();
    for route in &config.routes {
        let rules = if route.rules.is_empty() {
            None
        } else {
            crate::compile_authorizers::compile_rules(
                config,
                &format!("routes.\"{}\".rules", route.key.value),
                &route.rules,
                &mut errors,
            )
        };
        let Some(integration) = integration(config, route, registry, &mut errors) else {
            continue;
        };
        let access = match &route.authorizer {
            None => Access::Public,
            Some(name) => match authorizers.get(name) {
                Some(authorizer) => Access::Authorizer(Box::new(RouteAuthorizer {
                    name: Arc::from(name.as_str()),
                    authorizer: Arc::clone(&authorizer.dynamic),
                    route: RouteAuth { scopes: route.scopes.clone().into() },
                    rules: authorizer.rules.clone(),
                })),
                // The authorizer failed to compile; its own error is already recorded.
                None => continue,
            },
        };
        let Some(mapping) = mapping(config, route, &mut errors) else {
            continue;
        };
        let key_text: Arc<str> = Arc::from(route.key.value.to_string());
        let plan = Arc::new(RoutePlan { key: key_text, access, rules, mapping, integration });
        // The table keeps its own copies of the key's names (see `heap`).
        if let Err(duplicate) = table.insert(route.key.value.clone(), plan) {
            errors.push(error_at(config, route, duplicate.to_string()));
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Snapshot {
        routes: table.build(),
        limits: RequestLimits {
            max_body: config.limits.max_body,
            max_header_bytes: usize::try_from(config.limits.max_header_bytes).unwrap_or(usize::MAX),
        },
        debug_headers: config.debug_headers,
    })
}

/// Compiles the route's `parameter_mapping` (spec §5.2); `Some(None)` when it has none, `None`
/// after recording an error positioned at the offending character of the value.
fn mapping(
    config: &Config,
    route: &RouteConfig,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<Box<RequestMapping>>> {
    if route.parameter_mapping.is_empty() {
        return Some(None);
    }
    // Stage variables are not configurable yet; `$stageVariables.x` is then an error naming x.
    let env = api_identity(config);
    let entries = route.parameter_mapping.iter().map(|(k, v)| (k.value.as_str(), v.value.as_str()));
    match RequestMapping::compile(entries, &env) {
        Ok(mapping) => Some(Some(Box::new(mapping))),
        Err((index, error)) => {
            let (key, value) = &route.parameter_mapping[index];
            let path = format!("routes.\"{}\".parameter_mapping.{:?}", route.key.value, key.value);
            let (span, hint) = match &error {
                MappingError::Value { offset, hint, .. } => (
                    portcullis_config::Span { line: value.span.line, column: value.span.column + offset },
                    hint.clone(),
                ),
                _ => (key.span, None),
            };
            let mut e = ConfigError::at(config.origin.clone(), span, path, error.to_string());
            e.suggestion = hint;
            errors.push(e);
            None
        }
    }
}

/// The `region`, `account_id`, `api_id` and `stage` of `config`, for ARNs, events and mapping.
pub(crate) fn api_identity(config: &Config) -> ApiIdentity {
    ApiIdentity {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        api_id: config.api_id.clone(),
        stage: config.stage.clone(),
        ..ApiIdentity::default()
    }
}

fn error_at(config: &Config, route: &RouteConfig, problem: String) -> ConfigError {
    ConfigError::at(config.origin.clone(), route.key.span, format!("routes.\"{}\"", route.key.value), problem)
}

fn integration(
    config: &Config,
    route: &RouteConfig,
    registry: &Registry,
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<dyn Integration>> {
    match &route.integration {
        IntegrationConfig::Http(template) => {
            let client = match registry.http_client(route.upstream_ca.as_deref()) {
                Ok(client) => client,
                Err(problem) => {
                    errors.push(error_at(config, route, format!("upstream_ca: {problem}")));
                    return None;
                }
            };
            let authority = match template.authority.parse() {
                Ok(authority) => authority,
                Err(e) => {
                    errors.push(error_at(config, route, format!("http: invalid host: {e}")));
                    return None;
                }
            };
            let target = UpstreamTarget {
                scheme: match template.scheme {
                    portcullis_config::Scheme::Http => Scheme::Http,
                    portcullis_config::Scheme::Https => Scheme::Https,
                },
                authority,
                path: template
                    .path
                    .iter()
                    .map(|part| match part {
                        portcullis_config::UrlPart::Literal(text) => PathPart::Literal(text.clone()),
                        portcullis_config::UrlPart::Var(name) => PathPart::Var(Arc::from(name.as_str())),
                    })
                    .collect(),
                query: template.query.clone(),
                // spec §5.1: the $default route forwards the full request path.
                append_request_path: matches!(route.key.value, RouteKey::Default),
            };
            let version = match route.http_version {
                portcullis_config::HttpVersion::Auto => HttpVersion::Auto,
                portcullis_config::HttpVersion::Http1 => HttpVersion::Http1,
                portcullis_config::HttpVersion::Http2 => HttpVersion::Http2,
            };
            let settings = HttpSettings { target, timeout: route.timeout, version };
            Some(Arc::new(HttpIntegration::new(&client, settings)))
        }
        IntegrationConfig::Respond(fixed) => Some(Arc::new(RespondIntegration::new(
            fixed.status,
            fixed.headers.clone(),
            Bytes::from(fixed.body.clone()),
        ))),
        IntegrationConfig::Function(name) => {
            let Some(invoker) = registry.invoker(name) else {
                if registry.checking() {
                    // `portcullis check` starts no processes; the reference itself was validated.
                    return Some(Arc::new(RespondIntegration::new(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        http::HeaderMap::new(),
                        Bytes::new(),
                    )));
                }
                errors.push(error_at(config, route, format!("function `{name}` is not running")));
                return None;
            };
            let settings = FunctionIntegrationSettings {
                payload_format: match route.payload_format_version {
                    portcullis_config::PayloadFormatVersion::V1 => PayloadFormat::V1,
                    portcullis_config::PayloadFormatVersion::V2 => PayloadFormat::V2,
                },
                timeout: route.timeout,
                api: api_identity(config),
            };
            Some(Arc::new(FunctionIntegration::new(invoker, settings)))
        }
    }
}

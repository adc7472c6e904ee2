//! A route's integration -> the object the pipeline calls: one arm per kind.

use std::sync::Arc;

use bytes::Bytes;
use portcullis_config::{Config, ConfigError, Integration as IntegrationConfig, RouteConfig};
use portcullis_integration::Integration;
use portcullis_integration::function::{FunctionIntegration, FunctionIntegrationSettings, PayloadFormat};
use portcullis_integration::http::{
    HttpIntegration, HttpSettings, HttpVersion, PathPart, Scheme, UpstreamTarget,
};
use portcullis_integration::respond::RespondIntegration;
use portcullis_route::RouteKey;

use super::{api_identity, error_at};
use crate::resources::{ResourceError, Resources};

/// The integration of `route`; `Ok(None)` after recording a positioned problem.
///
/// # Errors
/// A [`ResourceError`] that is not the configuration's fault.
pub(crate) fn compile(
    config: &Config,
    route: &RouteConfig,
    resources: &dyn Resources,
    errors: &mut Vec<ConfigError>,
) -> Result<Option<Arc<dyn Integration>>, ResourceError> {
    match &route.integration {
        IntegrationConfig::Http(template) => {
            let client = match resources.http_client(route.upstream_ca.as_deref()) {
                Ok(client) => client,
                Err(error) if error.is_about_config() => {
                    errors.push(error_at(config, route, format!("upstream_ca: {error}")));
                    return Ok(None);
                }
                Err(error) => return Err(error),
            };
            let authority = match template.authority.parse() {
                Ok(authority) => authority,
                Err(e) => {
                    errors.push(error_at(config, route, format!("http: invalid host: {e}")));
                    return Ok(None);
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
                // The $default route forwards the full request path.
                append_request_path: matches!(route.key.value, RouteKey::Default),
            };
            let version = match route.http_version {
                portcullis_config::HttpVersion::Auto => HttpVersion::Auto,
                portcullis_config::HttpVersion::Http1 => HttpVersion::Http1,
                portcullis_config::HttpVersion::Http2 => HttpVersion::Http2,
            };
            let settings = HttpSettings { target, timeout: route.timeout, version };
            Ok(Some(Arc::new(HttpIntegration::new(&client, settings))))
        }
        IntegrationConfig::Respond(fixed) => Ok(Some(Arc::new(RespondIntegration::new(
            fixed.status,
            fixed.headers.clone(),
            Bytes::from(fixed.body.clone()),
        )))),
        IntegrationConfig::Function(name) => {
            let invoker = resources.function(name)?;
            let settings = FunctionIntegrationSettings {
                payload_format: match route.payload_format_version {
                    portcullis_config::PayloadFormatVersion::V1 => PayloadFormat::V1,
                    portcullis_config::PayloadFormatVersion::V2 => PayloadFormat::V2,
                },
                timeout: route.timeout,
                api: api_identity(config),
            };
            Ok(Some(Arc::new(FunctionIntegration::new(invoker, settings))))
        }
    }
}

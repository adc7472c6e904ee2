//! Authorizers: config -> `Arc<dyn Authorizer>`, one per configured name, shared by every route
//! that uses it.

use portcullis_config::{Config, ConfigError};

use crate::compile::Authorizers;
use crate::registry::Registry;

/// Compile every configured authorizer; problems are pushed to `errors`.
pub(crate) fn all(
    config: &Config,
    _registry: &Registry,
    errors: &mut Vec<ConfigError>,
) -> Authorizers {
    let compiled = Authorizers::new();
    for (name, _authorizer) in &config.authorizers {
        errors.push(ConfigError::at(
            config.origin.clone(),
            portcullis_config::Span { line: 1, column: 1 },
            format!("authorizers.{name}"),
            "authorizers are not wired into this build yet".to_owned(),
        ));
    }
    compiled
}

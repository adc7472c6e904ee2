//! Views of a config for the command line, outside compilation: its basics (`serve`, `revoke`),
//! its summary and warnings (`check`), the route table as printed, the route a sample request
//! takes (`event`), the function an explain starts, the development overrides and which
//! audiences the development issuer's tokens are for.

use portcullis_config::{AuthorizerConfig, Config, Issuer};

/// The config's own warnings, each with its position, as printed.
pub fn warnings(config: &Config) -> Vec<String> {
    config.warnings.iter().map(ToString::to_string).collect()
}

/// `N routes, N authorizers, N functions`, as `portcullis check` prints it.
pub fn summary(config: &Config) -> String {
    format!(
        "{} routes, {} authorizers, {} functions",
        config.routes.len(),
        config.authorizers.len(),
        config.functions.len()
    )
}

/// `config` as `serve --dev` runs it: every function watched, `debug_headers` on.
pub fn developing(mut config: Config) -> Config {
    config.debug_headers = true;
    for function in config.functions.values_mut() {
        function.watch = true;
    }
    config
}

/// The route table as `serve --dev` prints it at start and `portcullis routes` prints it: each
/// route key in the order the config lists them, with its authorizer, scopes and integration.
pub fn route_table(config: &Config) -> String {
    use std::fmt::Write as _;
    let header = ["route".to_owned(), "authorizer".to_owned(), "scopes".to_owned(), "integration".to_owned()];
    let rows: Vec<[String; 4]> = config
        .routes
        .iter()
        .map(|route| {
            let key = route.key.value.to_string();
            let key =
                if config.stage == "$default" { key } else { format!("{key}  (under /{})", config.stage) };
            let authorizer = route.authorizer.clone().unwrap_or_else(|| "public".to_owned());
            let scopes = if route.scopes.is_empty() { "-".to_owned() } else { route.scopes.join(" ") };
            [key, authorizer, scopes, route.integration.describe()]
        })
        .collect();
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().chain(std::iter::once(&header)).map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{} routes:\n", rows.len());
    for row in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(
            out,
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    out
}

/// Whether some `issuer: dev` authorizer of `config` accepts tokens for `audience`.
pub fn dev_audience_accepted(config: &Config, audience: &str) -> bool {
    config.authorizers.values().any(|authorizer| match authorizer {
        AuthorizerConfig::Jwt(jwt) => {
            matches!(jwt.issuer, Issuer::Dev)
                && (jwt.audience.is_empty() || jwt.audience.iter().any(|a| a == audience))
        }
        AuthorizerConfig::Lambda(_) => false,
    })
}

/// Every route key of `config`, as written.
fn route_keys(config: &Config) -> Vec<String> {
    config.routes.iter().map(|r| r.key.value.to_string()).collect()
}

/// The function the Lambda authorizer of the route `written` invokes (`None` for a route with
/// another authorizer or none), for `portcullis explain`, which starts only that one.
///
/// # Errors
/// The message for a key that is not valid or names no route of `config`, with the nearest
/// route key.
pub fn authorizer_function(config: &Config, written: &str) -> Result<Option<String>, String> {
    let key: portcullis_route::RouteKey = written.parse().map_err(|e: portcullis_route::RouteKeyError| {
        format!("{e}{}", suggestion(written, &route_keys(config)))
    })?;
    let route = config.routes.iter().find(|r| r.key.value == key).ok_or_else(|| {
        format!("no route `{key}` in {}{}", config.origin, suggestion(written, &route_keys(config)))
    })?;
    Ok(route.authorizer.as_ref().and_then(|name| match config.authorizers.get(name) {
        Some(AuthorizerConfig::Lambda(lambda)) => Some(lambda.function.clone()),
        _ => None,
    }))
}

/// `; did you mean `KEY`?` for the route key among `keys` closest to `written`; the list of
/// them when none is close; nothing when there are none.
pub fn suggestion(written: &str, keys: &[String]) -> String {
    match portcullis_core::closest(written, keys.iter().map(String::as_str)) {
        Some(key) => format!("; did you mean `{key}`?"),
        None if keys.is_empty() => String::new(),
        None => format!("; routes: {}", keys.join(", ")),
    }
}

/// What `portcullis event` needs of the route that serves a request: the route's key and path
/// parameters (from the same route selection as serving), its scopes, and its authorizer's
/// kind.
#[derive(Debug, Clone)]
pub struct SampleRoute {
    /// The route key.
    pub key: portcullis_route::RouteKey,
    /// The path parameters of the request.
    pub params: portcullis_core::Params,
    /// `scopes` of the route.
    pub scopes: Vec<String>,
    /// Its authorizer.
    pub authorizer: SampleAuthorizer,
}

/// A route's authorizer, as far as the events it leads to differ.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleAuthorizer {
    /// A public route.
    None,
    /// A JWT authorizer: the event carries the token's claims.
    Jwt,
    /// A Lambda authorizer: the TOKEN event (`payload_format_version` `None`), or the REQUEST
    /// event in that version, with the identity sources it reads.
    Lambda {
        /// `None` for `event: token`.
        payload_format_version: Option<portcullis_config::PayloadFormatVersion>,
        /// `identity_source`.
        identity_source: Vec<portcullis_core::Variable>,
    },
}

/// Why no route of a config takes a sample request.
#[derive(Debug, thiserror::Error)]
pub enum SampleRouteError {
    /// A path the router refuses, as it refuses it when serving.
    #[error(transparent)]
    Path(#[from] portcullis_route::PathError),
    /// No route matches; the config's route keys.
    #[error("no route matches; routes: {}", .routes.join(", "))]
    NoRoute {
        /// The route keys, in the order written.
        routes: Vec<String>,
    },
}

/// The route of `config` that takes `method` on `route_path` (the path under the stage).
///
/// # Errors
/// [`SampleRouteError`].
pub fn sample_route(
    config: &Config,
    method: &http::Method,
    route_path: &str,
) -> Result<SampleRoute, SampleRouteError> {
    let mut table = portcullis_route::RouteTableBuilder::new();
    for (index, route) in config.routes.iter().enumerate() {
        let _ = table.insert(route.key.value.clone(), index);
    }
    let table = table.build();
    let Some(matched) = table.find(method, route_path)? else {
        return Err(SampleRouteError::NoRoute { routes: route_keys(config) });
    };
    let route = &config.routes[*matched.value];
    let authorizer = match route.authorizer.as_ref().and_then(|name| config.authorizers.get(name)) {
        None => SampleAuthorizer::None,
        Some(AuthorizerConfig::Jwt(_)) => SampleAuthorizer::Jwt,
        Some(AuthorizerConfig::Lambda(lambda)) => SampleAuthorizer::Lambda {
            payload_format_version: match lambda.event {
                portcullis_config::AuthorizerEvent::Request { payload_format_version } => {
                    Some(payload_format_version)
                }
                portcullis_config::AuthorizerEvent::Token => None,
            },
            identity_source: lambda.identity_source.clone(),
        },
    };
    Ok(SampleRoute {
        key: route.key.value.clone(),
        params: matched.params,
        scopes: route.scopes.clone(),
        authorizer,
    })
}

/// The `Host` a sample request is sent to: the configured listen address.
pub fn sample_host(config: &Config) -> String {
    config.listen.to_string()
}

/// What the binary needs of a config before anything starts: where it listens, how it logs,
/// whether revocation is on, and its name for messages.
#[derive(Debug, Clone)]
pub struct Basics {
    /// `listen`.
    pub listen: std::net::SocketAddr,
    /// `admin`'s address.
    pub admin: std::net::SocketAddr,
    /// `log.format`, when the config sets one.
    pub log_format: Option<portcullis_config::LogFormat>,
    /// `log.level`, when the config sets one.
    pub log_level: Option<String>,
    /// `revocation.enabled`.
    pub revocation: bool,
    /// Where the config came from (a file name).
    pub origin: String,
}

/// The [`Basics`] of `config`.
pub fn basics(config: &Config) -> Basics {
    Basics {
        listen: config.listen,
        admin: config.admin,
        log_format: config.log.format,
        log_level: config.log.level.clone(),
        revocation: config.revocation.enabled,
        origin: config.origin.clone(),
    }
}

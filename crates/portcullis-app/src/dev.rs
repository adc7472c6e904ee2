//! The developer's tools around a config: tokens from the development issuer, its keys, one
//! function invocation, and what to try against the embedded demo.

use std::time::Duration;

use portcullis_config::{AuthorizerConfig, Config, Issuer};
use portcullis_jwks::DevIssuer;

use crate::compile::{self, CompileError};
use crate::lifecycle::Running;
use crate::resources::{DryRun, Resources};

/// The development issuer of `config` (key under `state_dir`, created on first use).
fn dev_issuer(config: &Config) -> Result<std::sync::Arc<DevIssuer>, CompileError> {
    let dry_run = DryRun::new(&compile::process(config))?;
    let (state_dir, issuer) = compile::dev_issuer(config);
    Ok(dry_run.dev_issuer(&state_dir, &issuer)?)
}

/// Mints a token from the development issuer of `config` (`portcullis token`).
///
/// # Errors
/// The key cannot be opened or used.
pub fn mint_dev_token(
    config: &Config,
    claims: serde_json::Map<String, serde_json::Value>,
    ttl: Duration,
) -> Result<String, CompileError> {
    let dev = dev_issuer(config)?;
    dev.mint(claims, ttl).map_err(|e| CompileError::Resource(e.into()))
}

/// The development issuer's JWKS (JSON text) and public key (PEM) for `config`
/// (`portcullis token --print-jwks`, `--print-pem`).
///
/// # Errors
/// The key cannot be opened.
pub fn dev_issuer_keys(config: &Config) -> Result<(String, String), CompileError> {
    let dev = dev_issuer(config)?;
    Ok((dev.jwks().to_string(), dev.public_key_pem()))
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

/// Runs function `name` once with `event` and returns its raw result (`portcullis invoke`). The
/// function gets a fresh instance, exactly as the gateway would start it.
///
/// # Errors
/// An unknown function, one that cannot start, or the invocation's own error.
pub async fn invoke_once(config: &Config, name: &str, event: bytes::Bytes) -> Result<bytes::Bytes, String> {
    let process = compile::process(config);
    let Some(settings) = process.functions.iter().find(|f| f.name == name) else {
        let names: Vec<&str> = config.functions.keys().map(String::as_str).collect();
        return Err(if names.is_empty() {
            format!("no function `{name}` in {}: it defines no functions", config.origin)
        } else {
            format!("no function `{name}` in {}; defined: {}", config.origin, names.join(", "))
        });
    };
    let invoker = portcullis_functions::Invoker::start(settings.clone(), &process.functions_options)
        .await
        .map_err(|e| e.to_string())?;
    let result = invoker.invoke(event, "portcullis-invoke").await.map_err(|e| e.to_string());
    invoker.shutdown().await;
    result
}

/// What to try against the embedded demo, with this instance's real addresses and a token
/// minted by the built-in development issuer.
pub fn demo_banner(running: &Running) -> String {
    let base = format!("http://{}", running.listen_addr());
    let token = running
        .registry()
        .current_dev_issuer()
        .and_then(|dev| {
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), "alice".into());
            claims.insert("aud".into(), "portcullis-demo".into());
            claims.insert("scope".into(), "read".into());
            dev.mint(claims, Duration::from_secs(3600)).ok()
        })
        .unwrap_or_else(|| "$(portcullis token --sub alice --aud portcullis-demo)".to_owned());
    format!(
        "\nPortcullis is running the embedded demo config (see `portcullis demo-config`).\n\
         Try:\n  curl -i {base}/\n  curl -i {base}/hello/world\n  curl -i {base}/nowhere        # 404, as AWS answers\n  \
         curl -i {base}/private        # 401: no token\n  \
         curl -i -H 'Authorization: Bearer {token}' {base}/private   # 200: token from the built-in dev issuer (1 h)\n  \
         curl -i http://{}/healthz   # admin listener\n\
         Mint more tokens with: portcullis token --sub bob --aud portcullis-demo --scope read --ttl 1h\n",
        running.admin_addr()
    )
}

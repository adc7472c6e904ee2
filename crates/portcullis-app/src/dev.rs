//! The developer's tools around a config: tokens from the development issuer, its keys, one
//! function invocation, and what to try against the embedded demo.

use std::time::Duration;

use portcullis_config::Config;
use portcullis_jwks::DevIssuer;

use crate::compile::{self, CompileError};
use crate::lifecycle::Running;
use crate::resources::{DryRun, Resources};

/// The embedded demo's function, written where the demo config says (`dir:` of `hello`).
const DEMO_HANDLER: &str = "// The embedded demo's function: a Lambda handler, run by Portcullis's emulation of the\n\
// Lambda Runtime API. Edit it while `portcullis serve` runs the demo: the next request runs the\n\
// new code.\n\
export const handler = async (event) => ({\n\
  statusCode: 200,\n\
  headers: { 'content-type': 'application/json' },\n\
  body: JSON.stringify({\n\
    message: `Hello, ${event.pathParameters?.name ?? 'world'}!`,\n\
    routeKey: event.routeKey,\n\
    requestId: event.requestContext?.requestId,\n\
  }),\n\
});\n";

/// Writes the embedded demo's function handler into the directory the demo config names, unless
/// a file is already there (someone may be editing it). Returns the file when it was written.
///
/// # Errors
/// The directory or file cannot be written.
pub fn prepare_demo(config: &Config) -> std::io::Result<Option<std::path::PathBuf>> {
    let process = compile::process(config);
    let Some(function) = process.functions.iter().find(|f| f.name == "hello") else { return Ok(None) };
    let file = function.dir.join("hello.mjs");
    if file.exists() {
        return Ok(None);
    }
    // The function lives under `state_dir`, which gets its `.gitignore` first.
    crate::state::prepare(&process.state_dir)?;
    std::fs::create_dir_all(&function.dir)?;
    std::fs::write(&file, DEMO_HANDLER)?;
    Ok(Some(file))
}

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

/// Why `portcullis invoke` got no result.
#[derive(Debug, thiserror::Error)]
pub enum InvokeOnceError {
    /// The config defines no function of that name.
    #[error("no function `{name}` in {origin}{}", defined_list(.defined))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The config.
        origin: String,
        /// The functions it defines.
        defined: Vec<String>,
    },
    /// The state directory (where bootstraps go) could not be created.
    #[error("state_dir could not be created: {0}")]
    StateDir(std::io::Error),
    /// The function's instance could not be started.
    #[error("{0}")]
    Start(portcullis_functions::StartError),
    /// The invocation failed: what the handler reported, followed by its stack trace as the
    /// runtime sent it.
    #[error("{error}{trace}", error = .0, trace = trace_lines(.0))]
    Failed(portcullis_functions::InvokeError),
}

fn defined_list(defined: &[String]) -> String {
    if defined.is_empty() {
        ": it defines no functions".to_owned()
    } else {
        format!("; defined: {}", defined.join(", "))
    }
}

fn trace_lines(error: &portcullis_functions::InvokeError) -> String {
    let trace = error.failure().map(|failure| failure.stack_trace).unwrap_or_default();
    trace.iter().map(|line| format!("\n  {line}")).collect()
}

/// Runs function `name` once with `event` and returns its raw result (`portcullis invoke`). The
/// function gets a fresh instance, exactly as the gateway would start it.
///
/// # Errors
/// [`InvokeOnceError`].
pub async fn invoke_once(
    config: &Config,
    name: &str,
    event: bytes::Bytes,
) -> Result<bytes::Bytes, InvokeOnceError> {
    let process = compile::process(config);
    let Some(settings) = process.functions.iter().find(|f| f.name == name) else {
        return Err(InvokeOnceError::Unknown {
            name: name.to_owned(),
            origin: process.origin.clone(),
            defined: process.functions.iter().map(|f| f.name.clone()).collect(),
        });
    };
    crate::state::prepare(&process.state_dir).map_err(InvokeOnceError::StateDir)?;
    let keep = portcullis_functions::KeepRecent::default();
    let invoker = portcullis_functions::Invoker::start(settings.clone(), &process.functions_options, &keep)
        .await
        .map_err(InvokeOnceError::Start)?;
    let result = invoker.invoke(event, "portcullis-invoke").await.map_err(InvokeOnceError::Failed);
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

/// Why `portcullis revoke` got no answer, or a refusal.
#[derive(Debug, thiserror::Error)]
pub enum SendRevocationError {
    /// No connection to the admin listener.
    #[error("cannot reach the admin listener at {admin}: {source}")]
    Unreachable {
        /// Where it was looked for.
        admin: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("admin listener at {admin}: {source}")]
    Http {
        /// The listener.
        admin: std::net::SocketAddr,
        /// Why.
        source: hyper::Error,
    },
    /// The request could not be built (a token that is not a valid header value).
    #[error("the request could not be built: {0}")]
    Request(#[from] http::Error),
    /// The listener refused the revocation: its status and message.
    #[error("{status}: {message}")]
    Refused {
        /// The status it answered.
        status: http::StatusCode,
        /// Its message.
        message: String,
    },
}

/// `portcullis revoke`: sends `revocation` (`{"jti"}` or `{"sub"}`, `until`) to the admin
/// listener at `admin` (with `token`, the admin token, as a bearer token), which shares it with
/// every replica. Returns the listener's answer.
///
/// # Errors
/// [`SendRevocationError`].
pub async fn send_revocation(
    admin: std::net::SocketAddr,
    revocation: &serde_json::Value,
    token: Option<&str>,
) -> Result<String, SendRevocationError> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .map_err(|source| SendRevocationError::Unreachable { admin, source })?;
    let http = |source| SendRevocationError::Http { admin, source };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(http)?;
    tokio::spawn(connection);
    let mut request = http::Request::post("/revocations")
        .header(http::header::HOST, admin.to_string())
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Full::new(bytes::Bytes::from(revocation.to_string())))?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(http)?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().or_else(|| v["error"].as_str()).map(str::to_owned))
            .unwrap_or(text);
        Err(SendRevocationError::Refused { status, message })
    }
}

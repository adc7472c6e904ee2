//! The config's top-level type and small types shared by several sections (the decoder of the
//! top level is `top.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use crate::authorizer::{self, AuthorizerConfig};
use crate::cors::CorsConfig;
use crate::decode::{self, Cx, YPath};
use crate::error::{ConfigError, Span, Spanned};
use crate::function::FunctionConfig;
use crate::route::RouteConfig;
use crate::throttle::ThrottleConfig;
use crate::yaml::Node;

/// A whole validated config: everything typed, every reference resolved.
///
/// Top-level keys, all optional:
///
/// ```yaml
/// listen: 127.0.0.1:8080
/// admin: 127.0.0.1:9901            # or {listen: 0.0.0.0:9901, token_file: secrets/admin-token}
/// tls: {cert: cert.pem, key: key.pem}
/// limits: {max_body: 10MB, max_header_bytes: 10240, header_timeout: 10s, idle_timeout: 60s, drain_timeout: 30s}
/// state_dir: .portcullis
/// log: {format: json, level: info}
/// access_log: {enabled: true}
/// compat: extended
/// region: us-east-1
/// account_id: "123456789012"
/// api_id: portcullis
/// stage: $default
/// debug_headers: false
/// authorizers: {}
/// default_authorizer: auth0
/// functions: {}
/// routes: {}
/// ```
///
/// Top-level keys starting with `x-` are ignored, so YAML anchors can be defined there
/// (`x-defaults: &defaults {timeout: 5s}` ... `GET /a: {<<: *defaults, http: ...}`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from (file name, or `<embedded demo>`), for later positioned
    /// errors ([`ConfigError::at`]).
    pub origin: String,
    /// The directory relative paths were resolved against (the config file's directory).
    pub base_dir: PathBuf,
    /// `listen`: the address API requests are served on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `admin` (or `admin.listen`): health, readiness, metrics, the console, the dev issuer's
    /// discovery/JWKS. Default `127.0.0.1:9901`. Must differ from `listen`.
    pub admin: SocketAddr,
    /// `admin.token_file` or `admin.token_env`: where the admin bearer token is read at start.
    /// Required when `admin` is not a loopback address.
    pub admin_token: Option<Spanned<AdminTokenSource>>,
    /// `tls`: serve `listen` over TLS (HTTP/1.1 and HTTP/2 by ALPN). Default: plain HTTP
    /// (h2c allowed).
    pub tls: Option<TlsConfig>,
    /// `limits`: request size and connection time limits.
    pub limits: LimitsConfig,
    /// `state_dir`: where the gateway keeps state (the dev issuer's key, ...). Default
    /// `.portcullis`, resolved against the config's directory.
    pub state_dir: PathBuf,
    /// `log`: application log settings; command-line flags and `RUST_LOG` take precedence.
    pub log: LogConfig,
    /// `access_log`: the one-line-per-request access log.
    pub access_log: AccessLogConfig,
    /// `compat`: `extended` (default) allows Portcullis's extensions; `aws` makes every
    /// feature AWS HTTP APIs lack a config error, naming the feature and why.
    pub compat: Compat,
    /// `region`: used in ARNs (`methodArn`, `routeArn`, function ARNs) and `AWS_REGION`.
    /// Default `us-east-1`.
    pub region: String,
    /// `account_id`: 12 digits, used in ARNs and `requestContext.accountId`. Default
    /// `123456789012`. Taken as written, so a leading 0 is kept even unquoted.
    pub account_id: String,
    /// `api_id`: used in ARNs and `requestContext.apiId`/`domainPrefix`. Default `portcullis`.
    pub api_id: String,
    /// `stage`: `requestContext.stage` and the ARN stage. Default `$default` (as AWS's
    /// auto-deployed default stage, which adds no path prefix).
    pub stage: String,
    /// `cors`: the API's CORS policy: preflights answered by the gateway before any authorizer,
    /// CORS headers on responses. Default: none (no CORS handling; preflights are routed).
    pub cors: Option<CorsConfig>,
    /// `throttle`: the API-wide limit (AWS's stage default route settings). Default: none.
    pub throttle: Option<ThrottleConfig>,
    /// `shared_state`: Redis, for throttle buckets and Lambda-authorizer answers every replica
    /// shares, and revocations. Default: none (each replica keeps its own). Extension.
    pub shared_state: Option<crate::shared::SharedStateConfig>,
    /// `revocation`: JWT authorizers deny revoked tokens. Default: off. Extension.
    pub revocation: crate::shared::RevocationConfig,
    /// `stage_variables`: name -> value, the stage's variables: `stageVariables` in Lambda
    /// events, `$stageVariables.NAME` in mappings and identity sources, `${stageVariables.NAME}`
    /// in `http:` URLs. Default: none.
    pub stage_variables: Vec<(String, String)>,
    /// `debug_headers`: add denial reason headers to responses. Default `false`; recorded as
    /// a warning when on (it tells clients why their token failed). Extension.
    pub debug_headers: bool,
    /// `allow_dev_issuer`: let authorizers with `issuer: dev` run on a listener that is not
    /// loopback. Default `false`: anyone who can read the config directory can mint tokens the
    /// development issuer signs, so it is refused where other machines can connect.
    pub allow_dev_issuer: bool,
    /// `authorizers`: name -> authorizer, in file order.
    pub authorizers: IndexMap<String, AuthorizerConfig>,
    /// Where each authorizer's name is written, so that later compile steps (a function that is
    /// not running, key files) report problems at the authorizer.
    pub authorizer_spans: IndexMap<String, Span>,
    /// `default_authorizer`: the authorizer of routes that do not name one. Default: none
    /// (routes are public unless they name an authorizer). Must name an authorizer.
    pub default_authorizer: Option<String>,
    /// `functions`: name -> function, in file order. Names follow Lambda's rule (1 to 64
    /// letters, digits, `-`, `_`): they become `AWS_LAMBDA_FUNCTION_NAME` and part of ARNs.
    pub functions: IndexMap<String, FunctionConfig>,
    /// `routes`: in file order. Keys are unique by method and path shape.
    pub routes: Vec<RouteConfig>,
    /// Non-fatal remarks (e.g. a defaulted `result_ttl`), positioned like errors; the binary
    /// prints them at start-up.
    pub warnings: Vec<ConfigError>,
}

/// Where the admin listener's bearer token comes from (read once, at start; never logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTokenSource {
    /// `token_file`: a file holding the token (surrounding whitespace ignored), resolved against
    /// the config's directory.
    File(PathBuf),
    /// `token_env`: an environment variable holding the token.
    Env(String),
}

/// `tls:` — certificate and key for the `listen` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `cert`: PEM certificate chain, resolved against the config's directory. Required.
    pub cert: PathBuf,
    /// `key`: PEM private key, resolved against the config's directory. Required.
    pub key: PathBuf,
}

/// `limits:` — protection against large and slow clients (docs/aws-compatibility.md#limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `max_body`: largest request body; larger -> 413 `{"message":"Request Entity Too
    /// Large"}`. Bytes, or with a unit: `150KB`, `10MB`, `10MiB`, `1GB` (KB/MB/GB are powers
    /// of 1000, KiB/MiB/GiB of 1024). Default `10MiB` (10485760).
    pub max_body: u64,
    /// `max_header_bytes`: request line plus headers; larger -> 431. Default `10240` (AWS's
    /// limit on header values, docs/aws-compatibility.md#limits).
    pub max_header_bytes: u64,
    /// `header_timeout`: time allowed to receive the request line and headers (slowloris
    /// protection). Default `10s`.
    pub header_timeout: Duration,
    /// `idle_timeout`: idle keep-alive connections are closed after this. Default `60s`.
    pub idle_timeout: Duration,
    /// `drain_timeout`: on SIGTERM/SIGINT, how long in-flight requests may finish. Default
    /// `30s`.
    pub drain_timeout: Duration,
    /// `max_connections`: most client connections open at once on the main listener. Default:
    /// from the open-file limit (half of it, less a reserve), decided at start.
    pub max_connections: Option<u64>,
    /// `max_connections_per_client`: most connections from one client address. Default: no cap
    /// (behind a load balancer every client has the balancer's address).
    pub max_connections_per_client: Option<u64>,
    /// `http2_max_concurrent_streams`: most concurrent streams per HTTP/2 client connection.
    /// Default `100`.
    pub http2_max_concurrent_streams: u32,
    /// `upstream_max_connections`: most connections (HTTP/1.1) or concurrent requests (HTTP/2)
    /// to one upstream origin. Default `1024`.
    pub upstream_max_connections: u64,
    /// `upstream_max_pending`: most requests waiting for a connection to one origin once it is
    /// at `upstream_max_connections`; beyond it a request gets 503 at once. Default `1024`.
    pub upstream_max_pending: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body: 10 * 1024 * 1024,
            max_header_bytes: 10_240,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            max_connections: None,
            max_connections_per_client: None,
            http2_max_concurrent_streams: 100,
            upstream_max_connections: 1024,
            upstream_max_pending: 1024,
        }
    }
}

/// `log:` — application log settings. Both keys optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    /// `format`: `json` or `pretty`. Default: decided by the binary (`--log-format`, json).
    pub format: Option<LogFormat>,
    /// `level`: a log filter such as `info` or `portcullis=debug,info` (`RUST_LOG` syntax,
    /// checked by the binary). Default: decided by the binary (`--log-level`, `RUST_LOG`).
    pub level: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// `access_log:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// `enabled`: one line per request. Default `true`.
    pub enabled: bool,
    /// `format`: `json` (default), `clf`, or a template of `$context` variables (AWS's access
    /// log format), e.g. `'{"id":"$context.requestId","status":"$context.status"}'`.
    pub format: AccessLogFormat,
    /// `output`: `stdout` (default), `stderr`, or a file path (appended to; reopened on SIGUSR1
    /// and SIGHUP, for logrotate).
    pub output: AccessLogOutput,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig { enabled: true, format: AccessLogFormat::Json, output: AccessLogOutput::Stdout }
    }
}

/// How access-log lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One JSON object per line, Portcullis's fields.
    Json,
    /// AWS's CLF format: `$context.identity.sourceIp - - [$context.requestTime]
    /// "$context.httpMethod $context.routeKey $context.protocol" $context.status
    /// $context.responseLength $context.requestId`.
    Clf,
    /// A template of `$context` variables; a variable without a value prints `-`.
    Template(portcullis_core::Template),
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogOutput {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, resolved against the config's directory.
    File(PathBuf),
}

/// `compat:` — how strictly to follow AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// `extended` (default): AWS behaviour plus Portcullis's extensions.
    #[default]
    Extended,
    /// `aws`: only what AWS HTTP APIs can do; extensions are config errors.
    Aws,
}

/// A Lambda payload format version (docs/aws-compatibility.md#lambda-proxy-integration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormatVersion {
    /// `"1.0"`: the REST-style event (`httpMethod`, `multiValueHeaders`).
    V1,
    /// `"2.0"`: the HTTP API event (`rawPath`, `routeKey`, `cookies`).
    V2,
}

impl PayloadFormatVersion {
    /// `"1.0"` or `"2.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1.0",
            Self::V2 => "2.0",
        }
    }
}

/// `"1.0"` or `"2.0"` (unquoted `1.0`/`2.0` are accepted too).
pub(crate) fn payload_format_version(cx: &mut Cx, n: &Node, p: &YPath) -> Option<PayloadFormatVersion> {
    decode::choice(cx, n, p, &[("2.0", PayloadFormatVersion::V2), ("1.0", PayloadFormatVersion::V1)])
}

impl Config {
    /// The problem with serving this config on `listen` when that address is not loopback and
    /// an authorizer trusts the development issuer without `allow_dev_issuer: true`: anyone who
    /// can read `state_dir` can mint tokens it signs, so it is refused where other machines can
    /// connect. Checked when the file is loaded, and again at start with the address actually
    /// bound (`--listen`).
    pub fn dev_issuer_exposed_on(&self, listen: SocketAddr) -> Option<ConfigError> {
        if listen.ip().is_loopback() || self.allow_dev_issuer {
            return None;
        }
        let (name, _) = self.authorizers.iter().find(
            |(_, a)| matches!(a, AuthorizerConfig::Jwt(jwt) if matches!(jwt.issuer, authorizer::Issuer::Dev)),
        )?;
        Some(ConfigError::at(
            &self.origin,
            self.authorizer_spans.get(name).copied().unwrap_or_default(),
            format!("authorizers.{name}"),
            format!(
                "`issuer: dev` on a listener other machines can reach ({listen}): tokens from the development issuer would be accepted from anyone; listen on 127.0.0.1, or set `allow_dev_issuer: true` if this is meant"
            ),
        ))
    }
}

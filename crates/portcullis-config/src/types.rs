//! The top level of the config and small types shared by several sections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use crate::authorizer::{self, AuthorizerConfig, AuthorizerKind};
use crate::decode::{self, Cx, MapReader, YPath, did_you_mean};
use crate::error::{ConfigError, Span};
use crate::function::{self, FunctionConfig};
use crate::route::{self, RouteConfig, RouteRefs};
use crate::yaml::Node;

/// A whole validated config: everything typed, every reference resolved.
///
/// Top-level keys, all optional:
///
/// ```yaml
/// listen: 127.0.0.1:8080
/// admin: 127.0.0.1:9901
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
    /// `admin`: health (and later metrics, the dev issuer's discovery/JWKS). Default
    /// `127.0.0.1:9901`. Must differ from `listen`.
    pub admin: SocketAddr,
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

/// `tls:` — certificate and key for the `listen` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `cert`: PEM certificate chain, resolved against the config's directory. Required.
    pub cert: PathBuf,
    /// `key`: PEM private key, resolved against the config's directory. Required.
    pub key: PathBuf,
}

/// `limits:` — protection against large and slow clients (spec §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `max_body`: largest request body; larger -> 413 `{"message":"Request Entity Too
    /// Large"}`. Bytes, or with a unit: `150KB`, `10MB`, `10MiB`, `1GB` (KB/MB/GB are powers
    /// of 1000, KiB/MiB/GiB of 1024). Default `10MiB` (10485760).
    pub max_body: u64,
    /// `max_header_bytes`: request line plus headers; larger -> 431. Default `10240` (AWS's
    /// limit on header values, spec §7.2).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// `enabled`: one structured line per request. Default `true`.
    pub enabled: bool,
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

/// A Lambda payload format version (spec §4).
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

fn opt<T>(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    key: &'static str,
    default: T,
    f: impl FnOnce(&mut Cx, &Node, &YPath) -> Option<T>,
) -> Option<T> {
    match m.get(key) {
        Some((n, p)) => f(cx, n, &p),
        None => Some(default),
    }
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

/// `stage_variables`: AWS's rules for names (letters, digits, `_`); values and the count are
/// AWS's limits, errors only under `compat: aws`.
fn stage_variables(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Vec<(String, String)>> {
    let entries = decode::entries(cx, n, p)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for e in entries {
        let ep = p.key(&e.key);
        if e.key.is_empty() || !e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            cx.error(
                e.key_span,
                &ep,
                format!("invalid stage variable name {:?} (letters, digits and _)", e.key),
            );
            ok = false;
            continue;
        }
        let Some(value) = decode::string(cx, &e.value, &ep) else {
            ok = false;
            continue;
        };
        let aws_value = !value.is_empty()
            && value.chars().count() <= 2048
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c));
        if !aws_value {
            cx.aws_forbids(
                e.value.span,
                &ep,
                "this stage variable value",
                "AWS allows 1 to 2048 of the characters A-Z a-z 0-9 - . _ ~ : / ? # & = ,",
            );
        }
        out.push((e.key.clone(), value));
    }
    if out.len() > 100 {
        cx.aws_forbids(n.span, p, "more than 100 stage variables", "AWS allows at most 100 per stage");
    }
    ok.then_some(out)
}

/// Decodes the whole document.
pub(crate) fn decode_config(cx: &mut Cx, root: &Node) -> Option<Config> {
    let top = YPath::default();
    let mut m = MapReader::new(cx, root, &top)?;

    // `compat` first: other sections check against it.
    let compat = opt(cx, &mut m, "compat", Compat::Extended, |cx, n, p| {
        decode::choice(cx, n, p, &[("extended", Compat::Extended), ("aws", Compat::Aws)])
    });
    cx.compat = compat.unwrap_or_default();

    let listen = opt(cx, &mut m, "listen", SocketAddr::from(([127, 0, 0, 1], 8080)), decode::socket_addr);
    let admin = opt(cx, &mut m, "admin", SocketAddr::from(([127, 0, 0, 1], 9901)), decode::socket_addr);
    if let (Some(l), Some(a)) = (listen, admin)
        && l == a
        && let Some(s) = m.key_span("admin")
    {
        cx.error(
            s,
            &top.key("admin"),
            format!("`admin` and `listen` are both {l}; they need different ports"),
        );
    }
    let tls = opt(cx, &mut m, "tls", None, |cx, n, p| {
        let mut t = MapReader::new(cx, n, p)?;
        let file = |cx: &mut Cx, t: &mut MapReader<'_>, k: &'static str| match t.get(k) {
            Some((n, p)) => decode::non_empty(cx, n, &p).map(|s| cx.resolve(&s)),
            None => {
                cx.error(t.span, p, format!("`tls` needs `{k}` (a PEM file)"));
                None
            }
        };
        let cert = file(cx, &mut t, "cert");
        let key = file(cx, &mut t, "key");
        t.finish(cx);
        Some(Some(TlsConfig { cert: cert?, key: key? }))
    });
    let limits = opt(cx, &mut m, "limits", LimitsConfig::default(), limits);
    let default_state_dir = cx.resolve(".portcullis");
    let state_dir = opt(cx, &mut m, "state_dir", default_state_dir, |cx, n, p| {
        decode::non_empty(cx, n, p).map(|s| cx.resolve(&s))
    });
    let log = opt(cx, &mut m, "log", LogConfig::default(), |cx, n, p| {
        let mut l = MapReader::new(cx, n, p)?;
        let format = match l.get("format") {
            Some((n, p)) => {
                decode::choice(cx, n, &p, &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)])
                    .map(Some)
            }
            None => Some(None),
        };
        let level = match l.get("level") {
            Some((n, p)) => decode::non_empty(cx, n, &p).map(Some),
            None => Some(None),
        };
        l.finish(cx);
        Some(LogConfig { format: format?, level: level? })
    });
    let access_log = opt(cx, &mut m, "access_log", AccessLogConfig { enabled: true }, |cx, n, p| {
        let mut a = MapReader::new(cx, n, p)?;
        let enabled = match a.get("enabled") {
            Some((n, p)) => decode::boolean(cx, n, &p),
            None => Some(true),
        };
        a.finish(cx);
        Some(AccessLogConfig { enabled: enabled? })
    });
    let region = opt(cx, &mut m, "region", "us-east-1".to_owned(), |cx, n, p| {
        let s = decode::non_empty(cx, n, p)?;
        let parts: Vec<&str> = s.split('-').collect();
        let valid = parts.len() >= 3
            && parts
                .iter()
                .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
            && parts.last().is_some_and(|x| x.chars().all(|c| c.is_ascii_digit()));
        if !valid {
            cx.error(n.span, p, format!("invalid region {s:?} (expected e.g. us-east-1)"));
            return None;
        }
        Some(s)
    });
    let account_id = opt(cx, &mut m, "account_id", "123456789012".to_owned(), |cx, n, p| {
        let s = decode::non_empty(cx, n, p)?;
        if s.len() != 12 || !s.chars().all(|c| c.is_ascii_digit()) {
            cx.error(n.span, p, format!("invalid account_id {s:?} (expected 12 digits)"));
            return None;
        }
        Some(s)
    });
    let api_id = opt(cx, &mut m, "api_id", "portcullis".to_owned(), |cx, n, p| {
        let s = decode::non_empty(cx, n, p)?;
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            cx.error(
                n.span,
                p,
                format!("invalid api_id {s:?} (letters and digits only; it goes into ARNs and host names)"),
            );
            return None;
        }
        Some(s)
    });
    let stage = opt(cx, &mut m, "stage", "$default".to_owned(), |cx, n, p| {
        let s = decode::non_empty(cx, n, p)?;
        if s != "$default" && !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            cx.error(n.span, p, format!("invalid stage {s:?} (`$default`, or letters, digits, - and _)"));
            return None;
        }
        Some(s)
    });
    let stage_variables = opt(cx, &mut m, "stage_variables", Vec::new(), stage_variables);
    cx.stage_variables = stage_variables.clone().unwrap_or_default();
    let debug_headers = opt(cx, &mut m, "debug_headers", false, |cx, n, p| {
        let b = decode::boolean(cx, n, p)?;
        if b {
            cx.warn(n.span, p, "debug_headers is on: responses tell clients why they were denied");
        }
        Some(b)
    });

    // Functions first: authorizers and routes refer to them. Names count even when the
    // definition is invalid, so one mistake is not reported again at every reference.
    let mut functions = IndexMap::new();
    let mut function_names = Vec::new();
    let mut functions_ok = true;
    if let Some((n, p)) = m.get("functions")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        for e in entries {
            function_names.push(e.key.clone());
            let valid = !e.key.is_empty()
                && e.key.len() <= 64
                && e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                cx.error(
                    e.key_span,
                    &p.key(&e.key),
                    format!(
                        "invalid function name {:?} (as on Lambda: 1 to 64 letters, digits, - and _)",
                        e.key
                    ),
                );
                functions_ok = false;
            }
            match function::decode(cx, &e.value, &p.key(&e.key)) {
                Some(f) => {
                    functions.insert(e.key.clone(), f);
                }
                None => functions_ok = false,
            }
        }
    }

    let mut authorizers = IndexMap::new();
    let mut authorizer_spans = IndexMap::new();
    let mut authorizer_kinds: IndexMap<String, AuthorizerKind> = IndexMap::new();
    let mut authorizers_ok = true;
    if let Some((n, p)) = m.get("authorizers")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        for e in entries {
            authorizer_kinds.insert(e.key.clone(), authorizer::kind_of(&e.value));
            if e.key == "none" {
                cx.error(
                    e.key_span,
                    &p.key(&e.key),
                    "`none` is reserved for public routes (`authorizer: none`)",
                );
                authorizers_ok = false;
                continue;
            }
            match authorizer::decode(cx, &e.value, &p.key(&e.key), &function_names) {
                Some(a) => {
                    authorizers.insert(e.key.clone(), a);
                    authorizer_spans.insert(e.key.clone(), e.key_span);
                }
                None => authorizers_ok = false,
            }
        }
    }

    let default_authorizer = opt(cx, &mut m, "default_authorizer", None, |cx, n, p| {
        let a = decode::non_empty(cx, n, p)?;
        if authorizer_kinds.contains_key(&a) {
            Some(Some(a))
        } else {
            let hint = did_you_mean(&a, authorizer_kinds.keys().map(String::as_str));
            let problem = if a == "none" {
                "`none` is the default already: leave `default_authorizer` out".to_owned()
            } else {
                format!("unknown authorizer {a:?}: it is not defined under `authorizers:`")
            };
            cx.error_hint(n.span, p, problem, hint);
            None
        }
    });

    let mut routes = Vec::new();
    let mut routes_ok = true;
    if let Some((n, p)) = m.get("routes")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        let refs = RouteRefs {
            functions: &function_names,
            authorizers: &authorizer_kinds,
            default_authorizer: default_authorizer.as_ref().and_then(|d| d.as_deref()),
        };
        // Duplicates are judged by the route table itself, so config and runtime agree on
        // what "the same route" means (same method, same path shape, spec §1.3).
        let mut table = portcullis_route::RouteTableBuilder::new();
        let mut accepted_spans = Vec::new();
        for e in entries {
            let Some(r) = route::decode(cx, e, &p, &refs) else {
                routes_ok = false;
                continue;
            };
            match table.insert(r.key.value.clone(), ()) {
                Ok(()) => {
                    accepted_spans.push((r.key.span, e.key.clone()));
                    routes.push(r);
                }
                Err(dup) => {
                    let (first_span, first_key) =
                        accepted_spans.get(dup.existing_index).cloned().unwrap_or_default();
                    cx.error(
                        e.key_span,
                        &p.key(&e.key),
                        format!(
                            "duplicate route: {:?} has the same method and path shape as {first_key:?} (line {}, column {})",
                            e.key, first_span.line, first_span.column
                        ),
                    )
                    .suggestion = Some("variable names do not distinguish routes; merge them or change one".into());
                    routes_ok = false;
                }
            }
        }
    }
    if !m.has("routes") {
        cx.warn(m.span, &top, "no `routes`: every request will get 404");
    }
    let allow_dev_issuer = opt(cx, &mut m, "allow_dev_issuer", false, decode::boolean);
    m.allow_extension_keys();
    m.finish(cx);

    if !(functions_ok && authorizers_ok && routes_ok) {
        return None;
    }
    let config = Config {
        origin: cx.origin.clone(),
        base_dir: cx.base_dir.clone(),
        listen: listen?,
        admin: admin?,
        tls: tls?,
        limits: limits?,
        state_dir: state_dir?,
        log: log?,
        access_log: access_log?,
        compat: compat?,
        region: region?,
        account_id: account_id?,
        api_id: api_id?,
        stage: stage?,
        stage_variables: stage_variables?,
        debug_headers: debug_headers?,
        allow_dev_issuer: allow_dev_issuer?,
        authorizers,
        authorizer_spans,
        default_authorizer: default_authorizer?,
        functions,
        routes,
        warnings: Vec::new(),
    };
    if let Some(problem) = config.dev_issuer_exposed_on(config.listen) {
        cx.errors.push(problem);
    }
    Some(config)
}

fn limits(cx: &mut Cx, n: &Node, p: &YPath) -> Option<LimitsConfig> {
    let mut m = MapReader::new(cx, n, p)?;
    let d = LimitsConfig::default();
    let max_body = opt(cx, &mut m, "max_body", d.max_body, decode::size);
    let max_header_bytes = opt(cx, &mut m, "max_header_bytes", d.max_header_bytes, decode::size);
    let header_timeout =
        opt(cx, &mut m, "header_timeout", d.header_timeout, |cx, n, p| decode::duration(cx, n, p, false));
    let idle_timeout =
        opt(cx, &mut m, "idle_timeout", d.idle_timeout, |cx, n, p| decode::duration(cx, n, p, false));
    let drain_timeout =
        opt(cx, &mut m, "drain_timeout", d.drain_timeout, |cx, n, p| decode::duration(cx, n, p, true));
    let count = |cx: &mut Cx, n: &Node, p: &YPath| decode::integer(cx, n, p, 1, 1 << 24);
    let max_connections = opt(cx, &mut m, "max_connections", None, |cx, n, p| count(cx, n, p).map(Some));
    let max_connections_per_client =
        opt(cx, &mut m, "max_connections_per_client", None, |cx, n, p| count(cx, n, p).map(Some));
    let http2_max_concurrent_streams = opt(
        cx,
        &mut m,
        "http2_max_concurrent_streams",
        u64::from(d.http2_max_concurrent_streams),
        |cx, n, p| decode::integer(cx, n, p, 1, 10_000),
    );
    let upstream_max_connections =
        opt(cx, &mut m, "upstream_max_connections", d.upstream_max_connections, count);
    let upstream_max_pending = opt(cx, &mut m, "upstream_max_pending", d.upstream_max_pending, |cx, n, p| {
        decode::integer(cx, n, p, 0, 1 << 24)
    });
    m.finish(cx);
    Some(LimitsConfig {
        max_body: max_body?,
        max_header_bytes: max_header_bytes?,
        header_timeout: header_timeout?,
        idle_timeout: idle_timeout?,
        drain_timeout: drain_timeout?,
        max_connections: max_connections?,
        max_connections_per_client: max_connections_per_client?,
        http2_max_concurrent_streams: u32::try_from(http2_max_concurrent_streams?).unwrap_or(100),
        upstream_max_connections: upstream_max_connections?,
        upstream_max_pending: upstream_max_pending?,
    })
}

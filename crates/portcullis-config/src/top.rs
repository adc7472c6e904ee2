//! The top level of the document: one small unit per top-level key, in the order the keys
//! depend on each other (`compat` first, then what references need: stage variables, functions,
//! authorizers, then routes).

use std::net::SocketAddr;

use indexmap::IndexMap;

use crate::authorizer::{self, AuthorizerConfig, AuthorizerKind};
use crate::decode::{self, Cx, MapReader, YPath, did_you_mean, opt};
use crate::error::{Span, Spanned};
use crate::function::{self, FunctionConfig};
use crate::route::{self, RouteConfig, RouteRefs};
use crate::shared::RevocationConfig;
use crate::types::{
    AccessLogConfig, AccessLogFormat, AccessLogOutput, AdminTokenSource, Compat, Config, LimitsConfig,
    LogConfig, LogFormat, TlsConfig,
};
use crate::yaml::{Kind, Node};

/// Decodes the whole document.
pub(crate) fn decode_config(cx: &mut Cx, root: &Node) -> Option<Config> {
    let top = YPath::default();
    let mut m = MapReader::new(cx, root, &top)?;

    // `compat` first: other sections check against it.
    let compat = opt(cx, &mut m, "compat", Compat::Extended, |cx, n, p| {
        decode::choice(cx, n, p, &[("extended", Compat::Extended), ("aws", Compat::Aws)])
    });
    let compat = compat.map(|c| cx.forced_compat.unwrap_or(c));
    cx.compat = compat.unwrap_or_default();
    let (listen, admin) = addresses(cx, &mut m);
    let (admin, admin_token) = match admin {
        Some((addr, token)) => (Some(addr), token),
        None => (None, None),
    };
    let tls = opt(cx, &mut m, "tls", None, tls);
    let limits = opt(cx, &mut m, "limits", LimitsConfig::default(), limits);
    let default_state_dir = cx.resolve(".portcullis");
    let state_dir = opt(cx, &mut m, "state_dir", default_state_dir, |cx, n, p| {
        decode::non_empty(cx, n, p).map(|s| cx.resolve(&s))
    });
    let log = opt(cx, &mut m, "log", LogConfig::default(), log);
    let access_log = opt(cx, &mut m, "access_log", AccessLogConfig::default(), access_log);
    let region = opt(cx, &mut m, "region", "us-east-1".to_owned(), region);
    let account_id = opt(cx, &mut m, "account_id", "123456789012".to_owned(), account_id);
    let api_id = opt(cx, &mut m, "api_id", "portcullis".to_owned(), api_id);
    let stage = opt(cx, &mut m, "stage", "$default".to_owned(), stage);
    // Before anything that may reference them.
    let stage_variables = opt(cx, &mut m, "stage_variables", Vec::new(), stage_variables);
    cx.stage_variables = stage_variables.clone().unwrap_or_default();
    let debug_headers = opt(cx, &mut m, "debug_headers", false, debug_headers);
    // Before the limits and authorizers that may share their state.
    let shared_state = opt(cx, &mut m, "shared_state", None, crate::shared::decode);
    cx.shared_state = matches!(shared_state, Some(Some(_)));
    let revocation =
        opt(cx, &mut m, "revocation", RevocationConfig::default(), crate::shared::decode_revocation);
    let cors = opt(cx, &mut m, "cors", None, |cx, n, p| crate::cors::decode(cx, n, p).map(Some));
    let throttle = opt(cx, &mut m, "throttle", None, crate::throttle::decode_api);
    let functions = functions(cx, &mut m);
    let authorizers = authorizers(cx, &mut m, &functions.names);
    let default_authorizer = opt(cx, &mut m, "default_authorizer", None, |cx, n, p| {
        default_authorizer(cx, n, p, &authorizers.kinds)
    });
    let refs = RouteRefs {
        functions: &functions.names,
        authorizers: &authorizers.kinds,
        default_authorizer: default_authorizer.as_ref().and_then(|d| d.as_deref()),
    };
    let routes = routes(cx, &mut m, &refs);
    if !m.has("routes") {
        cx.warn(m.span, &top, "no `routes`: every request will get 404");
    }
    let allow_dev_issuer = opt(cx, &mut m, "allow_dev_issuer", false, decode::boolean);
    m.allow_extension_keys();
    m.finish(cx);

    let config = Config {
        origin: cx.origin.clone(),
        base_dir: cx.base_dir.clone(),
        listen: listen?,
        admin: admin?,
        admin_token,
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
        cors: cors?,
        throttle: throttle?,
        shared_state: shared_state?,
        revocation: revocation?,
        debug_headers: debug_headers?,
        allow_dev_issuer: allow_dev_issuer?,
        authorizers: authorizers.decoded?,
        authorizer_spans: authorizers.spans,
        default_authorizer: default_authorizer?,
        functions: functions.decoded?,
        routes: routes?,
        warnings: Vec::new(),
    };
    if let Some(problem) = config.dev_issuer_exposed_on(config.listen) {
        cx.errors.push(problem);
    }
    Some(config)
}

/// `listen` and `admin`, which must differ; `admin` with its token source. The admin listener
/// serves the console and every operator endpoint, so on an address other machines can reach it
/// needs a token.
fn addresses(cx: &mut Cx, m: &mut MapReader<'_>) -> (Option<SocketAddr>, Option<AdminAddress>) {
    let listen = opt(cx, m, "listen", SocketAddr::from(([127, 0, 0, 1], 8080)), decode::socket_addr);
    let default_admin = (SocketAddr::from(([127, 0, 0, 1], 9901)), None);
    let admin = opt(cx, m, "admin", default_admin, admin);
    if let (Some(l), Some((a, _))) = (listen, &admin)
        && l == *a
        && let Some(s) = m.key_span("admin")
    {
        cx.error(
            s,
            &m.path.key("admin"),
            format!("`admin` and `listen` are both {l}; they need different ports"),
        );
    }
    if let Some((a, None)) = &admin
        && !a.ip().is_loopback()
        && let Some(s) = m.key_span("admin")
    {
        cx.error_hint(
            s,
            &m.path.key("admin"),
            format!("the admin listener on {a} can be reached from other machines, and it has no token"),
            Some(format!(
                "write `admin: {{listen: {a}, token_file: FILE}}` (or `token_env: VARIABLE`) so the console and the admin endpoints need a bearer token, or listen on 127.0.0.1"
            )),
        );
    }
    (listen, admin)
}

/// The admin listener's address and where its token comes from.
type AdminAddress = (SocketAddr, Option<Spanned<AdminTokenSource>>);

/// `admin`: `IP:port`, or `{listen: IP:port, token_file: FILE}` / `{listen, token_env: NAME}`.
fn admin(cx: &mut Cx, n: &Node, p: &YPath) -> Option<AdminAddress> {
    if !matches!(n.kind, Kind::Map(_)) {
        return decode::socket_addr(cx, n, p).map(|a| (a, None));
    }
    let mut a = MapReader::new(cx, n, p)?;
    let listen = opt(cx, &mut a, "listen", SocketAddr::from(([127, 0, 0, 1], 9901)), decode::socket_addr);
    let file = opt(cx, &mut a, "token_file", None, |cx, n, p| {
        decode::non_empty(cx, n, p)
            .map(|f| Some(Spanned::new(AdminTokenSource::File(cx.resolve(&f)), n.span)))
    });
    let env = opt(cx, &mut a, "token_env", None, |cx, n, p| {
        let name = decode::non_empty(cx, n, p)?;
        if name.contains(['=', '\0']) {
            cx.error(n.span, p, format!("{name:?} is not an environment variable name"));
            return None;
        }
        Some(Some(Spanned::new(AdminTokenSource::Env(name), n.span)))
    });
    let token = match (file, env) {
        (Some(Some(_)), Some(Some(env))) => {
            cx.error(env.span, &p.key("token_env"), "give either `token_file` or `token_env`, not both");
            None
        }
        (Some(file), Some(env)) => Some(file.or(env)),
        _ => None,
    };
    a.finish(cx);
    Some((listen?, token?))
}

fn tls(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Option<TlsConfig>> {
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
}

fn log(cx: &mut Cx, n: &Node, p: &YPath) -> Option<LogConfig> {
    let mut l = MapReader::new(cx, n, p)?;
    let format = opt(cx, &mut l, "format", None, |cx, n, p| {
        decode::choice(cx, n, p, &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)]).map(Some)
    });
    let level = opt(cx, &mut l, "level", None, |cx, n, p| decode::non_empty(cx, n, p).map(Some));
    l.finish(cx);
    Some(LogConfig { format: format?, level: level? })
}

fn access_log(cx: &mut Cx, n: &Node, p: &YPath) -> Option<AccessLogConfig> {
    let mut a = MapReader::new(cx, n, p)?;
    let enabled = opt(cx, &mut a, "enabled", true, decode::boolean);
    let format = opt(cx, &mut a, "format", AccessLogFormat::Json, access_log_format);
    let output = opt(cx, &mut a, "output", AccessLogOutput::Stdout, |cx, n, p| {
        Some(match decode::non_empty(cx, n, p)?.as_str() {
            "stdout" => AccessLogOutput::Stdout,
            "stderr" => AccessLogOutput::Stderr,
            path => AccessLogOutput::File(cx.resolve(path)),
        })
    });
    a.finish(cx);
    Some(AccessLogConfig { enabled: enabled?, format: format?, output: output? })
}

/// `json`, `clf`, or a template of `$context` variables (at most 3 KB, AWS's limit).
fn access_log_format(cx: &mut Cx, n: &Node, p: &YPath) -> Option<AccessLogFormat> {
    let text = decode::non_empty(cx, n, p)?;
    match text.as_str() {
        "json" => return Some(AccessLogFormat::Json),
        "clf" => return Some(AccessLogFormat::Clf),
        _ => {}
    }
    if text.len() > 3 * 1024 {
        cx.aws_forbids(n.span, p, "an access-log format over 3 KB", "AWS limits the format to 3 KB");
    }
    match crate::expr::template(&text, crate::expr::Place::AccessLog, &cx.stage_variables) {
        Ok(template) if template.variables().next().is_some() => Some(AccessLogFormat::Template(template)),
        Ok(_) => {
            cx.error(
                n.span,
                p,
                format!(
                    "the format {text:?} is neither `json`, `clf`, nor a template with `$context` variables"
                ),
            );
            None
        }
        Err(e) => {
            cx.expr_error(n, p, &e, "invalid access-log format");
            None
        }
    }
}

fn region(cx: &mut Cx, n: &Node, p: &YPath) -> Option<String> {
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
}

fn account_id(cx: &mut Cx, n: &Node, p: &YPath) -> Option<String> {
    let s = decode::non_empty(cx, n, p)?;
    if s.len() != 12 || !s.chars().all(|c| c.is_ascii_digit()) {
        cx.error(n.span, p, format!("invalid account_id {s:?} (expected 12 digits)"));
        return None;
    }
    Some(s)
}

fn api_id(cx: &mut Cx, n: &Node, p: &YPath) -> Option<String> {
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
}

fn stage(cx: &mut Cx, n: &Node, p: &YPath) -> Option<String> {
    let s = decode::non_empty(cx, n, p)?;
    if s != "$default"
        && (s.len() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        cx.error(
            n.span,
            p,
            format!("invalid stage {s:?} (`$default`, or up to 128 letters, digits, - and _)"),
        );
        return None;
    }
    Some(s)
}

fn debug_headers(cx: &mut Cx, n: &Node, p: &YPath) -> Option<bool> {
    let on = decode::boolean(cx, n, p)?;
    if on {
        cx.warn(n.span, p, "debug_headers is on: responses tell clients why they were denied");
    }
    Some(on)
}

/// `functions:` with the names written (valid or not), so one mistake is not reported again at
/// every reference to it.
struct Functions {
    decoded: Option<IndexMap<String, FunctionConfig>>,
    names: Vec<String>,
}

fn functions(cx: &mut Cx, m: &mut MapReader<'_>) -> Functions {
    let mut decoded = IndexMap::new();
    let mut names = Vec::new();
    let mut ok = true;
    if let Some((n, p)) = m.get("functions")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        for e in entries {
            names.push(e.key.clone());
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
                ok = false;
            }
            match function::decode(cx, &e.value, &p.key(&e.key)) {
                Some(f) => {
                    decoded.insert(e.key.clone(), f);
                }
                None => ok = false,
            }
        }
    }
    Functions { decoded: ok.then_some(decoded), names }
}

/// `authorizers:`, with the kind of every name written (valid or not) for routes to check
/// against, and where each name is written.
struct Authorizers {
    decoded: Option<IndexMap<String, AuthorizerConfig>>,
    spans: IndexMap<String, Span>,
    kinds: IndexMap<String, AuthorizerKind>,
}

fn authorizers(cx: &mut Cx, m: &mut MapReader<'_>, functions: &[String]) -> Authorizers {
    let mut decoded = IndexMap::new();
    let mut spans = IndexMap::new();
    let mut kinds = IndexMap::new();
    let mut ok = true;
    if let Some((n, p)) = m.get("authorizers")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        for e in entries {
            kinds.insert(e.key.clone(), authorizer::kind_of(&e.value));
            if e.key == "none" {
                cx.error(
                    e.key_span,
                    &p.key(&e.key),
                    "`none` is reserved for public routes (`authorizer: none`)",
                );
                ok = false;
                continue;
            }
            match authorizer::decode(cx, &e.value, &p.key(&e.key), functions) {
                Some(a) => {
                    decoded.insert(e.key.clone(), a);
                    spans.insert(e.key.clone(), e.key_span);
                }
                None => ok = false,
            }
        }
    }
    Authorizers { decoded: ok.then_some(decoded), spans, kinds }
}

fn default_authorizer(
    cx: &mut Cx,
    n: &Node,
    p: &YPath,
    kinds: &IndexMap<String, AuthorizerKind>,
) -> Option<Option<String>> {
    let a = decode::non_empty(cx, n, p)?;
    if kinds.contains_key(&a) {
        return Some(Some(a));
    }
    let hint = did_you_mean(&a, kinds.keys().map(String::as_str));
    let problem = if a == "none" {
        "`none` is the default already: leave `default_authorizer` out".to_owned()
    } else {
        format!("unknown authorizer {a:?}: it is not defined under `authorizers:`")
    };
    cx.error_hint(n.span, p, problem, hint);
    None
}

fn routes(cx: &mut Cx, m: &mut MapReader<'_>, refs: &RouteRefs<'_>) -> Option<Vec<RouteConfig>> {
    let mut routes = Vec::new();
    let mut ok = true;
    let Some((n, p)) = m.get("routes") else { return Some(routes) };
    let entries = decode::entries(cx, n, &p)?;
    // Duplicates are judged by the route table itself, so config and runtime agree on what
    // "the same route" means (same method, same path shape).
    let mut table = portcullis_route::RouteTableBuilder::new();
    let mut accepted_spans = Vec::new();
    for e in entries {
        let Some(r) = route::decode(cx, e, &p, refs) else {
            ok = false;
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
                ok = false;
            }
        }
    }
    ok.then_some(routes)
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

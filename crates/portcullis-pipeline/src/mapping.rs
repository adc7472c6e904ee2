//! Request parameter mapping stage: AWS `RequestParameters` (spec §5.2, §9 step 6).
//!
//! Runs after authorization (so `$context.authorizer.*` is known) and before the integration,
//! which forwards the mapped request (HTTP) or builds its Lambda event from it. Mapping keys
//! and values are compiled once per config load into [`RequestMapping`]: header names are
//! [`HeaderName`]s, variables an enum, constants (`$context.stage`, `$stageVariables.x`, ...)
//! already substituted; a request only looks values up and writes them.
//!
//! Semantics (decisions where AWS is silent are in docs/decisions.md):
//! - every value is evaluated against the request as it reached this stage, then all entries
//!   are applied in config order, so one mapping never sees another's output;
//! - a value that references something absent (a header the client did not send, a context
//!   key the authorizer did not return, a claim the token lacks) skips its entry, as AWS's
//!   behaviour is observed; except that a skipped `overwrite` still removes the client's copy
//!   of its target, so a backend never mistakes a client-sent value for a mapped one;
//! - `append:header` adds a field line (the client's lines stay), `append:querystring` adds a
//!   `name=value` pair; `overwrite` replaces every occurrence; `remove` drops every occurrence;
//! - `overwrite:path` becomes a [`PathOverride`] request extension the HTTP integration honours;
//! - the body is read (up to `max_body`) only when a value references `$request.body`; a JSON
//!   path is evaluated on its first 100 KB, as AWS does; the integration gets the same bytes.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::HeaderValue;
use http::header::{HOST, HeaderName, USER_AGENT};
use http::request::Parts;
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use portcullis_core::{ApiIdentity, AuthContext, Body, CallContext, full};
use portcullis_integration::http::PathOverride;
use serde_json::Value;

use crate::plan::RoutePlan;
use crate::respond::Rejection;

/// Characters percent-encoded when a value is written into a path: everything not valid in
/// a URI path segment except `/` (kept so `$request.path` and greedy values stay paths) and
/// `%` in text that is already encoded (raw path values and literals).
const PATH: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');
/// Like [`PATH`], for decoded values: a literal `%` must be encoded too.
const PATH_DECODED: &AsciiSet = &PATH.add(b'%').add(b'\\').add(b'^').add(b'|').add(b'[').add(b']');
/// AWS truncates the body to this before evaluating a JSON path (spec §5.2).
const BODY_JSON_LIMIT: usize = 100 * 1024;
/// Query names and values: everything but RFC 3986 unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a mapping failed to compile, or (rarely) to apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The key is not one of the spec §5.2 forms (config validation normally catches this).
    #[error("invalid mapping key {0:?}")]
    Key(String),
    /// A problem in a value, at `offset` characters from its start (0-based).
    #[error("{problem}")]
    Value {
        /// Character offset of the problem within the value.
        offset: usize,
        /// What is wrong, one sentence.
        problem: String,
        /// A hint, e.g. the closest supported variable.
        hint: Option<String>,
    },
    /// At request time: the mapped text cannot be a header value (control characters).
    #[error("the mapped value for header {0} is not a valid header value")]
    HeaderValue(HeaderName),
    /// At request time: the mapped query string or path does not form a valid URI.
    #[error("the mapped request URI is invalid: {0}")]
    Uri(String),
}

/// A compiled `parameter_mapping`: applied to each request of its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMapping {
    ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Header { action: Action, name: HeaderName, value: Template },
    Query { action: Action, name: String, value: Template },
    Path(Template),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Append,
    Overwrite,
    Remove,
}

/// A value: literal text and variables, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

/// A value known only per request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    /// `$request.header.<name>`: every value, joined with `,`.
    Header(HeaderName),
    /// `$request.querystring.<name>`: decoded values, joined with `,`; name case-sensitive.
    Query(String),
    /// `$request.path`: the request path (no stage prefix is served, spec §1.5).
    Path,
    /// `$request.path.<name>`.
    PathParam(String),
    /// `$context.requestId`.
    RequestId,
    /// `$context.routeKey`.
    RouteKey,
    /// `$context.httpMethod`.
    HttpMethod,
    /// `$context.path`.
    ContextPath,
    /// `$context.protocol`.
    Protocol,
    /// `$context.domainName`: the `Host` the client used.
    DomainName,
    /// `$context.domainPrefix`: its first label.
    DomainPrefix,
    /// `$context.requestTime` (CLF, `23/Nov/2026:11:22:33 +0000`).
    RequestTime,
    /// `$context.requestTimeEpoch` (milliseconds).
    RequestTimeEpoch,
    /// `$context.identity.sourceIp`.
    SourceIp,
    /// `$context.identity.userAgent`.
    UserAgent,
    /// `$context.authorizer.principalId` (Lambda authorizers).
    PrincipalId,
    /// `$context.authorizer.claims.<name>` (JWT authorizers).
    Claim(String),
    /// `$context.authorizer.<key>` (Lambda authorizer context).
    AuthorizerKey(String),
    /// `$request.body` (the whole body as text) or `$request.body.<path>` (a JSON value).
    Body(Vec<JsonStep>),
}

/// One step of a `$request.body` JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JsonStep {
    Key(String),
    Index(usize),
}

/// The `$context` variables a mapping may use (spec §7.4), for errors and hints.
const CONTEXT_VARS: &[&str] = &[
    "requestId",
    "routeKey",
    "stage",
    "apiId",
    "accountId",
    "httpMethod",
    "path",
    "protocol",
    "domainName",
    "domainPrefix",
    "requestTime",
    "requestTimeEpoch",
    "identity.sourceIp",
    "identity.userAgent",
    "authorizer.principalId",
    "authorizer.claims.NAME",
    "authorizer.KEY",
];

impl RequestMapping {
    /// Compiles `entries` (key, value) as written in config.
    ///
    /// # Errors
    /// The index of the first bad entry and what is wrong with it (with the character offset
    /// within the value for value problems).
    pub fn compile<'e>(
        entries: impl IntoIterator<Item = (&'e str, &'e str)>,
        env: &ApiIdentity,
    ) -> Result<Self, (usize, MappingError)> {
        let mut ops = Vec::new();
        for (i, (key, value)) in entries.into_iter().enumerate() {
            ops.push(compile_entry(key, value, env).map_err(|e| (i, e))?);
        }
        Ok(Self { ops })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether a value references `$request.body`, so the body must be read before applying.
    pub fn needs_body(&self) -> bool {
        self.ops.iter().any(|op| match op {
            Op::Header { value, .. } | Op::Query { value, .. } | Op::Path(value) => {
                value.0.iter().any(|p| matches!(p, Part::Var(Var::Body(_))))
            }
        })
    }

    /// Applies the mapping to a request's head.
    ///
    /// # Errors
    /// Only when a mapped value cannot be represented (a header value with control characters,
    /// a path that does not parse); the caller answers 500.
    pub fn apply(&self, parts: &mut Parts, ctx: &CallContext) -> Result<(), MappingError> {
        self.apply_with_body(parts, ctx, None)
    }

    /// [`Self::apply`] with the request body, for mappings that reference `$request.body`
    /// (without it, body references are absent and their entries skipped).
    ///
    /// # Errors
    /// As [`Self::apply`].
    pub fn apply_with_body(
        &self,
        parts: &mut Parts,
        ctx: &CallContext,
        body: Option<&Bytes>,
    ) -> Result<(), MappingError> {
        let json = Json::new(body);
        // Evaluate everything first: every value sees the request as it arrived here.
        let values: Vec<Option<String>> = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Header { action: Action::Remove, .. } | Op::Query { action: Action::Remove, .. } => {
                    Some(String::new())
                }
                Op::Header { value, .. } | Op::Query { value, .. } => {
                    render(value, parts, ctx, &json, Target::Text)
                }
                Op::Path(value) => render(value, parts, ctx, &json, Target::Path),
            })
            .collect();

        let mut query: Option<Vec<(String, String)>> = None;
        for (op, value) in self.ops.iter().zip(values) {
            match op {
                Op::Header { action, name, .. } => match (action, value) {
                    (Action::Remove, _) | (Action::Overwrite, None) => {
                        parts.headers.remove(name);
                    }
                    (Action::Append, None) => {}
                    (action, Some(text)) => {
                        // Bytes, not `from_str`: UTF-8 text (a claim such as `José`) is sent as is;
                        // only control characters are refused.
                        let v = HeaderValue::from_bytes(text.as_bytes())
                            .map_err(|_| MappingError::HeaderValue(name.clone()))?;
                        if *action == Action::Overwrite {
                            parts.headers.insert(name.clone(), v);
                        } else {
                            parts.headers.append(name.clone(), v);
                        }
                    }
                },
                Op::Query { action, name, .. } => {
                    let pairs = query.get_or_insert_with(|| raw_pairs(parts.uri.query()));
                    let encoded_name = utf8_percent_encode(name, QUERY).to_string();
                    if matches!(action, Action::Remove | Action::Overwrite) {
                        pairs.retain(|(n, _)| portcullis_events::form_decode(n) != *name);
                    }
                    if let (Action::Append | Action::Overwrite, Some(text)) = (action, value) {
                        pairs.push((encoded_name, utf8_percent_encode(&text, QUERY).to_string()));
                    }
                }
                Op::Path(_) => {
                    if let Some(mut path) = value.filter(|p| !p.is_empty()) {
                        if !path.starts_with('/') {
                            path.insert(0, '/');
                        }
                        parts.extensions.insert(PathOverride(path));
                    }
                }
            }
        }
        if let Some(pairs) = query {
            let mut pq = parts.uri.path().to_owned();
            for (i, (n, v)) in pairs.iter().enumerate() {
                pq.push(if i == 0 { '?' } else { '&' });
                pq.push_str(n);
                if !v.is_empty() || n.is_empty() {
                    pq.push('=');
                    pq.push_str(v);
                }
            }
            let mut uri = std::mem::take(&mut parts.uri).into_parts();
            uri.path_and_query =
                Some(pq.parse().map_err(|e: http::uri::InvalidUri| MappingError::Uri(e.to_string()))?);
            parts.uri = http::Uri::from_parts(uri).map_err(|e| MappingError::Uri(e.to_string()))?;
        }
        Ok(())
    }
}

/// The mapping stage: applies the route's mapping, if any. A value that cannot be represented
/// is the integration request failing to build: 500, as AWS answers an integration failure.
///
/// `body` is returned unchanged unless a value references `$request.body`: then it is read
/// whole (it is already limited to `max_body`; over the limit is 413) and handed on as bytes.
pub async fn run(
    plan: &RoutePlan,
    parts: &mut Parts,
    body: Body,
    ctx: &CallContext,
) -> Result<Body, Rejection> {
    let Some(mapping) = &plan.mapping else {
        return Ok(body);
    };
    let (body, bytes) = if mapping.needs_body() {
        let bytes = body.collect().await.map_err(|error| {
            if is_length_limit(&*error) {
                Rejection::PayloadTooLarge
            } else {
                tracing::debug!(request_id = %ctx.request_id, %error, "request body could not be read");
                Rejection::BadRequest
            }
        })?;
        let bytes = bytes.to_bytes();
        (full(bytes.clone()), Some(bytes))
    } else {
        (body, None)
    };
    mapping.apply_with_body(parts, ctx, bytes.as_ref()).map_err(|error| {
        tracing::warn!(request_id = %ctx.request_id, route = %ctx.route_key, %error, "parameter mapping failed");
        Rejection::InternalServerError
    })?;
    Ok(body)
}

/// Whether `error` or one of its sources is the `max_body` limit.
fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The body, parsed as JSON once (from its first 100 KB) when a JSON path needs it.
struct Json<'b> {
    body: Option<&'b Bytes>,
    parsed: std::cell::OnceCell<Option<Value>>,
}

impl<'b> Json<'b> {
    fn new(body: Option<&'b Bytes>) -> Self {
        Self { body, parsed: std::cell::OnceCell::new() }
    }

    fn text(&self) -> Option<String> {
        self.body.map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn value(&self) -> Option<&Value> {
        self.parsed
            .get_or_init(|| {
                let b = self.body?;
                serde_json::from_slice(&b[..b.len().min(BODY_JSON_LIMIT)]).ok()
            })
            .as_ref()
    }
}

/// The query string split into (raw name, raw value) pairs, as sent.
fn raw_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (n.to_owned(), v.to_owned())
        })
        .collect()
}

/// Where a rendered value goes, which decides how variable values are escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A header or query value (query values are encoded when written).
    Text,
    /// The upstream path: raw path values stay encoded, others are encoded.
    Path,
}

/// The value, or `None` when any variable in it is absent.
fn render(t: &Template, parts: &Parts, ctx: &CallContext, json: &Json<'_>, target: Target) -> Option<String> {
    let mut out = String::new();
    for part in &t.0 {
        match part {
            Part::Literal(text) => {
                if target == Target::Path {
                    out.extend(utf8_percent_encode(text, PATH));
                } else {
                    out.push_str(text);
                }
            }
            Part::Var(var) => {
                let value = match var {
                    Var::Body(steps) => body_value(json, steps)?,
                    _ => lookup(var, parts, ctx, target)?,
                };
                let raw = matches!(var, Var::Path | Var::PathParam(_));
                match target {
                    Target::Path if raw => out.extend(utf8_percent_encode(&value, PATH)),
                    Target::Path => out.extend(utf8_percent_encode(&value, PATH_DECODED)),
                    Target::Text => out.push_str(&value),
                }
            }
        }
    }
    Some(out)
}

fn lookup(var: &Var, parts: &Parts, ctx: &CallContext, target: Target) -> Option<String> {
    Some(match var {
        Var::Header(name) => portcullis_events::header_value(&parts.headers, name)?.into_owned(),
        Var::Query(name) => portcullis_events::query_value(parts.uri.query()?, name)?,
        Var::Path => {
            let raw = parts.uri.path();
            if target == Target::Path { raw.to_owned() } else { form_decode_path(raw) }
        }
        Var::PathParam(name) => {
            let p = ctx.params.get(name)?;
            if target == Target::Path { p.raw.clone() } else { p.decoded.clone() }
        }
        Var::RequestId => ctx.request_id.as_str().to_owned(),
        Var::RouteKey => ctx.route_key.to_string(),
        Var::HttpMethod => parts.method.as_str().to_owned(),
        Var::ContextPath => parts.uri.path().to_owned(),
        Var::Protocol => match parts.version {
            http::Version::HTTP_2 => "HTTP/2.0",
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        }
        .to_owned(),
        Var::DomainName => host(parts)?,
        Var::DomainPrefix => host(parts)?.split('.').next().unwrap_or_default().to_owned(),
        Var::RequestTime => portcullis_events::clf_time(ctx.received_at),
        Var::RequestTimeEpoch => {
            ctx.received_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis().to_string()
        }
        Var::SourceIp => ctx.client_addr.ip().to_string(),
        Var::UserAgent => {
            parts.headers.get(USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())?
        }
        Var::PrincipalId => match &ctx.auth {
            AuthContext::Lambda(l) => l.principal_id.clone()?,
            _ => return None,
        },
        Var::Claim(name) => match &ctx.auth {
            AuthContext::Jwt(j) => portcullis_events::claim_string(j.claims.get(name)?)?,
            _ => return None,
        },
        Var::AuthorizerKey(key) => match &ctx.auth {
            AuthContext::Lambda(l) => context_value(l.context.as_ref()?.get(key)?)?,
            _ => return None,
        },
        // Looked up by `render`, which holds the body.
        Var::Body(_) => return None,
    })
}

/// `$request.body` is the body as text; `$request.body.<path>` the JSON value there (strings
/// raw, other values as compact JSON; `null`, a missing path or a body that is not JSON within
/// its first 100 KB are absent).
fn body_value(json: &Json<'_>, steps: &[JsonStep]) -> Option<String> {
    if steps.is_empty() {
        return json.text();
    }
    let mut v = json.value()?;
    for step in steps {
        v = match step {
            JsonStep::Key(k) => v.get(k)?,
            JsonStep::Index(i) => v.get(i)?,
        };
    }
    context_value(v)
}

/// A Lambda authorizer context value as text: strings raw, numbers and booleans as their
/// JSON text (`1`, `true`, spec §3.10), objects and arrays as compact JSON; `null` is absent.
fn context_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The host the client addressed, without a port.
fn host(parts: &Parts) -> Option<String> {
    let h = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).or_else(|| parts.uri.host())?;
    let without_port = match h.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || h.starts_with('[') => {
            if port.chars().all(|c| c.is_ascii_digit()) { name } else { h }
        }
        _ => h,
    };
    Some(without_port.to_owned())
}

/// Percent-decoding of a path (no `+` rule).
fn form_decode_path(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

fn compile_entry(key: &str, value: &str, env: &ApiIdentity) -> Result<Op, MappingError> {
    let bad_key = || MappingError::Key(key.to_owned());
    let (action, target) = key.split_once(':').ok_or_else(bad_key)?;
    let action = match action {
        "append" => Action::Append,
        "overwrite" => Action::Overwrite,
        "remove" => Action::Remove,
        _ => return Err(bad_key()),
    };
    let template = || if action == Action::Remove { Ok(Template::default()) } else { parse(value, env) };
    if target == "path" {
        if action != Action::Overwrite {
            return Err(bad_key());
        }
        return Ok(Op::Path(template()?));
    }
    let (place, name) = target.split_once('.').ok_or_else(bad_key)?;
    match place {
        "header" => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad_key())?;
            Ok(Op::Header { action, name, value: template()? })
        }
        "querystring" if !name.is_empty() => {
            Ok(Op::Query { action, name: name.to_owned(), value: template()? })
        }
        _ => Err(bad_key()),
    }
}

/// Parses a value: literal text, `$name.path` (up to the first character that cannot be in a
/// name) and `${name.path}`. A `$` not followed by `{` or a dotted name is literal text.
fn parse(value: &str, env: &ApiIdentity) -> Result<Template, MappingError> {
    let chars: Vec<char> = value.chars().collect();
    let mut parts: Vec<Part> = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            literal.push(chars[i]);
            i += 1;
            continue;
        }
        let (name, name_at, next) = if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                return Err(MappingError::Value {
                    offset: i,
                    problem: "`${` is not closed by `}`".into(),
                    hint: None,
                });
            };
            let name: String = chars[i + 2..i + 2 + close].iter().collect();
            (name, i + 2, i + 3 + close)
        } else {
            let mut end = i + 1;
            while end < chars.len()
                && (chars[end].is_ascii_alphanumeric()
                    || matches!(chars[end], '_' | '-' | '.' | ':' | '[' | ']'))
            {
                end += 1;
            }
            // A trailing dot ends a sentence, not a name.
            while end > i + 1 && chars[end - 1] == '.' {
                end -= 1;
            }
            let name: String = chars[i + 1..end].iter().collect();
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || !name.contains('.') {
                // `$5`, `$foo`: literal text, as AWS treats them.
                literal.push('$');
                i += 1;
                continue;
            }
            (name, i + 1, end)
        };
        match variable(&name, env).map_err(|(problem, hint)| MappingError::Value {
            offset: name_at,
            problem,
            hint,
        })? {
            Resolved::Constant(text) => literal.push_str(&text),
            Resolved::Var(var) => {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(var));
            }
        }
        i = next;
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(Template(parts))
}

/// Parses the part after `$request.body`: empty (the whole body) or `.a.b[0].c`. AWS supports
/// neither recursive descent (`..`) nor filters (`?(...)`), and neither does this.
fn json_path(path: &str) -> Result<Vec<JsonStep>, String> {
    let mut steps = Vec::new();
    if path.is_empty() {
        return Ok(steps);
    }
    let Some(path) = path.strip_prefix('.') else {
        return Err("expected `.` after `$request.body`".into());
    };
    if path.starts_with('.') || path.contains("..") {
        return Err("recursive descent (`..`) is not supported (as on AWS)".into());
    }
    if path.contains('?') || path.contains('*') {
        return Err("filters and wildcards are not supported (as on AWS)".into());
    }
    for segment in path.split('.') {
        let (key, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        if key.is_empty() {
            return Err(format!("invalid JSON path segment {segment:?} (write `a[0]`, not `[0]`)"));
        }
        steps.push(JsonStep::Key(key.to_owned()));
        while !rest.is_empty() {
            let Some(close) = rest.find(']') else {
                return Err(format!("`[` without `]` in {segment:?}"));
            };
            let index = rest[1..close]
                .parse::<usize>()
                .map_err(|_| format!("array index {:?} is not a whole number", &rest[1..close]))?;
            steps.push(JsonStep::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("invalid JSON path segment {segment:?}"));
            }
        }
    }
    Ok(steps)
}

enum Resolved {
    Constant(String),
    Var(Var),
}

/// Resolves one variable name (without `$`/`${}`).
fn variable(name: &str, env: &ApiIdentity) -> Result<Resolved, (String, Option<String>)> {
    let (root, rest) = name.split_once('.').unwrap_or((name, ""));
    let need = |what: &str| (format!("`${name}` needs a {what} after `{root}.`"), None);
    match root {
        "request" => {
            let (kind, sel) = rest.split_once('.').unwrap_or((rest, ""));
            match (kind, sel) {
                ("header", "") => Err(need("header name")),
                ("header", h) => HeaderName::from_bytes(h.as_bytes())
                    .map(|h| Resolved::Var(Var::Header(h)))
                    .map_err(|_| (format!("invalid header name {h:?} in `${name}`"), None)),
                ("querystring", "") => Err(need("query string parameter name")),
                ("querystring", q) => Ok(Resolved::Var(Var::Query(q.to_owned()))),
                ("path", "") => Ok(Resolved::Var(Var::Path)),
                ("path", p) => Ok(Resolved::Var(Var::PathParam(p.to_owned()))),
                ("body", _) => json_path(rest.strip_prefix("body").unwrap_or_default())
                    .map(|steps| Resolved::Var(Var::Body(steps)))
                    .map_err(|problem| {
                        (
                            format!("`${name}`: {problem}"),
                            Some("write e.g. `$request.body.order.items[0].id`".into()),
                        )
                    }),
                _ => Err((
                    format!("unknown request variable `${name}`"),
                    Some("use `$request.header.NAME`, `$request.querystring.NAME`, `$request.path` or `$request.path.NAME`".into()),
                )),
            }
        }
        "stageVariables" => match env.stage_variables.iter().find(|(n, _)| n == rest) {
            Some((_, v)) => Ok(Resolved::Constant(v.clone())),
            None if rest.is_empty() => Err(need("stage variable name")),
            None => Err((format!("stage variable {rest:?} is not defined"), None)),
        },
        "context" => context_variable(rest, name, env),
        _ => Err((
            format!("unknown variable `${name}`"),
            Some("variables start with `$request.`, `$context.` or `$stageVariables.`".into()),
        )),
    }
}

fn context_variable(rest: &str, name: &str, env: &ApiIdentity) -> Result<Resolved, (String, Option<String>)> {
    let var = match rest {
        "stage" => return Ok(Resolved::Constant(env.stage.to_owned())),
        "apiId" => return Ok(Resolved::Constant(env.api_id.to_owned())),
        "accountId" => return Ok(Resolved::Constant(env.account_id.to_owned())),
        "requestId" | "extendedRequestId" => Var::RequestId,
        "routeKey" => Var::RouteKey,
        "httpMethod" => Var::HttpMethod,
        "path" => Var::ContextPath,
        "protocol" => Var::Protocol,
        "domainName" => Var::DomainName,
        "domainPrefix" => Var::DomainPrefix,
        "requestTime" => Var::RequestTime,
        "requestTimeEpoch" => Var::RequestTimeEpoch,
        "identity.sourceIp" => Var::SourceIp,
        "identity.userAgent" => Var::UserAgent,
        "authorizer.principalId" => Var::PrincipalId,
        other => {
            if let Some(claim) = other.strip_prefix("authorizer.claims.") {
                if claim.is_empty() {
                    return Err((format!("`${name}` needs a claim name"), None));
                }
                if claim.contains(':') {
                    // spec §2.8: AWS rejects these ("Invalid mapping expression specified").
                    return Err((
                        format!("claim {claim:?} contains `:`; AWS cannot reference such claims in mappings"),
                        Some("forward it with `forward_claims` on the JWT authorizer instead".into()),
                    ));
                }
                Var::Claim(claim.to_owned())
            } else if let Some(key) = other.strip_prefix("authorizer.") {
                if key.is_empty() || key == "claims" || key.contains(['.', ':']) {
                    return Err((format!("invalid authorizer variable `${name}`"), Some(known_context())));
                }
                Var::AuthorizerKey(key.to_owned())
            } else {
                let hint =
                    closest(other).map_or_else(known_context, |c| format!("did you mean `$context.{c}`?"));
                return Err((format!("unknown context variable `${name}`"), Some(hint)));
            }
        }
    };
    Ok(Resolved::Var(var))
}

fn known_context() -> String {
    let mut s = String::from("supported: ");
    for (i, v) in CONTEXT_VARS.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "`$context.{v}`");
    }
    s
}

/// The supported context variable closest to `word` (case-insensitive, small edit distance).
fn closest(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    CONTEXT_VARS
        .iter()
        .copied()
        .filter(|c| !c.contains("NAME") && !c.contains("KEY"))
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use http::{Method, Request};
    use portcullis_core::{JwtContext, LambdaContext, Param, Params, RequestIdGenerator};
    use serde_json::json;

    use super::*;

    fn compile(entries: &[(&str, &str)]) -> RequestMapping {
        let vars = vec![("env".to_owned(), "prod".to_owned())];
        let env = ApiIdentity { stage_variables: vars, ..ApiIdentity::default() };
        RequestMapping::compile(entries.iter().copied(), &env).unwrap()
    }

    fn compile_err(value: &str) -> MappingError {
        let vars = vec![("env".to_owned(), "prod".to_owned())];
        let env = ApiIdentity {
            api_id: "a".into(),
            account_id: "1".into(),
            stage_variables: vars,
            ..ApiIdentity::default()
        };
        RequestMapping::compile([("overwrite:header.x", value)], &env).unwrap_err().1
    }

    fn ctx(auth: AuthContext) -> CallContext {
        CallContext {
            request_id: RequestIdGenerator::new(7).next_id(),
            client_addr: "192.0.2.9:5555".parse::<SocketAddr>().unwrap(),
            tls: false,
            route_key: Arc::from("GET /orders/{id}"),
            params: Params(vec![Param {
                name: Arc::from("id"),
                raw: "a%20b".to_owned(),
                decoded: "a b".to_owned(),
            }]),
            received_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            auth,
        }
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method(Method::GET).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn lambda(context: serde_json::Value) -> AuthContext {
        AuthContext::Lambda(LambdaContext {
            principal_id: Some("user|42".to_owned()),
            context: context.as_object().cloned().map(Arc::new),
        })
    }

    fn header_values(p: &Parts, name: &str) -> Vec<String> {
        p.headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn lambda_authorizer_context_reaches_headers_with_json_rendering() {
        let m = compile(&[
            ("overwrite:header.x-tenant", "$context.authorizer.tenant"),
            ("overwrite:header.x-n", "$context.authorizer.n"),
            ("overwrite:header.x-b", "$context.authorizer.admin"),
            ("overwrite:header.x-o", "$context.authorizer.obj"),
            ("overwrite:header.x-p", "$context.authorizer.principalId"),
        ]);
        let mut p = parts("/orders/a%20b", &[("x-tenant", "spoofed")]);
        let c = ctx(lambda(json!({"tenant": "acme", "n": 1.5, "admin": true, "obj": {"a": [1, "x"]}})));
        m.apply(&mut p, &c).unwrap();
        assert_eq!(header_values(&p, "x-tenant"), ["acme"], "the client's copy is replaced");
        assert_eq!(header_values(&p, "x-n"), ["1.5"]);
        assert_eq!(header_values(&p, "x-b"), ["true"]);
        assert_eq!(header_values(&p, "x-o"), [r#"{"a":[1,"x"]}"#]);
        assert_eq!(header_values(&p, "x-p"), ["user|42"]);
    }

    #[test]
    fn an_absent_value_skips_the_entry_but_overwrite_still_removes_the_client_copy() {
        let m = compile(&[
            ("overwrite:header.x-tenant", "$context.authorizer.tenant"),
            ("append:header.x-trace", "${request.header.x-missing}-1"),
            ("overwrite:querystring.t", "$context.authorizer.tenant"),
            ("overwrite:path", "/v2/$context.authorizer.tenant"),
        ]);
        let mut p = parts("/orders/1?t=spoofed&keep=1", &[("x-tenant", "spoofed"), ("x-trace", "client")]);
        m.apply(&mut p, &ctx(lambda(json!({"other": 1})))).unwrap();
        assert!(p.headers.get("x-tenant").is_none());
        assert_eq!(header_values(&p, "x-trace"), ["client"]);
        assert_eq!(p.uri.to_string(), "/orders/1?keep=1");
        assert!(p.extensions.get::<PathOverride>().is_none());
        // No authorizer at all: the same.
        let mut p = parts("/orders/1", &[("x-tenant", "spoofed")]);
        m.apply(&mut p, &ctx(AuthContext::None)).unwrap();
        assert!(p.headers.get("x-tenant").is_none());
    }

    #[test]
    fn jwt_claims_render_as_aws_does() {
        let m = compile(&[
            ("overwrite:querystring.user", "$context.authorizer.claims.sub"),
            ("overwrite:header.x-groups", "$context.authorizer.claims.groups"),
            ("overwrite:header.x-exp", "$context.authorizer.claims.exp"),
        ]);
        let claims = json!({"sub": "alice smith", "groups": ["a", "b"], "exp": 1700000000});
        let auth = AuthContext::Jwt(JwtContext {
            claims: Arc::new(claims.as_object().unwrap().clone()),
            scopes: None,
        });
        let mut p = parts("/orders/1?user=mallory&x=1", &[]);
        m.apply(&mut p, &ctx(auth)).unwrap();
        assert_eq!(p.uri.to_string(), "/orders/1?x=1&user=alice%20smith");
        assert_eq!(header_values(&p, "x-groups"), ["[a b]"]);
        assert_eq!(header_values(&p, "x-exp"), ["1700000000"]);
    }

    #[test]
    fn append_adds_a_line_or_a_pair_and_remove_drops_every_one() {
        let m = compile(&[
            ("append:header.x-trace", "${context.requestId}-${request.path.id}"),
            ("append:querystring.tag", "b"),
            ("remove:header.x-debug", "''"),
            ("remove:querystring.debug", "''"),
        ]);
        let c = ctx(AuthContext::None);
        let mut p = parts(
            "/orders/a%20b?tag=a&debug=1&debug=2",
            &[("x-trace", "client"), ("x-debug", "1"), ("x-debug", "2")],
        );
        m.apply(&mut p, &c).unwrap();
        assert_eq!(header_values(&p, "x-trace"), ["client".to_owned(), format!("{}-a b", c.request_id)]);
        assert!(p.headers.get("x-debug").is_none());
        assert_eq!(p.uri.to_string(), "/orders/a%20b?tag=a&tag=b");
    }

    #[test]
    fn values_read_the_request_before_any_entry_is_applied() {
        let m = compile(&[
            ("overwrite:header.x-a", "$request.header.x-b"),
            ("overwrite:header.x-b", "$request.header.x-a"),
            ("overwrite:header.x-q", "$request.querystring.q"),
        ]);
        let mut p = parts("/x?q=1&q=two+2&Q=no", &[("x-a", "A"), ("x-b", "B1"), ("x-b", "B2")]);
        m.apply(&mut p, &ctx(AuthContext::None)).unwrap();
        assert_eq!(header_values(&p, "x-a"), ["B1,B2"], "repeats joined with a comma (spec §5.2)");
        assert_eq!(header_values(&p, "x-b"), ["A"]);
        assert_eq!(header_values(&p, "x-q"), ["1,two 2"], "query names are case-sensitive");
    }

    #[test]
    fn path_overwrite_keeps_raw_path_values_and_encodes_others() {
        let m = compile(&[("overwrite:path", "/v2/orders/$request.path.id/$context.authorizer.claims.sub")]);
        let claims = json!({"sub": "a/b c%"});
        let auth = AuthContext::Jwt(JwtContext {
            claims: Arc::new(claims.as_object().unwrap().clone()),
            scopes: None,
        });
        let mut p = parts("/orders/a%20b", &[]);
        m.apply(&mut p, &ctx(auth)).unwrap();
        assert_eq!(p.extensions.get::<PathOverride>().unwrap().0, "/v2/orders/a%20b/a/b%20c%25");
        let whole = compile(&[("overwrite:path", "$request.path")]);
        let mut p = parts("/orders/a%20b?x=1", &[]);
        whole.apply(&mut p, &ctx(AuthContext::None)).unwrap();
        assert_eq!(p.extensions.get::<PathOverride>().unwrap().0, "/orders/a%20b");
    }

    #[test]
    fn constants_are_substituted_at_compile_time() {
        let m = compile(&[(
            "overwrite:header.x-c",
            "$context.stage/${context.apiId}/$context.accountId/$stageVariables.env $5",
        )]);
        assert_eq!(
            m.ops[0],
            Op::Header {
                action: Action::Overwrite,
                name: HeaderName::from_static("x-c"),
                value: Template(vec![Part::Literal("$default/portcullis/123456789012/prod $5".into())]),
            }
        );
        let mut p = parts("/", &[("host", "api.example.com:8080"), ("user-agent", "curl/8")]);
        let all = compile(&[(
            "overwrite:header.x-all",
            "${context.httpMethod} ${context.path} ${context.protocol} ${context.domainName} ${context.domainPrefix} ${context.identity.sourceIp} ${context.identity.userAgent} ${context.routeKey} ${context.requestTimeEpoch} ${context.requestTime}",
        )]);
        all.apply(&mut p, &ctx(AuthContext::None)).unwrap();
        assert_eq!(
            header_values(&p, "x-all"),
            [
                "GET / HTTP/1.1 api.example.com api 192.0.2.9 curl/8 GET /orders/{id} 1700000000123 14/Nov/2023:22:13:20 +0000"
            ]
        );
    }

    #[test]
    fn bad_values_are_errors_at_their_offset() {
        let e = compile_err("x-${context.requestId");
        assert_eq!(
            e,
            MappingError::Value { offset: 2, problem: "`${` is not closed by `}`".into(), hint: None }
        );
        match compile_err("ab $context.requestid") {
            MappingError::Value { offset, problem, hint } => {
                assert_eq!(offset, 4);
                assert_eq!(problem, "unknown context variable `$context.requestid`");
                assert_eq!(hint.as_deref(), Some("did you mean `$context.requestId`?"));
            }
            other => panic!("{other:?}"),
        }
        match compile_err("$context.authorizer.claims.cognito:username") {
            MappingError::Value { offset: 1, problem, .. } => {
                assert!(problem.contains("contains `:`"), "{problem}")
            }
            other => panic!("{other:?}"),
        }
        match compile_err("${request.body..name}") {
            MappingError::Value { offset: 2, problem, .. } => {
                assert!(problem.contains("recursive descent"), "{problem}")
            }
            other => panic!("{other:?}"),
        }
        match compile_err("$request.body.a[x]") {
            MappingError::Value { offset: 1, problem, .. } => {
                assert!(problem.contains("whole number"), "{problem}")
            }
            other => panic!("{other:?}"),
        }
        match compile_err("$stageVariables.nope") {
            MappingError::Value { offset: 1, problem, .. } => {
                assert_eq!(problem, "stage variable \"nope\" is not defined")
            }
            other => panic!("{other:?}"),
        }
        match compile_err("$reqest.header.a") {
            MappingError::Value { offset: 1, problem, .. } => {
                assert_eq!(problem, "unknown variable `$reqest.header.a`")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn body_values_come_from_json_paths_or_the_whole_body() {
        let m = compile(&[
            ("overwrite:header.x-name", "$request.body.pets[1].name"),
            ("overwrite:header.x-pet", "${request.body.pets[0]}"),
            ("overwrite:header.x-n", "$request.body.n"),
            ("overwrite:header.x-missing", "$request.body.nope"),
            ("overwrite:querystring.all", "$request.body"),
        ]);
        assert!(m.needs_body());
        assert!(!compile(&[("overwrite:header.x", "$request.path")]).needs_body());
        let body = Bytes::from_static(br#"{"pets":[{"name":"rex"},{"name":"tom"}],"n":2}"#);
        let mut p = parts("/x", &[("x-missing", "client")]);
        m.apply_with_body(&mut p, &ctx(AuthContext::None), Some(&body)).unwrap();
        assert_eq!(header_values(&p, "x-name"), ["tom"]);
        assert_eq!(header_values(&p, "x-pet"), [r#"{"name":"rex"}"#]);
        assert_eq!(header_values(&p, "x-n"), ["2"]);
        assert!(p.headers.get("x-missing").is_none());
        assert!(p.uri.query().unwrap().starts_with("all=%7B%22pets%22"));

        // A JSON path looks at the first 100 KB only; the whole body is not truncated.
        let mut big = br#"{"a":"x","pad":""#.to_vec();
        big.extend(std::iter::repeat_n(b'p', BODY_JSON_LIMIT));
        big.extend(br#"","z":1}"#);
        let big = Bytes::from(big);
        let m = compile(&[
            ("overwrite:header.x-a", "$request.body.a"),
            ("overwrite:header.x-len", "$request.body"),
        ]);
        let mut p = parts("/x", &[]);
        m.apply_with_body(&mut p, &ctx(AuthContext::None), Some(&big)).unwrap();
        assert!(p.headers.get("x-a").is_none(), "truncated JSON does not parse: the entry is skipped");
        assert_eq!(p.headers["x-len"].len(), big.len());
    }

    #[tokio::test]
    async fn the_stage_reads_the_body_only_when_referenced_and_hands_it_on() {
        use http_body_util::Limited;
        let plan = |entries: &[(&str, &str)]| crate::plan::RoutePlan {
            key: Arc::from("GET /x"),
            access: crate::plan::Access::Public,
            rules: None,
            mapping: Some(Box::new(compile(entries))),
            integration: Arc::new(portcullis_integration::respond::RespondIntegration::new(
                http::StatusCode::OK,
                http::HeaderMap::new(),
                Bytes::new(),
            )),
        };
        let limited = |bytes: &'static [u8], max: usize| -> Body {
            Limited::new(full(Bytes::from_static(bytes)), max)
                .map_err(|e| -> portcullis_core::BoxError { e })
                .boxed()
        };
        let with_body = plan(&[("overwrite:header.x-id", "$request.body.id")]);
        let mut p = parts("/x", &[]);
        let body =
            run(&with_body, &mut p, limited(br#"{"id":7}"#, 100), &ctx(AuthContext::None)).await.unwrap();
        assert_eq!(p.headers["x-id"], "7");
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from_static(br#"{"id":7}"#));
        let mut p = parts("/x", &[]);
        let over = run(&with_body, &mut p, limited(br#"{"id":7}"#, 3), &ctx(AuthContext::None)).await;
        assert_eq!(over.err(), Some(Rejection::PayloadTooLarge));
    }

    #[test]
    fn non_ascii_values_are_sent_as_utf8() {
        let m = compile(&[("overwrite:header.x-name", "$request.querystring.n")]);
        let mut p = parts("/x?n=Jos%C3%A9", &[]);
        m.apply(&mut p, &ctx(AuthContext::None)).unwrap();
        assert_eq!(p.headers["x-name"].as_bytes(), "José".as_bytes());
    }

    #[test]
    fn a_header_value_with_control_characters_fails_the_request() {
        let m = compile(&[("overwrite:header.x-a", "$request.querystring.q")]);
        let mut p = parts("/x?q=a%0Ab", &[]);
        assert_eq!(
            m.apply(&mut p, &ctx(AuthContext::None)),
            Err(MappingError::HeaderValue(HeaderName::from_static("x-a")))
        );
    }
}

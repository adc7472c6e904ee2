//! Parameter mapping stage: AWS `RequestParameters` on the way in (this module), and
//! `ResponseParameters` on the way out ([`response`]).
//!
//! Runs after authorization (so `$context.authorizer.*` is known) and before the integration,
//! which forwards the mapped request (HTTP) or builds its Lambda event from it. The entries
//! arrive parsed ([`MappingEntry`], from the config loader) with constants (`$context.stage`,
//! `$stageVariables.x`, ...) already substituted; a request only looks values up and writes
//! them.
//!
//! Semantics (where AWS is silent, the decision is written in docs/aws-compatibility.md):
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

use bytes::Bytes;
use http::HeaderValue;
use http::header::HeaderName;
use http::request::Parts;
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use portcullis_core::{
    ApiIdentity, Body, CallContext, MappingAction, MappingEntry, MappingTarget, Template, Variable, full,
};
use portcullis_events::{RequestFacts, json_text, request_value};
use portcullis_integration::http::PathOverride;
use serde_json::Value;

/// Characters percent-encoded when a value is written into a path: everything not valid in
/// a URI path segment except `/` (kept so `$request.path` and greedy values stay paths) and
/// `%` in text that is already encoded (raw path values and literals).
const PATH: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');
/// Like [`PATH`], for decoded values: a literal `%` must be encoded too.
const PATH_DECODED: &AsciiSet = &PATH.add(b'%').add(b'\\').add(b'^').add(b'|').add(b'[').add(b']');
mod response;

pub use self::response::{RequestSide, ResponseMapping, response};

/// AWS truncates the body to this before evaluating a JSON path.
const BODY_JSON_LIMIT: usize = 100 * 1024;
/// Query names and values: everything but RFC 3986 unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a mapping could not be applied to a request: the integration request cannot be built,
/// which AWS answers as an integration failure (500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The mapped text cannot be a header value (control characters).
    #[error("the mapped value for header {0} is not a valid header value")]
    HeaderValue(HeaderName),
    /// The mapped query string or path does not form a valid URI.
    #[error("the mapped request URI is invalid: {0}")]
    Uri(String),
    /// The body a value references could not be read (the client's fault).
    #[error("the request body could not be read")]
    Body,
    /// The body a value references is over `max_body`.
    #[error("the request body is over the limit")]
    BodyTooLarge,
    /// A mapped status code is not one (100 to 599).
    #[error("the mapped status code {0:?} is not a status code")]
    StatusCode(String),
    /// The integration's response body, which a value references, failed while being read.
    #[error("the integration's response body could not be read")]
    ResponseBody,
}

/// A route's `parameter_mapping`, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMapping {
    entries: Box<[MappingEntry]>,
    api: ApiIdentity,
    needs_body: bool,
}

impl RequestMapping {
    /// The mapping of `entries` on the API `api` (whose constants are substituted now).
    pub fn new(entries: &[MappingEntry], api: &ApiIdentity) -> Self {
        let entries: Box<[MappingEntry]> = entries
            .iter()
            .map(|e| {
                let value = e.value.resolve_constants(api);
                // Text written into the upstream path is encoded once, here.
                let value = if e.target == MappingTarget::Path { encode_text(&value) } else { value };
                MappingEntry { value, ..e.clone() }
            })
            .collect();
        let needs_body = entries.iter().any(|e| e.value.variables().any(|v| matches!(v, Variable::Body(_))));
        RequestMapping { entries, api: api.clone(), needs_body }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a value references `$request.body`, so the body must be read before applying.
    pub fn needs_body(&self) -> bool {
        self.needs_body
    }

    /// Applies the mapping to a request's head, with the request body for mappings that
    /// reference `$request.body` (without it, body references are absent and their entries
    /// skipped).
    ///
    /// # Errors
    /// Only when a mapped value cannot be represented (a header value with control characters,
    /// a path that does not parse); the caller answers 500.
    pub fn apply(
        &self,
        parts: &mut Parts,
        ctx: &CallContext,
        body: Option<&Bytes>,
    ) -> Result<(), MappingError> {
        let json = Json::new(body);
        // Evaluate everything first: every value sees the request as it arrived here.
        let values: Vec<Option<String>> = {
            let facts = RequestFacts::new(parts, &[], ctx, &self.api);
            self.entries
                .iter()
                .map(|entry| match (entry.action, &entry.target) {
                    (MappingAction::Remove, _) => Some(String::new()),
                    (_, MappingTarget::Path) => render(&entry.value, &facts, &json, Target::Path),
                    _ => render(&entry.value, &facts, &json, Target::Text),
                })
                .collect()
        };
        let mut query: Option<Vec<(String, String)>> = None;
        for (entry, value) in self.entries.iter().zip(values) {
            match &entry.target {
                MappingTarget::Header(name) => apply_header(&mut parts.headers, entry.action, name, value)?,
                MappingTarget::Query(name) => {
                    let pairs = query.get_or_insert_with(|| raw_pairs(parts.uri.query()));
                    if matches!(entry.action, MappingAction::Remove | MappingAction::Overwrite) {
                        pairs.retain(|(n, _)| portcullis_events::form_decode(n) != *name);
                    }
                    if let (MappingAction::Append | MappingAction::Overwrite, Some(text)) =
                        (entry.action, value)
                    {
                        pairs.push((
                            utf8_percent_encode(name, QUERY).to_string(),
                            utf8_percent_encode(&text, QUERY).to_string(),
                        ));
                    }
                }
                MappingTarget::Path => {
                    if let Some(mut path) = value.filter(|p| !p.is_empty()) {
                        if !path.starts_with('/') {
                            path.insert(0, '/');
                        }
                        parts.extensions.insert(PathOverride(path));
                    }
                }
                // Response mapping only; the config loader keeps it out of request mappings.
                MappingTarget::StatusCode => {}
            }
        }
        if let Some(pairs) = query {
            set_query(parts, &pairs)?;
        }
        Ok(())
    }
}

/// Applies one header entry: `remove` (and an `overwrite` whose value is absent) drops every
/// line of `name`, `overwrite` replaces them with the value, `append` adds a line.
fn apply_header(
    headers: &mut http::HeaderMap,
    action: MappingAction,
    name: &HeaderName,
    value: Option<String>,
) -> Result<(), MappingError> {
    match (action, value) {
        (MappingAction::Remove, _) | (MappingAction::Overwrite, None) => {
            headers.remove(name);
        }
        (MappingAction::Append, None) => {}
        (action, Some(text)) => {
            // Bytes, not `from_str`: UTF-8 text (a claim such as `José`) is sent as is; only
            // control characters are refused.
            let v = HeaderValue::from_bytes(text.as_bytes())
                .map_err(|_| MappingError::HeaderValue(name.clone()))?;
            if action == MappingAction::Overwrite {
                headers.insert(name.clone(), v);
            } else {
                headers.append(name.clone(), v);
            }
        }
    }
    Ok(())
}

fn set_query(parts: &mut Parts, pairs: &[(String, String)]) -> Result<(), MappingError> {
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
    Ok(())
}

/// The mapping stage's request half: applies the route's mapping, if any.
///
/// `body` is returned unchanged unless a value references `$request.body`: then it is read
/// whole (it is already limited to `max_body`; over the limit is 413) and handed on as bytes.
///
/// # Errors
/// [`MappingError`]: the integration request cannot be built.
pub async fn request(
    mapping: Option<&RequestMapping>,
    parts: &mut Parts,
    body: Body,
    ctx: &CallContext,
) -> Result<Body, MappingError> {
    let Some(mapping) = mapping else {
        return Ok(body);
    };
    let (body, bytes) = if mapping.needs_body() {
        let bytes = body.collect().await.map_err(|error| {
            if portcullis_core::is_caused_by::<http_body_util::LengthLimitError>(&*error) {
                MappingError::BodyTooLarge
            } else {
                tracing::debug!(request_id = %ctx.request_id, %error, "request body could not be read");
                MappingError::Body
            }
        })?;
        let bytes = bytes.to_bytes();
        (full(bytes.clone()), Some(bytes))
    } else {
        (body, None)
    };
    mapping.apply(parts, ctx, bytes.as_ref()).inspect_err(|error| {
        tracing::warn!(request_id = %ctx.request_id, route = %ctx.route_key, %error, "parameter mapping failed");
    })?;
    Ok(body)
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
fn render(template: &Template, facts: &RequestFacts<'_>, json: &Json<'_>, target: Target) -> Option<String> {
    let mut out = String::new();
    let lookup = |variable: &Variable| -> Option<std::borrow::Cow<'_, str>> {
        match variable {
            // A path written into the upstream path keeps its encoding.
            Variable::Path if target == Target::Path => {
                Some(portcullis_events::stage_relative(facts.stage, facts.parts.uri.path()).into())
            }
            Variable::PathParam(name) if target == Target::Path => {
                Some(facts.ctx.params.get(name)?.raw.as_str().into())
            }
            Variable::Body(path) if path.is_whole() => json.text().map(Into::into),
            Variable::Body(path) => json_text(path.select(json.value()?)?).map(Into::into),
            other => request_value(other, facts),
        }
    };
    let complete = if target == Target::Path {
        let escape = |variable: &Variable, value: &str, out: &mut String| {
            let raw = matches!(variable, Variable::Path | Variable::PathParam(_));
            out.extend(utf8_percent_encode(value, if raw { PATH } else { PATH_DECODED }));
        };
        // The text of a path template was encoded when the mapping was built.
        template.render(&mut out, lookup, escape)
    } else {
        template.render(&mut out, lookup, |_, value, out| out.push_str(value))
    };
    complete.then_some(out)
}

/// `template` with its text percent-encoded for a URI path.
fn encode_text(template: &Template) -> Template {
    use portcullis_core::Part;
    Template::new(
        template
            .parts()
            .iter()
            .map(|part| match part {
                Part::Text(text) => Part::Text(utf8_percent_encode(text, PATH).to_string()),
                Part::Var(v) => Part::Var(v.clone()),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use http::{Method, Request};
    use portcullis_core::{AuthContext, JwtContext, LambdaContext, Param, Params, RequestIdGenerator};
    use serde_json::json;

    use super::*;

    /// The mapping of `entries` as the config loader parses them, on an API with the stage
    /// variable `env: prod`.
    fn compile(entries: &[(&str, &str)]) -> RequestMapping {
        let mut yaml = String::from(
            "stage_variables: {env: prod}\nroutes:\n  GET /orders/{id}:\n    http: http://127.0.0.1:1/o\n    parameter_mapping:\n",
        );
        for (key, value) in entries {
            yaml.push_str(&format!("      {key}: {}\n", serde_json::Value::from(*value)));
        }
        let config = portcullis_config::from_str(&yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let api = ApiIdentity { stage_variables: config.stage_variables.clone(), ..ApiIdentity::default() };
        RequestMapping::new(&config.routes[0].parameter_mapping, &api)
    }

    fn ctx(auth: AuthContext) -> CallContext {
        CallContext {
            request_id: RequestIdGenerator::new(7).next_id(),
            client_addr: "192.0.2.9:5555".parse::<SocketAddr>().unwrap(),
            tls: false,
            local_port: 80,
            trace_id: portcullis_core::TraceId::default(),
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
        m.apply(&mut p, &c, None).unwrap();
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
        m.apply(&mut p, &ctx(lambda(json!({"other": 1}))), None).unwrap();
        assert!(p.headers.get("x-tenant").is_none());
        assert_eq!(header_values(&p, "x-trace"), ["client"]);
        assert_eq!(p.uri.to_string(), "/orders/1?keep=1");
        assert!(p.extensions.get::<PathOverride>().is_none());
        // No authorizer at all: the same.
        let mut p = parts("/orders/1", &[("x-tenant", "spoofed")]);
        m.apply(&mut p, &ctx(AuthContext::None), None).unwrap();
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
        m.apply(&mut p, &ctx(auth), None).unwrap();
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
        m.apply(&mut p, &c, None).unwrap();
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
        m.apply(&mut p, &ctx(AuthContext::None), None).unwrap();
        assert_eq!(
            header_values(&p, "x-a"),
            ["B1,B2"],
            "repeats joined with a comma (docs/aws-compatibility.md#request-parameter-mapping)"
        );
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
        m.apply(&mut p, &ctx(auth), None).unwrap();
        assert_eq!(p.extensions.get::<PathOverride>().unwrap().0, "/v2/orders/a%20b/a/b%20c%25");
        let whole = compile(&[("overwrite:path", "$request.path")]);
        let mut p = parts("/orders/a%20b?x=1", &[]);
        whole.apply(&mut p, &ctx(AuthContext::None), None).unwrap();
        assert_eq!(p.extensions.get::<PathOverride>().unwrap().0, "/orders/a%20b");
    }

    #[test]
    fn constants_are_substituted_when_the_mapping_is_built() {
        let m = compile(&[(
            "overwrite:header.x-c",
            "$context.stage/${context.apiId}/$context.accountId/$stageVariables.env $5",
        )]);
        assert_eq!(m.entries[0].value.as_text(), Some("$default/portcullis/123456789012/prod $5"));
        let mut p = parts("/", &[("host", "api.example.com:8080"), ("user-agent", "curl/8")]);
        let all = compile(&[(
            "overwrite:header.x-all",
            "${context.httpMethod} ${context.path} ${context.protocol} ${context.domainName} ${context.domainPrefix} ${context.identity.sourceIp} ${context.identity.userAgent} ${context.routeKey} ${context.requestTimeEpoch} ${context.requestTime}",
        )]);
        all.apply(&mut p, &ctx(AuthContext::None), None).unwrap();
        assert_eq!(
            header_values(&p, "x-all"),
            [
                "GET / HTTP/1.1 api.example.com api 192.0.2.9 curl/8 GET /orders/{id} 1700000000123 14/Nov/2023:22:13:20 +0000"
            ],
            "`domainName` is the event's: the host without its port"
        );
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
        m.apply(&mut p, &ctx(AuthContext::None), Some(&body)).unwrap();
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
        m.apply(&mut p, &ctx(AuthContext::None), Some(&big)).unwrap();
        assert!(p.headers.get("x-a").is_none(), "truncated JSON does not parse: the entry is skipped");
        assert_eq!(p.headers["x-len"].len(), big.len());
    }

    #[tokio::test]
    async fn the_stage_reads_the_body_only_when_referenced_and_hands_it_on() {
        use http_body_util::Limited;
        let limited = |bytes: &'static [u8], max: usize| -> Body {
            Limited::new(full(Bytes::from_static(bytes)), max)
                .map_err(|e| -> portcullis_core::BoxError { e })
                .boxed()
        };
        let with_body = compile(&[("overwrite:header.x-id", "$request.body.id")]);
        let mut p = parts("/x", &[]);
        let body = request(Some(&with_body), &mut p, limited(br#"{"id":7}"#, 100), &ctx(AuthContext::None))
            .await
            .unwrap();
        assert_eq!(p.headers["x-id"], "7");
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from_static(br#"{"id":7}"#));
        let mut p = parts("/x", &[]);
        let over =
            request(Some(&with_body), &mut p, limited(br#"{"id":7}"#, 3), &ctx(AuthContext::None)).await;
        assert_eq!(over.err(), Some(MappingError::BodyTooLarge));
    }

    #[test]
    fn non_ascii_values_are_sent_as_utf8() {
        let m = compile(&[("overwrite:header.x-name", "$request.querystring.n")]);
        let mut p = parts("/x?n=Jos%C3%A9", &[]);
        m.apply(&mut p, &ctx(AuthContext::None), None).unwrap();
        assert_eq!(p.headers["x-name"].as_bytes(), "José".as_bytes());
    }

    #[test]
    fn a_header_value_with_control_characters_fails_the_request() {
        let m = compile(&[("overwrite:header.x-a", "$request.querystring.q")]);
        let mut p = parts("/x?q=a%0Ab", &[]);
        assert_eq!(
            m.apply(&mut p, &ctx(AuthContext::None), None),
            Err(MappingError::HeaderValue(HeaderName::from_static("x-a")))
        );
    }
}

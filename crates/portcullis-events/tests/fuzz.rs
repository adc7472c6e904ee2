//! Fuzz targets for the event builders (`request_v2`, `request_v1`, `request_authorizer_v2`,
//! `request_authorizer_v1`, `token_event`) and the response parsers (`response_v2`,
//! `response_v1`), run on the stable toolchain through proptest, bounded for CI.
//!
//! What is fuzzed:
//! - requests: methods (extension methods too), raw paths and queries with odd escapes (`%`,
//!   `%zz`, `+`, `&&`, `=`, non-UTF-8 escapes, unicode), repeated headers with values holding
//!   non-UTF-8 bytes, cookies with nameless and empty pairs, `Host` with and without ports,
//!   client-sent `x-forwarded-*`, bodies of random bytes under text and binary content types,
//!   path parameters and stage variables with repeated names, JWT claims and Lambda contexts of
//!   arbitrary JSON, client addresses v4/v6, receive times from before the epoch to far ahead,
//!   arbitrary stage, API and account ids, identity sources, ARNs and tokens;
//! - function outputs: arbitrary bytes, arbitrary JSON, and near-responses (`statusCode` as
//!   number, string, float, out of range; `headers`/`multiValueHeaders`/`cookies` with invalid
//!   names, CR/LF, non-string values; `body` and `isBase64Encoded` of every type; duplicate
//!   members; trailing bytes).
//!
//! Properties asserted:
//! - nothing panics, and every input takes less than [`MAX_CASE_TIME`];
//! - every event builds, is a JSON object without a duplicate member at any depth, and carries
//!   what the request had: method, raw path and query, headers (joined, `cookie` moved out in
//!   2.0, `x-forwarded-*` set), cookies, body (base64 exactly when flagged, decoding to the
//!   bytes sent), path parameters and stage variables (last value wins), the authorizer block
//!   only when one ran, the authorizer fields of the REQUEST and TOKEN events;
//! - a 2.0 output is an error only when it is a JSON object with `statusCode`, anything else is
//!   the inferred 200 `application/json` answer with the output (or the unwrapped string) as
//!   body; a 1.0 output is accepted only as an object with `statusCode`; an accepted response
//!   has the status written, a content type, no framing header from the function, and the body
//!   written (base64-decoded when flagged).
//!
//! Cases per target: `PORTCULLIS_FUZZ_CASES` (default [`DEFAULT_CASES`]). Failures are kept in
//! `tests/fuzz.proptest-regressions` and replayed first on every run; each real bug found also
//! has a named `regression_*` test below.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{CONTENT_TYPE, COOKIE};
use http::{HeaderName, HeaderValue, Method, Uri};
use portcullis_core::{
    AuthContext, CallContext, JwtContext, LambdaContext, Param, Params, RequestIdGenerator,
};
use portcullis_events::{
    RequestFacts, request_authorizer_v1, request_authorizer_v2, request_v1, request_v2, response_v1,
    response_v2, token_event,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde::Deserializer as _;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

/// Cases per target when `PORTCULLIS_FUZZ_CASES` is not set (CI runs this).
const DEFAULT_CASES: u32 = 6_000;
/// The longest one input may take in a debug build before it counts as unbounded work.
const MAX_CASE_TIME: Duration = Duration::from_secs(2);

fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PORTCULLIS_FUZZ_CASES").ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(DEFAULT_CASES),
        // Shrinking a failure is bounded too, so a red CI run still ends in time.
        max_shrink_time: 60_000,
        max_shrink_iters: 20_000,
        // Each case runs in a child process that is stopped (and the input reported) past this:
        // a hang fails the test instead of stalling CI.
        timeout: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

// === strict JSON: a parser that refuses duplicate members at any depth ===

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member {key:?}")));
            }
            let value = access.next_value_seed(StrictSeed)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

struct StrictSeed;

impl<'de> de::DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

/// `bytes` as one JSON value, refusing duplicate members and trailing data.
fn strict_json(bytes: &[u8]) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = (&mut de).deserialize_any(StrictVisitor).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

// === requests ===

/// Everything one request is built from; `Debug` is the failing input.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    route_key: String,
    params: Vec<(String, String)>,
    client: SocketAddr,
    tls: bool,
    received: (bool, u64, u32),
    auth: u8,
    claims: Map<String, Value>,
    scopes: Option<Vec<String>>,
    principal: Option<String>,
    stage: String,
    api_id: String,
    account_id: String,
    domain: Option<String>,
    stage_variables: Vec<(String, String)>,
    identity_source: Vec<String>,
    arn: String,
    token: String,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _./-]{0,12}",
        1 => any::<String>(),
        1 => prop::sample::select(vec!["\"", "\\", "\u{0}", "\u{7f}", "é", "😀", "\u{2028}", "</script>", "$default"])
            .prop_map(str::to_owned),
    ]
}

/// Arbitrary JSON (claims, Lambda contexts, function outputs).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((text(), json_value()), 0..6).prop_map(|m| m.into_iter().collect())
}

const PATH_PIECES: &[&str] = &[
    "a", "pets", "42", "%20", "%", "%zz", "%2F", "%FF", "%C3%A9", "+", "é", ".", "..", ";", ":", "@", "~",
    "!", "$", "'", "(", "*", ",", "=", "&", "%00", "😀", "\\", "\"", "{id}", "|", "^", "`",
];
const QUERY_PIECES: &[&str] = &[
    "a=1",
    "a=2",
    "b",
    "=",
    "=x",
    "&",
    "&&",
    "c=%20",
    "d=%zz",
    "e=%FF",
    "f=+",
    "g=%2B",
    "h=é",
    "a%3Db=c",
    "%",
    "x=1=2",
    "k=%E2%82%AC",
    "q=\"",
    "r=%00",
    "s=😀",
];
const HEADER_NAMES: &[&str] = &[
    "host",
    "cookie",
    "cookie",
    "content-type",
    "user-agent",
    "x-forwarded-for",
    "x-forwarded-port",
    "x-forwarded-proto",
    "authorization",
    "x-dup",
    "x-dup",
    "X-Upper",
    "accept",
];
const HEADER_VALUES: &[&[u8]] = &[
    b"api1.execute-api.us-east-1.amazonaws.com",
    b"api.example.com:8443",
    b"[::1]:99",
    b"x:abc",
    b":",
    b"",
    b"sid=abc; theme=dark",
    b"=nameless; bare; ;; last=1 ; e= ",
    b"a=\xff\xfe",
    b"application/json",
    b"image/png",
    b"IMAGE/PNG; q=1",
    b"application/octet-stream",
    b"text/plain; charset=utf-8",
    b"\xe9t\xe9",
    b"caf\xc3\xa9",
    b"tab\there",
    b"\"quoted\" \\ back",
    b"1.2.3.4, 5.6.7.8",
    b"https",
];

fn header_value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(HEADER_VALUES).prop_map(<[u8]>::to_vec),
        2 => prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..40),
        1 => prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    let method = prop_oneof![
        6 => prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]).prop_map(str::to_owned),
        1 => "[A-Z]{1,10}",
        1 => "[!#$%&'*+.^_`|~0-9a-zA-Z-]{1,12}",
    ];
    let path = prop::collection::vec(prop::collection::vec(prop::sample::select(PATH_PIECES), 0..3), 0..6)
        .prop_map(|segs| format!("/{}", segs.iter().map(|s| s.concat()).collect::<Vec<_>>().join("/")));
    let query = prop::option::weighted(
        0.7,
        prop::collection::vec(prop::sample::select(QUERY_PIECES), 0..6).prop_map(|q| q.join("&")),
    );
    let name = prop_oneof![
        4 => prop::sample::select(HEADER_NAMES).prop_map(str::to_owned),
        1 => "[a-z0-9-]{1,16}",
    ];
    let headers = prop::collection::vec((name, header_value_bytes()), 0..10);
    let body = prop_oneof![
        2 => Just(Vec::new()),
        2 => "[ -~]{0,64}".prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..256),
        1 => any::<String>().prop_map(String::into_bytes),
    ];
    let route_key = prop_oneof![
        prop::sample::select(vec!["$default", "GET /pets/{id}", "ANY /{proxy+}", "POST /a b"])
            .prop_map(str::to_owned),
        text(),
    ];
    let params = prop::collection::vec(
        (prop::sample::select(vec!["id", "proxy", "x"]).prop_map(str::to_owned), text()),
        0..4,
    );
    let client = prop_oneof![
        any::<([u8; 4], u16)>().prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        any::<([u16; 8], u16)>().prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ];
    let received = (
        prop::bool::weighted(0.1),
        prop_oneof![0u64..4_000_000_000, any::<u64>().prop_map(|s| s >> 24)],
        0u32..1_000_000_000,
    );
    let scopes = prop::option::of(prop::collection::vec(text(), 0..3));
    let vars = prop::collection::vec(
        (prop::sample::select(vec!["env", "name", "x"]).prop_map(str::to_owned), text()),
        0..3,
    );
    (
        (method, path, query, headers, body, route_key, params, client),
        (any::<bool>(), received, 0u8..3, json_map(), scopes, prop::option::of(text())),
        (
            text(),
            text(),
            text(),
            prop::option::of(text()),
            vars,
            prop::collection::vec(text(), 0..3),
            text(),
            text(),
        ),
    )
        .prop_map(
            |(
                (method, path, query, headers, body, route_key, params, client),
                (tls, received, auth, claims, scopes, principal),
                (stage, api_id, account_id, domain, stage_variables, identity_source, arn, token),
            )| Req {
                method,
                path,
                query,
                headers,
                body,
                route_key,
                params,
                client,
                tls,
                received,
                auth,
                claims,
                scopes,
                principal,
                stage,
                api_id,
                account_id,
                domain,
                stage_variables,
                identity_source,
                arn,
                token,
            },
        )
}

/// The request head, as a server would hand it over: the URI percent-encoded where `http`
/// refuses a byte, headers that cannot be carried left out.
fn parts(r: &Req) -> http::request::Parts {
    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = Method::from_bytes(r.method.as_bytes()).unwrap_or(Method::GET);
    let target = match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    };
    parts.uri = Uri::try_from(target.as_str())
        .or_else(|_| {
            let mut encoded = String::new();
            for b in target.bytes() {
                if b.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&b) {
                    encoded.push(char::from(b));
                } else {
                    encoded.push_str(&format!("%{b:02X}"));
                }
            }
            Uri::try_from(encoded)
        })
        .unwrap_or_else(|_| Uri::from_static("/"));
    for (name, value) in &r.headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
        {
            parts.headers.append(name, value);
        }
    }
    parts
}

fn ctx(r: &Req) -> CallContext {
    let offset = Duration::new(r.received.1, r.received.2);
    let received_at =
        if r.received.0 { UNIX_EPOCH.checked_sub(offset) } else { UNIX_EPOCH.checked_add(offset) };
    let auth = match r.auth {
        1 => AuthContext::Jwt(JwtContext {
            claims: Arc::new(r.claims.clone()),
            scopes: r.scopes.clone().map(Arc::from),
        }),
        2 => AuthContext::Lambda(LambdaContext {
            principal_id: r.principal.clone(),
            context: (!r.claims.is_empty()).then(|| Arc::new(r.claims.clone())),
        }),
        _ => AuthContext::None,
    };
    CallContext {
        request_id: RequestIdGenerator::new(u64::from(r.client.port())).next_id(),
        client_addr: r.client,
        tls: r.tls,
        local_port: if r.tls { 443 } else { 80 },
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from(r.route_key.as_str()),
        params: Params(
            r.params
                .iter()
                .map(|(n, v)| Param { name: Arc::from(n.as_str()), raw: v.clone(), decoded: v.clone() })
                .collect(),
        ),
        received_at: received_at.unwrap_or(UNIX_EPOCH),
        auth,
    }
}

/// The headers API Gateway sets in place of client-sent ones.
const FORWARDED: [&str; 3] = ["x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"];
/// Headers the gateway adds when the client did not send them (`host`: only with an authority),
/// or always (the trace: these requests carry none of their own).
const ADDED: [&str; 3] = ["content-length", "host", "x-amzn-trace-id"];

/// The path events carry: decoded as API Gateway decodes it, or as sent when it cannot be.
fn event_path(parts: &http::request::Parts) -> String {
    portcullis_route::integration_path(parts.uri.path())
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| parts.uri.path().to_owned())
}

/// What the gateway writes under the names of [`ADDED`] (`None`: the client's, or nothing).
fn added(parts: &http::request::Parts, body: &[u8], ctx: &CallContext, name: &str) -> Option<String> {
    match name {
        "content-length" if !parts.headers.contains_key(name) => {
            Some(if body.is_empty() { "0".to_owned() } else { body.len().to_string() })
        }
        "host" if !parts.headers.contains_key(name) => parts.uri.authority().map(|a| a.to_string()),
        "x-amzn-trace-id" => Some(ctx.trace_id.header().to_owned()),
        _ => None,
    }
}

/// `pairs` as a map, the last value of a repeated name kept.
fn last_wins<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let map: BTreeMap<&str, &str> = pairs.collect();
    json!(map)
}

/// What the headers of a request carry under `name`: every value, lossily decoded.
fn header_values(parts: &http::request::Parts, name: &str) -> Vec<String> {
    parts.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
}

fn check_body(event: &Value, body: &[u8], what: &str) -> Result<(), TestCaseError> {
    let flagged = event.get("isBase64Encoded");
    match (event.get("body"), flagged) {
        (None | Some(Value::Null), Some(Value::Bool(false))) => {
            prop_assert!(body.is_empty(), "{}: a body of {} bytes is missing", what, body.len())
        }
        (Some(Value::String(text)), Some(Value::Bool(true))) => {
            let decoded = STANDARD.decode(text).ok();
            prop_assert_eq!(decoded.as_deref(), Some(body), "{}: base64 body", what)
        }
        (Some(Value::String(text)), Some(Value::Bool(false))) => {
            prop_assert_eq!(text.as_bytes(), body, "{}: text body", what)
        }
        other => prop_assert!(false, "{}: body and isBase64Encoded: {:?}", what, other),
    }
    Ok(())
}

fn check_context_common(event: &Value, facts: &RequestFacts<'_>) -> Result<(), TestCaseError> {
    let rc = &event["requestContext"];
    prop_assert_eq!(&rc["accountId"], &json!(facts.account_id));
    prop_assert_eq!(&rc["apiId"], &json!(facts.api_id));
    prop_assert_eq!(&rc["stage"], &json!(facts.stage));
    let time = rc.get("time").or_else(|| rc.get("requestTime")).and_then(Value::as_str).unwrap_or("");
    prop_assert!(time.ends_with(" +0000") && time.len() >= 26, "time {:?}", time);
    let epoch = rc.get("timeEpoch").or_else(|| rc.get("requestTimeEpoch")).and_then(Value::as_u64);
    let want = facts.ctx.received_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    prop_assert_eq!(epoch, Some(want));
    let domain = rc["domainName"].as_str().unwrap_or("<none>");
    if let Some(d) = facts.domain {
        prop_assert_eq!(domain, d);
    }
    Ok(())
}

/// Every property of the 2.0 integration event.
fn check_v2(
    event: &Value,
    r: &Req,
    parts: &http::request::Parts,
    facts: &RequestFacts<'_>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&event["version"], &json!("2.0"));
    prop_assert_eq!(&event["routeKey"], &json!(r.route_key));
    prop_assert_eq!(&event["rawPath"], &json!(event_path(parts)));
    prop_assert_eq!(&event["rawQueryString"], &json!(parts.uri.query().unwrap_or("")));
    prop_assert_eq!(&event["requestContext"]["http"]["method"], &json!(parts.method.as_str()));
    prop_assert_eq!(&event["requestContext"]["http"]["path"], &json!(event_path(parts)));
    let ip = match r.client.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    };
    prop_assert_eq!(&event["requestContext"]["http"]["sourceIp"], &json!(ip));
    check_context_common(event, facts)?;
    let headers = event["headers"].as_object().cloned().unwrap_or_default();
    prop_assert!(!headers.contains_key("cookie"), "cookie left in 2.0 headers");
    for name in FORWARDED {
        prop_assert!(headers.get(name).is_some_and(Value::is_string), "{} missing", name);
    }
    prop_assert!(
        headers["x-forwarded-for"].as_str().is_some_and(|v| v.ends_with(&ip)),
        "{:?}",
        headers["x-forwarded-for"]
    );
    let mut set = 0;
    for name in ADDED {
        if let Some(value) = added(parts, &r.body, facts.ctx, name) {
            prop_assert_eq!(&headers[name], &json!(value), "{}", name);
            set += usize::from(!parts.headers.contains_key(name));
        }
    }
    for name in parts.headers.keys() {
        let name = name.as_str();
        if name == "cookie" || FORWARDED.contains(&name) || added(parts, &r.body, facts.ctx, name).is_some() {
            continue;
        }
        prop_assert_eq!(&headers[name], &json!(header_values(parts, name).join(",")), "header {}", name);
    }
    let kept = parts.headers.keys().filter(|n| *n != COOKIE && !FORWARDED.contains(&n.as_str())).count();
    prop_assert_eq!(headers.len(), kept + FORWARDED.len() + set);
    match event.get("cookies") {
        None => {}
        Some(Value::Array(cookies)) => {
            prop_assert!(!cookies.is_empty());
            for c in cookies {
                let c = c.as_str().unwrap_or("");
                prop_assert!(c.split_once('=').is_some_and(|(n, _)| !n.trim().is_empty()), "cookie {:?}", c);
            }
        }
        Some(other) => prop_assert!(false, "cookies {}", other),
    }
    check_body(event, &r.body, "2.0")?;
    match event.get("pathParameters") {
        None => prop_assert!(r.params.is_empty()),
        Some(p) => prop_assert_eq!(p, &last_wins(r.params.iter().map(|(n, v)| (n.as_str(), v.as_str())))),
    }
    match event.get("stageVariables") {
        None => prop_assert!(r.stage_variables.is_empty()),
        Some(v) => {
            prop_assert_eq!(v, &last_wins(r.stage_variables.iter().map(|(n, v)| (n.as_str(), v.as_str()))))
        }
    }
    prop_assert_eq!(event["requestContext"].get("authorizer").is_some(), r.auth != 0, "authorizer block");
    match event.get("queryStringParameters") {
        None => prop_assert!(portcullis_events::joined_query(parts.uri.query().unwrap_or("")).is_empty()),
        Some(q) => {
            prop_assert_eq!(q, &json!(portcullis_events::joined_query(parts.uri.query().unwrap_or(""))))
        }
    }
    Ok(())
}

/// Every property of the 1.0 integration event.
fn check_v1(
    event: &Value,
    r: &Req,
    parts: &http::request::Parts,
    facts: &RequestFacts<'_>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&event["version"], &json!("1.0"));
    prop_assert_eq!(&event["path"], &json!(event_path(parts)));
    prop_assert_eq!(&event["httpMethod"], &json!(parts.method.as_str()));
    prop_assert_eq!(&event["requestContext"]["resourceId"], &json!(r.route_key));
    check_context_common(event, facts)?;
    let multi = event["multiValueHeaders"].as_object().cloned().unwrap_or_default();
    let single = event["headers"].as_object().cloned().unwrap_or_default();
    prop_assert_eq!(multi.len(), single.len());
    for (name, values) in &multi {
        let values = values.as_array().cloned().unwrap_or_default();
        prop_assert_eq!(single.get(name), values.last(), "headers.{} is the last value", name);
        if let Some(value) = added(parts, &r.body, facts.ctx, name) {
            prop_assert_eq!(&Value::Array(values), &json!([value]), "multiValueHeaders.{}", name);
        } else if !FORWARDED.contains(&name.as_str()) {
            prop_assert_eq!(
                &Value::Array(values),
                &json!(header_values(parts, name)),
                "multiValueHeaders.{}",
                name
            );
        }
    }
    check_body(event, &r.body, "1.0")?;
    prop_assert!(
        event["requestContext"]["authorizer"].is_object(),
        "1.0 always has requestContext.authorizer"
    );
    Ok(())
}

fn check_request(r: &Req) -> Result<(), TestCaseError> {
    let parts = parts(r);
    let ctx = ctx(r);
    let facts = RequestFacts {
        parts: &parts,
        body: &r.body,
        ctx: &ctx,
        stage: &r.stage,
        api_id: &r.api_id,
        account_id: &r.account_id,
        domain: r.domain.as_deref(),
        stage_variables: &r.stage_variables,
    };
    let started = Instant::now();
    let v2 = request_v2(&facts);
    let v1 = request_v1(&facts);
    let a2 = request_authorizer_v2(&facts, &r.arn, &r.identity_source);
    let a1 = request_authorizer_v1(&facts, &r.arn, &r.identity_source);
    let token = token_event(&r.token, &r.arn);
    prop_assert!(started.elapsed() < MAX_CASE_TIME, "took {:?}", started.elapsed());

    let parse =
        |name: &str, built: Result<Vec<u8>, portcullis_events::EventError>| -> Result<Value, TestCaseError> {
            let bytes = built.map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            let value = strict_json(&bytes).map_err(|e| {
                TestCaseError::fail(format!(
                    "{name} is not strict JSON: {e}: {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            if !value.is_object() {
                return Err(TestCaseError::fail(format!("{name} is not an object")));
            }
            Ok(value)
        };
    let v2 = parse("request_v2", v2)?;
    let v1 = parse("request_v1", v1)?;
    let a2 = parse("request_authorizer_v2", a2)?;
    let a1 = parse("request_authorizer_v1", a1)?;
    let token = parse("token_event", token)?;

    check_v2(&v2, r, &parts, &facts)?;
    check_v1(&v1, r, &parts, &facts)?;

    prop_assert_eq!(&a2["type"], &json!("REQUEST"));
    prop_assert_eq!(&a2["routeArn"], &json!(r.arn));
    // No identity sources: `null`, as AWS sends, not `[]`.
    let sources = if r.identity_source.is_empty() { Value::Null } else { json!(r.identity_source) };
    prop_assert_eq!(&a2["identitySource"], &sources);
    prop_assert_eq!(&a2["rawPath"], &v2["rawPath"]);
    prop_assert!(
        a2.get("body").is_none() && a2.get("isBase64Encoded").is_none(),
        "2.0 authorizer event with a body"
    );
    prop_assert!(a2["requestContext"].get("authorizer").is_none());

    let joined = r.identity_source.join(",");
    prop_assert_eq!(&a1["type"], &json!("REQUEST"));
    prop_assert_eq!(&a1["methodArn"], &json!(r.arn));
    prop_assert_eq!(&a1["identitySource"], &json!(joined));
    prop_assert_eq!(&a1["authorizationToken"], &json!(joined));
    prop_assert_eq!(&a1["path"], &v1["path"]);
    prop_assert!(
        a1.get("body").is_none() && a1.get("isBase64Encoded").is_none(),
        "1.0 authorizer event with a body"
    );
    prop_assert!(a1["requestContext"].get("authorizer").is_none());

    prop_assert_eq!(token, json!({"type": "TOKEN", "authorizationToken": r.token, "methodArn": r.arn}));
    Ok(())
}

// === function outputs ===

/// A function output; `Debug` shows it as escaped text.
#[derive(Clone)]
struct Output(Vec<u8>);

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn near_response() -> impl Strategy<Value = Output> {
    let status = prop::sample::select(vec![
        "200",
        "201",
        "99",
        "100",
        "599",
        "600",
        "0",
        "-1",
        "200.0",
        "2.5",
        "\"200\"",
        "null",
        "1e3",
        "18446744073709551615",
        "65736",
        "true",
    ]);
    let header_name = prop::sample::select(vec![
        "content-type",
        "x-a",
        "X-A",
        "Content-Length",
        "transfer-encoding",
        "connection",
        "set-cookie",
        "bad name",
        "x\\ny",
        "é",
        "",
        "x-n",
    ]);
    let header_value = prop::sample::select(vec![
        "\"text/html\"",
        "\"v\"",
        "\"a\\r\\nb\"",
        "\"é\"",
        "5",
        "true",
        "null",
        "[1]",
        "{}",
        "\"\\u0000\"",
        "1.5e300",
        "-0",
    ]);
    let headers = prop::collection::vec((header_name.clone(), header_value.clone()), 0..4).prop_map(|h| {
        format!("{{{}}}", h.iter().map(|(n, v)| format!("\"{n}\":{v}")).collect::<Vec<_>>().join(","))
    });
    let multi = prop::collection::vec((header_name, prop::collection::vec(header_value, 0..3)), 0..3)
        .prop_map(|h| {
            let members: Vec<String> = h.iter().map(|(n, v)| format!("\"{n}\":[{}]", v.join(","))).collect();
            format!("{{{}}}", members.join(","))
        });
    let cookies = prop::sample::select(vec![
        "[\"a=1\",\"b=2; Path=/\"]",
        "[]",
        "[\"a\\n=1\"]",
        "[\"é=1\"]",
        "[1]",
        "\"a=1\"",
        "null",
    ]);
    let body = prop::sample::select(vec![
        "\"ok\"",
        "\"\"",
        "null",
        "5",
        "{\"a\":1}",
        "\"AAEC/w==\"",
        "\" AAEC \"",
        "\"!!\"",
        "\"aGVsbG8\"",
        "\"é\"",
    ]);
    let flag = prop::sample::select(vec!["true", "false", "\"yes\"", "null", "1"]);
    let members = (
        prop::option::weighted(0.9, status),
        prop::option::of(headers),
        prop::option::weighted(0.3, multi),
        prop::option::weighted(0.3, cookies),
        prop::option::of(body),
        prop::option::weighted(0.4, flag),
        prop::option::weighted(0.05, Just("\"statusCode\":404")),
        prop::sample::select(vec!["", "", "", " ", " x", "}", "\n"]),
    );
    members.prop_map(|(status, headers, multi, cookies, body, flag, duplicate, tail)| {
        let mut m = Vec::new();
        if let Some(s) = status {
            m.push(format!("\"statusCode\":{s}"));
        }
        for (k, v) in [
            ("headers", headers),
            ("multiValueHeaders", multi),
            ("cookies", cookies.map(str::to_owned)),
            ("body", body.map(str::to_owned)),
            ("isBase64Encoded", flag.map(str::to_owned)),
        ] {
            if let Some(v) = v {
                m.push(format!("\"{k}\":{v}"));
            }
        }
        if let Some(d) = duplicate {
            m.push(d.to_owned());
        }
        Output(format!("{{{}}}{tail}", m.join(",")).into_bytes())
    })
}

fn function_output() -> impl Strategy<Value = Output> {
    prop_oneof![
        6 => near_response(),
        2 => json_value().prop_map(|v| Output(v.to_string().into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Output),
        1 => any::<String>().prop_map(|s| Output(s.into_bytes())),
    ]
}

fn check_accepted(r: &http::Response<bytes::Bytes>, output: &Value, what: &str) -> Result<(), TestCaseError> {
    prop_assert!((100..=599).contains(&r.status().as_u16()), "{}: status {}", what, r.status());
    prop_assert_eq!(
        Some(r.status().as_u16()),
        output["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok())
    );
    prop_assert!(r.headers().contains_key(CONTENT_TYPE), "{}: no content type", what);
    for framing in ["content-length", "transfer-encoding", "connection"] {
        prop_assert!(!r.headers().contains_key(framing), "{}: the function set {}", what, framing);
    }
    let base64 = output["isBase64Encoded"].as_bool().unwrap_or(false);
    let want = match &output["body"] {
        Value::String(text) if base64 => STANDARD.decode(text.trim()).ok(),
        Value::String(text) => Some(text.clone().into_bytes()),
        _ => Some(Vec::new()),
    };
    prop_assert_eq!(want.as_deref(), Some(&r.body()[..]), "{}: body", what);
    Ok(())
}

fn check_output(output: &Output) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let v2 = response_v2(&output.0);
    let v1 = response_v1(&output.0);
    prop_assert!(started.elapsed() < MAX_CASE_TIME, "took {:?}", started.elapsed());
    // What a JSON parser reads (a repeated member: the last one, as both parsers decide).
    let parsed = serde_json::from_slice::<Value>(&output.0).ok();
    let full_form = parsed.as_ref().and_then(Value::as_object).is_some_and(|o| o.contains_key("statusCode"));
    match v2 {
        Err(e) => prop_assert!(full_form, "2.0 refused an output without statusCode: {}", e),
        Ok(r) if full_form => check_accepted(&r, parsed.as_ref().unwrap_or(&Value::Null), "2.0")?,
        Ok(r) => {
            prop_assert_eq!(r.status().as_u16(), 200);
            prop_assert_eq!(
                r.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes),
                Some(&b"application/json"[..])
            );
            let want = match &parsed {
                Some(Value::String(s)) => s.clone().into_bytes(),
                _ => output.0.clone(),
            };
            prop_assert_eq!(&r.body()[..], &want[..], "inferred body");
        }
    }
    match v1 {
        Ok(r) => {
            prop_assert!(full_form, "1.0 accepted an output without statusCode");
            check_accepted(&r, parsed.as_ref().unwrap_or(&Value::Null), "1.0")?;
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn events_build_as_strict_json_carrying_the_request(r in request()) {
        check_request(&r)?;
    }

    #[test]
    fn responses_parse_or_err_as_documented(output in function_output()) {
        check_output(&output)?;
    }
}

/// Found by `responses_parse_or_err_as_documented` (minimal input `[0]`): the 2.0 parser's typed
/// fast path also read a JSON array as the full form's fields in order, so `[0]` was a 500,
/// `[204]` a 204 without body and `[302,{"location":…}]` a redirect, where a 2.0 output without
/// `statusCode` is the inferred 200 answer with the output as its body.
#[test]
fn regression_a_json_array_output_is_inferred_not_read_as_a_full_form() {
    for output in
        ["[0]", "[204]", "[200,null,null,\"hi\"]", "[302,{\"location\":\"https://example.com\"}]", " [201]"]
    {
        let response = response_v2(output.as_bytes()).expect("an inferred answer");
        assert_eq!(response.status(), 200, "{output}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json", "{output}");
        assert!(response.headers().get("location").is_none(), "{output}");
        assert_eq!(&response.body()[..], output.as_bytes(), "{output}");
    }
}

//! CORS stage: browser preflights answered by the gateway before any authorizer, and the CORS
//! headers of every response.
//!
//! Request half ([`request`]): an `OPTIONS` request with `Origin` and
//! `Access-Control-Request-Method` is a preflight. It is answered here with 204 (the allow
//! headers when the origin and method are allowed, none otherwise: a browser then refuses the
//! real request, which never comes), using the policy of the route that would serve the real
//! request (its method is the one requested), or the API's. The authorizer, throttling and the
//! integration never see it. A route whose method is literally `OPTIONS` is routed as usual.
//! Under `compat: aws`, an `ANY` or `$default` route with an authorizer that matches the
//! preflight takes it, as on AWS, where that authorizer then refuses it.
//!
//! Response half ([`response`]): a request with an allowed `Origin` gets
//! `access-control-allow-origin` (the origin itself, with `vary: origin`, unless the policy
//! allows any origin without credentials), `-expose-headers` and `-allow-credentials`; the
//! backend's own `access-control-*` headers are removed whatever the origin, as AWS ignores
//! them when CORS is configured. Responses the gateway makes itself (401, 429, ...) get the
//! same headers, so a browser app can read why it was refused.

use std::sync::Arc;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use portcullis_core::{Body, empty};
use portcullis_route::Params;

use crate::plan::{RoutePlan, Snapshot};
use crate::route::RouteError;

/// How preflights meet routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreflightMode {
    /// Only an explicit `OPTIONS` route takes a preflight; every other is answered here.
    #[default]
    Answer,
    /// As AWS: an `ANY` or `$default` route that matches the preflight takes it too.
    Aws,
}

/// A compiled CORS policy: origins matched, every header value built once.
#[derive(Debug)]
pub struct CorsPolicy {
    any_origin: bool,
    origins: Vec<Box<str>>,
    /// `(scheme://, suffix)` of patterns like `https://*.example.com`.
    patterns: Vec<(Box<str>, Box<str>)>,
    any_method: bool,
    methods: Vec<Method>,
    allow_methods: Option<HeaderValue>,
    any_header: bool,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
    /// The policy as written, for the admin console.
    settings: CorsSettings,
}

/// The policy as written (built by `portcullis-app` from the config).
#[derive(Debug, Clone, Default)]
pub struct CorsSettings {
    /// Exact origins, `*`, or patterns with one `*` in the host.
    pub allow_origins: Vec<String>,
    /// Methods or `*`.
    pub allow_methods: Vec<String>,
    /// Header names or `*`.
    pub allow_headers: Vec<String>,
    /// Header names or `*`.
    pub expose_headers: Vec<String>,
    /// Seconds, when set.
    pub max_age: Option<i32>,
    /// `allow_credentials`.
    pub allow_credentials: bool,
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    HeaderValue::from_str(&items.join(",")).ok()
}

impl CorsPolicy {
    /// Compiles `settings` (validated by the config loader).
    pub fn new(settings: &CorsSettings) -> Self {
        let mut origins = Vec::new();
        let mut patterns = Vec::new();
        let mut any_origin = false;
        for origin in &settings.allow_origins {
            if origin == "*" {
                any_origin = true;
            } else if let Some((scheme, host)) = origin.split_once("://")
                && let Some(star) = host.find('*')
            {
                let (before, after) = host.split_at(star);
                let prefix = format!("{scheme}://{before}");
                patterns.push((prefix.into_boxed_str(), after[1..].to_owned().into_boxed_str()));
            } else {
                origins.push(origin.to_ascii_lowercase().into_boxed_str());
            }
        }
        let any_method = settings.allow_methods.iter().any(|m| m == "*");
        let methods = settings.allow_methods.iter().filter_map(|m| m.parse().ok()).collect();
        let any_header = settings.allow_headers.iter().any(|h| h == "*");
        CorsPolicy {
            any_origin,
            origins,
            patterns,
            any_method,
            methods,
            allow_methods: joined(&settings.allow_methods),
            any_header,
            allow_headers: joined(&settings.allow_headers),
            expose_headers: joined(&settings.expose_headers),
            max_age: settings.max_age.map(HeaderValue::from),
            credentials: settings.allow_credentials,
            settings: settings.clone(),
        }
    }

    /// The policy as written (the admin console shows it).
    pub fn settings(&self) -> &CorsSettings {
        &self.settings
    }

    /// Whether `origin` may read responses.
    pub fn allows_origin(&self, origin: &[u8]) -> bool {
        if self.any_origin {
            return true;
        }
        let Ok(origin) = std::str::from_utf8(origin) else { return false };
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|o| **o == origin)
            || self.patterns.iter().any(|(prefix, suffix)| {
                origin.len() > prefix.len() + suffix.len()
                    && origin.starts_with(&**prefix)
                    && origin.ends_with(&**suffix)
                    // The `*` stands for host labels (and, in `https://*` alone, a port): no
                    // path or user info sneaks in.
                    && origin[prefix.len()..origin.len() - suffix.len()]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || (b == b':' && suffix.is_empty()))
            })
    }

    fn allows_method(&self, method: &[u8]) -> bool {
        self.any_method || self.methods.iter().any(|m| m.as_str().as_bytes() == method)
    }

    /// The origin to answer with: `*` only when any origin is allowed without credentials (a
    /// browser refuses `*` with credentials); the request's own otherwise.
    fn allow_origin(&self, origin: &HeaderValue) -> (HeaderValue, bool) {
        if self.any_origin && !self.credentials {
            (HeaderValue::from_static("*"), false)
        } else {
            (origin.clone(), true)
        }
    }
}

/// What the request half saw, for the response half.
#[derive(Debug, Default)]
pub struct Seen {
    /// The request's `Origin` (only such requests get CORS headers).
    origin: Option<HeaderValue>,
    /// Whether this stage answered a preflight (its answer is complete).
    answered: bool,
    /// A preflight, should a route take it.
    routed_preflight: Option<RoutedPreflight>,
}

/// The CORS stage's request half: the answer to a preflight, or `None` to go on. `routed` is
/// what the route stage matched for the request's own method (`OPTIONS` for a preflight); a
/// path it refused is refused, preflight or not.
pub fn request(
    snapshot: &Snapshot,
    parts: &Parts,
    routed: &Result<(Arc<RoutePlan>, Params), RouteError>,
    seen: &mut Seen,
) -> Option<Response<Body>> {
    if !snapshot.has_cors {
        return None;
    }
    seen.origin = parts.headers.get(ORIGIN).cloned();
    seen.routed_preflight = routed_preflight(parts);
    if matches!(routed, Err(RouteError::BadPath(_))) {
        return None;
    }
    let answer = preflight(snapshot, parts, routed.as_ref().ok().map(|(plan, _)| &**plan))?;
    seen.answered = true;
    Some(answer)
}

/// The CORS stage's response half: on every response but a preflight's (complete already), the
/// gateway's own answers included, so a browser app can read why it was refused.
pub fn response(headers: &mut HeaderMap, snapshot: &Snapshot, plan: Option<&RoutePlan>, seen: &Seen) {
    if !snapshot.has_cors || seen.answered {
        return;
    }
    if let Some(policy) = policy(snapshot, plan) {
        response_headers(headers, policy, seen.origin.as_ref(), seen.routed_preflight.as_ref());
    }
}

/// The policy for a request that `plan` serves: the route's own, else the API's.
pub fn policy<'s>(snapshot: &'s Snapshot, plan: Option<&'s RoutePlan>) -> Option<&'s Arc<CorsPolicy>> {
    plan.and_then(|p| p.extras.as_ref()).and_then(|e| e.cors.as_ref()).or(snapshot.cors.as_ref())
}

/// The answer to a preflight, or `None` when the request is none or a route takes it.
fn preflight(snapshot: &Snapshot, parts: &Parts, routed: Option<&RoutePlan>) -> Option<Response<Body>> {
    if parts.method != Method::OPTIONS {
        return None;
    }
    let origin = parts.headers.get(ORIGIN)?;
    let requested = parts.headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
    if let Some(plan) = routed {
        if plan.method_is_options() {
            return None;
        }
        // AWS: an `ANY` or `$default` route with an authorizer catches the preflight, and its
        // authorizer refuses it (docs/aws-compatibility.md#cors).
        if snapshot.preflight_mode == PreflightMode::Aws && plan.catches_any_method() && plan.has_authorizer()
        {
            return None;
        }
    }
    let route_path = snapshot.api.strip_stage(parts.uri.path())?;
    // The route the real request would take decides the policy.
    let real = Method::from_bytes(requested.as_bytes()).ok();
    let target = real.and_then(|m| snapshot.routes.find(&m, route_path).ok().flatten()).map(|m| &**m.value);
    let policy = policy(snapshot, target)?;
    Some(preflight_answer(policy, origin, requested, parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS)))
}

fn preflight_answer(
    policy: &CorsPolicy,
    origin: &HeaderValue,
    requested: &HeaderValue,
    request_headers: Option<&HeaderValue>,
) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    preflight_headers(response.headers_mut(), policy, origin, requested, request_headers);
    response
}

/// The headers of an answer to a preflight: the policy's, when it allows the origin and the
/// method; none otherwise (the browser then refuses the real request, which is never sent).
fn preflight_headers(
    headers: &mut HeaderMap,
    policy: &CorsPolicy,
    origin: &HeaderValue,
    requested: &HeaderValue,
    request_headers: Option<&HeaderValue>,
) {
    headers.insert(
        VARY,
        HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers"),
    );
    if !policy.allows_origin(origin.as_bytes()) || !policy.allows_method(requested.as_bytes()) {
        return;
    }
    let (allow_origin, _) = policy.allow_origin(origin);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    let methods = if policy.any_method { Some(requested.clone()) } else { policy.allow_methods.clone() };
    if let Some(methods) = methods {
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    let allowed = if policy.any_header { request_headers.cloned() } else { policy.allow_headers.clone() };
    if let Some(allowed) = allowed {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    }
    if let Some(max_age) = &policy.max_age {
        headers.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    if policy.credentials {
        headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

/// A preflight a route took itself (an `OPTIONS` route, or under `compat: aws` an authorized
/// `ANY` or `$default` route): what it asked for, so its answer gets the policy's headers.
#[derive(Debug, Clone)]
struct RoutedPreflight {
    requested: HeaderValue,
    request_headers: Option<HeaderValue>,
}

/// The preflight `parts` is: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn routed_preflight(parts: &Parts) -> Option<RoutedPreflight> {
    if parts.method != Method::OPTIONS || !parts.headers.contains_key(ORIGIN) {
        return None;
    }
    Some(RoutedPreflight {
        requested: parts.headers.get(ACCESS_CONTROL_REQUEST_METHOD)?.clone(),
        request_headers: parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned(),
    })
}

/// The backend's `access-control-*` headers removed, and the policy's added when the request's
/// origin is allowed (a preflight a route answered gets the preflight's: allowed methods and
/// headers, max age).
fn response_headers(
    headers: &mut HeaderMap,
    policy: &CorsPolicy,
    origin: Option<&HeaderValue>,
    preflight: Option<&RoutedPreflight>,
) {
    strip_backend_headers(headers);
    let Some(origin) = origin else { return };
    if let Some(preflight) = preflight {
        preflight_headers(headers, policy, origin, &preflight.requested, preflight.request_headers.as_ref());
        return;
    }
    if !policy.allows_origin(origin.as_bytes()) {
        return;
    }
    let (allow_origin, varies) = policy.allow_origin(origin);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    if varies {
        headers.append(VARY, HeaderValue::from_static("origin"));
    }
    if let Some(expose) = &policy.expose_headers {
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
    if policy.credentials {
        headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

fn strip_backend_headers(headers: &mut HeaderMap) {
    // Backends rarely send any: one pass over the few names is cheaper than six hashed
    // removals (a quarter of CORS's cost per response, measured with callgrind).
    if !headers.keys().any(|name| name.as_str().starts_with("access-control-")) {
        return;
    }
    for name in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
    ] {
        headers.remove(name);
    }
}

impl RoutePlan {
    /// Whether the route key's method is literally `OPTIONS`.
    fn method_is_options(&self) -> bool {
        self.key.starts_with("OPTIONS ")
    }

    /// Whether the route takes any method (`ANY` or `$default`).
    fn catches_any_method(&self) -> bool {
        &*self.key == "$default" || self.key.starts_with("ANY ")
    }

    fn has_authorizer(&self) -> bool {
        matches!(self.access, crate::plan::Access::Authorizer(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> CorsPolicy {
        CorsPolicy::new(&CorsSettings {
            allow_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into(), "content-type".into()],
            expose_headers: vec!["apigw-requestid".into()],
            max_age: Some(600),
            allow_credentials: credentials,
        })
    }

    #[test]
    fn origins_match_exactly_by_pattern_or_any() {
        let p = policy(&["https://app.example.com", "https://*.example.org"], false);
        assert!(p.allows_origin(b"https://app.example.com"));
        assert!(p.allows_origin(b"HTTPS://APP.EXAMPLE.COM"), "origins compare case-insensitively");
        assert!(!p.allows_origin(b"https://evil.example.com"));
        assert!(p.allows_origin(b"https://a.b.example.org"));
        assert!(!p.allows_origin(b"https://example.org"), "the pattern needs a label");
        assert!(!p.allows_origin(b"https://evil.com/.example.org"));
        assert!(!p.allows_origin(b"https://x.example.org.evil.com"));
        assert!(policy(&["*"], false).allows_origin(b"https://anything.test"));
        let any_https = policy(&["https://*"], false);
        assert!(
            any_https.allows_origin(b"https://localhost:3000"),
            "AWS's `https://*` takes any host and port"
        );
        assert!(!any_https.allows_origin(b"http://localhost:3000"));
        assert!(!any_https.allows_origin(b"https://a.test/path"));
        assert!(!p.allows_origin(b"https://a.example.org:8443"), "a pattern with a suffix names no port");
    }

    #[test]
    fn responses_echo_the_allowed_origin_and_drop_the_backends_headers() {
        let p = policy(&["https://app.example.com"], true);
        let mut headers = HeaderMap::new();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("1"));
        let origin = HeaderValue::from_static("https://app.example.com");
        response_headers(&mut headers, &p, Some(&origin), None);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(headers[VARY], "origin");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[ACCESS_CONTROL_EXPOSE_HEADERS], "apigw-requestid");
        assert!(headers.get(ACCESS_CONTROL_MAX_AGE).is_none(), "the backend's header is gone");

        let mut headers = HeaderMap::new();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        response_headers(&mut headers, &p, Some(&HeaderValue::from_static("https://evil.test")), None);
        assert!(headers.is_empty(), "a disallowed origin gets nothing, not even the backend's");
        let mut headers = HeaderMap::new();
        response_headers(&mut headers, &policy(&["*"], false), Some(&origin), None);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(headers.get(VARY).is_none());
    }

    #[test]
    fn a_preflight_a_route_answered_gets_the_policys_preflight_headers_not_the_backends() {
        let p = policy(&["https://app.example.com"], false);
        let mut headers = HeaderMap::new();
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("PUT"));
        let preflight =
            RoutedPreflight { requested: HeaderValue::from_static("POST"), request_headers: None };
        let origin = HeaderValue::from_static("https://app.example.com");
        response_headers(&mut headers, &p, Some(&origin), Some(&preflight));
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(headers[ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    }

    #[test]
    fn a_preflight_answer_lists_what_is_allowed_or_nothing() {
        let p = policy(&["https://app.example.com"], false);
        let origin = HeaderValue::from_static("https://app.example.com");
        let ok = preflight_answer(&p, &origin, &HeaderValue::from_static("POST"), None);
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert_eq!(ok.headers()[ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(ok.headers()[ACCESS_CONTROL_ALLOW_HEADERS], "authorization,content-type");
        assert_eq!(ok.headers()[ACCESS_CONTROL_MAX_AGE], "600");
        let refused = preflight_answer(&p, &origin, &HeaderValue::from_static("DELETE"), None);
        assert_eq!(refused.status(), StatusCode::NO_CONTENT);
        assert!(refused.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }
}

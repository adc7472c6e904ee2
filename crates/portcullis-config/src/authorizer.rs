//! `authorizers:`: JWT (issue 3, spec §2) and Lambda (issue 5, spec §3) authorizers.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use crate::decode::{self, Cx, MapReader, YPath, did_you_mean};
use crate::error::Spanned;
use crate::expr::{self, Place};
use crate::types::PayloadFormatVersion;
use crate::yaml::Node;
use portcullis_core::Variable;

/// One authorizer under `authorizers:`, chosen by its `type:` key (`jwt` or `lambda`).
// Built once per load; unboxed variants keep matching simple for the compiler in `app`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AuthorizerConfig {
    /// `type: jwt`.
    Jwt(JwtAuthorizerConfig),
    /// `type: lambda`.
    Lambda(LambdaAuthorizerConfig),
}

/// A JWT authorizer (spec §2).
///
/// ```yaml
/// authorizers:
///   auth0:
///     type: jwt
///     issuer: https://myorg.us.auth0.com/
///     audience: [my-api]
///     forward_claims: {x-user-id: sub}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizerConfig {
    /// `issuer`: the expected `iss`, compared exactly (a trailing slash matters, spec §2.5),
    /// and the base for OIDC discovery; or the literal `dev` for the built-in development
    /// issuer. Required. Must be `https`, except for loopback hosts (127.0.0.0/8, ::1,
    /// localhost), as OIDC requires. `dev` is an error under `compat: aws`.
    pub issuer: Issuer,
    /// `audience`: accepted `aud` values (any one suffices; `client_id` is used only when
    /// `aud` is absent). Required, at least one (AWS: 1 to 50).
    pub audience: Vec<String>,
    /// `identity_source`: where the token is read; the first one present is used.
    /// Default `[$request.header.Authorization]`. Header, query string or (extension) cookie.
    /// AWS allows exactly one header or query-string source; cookies and several sources are
    /// errors under `compat: aws`.
    pub identity_source: Vec<Variable>,
    /// Where verification keys come from: discovery (default), `jwks_uri`, `jwks_file` or
    /// `public_key_file` (at most one of the three; the files are extensions).
    pub keys: KeySource,
    /// `algorithms`: allowed `alg` values. Default: all nine supported ones (`compat: aws`:
    /// RS256, RS384, RS512, the RSA algorithms AWS documents). Never allowed: `none`, HS*.
    pub algorithms: Vec<Algorithm>,
    /// `leeway`: clock skew tolerated on `exp`/`nbf`/`iat`. Default `0s`; non-zero is an
    /// error under `compat: aws` (AWS has no leeway).
    pub leeway: Duration,
    /// `forward_claims`: header name -> claim name; the claim is sent to HTTP upstreams in
    /// that header (client-sent copies removed first). Default: none. Extension.
    pub forward_claims: IndexMap<http::HeaderName, String>,
    /// `rules`: CEL expressions over `claims`, `request`, `route`; all must hold, else 403.
    /// Kept as source text with positions: compiled by the app so syntax errors can point here.
    /// An error under `compat: aws`.
    pub rules: Vec<Spanned<String>>,
    /// `cache`: verified-token and key cache settings (all optional).
    pub cache: JwtCacheConfig,
}

/// The `issuer:` of a JWT authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuer {
    /// An issuer URL.
    Url {
        /// Exactly as written: compared byte for byte with the token's `iss`.
        exact: String,
        /// Parsed, for discovery (`{issuer}/.well-known/openid-configuration`).
        url: url::Url,
    },
    /// `issuer: dev`: the gateway's own development issuer (keys under `state_dir`,
    /// discovery and JWKS served on the admin listener, tokens from `portcullis token`).
    Dev,
}

/// Where a JWT authorizer gets its verification keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// OIDC discovery from the issuer (default; the only AWS behaviour).
    Discovery,
    /// `jwks_uri`: fetch this JWKS directly, skipping discovery (https unless loopback).
    JwksUri(url::Url),
    /// `jwks_file`: a local JWKS file, resolved against the config's directory. Extension:
    /// an error under `compat: aws`.
    JwksFile(PathBuf),
    /// `public_key_file`: one PEM public key ("networkless verification"). Extension: an
    /// error under `compat: aws`.
    PublicKeyFile(PathBuf),
}

/// A JWS signature algorithm accepted by JWT authorizers.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    /// All supported algorithms, the default allow-list under `compat: extended`.
    pub const ALL: [Algorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];
    /// The RSA PKCS#1 algorithms AWS documents, the default allow-list under `compat: aws`.
    pub const AWS: [Algorithm; 3] = [Self::RS256, Self::RS384, Self::RS512];

    /// The JOSE name (`RS256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// `cache:` of a JWT authorizer. All keys optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtCacheConfig {
    /// `max_tokens`: verified tokens remembered (keyed by a hash of the token) so repeat
    /// requests skip the signature check. Default `10000`; `0` disables.
    pub max_tokens: u64,
    /// `jwks_refresh`: how often keys are refreshed in the background when the IdP sends no
    /// usable `Cache-Control: max-age`. Default `1h` (spec §2.3 recommendation).
    pub jwks_refresh: Duration,
    /// `jwks_max_stale`: how long the last good keys keep being used while the IdP is
    /// unreachable. Default `24h`.
    pub jwks_max_stale: Duration,
}

impl Default for JwtCacheConfig {
    fn default() -> Self {
        Self {
            max_tokens: 10_000,
            jwks_refresh: Duration::from_secs(3600),
            jwks_max_stale: Duration::from_secs(24 * 3600),
        }
    }
}

/// A Lambda authorizer (spec §3): a function from `functions:` decides.
///
/// ```yaml
/// authorizers:
///   admins: {type: lambda, function: clerk-authz, event: token, result_ttl: 300s}
/// ```
#[derive(Debug, Clone)]
pub struct LambdaAuthorizerConfig {
    /// `function`: a name under `functions:`. Required.
    pub function: String,
    /// `event` (`token` or `request`, required) and, for `request`, `payload_format_version`
    /// (`"1.0"` or `"2.0"`, default `"2.0"`; AWS requires it to be written).
    pub event: AuthorizerEvent,
    /// `simple_responses`: the function answers `{isAuthorized, context}` instead of an IAM
    /// policy. Default `false`. Only with `event: request` and payload `"2.0"`, as on AWS.
    pub simple_responses: bool,
    /// `identity_source`: values that must all be present (else 401 without invoking) and
    /// that form the cache key. Default for `token`: `[$request.header.Authorization]`
    /// (exactly one header is allowed); for `request`: none. Header, query string, `$context`,
    /// `$stageVariables`; cookies are an extension (error under `compat: aws`).
    pub identity_source: Vec<Variable>,
    /// `result_ttl`: how long a decision is cached; `0s` disables. Allowed `0s` to `3600s`.
    /// Default `300s` (with a warning, as AWS's HTTP API default is undocumented, spec §3.9);
    /// `0s` when there are no identity sources (nothing to key a cache on).
    pub result_ttl: Duration,
    /// `token_validation`: with `event: token`, a regex the whole token must match before the
    /// function is invoked (a mismatch is 401). Compiled anchored (`^(?:...)$`).
    pub token_validation: Option<TokenValidation>,
    /// `forward_context`: header name -> key of the authorizer's `context`; sent to HTTP
    /// upstreams (client-sent copies removed first). Default: none. Extension.
    pub forward_context: IndexMap<http::HeaderName, String>,
}

/// Which event a Lambda authorizer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerEvent {
    /// `event: token`: the REST API TOKEN event (`authorizationToken`, `methodArn`, §3.1).
    Token,
    /// `event: request`: the HTTP API REQUEST event in the given payload version (§3.3, §3.4).
    Request {
        /// `payload_format_version`.
        payload_format_version: PayloadFormatVersion,
    },
}

/// A compiled `token_validation` pattern.
#[derive(Debug, Clone)]
pub struct TokenValidation {
    /// The pattern as written.
    pub pattern: String,
    /// The pattern compiled as `^(?:pattern)$`, so `is_match` means "the whole token matches".
    pub regex: regex::Regex,
}

impl PartialEq for TokenValidation {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Type {
    Jwt,
    Lambda,
}

/// What routes need to know about an authorizer written in the file, even an invalid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthorizerKind {
    Jwt,
    Lambda,
    Unknown,
}

/// The `type:` of an authorizer node, without reporting anything.
pub(crate) fn kind_of(node: &Node) -> AuthorizerKind {
    if let crate::yaml::Kind::Map(entries) = &node.kind
        && let Some(e) = entries.iter().find(|e| e.key == "type")
        && let crate::yaml::Kind::Scalar { text, .. } = &e.value.kind
    {
        return match text.as_str() {
            "jwt" => AuthorizerKind::Jwt,
            "lambda" => AuthorizerKind::Lambda,
            _ => AuthorizerKind::Unknown,
        };
    }
    AuthorizerKind::Unknown
}

/// Decodes one authorizer. `functions` are the names written under `functions:`.
pub(crate) fn decode(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
    functions: &[String],
) -> Option<AuthorizerConfig> {
    let mut m = MapReader::new(cx, node, path)?;
    let ty = match m.get("type") {
        Some((n, p)) => decode::choice(cx, n, &p, &[("jwt", Type::Jwt), ("lambda", Type::Lambda)]),
        None => {
            let typo = m.keys().find(|(k, _)| did_you_mean(k, ["type"]).is_some());
            match typo {
                Some((k, span)) => cx.error_hint(
                    span,
                    &path.key(k),
                    format!("unknown key {k:?}"),
                    Some("did you mean `type`? (jwt or lambda)".into()),
                ),
                None => {
                    cx.error(m.span, path, "missing `type` (jwt or lambda)");
                }
            }
            None
        }
    };
    match ty {
        Some(Type::Jwt) => jwt(cx, m, path).map(AuthorizerConfig::Jwt),
        Some(Type::Lambda) => lambda(cx, m, path, functions).map(AuthorizerConfig::Lambda),
        // Without a type the other keys cannot be checked; do not report them as unknown.
        None => None,
    }
}

/// Parses an issuer or JWKS URL: https, or http on a loopback host.
fn secure_url(cx: &mut Cx, text: &str, n: &Node, p: &YPath, what: &str) -> Option<url::Url> {
    let url = match url::Url::parse(text) {
        Ok(u) if u.has_host() => u,
        _ => {
            cx.error(n.span, p, format!("invalid {what} {text:?}: expected an https:// URL"));
            return None;
        }
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            cx.error(
                n.span,
                p,
                format!("{what} {text:?} must use https (http is allowed only for loopback hosts: 127.0.0.0/8, ::1, localhost)"),
            );
            return None;
        }
        s => {
            cx.error(n.span, p, format!("invalid {what} {text:?}: scheme {s:?} is not https"));
            return None;
        }
    }
    if url.username() != "" || url.password().is_some() {
        cx.error(n.span, p, format!("{what} must not contain user info"));
        return None;
    }
    Some(url)
}

fn identity_sources(cx: &mut Cx, n: &Node, p: &YPath, place: Place) -> Option<Vec<Variable>> {
    let items = decode::items(cx, n, p)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        let ip = p.index(i);
        let Some(text) = decode::non_empty(cx, item, &ip) else {
            ok = false;
            continue;
        };
        match expr::variable(&text, place, &cx.stage_variables) {
            Ok(source @ Variable::Cookie(_)) => {
                cx.aws_forbids(
                    item.span,
                    &ip,
                    "a cookie identity source",
                    "AWS reads identity sources from headers, query strings, $context and $stageVariables only",
                );
                out.push(source);
            }
            Ok(source) => out.push(source),
            Err(e) => {
                cx.expr_error(item, &ip, &e, "invalid identity source");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn header_map(cx: &mut Cx, n: &Node, p: &YPath) -> IndexMap<http::HeaderName, String> {
    let mut out = IndexMap::new();
    if let Some(entries) = decode::entries(cx, n, p) {
        for e in entries {
            let ep = p.key(&e.key);
            let h = decode::header_name(cx, &e.key, e.key_span, &ep);
            let v = decode::non_empty(cx, &e.value, &ep);
            if let (Some(h), Some(v)) = (h, v) {
                out.insert(h, v);
            }
        }
    }
    out
}

fn rules(cx: &mut Cx, n: &Node, p: &YPath) -> Vec<Spanned<String>> {
    let mut out = Vec::new();
    if let Some(items) = decode::items(cx, n, p) {
        for (i, item) in items.into_iter().enumerate() {
            if let Some(s) = decode::non_empty(cx, item, &p.index(i)) {
                out.push(Spanned::new(s, item.span));
            }
        }
    }
    out
}

/// Decodes `rules:` (shared with routes).
pub(crate) fn decode_rules(cx: &mut Cx, n: &Node, p: &YPath) -> Vec<Spanned<String>> {
    rules(cx, n, p)
}

fn jwt(cx: &mut Cx, mut m: MapReader<'_>, path: &YPath) -> Option<JwtAuthorizerConfig> {
    let issuer = match m.get("issuer") {
        Some((n, p)) => decode::non_empty(cx, n, &p).and_then(|s| {
            if s == "dev" {
                cx.aws_forbids(
                    n.span,
                    &p,
                    "`issuer: dev`",
                    "AWS verifies tokens only from real OIDC issuers",
                );
                Some(Issuer::Dev)
            } else {
                let url = secure_url(cx, &s, n, &p, "issuer")?;
                if url.query().is_some() || url.fragment().is_some() {
                    cx.error(n.span, &p, "an issuer must not have a query or fragment");
                    return None;
                }
                Some(Issuer::Url { exact: s, url })
            }
        }),
        None => {
            cx.error(m.span, path, "missing `issuer` (an https URL, or `dev`)");
            None
        }
    };
    let audience = match m.get("audience") {
        Some((n, p)) => decode::string_list(cx, n, &p).and_then(|a| {
            if a.is_empty() {
                cx.error(n.span, &p, "`audience` must list at least one audience");
                return None;
            }
            if a.len() > 50 {
                cx.aws_forbids(n.span, &p, "more than 50 audiences", "AWS allows at most 50 per authorizer");
            }
            Some(a)
        }),
        None => {
            cx.error(m.span, path, "missing `audience` (the accepted `aud` values)").suggestion =
                Some("e.g. `audience: [my-api]`".into());
            None
        }
    };
    let identity_source = match m.get("identity_source") {
        Some((n, p)) => identity_sources(cx, n, &p, Place::JwtIdentity).and_then(|v| {
            let mut ok = true;
            if v.is_empty() {
                cx.error(n.span, &p, "`identity_source` must list at least one source");
                ok = false;
            } else if v.len() > 1 {
                cx.aws_forbids(
                    n.span,
                    &p,
                    "several identity sources",
                    "an AWS JWT authorizer has exactly one",
                );
            }
            ok.then_some(v)
        }),
        None => Some(vec![Variable::Header(http::header::AUTHORIZATION)]),
    };

    let mut keys = Some(KeySource::Discovery);
    let mut key_key: Option<&'static str> = None;
    for k in ["jwks_uri", "jwks_file", "public_key_file"] {
        let Some((n, p)) = m.get(k) else { continue };
        if let Some(first) = key_key {
            cx.error(
                m.key_span(k).unwrap_or(n.span),
                &p,
                format!("`{k}` and `{first}` exclude each other: choose one source of keys"),
            );
            keys = None;
            continue;
        }
        key_key = Some(k);
        let Some(s) = decode::non_empty(cx, n, &p) else {
            keys = None;
            continue;
        };
        keys = match k {
            "jwks_uri" => secure_url(cx, &s, n, &p, "jwks_uri").map(KeySource::JwksUri),
            "jwks_file" => {
                cx.aws_forbids(n.span, &p, "`jwks_file`", "AWS always fetches keys from the issuer");
                Some(KeySource::JwksFile(cx.resolve(&s)))
            }
            _ => {
                cx.aws_forbids(n.span, &p, "`public_key_file`", "AWS always fetches keys from the issuer");
                Some(KeySource::PublicKeyFile(cx.resolve(&s)))
            }
        };
    }
    if let (Some(Issuer::Dev), Some(k)) = (&issuer, key_key) {
        cx.error(
            m.key_span(k).unwrap_or(m.span),
            &path.key(k),
            format!("`issuer: dev` serves its own keys; remove `{k}`"),
        );
        keys = None;
    }

    let algorithms = match m.get("algorithms") {
        Some((n, p)) => decode::items(cx, n, &p).and_then(|items| {
            let mut out = Vec::new();
            let mut ok = true;
            for (i, item) in items.into_iter().enumerate() {
                let ip = p.index(i);
                let options: Vec<(&'static str, Algorithm)> =
                    Algorithm::ALL.iter().map(|a| (a.as_str(), *a)).collect();
                if let crate::yaml::Kind::Scalar { text, .. } = &item.kind
                    && (text.starts_with("HS") || text.eq_ignore_ascii_case("none"))
                {
                    cx.error(
                        item.span,
                        &ip,
                        format!("algorithm {text:?} is never accepted: only asymmetric signatures can be verified with public keys"),
                    );
                    ok = false;
                    continue;
                }
                match decode::choice(cx, item, &ip, &options) {
                    Some(a) => {
                        if !Algorithm::AWS.contains(&a) {
                            cx.aws_forbids(
                                item.span,
                                &ip,
                                &format!("algorithm {}", a.as_str()),
                                "AWS JWT authorizers support RSA (RS256, RS384, RS512) only",
                            );
                        }
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                    None => ok = false,
                }
            }
            if ok && out.is_empty() {
                cx.error(n.span, &p, "`algorithms` must allow at least one algorithm");
                return None;
            }
            ok.then_some(out)
        }),
        None if cx.compat == crate::types::Compat::Aws => Some(Algorithm::AWS.to_vec()),
        None => Some(Algorithm::ALL.to_vec()),
    };
    let leeway = match m.get("leeway") {
        Some((n, p)) => decode::duration(cx, n, &p, true).inspect(|d| {
            if !d.is_zero() {
                cx.aws_forbids(n.span, &p, "`leeway`", "AWS allows no clock skew");
            }
        }),
        None => Some(Duration::ZERO),
    };
    let forward_claims = match m.get("forward_claims") {
        Some((n, p)) => header_map(cx, n, &p),
        None => IndexMap::new(),
    };
    let rules = match m.get("rules") {
        Some((n, p)) => {
            let r = rules(cx, n, &p);
            if !r.is_empty() {
                cx.aws_forbids(
                    m.key_span("rules").unwrap_or(n.span),
                    &p,
                    "`rules` on a JWT authorizer",
                    "AWS JWT authorizers check only issuer, audience, expiry and scopes",
                );
            }
            r
        }
        None => Vec::new(),
    };
    let cache = match m.get("cache") {
        Some((n, p)) => cache(cx, n, &p),
        None => Some(JwtCacheConfig::default()),
    };
    m.finish(cx);
    Some(JwtAuthorizerConfig {
        issuer: issuer?,
        audience: audience?,
        identity_source: identity_source?,
        keys: keys?,
        algorithms: algorithms?,
        leeway: leeway?,
        forward_claims,
        rules,
        cache: cache?,
    })
}

fn cache(cx: &mut Cx, n: &Node, p: &YPath) -> Option<JwtCacheConfig> {
    let mut m = MapReader::new(cx, n, p)?;
    let d = JwtCacheConfig::default();
    let max_tokens = match m.get("max_tokens") {
        Some((n, p)) => decode::integer(cx, n, &p, 0, 100_000_000),
        None => Some(d.max_tokens),
    };
    let jwks_refresh = match m.get("jwks_refresh") {
        Some((n, p)) => decode::duration(cx, n, &p, false),
        None => Some(d.jwks_refresh),
    };
    let jwks_max_stale = match m.get("jwks_max_stale") {
        Some((n, p)) => decode::duration(cx, n, &p, true),
        None => Some(d.jwks_max_stale),
    };
    m.finish(cx);
    Some(JwtCacheConfig {
        max_tokens: max_tokens?,
        jwks_refresh: jwks_refresh?,
        jwks_max_stale: jwks_max_stale?,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Ev {
    Token,
    Request,
}

fn lambda(
    cx: &mut Cx,
    mut m: MapReader<'_>,
    path: &YPath,
    functions: &[String],
) -> Option<LambdaAuthorizerConfig> {
    let function = match m.get("function") {
        Some((n, p)) => decode::non_empty(cx, n, &p).and_then(|f| {
            if functions.contains(&f) {
                Some(f)
            } else {
                let hint = did_you_mean(&f, functions.iter().map(String::as_str));
                cx.error_hint(
                    n.span,
                    &p,
                    format!("unknown function {f:?}: it is not defined under `functions:`"),
                    hint,
                );
                None
            }
        }),
        None => {
            cx.error(m.span, path, "missing `function` (a name under `functions:`)");
            None
        }
    };
    let ev = match m.get("event") {
        Some((n, p)) => decode::choice(cx, n, &p, &[("token", Ev::Token), ("request", Ev::Request)]),
        None => {
            cx.error(m.span, path, "missing `event` (token or request)");
            None
        }
    };
    let pfv = m.get("payload_format_version");
    let payload_format_version = match &pfv {
        Some((n, p)) => {
            if ev == Some(Ev::Token) {
                cx.error(
                    m.key_span("payload_format_version").unwrap_or(n.span),
                    p,
                    "`payload_format_version` applies only to `event: request` (a token event has one fixed format)",
                );
                None
            } else {
                crate::types::payload_format_version(cx, n, p)
            }
        }
        None => Some(PayloadFormatVersion::V2),
    };
    let event = match ev {
        Some(Ev::Token) => Some(AuthorizerEvent::Token),
        Some(Ev::Request) => payload_format_version
            .map(|payload_format_version| AuthorizerEvent::Request { payload_format_version }),
        None => None,
    };
    let is_token = ev == Some(Ev::Token);
    let simple_responses = match m.get("simple_responses") {
        Some((n, p)) => decode::boolean(cx, n, &p).and_then(|b| {
            if b && event
                != Some(AuthorizerEvent::Request {
                    payload_format_version: PayloadFormatVersion::V2,
                })
                && event.is_some()
            {
                cx.error(
                    n.span,
                    &p,
                    "`simple_responses` needs `event: request` with payload_format_version \"2.0\" (as on AWS)",
                );
                return None;
            }
            Some(b)
        }),
        None => Some(false),
    };
    let identity_source = match m.get("identity_source") {
        Some((n, p)) => identity_sources(cx, n, &p, Place::LambdaIdentity).and_then(|v| {
            if is_token && !(v.len() == 1 && matches!(v[0], Variable::Header(_))) {
                cx.error(
                    n.span,
                    &p,
                    "a token authorizer reads exactly one header, e.g. [$request.header.Authorization]",
                );
                return None;
            }
            Some(v)
        }),
        None if is_token => Some(vec![Variable::Header(http::header::AUTHORIZATION)]),
        None => Some(Vec::new()),
    };
    let result_ttl = match m.get("result_ttl") {
        Some((n, p)) => decode::duration(cx, n, &p, true).and_then(|d| {
            if d > Duration::from_secs(3600) {
                cx.error(
                    n.span,
                    &p,
                    format!("result_ttl {} is over the maximum of 3600s", decode::show_duration(d)),
                );
                return None;
            }
            if d.subsec_nanos() != 0 {
                cx.error(n.span, &p, "result_ttl must be whole seconds (AWS: 0 to 3600)");
                return None;
            }
            if !d.is_zero() && identity_source.as_ref().is_some_and(Vec::is_empty) {
                cx.error(n.span, &p, "caching needs at least one `identity_source` (the cache key)")
                    .suggestion = Some("add an identity_source, or set `result_ttl: 0s`".into());
                return None;
            }
            Some(d)
        }),
        None if identity_source.as_ref().is_some_and(Vec::is_empty) => Some(Duration::ZERO),
        None => {
            cx.warn(
                m.span,
                path,
                "no `result_ttl`: caching decisions for 300s (AWS's HTTP API default is undocumented); write `result_ttl` to choose",
            );
            Some(Duration::from_secs(300))
        }
    };
    let token_validation = match m.get("token_validation") {
        Some((n, p)) => {
            if ev == Some(Ev::Request) {
                cx.error(
                    m.key_span("token_validation").unwrap_or(n.span),
                    &p,
                    "`token_validation` applies only to `event: token`",
                );
                None
            } else {
                decode::non_empty(cx, n, &p).and_then(|pattern| {
                    match regex::Regex::new(&format!("^(?:{pattern})$")) {
                        Ok(regex) => Some(Some(TokenValidation { pattern, regex })),
                        Err(e) => {
                            let why = e.to_string();
                            let last = why.lines().last().unwrap_or("").trim();
                            let last = last.strip_prefix("error: ").unwrap_or(last).to_owned();
                            cx.error(n.span, &p, format!("invalid regex {pattern:?}: {last}"));
                            None
                        }
                    }
                })
            }
        }
        None => Some(None),
    };
    let forward_context = match m.get("forward_context") {
        Some((n, p)) => header_map(cx, n, &p),
        None => IndexMap::new(),
    };
    m.finish(cx);
    Some(LambdaAuthorizerConfig {
        function: function?,
        event: event?,
        simple_responses: simple_responses?,
        identity_source: identity_source?,
        result_ttl: result_ttl?,
        token_validation: token_validation?,
        forward_context,
    })
}

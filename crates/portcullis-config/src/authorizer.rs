//! `authorizers:`: JWT (docs/aws-compatibility.md#jwt-authorizers) and Lambda
//! (docs/aws-compatibility.md#lambda-authorizers) authorizers.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use crate::decode::{self, Cx, MapReader, YPath, did_you_mean, opt};
use crate::error::Spanned;
use crate::expr::{self, Place};
use crate::types::{Compat, PayloadFormatVersion};
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

/// A JWT authorizer (AWS: [Control access to HTTP APIs with JWT authorizers in API Gateway](https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html)).
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
    /// `issuer`: the expected `iss`, compared exactly (a trailing slash matters,
    /// docs/aws-compatibility.md#claim-and-scope-checks), and the base for OIDC discovery; or
    /// the literal `dev` for the built-in development issuer. Required. Must be `https`, except for loopback hosts (127.0.0.0/8, ::1,
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
    /// usable `Cache-Control: max-age`. Default `1h`, as long as AWS caches keys (AWS:
    /// [Signing keys and troubleshooting JWT authorizers](https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-jwt-authorizer-keys.html)).
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

/// A Lambda authorizer: a function from `functions:` decides (AWS: [Control access to HTTP APIs
/// with AWS Lambda authorizers](https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html)).
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
    /// Default `300s`, with a warning, as AWS's HTTP API default is undocumented
    /// (docs/aws-compatibility.md#identity-sources-and-caching); `0s` when there are no
    /// identity sources (nothing to key a cache on).
    pub result_ttl: Duration,
    /// `token_validation`: with `event: token`, a regex the whole token must match before the
    /// function is invoked (a mismatch is 401). Compiled anchored (`^(?:...)$`).
    pub token_validation: Option<TokenValidation>,
    /// `forward_context`: header name -> key of the authorizer's `context`; sent to HTTP
    /// upstreams (client-sent copies removed first). Default: none. Extension.
    pub forward_context: IndexMap<http::HeaderName, String>,
    /// `cache`: `local` (default: each replica caches its answers) or `shared` (answers in
    /// `shared_state`'s Redis: a token answered on one replica is not invoked again on
    /// another within `result_ttl`). Extension.
    pub cache: AnswerCache,
}

/// `cache:` of a Lambda authorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerCache {
    /// Each replica its own.
    Local,
    /// Shared by every replica.
    Shared,
}

/// Which event a Lambda authorizer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerEvent {
    /// `event: token`: the REST API TOKEN event (`authorizationToken`, `methodArn`; AWS:
    /// [Input to an API Gateway Lambda authorizer](https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html)).
    Token,
    /// `event: request`: the HTTP API REQUEST event in the given payload version
    /// (docs/aws-compatibility.md#lambda-authorizer-events).
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

/// What routes need to know about an authorizer written in the file, even an invalid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthorizerKind {
    Jwt,
    Lambda,
    Unknown,
}

impl AuthorizerKind {
    /// The values of `type:`, with the kind each selects.
    const TYPES: [(&'static str, AuthorizerKind); 2] =
        [("jwt", AuthorizerKind::Jwt), ("lambda", AuthorizerKind::Lambda)];
}

/// The `type:` of an authorizer node, without reporting anything.
pub(crate) fn kind_of(node: &Node) -> AuthorizerKind {
    if let crate::yaml::Kind::Map(entries) = &node.kind
        && let Some(e) = entries.iter().find(|e| e.key == "type")
        && let crate::yaml::Kind::Scalar { text, .. } = &e.value.kind
        && let Some((_, kind)) = AuthorizerKind::TYPES.iter().find(|(t, _)| t == text)
    {
        return *kind;
    }
    AuthorizerKind::Unknown
}

/// Decodes one authorizer: its `type`, then the settings of that type. `functions` are the
/// names written under `functions:`.
pub(crate) fn decode(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
    functions: &[String],
) -> Option<AuthorizerConfig> {
    let mut m = MapReader::new(cx, node, path)?;
    match authorizer_type(cx, &mut m) {
        AuthorizerKind::Jwt => jwt(cx, m).map(AuthorizerConfig::Jwt),
        AuthorizerKind::Lambda => lambda(cx, m, functions).map(AuthorizerConfig::Lambda),
        // Without a type the other keys cannot be checked; do not report them as unknown.
        AuthorizerKind::Unknown => None,
    }
}

/// `type`: required; a key close to `type` is taken for a misspelling of it.
fn authorizer_type(cx: &mut Cx, m: &mut MapReader<'_>) -> AuthorizerKind {
    if let Some((n, p)) = m.get("type") {
        return decode::choice(cx, n, &p, &AuthorizerKind::TYPES).unwrap_or(AuthorizerKind::Unknown);
    }
    match m.keys().find(|(k, _)| did_you_mean(k, ["type"]).is_some()) {
        Some((k, span)) => cx.error_hint(
            span,
            &m.path.key(k),
            format!("unknown key {k:?}"),
            Some("did you mean `type`? (jwt or lambda)".into()),
        ),
        None => {
            cx.error(m.span, &m.path, "missing `type` (jwt or lambda)");
        }
    }
    AuthorizerKind::Unknown
}

/// A JWT authorizer's settings, one unit each.
fn jwt(cx: &mut Cx, mut m: MapReader<'_>) -> Option<JwtAuthorizerConfig> {
    let issuer = issuer(cx, &mut m);
    let audience = audience(cx, &mut m);
    let identity_source = jwt_identity_source(cx, &mut m);
    let keys = keys(cx, &mut m, issuer.as_ref());
    let algorithms = algorithms(cx, &mut m);
    let leeway = opt(cx, &mut m, "leeway", Duration::ZERO, leeway);
    let forward_claims = forwarded_headers(cx, &mut m, "forward_claims");
    let rules = jwt_rules(cx, &mut m);
    let cache = opt(cx, &mut m, "cache", JwtCacheConfig::default(), cache);
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

/// `issuer`: required; `dev`, or a secure URL without query or fragment.
fn issuer(cx: &mut Cx, m: &mut MapReader<'_>) -> Option<Issuer> {
    let Some((n, p)) = m.get("issuer") else {
        cx.error(m.span, &m.path, "missing `issuer` (an https URL, or `dev`)");
        return None;
    };
    let s = decode::non_empty(cx, n, &p)?;
    if s == "dev" {
        cx.aws_forbids(n.span, &p, "`issuer: dev`", "AWS verifies tokens only from real OIDC issuers");
        return Some(Issuer::Dev);
    }
    let url = secure_url(cx, &s, n, &p, "issuer")?;
    if url.query().is_some() || url.fragment().is_some() {
        cx.error(n.span, &p, "an issuer must not have a query or fragment");
        return None;
    }
    Some(Issuer::Url { exact: s, url })
}

/// `audience`: required, at least one (AWS: at most 50).
fn audience(cx: &mut Cx, m: &mut MapReader<'_>) -> Option<Vec<String>> {
    let Some((n, p)) = m.get("audience") else {
        cx.error(m.span, &m.path, "missing `audience` (the accepted `aud` values)").suggestion =
            Some("e.g. `audience: [my-api]`".into());
        return None;
    };
    let a = decode::string_list(cx, n, &p)?;
    if a.is_empty() {
        cx.error(n.span, &p, "`audience` must list at least one audience");
        return None;
    }
    if a.len() > 50 {
        cx.aws_forbids(n.span, &p, "more than 50 audiences", "AWS allows at most 50 per authorizer");
    }
    Some(a)
}

/// `identity_source` of a JWT authorizer: at least one (AWS: exactly one); default the
/// `Authorization` header.
fn jwt_identity_source(cx: &mut Cx, m: &mut MapReader<'_>) -> Option<Vec<Variable>> {
    let Some((n, p)) = m.get("identity_source") else {
        return Some(vec![Variable::Header(http::header::AUTHORIZATION)]);
    };
    let sources = identity_sources(cx, n, &p, Place::JwtIdentity)?;
    if sources.is_empty() {
        cx.error(n.span, &p, "`identity_source` must list at least one source");
        return None;
    }
    if sources.len() > 1 {
        cx.aws_forbids(n.span, &p, "several identity sources", "an AWS JWT authorizer has exactly one");
    }
    Some(sources)
}

/// A setting that names where a JWT authorizer's keys come from instead of discovery.
#[derive(Clone, Copy)]
enum KeySetting {
    JwksUri,
    JwksFile,
    PublicKeyFile,
}

impl KeySetting {
    const ALL: [KeySetting; 3] = [KeySetting::JwksUri, KeySetting::JwksFile, KeySetting::PublicKeyFile];

    fn key(self) -> &'static str {
        match self {
            KeySetting::JwksUri => "jwks_uri",
            KeySetting::JwksFile => "jwks_file",
            KeySetting::PublicKeyFile => "public_key_file",
        }
    }
}

/// `jwks_uri`, `jwks_file` or `public_key_file`: at most one, and none with `issuer: dev`;
/// default OIDC discovery.
fn keys(cx: &mut Cx, m: &mut MapReader<'_>, issuer: Option<&Issuer>) -> Option<KeySource> {
    let mut keys = Some(KeySource::Discovery);
    let mut written: Option<&'static str> = None;
    for setting in KeySetting::ALL {
        let k = setting.key();
        let Some((n, p)) = m.get(k) else { continue };
        if let Some(first) = written {
            cx.error(
                m.key_span(k).unwrap_or(n.span),
                &p,
                format!("`{k}` and `{first}` exclude each other: choose one source of keys"),
            );
            keys = None;
            continue;
        }
        written = Some(k);
        keys = key_source(cx, setting, n, &p);
    }
    if let (Some(Issuer::Dev), Some(k)) = (issuer, written) {
        cx.error(
            m.key_span(k).unwrap_or(m.span),
            &m.path.key(k),
            format!("`issuer: dev` serves its own keys; remove `{k}`"),
        );
        keys = None;
    }
    keys
}

/// The value of one key setting.
fn key_source(cx: &mut Cx, setting: KeySetting, n: &Node, p: &YPath) -> Option<KeySource> {
    let s = decode::non_empty(cx, n, p)?;
    match setting {
        KeySetting::JwksUri => secure_url(cx, &s, n, p, "jwks_uri").map(KeySource::JwksUri),
        KeySetting::JwksFile => {
            cx.aws_forbids(n.span, p, "`jwks_file`", "AWS always fetches keys from the issuer");
            Some(KeySource::JwksFile(cx.resolve(&s)))
        }
        KeySetting::PublicKeyFile => {
            cx.aws_forbids(n.span, p, "`public_key_file`", "AWS always fetches keys from the issuer");
            Some(KeySource::PublicKeyFile(cx.resolve(&s)))
        }
    }
}

/// `algorithms`: at least one, duplicates dropped; default all supported ones (`compat: aws`:
/// AWS's RSA ones).
fn algorithms(cx: &mut Cx, m: &mut MapReader<'_>) -> Option<Vec<Algorithm>> {
    let Some((n, p)) = m.get("algorithms") else {
        let default =
            if cx.compat == Compat::Aws { Algorithm::AWS.to_vec() } else { Algorithm::ALL.to_vec() };
        return Some(default);
    };
    let items = decode::items(cx, n, &p)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        match algorithm(cx, item, &p.index(i)) {
            Some(a) if !out.contains(&a) => out.push(a),
            Some(_) => {}
            None => ok = false,
        }
    }
    if ok && out.is_empty() {
        cx.error(n.span, &p, "`algorithms` must allow at least one algorithm");
        return None;
    }
    ok.then_some(out)
}

/// One of `algorithms`: never `none` or a symmetric (HS*) one.
fn algorithm(cx: &mut Cx, item: &Node, p: &YPath) -> Option<Algorithm> {
    if let crate::yaml::Kind::Scalar { text, .. } = &item.kind
        && (text.starts_with("HS") || text.eq_ignore_ascii_case("none"))
    {
        cx.error(
            item.span,
            p,
            format!("algorithm {text:?} is never accepted: only asymmetric signatures can be verified with public keys"),
        );
        return None;
    }
    let options = Algorithm::ALL.map(|a| (a.as_str(), a));
    let a = decode::choice(cx, item, p, &options)?;
    if !Algorithm::AWS.contains(&a) {
        cx.aws_forbids(
            item.span,
            p,
            &format!("algorithm {}", a.as_str()),
            "AWS JWT authorizers support RSA (RS256, RS384, RS512) only",
        );
    }
    Some(a)
}

/// `leeway`: zero or more; AWS has none.
fn leeway(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Duration> {
    let d = decode::duration(cx, n, p, true)?;
    if !d.is_zero() {
        cx.aws_forbids(n.span, p, "`leeway`", "AWS allows no clock skew");
    }
    Some(d)
}

/// `rules` of a JWT authorizer (an extension).
fn jwt_rules(cx: &mut Cx, m: &mut MapReader<'_>) -> Vec<Spanned<String>> {
    let Some((n, p)) = m.get("rules") else { return Vec::new() };
    let r = decode_rules(cx, n, &p);
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

/// `cache` of a JWT authorizer.
fn cache(cx: &mut Cx, n: &Node, p: &YPath) -> Option<JwtCacheConfig> {
    let mut m = MapReader::new(cx, n, p)?;
    let d = JwtCacheConfig::default();
    let max_tokens =
        opt(cx, &mut m, "max_tokens", d.max_tokens, |cx, n, p| decode::integer(cx, n, p, 0, 100_000_000));
    let jwks_refresh =
        opt(cx, &mut m, "jwks_refresh", d.jwks_refresh, |cx, n, p| decode::duration(cx, n, p, false));
    let jwks_max_stale =
        opt(cx, &mut m, "jwks_max_stale", d.jwks_max_stale, |cx, n, p| decode::duration(cx, n, p, true));
    m.finish(cx);
    Some(JwtCacheConfig {
        max_tokens: max_tokens?,
        jwks_refresh: jwks_refresh?,
        jwks_max_stale: jwks_max_stale?,
    })
}

/// The kind of event a Lambda authorizer receives, as written in `event:`.
#[derive(Clone, Copy, PartialEq)]
enum EventKind {
    Token,
    Request,
}

/// A Lambda authorizer's settings, one unit each.
fn lambda(cx: &mut Cx, mut m: MapReader<'_>, functions: &[String]) -> Option<LambdaAuthorizerConfig> {
    let function = function(cx, &mut m, functions);
    let (event, kind) = event(cx, &mut m);
    let simple_responses = simple_responses(cx, &mut m, event);
    let identity_source = lambda_identity_source(cx, &mut m, kind);
    let result_ttl = result_ttl(cx, &mut m, identity_source.as_deref());
    let token_validation = token_validation(cx, &mut m, kind);
    let forward_context = forwarded_headers(cx, &mut m, "forward_context");
    let cache = opt(cx, &mut m, "cache", AnswerCache::Local, |cx, n, p| {
        let cache =
            decode::choice(cx, n, p, &[("local", AnswerCache::Local), ("shared", AnswerCache::Shared)])?;
        if cache == AnswerCache::Shared && !cx.shared_state {
            cx.error(n.span, p, "`cache: shared` needs `shared_state` (a Redis every replica shares)");
            return None;
        }
        Some(cache)
    });
    m.finish(cx);
    Some(LambdaAuthorizerConfig {
        function: function?,
        event: event?,
        simple_responses: simple_responses?,
        identity_source: identity_source?,
        result_ttl: result_ttl?,
        token_validation: token_validation?,
        forward_context,
        cache: cache?,
    })
}

/// `function`: required, a name under `functions:`.
fn function(cx: &mut Cx, m: &mut MapReader<'_>, functions: &[String]) -> Option<String> {
    let Some((n, p)) = m.get("function") else {
        cx.error(m.span, &m.path, "missing `function` (a name under `functions:`)");
        return None;
    };
    let f = decode::non_empty(cx, n, &p)?;
    if functions.contains(&f) {
        return Some(f);
    }
    let hint = did_you_mean(&f, functions.iter().map(String::as_str));
    cx.error_hint(n.span, &p, format!("unknown function {f:?}: it is not defined under `functions:`"), hint);
    None
}

/// `event` (required) and, for `request`, `payload_format_version`. Returns the event (when
/// valid) and its kind (when `event` is valid), which other settings are checked against.
fn event(cx: &mut Cx, m: &mut MapReader<'_>) -> (Option<AuthorizerEvent>, Option<EventKind>) {
    let kind = match m.get("event") {
        Some((n, p)) => {
            let kind =
                decode::choice(cx, n, &p, &[("token", EventKind::Token), ("request", EventKind::Request)]);
            if kind == Some(EventKind::Token) {
                cx.aws_forbids(
                    n.span,
                    &p,
                    "`event: token`",
                    "HTTP APIs have REQUEST and JWT authorizers only; TOKEN authorizers are REST APIs'",
                );
            }
            kind
        }
        None => {
            cx.error(m.span, &m.path, "missing `event` (token or request)");
            None
        }
    };
    let payload_format_version = payload_format(cx, m, kind);
    let event = match kind {
        Some(EventKind::Token) => Some(AuthorizerEvent::Token),
        Some(EventKind::Request) => payload_format_version
            .map(|payload_format_version| AuthorizerEvent::Request { payload_format_version }),
        None => None,
    };
    (event, kind)
}

/// `payload_format_version`: only for `event: request`; default `"2.0"`.
fn payload_format(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    kind: Option<EventKind>,
) -> Option<PayloadFormatVersion> {
    let Some((n, p)) = m.get("payload_format_version") else { return Some(PayloadFormatVersion::V2) };
    if kind == Some(EventKind::Token) {
        cx.error(
            m.key_span("payload_format_version").unwrap_or(n.span),
            &p,
            "`payload_format_version` applies only to `event: request` (a token event has one fixed format)",
        );
        return None;
    }
    crate::types::payload_format_version(cx, n, &p)
}

/// `simple_responses`: only with `event: request` and payload `"2.0"`, as on AWS.
fn simple_responses(cx: &mut Cx, m: &mut MapReader<'_>, event: Option<AuthorizerEvent>) -> Option<bool> {
    let Some((n, p)) = m.get("simple_responses") else { return Some(false) };
    let on = decode::boolean(cx, n, &p)?;
    let v2 = AuthorizerEvent::Request { payload_format_version: PayloadFormatVersion::V2 };
    if on && event.is_some_and(|e| e != v2) {
        cx.error(
            n.span,
            &p,
            "`simple_responses` needs `event: request` with payload_format_version \"2.0\" (as on AWS)",
        );
        return None;
    }
    Some(on)
}

/// `identity_source` of a Lambda authorizer: for `event: token`, exactly one header (default
/// `Authorization`); for `event: request`, any (default none).
fn lambda_identity_source(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    kind: Option<EventKind>,
) -> Option<Vec<Variable>> {
    let is_token = kind == Some(EventKind::Token);
    let Some((n, p)) = m.get("identity_source") else {
        return Some(if is_token { vec![Variable::Header(http::header::AUTHORIZATION)] } else { Vec::new() });
    };
    let sources = identity_sources(cx, n, &p, Place::LambdaIdentity)?;
    if is_token && !matches!(sources.as_slice(), [Variable::Header(_)]) {
        cx.error(
            n.span,
            &p,
            "a token authorizer reads exactly one header, e.g. [$request.header.Authorization]",
        );
        return None;
    }
    Some(sources)
}

/// `result_ttl`: whole seconds, 0 to 3600; caching needs an identity source to key on. Default
/// 300s with a warning, or 0s without identity sources.
fn result_ttl(cx: &mut Cx, m: &mut MapReader<'_>, identity_source: Option<&[Variable]>) -> Option<Duration> {
    let no_cache_key = identity_source.is_some_and(<[Variable]>::is_empty);
    let Some((n, p)) = m.get("result_ttl") else {
        if no_cache_key {
            return Some(Duration::ZERO);
        }
        cx.warn(
            m.span,
            &m.path,
            "no `result_ttl`: caching decisions for 300s (AWS's HTTP API default is undocumented); write `result_ttl` to choose",
        );
        return Some(Duration::from_secs(300));
    };
    let d = decode::duration(cx, n, &p, true)?;
    if d > Duration::from_secs(3600) {
        cx.error(n.span, &p, format!("result_ttl {} is over the maximum of 3600s", decode::show_duration(d)));
        return None;
    }
    if d.subsec_nanos() != 0 {
        cx.error(n.span, &p, "result_ttl must be whole seconds (AWS: 0 to 3600)");
        return None;
    }
    if !d.is_zero() && no_cache_key {
        cx.error(n.span, &p, "caching needs at least one `identity_source` (the cache key)").suggestion =
            Some("add an identity_source, or set `result_ttl: 0s`".into());
        return None;
    }
    Some(d)
}

/// `token_validation`: only for `event: token`; a regex the whole token must match.
fn token_validation(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    kind: Option<EventKind>,
) -> Option<Option<TokenValidation>> {
    let Some((n, p)) = m.get("token_validation") else { return Some(None) };
    if kind == Some(EventKind::Request) {
        cx.error(
            m.key_span("token_validation").unwrap_or(n.span),
            &p,
            "`token_validation` applies only to `event: token`",
        );
        return None;
    }
    let pattern = decode::non_empty(cx, n, &p)?;
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(regex) => Some(Some(TokenValidation { pattern, regex })),
        Err(e) => {
            // The regex crate's message ends with the reason on its last line.
            let why = e.to_string();
            let last = why.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            cx.error(n.span, &p, format!("invalid regex {pattern:?}: {last}"));
            None
        }
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

/// `identity_source`: a list of variables; cookies are an extension.
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

/// `forward_claims` or `forward_context`: header name -> a name to look up; a problem drops
/// only the entry it is about.
fn forwarded_headers(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    key: &'static str,
) -> IndexMap<http::HeaderName, String> {
    let mut out = IndexMap::new();
    if let Some((n, p)) = m.get(key)
        && let Some(entries) = decode::entries(cx, n, &p)
    {
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

/// `rules:` of a JWT authorizer or a route: CEL source texts with their positions, compiled
/// by the app.
pub(crate) fn decode_rules(cx: &mut Cx, n: &Node, p: &YPath) -> Vec<Spanned<String>> {
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

//! The JWT authorizer (docs/aws-compatibility.md#jwt-authorizers): token from the identity
//! source, structural checks, key by `kid`, signature, `iss`, `aud`/`client_id`, `exp`/`nbf`/`iat`,
//! route scopes; claims forwarded as headers and kept for Lambda events.

mod cache;
mod claims;
mod token;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue};
use portcullis_core::{AuthContext, CallContext, JwtContext};
use portcullis_jwks::{KeyError, KeyStore};
use serde_json::Value;

use self::cache::{TokenCache, Verified};
use self::claims::{check_audience, check_issuer, check_scopes, check_times, read_times, token_scopes};
use crate::identity::{self, strip_bearer};
use crate::{Algorithm, Authorizer, BoxFuture, CacheStats, Denial, DenialCounts, Reason, RouteAuth, Trace};
use portcullis_core::Variable;

/// Runtime settings of one JWT authorizer (mapped from the YAML by `portcullis-app`).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The authorizer's name, for logs.
    pub name: String,
    /// `iss` must equal this exactly (docs/aws-compatibility.md#claim-and-scope-checks).
    pub issuer: String,
    /// Accepted audiences: `aud` any-of, or `client_id` when `aud` is absent. Empty matches
    /// nothing (AWS requires at least one).
    pub audience: Vec<String>,
    /// Where the token is read, first present wins. Empty means `$request.header.Authorization`.
    pub identity_source: Vec<Variable>,
    /// Allow-list. Empty means every asymmetric algorithm ([`portcullis_jwks::ASYMMETRIC_ALGORITHMS`]),
    /// or RS256/384/512 with `compat_aws`.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf`, `iat`. Default 0
    /// (docs/aws-compatibility.md#claim-and-scope-checks).
    pub leeway: Duration,
    /// `(header, claim)`: on success the claim's value is sent upstream in the header, after
    /// removing any client-sent header of that name. Top-level claim names only.
    pub forward_claims: Vec<(HeaderName, String)>,
    /// `compat: aws`: RSA only, `kid` required, no leeway, one header or query source.
    pub compat_aws: bool,
    /// Entries of the verified-token cache; 0 disables it. Default 100 000.
    pub token_cache_capacity: u64,
}

impl JwtSettings {
    /// Settings with the defaults: Authorization header, every asymmetric algorithm, no
    /// leeway, no forwarded claims, extended mode, a 100 000-entry token cache.
    pub fn new(issuer: impl Into<String>, audience: Vec<String>) -> Self {
        Self {
            name: "jwt".into(),
            issuer: issuer.into(),
            audience,
            identity_source: Vec::new(),
            algorithms: Vec::new(),
            leeway: Duration::ZERO,
            forward_claims: Vec::new(),
            compat_aws: false,
            token_cache_capacity: 100_000,
        }
    }
}

/// Settings that cannot be honoured.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// `compat: aws` with a feature AWS does not have.
    #[error("compat: aws does not allow {feature}: {why}")]
    NotAws {
        /// The feature, e.g. `algorithm ES256`.
        feature: String,
        /// Why AWS differs.
        why: &'static str,
    },
    /// An HMAC algorithm in the allow-list: shared secrets cannot come from a JWKS.
    #[error(
        "algorithm {0:?} is not accepted: only asymmetric signatures can be verified with published keys"
    )]
    Symmetric(Algorithm),
}

/// Verifies JWTs for routes that use it. Build once per config; cheap to share (`Arc`).
pub struct JwtAuthorizer {
    settings: JwtSettings,
    algorithms: Vec<Algorithm>,
    leeway: f64,
    keys: Arc<KeyStore>,
    cache: Option<TokenCache>,
    /// Revoked tokens, checked on every request after the cache.
    revocations: Option<Arc<crate::RevocationList>>,
    denials: DenialCounts,
}

/// What a JWT authorizer has done so far (admin console, `/metrics`).
#[derive(Debug, Clone)]
pub struct JwtStats {
    /// The verified-token cache (`None` when `cache.max_tokens` is 0).
    pub cache: Option<CacheStats>,
    /// Denials by reason code (only reasons seen at least once).
    pub denials: Vec<(Reason, u64)>,
}

impl fmt::Debug for JwtAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthorizer")
            .field("settings", &self.settings)
            .field("keys", &self.keys.label())
            .finish()
    }
}

impl JwtAuthorizer {
    /// An authorizer over `keys` (from [`portcullis_jwks::JwksRegistry::store`]).
    ///
    /// # Errors
    /// HMAC algorithms; with `compat_aws`, any non-AWS feature (non-RSA algorithm, leeway,
    /// cookie or several identity sources).
    pub fn new(mut settings: JwtSettings, keys: Arc<KeyStore>) -> Result<Self, SettingsError> {
        portcullis_jwks::install_crypto_provider();
        if let Some(alg) =
            settings.algorithms.iter().find(|a| portcullis_jwks::asymmetric_alg(&format!("{a:?}")).is_none())
        {
            return Err(SettingsError::Symmetric(*alg));
        }
        if settings.identity_source.is_empty() {
            settings.identity_source.push(identity::authorization());
        }
        let algorithms = if settings.algorithms.is_empty() {
            if settings.compat_aws {
                vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512]
            } else {
                portcullis_jwks::ASYMMETRIC_ALGORITHMS.to_vec()
            }
        } else {
            settings.algorithms.clone()
        };
        if settings.compat_aws {
            let not_aws = |feature: String, why| Err(SettingsError::NotAws { feature, why });
            if let Some(alg) = algorithms
                .iter()
                .find(|a| !matches!(a, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512))
            {
                return not_aws(
                    format!("algorithm {alg:?}"),
                    "AWS JWT authorizers verify only RSA signatures (docs/aws-compatibility.md#token-extraction-and-keys)",
                );
            }
            if !settings.leeway.is_zero() {
                return not_aws(
                    "leeway".into(),
                    "AWS applies no clock-skew leeway (docs/aws-compatibility.md#claim-and-scope-checks)",
                );
            }
            if settings.identity_source.len() != 1 {
                return not_aws(
                    "several identity sources".into(),
                    "an AWS JWT authorizer has exactly one (docs/aws-compatibility.md#token-extraction-and-keys)",
                );
            }
            if let Some(source @ Variable::Cookie(_)) = settings.identity_source.first() {
                return not_aws(
                    format!("identity source {source}"),
                    "AWS JWT authorizers read only headers or query strings (docs/aws-compatibility.md#token-extraction-and-keys)",
                );
            }
        }
        let cache =
            (settings.token_cache_capacity > 0).then(|| TokenCache::new(settings.token_cache_capacity));
        Ok(Self {
            leeway: settings.leeway.as_secs_f64(),
            algorithms,
            settings,
            keys,
            cache,
            revocations: None,
            denials: DenialCounts::default(),
        })
    }

    /// The settings in force (with defaults filled in).
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Denies tokens `revocations` names, whatever the verified-token cache holds.
    #[must_use]
    pub fn with_revocations(mut self, revocations: Arc<crate::RevocationList>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// The algorithms this authorizer accepts.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The key store it verifies with.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Cache figures and denials so far. Decisions made for `explain` (a recording trace) are
    /// not counted.
    pub fn stats(&self) -> JwtStats {
        JwtStats { cache: self.cache.as_ref().map(TokenCache::stats), denials: self.denials.snapshot() }
    }

    /// Everything up to (not including) the route scope check; cached when allowed.
    async fn decide(
        &self,
        parts: &http::request::Parts,
        route: &RouteAuth,
        trace: &mut Trace,
    ) -> Result<Arc<Verified>, Denial> {
        let deny = |trace: &mut Trace, check: &'static str, (reason, detail): (Reason, String)| {
            trace.fail(check, || detail.clone());
            Denial::unauthorized(reason, detail, &route.scopes)
        };
        let found =
            self.settings.identity_source.iter().find_map(|s| identity::extract(s, parts).map(|v| (s, v)));
        let Some((source, raw)) = found else {
            let detail = format!("nothing in {}", self.sources());
            return Err(deny(trace, "token", (Reason::TokenMissing, detail)));
        };
        let Some(token) = strip_bearer(&raw) else {
            return Err(deny(
                trace,
                "token",
                (Reason::TokenMissing, format!("{source} holds only a scheme")),
            ));
        };
        trace.pass("token", || format!("from {source}, {} bytes", token.len()));
        let now = now_secs();

        // A recording trace skips the verified-token cache (whose hits skip the checks); the
        // decision is the same either way.
        let hash =
            self.cache.as_ref().filter(|_| !trace.is_on()).map(|cache| (cache, TokenCache::hash(token)));
        if let Some((cache, hash)) = &hash
            && let Some(hit) = cache.get(hash)
        {
            if self.keys.still_published(&hit.key) {
                if let Err(failure) = check_times(&hit.times, now, self.leeway) {
                    cache.remove(hash);
                    return Err(deny(trace, "times", failure));
                }
                return Ok(hit);
            }
            cache.remove(hash);
        }

        let parsed = token::parse(token, &self.algorithms).map_err(|f| deny(trace, "header", f))?;
        trace.pass("header", || format!("alg {:?}, kid {:?}", parsed.alg, parsed.kid));
        if self.settings.compat_aws && parsed.kid.is_none() {
            return Err(deny(
                trace,
                "header",
                (Reason::KidMissing, "no kid (required by compat: aws)".into()),
            ));
        }

        let key = self.keys.key(parsed.kid.as_deref(), parsed.alg).await.map_err(|e| {
            let reason = match &e {
                KeyError::UnknownKid => Reason::KidUnknown,
                KeyError::AlgMismatch => Reason::KeyAlgMismatch,
                KeyError::KidRequired => Reason::KidMissing,
                KeyError::Unavailable(_) => Reason::KeysUnavailable,
            };
            let detail =
                format!("kid {:?}, alg {:?}, keys of {}: {e}", parsed.kid, parsed.alg, self.keys.label());
            deny(trace, "key", (reason, detail))
        })?;
        trace.pass("key", || {
            format!("{} key kid {:?} from {}", key.kind().as_str(), key.kid(), self.keys.label())
        });

        // The key's own parsed aws-lc key (built at JWKS load), not jsonwebtoken::crypto::verify,
        // which rebuilds it on every call. Same algorithms, same base64url decoding.
        let valid = URL_SAFE_NO_PAD
            .decode(parsed.signature)
            .is_ok_and(|signature| key.verify(parsed.alg, parsed.signing_input.as_bytes(), &signature));
        if !valid {
            let detail = format!("{:?} signature does not verify with kid {:?}", parsed.alg, key.kid());
            return Err(deny(trace, "signature", (Reason::SignatureInvalid, detail)));
        }
        trace.pass("signature", || format!("{:?}", parsed.alg));

        let claims = parsed.claims;
        check_issuer(&claims, &self.settings.issuer).map_err(|f| deny(trace, "iss", f))?;
        trace.pass("iss", || format!("{:?}", self.settings.issuer));
        check_audience(&claims, &self.settings.audience).map_err(|f| deny(trace, "aud", f))?;
        trace.pass("aud", || {
            format!(
                "{} matches",
                claims.get("aud").or_else(|| claims.get("client_id")).unwrap_or(&Value::Null)
            )
        });
        let times = read_times(&claims).map_err(|f| deny(trace, "times", f))?;
        check_times(&times, now, self.leeway).map_err(|f| deny(trace, "times", f))?;
        trace.pass("times", || format!("exp in {:.0}s, leeway {}s", times.exp - now, self.leeway));

        let remaining = times.exp + self.leeway - now;
        let lifetime =
            if remaining > 0.0 { Duration::from_secs_f64(remaining.min(86_400.0)) } else { Duration::ZERO };
        let verified = Arc::new(Verified {
            scopes: token_scopes(&claims).into(),
            claims: Arc::new(claims),
            times,
            key,
            lifetime,
        });
        if let Some((cache, hash)) = hash {
            cache.insert(hash, Arc::clone(&verified));
        }
        Ok(verified)
    }

    /// The route scope check and the context for later stages.
    fn finish(&self, verified: &Verified, route: &RouteAuth) -> Result<AuthContext, Denial> {
        check_scopes(&verified.scopes, &route.scopes).map_err(Denial::forbidden)?;
        Ok(AuthContext::Jwt(JwtContext {
            claims: Arc::clone(&verified.claims),
            // As AWS sends them: null without route scopes; all token scopes when the route has some.
            scopes: (!route.scopes.is_empty()).then(|| Arc::clone(&verified.scopes)),
        }))
    }

    fn forward_headers(&self, verified: &Verified) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(self.settings.forward_claims.len());
        for (header, claim) in &self.settings.forward_claims {
            let value = match verified.claims.get(claim) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => HeaderValue::from_bytes(s.as_bytes()),
                Some(other) => HeaderValue::from_bytes(other.to_string().as_bytes()),
            };
            match value {
                Ok(value) => out.push((header.clone(), value)),
                Err(_) => {
                    tracing::debug!(authorizer = %self.settings.name, %header, claim, "claim value cannot be a header value; not forwarded")
                }
            }
        }
        out
    }

    fn sources(&self) -> String {
        self.settings.identity_source.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

fn scope_detail(verified: &Verified, route: &RouteAuth) -> String {
    if route.scopes.is_empty() {
        "route has no scopes".into()
    } else {
        format!("token [{}] has one of [{}]", verified.scopes.join(" "), route.scopes.join(" "))
    }
}

impl Authorizer for JwtAuthorizer {
    fn authorize<'a>(
        &'a self,
        parts: &'a mut http::request::Parts,
        _ctx: &'a CallContext,
        route: &'a RouteAuth,
        trace: &'a mut Trace,
    ) -> BoxFuture<'a, Result<AuthContext, Denial>> {
        Box::pin(async move {
            let decided = self.authorize_once(parts, route, trace).await;
            if let Err(denial) = &decided
                && !trace.is_on()
            {
                self.denials.count(denial.reason);
            }
            decided
        })
    }
}

impl JwtAuthorizer {
    async fn authorize_once(
        &self,
        parts: &mut http::request::Parts,
        route: &RouteAuth,
        trace: &mut Trace,
    ) -> Result<AuthContext, Denial> {
        let verified = self.decide(parts, route, trace).await?;
        // After the cache: a verification cached before the revocation admits nothing.
        if let Some(revocations) = &self.revocations
            && let Some(entry) = revocations.check(&verified.claims, now_secs() as u64)
        {
            let detail = format!("{} was revoked", entry.revoked);
            trace.fail("revocation", || detail.clone());
            return Err(Denial::unauthorized(Reason::Revoked, detail, &route.scopes));
        }
        let context = match self.finish(&verified, route) {
            Ok(context) => {
                trace.pass("scopes", || scope_detail(&verified, route));
                context
            }
            Err(denial) => {
                trace.fail("scopes", || denial.detail.clone());
                return Err(denial);
            }
        };
        // Remove client-sent copies first so a client can never spoof a forwarded claim.
        for (header, _) in &self.settings.forward_claims {
            parts.headers.remove(header);
        }
        for (header, value) in self.forward_headers(&verified) {
            trace.pass("forward", || format!("{header}: {}", String::from_utf8_lossy(value.as_bytes())));
            parts.headers.append(header, value);
        }
        Ok(context)
    }
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

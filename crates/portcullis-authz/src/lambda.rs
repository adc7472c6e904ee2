//! The Lambda authorizer (docs/aws-compatibility.md#lambda-authorizers): a function decides, by
//! an IAM policy or a simple `{isAuthorized, context}` answer, and its answer is cached per
//! identity for `result_ttl`.
//!
//! Order of work per request, each step fail-closed:
//! 1. identity values (all present and non-empty, else 401 without invoking;
//!    docs/aws-compatibility.md#identity-sources-and-caching);
//! 2. `token_validation` for TOKEN events (mismatch: 401 without invoking);
//! 3. the cached answer for this identity, or one invocation shared by every concurrent request
//!    with the same identity (single flight); failures are never cached;
//! 4. the answer evaluated against *this* request: an IAM policy against this request's
//!    `methodArn`/`routeArn` (so a cached policy can deny another route, as on AWS:
//!    docs/aws-compatibility.md#iam-policy-and-simple-responses), a simple answer as is;
//! 5. on Allow, the context handed on ([`AuthContext::Lambda`]) and `forward_context` headers.

mod cache;
mod identity;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
pub use portcullis_core::ApiIdentity;
use portcullis_core::{AuthContext, CallContext, LambdaContext, TraceId};
use portcullis_events as events;
use portcullis_functions::{InvokeError, Invoker};
use serde_json::{Map, Value};

use self::cache::DecisionCache;
use crate::policy::{self, ContextRules, Decision, IamResponse, Policy, SimpleResponse};
use crate::stats::HitCounter;
use crate::{
    Authorizer, BoxFuture, CacheStats, Denial, DenialCounts, DenialStatus, Reason, RouteAuth, Trace,
};
pub use portcullis_core::{ContextVariable, Variable};

/// AWS's limit on a Lambda authorizer's answer time for HTTP APIs
/// (docs/aws-compatibility.md#limits), not raisable.
pub const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which event the function receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaEvent {
    /// `event: token`: `{type: TOKEN, authorizationToken, methodArn}`.
    Token,
    /// `event: request`, payload 1.0.
    RequestV1,
    /// `event: request`, payload 2.0.
    RequestV2,
}

/// Runtime settings of one Lambda authorizer (mapped from the YAML by `portcullis-app`). Equal
/// settings make the same authorizer: a registry keeps one (and its answer cache) across
/// reloads while they are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LambdaSettings {
    /// The authorizer's name, for logs and the cache.
    pub name: String,
    /// Event shape.
    pub event: LambdaEvent,
    /// `simple_responses`: the answer is `{isAuthorized, context}` (request 2.0 only).
    pub simple_responses: bool,
    /// Identity sources, in configuration order: all must be present; they form the cache key.
    pub identity_source: Vec<Variable>,
    /// How long an answer is reused for the same identity; zero disables the cache.
    pub result_ttl: Duration,
    /// TOKEN events: the whole token must match (compiled anchored by the config loader).
    pub token_validation: Option<TokenPattern>,
    /// `(header, context key)`: on Allow the context value is sent upstream in the header,
    /// after removing every client-sent header of that name.
    pub forward_context: Vec<(HeaderName, String)>,
    /// Largest number of cached answers (identities). Default 10 000.
    pub cache_capacity: u64,
    /// Whether answers are shared with other gateways ([`LambdaAuthorizer::with_shared_answers`]).
    pub shared_cache: bool,
    /// ARNs and event fields.
    pub api: ApiIdentity,
    /// Answer deadline; [`AUTHORIZER_TIMEOUT`] unless a test shortens it.
    pub timeout: Duration,
}

/// A `token_validation` pattern: a regex compared by its source text.
#[derive(Debug, Clone)]
pub struct TokenPattern(pub regex::Regex);

impl PartialEq for TokenPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for TokenPattern {}

impl std::hash::Hash for TokenPattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

impl LambdaSettings {
    /// Settings with the defaults for `event`: the Authorization header for TOKEN events, no
    /// identity sources for REQUEST events, no cache, a 10 s timeout.
    pub fn new(name: impl Into<String>, event: LambdaEvent) -> Self {
        let identity_source = match event {
            LambdaEvent::Token => vec![Variable::Header(http::header::AUTHORIZATION)],
            _ => Vec::new(),
        };
        Self {
            name: name.into(),
            event,
            simple_responses: false,
            identity_source,
            result_ttl: Duration::ZERO,
            token_validation: None,
            forward_context: Vec::new(),
            cache_capacity: 10_000,
            shared_cache: false,
            api: ApiIdentity::default(),
            timeout: AUTHORIZER_TIMEOUT,
        }
    }
}

/// Settings that cannot work (the config loader reports these as config errors).
#[derive(Debug, thiserror::Error)]
pub enum LambdaSettingsError {
    /// Simple responses exist only for REQUEST 2.0
    /// (docs/aws-compatibility.md#iam-policy-and-simple-responses).
    #[error("simple responses need a request event with payload format 2.0")]
    SimpleNeedsV2,
    /// A TOKEN authorizer reads exactly one header (docs/aws-compatibility.md#lambda-authorizer-events).
    #[error("a token authorizer reads exactly one header")]
    TokenNeedsOneHeader,
    /// Caching needs a key (docs/aws-compatibility.md#identity-sources-and-caching).
    #[error("caching (result_ttl > 0) needs at least one identity source")]
    CacheNeedsIdentity,
    /// `result_ttl` is 0 to 3600 s (docs/aws-compatibility.md#identity-sources-and-caching).
    #[error("result_ttl is over 3600s")]
    TtlTooLong,
}

/// The function a Lambda authorizer calls. [`Invoker`] is the real one; the seam exists so that
/// tests can count invocations exactly.
pub trait AuthorizerFunction: Send + Sync + 'static {
    /// Invoke once with `payload`; `request_id` tags the invocation's logs and `trace` (the
    /// request's) is the root of the function's `_X_AMZN_TRACE_ID`. An invocation still running
    /// after `deadline` is ended (its instance killed and replaced).
    fn invoke<'a>(
        &'a self,
        payload: Bytes,
        request_id: &'a str,
        trace: &'a TraceId,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<Bytes, InvokeError>>;
    /// The function's name, for logs.
    fn name(&self) -> &str;
}

impl AuthorizerFunction for Invoker {
    fn invoke<'a>(
        &'a self,
        payload: Bytes,
        request_id: &'a str,
        trace: &'a TraceId,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<Bytes, InvokeError>> {
        Box::pin(Invoker::invoke_traced(self, payload, request_id, trace, Some(deadline)))
    }
    fn name(&self) -> &str {
        Invoker::name(self)
    }
}

/// A parsed, cacheable answer of the function.
#[derive(Debug)]
pub enum Answer {
    /// An IAM-policy answer: evaluated against every request it is reused for.
    Policy {
        /// `principalId`.
        principal_id: Option<String>,
        /// The policy.
        policy: Policy,
        /// `context`.
        context: Option<Arc<Map<String, Value>>>,
    },
    /// A simple answer: applies to every route of the authorizer as is.
    Simple {
        /// `isAuthorized`.
        is_authorized: bool,
        /// `context`.
        context: Option<Arc<Map<String, Value>>>,
    },
}

/// Why the function produced no usable answer; never cached.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FunctionFailure {
    /// The function failed with the message `Unauthorized`
    /// (docs/aws-compatibility.md#lambda-authorizer-status-codes): 401.
    #[error("the function answered Unauthorized")]
    Unauthorized,
    /// No answer in time: 500.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The invocation failed: 500.
    #[error("{0}")]
    Failed(String),
    /// The answer is not a valid response: 500.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

/// A Lambda authorizer. Shared by every route that names it; its cache survives reloads when
/// the registry hands the same instance to the new snapshot.
pub struct LambdaAuthorizer {
    settings: LambdaSettings,
    function: Arc<dyn AuthorizerFunction>,
    cache: Option<DecisionCache>,
    /// Answers shared with other gateways (`cache: shared`), consulted on a local miss.
    shared: Option<Arc<dyn SharedAnswers>>,
    context_rules: ContextRules,
    counters: Counters,
}

/// What a Lambda authorizer has done so far (admin console, `/metrics`).
#[derive(Debug, Clone)]
pub struct LambdaStats {
    /// The answer cache (`None` when `result_ttl` is 0).
    pub cache: Option<CacheStats>,
    /// Invocations of the function (`explain`'s included: they are real).
    pub invocations: u64,
    /// Invocations that failed, timed out or answered something malformed (a function that
    /// refuses with `Unauthorized` is a denial, not an error).
    pub errors: u64,
    /// Denials by reason code (only reasons seen at least once).
    pub denials: Vec<(Reason, u64)>,
}

#[derive(Default)]
struct Counters {
    cache: HitCounter,
    invocations: AtomicU64,
    errors: AtomicU64,
    denials: DenialCounts,
}

/// A store of authorizer answers several gateways share: the function's answer, as it
/// returned it, under a key of the authorizer and the identity (`cache: shared`).
pub trait SharedAnswers: Send + Sync {
    /// The answer stored for `key` of `authorizer`; `None` when there is none, or the store
    /// could not be asked (the authorizer then invokes, and counts on its own cache).
    fn get<'a>(&'a self, authorizer: &'a str, key: &'a str) -> BoxFuture<'a, Option<Bytes>>;

    /// Stores `answer` for `key` of `authorizer`, for `ttl`.
    fn put<'a>(
        &'a self,
        authorizer: &'a str,
        key: &'a str,
        answer: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'a, ()>;
}

impl fmt::Debug for LambdaAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaAuthorizer")
            .field("name", &self.settings.name)
            .field("function", &self.function.name())
            .field("event", &self.settings.event)
            .finish_non_exhaustive()
    }
}

impl Answer {
    /// Whether this answer lets a request with `arn` through (what a cached answer would do
    /// for another route).
    pub fn allows(&self, arn: &str) -> bool {
        match self {
            Answer::Simple { is_authorized, .. } => *is_authorized,
            Answer::Policy { policy, .. } => matches!(policy.evaluate(arn), Decision::Allow),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |context: &Option<Arc<Map<String, Value>>>| match context {
            Some(c) => c.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
            None => "none".to_owned(),
        };
        match self {
            Answer::Simple { is_authorized, context } => {
                write!(f, "simple answer: isAuthorized {is_authorized}; context keys: {}", keys(context))
            }
            Answer::Policy { principal_id, policy, context } => write!(
                f,
                "IAM policy: principalId {}; Allow resources [{}]; context keys: {}",
                principal_id.as_deref().unwrap_or("(none)"),
                policy.allowed_resources().join(", "),
                keys(context)
            ),
        }
    }
}

impl LambdaAuthorizer {
    /// Checks `settings` and builds the authorizer around `function`.
    ///
    /// # Errors
    /// [`LambdaSettingsError`] for combinations AWS does not allow.
    pub fn new(
        settings: LambdaSettings,
        function: Arc<dyn AuthorizerFunction>,
    ) -> Result<Self, LambdaSettingsError> {
        if settings.simple_responses && settings.event != LambdaEvent::RequestV2 {
            return Err(LambdaSettingsError::SimpleNeedsV2);
        }
        if settings.event == LambdaEvent::Token
            && !(settings.identity_source.len() == 1
                && matches!(settings.identity_source[0], Variable::Header(_)))
        {
            return Err(LambdaSettingsError::TokenNeedsOneHeader);
        }
        if settings.result_ttl > Duration::from_secs(3600) {
            return Err(LambdaSettingsError::TtlTooLong);
        }
        if !settings.result_ttl.is_zero() && settings.identity_source.is_empty() {
            return Err(LambdaSettingsError::CacheNeedsIdentity);
        }
        let cache = (!settings.result_ttl.is_zero() && settings.cache_capacity > 0)
            .then(|| DecisionCache::new(settings.cache_capacity, settings.result_ttl));
        let context_rules = ContextRules {
            // TOKEN events are REST's contract: primitive context values only
            // (docs/aws-compatibility.md#authorizer-context-to-the-integration).
            primitives_only: settings.event == LambdaEvent::Token,
            // HTTP API payload 1.0 reserves `claims`
            // (docs/aws-compatibility.md#iam-policy-and-simple-responses).
            reserve_claims: settings.event == LambdaEvent::RequestV1,
        };
        Ok(Self { settings, function, cache, shared: None, context_rules, counters: Counters::default() })
    }

    /// Shares answers with other gateways through `store`, under this authorizer's cache key
    /// and `result_ttl` (no effect when caching is off).
    #[must_use]
    pub fn with_shared_answers(mut self, store: Arc<dyn SharedAnswers>) -> Self {
        if self.cache.is_some() {
            self.shared = Some(store);
        }
        self
    }

    /// The settings in use.
    pub fn settings(&self) -> &LambdaSettings {
        &self.settings
    }

    /// The name of the function it invokes.
    pub fn function_name(&self) -> &str {
        self.function.name()
    }

    /// Cache figures, invocations, errors and denials so far. Decisions made for `explain` (a
    /// recording trace) count as invocations but not as cache lookups or denials.
    pub async fn stats(&self) -> LambdaStats {
        let cache = match &self.cache {
            Some(cache) => Some(self.counters.cache.stats(cache.entries().await)),
            None => None,
        };
        LambdaStats {
            cache,
            invocations: self.counters.invocations.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            denials: self.counters.denials.snapshot(),
        }
    }

    /// The ARN of a request (docs/aws-compatibility.md#lambda-authorizer-events: the actual request
    /// path after the verb, without the prefix of a named stage, which has its own segment).
    pub fn request_arn(&self, parts: &http::request::Parts) -> String {
        let path = parts.uri.path();
        self.arn(&parts.method, portcullis_core::strip_stage(&self.settings.api.stage, path).unwrap_or(path))
    }

    /// The `methodArn`/`routeArn` of `method` on `raw_path` for this authorizer's API.
    pub fn arn(&self, method: &http::Method, raw_path: &str) -> String {
        let api = &self.settings.api;
        policy::method_arn(api, method.as_str(), raw_path)
    }

    async fn decide(
        &self,
        parts: &mut http::request::Parts,
        ctx: &CallContext,
        trace: &mut Trace,
    ) -> Result<AuthContext, Denial> {
        // 1. Identity: every configured source present and non-empty.
        let mut values = Vec::with_capacity(self.settings.identity_source.len());
        for source in &self.settings.identity_source {
            match identity::extract(source, parts, ctx, &self.settings.api) {
                Some(value) => values.push(value),
                None => {
                    let detail =
                        format!("identity source {source} is missing or empty; the function was not invoked");
                    trace.fail("identity", || detail.clone());
                    return Err(Denial::plain(DenialStatus::Unauthorized, Reason::IdentityMissing, detail));
                }
            }
        }
        trace.pass("identity", || {
            let sources: Vec<String> =
                self.settings.identity_source.iter().map(ToString::to_string).collect();
            format!("[{}] all present", sources.join(", "))
        });
        // 2. token_validation before any invocation.
        if self.settings.event == LambdaEvent::Token
            && let Some(pattern) = &self.settings.token_validation
        {
            if !values.first().is_some_and(|token| pattern.0.is_match(token)) {
                let detail = "the token does not match token_validation; the function was not invoked";
                trace.fail("validation", || detail.into());
                return Err(Denial::plain(DenialStatus::Unauthorized, Reason::TokenValidationFailed, detail));
            }
            trace.pass("validation", || format!("the token matches {}", pattern.0.as_str()));
        }
        let arn = self.request_arn(parts);
        // 3. The answer: cached, or one invocation per identity at a time.
        let invoked = AtomicBool::new(false);
        let answer = match &self.cache {
            Some(cache) => {
                let key = self.cache_key(&values);
                cache
                    .get_or_invoke(Arc::clone(&key), async {
                        // A local miss: another gateway may have the answer.
                        if let Some(shared) = &self.shared
                            && let Some(stored) = shared.get(&self.settings.name, &key).await
                            && let Ok(answer) = self.parse(&stored)
                        {
                            return Ok(Arc::new(answer));
                        }
                        invoked.store(true, Ordering::Relaxed);
                        let (answer, output) = self.invoke(parts, ctx, &arn, &values).await?;
                        if let Some(shared) = &self.shared {
                            shared.put(&self.settings.name, &key, output, self.settings.result_ttl).await;
                        }
                        Ok(Arc::new(answer))
                    })
                    .await
            }
            None => {
                invoked.store(true, Ordering::Relaxed);
                self.invoke(parts, ctx, &arn, &values).await.map(|(answer, _)| Arc::new(answer))
            }
        };
        let cached = !invoked.load(Ordering::Relaxed);
        if self.cache.is_some() && !trace.is_on() {
            self.counters.cache.record(cached);
        }
        let answer = match answer {
            Ok(answer) => answer,
            Err(failure) => {
                let denial = self.failure_denial(&failure);
                trace.fail("answer", || denial.detail.clone());
                return Err(denial);
            }
        };
        trace.pass("answer", || {
            let source = if cached { "from the cache" } else { "invoked" };
            format!("{} ({source}): {answer}", self.function.name())
        });
        // 4. Evaluate for this request.
        let outcome = self.evaluate(&answer, &arn, cached);
        match &outcome {
            Ok(_) => trace.pass("policy", || format!("allows {arn}")),
            Err(denial) => trace.fail("policy", || denial.detail.clone()),
        }
        self.note_cached_denials(&answer, outcome.is_ok(), trace);
        // 5. Hand the context on.
        if let Ok(AuthContext::Lambda(lambda)) = &outcome {
            self.forward_headers(parts, lambda);
        } else {
            self.strip_forwarded(parts);
        }
        outcome
    }

    /// The cache surprise, before it happens: the other routes of this authorizer that the
    /// answer, cached per identity, would deny.
    fn note_cached_denials(&self, answer: &Answer, allowed: bool, trace: &mut Trace) {
        if !allowed || self.cache.is_none() || trace.siblings().is_empty() {
            return;
        }
        let denied: Vec<String> = trace
            .siblings()
            .iter()
            .filter(|sibling| !answer.allows(&sibling.arn))
            .map(|sibling| format!("{} ({})", sibling.route_key, sibling.arn))
            .collect();
        if denied.is_empty() {
            return;
        }
        trace.note(|| {
            format!(
                "this answer is cached for {}s per identity and reused for every route of this authorizer; it would deny: {}. Return a wildcard Resource or add $context.routeKey to identity_source.",
                self.settings.result_ttl.as_secs(),
                denied.join("; ")
            )
        });
    }

    fn cache_key(&self, values: &[String]) -> cache::Key {
        // Values cannot contain NUL in headers; the separator keeps ["a,b"] and ["a","b"] apart.
        let mut key = String::with_capacity(values.iter().map(|v| v.len() + 1).sum());
        for value in values {
            key.push_str(value);
            key.push('\0');
        }
        cache::Key::from(key)
    }

    async fn invoke(
        &self,
        parts: &http::request::Parts,
        ctx: &CallContext,
        arn: &str,
        values: &[String],
    ) -> Result<(Answer, Bytes), FunctionFailure> {
        self.counters.invocations.fetch_add(1, Ordering::Relaxed);
        let answer = self.invoke_once(parts, ctx, arn, values).await;
        if matches!(&answer, Err(failure) if !matches!(failure, FunctionFailure::Unauthorized)) {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    async fn invoke_once(
        &self,
        parts: &http::request::Parts,
        ctx: &CallContext,
        arn: &str,
        values: &[String],
    ) -> Result<(Answer, Bytes), FunctionFailure> {
        let facts = events::RequestFacts::new(parts, &[], ctx, &self.settings.api);
        let event = match self.settings.event {
            LambdaEvent::Token => events::token_event(values.first().map_or("", String::as_str), arn),
            LambdaEvent::RequestV1 => events::request_authorizer_v1(&facts, arn, values),
            LambdaEvent::RequestV2 => events::request_authorizer_v2(&facts, arn, values),
        }
        .map_err(|e| FunctionFailure::Failed(e.to_string()))?;
        let output = tokio::time::timeout(
            self.settings.timeout,
            self.function.invoke(
                Bytes::from(event),
                ctx.request_id.as_str(),
                &ctx.trace_id,
                self.settings.timeout,
            ),
        )
        .await
        .map_err(|_| FunctionFailure::Timeout(self.settings.timeout))?;
        let output = match output {
            Ok(output) => output,
            Err(InvokeError::FunctionError { error_type, body }) => {
                return Err(if is_unauthorized(&body) {
                    FunctionFailure::Unauthorized
                } else {
                    FunctionFailure::Failed(format!(
                        "the function failed: {}",
                        portcullis_core::FunctionFailure::parse(&error_type, &body)
                    ))
                });
            }
            Err(InvokeError::Timeout(after)) => return Err(FunctionFailure::Timeout(after)),
            Err(other) => return Err(FunctionFailure::Failed(other.to_string())),
        };
        let answer = self.parse(&output)?;
        Ok((answer, output))
    }

    fn parse(&self, output: &[u8]) -> Result<Answer, FunctionFailure> {
        if self.settings.simple_responses {
            let simple = SimpleResponse::parse(output, self.context_rules)
                .map_err(|e| FunctionFailure::Malformed(e.to_string()))?;
            Ok(Answer::Simple { is_authorized: simple.is_authorized, context: simple.context.map(Arc::new) })
        } else {
            let iam = IamResponse::parse(output, self.context_rules)
                .map_err(|e| FunctionFailure::Malformed(e.to_string()))?;
            Ok(Answer::Policy {
                principal_id: iam.principal_id,
                policy: iam.policy,
                context: iam.context.map(Arc::new),
            })
        }
    }

    fn evaluate(&self, answer: &Answer, arn: &str, cached: bool) -> Result<AuthContext, Denial> {
        match answer {
            Answer::Simple { is_authorized: true, context } => {
                Ok(AuthContext::Lambda(LambdaContext { principal_id: None, context: context.clone() }))
            }
            Answer::Simple { is_authorized: false, .. } => Err(Denial::plain(
                DenialStatus::Forbidden,
                Reason::NotAuthorized,
                if cached { "isAuthorized is false (cached answer)" } else { "isAuthorized is false" },
            )),
            Answer::Policy { principal_id, policy, context } => match policy.evaluate(arn) {
                Decision::Allow => Ok(AuthContext::Lambda(LambdaContext {
                    principal_id: principal_id.clone(),
                    context: context.clone(),
                })),
                Decision::ExplicitDeny { statement } => Err(Denial::plain(
                    DenialStatus::Forbidden,
                    Reason::PolicyExplicitDeny,
                    format!("statement {statement} of the policy denies {arn}"),
                )),
                Decision::ImplicitDeny => {
                    let other_route = cached && !policy.allowed_resources().is_empty();
                    let reason =
                        if other_route { Reason::CachedPolicyMismatch } else { Reason::PolicyImplicitDeny };
                    Err(Denial::plain(
                        DenialStatus::Forbidden,
                        reason,
                        self.implicit_deny_detail(policy, arn, cached),
                    ))
                }
            },
        }
    }

    /// The classic AWS surprise (docs/aws-compatibility.md#iam-policy-and-simple-responses): a
    /// policy naming only the ARN of the request that produced it, cached and reused for another
    /// route. Say so in words.
    fn implicit_deny_detail(&self, policy: &Policy, arn: &str, cached: bool) -> String {
        let allowed = policy.allowed_resources();
        if allowed.is_empty() {
            return format!("no Allow statement in the policy; {arn} is implicitly denied");
        }
        let list = allowed.join(", ");
        if cached {
            format!(
                "the cached policy (answered for an earlier request with the same identity, result_ttl {}s) allows only [{list}], not this request's {arn}: it names another route's ARN. Return a wildcard Resource (e.g. arn:aws:execute-api:{}:{}:{}/*) or add $context.routeKey to identity_source",
                self.settings.result_ttl.as_secs(),
                self.settings.api.region,
                self.settings.api.account_id,
                self.settings.api.api_id,
            )
        } else {
            format!("the policy allows only [{list}], not {arn}")
        }
    }

    fn failure_denial(&self, failure: &FunctionFailure) -> Denial {
        let function = self.function.name();
        match failure {
            FunctionFailure::Unauthorized => Denial::plain(
                DenialStatus::Unauthorized,
                Reason::FunctionUnauthorized,
                format!("function {function} answered Unauthorized"),
            ),
            FunctionFailure::Timeout(after) => Denial::plain(
                DenialStatus::Error,
                Reason::FunctionTimeout,
                format!("function {function} did not answer within {after:?}"),
            ),
            FunctionFailure::Failed(why) => Denial::plain(
                DenialStatus::Error,
                Reason::FunctionFailed,
                format!("function {function}: {why}"),
            ),
            FunctionFailure::Malformed(why) => Denial::plain(
                DenialStatus::Error,
                Reason::ResponseMalformed,
                format!("function {function}: {why}"),
            ),
        }
    }

    fn strip_forwarded(&self, parts: &mut http::request::Parts) {
        for (header, _) in &self.settings.forward_context {
            parts.headers.remove(header);
        }
    }

    fn forward_headers(&self, parts: &mut http::request::Parts, lambda: &LambdaContext) {
        self.strip_forwarded(parts);
        let Some(context) = &lambda.context else { return };
        for (header, key) in &self.settings.forward_context {
            let value = match context.get(key) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => HeaderValue::from_str(s),
                Some(other) => HeaderValue::from_str(&other.to_string()),
            };
            // A value that cannot be a header (control characters) is dropped, not mangled.
            if let Ok(value) = value {
                parts.headers.insert(header.clone(), value);
            }
        }
    }
}

/// Node's `callback("Unauthorized")`/`throw new Error("Unauthorized")` and Python's
/// `raise Exception("Unauthorized")` all post `errorMessage: "Unauthorized"`.
fn is_unauthorized(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(Value::as_str).map(|m| m == "Unauthorized"))
        .unwrap_or(false)
}

impl Authorizer for LambdaAuthorizer {
    fn authorize<'a>(
        &'a self,
        parts: &'a mut http::request::Parts,
        ctx: &'a CallContext,
        _route: &'a RouteAuth,
        trace: &'a mut Trace,
    ) -> BoxFuture<'a, Result<AuthContext, Denial>> {
        Box::pin(async move {
            let decided = self.decide(parts, ctx, trace).await;
            if let Err(denial) = &decided
                && !trace.is_on()
            {
                self.counters.denials.count(denial.reason);
            }
            decided
        })
    }
}

#[cfg(test)]
mod tests;

//! Throttle stage: token buckets for the whole API, for a route, and per key (a claim, a header,
//! the client's address), checked in that order. Over any limit, the request gets
//! `429 {"message":"Too Many Requests"}` with `retry-after`, and nothing behind this stage runs:
//! no identity provider, no authorizer function, no backend.
//!
//! Two halves on the request path: [`request`] before the authorizer (the API, the route, and
//! keys the request itself carries), and [`authorized`] after it (keys that name what the
//! authorizer established, such as `$context.authorizer.claims.sub`: a caller is only known
//! once authorized, and a key taken from an unverified token could be forged to spend another
//! caller's bucket). A request without a keyed limit's key falls back to the route's own limit
//! (the one without a key); on a route without one, it counts against one shared bucket of the
//! keyed limit, so leaving the key out is no way around it.
//!
//! A limit with a [`SharedLimit`] keeps its buckets in a store every replica of the gateway
//! shares (Redis): one bucket for all of them. When the store cannot be asked, the limit falls
//! back to this replica's own buckets, or refuses the request (503) when told to.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::request::Parts;
use portcullis_core::{ApiIdentity, CallContext, ContextVariable, Known, Template, Variable};
use portcullis_events::{RequestFacts, request_value};
use portcullis_limits::{Bucket, Clock, Decision, Gcra, KeyedBuckets, SharedBuckets};

/// Why the throttle stage ended a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ThrottleError {
    /// Over a limit: 429.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// A shared limit's store cannot be asked and the limit refuses rather than count alone
    /// (`on_unavailable: deny`): 503.
    #[error("the shared throttle store is unavailable")]
    Unavailable,
}

/// A request over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("throttled; retry after {retry_after:?}")]
pub struct Throttled {
    /// When the request would be allowed.
    pub retry_after: Duration,
}

/// What a limit is. Two limits with equal settings are one: a reload that keeps a limit's
/// settings keeps its buckets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitSettings {
    /// The route key, or `*` for the API-wide limit: the `route` label of the throttled counter.
    pub route: String,
    /// `api`, `route`, or the key expression: the `limit` label of the throttled counter.
    pub label: String,
    /// Requests per second.
    pub rate: PerSecond,
    /// Requests at once.
    pub burst: u32,
    /// A bucket per value of this; one bucket when `None`.
    pub key: Option<Template>,
    /// Most keys kept (the ones used most often).
    pub max_keys: u64,
    /// Whether the buckets are shared by every replica (`scope: shared`).
    pub shared: bool,
}

/// A rate in requests per second: a finite, non-negative number (the config refuses others),
/// so its bits are its identity.
#[derive(Debug, Clone, Copy)]
pub struct PerSecond(pub f64);

impl PartialEq for PerSecond {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for PerSecond {}

impl std::hash::Hash for PerSecond {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// Where a shared limit keeps its buckets.
#[derive(Clone)]
pub struct SharedLimit {
    /// The store.
    pub store: Arc<dyn SharedBuckets>,
    /// Refuse requests (503) rather than count them on this replica alone when the store cannot
    /// be asked (`on_unavailable: deny`).
    pub deny_when_unavailable: bool,
}

/// One limit and its buckets. Built by `portcullis-app`'s registry, which keeps it across
/// reloads for as long as its settings stay the same, so a reload neither refills nor empties a
/// bucket.
pub struct Limit {
    settings: LimitSettings,
    gcra: Gcra,
    bucket: Bucket,
    keyed: Option<Keyed>,
    clock: Clock,
    throttled: AtomicU64,
    shared: Option<SharedLimit>,
}

struct Keyed {
    key: Template,
    /// Whether the key names what the authorizer established.
    after_authorizer: bool,
    buckets: KeyedBuckets,
}

impl Limit {
    /// The limit of `settings`, its buckets full.
    pub fn new(settings: LimitSettings) -> Self {
        let gcra = Gcra::new(settings.rate.0, settings.burst);
        let keyed = settings.key.clone().map(|key| {
            let after_authorizer = key.variables().any(needs_authorizer);
            Keyed { key, after_authorizer, buckets: KeyedBuckets::new(gcra, settings.max_keys) }
        });
        Limit {
            settings,
            gcra,
            bucket: Bucket::new(),
            keyed,
            clock: Clock::new(),
            throttled: AtomicU64::new(0),
            shared: None,
        }
    }

    /// This limit with its buckets in `shared` (for `scope: shared` settings).
    #[must_use]
    pub fn with_shared(mut self, shared: SharedLimit) -> Self {
        self.shared = Some(shared);
        self
    }

    /// What it is.
    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Keys with a bucket now (0 for a limit without a key).
    pub fn keys(&self) -> u64 {
        self.keyed.as_ref().map_or(0, |k| k.buckets.len())
    }

    /// Requests refused by this limit so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    async fn check(&self, key: Option<&str>) -> Result<(), ThrottleError> {
        if let Some(shared) = &self.shared {
            match shared.store.check(&self.shared_bucket(key), &self.gcra).await {
                Ok(decision) => return self.decided(decision),
                Err(_) if shared.deny_when_unavailable => return Err(ThrottleError::Unavailable),
                // This replica's own buckets stand in until the store answers again.
                Err(_) => {}
            }
        }
        self.check_here(key)
    }

    /// The name of `key`'s bucket in the shared store: one per route, limit and key value for
    /// every replica (the store turns the text into its own key).
    fn shared_bucket(&self, key: Option<&str>) -> String {
        let settings = &self.settings;
        format!("{}\u{0}{}\u{0}{}", settings.route, settings.label, key.unwrap_or("\u{1}"))
    }

    /// Checks this process's own buckets.
    fn check_here(&self, key: Option<&str>) -> Result<(), ThrottleError> {
        let now = self.clock.now();
        let decision = match (key, &self.keyed) {
            (Some(key), Some(keyed)) => keyed.buckets.check(key, now),
            _ => self.bucket.check(&self.gcra, now),
        };
        self.decided(decision)
    }

    fn decided(&self, decision: Decision) -> Result<(), ThrottleError> {
        match decision {
            Decision::Allowed => Ok(()),
            Decision::Throttled { retry_after } => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                Err(Throttled { retry_after }.into())
            }
        }
    }
}

fn needs_authorizer(variable: &Variable) -> bool {
    match variable {
        Variable::Claim(_) | Variable::AuthorizerValue(_) => true,
        Variable::Context(c) => c.known() >= Known::Authorized && *c != ContextVariable::Status,
        _ => false,
    }
}

/// The limits of one route, in the order they are checked.
pub struct RouteThrottle {
    limits: Box<[Arc<Limit>]>,
    /// Whether one limit has no key: the route bucket, where a request without a keyed limit's
    /// key is counted instead.
    route_bucket: bool,
    /// Shared limits checked before the authorizer, and after it.
    shared: [usize; 2],
}

impl RouteThrottle {
    /// The route's limits (at most one without a key).
    pub fn new(limits: Vec<Arc<Limit>>) -> Self {
        let route_bucket = limits.iter().any(|limit| limit.keyed.is_none());
        let shared_in =
            |after: bool| limits.iter().filter(|l| l.shared.is_some() && phase_of(l) == after).count();
        let shared = [shared_in(false), shared_in(true)];
        RouteThrottle { limits: limits.into_boxed_slice(), route_bucket, shared }
    }

    /// Every limit (for metrics).
    pub fn limits(&self) -> &[Arc<Limit>] {
        &self.limits
    }
}

/// The throttle stage's first request half: the API's limit, the route's, and keyed limits the
/// request itself carries the key of.
///
/// # Errors
/// [`ThrottleError`]: the request ends here.
pub async fn request(
    api_limit: Option<&Limit>,
    route: Option<&RouteThrottle>,
    parts: &Parts,
    ctx: &CallContext,
    api: &ApiIdentity,
) -> Result<(), ThrottleError> {
    check_phase(api_limit, route, parts, ctx, api, false).await
}

/// The throttle stage's second request half, once the authorizer has decided: keyed limits on
/// what it established.
///
/// # Errors
/// [`ThrottleError`]: the request ends here, before the backend.
pub async fn authorized(
    route: Option<&RouteThrottle>,
    parts: &Parts,
    ctx: &CallContext,
    api: &ApiIdentity,
) -> Result<(), ThrottleError> {
    check_phase(None, route, parts, ctx, api, true).await
}

/// Whether `limit` is checked before the authorizer (`false`) or after it (`true`).
fn phase_of(limit: &Limit) -> bool {
    limit.keyed.as_ref().is_some_and(|keyed| keyed.after_authorizer)
}

/// How many shared limits a phase checks.
fn shared_in_phase(
    api_limit: Option<&Limit>,
    route: Option<&RouteThrottle>,
    after_authorizer: bool,
) -> usize {
    let api = api_limit.filter(|_| !after_authorizer).is_some_and(|l| l.shared.is_some());
    usize::from(api) + route.map_or(0, |r| r.shared[usize::from(after_authorizer)])
}

/// The checks of one phase, in order: the API's limit (before the authorizer only), then the
/// route's limits of this phase, each with this request's key.
fn phase_checks<'a>(
    api_limit: Option<&'a Limit>,
    route: Option<&'a RouteThrottle>,
    parts: &'a Parts,
    ctx: &'a CallContext,
    api: &'a ApiIdentity,
    after_authorizer: bool,
) -> impl Iterator<Item = (&'a Limit, Option<Cow<'a, str>>)> + 'a {
    let api_check = api_limit.filter(|_| !after_authorizer).map(|limit| (limit, None));
    let route_checks = route.into_iter().flat_map(move |route| {
        route.limits.iter().filter(move |limit| phase_of(limit) == after_authorizer).filter_map(
            move |limit| {
                let Some(keyed) = &limit.keyed else { return Some((&**limit, None)) };
                match key_of(&keyed.key, parts, ctx, api) {
                    Some(key) => Some((&**limit, Some(key))),
                    // Without its key, the request falls back to the route bucket, which counts it
                    // already; a route without one has this limit's shared bucket instead, so
                    // leaving the key out is no way around the limit.
                    None if route.route_bucket => None,
                    None => Some((&**limit, None)),
                }
            },
        )
    });
    api_check.into_iter().chain(route_checks)
}

/// Checks one phase. With fewer than two shared limits, one limit at a time (no allocation);
/// otherwise the same checks in the same order, but consecutive limits in one store are asked
/// in one round trip.
async fn check_phase(
    api_limit: Option<&Limit>,
    route: Option<&RouteThrottle>,
    parts: &Parts,
    ctx: &CallContext,
    api: &ApiIdentity,
    after_authorizer: bool,
) -> Result<(), ThrottleError> {
    let checks = phase_checks(api_limit, route, parts, ctx, api, after_authorizer);
    if shared_in_phase(api_limit, route, after_authorizer) < 2 {
        for (limit, key) in checks {
            limit.check(key.as_deref()).await?;
        }
        return Ok(());
    }
    let checks: Vec<(&Limit, Option<Cow<'_, str>>)> = checks.collect();
    let mut rest = &checks[..];
    while let Some(((first, _), _)) = rest.split_first() {
        let same_store = |(limit, _): &(&Limit, Option<Cow<'_, str>>)| match (&first.shared, &limit.shared) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.store, &b.store),
            _ => false,
        };
        let run = rest.iter().take_while(|c| same_store(c)).count().max(1);
        let (group, after) = rest.split_at(run);
        rest = after;
        let Some(shared) = first.shared.as_ref().filter(|_| group.len() > 1) else {
            let (limit, key) = &group[0];
            limit.check(key.as_deref()).await?;
            continue;
        };
        let names: Vec<String> =
            group.iter().map(|(limit, key)| limit.shared_bucket(key.as_deref())).collect();
        let buckets: Vec<(&str, &Gcra)> =
            names.iter().zip(group).map(|(name, (limit, _))| (name.as_str(), &limit.gcra)).collect();
        match shared.store.check_all(&buckets).await {
            Ok(None) => {}
            Ok(Some((refused, retry_after))) => {
                return group[refused].0.decided(Decision::Throttled { retry_after });
            }
            Err(_) if shared.deny_when_unavailable => return Err(ThrottleError::Unavailable),
            // This replica's own buckets stand in, in the same order.
            Err(_) => {
                for (limit, key) in group {
                    limit.check_here(key.as_deref())?;
                }
            }
        }
    }
    Ok(())
}

/// The key of a request, `None` when a variable of it is absent.
fn key_of<'a>(
    key: &Template,
    parts: &'a Parts,
    ctx: &'a CallContext,
    api: &'a ApiIdentity,
) -> Option<Cow<'a, str>> {
    let facts = RequestFacts::new(parts, &[], ctx, api);
    if let [portcullis_core::Part::Var(variable)] = key.parts() {
        return request_value(variable, &facts);
    }
    let mut out = String::new();
    key.render(&mut out, |v| request_value(v, &facts), |_, value, out| out.push_str(value))
        .then_some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::get("/x");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// One request per 1,000 s (nothing refills within a test), `burst` at once.
    fn limit(burst: u32, key: Option<Template>) -> Limit {
        Limit::new(LimitSettings {
            route: "GET /x".into(),
            label: "t".into(),
            rate: PerSecond(0.001),
            burst,
            key,
            max_keys: 1000,
            shared: false,
        })
    }

    fn ctx() -> CallContext {
        CallContext {
            request_id: portcullis_core::RequestIdGenerator::new(1).next_id(),
            client_addr: "192.0.2.1:1".parse().unwrap(),
            tls: false,
            local_port: 80,
            trace_id: portcullis_core::TraceId::default(),
            route_key: Arc::from("GET /x"),
            params: Default::default(),
            received_at: std::time::SystemTime::now(),
            auth: portcullis_core::AuthContext::None,
        }
    }

    #[tokio::test]
    async fn the_api_then_the_route_then_each_key_refuse_in_turn() {
        let api = ApiIdentity::default();
        let api_limit = limit(1000, None);
        let key = Template::variable(Variable::Header(http::HeaderName::from_static("x-user")));
        let route = RouteThrottle::new(vec![Arc::new(limit(3, None)), Arc::new(limit(1, Some(key)))]);
        let alice = parts(&[("x-user", "alice")]);
        let bob = parts(&[("x-user", "bob")]);
        let c = ctx();
        assert!(request(Some(&api_limit), Some(&route), &alice, &c, &api).await.is_ok());
        assert!(
            request(Some(&api_limit), Some(&route), &alice, &c, &api).await.is_err(),
            "alice's key bucket"
        );
        assert!(request(Some(&api_limit), Some(&route), &bob, &c, &api).await.is_ok());
        // The route's burst of 3 is spent now (alice's refused request took a route token too).
        let refused = request(Some(&api_limit), Some(&route), &parts(&[("x-user", "carol")]), &c, &api).await;
        assert!(refused.is_err());
        assert_eq!(route.limits()[0].throttled(), 1);
        assert_eq!(route.limits()[1].throttled(), 1);
    }

    #[tokio::test]
    async fn an_absent_key_shares_one_bucket_and_claims_wait_for_the_authorizer() {
        let api = ApiIdentity::default();
        let by_header = Template::variable(Variable::Header(http::HeaderName::from_static("x-user")));
        let by_claim = Template::variable(Variable::Claim("sub".into()));
        let route =
            RouteThrottle::new(vec![Arc::new(limit(1, Some(by_header))), Arc::new(limit(1, Some(by_claim)))]);
        let anonymous = parts(&[]);
        let c = ctx();
        assert!(request(None, Some(&route), &anonymous, &c, &api).await.is_ok());
        assert!(
            request(None, Some(&route), &anonymous, &c, &api).await.is_err(),
            "absent keys share a bucket"
        );
        // The claim limit is not checked before the authorizer.
        assert_eq!(route.limits()[1].throttled(), 0);
        assert!(authorized(Some(&route), &anonymous, &c, &api).await.is_ok());
        assert!(authorized(Some(&route), &anonymous, &c, &api).await.is_err());
    }
}

//! One issuer's keys: an `ArcSwap`'d key set read lock-free by every request, refreshed in the
//! background, refetched (single-flight, rate-limited) when an unknown `kid` shows up, and kept
//! through identity-provider outages up to a staleness bound.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::{ArcSwapOption, Guard};
use jsonwebtoken::Algorithm;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

use crate::error::{FetchError, KeyError};
use crate::fetch::{self, Fetcher};
use crate::key::{KeySet, VerifyKey, parse_jwks};
use crate::registry::JwksOptions;

/// A key set and when it was fetched.
#[derive(Debug)]
pub struct LoadedKeys {
    /// The keys.
    pub set: KeySet,
    /// When the fetch completed (`None` for files and static sets, which never go stale).
    pub fetched_at: Option<Instant>,
    /// How long the IdP asked us to cache it (clamped), after which it is refreshed.
    pub ttl: Duration,
}

/// The keys of one issuer, JWKS URL, file or static set, shared by every authorizer that uses it.
#[derive(Debug)]
pub struct KeyStore {
    inner: Arc<Inner>,
    /// Dropping the store drops this sender, which ends its background task.
    _retire: watch::Sender<()>,
    retire_rx: watch::Receiver<()>,
}

#[derive(Debug)]
struct Inner {
    label: String,
    remote: Option<Remote>,
    keys: ArcSwapOption<LoadedKeys>,
    options: Arc<JwksOptions>,
    base: Instant,
    in_flight: AtomicBool,
    /// Count of finished fetch attempts (success or failure); waiters watch it.
    completed: watch::Sender<u64>,
    /// Milliseconds since `base` before which an unknown `kid` may not trigger a fetch.
    next_on_demand_ms: AtomicU64,
    last_attempt_ms: AtomicU64,
    failures: AtomicU32,
    fetches: AtomicU64,
    last_error: ArcSwapOption<String>,
    started: AtomicBool,
}

#[derive(Debug)]
struct Remote {
    fetcher: Arc<Fetcher>,
    kind: RemoteKind,
    /// The `jwks_uri` found by discovery; cleared when the JWKS URL fails so the next attempt
    /// rediscovers.
    discovered: ArcSwapOption<Url>,
}

#[derive(Debug)]
enum RemoteKind {
    Discovery { issuer: String, url: Url },
    Jwks(Url),
}

/// Snapshot of a store's state for `explain`, the admin listener and start-up logs.
#[derive(Debug, Clone)]
pub struct StoreStatus {
    /// Issuer, URL or file.
    pub label: String,
    /// `kid`s currently usable (kid-less keys show as `-`).
    pub kids: Vec<String>,
    /// Age of the current set (None: never loaded, or a file/static set).
    pub age: Option<Duration>,
    /// The last fetch error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Fetch attempts so far.
    pub fetches: u64,
    /// The OIDC discovery document's URL, for an issuer whose keys are discovered.
    pub discovery_url: Option<String>,
    /// The JWKS URL: configured, or found by discovery (`None` before discovery answered, and
    /// for files and static sets).
    pub jwks_url: Option<String>,
    /// The usable keys with their algorithm and how long each has been loaded.
    pub keys: Vec<KeyStatus>,
    /// Time since the last fetch attempt started (`None`: never fetched, or not fetched at all).
    pub last_attempt: Option<Duration>,
    /// Time until the background refresh fetches again (`None` for files and static sets).
    pub next_refresh: Option<Duration>,
}

/// One usable key, for the admin console.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    /// The JWK `kid`, if it had one.
    pub kid: Option<String>,
    /// The JWK's `alg`, or the key type when the JWKS stated none (`RSA`, `EC P-256`, ...).
    pub alg: String,
    /// How long the key has been loaded.
    pub age: Duration,
}

enum Lookup {
    Found(Arc<VerifyKey>),
    Failed(KeyError),
    UnknownKid,
    NoUsableSet(String),
}

impl KeyStore {
    pub(crate) fn remote_discovery(
        issuer: String,
        url: Url,
        fetcher: Arc<Fetcher>,
        options: Arc<JwksOptions>,
    ) -> Self {
        let remote = Remote {
            fetcher,
            kind: RemoteKind::Discovery { issuer: issuer.clone(), url },
            discovered: ArcSwapOption::empty(),
        };
        Self::build(issuer, Some(remote), None, options)
    }

    pub(crate) fn remote_jwks(url: Url, fetcher: Arc<Fetcher>, options: Arc<JwksOptions>) -> Self {
        let remote =
            Remote { fetcher, kind: RemoteKind::Jwks(url.clone()), discovered: ArcSwapOption::empty() };
        Self::build(url.to_string(), Some(remote), None, options)
    }

    pub(crate) fn fixed(label: String, set: KeySet, options: Arc<JwksOptions>) -> Self {
        let loaded = LoadedKeys { set, fetched_at: None, ttl: Duration::MAX };
        Self::build(label, None, Some(loaded), options)
    }

    fn build(
        label: String,
        remote: Option<Remote>,
        loaded: Option<LoadedKeys>,
        options: Arc<JwksOptions>,
    ) -> Self {
        let (retire, retire_rx) = watch::channel(());
        let inner = Inner {
            label,
            remote,
            keys: ArcSwapOption::new(loaded.map(Arc::new)),
            options,
            base: Instant::now(),
            in_flight: AtomicBool::new(false),
            completed: watch::channel(0).0,
            next_on_demand_ms: AtomicU64::new(0),
            last_attempt_ms: AtomicU64::new(0),
            failures: AtomicU32::new(0),
            fetches: AtomicU64::new(0),
            last_error: ArcSwapOption::empty(),
            started: AtomicBool::new(false),
        };
        Self { inner: Arc::new(inner), _retire: retire, retire_rx }
    }

    /// Issuer, URL or file this store serves, for logs.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The key for a token header. The hot path is one `ArcSwap` load and a scan of a few keys.
    /// An unknown `kid` (or no usable key set) triggers at most one fetch at a time for this
    /// store, and not more often than `refetch_interval` after a success (backoff after a
    /// failure), so a flood of random `kid`s costs the IdP a handful of requests. No call waits
    /// longer than `request_wait`.
    ///
    /// # Errors
    /// See [`KeyError`]; `Unavailable` carries why, for the log.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, KeyError> {
        let inner = &self.inner;
        match inner.lookup(kid, alg) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Failed(e) => return Err(e),
            miss if inner.remote.is_none() => return Err(miss.into_error(false)),
            Lookup::UnknownKid | Lookup::NoUsableSet(_) => {}
        }
        let deadline = Instant::now() + inner.options.request_wait;
        let mut completed = inner.completed.subscribe();
        completed.borrow_and_update();
        let mut timed_out = false;
        if Inner::request_fetch(inner, true) {
            timed_out = tokio::time::timeout_at(deadline, completed.changed()).await.is_err();
        }
        match inner.lookup(kid, alg) {
            Lookup::Found(key) => Ok(key),
            other => Err(other.into_error(timed_out)),
        }
    }

    /// Whether `key` is still published in a usable set: a verified-token cache hit is honoured
    /// only while its key is.
    pub fn still_published(&self, key: &VerifyKey) -> bool {
        let guard = self.inner.keys.load();
        guard
            .as_ref()
            .is_some_and(|loaded| !self.inner.is_stale(loaded, Instant::now()) && loaded.set.contains(key))
    }

    /// The current key set, if any (possibly stale).
    pub fn current(&self) -> Option<Arc<LoadedKeys>> {
        self.inner.keys.load_full()
    }

    /// Starts the background refresh (first fetch immediately) on the current tokio runtime.
    /// Idempotent; files and static sets need no task (returns `None`). The task ends when
    /// `shutdown` changes or is dropped, or when this store is dropped.
    pub fn start(&self, shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        self.inner.remote.as_ref()?;
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return None;
        }
        let weak = Arc::downgrade(&self.inner);
        Some(tokio::spawn(refresh_loop(weak, shutdown, self.retire_rx.clone())))
    }

    /// Waits until a usable key set is loaded, triggering a fetch if none is running.
    ///
    /// # Errors
    /// `Unavailable` with the last fetch error when `wait` passes first.
    pub async fn ready(&self, wait: Duration) -> Result<(), KeyError> {
        let deadline = Instant::now() + wait;
        let mut completed = self.inner.completed.subscribe();
        loop {
            completed.borrow_and_update();
            if self.inner.usable_set().is_some() {
                return Ok(());
            }
            if self.inner.remote.is_none() {
                return Err(KeyError::Unavailable("no keys".into()));
            }
            // Rate-limited like a request, so waiting on a down IdP does not hammer it.
            Inner::request_fetch(&self.inner, true);
            let more = Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now()));
            // Wake on a completed fetch, or poll again shortly (a fetch may be rate-limited).
            let _ = tokio::time::timeout(more, completed.changed()).await;
            if Instant::now() >= deadline {
                return if self.inner.usable_set().is_some() {
                    Ok(())
                } else {
                    Err(KeyError::Unavailable(self.inner.why_unavailable(true)))
                };
            }
        }
    }

    /// Current state, for `explain` and logs.
    pub fn status(&self) -> StoreStatus {
        let loaded = self.inner.keys.load_full();
        StoreStatus {
            label: self.inner.label.clone(),
            kids: loaded
                .as_ref()
                .map(|l| l.set.keys().iter().map(|k| k.kid().unwrap_or("-").to_owned()).collect())
                .unwrap_or_default(),
            age: loaded.as_ref().and_then(|l| l.fetched_at).map(|t| t.elapsed()),
            last_error: self.inner.last_error.load_full().map(|e| (*e).clone()),
            fetches: self.inner.fetches.load(Ordering::Relaxed),
            discovery_url: self.inner.remote.as_ref().and_then(|r| match &r.kind {
                RemoteKind::Discovery { url, .. } => Some(url.to_string()),
                RemoteKind::Jwks(_) => None,
            }),
            jwks_url: self.inner.remote.as_ref().and_then(|r| match &r.kind {
                RemoteKind::Jwks(url) => Some(url.to_string()),
                RemoteKind::Discovery { .. } => r.discovered.load_full().map(|url| url.to_string()),
            }),
            keys: loaded
                .as_ref()
                .map(|l| {
                    l.set
                        .keys()
                        .iter()
                        .map(|k| KeyStatus {
                            kid: k.kid().map(str::to_owned),
                            alg: k.alg().map_or_else(|| k.kind().as_str().to_owned(), |a| format!("{a:?}")),
                            age: k.age(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            last_attempt: (self.inner.fetches.load(Ordering::Relaxed) > 0).then(|| {
                let at = Duration::from_millis(self.inner.last_attempt_ms.load(Ordering::Acquire));
                Instant::now().saturating_duration_since(self.inner.base + at)
            }),
            next_refresh: self.inner.remote.as_ref().map(|_| self.inner.refresh_delay()),
        }
    }
}

impl Lookup {
    fn into_error(self, timed_out: bool) -> KeyError {
        match self {
            Lookup::Found(_) => KeyError::UnknownKid, // unreachable by construction
            Lookup::Failed(e) => e,
            Lookup::UnknownKid => KeyError::UnknownKid,
            Lookup::NoUsableSet(why) if timed_out => {
                KeyError::Unavailable(format!("{why}; gave up waiting for the identity provider"))
            }
            Lookup::NoUsableSet(why) => KeyError::Unavailable(why),
        }
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(Instant::now().saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    fn is_stale(&self, loaded: &LoadedKeys, now: Instant) -> bool {
        loaded.fetched_at.is_some_and(|at| now.saturating_duration_since(at) > self.options.max_staleness)
    }

    fn usable_set(&self) -> Option<Guard<Option<Arc<LoadedKeys>>>> {
        let guard = self.keys.load();
        let usable = guard.as_ref().is_some_and(|l| !self.is_stale(l, Instant::now()));
        usable.then_some(guard)
    }

    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let Some(guard) = self.usable_set() else {
            return Lookup::NoUsableSet(self.why_unavailable(false));
        };
        let Some(loaded) = guard.as_ref() else {
            return Lookup::NoUsableSet(self.why_unavailable(false));
        };
        match loaded.set.lookup(kid, alg) {
            Ok(key) => Lookup::Found(key),
            Err(KeyError::UnknownKid) => Lookup::UnknownKid,
            Err(e) => Lookup::Failed(e),
        }
    }

    fn why_unavailable(&self, waited: bool) -> String {
        let last = self.last_error.load_full().map(|e| (*e).clone());
        let loaded = self.keys.load_full();
        let state = match loaded.as_ref().and_then(|l| l.fetched_at) {
            Some(at) => format!(
                "the last good keys of {} are {}s old (bound {}s)",
                self.label,
                at.elapsed().as_secs(),
                self.options.max_staleness.as_secs()
            ),
            None if self.fetches.load(Ordering::Relaxed) == 0 && !waited => {
                format!("no keys for {} fetched yet", self.label)
            }
            None => format!("no keys for {} could be fetched yet", self.label),
        };
        match last {
            Some(err) => format!("{state}; last error: {err}"),
            None => state,
        }
    }

    /// Starts a fetch unless one runs (then the caller may wait for it). On demand, honours the
    /// rate limit. Returns whether a fetch is now running.
    fn request_fetch(this: &Arc<Self>, on_demand: bool) -> bool {
        if this.in_flight.load(Ordering::Acquire) {
            return true;
        }
        if on_demand && this.now_ms() < this.next_on_demand_ms.load(Ordering::Acquire) {
            return false;
        }
        if this.in_flight.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return true;
        }
        // A separate task, so a request that stops waiting (deadline, client gone) never
        // cancels the fetch that later requests are counting on. Bounded by two fetch timeouts.
        let me = Arc::clone(this);
        tokio::spawn(async move {
            me.fetch_and_store().await;
            me.in_flight.store(false, Ordering::Release);
            me.completed.send_modify(|n| *n += 1);
        });
        true
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        self.options.backoff_initial.saturating_mul(1u32 << exp).min(self.options.backoff_max)
    }

    async fn fetch_and_store(&self) {
        let Some(remote) = &self.remote else { return };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.last_attempt_ms.store(self.now_ms(), Ordering::Release);
        match self.fetch(remote).await {
            Ok((loaded, skipped)) => {
                let kids: Vec<&str> = loaded.set.keys().iter().map(|k| k.kid().unwrap_or("-")).collect();
                tracing::info!(issuer = %self.label, kids = ?kids, ttl_s = loaded.ttl.as_secs(), "JWKS loaded");
                if !skipped.is_empty() {
                    tracing::debug!(issuer = %self.label, skipped = ?skipped, "JWKS entries skipped");
                }
                self.keys.store(Some(Arc::new(loaded)));
                self.failures.store(0, Ordering::Release);
                self.last_error.store(None);
                let next = self.now_ms().saturating_add(millis(self.options.refetch_interval));
                self.next_on_demand_ms.store(next, Ordering::Release);
            }
            Err(error) => {
                let failures = self.failures.fetch_add(1, Ordering::AcqRel).saturating_add(1);
                let wait = self.backoff(failures).min(self.options.refetch_interval);
                self.next_on_demand_ms.store(self.now_ms().saturating_add(millis(wait)), Ordering::Release);
                let has_keys = self.usable_set().is_some();
                tracing::warn!(
                    issuer = %self.label, %error, failures,
                    "JWKS fetch failed; {}",
                    if has_keys { "serving the last good keys" } else { "no usable keys: requests are denied (keys_unavailable)" }
                );
                self.last_error.store(Some(Arc::new(error.to_string())));
            }
        }
    }

    async fn fetch(&self, remote: &Remote) -> Result<(LoadedKeys, Vec<String>), FetchError> {
        let (jwks_url, discovered) = match &remote.kind {
            RemoteKind::Jwks(url) => (url.clone(), false),
            RemoteKind::Discovery { issuer, url } => match remote.discovered.load_full() {
                Some(found) => ((*found).clone(), true),
                None => {
                    let found = discover(&remote.fetcher, issuer, url).await?;
                    remote.discovered.store(Some(Arc::new(found.clone())));
                    (found, true)
                }
            },
        };
        let fetched = match remote.fetcher.get_json(&jwks_url).await {
            Ok(f) => f,
            Err(e) => {
                // A JWKS URL that is gone may have moved: rediscover next time. Outages
                // (timeouts, 5xx) keep the URL, so a down IdP costs one request per attempt.
                if discovered && matches!(e, FetchError::Status { status: 404 | 410, .. }) {
                    remote.discovered.store(None);
                }
                return Err(e);
            }
        };
        let (set, skipped) = parse_jwks(&fetched.json)
            .map_err(|e| FetchError::Invalid { url: jwks_url.to_string(), message: e.to_string() })?;
        let old = self.keys.load_full();
        let set = set.reuse_from(old.as_deref().map(|l| &l.set));
        let ttl = fetched
            .max_age
            .unwrap_or(self.options.default_ttl)
            .clamp(self.options.min_ttl, self.options.max_ttl);
        Ok((LoadedKeys { set, fetched_at: Some(Instant::now()), ttl }, skipped))
    }

    /// How long until the background task should fetch again.
    fn refresh_delay(&self) -> Duration {
        let failures = self.failures.load(Ordering::Acquire);
        let now = Instant::now();
        if failures > 0 {
            let last = self.base + Duration::from_millis(self.last_attempt_ms.load(Ordering::Acquire));
            return (last + self.backoff(failures)).saturating_duration_since(now);
        }
        match self.keys.load().as_ref().and_then(|l| l.fetched_at.map(|at| (at, l.ttl))) {
            // Refresh before expiry: at 90 % of the lifetime.
            Some((at, ttl)) => (at + ttl.mul_f64(0.9)).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }
}

async fn discover(fetcher: &Fetcher, issuer: &str, url: &Url) -> Result<Url, FetchError> {
    let doc = fetcher.get_json(url).await?.json;
    let invalid = |message: String| FetchError::Invalid { url: url.to_string(), message };
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("discovery document has no jwks_uri".into()))?;
    let jwks_uri = Url::parse(jwks_uri).map_err(|e| invalid(format!("jwks_uri {jwks_uri:?}: {e}")))?;
    if !fetch::is_allowed_url(&jwks_uri) {
        return Err(invalid(format!("jwks_uri {jwks_uri} is not https")));
    }
    if let Some(stated) = doc.get("issuer").and_then(Value::as_str)
        && stated != issuer
    {
        // OIDC Discovery §4.3 says they must match; tokens are still checked against the
        // configured issuer, so a mismatch here is only worth a warning.
        tracing::warn!(configured = %issuer, discovered = %stated, "discovery document names a different issuer");
    }
    Ok(jwks_uri)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn refresh_loop(
    weak: Weak<Inner>,
    mut shutdown: watch::Receiver<bool>,
    mut retire: watch::Receiver<()>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let (delay, mut completed) = {
            let Some(inner) = weak.upgrade() else { return };
            (inner.refresh_delay(), inner.completed.subscribe())
        };
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
                _ = retire.changed() => return,
            }
        }
        let running = {
            let Some(inner) = weak.upgrade() else { return };
            if !inner.refresh_delay().is_zero() {
                continue; // an on-demand fetch moved the schedule
            }
            completed.borrow_and_update();
            Inner::request_fetch(&inner, false)
        };
        if running {
            tokio::select! {
                _ = completed.changed() => {}
                _ = shutdown.changed() => return,
                _ = retire.changed() => return,
            }
        }
    }
}

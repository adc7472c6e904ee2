//! State that several replicas of the gateway share, kept in Redis: throttle buckets, Lambda
//! authorizer answers, and token revocations.
//!
//! **One job:** implement the stores the request path asks for ([`portcullis_limits::SharedBuckets`],
//! [`portcullis_authz::lambda::SharedAnswers`]) and keep a [`RevocationList`] in step across
//! replicas, over one Redis (single node `redis://`/`rediss://`, a Sentinel-managed master
//! `redis+sentinel://`, or a cluster given as a list of nodes). The protocol is the `redis`
//! crate's; reconnects are its connection manager's.
//!
//! **Faults:** Redis down, slow (over `timeout`) or restarting never stops a request here: every
//! call is bounded by `timeout`, and a call that fails reports the store unavailable; the caller
//! decides what that means (`on_unavailable: local` counts on this replica alone, `deny`
//! refuses). The first failure after a success is logged, then at most one warning a minute;
//! [`SharedState::health`] counts fallbacks for `/metrics` and `/readyz`.
//!
//! **Keys:** every key starts with `key_prefix`; bucket and answer keys end in a SHA-256 of what
//! they name (a token in an identity source never reaches Redis in clear). Buckets and answers
//! expire by themselves.
//!
//! **Where it sits:** below `portcullis-app` (which builds one [`SharedState`] from
//! `shared_state:` and hands it to limits and authorizers), above `portcullis-limits` and
//! `portcullis-authz`, whose traits it implements.

mod answers;
mod buckets;
mod connection;
mod health;
mod revocations;

use std::sync::Arc;
use std::time::Duration;

use portcullis_authz::{Revocation, RevocationList};

pub use health::Health;

use crate::connection::Store;

/// What to do when Redis cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnUnavailable {
    /// Count on this replica's own buckets and caches (logged and counted).
    #[default]
    Local,
    /// Refuse requests on shared-throttled routes with 503.
    Deny,
}

/// `shared_state:`, as typed settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedSettings {
    /// One URL (`redis://`, `rediss://`, `redis+sentinel://host:port[,host:port]/service[/db]`),
    /// or several `redis://` URLs: the nodes of a cluster.
    pub urls: Vec<String>,
    /// Prepended to every key, so several gateways can share one Redis.
    pub key_prefix: String,
    /// Longest a Redis call on the request path may take.
    pub timeout: Duration,
    /// What a request gets when Redis cannot be asked.
    pub on_unavailable: OnUnavailable,
}

/// Why shared state could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// A URL is not one the client understands.
    #[error("shared_state.redis: {0}")]
    Url(String),
    /// Redis refused or failed a write the caller needs to know about (a revocation).
    #[error("Redis: {0}")]
    Redis(String),
}

/// The shared store of one gateway process. Cheap to share (`Arc`); every method is bounded by
/// the configured timeout.
pub struct SharedState {
    store: Store,
    settings: SharedSettings,
    health: Arc<Health>,
    /// Revocations made while Redis could not be written, published by the sync task as soon
    /// as it answers again.
    unpublished: std::sync::Mutex<Vec<Revocation>>,
}

/// Where a revocation stands once [`SharedState::revoke`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Stored where every replica reads it (Redis, announced; a lone gateway's state
    /// directory): every replica holds it within a moment.
    Stored,
    /// Redis could not be written: it holds on this replica now, and the sync task publishes it
    /// when Redis answers again (lost if this process stops first).
    Queued,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl SharedState {
    /// A store for `settings`. Nothing is connected yet: the first call connects, so a gateway
    /// starts (and serves, with its fallback) while Redis is down.
    ///
    /// # Errors
    /// [`SharedError::Url`].
    pub fn new(settings: SharedSettings) -> Result<Arc<Self>, SharedError> {
        let store = Store::new(&settings.urls, settings.timeout)?;
        Ok(Arc::new(SharedState {
            store,
            settings,
            health: Arc::new(Health::default()),
            unpublished: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// The settings it was built from (a reload compares them).
    pub fn settings(&self) -> &SharedSettings {
        &self.settings
    }

    /// Whether a shared-throttled request is refused when Redis cannot be asked.
    pub fn deny_when_unavailable(&self) -> bool {
        self.settings.on_unavailable == OnUnavailable::Deny
    }

    /// Availability and fallback counters.
    pub fn health(&self) -> &Health {
        &self.health
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{}", self.settings.key_prefix, digest(name))
    }

    /// Records `revocation` for every replica: the local list at once, then stored in Redis and
    /// announced. When Redis cannot be written the revocation is queued and published by the sync
    /// task ([`SharedState::sync_revocations`]) once Redis answers; until then a full read keeps
    /// it on this replica.
    pub async fn revoke(&self, revocation: Revocation, list: &RevocationList) -> Delivery {
        list.add(revocation.clone());
        match revocations::publish(self, &revocation).await {
            Ok(()) => Delivery::Stored,
            Err(error) => {
                tracing::warn!(%error, revoked = %revocation.revoked, "revocation queued until Redis answers");
                self.unpublished().push(revocation);
                Delivery::Queued
            }
        }
    }

    /// Revocations waiting for Redis.
    pub fn queued_revocations(&self) -> usize {
        self.unpublished().len()
    }

    fn unpublished(&self) -> std::sync::MutexGuard<'_, Vec<Revocation>> {
        self.unpublished.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `list` in step with the revocations every replica recorded: a subscription for
    /// new entries and a full read every `resync`, until the returned task is aborted.
    pub fn sync_revocations(
        self: &Arc<Self>,
        list: Arc<RevocationList>,
        resync: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(revocations::sync(Arc::clone(self), list, resync))
    }
}

/// Hex SHA-256 of `text`, the last part of bucket and answer keys.
fn digest(text: &str) -> String {
    use std::fmt::Write as _;
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in hash.as_ref() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

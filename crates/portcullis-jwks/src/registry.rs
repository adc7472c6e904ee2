//! The process-wide registry of key stores: one store per issuer / JWKS URL / file, shared by
//! every authorizer that names it, and surviving config reloads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::error::{JwksError, KeyError};
use crate::fetch::{self, Fetcher};
use crate::key::{KeySet, parse_jwks, parse_pem_public_key};
use crate::store::KeyStore;

/// Where an authorizer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// OIDC discovery: `{issuer}/.well-known/openid-configuration` -> `jwks_uri`.
    Discovery {
        /// The issuer exactly as configured (also the sharing key).
        issuer: String,
    },
    /// A JWKS URL, skipping discovery (`jwks_uri:`).
    JwksUri(Url),
    /// A JWKS document on disk (`jwks_file:`), read once when the store is created.
    JwksFile(PathBuf),
    /// A PEM public key on disk (`public_key_file:`, Clerk's networkless verification).
    PublicKeyPem(PathBuf),
    /// A JWKS document in memory (the built-in dev issuer, tests).
    Static(Value),
}

/// What makes two key sources one store: the same issuer, URL or file. (A key set in memory
/// is never shared.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ShareKey {
    Discovery(String),
    JwksUri(Url),
    JwksFile(PathBuf),
    PublicKeyPem(PathBuf),
}

/// Bounds of the key lifecycle. Defaults follow
/// docs/aws-compatibility.md#token-extraction-and-keys.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// Per-request timeout of discovery and JWKS GETs. Default 1.5 s (AWS's limit).
    pub fetch_timeout: Duration,
    /// Longest a request waits for keys before failing closed. Default 2 s.
    pub request_wait: Duration,
    /// Refresh interval when the JWKS response has no `Cache-Control: max-age`. Default 1 h.
    pub default_ttl: Duration,
    /// Lower clamp of `max-age` (also used for `no-store`). Default 60 s.
    pub min_ttl: Duration,
    /// Upper clamp of `max-age`. Default 24 h.
    pub max_ttl: Duration,
    /// Last good keys are used at most this long after their fetch while refreshes fail.
    /// Default 24 h.
    pub max_staleness: Duration,
    /// After a successful fetch, an unknown `kid` may trigger another fetch only this much
    /// later (per store). Default 10 s.
    pub refetch_interval: Duration,
    /// First retry delay after a failed fetch; doubles per failure. Default 1 s.
    pub backoff_initial: Duration,
    /// Cap of the retry delay. Default 60 s.
    pub backoff_max: Duration,
    /// Largest accepted discovery or JWKS body. Default 150 000 bytes (AWS's limit).
    pub max_body: usize,
    /// Extra trusted root certificates (DER) for IdP fetches, besides the platform's (private
    /// CAs, tests).
    pub extra_root_certificates: Vec<Vec<u8>>,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_millis(1500),
            request_wait: Duration::from_secs(2),
            default_ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            max_staleness: Duration::from_secs(24 * 3600),
            refetch_interval: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_body: 150_000,
            extra_root_certificates: Vec::new(),
        }
    }
}

/// One per process. Hands out shared [`KeyStore`]s and owns their background tasks.
#[derive(Debug)]
pub struct JwksRegistry {
    options: Arc<JwksOptions>,
    fetcher: Arc<Fetcher>,
    // Not on the request path: taken only while compiling a config.
    stores: Mutex<HashMap<ShareKey, Weak<KeyStore>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
}

impl JwksRegistry {
    /// A registry with these bounds. Installs jsonwebtoken's aws-lc-rs crypto provider.
    ///
    /// # Errors
    /// [`JwksError::Client`] when the HTTPS client cannot be built (bad extra root certificate).
    pub fn new(options: JwksOptions) -> Result<Self, JwksError> {
        crate::install_crypto_provider();
        let fetcher = Arc::new(Fetcher::new(&options)?);
        Ok(Self {
            options: Arc::new(options),
            fetcher,
            stores: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            shutdown: watch::channel(false).0,
        })
    }

    /// The bounds this registry was built with.
    pub fn options(&self) -> &JwksOptions {
        &self.options
    }

    /// The store for `source`, shared with every other caller naming the same issuer, URL or file
    /// while any of them holds it (a reload that keeps an issuer keeps its keys and its refresh
    /// task). Files are read now. Inside a tokio runtime, a new remote store starts fetching at
    /// once, so stores created together fetch in parallel; otherwise call [`Self::start_all`].
    ///
    /// # Errors
    /// Non-https (non-loopback) URLs, unreadable files, files without a usable key.
    pub fn store(&self, source: KeySource) -> Result<Arc<KeyStore>, JwksError> {
        let share_key = match &source {
            KeySource::Discovery { issuer } => Some(ShareKey::Discovery(issuer.clone())),
            KeySource::JwksUri(url) => Some(ShareKey::JwksUri(url.clone())),
            KeySource::JwksFile(path) => Some(ShareKey::JwksFile(path.clone())),
            KeySource::PublicKeyPem(path) => Some(ShareKey::PublicKeyPem(path.clone())),
            KeySource::Static(_) => None,
        };
        if let Some(key) = &share_key
            && let Some(existing) = self.lock_stores().get(key).and_then(Weak::upgrade)
        {
            return Ok(existing);
        }
        let store = Arc::new(self.build(source)?);
        if let Some(key) = share_key {
            let mut stores = self.lock_stores();
            if let Some(existing) = stores.get(&key).and_then(Weak::upgrade) {
                return Ok(existing); // lost a race with another compile; use theirs
            }
            stores.retain(|_, weak| weak.strong_count() > 0);
            stores.insert(key, Arc::downgrade(&store));
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            self.start(&store);
        }
        Ok(store)
    }

    fn build(&self, source: KeySource) -> Result<KeyStore, JwksError> {
        let options = Arc::clone(&self.options);
        Ok(match source {
            KeySource::Discovery { issuer } => {
                let url = fetch::discovery_url(&issuer)
                    .map_err(|source| JwksError::BadIssuer { issuer: issuer.clone(), source })?;
                fetch::check_url(&url)?;
                KeyStore::remote_discovery(issuer, url, Arc::clone(&self.fetcher), options)
            }
            KeySource::JwksUri(url) => {
                fetch::check_url(&url)?;
                KeyStore::remote_jwks(url, Arc::clone(&self.fetcher), options)
            }
            KeySource::JwksFile(path) => {
                let origin = path.display().to_string();
                let text =
                    std::fs::read(&path).map_err(|source| JwksError::Io { path: origin.clone(), source })?;
                let doc: Value = serde_json::from_slice(&text).map_err(|_| JwksError::Parse {
                    origin: origin.clone(),
                    source: crate::key::JwksParseError::NotAJwks,
                })?;
                let (set, _) =
                    parse_jwks(&doc).map_err(|source| JwksError::Parse { origin: origin.clone(), source })?;
                KeyStore::fixed(origin, set, options)
            }
            KeySource::PublicKeyPem(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| JwksError::Io { path: origin.clone(), source })?;
                let key = parse_pem_public_key(&text)
                    .map_err(|source| JwksError::Parse { origin: origin.clone(), source })?;
                KeyStore::fixed(origin, KeySet::new(vec![Arc::new(key)]), options)
            }
            KeySource::Static(doc) => {
                let (set, _) = parse_jwks(&doc)
                    .map_err(|source| JwksError::Parse { origin: "static key set".into(), source })?;
                KeyStore::fixed("static key set".into(), set, options)
            }
        })
    }

    fn start(&self, store: &KeyStore) {
        if let Some(handle) = store.start(self.shutdown.subscribe()) {
            let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            tasks.retain(|t| !t.is_finished());
            tasks.push(handle);
        }
    }

    /// Starts the background refresh of every live store not yet started (idempotent). Must be
    /// called inside a tokio runtime.
    pub fn start_all(&self) {
        for store in self.live_stores() {
            self.start(&store);
        }
    }

    /// Waits, in parallel, until every live store has keys or `wait` passes; returns each
    /// store's label and outcome (for the start-up log; requests fail closed meanwhile anyway).
    pub async fn ready_all(&self, wait: Duration) -> Vec<(String, Result<(), KeyError>)> {
        let stores = self.live_stores();
        let mut set = tokio::task::JoinSet::new();
        for store in stores {
            set.spawn(async move {
                let outcome = store.ready(wait).await;
                (store.label().to_owned(), outcome)
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(entry) = joined {
                out.push(entry);
            }
        }
        out
    }

    /// Stops every background refresh task and waits for them to end.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }

    fn live_stores(&self) -> Vec<Arc<KeyStore>> {
        self.lock_stores().values().filter_map(Weak::upgrade).collect()
    }

    fn lock_stores(&self) -> std::sync::MutexGuard<'_, HashMap<ShareKey, Weak<KeyStore>>> {
        self.stores.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

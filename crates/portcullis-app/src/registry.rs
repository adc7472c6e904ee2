//! Long-lived, process-wide state, kept across reloads: upstream clients, JWKS caches, the
//! development issuer, function pools, Lambda authorizers (with their answer caches) and
//! throttle limits (with their buckets and counters).
//!
//! It never sees a `Config`: it takes the typed settings `compile` derives, and keeps an object
//! for as long as the settings it was built from stay equal (`Eq`, not a text fingerprint), so a
//! reload that changes nothing about a function keeps its warm instances, and one that changes
//! nothing about an authorizer keeps its cache. Locks here are taken while a configuration is
//! compiled, never on the request path.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use portcullis_authz::lambda::SharedAnswers;
use portcullis_authz::lambda::{AuthorizerFunction, LambdaAuthorizer, LambdaSettings};
use portcullis_authz::{Revocation, RevocationList};
use portcullis_functions::{FunctionSettings, Invoker, KeepRecent};
use portcullis_integration::http::HttpClient;
use portcullis_jwks::{DevIssuer, JwksRegistry, KeySource, KeyStore};
use portcullis_pipeline::{Limit, LimitSettings, SharedLimit};
use portcullis_shared::{Delivery, SharedState};

/// The file revocations persist in, under `state_dir`, without shared state.
const REVOCATIONS_FILE: &str = "revocations.json";

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

use crate::compile::ProcessSettings;
use crate::resources::{Clients, ResourceError, Resources};
use crate::watch::{Fingerprint, fingerprint};

/// Watches `function`'s directory, recycling `invoker` on every change.
fn spawn_watcher(
    function: &FunctionSettings,
    invoker: &Invoker,
    code: Fingerprint,
) -> tokio::task::AbortHandle {
    tracing::info!(function = %function.name, dir = %function.dir.display(), "watching the function's code");
    tokio::spawn(crate::watch::function_dir(function.dir.clone(), invoker.clone(), code)).abort_handle()
}

/// Why a revocation could not be written to `state_dir` (it holds on this replica anyway).
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The directory or the file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The list could not be encoded.
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
}

/// Long-lived, process-wide state.
pub struct Registry {
    clients: Clients,
    /// JWKS caches, one per issuer / key URL / key file, shared by authorizers and reloads.
    jwks: JwksRegistry,
    /// Function pools by name, with the settings they run with.
    functions: Mutex<HashMap<String, FunctionEntry>>,
    /// Whether functions keep their last cold starts and output lines (the console turns it on).
    keep_recent: KeepRecent,
    /// The built-in development issuer, opened on first use by an `issuer: dev` authorizer.
    dev_issuer: Mutex<Option<Arc<DevIssuer>>>,
    /// Lambda authorizers by name, with the settings of the authorizer and of its function.
    lambda_authorizers: Mutex<HashMap<String, LambdaEntry>>,
    /// Throttle limits by their settings, while a snapshot uses them.
    limits: Mutex<HashMap<LimitSettings, Weak<Limit>>>,
    /// The Redis replicas share, when `shared_state` is set (fixed until a restart).
    shared: Option<Arc<SharedState>>,
    /// Revoked tokens, checked by JWT authorizers when `revocation` is on.
    revocations: Arc<RevocationList>,
    /// Where revocations persist without shared state.
    state_dir: std::path::PathBuf,
}

/// A running function: its settings, its pool, the fingerprint of its code when last (re)loaded,
/// and its watcher when `watch` is on.
struct FunctionEntry {
    settings: FunctionSettings,
    invoker: Invoker,
    code: Fingerprint,
    watcher: Option<tokio::task::AbortHandle>,
}

impl Drop for FunctionEntry {
    fn drop(&mut self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
    }
}

struct LambdaEntry {
    settings: LambdaSettings,
    function: FunctionSettings,
    authorizer: Arc<LambdaAuthorizer>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a plain map update that cannot leave the data half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// The process-wide state for `settings` (clients, key-set lifetimes; functions start with
    /// [`Registry::prepare_functions`]).
    ///
    /// # Errors
    /// [`ResourceError::HttpClient`], [`ResourceError::Keys`].
    pub fn new(settings: &ProcessSettings) -> Result<Self, ResourceError> {
        Ok(Registry {
            clients: Clients::new(&settings.client)?,
            jwks: JwksRegistry::new(settings.jwks.clone())?,
            functions: Mutex::new(HashMap::new()),
            keep_recent: KeepRecent::default(),
            dev_issuer: Mutex::new(None),
            lambda_authorizers: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
            shared: settings.shared.clone().map(SharedState::new).transpose()?,
            revocations: Arc::new(RevocationList::new()),
            state_dir: settings.state_dir.clone(),
        })
    }

    /// Brings the function pools in line with `settings`: starts new functions and functions
    /// whose settings changed (the old pool is dropped when the last snapshot using it goes),
    /// recycles the instances of an unwatched function whose code changed since the last load,
    /// and starts or stops each function's watcher as `watch` says. Must run before
    /// [`crate::compile::snapshot`].
    ///
    /// # Errors
    /// [`ResourceError::Functions`].
    pub async fn prepare_functions(&self, settings: &ProcessSettings) -> Result<(), ResourceError> {
        if !settings.functions.is_empty() {
            crate::state::prepare(&settings.state_dir).map_err(ResourceError::StateDir)?;
        }
        for wanted in &settings.functions {
            let dir = wanted.dir.clone();
            let code = tokio::task::spawn_blocking(move || fingerprint(&dir)).await.unwrap_or_default();
            let watch = settings.watched.contains(&wanted.name);
            let current =
                lock(&self.functions).get(&wanted.name).map(|e| (e.settings == *wanted, e.code == code));
            match current {
                Some((true, same_code)) => {
                    let mut functions = lock(&self.functions);
                    let Some(entry) = functions.get_mut(&wanted.name) else { continue };
                    if !same_code && entry.watcher.is_none() {
                        tracing::info!(function = %wanted.name, "code changed since the last load; recycling instances");
                        entry.invoker.recycle();
                    }
                    entry.code = code;
                    match (watch, entry.watcher.is_some()) {
                        (true, false) => entry.watcher = Some(spawn_watcher(wanted, &entry.invoker, code)),
                        (false, true) => {
                            if let Some(watcher) = entry.watcher.take() {
                                watcher.abort();
                            }
                        }
                        _ => {}
                    }
                }
                _ => {
                    let invoker =
                        Invoker::start(wanted.clone(), &settings.functions_options, &self.keep_recent)
                            .await?;
                    let watcher = watch.then(|| spawn_watcher(wanted, &invoker, code));
                    let entry = FunctionEntry { settings: wanted.clone(), invoker, code, watcher };
                    lock(&self.functions).insert(wanted.name.clone(), entry);
                }
            }
        }
        Ok(())
    }

    /// The JWKS registry (start-up fetches, background refresh, shutdown).
    pub fn jwks(&self) -> &JwksRegistry {
        &self.jwks
    }

    /// The development issuer, if an authorizer opened it.
    pub fn current_dev_issuer(&self) -> Option<Arc<DevIssuer>> {
        lock(&self.dev_issuer).clone()
    }

    /// The running function `name`.
    pub fn invoker(&self, name: &str) -> Option<Invoker> {
        lock(&self.functions).get(name).map(|entry| entry.invoker.clone())
    }

    /// The switch that makes every function keep its last cold starts and output lines.
    pub fn keep_recent(&self) -> &KeepRecent {
        &self.keep_recent
    }

    /// Every function with its settings, by name (the admin console, `/metrics`).
    pub fn functions(&self) -> Vec<(FunctionSettings, Invoker)> {
        let mut all: Vec<(FunctionSettings, Invoker)> =
            lock(&self.functions).values().map(|e| (e.settings.clone(), e.invoker.clone())).collect();
        all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        all
    }

    /// Stops every function instance and background key refresh.
    pub async fn shutdown(&self) {
        self.jwks.shutdown().await;
        let invokers: Vec<Invoker> =
            lock(&self.functions).drain().map(|(_, entry)| entry.invoker.clone()).collect();
        for invoker in invokers {
            invoker.shutdown().await;
        }
    }

    /// The shared store, when `shared_state` is set.
    pub fn shared(&self) -> Option<&Arc<SharedState>> {
        self.shared.as_ref()
    }

    /// The revocations JWT authorizers check.
    pub fn revocation_list(&self) -> &Arc<RevocationList> {
        &self.revocations
    }

    /// Starts keeping revocations: in step with the other replicas through the shared store,
    /// or from `state_dir` for a gateway on its own. The returned task (shared store) runs until
    /// aborted.
    pub fn start_revocations(&self, resync: std::time::Duration) -> Option<tokio::task::JoinHandle<()>> {
        match &self.shared {
            Some(shared) => Some(shared.sync_revocations(Arc::clone(&self.revocations), resync)),
            None => {
                let path = self.state_dir.join(REVOCATIONS_FILE);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    match serde_json::from_str::<Vec<Revocation>>(&text) {
                        Ok(all) => self.revocations.replace(all, now_secs()),
                        Err(error) => {
                            tracing::warn!(path = %path.display(), %error, "revocations could not be read; starting with none")
                        }
                    }
                }
                None
            }
        }
    }

    /// Revokes `revocation` on every replica (the shared store; queued while Redis is away), or on
    /// this one, persisted in `state_dir`.
    ///
    /// # Errors
    /// The file could not be written; the revocation holds on this replica anyway.
    pub async fn revoke(&self, revocation: Revocation) -> Result<Delivery, PersistError> {
        match &self.shared {
            Some(shared) => Ok(shared.revoke(revocation, &self.revocations).await),
            None => {
                self.revocations.add(revocation);
                let all = self.revocations.all(now_secs());
                crate::state::prepare(&self.state_dir)?;
                let path = self.state_dir.join(REVOCATIONS_FILE);
                let temporary = path.with_extension("json.tmp");
                let text = serde_json::to_string_pretty(&all)?;
                std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, &path))?;
                Ok(Delivery::Stored)
            }
        }
    }

    /// Every limit in use, for the throttled-requests counters.
    pub fn limits(&self) -> Vec<Arc<Limit>> {
        let mut limits = lock(&self.limits);
        limits.retain(|_, limit| limit.strong_count() > 0);
        let mut live: Vec<Arc<Limit>> = limits.values().filter_map(Weak::upgrade).collect();
        live.sort_by(|a, b| {
            (&a.settings().route, &a.settings().label).cmp(&(&b.settings().route, &b.settings().label))
        });
        live
    }

    fn function_settings(&self, name: &str) -> Option<FunctionSettings> {
        lock(&self.functions).get(name).map(|entry| entry.settings.clone())
    }
}

impl Resources for Registry {
    fn http_client(&self, ca_file: Option<&Path>) -> Result<HttpClient, ResourceError> {
        self.clients.get(ca_file)
    }

    fn key_store(&self, source: KeySource) -> Result<Arc<KeyStore>, ResourceError> {
        Ok(self.jwks.store(source)?)
    }

    fn dev_issuer(&self, state_dir: &Path, issuer: &str) -> Result<Arc<DevIssuer>, ResourceError> {
        let mut slot = lock(&self.dev_issuer);
        if let Some(dev) = slot.as_ref().filter(|dev| dev.issuer() == issuer) {
            return Ok(Arc::clone(dev));
        }
        crate::state::prepare(state_dir).map_err(ResourceError::StateDir)?;
        let dev = Arc::new(DevIssuer::open(state_dir, issuer)?);
        *slot = Some(Arc::clone(&dev));
        Ok(dev)
    }

    fn function(&self, name: &str) -> Result<Invoker, ResourceError> {
        self.invoker(name).ok_or_else(|| ResourceError::FunctionNotPrepared(name.to_owned()))
    }

    /// The authorizer built by an earlier (re)load when neither its settings nor its function's
    /// changed, so its answer cache stays warm; else a new one.
    fn lambda_authorizer(
        &self,
        settings: LambdaSettings,
        function: Invoker,
    ) -> Result<Arc<LambdaAuthorizer>, ResourceError> {
        let function_settings = self
            .function_settings(function.name())
            .ok_or_else(|| ResourceError::FunctionNotPrepared(function.name().to_owned()))?;
        let mut authorizers = lock(&self.lambda_authorizers);
        if let Some(entry) = authorizers.get(&settings.name)
            && entry.settings == settings
            && entry.function == function_settings
        {
            return Ok(Arc::clone(&entry.authorizer));
        }
        let name = settings.name.clone();
        let mut authorizer =
            LambdaAuthorizer::new(settings.clone(), Arc::new(function) as Arc<dyn AuthorizerFunction>)?;
        if settings.shared_cache
            && let Some(state) = &self.shared
        {
            authorizer = authorizer.with_shared_answers(Arc::clone(state) as Arc<dyn SharedAnswers>);
        }
        let authorizer = Arc::new(authorizer);
        authorizers.insert(
            name,
            LambdaEntry { settings, function: function_settings, authorizer: Arc::clone(&authorizer) },
        );
        Ok(authorizer)
    }

    fn revocations(&self) -> Arc<RevocationList> {
        Arc::clone(&self.revocations)
    }

    fn limit(&self, settings: LimitSettings) -> Arc<Limit> {
        let mut limits = lock(&self.limits);
        if let Some(limit) = limits.get(&settings).and_then(Weak::upgrade) {
            return limit;
        }
        // Limits no snapshot holds any more are forgotten.
        limits.retain(|_, limit| limit.strong_count() > 0);
        let key = settings.clone();
        let shared = settings.shared;
        let mut limit = Limit::new(settings);
        if shared && let Some(state) = &self.shared {
            limit = limit.with_shared(SharedLimit {
                store: Arc::clone(state) as Arc<dyn portcullis_limits::SharedBuckets>,
                deny_when_unavailable: state.deny_when_unavailable(),
            });
        }
        let limit = Arc::new(limit);
        limits.insert(key, Arc::downgrade(&limit));
        limit
    }
}

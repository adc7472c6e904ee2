//! State that outlives a reload, owned in one place and keyed by stable identity, so that a
//! reload reuses warm connection pools (and, with the JWT work, key caches) instead of
//! rebuilding them.
//!
//! The maps here are touched only while compiling a snapshot (start-up, reload), never on the
//! request path, so a plain mutex is the simple and sufficient choice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use portcullis_authz::BoxFuture;
use portcullis_authz::lambda::{AuthorizerFunction, LambdaAuthorizer, LambdaSettings};
use portcullis_config::{Config, ConfigError, ConfigErrors, FunctionConfig, FunctionRuntime, Span};
use portcullis_functions::{
    FunctionKind, FunctionSettings, Functions, FunctionsOptions, InvokeError, Invoker,
};
use portcullis_integration::http::{ClientOptions, HttpClient};
use portcullis_jwks::{DevIssuer, JwksOptions, JwksRegistry, KeySource, KeyStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::StartError;

/// Long-lived, process-wide state.
pub struct Registry {
    default_client: HttpClient,
    client_options: ClientOptions,
    private_ca_clients: Mutex<HashMap<PathBuf, HttpClient>>,
    /// Function pools by name, with the settings they were started with: a reload that leaves a
    /// function's settings unchanged keeps its warm instances.
    functions: Mutex<HashMap<String, RunningFunction>>,
    /// JWKS caches, one per issuer / key URL / key file, shared by authorizers and reloads.
    jwks: JwksRegistry,
    /// The built-in development issuer, opened on first use by an `issuer: dev` authorizer.
    dev_issuer: Mutex<Option<Arc<DevIssuer>>>,
    /// Lambda authorizers by name, with a fingerprint of their settings and function: a reload
    /// that changes neither keeps the authorizer, and with it its answer cache.
    lambda_authorizers: Mutex<HashMap<String, (String, Arc<LambdaAuthorizer>)>>,
    /// `portcullis check`: validate only; start no processes.
    checking: bool,
}

struct RunningFunction {
    settings: String,
    invoker: Invoker,
    pools: Arc<Functions>,
}

impl Registry {
    /// Create the process-wide state.
    ///
    /// Key-set lifetimes are process-wide (key stores are shared by every authorizer with the
    /// same issuer): the smallest `cache.jwks_refresh` and `cache.jwks_max_stale` of the JWT
    /// authorizers in `config` apply, read at start-up.
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let default_client = HttpClient::new(client_options(config))
            .map_err(|e| StartError::Resource(format!("HTTP client: {e}")))?;
        Ok(Registry {
            default_client,
            client_options: client_options(config),
            private_ca_clients: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            jwks: JwksRegistry::new(jwks_options(config))
                .map_err(|e| StartError::Resource(format!("JWKS client: {e}")))?,
            dev_issuer: Mutex::new(None),
            lambda_authorizers: Mutex::new(HashMap::new()),
            checking: false,
        })
    }

    /// A registry for `portcullis check`: compiles everything, starts nothing.
    pub fn for_check(config: &Config) -> Result<Self, StartError> {
        Ok(Registry { checking: true, ..Registry::new(config)? })
    }

    /// Whether this registry only validates.
    pub fn checking(&self) -> bool {
        self.checking
    }

    /// Start the function pools `config` needs and does not have yet (new functions, or
    /// functions whose settings changed). Must run before [`crate::compile::snapshot`].
    pub async fn prepare_functions(&self, config: &Config) -> Result<(), ConfigErrors> {
        if self.checking {
            return Ok(());
        }
        let wanted: Vec<FunctionSettings> =
            config.functions.iter().map(|(name, f)| function_settings(config, name, f)).collect();
        let to_start: Vec<FunctionSettings> = {
            let running = self.functions.lock().map_err(|_| poisoned(config))?;
            wanted
                .into_iter()
                .filter(|s| running.get(&s.name).is_none_or(|r| r.settings != format!("{s:?}")))
                .collect()
        };
        if to_start.is_empty() {
            return Ok(());
        }
        let fingerprints: Vec<(String, String)> =
            to_start.iter().map(|s| (s.name.clone(), format!("{s:?}"))).collect();
        let options = FunctionsOptions {
            state_dir: functions_state_dir(config),
            account_id: config.account_id.clone(),
        };
        let pools = Functions::start(to_start, options).await.map_err(|e| {
            ConfigErrors::single(ConfigError::at(
                config.origin.clone(),
                Span { line: 1, column: 1 },
                "functions",
                e.to_string(),
            ))
        })?;
        let pools = Arc::new(pools);
        let mut running = self.functions.lock().map_err(|_| poisoned(config))?;
        for (name, settings) in fingerprints {
            if let Some(invoker) = pools.invoker(&name) {
                // A replaced pool is dropped when the last snapshot using it goes away.
                running.insert(name, RunningFunction { settings, invoker, pools: Arc::clone(&pools) });
            }
        }
        Ok(())
    }

    /// The shared key store for `source`.
    pub fn key_store(&self, source: KeySource) -> Result<Arc<KeyStore>, String> {
        self.jwks.store(source).map_err(|e| e.to_string())
    }

    /// The JWKS registry (start-up fetches, background refresh, shutdown).
    pub fn jwks(&self) -> &JwksRegistry {
        &self.jwks
    }

    /// The development issuer of `config` (key under `state_dir`, `iss` derived from the
    /// configured admin address), opened on first use.
    pub fn dev_issuer(&self, config: &Config) -> Result<Arc<DevIssuer>, String> {
        let mut slot = self.dev_issuer.lock().map_err(|_| "registry poisoned".to_owned())?;
        let issuer = dev_issuer_url(config);
        if let Some(dev) = slot.as_ref().filter(|dev| dev.issuer() == issuer) {
            return Ok(Arc::clone(dev));
        }
        let dev =
            Arc::new(DevIssuer::open(&config.state_dir, issuer).map_err(|e| format!("dev issuer: {e}"))?);
        *slot = Some(Arc::clone(&dev));
        Ok(dev)
    }

    /// The development issuer, if an authorizer opened it.
    pub fn current_dev_issuer(&self) -> Option<Arc<DevIssuer>> {
        self.dev_issuer.lock().ok()?.clone()
    }

    /// The invoker of function `name`, if it was prepared.
    pub fn invoker(&self, name: &str) -> Option<Invoker> {
        self.functions.lock().ok()?.get(name).map(|f| f.invoker.clone())
    }

    /// The Lambda authorizer `name` with `settings` invoking function `function`: the one built
    /// by an earlier (re)load when nothing changed (so its cache stays warm), else a new one.
    pub(crate) fn lambda_authorizer(
        &self,
        settings: LambdaSettings,
        function: &str,
    ) -> Result<Arc<LambdaAuthorizer>, String> {
        let invoker = self.invoker(function);
        let function_fingerprint = self
            .functions
            .lock()
            .map_err(|_| "registry poisoned".to_owned())?
            .get(function)
            .map(|f| f.settings.clone())
            .unwrap_or_default();
        let fingerprint = format!("{settings:?}|{function_fingerprint}");
        let mut authorizers = self.lambda_authorizers.lock().map_err(|_| "registry poisoned".to_owned())?;
        if let Some((existing, authorizer)) = authorizers.get(&settings.name)
            && *existing == fingerprint
        {
            return Ok(Arc::clone(authorizer));
        }
        let function: Arc<dyn AuthorizerFunction> = match invoker {
            Some(invoker) => Arc::new(invoker),
            // `portcullis check` starts no functions: a stand-in that would fail closed.
            None if self.checking => Arc::new(NotRunning(function.to_owned())),
            None => return Err(format!("function `{function}` is not running")),
        };
        let name = settings.name.clone();
        let authorizer = Arc::new(LambdaAuthorizer::new(settings, function).map_err(|e| e.to_string())?);
        if !self.checking {
            authorizers.insert(name, (fingerprint, Arc::clone(&authorizer)));
        }
        Ok(authorizer)
    }

    /// Stop every function instance and background key refresh.
    pub async fn shutdown(&self) {
        self.jwks.shutdown().await;
        let pools: Vec<Arc<Functions>> = match self.functions.lock() {
            Ok(mut running) => running.drain().map(|(_, f)| f.pools).collect(),
            Err(_) => Vec::new(),
        };
        for pool in pools {
            pool.shutdown().await;
        }
    }

    /// The pooled client for upstreams trusted by the system roots, or additionally by the CA
    /// in `ca_file` (one pool per distinct CA file).
    pub fn http_client(&self, ca_file: Option<&Path>) -> Result<HttpClient, String> {
        let Some(ca_file) = ca_file else {
            return Ok(self.default_client.clone());
        };
        let mut clients = self.private_ca_clients.lock().map_err(|_| "registry poisoned".to_owned())?;
        if let Some(client) = clients.get(ca_file) {
            return Ok(client.clone());
        }
        let roots = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("cannot read {}: {e}", ca_file.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad PEM in {}: {e}", ca_file.display()))?;
        if roots.is_empty() {
            return Err(format!("no certificate in {}", ca_file.display()));
        }
        let options = ClientOptions { extra_roots: roots, ..self.client_options.clone() };
        let client = HttpClient::new(options).map_err(|e| e.to_string())?;
        clients.insert(ca_file.to_path_buf(), client.clone());
        Ok(client)
    }
}

/// The function of a Lambda authorizer under `portcullis check`, where nothing runs.
struct NotRunning(String);

impl AuthorizerFunction for NotRunning {
    fn invoke<'a>(
        &'a self,
        _payload: bytes::Bytes,
        _request_id: &'a str,
        _deadline: std::time::Duration,
    ) -> BoxFuture<'a, Result<bytes::Bytes, InvokeError>> {
        Box::pin(async { Err(InvokeError::ShuttingDown) })
    }
    fn name(&self) -> &str {
        &self.0
    }
}

fn poisoned(config: &Config) -> ConfigErrors {
    ConfigErrors::single(ConfigError::at(
        config.origin.clone(),
        Span { line: 1, column: 1 },
        "functions",
        "internal: registry lock poisoned",
    ))
}

/// Config -> runtime settings for one function.
pub(crate) fn function_settings(config: &Config, name: &str, f: &FunctionConfig) -> FunctionSettings {
    let kind = match &f.runtime {
        FunctionRuntime::Nodejs { handler } => FunctionKind::Node { handler: handler.clone() },
        FunctionRuntime::Python { handler } => FunctionKind::Python { handler: handler.clone() },
        FunctionRuntime::Provided { command, args, .. } => {
            let mut full = vec![command.display().to_string()];
            full.extend(args.iter().cloned());
            FunctionKind::Provided { command: full }
        }
        FunctionRuntime::Remote { invoke_url } => FunctionKind::Remote { invoke_url: invoke_url.clone() },
    };
    let mut settings = FunctionSettings::new(name, kind, f.dir.clone());
    settings.timeout = f.timeout;
    settings.concurrency =
        std::num::NonZeroUsize::new(f.concurrency.get() as usize).unwrap_or(std::num::NonZeroUsize::MIN);
    settings.environment = f.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // `handler:` on a `provided` function reaches the program as Lambda's `_HANDLER`, which the
    // functions crate sets itself only for its own bootstraps.
    if let FunctionRuntime::Provided { handler: Some(handler), .. } = &f.runtime {
        settings.environment.push(("_HANDLER".to_owned(), handler.clone()));
    }
    settings.memory_mb = f.memory.get();
    settings.idle_timeout = f.idle_timeout;
    settings.prewarm = f.prewarm as usize;
    settings.max_invocations = f.max_invocations;
    settings.region = config.region.clone();
    settings
}

/// Upstream client settings from `limits:` (read at start; a restart applies changes).
fn client_options(config: &Config) -> ClientOptions {
    ClientOptions {
        max_connections_per_origin: usize::try_from(config.limits.upstream_max_connections)
            .unwrap_or(usize::MAX),
        max_pending_per_origin: usize::try_from(config.limits.upstream_max_pending).unwrap_or(usize::MAX),
        ..ClientOptions::default()
    }
}

/// The `iss` of the development issuer: derived from the admin address *as configured*, so that
/// `portcullis token` (another process reading the same file) mints what the gateway accepts.
pub fn dev_issuer_url(config: &Config) -> String {
    format!("http://{}/dev", config.admin)
}

/// Key lifecycle bounds from the JWT authorizers' `cache:` settings (the most conservative wins).
fn jwks_options(config: &Config) -> JwksOptions {
    let mut options = JwksOptions::default();
    for authorizer in config.authorizers.values() {
        if let portcullis_config::AuthorizerConfig::Jwt(jwt) = authorizer {
            options.default_ttl = options.default_ttl.min(jwt.cache.jwks_refresh);
            options.max_staleness = options.max_staleness.min(jwt.cache.jwks_max_stale);
        }
    }
    options.min_ttl = options.min_ttl.min(options.default_ttl);
    options
}

/// Where function bootstraps are written: absolute, because instances run in their own `dir`
/// and must find the bootstrap whatever the gateway's working directory and however the config
/// path was given (a relative `--config` makes a relative `state_dir`).
pub(crate) fn functions_state_dir(config: &Config) -> PathBuf {
    let dir = config.state_dir.join("functions");
    std::path::absolute(&dir).unwrap_or(dir)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_functions::FunctionKind;

    use super::function_settings;

    /// Every `functions:` setting reaches the runtime settings, the non-AWS ones included.
    #[test]
    fn function_config_maps_onto_runtime_settings() {
        let yaml = "functions:
  f: {runtime: nodejs, handler: app.handler, dir: fn, timeout: 7s, concurrency: 3, prewarm: 1,
      memory: 256, idle_timeout: 2m, max_invocations: 1000, environment: {TABLE: orders}}
  n: {runtime: provided, command: [./bootstrap, --fast], handler: main.handler}
  d: {runtime: python, handler: app.handler}
region: eu-west-1
";
        let config =
            portcullis_config::from_str_in(yaml, "t.yaml", std::path::Path::new("/srv")).expect("valid");
        let settings = |name: &str| function_settings(&config, name, &config.functions[name]);

        let f = settings("f");
        assert!(matches!(&f.kind, FunctionKind::Node { handler } if handler == "app.handler"));
        assert_eq!(f.dir, std::path::Path::new("/srv/fn"));
        assert_eq!((f.timeout, f.concurrency.get(), f.prewarm), (Duration::from_secs(7), 3, 1));
        assert_eq!((f.memory_mb, f.idle_timeout), (256, Duration::from_secs(120)));
        assert_eq!(f.max_invocations.map(|n| n.get()), Some(1000));
        assert_eq!(f.environment, vec![("TABLE".to_owned(), "orders".to_owned())]);
        assert_eq!(f.region, "eu-west-1");

        let n = settings("n");
        let FunctionKind::Provided { command } = &n.kind else { panic!("{:?}", n.kind) };
        assert_eq!(
            command,
            &["/srv/./bootstrap", "--fast"],
            "the command resolves against the config's directory"
        );
        assert_eq!(n.environment, vec![("_HANDLER".to_owned(), "main.handler".to_owned())]);

        let d = settings("d");
        assert_eq!(d.max_invocations, None, "reused until idle by default");
        assert!(matches!(&d.kind, FunctionKind::Python { handler } if handler == "app.handler"));
    }
}

//! Where compiling a snapshot gets its long-lived objects: upstream clients, key stores, the
//! development issuer, functions, Lambda authorizers.
//!
//! Two providers: the live [`crate::registry::Registry`] (objects kept across reloads, functions
//! running) and [`DryRun`] (`portcullis check`, `token`: everything is built and validated, key
//! files read, certificates parsed, but nothing is started and nothing is fetched).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_authz::RevocationList;
use portcullis_authz::lambda::{AuthorizerFunction, LambdaAuthorizer, LambdaSettings, LambdaSettingsError};
use portcullis_functions::{FunctionSettings, Invoker};
use portcullis_integration::http::{ClientOptions, HttpClient, HttpClientError};
use portcullis_jwks::{DevIssuer, DevIssuerError, JwksError, JwksRegistry, KeySource, KeyStore};
use portcullis_pipeline::{Limit, LimitSettings};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::compile::ProcessSettings;

/// Why a long-lived object could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// A private CA file (`upstream_ca`) is unreadable or holds no certificate.
    #[error("{}: {problem}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The upstream HTTP client could not be built. (Its cause is in the message, not a
    /// source: an error chain names each cause once.)
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(HttpClientError),
    /// A key source (a JWKS or PEM file, an issuer URL) is unusable.
    #[error(transparent)]
    Keys(#[from] JwksError),
    /// The development issuer's key could not be opened or created.
    #[error(transparent)]
    DevIssuer(#[from] DevIssuerError),
    /// A Lambda authorizer's settings do not work together.
    #[error(transparent)]
    LambdaSettings(#[from] LambdaSettingsError),
    /// `shared_state` is unusable (a URL the client does not understand).
    #[error(transparent)]
    Shared(#[from] portcullis_shared::SharedError),
    /// The state directory could not be created.
    #[error("state_dir could not be created: {0}")]
    StateDir(std::io::Error),
    /// Functions could not be started.
    #[error("functions could not be started: {0}")]
    Functions(portcullis_functions::StartError),
    /// A route or authorizer refers to a function that was not prepared (a bug, not a config
    /// problem: the config loader checks every reference).
    #[error("function `{0}` is not running")]
    FunctionNotPrepared(String),
}

impl From<HttpClientError> for ResourceError {
    fn from(error: HttpClientError) -> Self {
        ResourceError::HttpClient(error)
    }
}

impl From<portcullis_functions::StartError> for ResourceError {
    fn from(error: portcullis_functions::StartError) -> Self {
        ResourceError::Functions(error)
    }
}

impl ResourceError {
    /// Whether the configuration is to blame (a positioned config error, exit status 2), as
    /// opposed to the machine or the gateway itself (exit status 1).
    pub fn is_about_config(&self) -> bool {
        matches!(
            self,
            ResourceError::CaFile { .. }
                | ResourceError::Shared(_)
                | ResourceError::Keys(_)
                | ResourceError::DevIssuer(_)
                | ResourceError::LambdaSettings(_)
        )
    }
}

/// What compiling a snapshot asks for.
pub trait Resources: Sync {
    /// The upstream client trusting the system roots, plus the CA certificates in `ca_file`.
    ///
    /// # Errors
    /// [`ResourceError::CaFile`], [`ResourceError::HttpClient`].
    fn http_client(&self, ca_file: Option<&Path>) -> Result<HttpClient, ResourceError>;

    /// The key store of `source`, shared by every authorizer with the same source.
    ///
    /// # Errors
    /// [`ResourceError::Keys`].
    fn key_store(&self, source: KeySource) -> Result<Arc<KeyStore>, ResourceError>;

    /// The development issuer with its key under `state_dir`, issuing as `issuer`.
    ///
    /// # Errors
    /// [`ResourceError::DevIssuer`].
    fn dev_issuer(&self, state_dir: &Path, issuer: &str) -> Result<Arc<DevIssuer>, ResourceError>;

    /// The function `name` of the configuration.
    ///
    /// # Errors
    /// [`ResourceError::FunctionNotPrepared`].
    fn function(&self, name: &str) -> Result<Invoker, ResourceError>;

    /// A Lambda authorizer with `settings` invoking `function`.
    ///
    /// # Errors
    /// [`ResourceError::LambdaSettings`].
    fn lambda_authorizer(
        &self,
        settings: LambdaSettings,
        function: Invoker,
    ) -> Result<Arc<LambdaAuthorizer>, ResourceError>;

    /// The limit of `settings`: the one an earlier (re)load built, its buckets as they are,
    /// while its settings stay the same; else a new one, full.
    fn limit(&self, settings: LimitSettings) -> Arc<Limit> {
        Arc::new(Limit::new(settings))
    }

    /// The revocations JWT authorizers check (`revocation: {enabled: true}`).
    fn revocations(&self) -> Arc<RevocationList> {
        Arc::new(RevocationList::new())
    }
}

/// Upstream clients by private CA file, built on first use (shared by both providers).
pub(crate) struct Clients {
    default: HttpClient,
    options: ClientOptions,
    private_ca: Mutex<HashMap<PathBuf, HttpClient>>,
}

impl Clients {
    pub(crate) fn new(options: &ClientOptions) -> Result<Self, ResourceError> {
        Ok(Clients {
            default: HttpClient::new(options.clone())?,
            options: options.clone(),
            private_ca: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn get(&self, ca_file: Option<&Path>) -> Result<HttpClient, ResourceError> {
        let Some(ca_file) = ca_file else {
            return Ok(self.default.clone());
        };
        let mut clients = self.private_ca.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(ca_file) {
            return Ok(client.clone());
        }
        let ca_error = |problem: String| ResourceError::CaFile { path: ca_file.to_owned(), problem };
        let roots = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| ca_error(format!("cannot read it: {e}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ca_error(format!("bad PEM: {e}")))?;
        if roots.is_empty() {
            return Err(ca_error("no certificate in it".into()));
        }
        let client = HttpClient::new(ClientOptions { extra_roots: roots, ..self.options.clone() })?;
        clients.insert(ca_file.to_path_buf(), client.clone());
        Ok(client)
    }
}

/// A handle to function `name` of `functions` that is not started: it compiles into a snapshot
/// (a dry run, or explain's routes other than the one explained) and fails every invocation.
pub(crate) fn stand_in(functions: &[FunctionSettings], name: &str) -> Result<Invoker, ResourceError> {
    let settings = functions.iter().find(|f| f.name == name);
    settings
        .map(|settings| Invoker::not_started(settings.clone()))
        .ok_or_else(|| ResourceError::FunctionNotPrepared(name.to_owned()))
}

/// Builds and validates everything, starts nothing: `portcullis check`, `token`, `export`.
pub struct DryRun {
    clients: Clients,
    jwks: JwksRegistry,
    functions: Vec<FunctionSettings>,
}

impl DryRun {
    /// A dry run for `settings`.
    ///
    /// # Errors
    /// [`ResourceError::HttpClient`], [`ResourceError::Keys`] when the clients cannot be built.
    pub fn new(settings: &ProcessSettings) -> Result<Self, ResourceError> {
        Ok(DryRun {
            clients: Clients::new(&settings.client)?,
            jwks: JwksRegistry::new(settings.jwks.clone())?,
            functions: settings.functions.clone(),
        })
    }
}

impl Resources for DryRun {
    fn http_client(&self, ca_file: Option<&Path>) -> Result<HttpClient, ResourceError> {
        self.clients.get(ca_file)
    }

    fn key_store(&self, source: KeySource) -> Result<Arc<KeyStore>, ResourceError> {
        // Files are read and parsed now; URLs are only checked (nothing is fetched until the
        // registry is started, which a dry run never does).
        Ok(self.jwks.store(source)?)
    }

    fn dev_issuer(&self, state_dir: &Path, issuer: &str) -> Result<Arc<DevIssuer>, ResourceError> {
        crate::state::prepare(state_dir).map_err(ResourceError::StateDir)?;
        Ok(Arc::new(DevIssuer::open(state_dir, issuer)?))
    }

    fn function(&self, name: &str) -> Result<Invoker, ResourceError> {
        stand_in(&self.functions, name)
    }

    fn lambda_authorizer(
        &self,
        settings: LambdaSettings,
        function: Invoker,
    ) -> Result<Arc<LambdaAuthorizer>, ResourceError> {
        Ok(Arc::new(LambdaAuthorizer::new(settings, Arc::new(function) as Arc<dyn AuthorizerFunction>)?))
    }
}

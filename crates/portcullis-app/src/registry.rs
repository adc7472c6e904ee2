//! State that outlives a reload, owned in one place and keyed by stable identity, so that a
//! reload reuses warm connection pools (and, with the JWT work, key caches) instead of
//! rebuilding them.
//!
//! The maps here are touched only while compiling a snapshot (start-up, reload), never on the
//! request path, so a plain mutex is the simple and sufficient choice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use portcullis_integration::http::{ClientOptions, HttpClient};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::StartError;

/// Long-lived, process-wide state.
pub struct Registry {
    default_client: HttpClient,
    private_ca_clients: Mutex<HashMap<PathBuf, HttpClient>>,
}

impl Registry {
    /// Create the process-wide state.
    pub fn new() -> Result<Self, StartError> {
        let default_client = HttpClient::new(ClientOptions::default())
            .map_err(|e| StartError::Resource(format!("HTTP client: {e}")))?;
        Ok(Registry {
            default_client,
            private_ca_clients: Mutex::new(HashMap::new()),
        })
    }

    /// The pooled client for upstreams trusted by the system roots, or additionally by the CA
    /// in `ca_file` (one pool per distinct CA file).
    pub fn http_client(&self, ca_file: Option<&Path>) -> Result<HttpClient, String> {
        let Some(ca_file) = ca_file else {
            return Ok(self.default_client.clone());
        };
        let mut clients = self
            .private_ca_clients
            .lock()
            .map_err(|_| "registry poisoned".to_owned())?;
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
        let options = ClientOptions {
            extra_roots: roots,
            ..ClientOptions::default()
        };
        let client = HttpClient::new(options).map_err(|e| e.to_string())?;
        clients.insert(ca_file.to_path_buf(), client.clone());
        Ok(client)
    }
}

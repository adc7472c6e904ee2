//! The live snapshot and how it is replaced.

use std::sync::Arc;

use arc_swap::ArcSwap;
use portcullis_pipeline::Snapshot;

use crate::compile::{self, CompileError};
use crate::registry::Registry;
use crate::source::ConfigSource;

/// Why a reload was refused (the previous snapshot keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The gateway runs the embedded demo; there is no file to reload.
    #[error("running the embedded demo config: nothing to reload")]
    NoConfigFile,
    /// The new configuration is invalid.
    #[error("{0}")]
    Invalid(#[from] portcullis_config::ConfigErrors),
    /// The new configuration could not be compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// Holds the one `ArcSwap<Snapshot>` and knows where the config came from.
pub struct Reloader {
    live: Arc<ArcSwap<Snapshot>>,
    registry: Arc<Registry>,
    source: Option<ConfigSource>,
    /// Development mode: every reloaded config gets the same overrides as the first.
    dev: bool,
}

impl Reloader {
    /// Serve `initial` now; later reloads read `source` again (with the development overrides
    /// when `dev`).
    pub fn new(initial: Snapshot, registry: Arc<Registry>, source: Option<ConfigSource>, dev: bool) -> Self {
        Reloader { live: Arc::new(ArcSwap::from_pointee(initial)), registry, source, dev }
    }

    /// The long-lived state.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The swap handle the pipeline reads.
    pub fn live(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.live)
    }

    /// Re-read, validate and compile the config file; swap only if all of it is good.
    ///
    /// # Errors
    /// Why the new configuration was refused; the previous one keeps serving.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let source = self.source.as_ref().ok_or(ReloadError::NoConfigFile)?;
        let config = crate::source::load_async(source).await?;
        let config = if self.dev { crate::dev::developing(config) } else { config };
        let process = compile::process(&config);
        self.registry.prepare_functions(&process).await.map_err(CompileError::from)?;
        let snapshot = compile::snapshot(&config, self.registry.as_ref())?;
        self.live.store(Arc::new(snapshot));
        drop(config);
        // The parse tree and the previous snapshot (once its last request ends) were freed.
        crate::heap::release_free_pages();
        Ok(())
    }
}

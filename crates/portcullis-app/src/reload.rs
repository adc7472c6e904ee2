//! The live snapshot and how it is replaced.

use std::sync::Arc;

use arc_swap::ArcSwap;
use portcullis_pipeline::Snapshot;

use crate::compile::{self, CompileError, RestartOnly};
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
    /// The settings the gateway started with that only a restart changes.
    started_with: RestartOnly,
}

impl Reloader {
    /// Serve `initial` now; later reloads read `source` again (with the development overrides
    /// when `dev`).
    /// `started_with` holds the settings of the config the gateway started on that a reload
    /// cannot change.
    pub fn new(
        initial: Snapshot,
        registry: Arc<Registry>,
        source: Option<ConfigSource>,
        dev: bool,
        started_with: RestartOnly,
    ) -> Self {
        Reloader { live: Arc::new(ArcSwap::from_pointee(initial)), registry, source, dev, started_with }
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
        let mut config = if self.dev { compile::developing(config) } else { config };
        // What only a restart changes keeps its running value, said once per reload.
        for key in self.started_with.changed_in(&config) {
            tracing::warn!(
                setting = key,
                "changed in the config, but takes effect at the next restart; the running value stays"
            );
        }
        self.started_with.keep_in(&mut config);
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

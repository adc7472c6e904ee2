//! Where a configuration comes from: a native config file, or an API definition the user
//! already has (OpenAPI with API Gateway's extensions, an AWS SAM template, a `serverless.yml`)
//! with an optional native overlay for what the definition cannot say.
//!
//! A definition is imported ([`portcullis_import`]) into native YAML and loaded by the same
//! loader as a config file, so a served definition and `portcullis import`'s output are the
//! same config. What the definition holds that Portcullis cannot honour comes back positioned
//! in the definition: warnings as the config's warnings, errors (a route left out, a function
//! with no runtime the overlay does not give) refuse the load. A problem the loader finds in the
//! imported YAML is reported at the definition line it came from.

use std::path::{Path, PathBuf};

use portcullis_config::{Config, ConfigError, ConfigErrors, LoadOptions, Span};
use portcullis_import::{Diagnostic, ImportOptions, Imported, Severity, SourceKind};

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A native config file.
    File(PathBuf),
    /// An API definition of `kind` at `path`, with a native `overlay` laid over it.
    Definition {
        /// OpenAPI, SAM or Serverless.
        kind: SourceKind,
        /// The definition file.
        path: PathBuf,
        /// A native YAML overlay (`--config` beside `--openapi`/`--sam`/`--serverless`).
        overlay: Option<PathBuf>,
    },
}

impl ConfigSource {
    /// The file a reload re-reads first (the definition for a definition).
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::File(path) | ConfigSource::Definition { path, .. } => path,
        }
    }
}

/// Loads `source` into a validated config.
///
/// # Errors
/// Every problem, positioned in the file it is about.
pub fn load(source: &ConfigSource) -> Result<Config, ConfigErrors> {
    match source {
        ConfigSource::File(path) => crate::load::load_config(path),
        ConfigSource::Definition { .. } => load_with(source, &LoadOptions::default()),
    }
}

/// [`load`] with `options` (`check --compat aws`).
///
/// # Errors
/// As [`load`].
pub fn load_with(source: &ConfigSource, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    match source {
        ConfigSource::File(path) if *options == LoadOptions::default() => crate::load::load_config(path),
        ConfigSource::File(path) => portcullis_config::load_with(path, options),
        ConfigSource::Definition { kind, path, overlay } => {
            load_definition(*kind, path, overlay.as_deref(), options)
        }
    }
}

/// [`load`] for async callers (a reload): no runtime thread blocks while files are parsed.
///
/// # Errors
/// As [`load`].
pub async fn load_async(source: &ConfigSource) -> Result<Config, ConfigErrors> {
    match source {
        ConfigSource::File(path) => crate::load::load_config_async(path).await,
        ConfigSource::Definition { .. } => {
            let source = source.clone();
            tokio::task::spawn_blocking(move || load(&source)).await.unwrap_or_else(|_| {
                Err(ConfigErrors::single(ConfigError::at(
                    "",
                    Span::default(),
                    "",
                    "the definition loader crashed",
                )))
            })
        }
    }
}

/// Imports `path` as a `kind` definition, lays `overlay` over it, and returns the imported
/// native YAML with every diagnostic (`portcullis import`). Environment variables are read for
/// serverless `${env:...}`.
///
/// # Errors
/// The definition or the overlay cannot be read or parsed.
pub fn import(kind: SourceKind, path: &Path, overlay: Option<&Path>) -> Result<Imported, ConfigErrors> {
    let options = ImportOptions::default().with_env(|name| std::env::var(name).ok());
    let imported = portcullis_import::import_file(kind, path, &options)
        .map_err(|e| diagnostics_as_errors(&e.diagnostics))?;
    let Some(overlay) = overlay else { return Ok(imported) };
    let origin = overlay.display().to_string();
    let text = portcullis_config::read_config_file(overlay)
        .map_err(|problem| ConfigErrors::single(ConfigError::at(&origin, Span::default(), "", problem)))?;
    portcullis_import::merge_overlay(&imported, &text, &origin)
        .map_err(|e| diagnostics_as_errors(&e.diagnostics))
}

fn load_definition(
    kind: SourceKind,
    path: &Path,
    overlay: Option<&Path>,
    options: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    let imported = import(kind, path, overlay)?;
    if imported.has_errors() {
        let errors: Vec<Diagnostic> =
            imported.diagnostics.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
        return Err(diagnostics_as_errors(&errors));
    }
    let origin = format!("{} (imported)", path.display());
    let mut config =
        portcullis_config::from_str_in_with(&imported.yaml, &origin, &imported.base_dir, options)
            .map_err(|errors| ConfigErrors(errors.0.into_iter().map(|e| traced(e, &imported)).collect()))?;
    let mut warnings: Vec<ConfigError> = imported
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(diagnostic_as_error)
        .collect();
    warnings.extend(config.warnings.drain(..).map(|w| traced(w, &imported)));
    config.warnings = warnings;
    Ok(config)
}

/// A problem in the imported YAML, moved to the definition (or overlay) line it came from.
fn traced(mut error: ConfigError, imported: &Imported) -> ConfigError {
    if let Some(pos) = imported.source_of(error.line) {
        error.origin = pos.origin.to_string();
        error.line = pos.line;
        error.column = pos.column;
    }
    error
}

fn diagnostic_as_error(d: &Diagnostic) -> ConfigError {
    let mut error = ConfigError::at(&d.origin, Span { line: d.line, column: d.column }, &d.path, &d.message);
    error.suggestion = d.help.clone();
    error
}

fn diagnostics_as_errors(diagnostics: &[Diagnostic]) -> ConfigErrors {
    ConfigErrors(diagnostics.iter().map(diagnostic_as_error).collect())
}

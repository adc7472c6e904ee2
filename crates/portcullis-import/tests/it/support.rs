//! Shared helpers: fixtures, diagnostics in a compact form, and loading the output with the
//! native config loader.

use std::path::{Path, PathBuf};

use portcullis_import::{ImportOptions, Imported, SourceKind};

/// A fixture's path (`tests/fixtures/<rel>`).
pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// A fixture's text.
pub(crate) fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

/// Imports a fixture with default options, naming it `rel` in diagnostics.
pub(crate) fn import(kind: SourceKind, rel: &str) -> Imported {
    import_with(kind, rel, &ImportOptions::default())
}

/// Imports a fixture, naming it `rel` in diagnostics.
pub(crate) fn import_with(kind: SourceKind, rel: &str, options: &ImportOptions) -> Imported {
    portcullis_import::import(kind, &read(rel), rel, options).unwrap_or_else(|e| panic!("{rel}:\n{e}"))
}

/// `LINE:COLUMN severity: message` for each diagnostic.
pub(crate) fn diagnostics(imported: &Imported) -> Vec<String> {
    imported
        .diagnostics
        .iter()
        .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.severity, d.message))
        .collect()
}

/// Only the positions and severities, e.g. `14:25 error`.
pub(crate) fn positions(imported: &Imported) -> Vec<String> {
    imported.diagnostics.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.severity)).collect()
}

/// Asserts the YAML contains `fragment` (a run of whole lines).
#[track_caller]
pub(crate) fn assert_has(yaml: &str, fragment: &str) {
    assert!(yaml.contains(fragment), "missing:\n{fragment}\n--- in ---\n{yaml}");
}

/// Loads the output with the native config loader (panics with the text when it does not load).
pub(crate) fn load(imported: &Imported) -> portcullis_config::Config {
    portcullis_config::from_str_in(&imported.yaml, "imported.yaml", &imported.base_dir)
        .unwrap_or_else(|e| panic!("the output does not load:\n{e}\n--- yaml ---\n{}", imported.yaml))
}

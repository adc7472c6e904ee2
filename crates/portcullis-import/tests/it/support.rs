//! Shared helpers: fixtures, diagnostics in a compact form, and loading the output with the
//! native config loader.

use std::path::{Path, PathBuf};

use portcullis_config::document;
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

/// Loads the output with `portcullis_config::from_str_in`, as the binary will.
///
/// needs: cors, stage_variables, response_parameters. These keys are being added to the
/// loader on main; until then they are removed first (and `${stageVariables.NAME}` in URLs
/// replaced by the variable's value), so that everything else is still checked.
#[track_caller]
pub(crate) fn load(imported: &Imported) -> portcullis_config::Config {
    let yaml = without_pending_keys(&imported.yaml);
    portcullis_config::from_str_in(&yaml, "imported.yaml", &imported.base_dir)
        .unwrap_or_else(|e| panic!("the output does not load:\n{e}\n--- yaml ---\n{}", imported.yaml))
}

/// `yaml` without the keys `load` documents, stage variables substituted.
pub(crate) fn without_pending_keys(yaml: &str) -> String {
    let doc = document::parse(yaml, "imported.yaml").unwrap();
    let vars: Vec<(String, String)> = doc
        .root()
        .get("stage_variables")
        .map(|v| {
            v.entries()
                .map(|e| (e.key().to_owned(), e.value().scalar().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let mut skip_deeper_than: Option<usize> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(level) = skip_deeper_than {
            if line.trim().is_empty() || indent > level {
                continue;
            }
            skip_deeper_than = None;
        }
        let key = line.trim_start();
        let top = indent == 0 && (key.starts_with("cors:") || key.starts_with("stage_variables:"));
        let route_level = indent == 4 && key.starts_with("response_parameters:");
        if top || route_level {
            skip_deeper_than = Some(indent);
            continue;
        }
        let mut line = line.to_owned();
        for (name, value) in &vars {
            line = line.replace(&format!("${{stageVariables.{name}}}"), value);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

//! A native YAML overlay laid over an import: what a definition cannot say (the listen
//! address, a local `jwks_file` or `issuer: dev`, how a function named only by its ARN runs).
//!
//! Overlay keys win. Mappings merge key by key at every level, so an overlay can set only
//! `authorizers.auth0.jwks_file` and keep the imported issuer and audience. A null value
//! (`default_authorizer: ~`) removes the imported key. Keys that exclude each other are kept
//! consistent: an overlay's `http` on a route replaces an imported `function` (and the other
//! way round); an overlay's `invoke_url` replaces an imported `runtime`, `handler`, `command`
//! and `dir`; a different authorizer `type` replaces the whole authorizer.

use std::sync::Arc;

use portcullis_config::Span;
use portcullis_config::document::{self, Kind};

use crate::diagnostic::{Diagnostic, ImportErrors, Severity};
use crate::emit;
use crate::output::Imported;
use crate::tree::{SourcePos, TValue, Tree};

/// Sections whose entries say where they came from in the output.
const SECTIONS: &[&str] = &["routes", "authorizers", "functions"];

/// Route integrations: one of them per route.
const INTEGRATIONS: &[&str] = &["http", "function", "respond"];
/// JWT key sources: one of them per authorizer.
const KEY_SOURCES: &[&str] = &["jwks_uri", "jwks_file", "public_key_file"];

/// Lays the overlay `overlay_source` (native Portcullis YAML; `overlay_origin` names it) over
/// `imported`. The result's diagnostics are the imported ones the overlay does not resolve
/// (an error such as "function `orders` has no runtime" goes once the overlay gives
/// `functions.orders.runtime`); [`Imported::source_of`] points into either file.
///
/// Relative paths in the overlay are kept as written and resolve, like the imported ones,
/// against [`Imported::base_dir`]: keep the overlay beside the definition, or use absolute paths.
///
/// # Errors
/// The overlay is not YAML, or is not a mapping at the top level.
pub fn merge_overlay(
    imported: &Imported,
    overlay_source: &str,
    overlay_origin: &str,
) -> Result<Imported, ImportErrors> {
    let doc = document::parse(overlay_source, overlay_origin).map_err(|e| {
        ImportErrors::single(Diagnostic::new(
            Severity::Error,
            &e.origin,
            Span { line: e.line, column: e.column },
            &e.path,
            e.problem,
        ))
    })?;
    let root = doc.root();
    if root.kind() != Kind::Map {
        let d = Diagnostic::new(
            Severity::Error,
            overlay_origin,
            root.span(),
            "",
            "an overlay is a native Portcullis config: a mapping at the top level",
        );
        return Err(ImportErrors::single(d));
    }
    let origin: Arc<str> = Arc::from(overlay_origin);
    let overlay = tree_of(root, root.span(), &origin);
    let mut merged = imported.tree.clone();
    merge(&mut merged, overlay.clone(), &[]);
    let dropped = drop_unused_functions(&mut merged);
    let mut diagnostics: Vec<Diagnostic> = imported
        .diagnostics
        .iter()
        .filter(|d| !resolved(d, &overlay) && !about_dropped_function(d, &dropped))
        .cloned()
        .collect();
    for d in doc.duplicate_keys() {
        diagnostics.push(Diagnostic::new(
            Severity::Warning,
            &d.origin,
            Span { line: d.line, column: d.column },
            &d.path,
            format!("{}; the first is used", d.problem),
        ));
    }
    let mut header = imported.header.clone();
    header.push(format!("Merged with the overlay {overlay_origin}: its keys win."));
    Ok(Imported::new(header, merged, diagnostics, &imported.base_dir))
}

/// Removes functions that say nothing about how they run and that no route or authorizer
/// uses any more (the overlay sent their routes elsewhere); returns their names.
fn drop_unused_functions(tree: &mut Tree) -> Vec<String> {
    let uses = |section: &str| -> Vec<String> {
        let entries = match tree.get(section).map(|t| &t.value) {
            Some(TValue::Map(entries)) => entries.as_slice(),
            _ => &[],
        };
        entries
            .iter()
            .filter_map(|(_, e)| match e.get("function").map(|f| &f.value) {
                Some(TValue::Str(name)) => Some(name.clone()),
                _ => None,
            })
            .collect()
    };
    let used: Vec<String> = uses("routes").into_iter().chain(uses("authorizers")).collect();
    let Some(functions) = base_entry(tree, "functions") else {
        return Vec::new();
    };
    let TValue::Map(entries) = &mut functions.value else {
        return Vec::new();
    };
    let mut dropped = Vec::new();
    entries.retain(|(name, f)| {
        let unknown = f.get("runtime").is_none() && f.get("invoke_url").is_none();
        let keep = !unknown || used.contains(name);
        if !keep {
            dropped.push(name.clone());
        }
        keep
    });
    if entries.is_empty() {
        tree.remove("functions");
    }
    dropped
}

/// Whether `d` is about one of the `dropped` functions.
fn about_dropped_function(d: &Diagnostic, dropped: &[String]) -> bool {
    d.resolved_by.iter().any(|p| p.len() == 3 && p[0] == "functions" && dropped.contains(&p[1]))
}

/// Whether the overlay writes one of the paths that resolve `d`.
fn resolved(d: &Diagnostic, overlay: &Tree) -> bool {
    d.resolved_by.iter().any(|path| overlay.at_path(path).is_some_and(|t| !is_null(t)))
}

/// An overlay node as a [`Tree`], every node with its position: a scalar's own, a mapping's
/// or list's `at` (the key it is written under, so that `# from` names the key's line).
fn tree_of(node: document::Node<'_>, at: Span, origin: &Arc<str>) -> Tree {
    let pos = SourcePos { origin: origin.clone(), line: at.line, column: at.column };
    let tree = match node.kind() {
        Kind::Scalar => {
            let text = node.scalar().unwrap_or_default();
            if node.is_null() {
                Tree::raw("~")
            } else if node.is_plain() && emit::reads_as_non_string(text) {
                Tree::raw(text)
            } else {
                Tree::str(text)
            }
        }
        Kind::Seq => Tree {
            value: TValue::Seq(node.items().map(|i| tree_of(i, i.span(), origin)).collect()),
            ..Tree::map()
        },
        Kind::Map => {
            let entry = |e: document::Entry<'_>| {
                let v = e.value();
                let at = if v.kind() == Kind::Scalar { v.span() } else { e.key_span() };
                (e.key().to_owned(), tree_of(v, at, origin))
            };
            Tree { value: TValue::Map(node.entries().map(entry).collect()), ..Tree::map() }
        }
    };
    tree.at(Some(pos))
}

fn is_null(t: &Tree) -> bool {
    matches!(&t.value, TValue::Raw(s) if s == "~")
}

/// Merges `over` into `base`; `path` is where `base` sits in the config.
fn merge(base: &mut Tree, over: Tree, path: &[&str]) {
    let (TValue::Map(_), TValue::Map(over_entries)) = (&base.value, &over.value) else {
        *base = over;
        return;
    };
    if path.len() == 2 && path[0] == "authorizers" && type_changes(base, &over) {
        *base = over;
        return;
    }
    let over_entries = over_entries.clone();
    exclusive_keys(base, &over, path);
    for (key, value) in over_entries {
        if is_null(&value) {
            base.remove(&key);
            continue;
        }
        let child_path: Vec<&str> = path.iter().copied().chain(std::iter::once(key.as_str())).collect();
        let shown = child_path.len() == 2 && SECTIONS.contains(&child_path[0]);
        match base_entry(base, &key) {
            Some(existing) => {
                let mut from = existing.from.clone();
                merge(existing, value.clone(), &child_path);
                from.extend(value.from.iter().take(1).cloned());
                if shown {
                    existing.from = from;
                    existing.show_from = true;
                }
            }
            None => {
                let value = if shown { value.shown_from() } else { value };
                base.set(key, value);
            }
        }
    }
}

fn base_entry<'t>(base: &'t mut Tree, key: &str) -> Option<&'t mut Tree> {
    match &mut base.value {
        TValue::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn type_changes(base: &Tree, over: &Tree) -> bool {
    match (base.get("type"), over.get("type")) {
        (Some(a), Some(b)) => a.value != b.value,
        _ => false,
    }
}

/// Removes imported keys an overlay key excludes.
fn exclusive_keys(base: &mut Tree, over: &Tree, path: &[&str]) {
    let writes = |k: &str| over.get(k).is_some_and(|v| !is_null(v));
    match path {
        ["routes", _] if INTEGRATIONS.iter().any(|k| writes(k)) => {
            INTEGRATIONS.iter().filter(|k| !writes(k)).for_each(|k| base.remove(k));
        }
        ["functions", _] => {
            if writes("invoke_url") || writes("runtime") {
                // The import's "how it runs is not in the definition" no longer applies.
                base.notes.clear();
            }
            if writes("invoke_url") {
                ["runtime", "handler", "command", "dir"]
                    .iter()
                    .filter(|k| !writes(k))
                    .for_each(|k| base.remove(k));
            } else if writes("runtime") {
                base.remove("invoke_url");
            }
        }
        ["authorizers", _]
            if KEY_SOURCES.iter().any(|k| writes(k))
                || over.get("issuer").is_some_and(|i| i.value == TValue::Str("dev".into())) =>
        {
            KEY_SOURCES.iter().filter(|k| !writes(k)).for_each(|k| base.remove(k));
        }
        _ => {}
    }
}

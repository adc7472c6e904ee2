//! The definition being read: an owned tree of positioned values (so that intrinsics and
//! variables can be replaced by what they resolve to, keeping the position they were written
//! at), and the reading context that collects diagnostics.

use std::fmt::Write as _;

use portcullis_config::Span;
use portcullis_config::document::{self, Kind};

use crate::diagnostic::{Diagnostic, ImportErrors, Severity};
use crate::options::ImportOptions;

/// One value of the definition with its position, tag and YAML path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Val {
    pub(crate) kind: VKind,
    pub(crate) span: Span,
    /// The tag as written (`!Ref`), if any.
    pub(crate) tag: Option<String>,
    /// Where it is, e.g. `paths."/pets".get` (see [`path_key`]).
    pub(crate) path: String,
}

/// What a [`Val`] holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VKind {
    /// A scalar as written; `plain` when unquoted (only plain scalars are numbers, booleans
    /// or null).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Val>),
    Map(Vec<(Key, Val)>),
}

/// A mapping key and its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub(crate) text: String,
    pub(crate) span: Span,
}

/// `parent.key`, quoting keys that are not plain words (`paths."/pets/{id}".get`), the way
/// the config loader writes YAML paths.
pub(crate) fn path_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let mut s = parent.to_owned();
    if !s.is_empty() {
        s.push('.');
    }
    if plain {
        s.push_str(key);
    } else {
        let _ = write!(s, "{key:?}");
    }
    s
}

impl Val {
    /// Converts a parsed document node (and everything under it).
    pub(crate) fn from_node(node: document::Node<'_>, path: String) -> Val {
        let kind = match node.kind() {
            Kind::Scalar => {
                VKind::Scalar { text: node.scalar().unwrap_or_default().to_owned(), plain: node.is_plain() }
            }
            Kind::Seq => VKind::Seq(
                node.items()
                    .enumerate()
                    .map(|(i, item)| Val::from_node(item, format!("{path}[{i}]")))
                    .collect(),
            ),
            Kind::Map => VKind::Map(
                node.entries()
                    .map(|e| {
                        let key = Key { text: e.key().to_owned(), span: e.key_span() };
                        (key, Val::from_node(e.value(), path_key(&path, e.key())))
                    })
                    .collect(),
            ),
        };
        Val { kind, span: node.span(), tag: node.tag().map(str::to_owned), path }
    }

    /// A plain string value standing where `at` was written (the result of resolving it).
    pub(crate) fn string_at(text: impl Into<String>, at: &Val) -> Val {
        Val {
            kind: VKind::Scalar { text: text.into(), plain: false },
            span: at.span,
            tag: None,
            path: at.path.clone(),
        }
    }

    /// Whether this is a plain null scalar (`~`, `null`, nothing).
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.kind, VKind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
            && self.tag.is_none()
    }

    /// The value under `key`; a null value counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&Val> {
        self.entry(key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The entry under `key` (even with a null value).
    pub(crate) fn entry(&self, key: &str) -> Option<(&Key, &Val)> {
        match &self.kind {
            VKind::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Where `key` is written in this mapping, or this value's own position.
    pub(crate) fn key_span(&self, key: &str) -> Span {
        self.entry(key).map_or(self.span, |(k, _)| k.span)
    }

    /// The entries of a mapping (empty for anything else).
    pub(crate) fn entries(&self) -> &[(Key, Val)] {
        match &self.kind {
            VKind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a sequence (empty for anything else).
    pub(crate) fn items(&self) -> &[Val] {
        match &self.kind {
            VKind::Seq(items) => items,
            _ => &[],
        }
    }

    /// A non-null scalar's text, unless it carries a local tag (`!Ref x` is an intrinsic to
    /// resolve, not the string `x`; core tags such as `!!str` are fine).
    pub(crate) fn str(&self) -> Option<&str> {
        let untagged = self.tag.as_deref().is_none_or(|t| t.starts_with("!!"));
        match &self.kind {
            VKind::Scalar { text, .. } if !self.is_null() && untagged => Some(text),
            _ => None,
        }
    }

    /// A boolean: plain `true`/`false` (any case), as YAML and JSON write them.
    pub(crate) fn bool(&self) -> Option<bool> {
        match &self.kind {
            VKind::Scalar { text, plain: true } => match text.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A whole number, plain or quoted (`300` and `"300"`: AWS documents some numbers as
    /// strings and writes them as numbers in its examples).
    pub(crate) fn uint(&self) -> Option<u64> {
        self.str()?.trim().parse().ok()
    }

    /// A list of strings; a single string counts as a one-item list. `None` if any item is
    /// not a string.
    pub(crate) fn strings(&self) -> Option<Vec<String>> {
        match &self.kind {
            VKind::Seq(items) => items.iter().map(|i| i.str().map(str::to_owned)).collect(),
            _ => self.str().map(|s| vec![s.to_owned()]),
        }
    }

    /// A short description for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            VKind::Map(_) => "a mapping".into(),
            VKind::Seq(_) => "a list".into(),
            VKind::Scalar { .. } if self.is_null() => "nothing".into(),
            VKind::Scalar { text, .. } => match &self.tag {
                Some(tag) => format!("{tag} {text:?}"),
                None => format!("{text:?}"),
            },
        }
    }
}

/// The reading context: where the definition came from, the options, and every diagnostic.
pub(crate) struct Cx<'o> {
    pub(crate) origin: String,
    pub(crate) options: &'o ImportOptions,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'o> Cx<'o> {
    pub(crate) fn new(origin: &str, options: &'o ImportOptions) -> Self {
        Self { origin: origin.to_owned(), options, diagnostics: Vec::new() }
    }

    /// Records a diagnostic at `span`/`path` and returns it for a hint.
    pub(crate) fn report(
        &mut self,
        severity: Severity,
        span: Span,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::new(severity, &self.origin, span, path, message));
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last]
    }

    /// A warning at a value.
    pub(crate) fn warn(&mut self, at: &Val, message: impl Into<String>) -> &mut Diagnostic {
        self.report(Severity::Warning, at.span, &at.path.clone(), message)
    }

    /// A warning at the key `key` of the mapping `map`.
    pub(crate) fn warn_key(&mut self, map: &Val, key: &str, message: impl Into<String>) -> &mut Diagnostic {
        let path = path_key(&map.path, key);
        self.report(Severity::Warning, map.key_span(key), &path, message)
    }

    /// An error at a value.
    pub(crate) fn error(&mut self, at: &Val, message: impl Into<String>) -> &mut Diagnostic {
        self.report(Severity::Error, at.span, &at.path.clone(), message)
    }

    /// An error at the key `key` of the mapping `map`.
    pub(crate) fn error_key(&mut self, map: &Val, key: &str, message: impl Into<String>) -> &mut Diagnostic {
        let path = path_key(&map.path, key);
        self.report(Severity::Error, map.key_span(key), &path, message)
    }

    /// "expected X, found Y" as a warning: the value is ignored.
    pub(crate) fn expected(&mut self, at: &Val, what: &str) {
        let found = at.describe();
        self.warn(at, format!("expected {what}, found {found}; ignored"));
    }

    /// Stops the import: this error plus everything found so far.
    pub(crate) fn fatal(&mut self, span: Span, path: &str, message: impl Into<String>) -> ImportErrors {
        let mut diagnostics = std::mem::take(&mut self.diagnostics);
        diagnostics.insert(0, Diagnostic::new(Severity::Error, &self.origin, span, path, message));
        ImportErrors { diagnostics }
    }
}

/// Parses `source` (YAML or JSON) into a [`Val`] tree; duplicate keys become warnings (the
/// first value is kept, as the config loader does).
pub(crate) fn parse(cx: &mut Cx<'_>, source: &str) -> Result<Val, ImportErrors> {
    let doc = document::parse(source, &cx.origin).map_err(|e| {
        ImportErrors::single(Diagnostic::new(
            Severity::Error,
            &e.origin,
            Span { line: e.line, column: e.column },
            &e.path,
            e.problem,
        ))
    })?;
    for d in doc.duplicate_keys() {
        cx.report(
            Severity::Warning,
            Span { line: d.line, column: d.column },
            &d.path,
            format!("{}; the first is used", d.problem),
        );
    }
    Ok(Val::from_node(doc.root(), String::new()))
}

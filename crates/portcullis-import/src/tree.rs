//! The native config as an ordered tree that remembers, per node, which source positions it
//! came from: what [`emit`](crate::emit) renders as commented YAML, and what the overlay merge
//! works on.

use std::fmt;
use std::sync::Arc;

/// A position in a source file: the definition, or an overlay.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourcePos {
    /// The file (or name) given to the import or the merge.
    pub origin: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// One node of the native config.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tree {
    pub(crate) value: TValue,
    /// Where it came from; several when an overlay changed an imported entry.
    pub(crate) from: Vec<SourcePos>,
    /// Whether the rendered YAML says where it came from (`# from api.yaml:12`): set on each
    /// route, authorizer and function.
    pub(crate) show_from: bool,
    /// Comment lines written above it.
    pub(crate) notes: Vec<String>,
}

/// What a [`Tree`] node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TValue {
    /// A string: quoted when YAML would read it as something else.
    Str(String),
    /// A number or boolean, written as is.
    Raw(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

impl Tree {
    fn new(value: TValue) -> Self {
        Self { value, from: Vec::new(), show_from: false, notes: Vec::new() }
    }

    /// A string.
    pub(crate) fn str(s: impl Into<String>) -> Self {
        Self::new(TValue::Str(s.into()))
    }

    /// A number or boolean, written as is.
    pub(crate) fn raw(s: impl ToString) -> Self {
        Self::new(TValue::Raw(s.to_string()))
    }

    /// A list of strings.
    pub(crate) fn strings<S: AsRef<str>>(items: &[S]) -> Self {
        Self::new(TValue::Seq(items.iter().map(|s| Tree::str(s.as_ref())).collect()))
    }

    /// An empty mapping.
    pub(crate) fn map() -> Self {
        Self::new(TValue::Map(Vec::new()))
    }

    /// Adds `key: value` to a mapping (replacing an existing `key`).
    pub(crate) fn set(&mut self, key: impl Into<String>, value: Tree) {
        if let TValue::Map(entries) = &mut self.value {
            let key = key.into();
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => *v = value,
                None => entries.push((key, value)),
            }
        }
    }

    /// Builder form of [`Tree::set`].
    pub(crate) fn with(mut self, key: impl Into<String>, value: Tree) -> Self {
        self.set(key, value);
        self
    }

    /// Adds `key: value` when there is a value.
    pub(crate) fn with_opt(self, key: &str, value: Option<Tree>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Records where this node came from.
    pub(crate) fn at(mut self, pos: Option<SourcePos>) -> Self {
        self.from.extend(pos);
        self
    }

    /// Says where it came from in a comment above it.
    pub(crate) fn shown_from(mut self) -> Self {
        self.show_from = true;
        self
    }

    /// Adds a comment line above it.
    pub(crate) fn note(mut self, line: impl Into<String>) -> Self {
        self.notes.push(line.into());
        self
    }

    /// The value under `key` of a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Tree> {
        match &self.value {
            TValue::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at `path` (keys from here).
    pub(crate) fn at_path<S: AsRef<str>>(&self, path: &[S]) -> Option<&Tree> {
        path.iter().try_fold(self, |t, k| t.get(k.as_ref()))
    }

    /// Removes `key` from a mapping.
    pub(crate) fn remove(&mut self, key: &str) {
        if let TValue::Map(entries) = &mut self.value {
            entries.retain(|(k, _)| k != key);
        }
    }
}

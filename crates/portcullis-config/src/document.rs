//! A read-only view of the positioned YAML tree the config loader is built on, for crates that
//! read YAML (or JSON) documents of their own and report problems at file:line:column:
//! `portcullis-import` reads OpenAPI definitions, SAM templates and `serverless.yml` with it.
//!
//! It is the same reader as the loader's, with the same safety limits (duplicate keys reported,
//! alias expansion capped at 250,000 nodes and 32 MiB of text, nesting at 64 levels, one
//! document), and it keeps
//! what the loader ignores: each node's tag as written (`!Ref`, `!GetAtt`, `!!str`), so
//! CloudFormation's short-form intrinsics can be told apart from plain strings.
//!
//! ```
//! use portcullis_config::document::{self, Kind};
//!
//! let doc = document::parse("Handler: !Ref HandlerName\nEvents: [a, b]\n", "template.yaml").unwrap();
//! let handler = doc.root().get("Handler").unwrap();
//! assert_eq!(handler.tag(), Some("!Ref"));
//! assert_eq!(handler.scalar(), Some("HandlerName"));
//! assert_eq!((handler.span().line, handler.span().column), (1, 15)); // the value, after its tag
//! assert_eq!(doc.root().get("Events").unwrap().kind(), Kind::Seq);
//! ```

use crate::error::{ConfigError, Span};
use crate::yaml;

/// A parsed document: its root node and the duplicate keys found in it.
#[derive(Debug, Clone)]
pub struct Document {
    root: yaml::Node,
    duplicates: Vec<ConfigError>,
}

/// Parses one YAML document (JSON is YAML too). `origin` names the source in errors.
///
/// An empty document (or one with only comments) is an empty mapping. Duplicate keys do not
/// stop the parse: the first value is kept and each duplicate is listed by
/// [`Document::duplicate_keys`].
///
/// # Errors
/// A syntax error, a second document, an alias to an unknown anchor, or a document over the
/// size or depth limits: one error with its position.
pub fn parse(source: &str, origin: &str) -> Result<Document, ConfigError> {
    let (root, duplicates) =
        yaml::parse(source).map_err(|e| ConfigError::at(origin, e.span, e.path, e.problem))?;
    let duplicates =
        duplicates.into_iter().map(|d| ConfigError::at(origin, d.span, d.path, d.problem)).collect();
    Ok(Document { root, duplicates })
}

impl Document {
    /// The root node.
    pub fn root(&self) -> Node<'_> {
        Node(&self.root)
    }

    /// One error per duplicate key (its position, and where the kept key was written).
    pub fn duplicate_keys(&self) -> &[ConfigError] {
        &self.duplicates
    }
}

/// What a node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A scalar: a string as written, whatever it looks like (`5`, `true`, `~` are scalars too).
    Scalar,
    /// A sequence (`[a, b]` or `- a`).
    Seq,
    /// A mapping.
    Map,
}

/// One node of a [`Document`], with its position and tag.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a>(&'a yaml::Node);

impl<'a> Node<'a> {
    /// Scalar, sequence or mapping.
    pub fn kind(self) -> Kind {
        match self.0.kind {
            yaml::Kind::Scalar { .. } => Kind::Scalar,
            yaml::Kind::Seq(_) => Kind::Seq,
            yaml::Kind::Map(_) => Kind::Map,
        }
    }

    /// Where the node starts (1-based line and column, in characters). A tagged node starts at
    /// its content, after the tag (`HandlerName` in `!Ref HandlerName`); an alias is at the
    /// alias's position.
    pub fn span(self) -> Span {
        self.0.span
    }

    /// The tag as written, e.g. `!Ref`, `!GetAtt`, `!!str`; `None` when untagged.
    pub fn tag(self) -> Option<&'a str> {
        self.0.tag.as_deref()
    }

    /// A scalar's text after escape processing; `None` for sequences and mappings.
    pub fn scalar(self) -> Option<&'a str> {
        match &self.0.kind {
            yaml::Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is a plain (unquoted) scalar. Only plain scalars can be numbers, booleans
    /// or null: `"true"` is a string, `true` is not.
    pub fn is_plain(self) -> bool {
        matches!(self.0.kind, yaml::Kind::Scalar { plain: true, .. })
    }

    /// Whether this is a plain null scalar (`~`, `null`, or nothing at all).
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// A sequence's items; empty for anything else.
    pub fn items(self) -> impl Iterator<Item = Node<'a>> {
        let items: &'a [yaml::Node] = match &self.0.kind {
            yaml::Kind::Seq(items) => items,
            _ => &[],
        };
        items.iter().map(Node)
    }

    /// A mapping's entries in the order written (merge-key entries after them); empty for
    /// anything else.
    pub fn entries(self) -> impl Iterator<Item = Entry<'a>> {
        let entries: &'a [yaml::Entry] = match &self.0.kind {
            yaml::Kind::Map(entries) => entries,
            _ => &[],
        };
        entries.iter().map(Entry)
    }

    /// The value under `key` in a mapping.
    pub fn get(self, key: &str) -> Option<Node<'a>> {
        self.entries().find(|e| e.key() == key).map(|e| e.value())
    }
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a>(&'a yaml::Entry);

impl<'a> Entry<'a> {
    /// The key's text.
    pub fn key(self) -> &'a str {
        &self.0.key
    }

    /// Where the key is written.
    pub fn key_span(self) -> Span {
        self.0.key_span
    }

    /// The value.
    pub fn value(self) -> Node<'a> {
        Node(&self.0.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_kept_on_scalars_sequences_and_mappings() {
        let doc =
            parse("a: !Join [':', [x, !GetAtt F.Arn]]\nb: !Custom {k: v}\nc: plain\n", "t.yaml").unwrap();
        let root = doc.root();
        let join = root.get("a").unwrap();
        assert_eq!((join.kind(), join.tag()), (Kind::Seq, Some("!Join")));
        let getatt = join.items().nth(1).unwrap().items().nth(1).unwrap();
        assert_eq!((getatt.tag(), getatt.scalar()), (Some("!GetAtt"), Some("F.Arn")));
        assert_eq!(root.get("b").unwrap().tag(), Some("!Custom"));
        assert_eq!(root.get("c").unwrap().tag(), None);
    }

    #[test]
    fn duplicate_keys_are_listed_with_the_origin() {
        let doc = parse("a: 1\na: 2\n", "t.yaml").unwrap();
        assert_eq!(doc.root().get("a").unwrap().scalar(), Some("1"));
        assert_eq!(doc.duplicate_keys().len(), 1);
        assert_eq!(
            doc.duplicate_keys()[0].to_string(),
            "t.yaml:2:1: a: duplicate key \"a\" (first written at line 1, column 1)"
        );
    }

    #[test]
    fn a_tagged_config_value_loads_as_before() {
        let config = crate::from_str("listen: !!str 127.0.0.1:8081\n", "t.yaml").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8081");
    }
}

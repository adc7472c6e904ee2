//! YAML text -> a small tree of nodes that remember where they were written.
//!
//! Built from the parser events of `granit-parser` (the parser serde-saphyr uses, re-exported
//! by it) instead of deserializing with serde directly, because serde stops at the first error
//! and loses positions inside tagged enums; this tree lets the decoder report every problem at
//! once, each at the exact key or value. It keeps serde-saphyr's safety defaults: duplicate
//! keys are errors, alias expansion is budgeted (billion laughs), nesting depth is bounded.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span as YSpan, Tag};

use crate::decode::YPath;
use crate::error::Span;

/// Upper bound on nodes, counting alias expansions, so `&a [*b, *b, ...]` bombs are refused.
const MAX_NODES: usize = 250_000;
/// Upper bound on the text a document holds once its aliases are expanded (scalars and keys).
/// Counting nodes alone lets a small file alias one large string a hundred thousand times: a
/// 104 KB file could ask for gigabytes. The largest real configs (10,000 routes) hold about 1 MB.
pub(crate) const MAX_EXPANDED_BYTES: usize = 32 * 1024 * 1024;
/// Upper bound on nesting depth.
const MAX_DEPTH: usize = 64;

/// One YAML node with its position.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) span: Span,
    /// The tag as written (`!Ref`, `!!str`), if any. The config loader ignores tags; the
    /// public `document` view exposes them (CloudFormation's short forms are tags).
    pub(crate) tag: Option<String>,
    /// Number of nodes in this subtree (for the alias budget).
    weight: usize,
    /// Bytes of text (scalars and keys) in this subtree (for the alias budget).
    bytes: usize,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A scalar as written (after escape processing), and whether it was plain (unquoted).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Node,
}

impl Node {
    /// Whether this is a plain null scalar (`~`, `null`, or nothing at all).
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short description of what this node is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Map(_) => "a mapping".into(),
            Kind::Seq(_) => "a list".into(),
            Kind::Scalar { .. } if self.is_null() => "nothing (null)".into(),
            Kind::Scalar { text, .. } => format!("{text:?}"),
        }
    }
}

/// A YAML problem found while building the tree.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub(crate) span: Span,
    pub(crate) path: String,
    pub(crate) problem: String,
}

fn span_of(s: &YSpan) -> Span {
    Span { line: s.start.line(), column: s.start.col() + 1 }
}

fn tag_text(tag: Option<&Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.original_handle(), t.suffix()))
}

fn scan_error(e: &ScanError) -> YamlError {
    YamlError {
        span: Span { line: e.marker().line(), column: e.marker().col() + 1 },
        path: String::new(),
        problem: format!("invalid YAML: {}", e.info()),
    }
}

/// Parses `source` into one node. An empty document is an empty mapping.
///
/// Structural YAML errors (syntax, several documents, unknown aliases, budgets) stop the
/// parse and are returned alone (`Err`). Duplicate keys do not: the first value is kept and
/// the duplicates are returned beside the tree, so the rest of the file is still checked.
pub(crate) fn parse(source: &str) -> Result<(Node, Vec<YamlError>), YamlError> {
    let mut b = Builder {
        parser: Parser::new_from_str(source),
        anchors: HashMap::new(),
        nodes: 0,
        bytes: 0,
        duplicates: Vec::new(),
    };
    let root = b.document()?;
    Ok((root, b.duplicates))
}

struct Builder<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    bytes: usize,
    duplicates: Vec<YamlError>,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Option<(Event<'a>, YSpan)>, YamlError> {
        loop {
            match self.parser.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(scan_error(&e)),
                Some(Ok((ev, sp))) => match ev {
                    Event::StreamStart
                    | Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::SequenceEnd
                    | Event::MappingStart(..)
                    | Event::MappingEnd
                    | Event::DocumentStart(..)
                    | Event::DocumentEnd
                    | Event::StreamEnd
                    | Event::Alias(_) => return Ok(Some((ev, sp))),
                    // Comments and anchor metadata are presentation only.
                    _ => continue,
                },
            }
        }
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let empty = |span| Node { kind: Kind::Map(Vec::new()), span, tag: None, weight: 1, bytes: 0 };
        let mut root = None;
        let mut documents = 0;
        while let Some((ev, sp)) = self.next()? {
            match ev {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        // Point at the second document's content rather than its start marker.
                        let span = match self.next() {
                            Ok(Some((Event::DocumentEnd | Event::StreamEnd, _))) | Err(_) => span_of(&sp),
                            Ok(Some((_, next))) => span_of(&next),
                            Ok(None) => span_of(&sp),
                        };
                        return Err(YamlError {
                            span,
                            path: String::new(),
                            problem: "expected a single YAML document, found a second one".into(),
                        });
                    }
                }
                other => {
                    let node = self.node(other, sp, 0, &YPath::default())?;
                    root = Some(node);
                }
            }
        }
        let root = root.unwrap_or_else(|| empty(Span { line: 1, column: 1 }));
        // A document with only comments is a null scalar: treat as empty mapping.
        if root.is_null() {
            return Ok(empty(root.span));
        }
        Ok(root)
    }

    fn count(&mut self, weight: usize, bytes: usize, span: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(weight);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                span,
                path: String::new(),
                problem: format!("document too large: more than {MAX_NODES} nodes after expanding aliases"),
            });
        }
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(YamlError {
                span,
                path: String::new(),
                problem: format!(
                    "document too large: more than {} MiB of text after expanding aliases",
                    MAX_EXPANDED_BYTES / (1024 * 1024)
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, sp: YSpan, depth: usize, path: &YPath) -> Result<Node, YamlError> {
        let span = span_of(&sp);
        if depth > MAX_DEPTH {
            return Err(YamlError {
                span,
                path: String::new(),
                problem: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, text.len(), span)?;
                let bytes = text.len();
                let node = Node {
                    kind: Kind::Scalar { text: text.into_owned(), plain: style == ScalarStyle::Plain },
                    span,
                    tag: tag_text(tag.as_deref()),
                    weight: 1,
                    bytes,
                };
                (node, anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(YamlError {
                        span,
                        path: String::new(),
                        problem: "alias to an unknown anchor".into(),
                    });
                };
                // Counted before cloning: the budget refuses an expansion before it is made.
                let (weight, bytes) = (target.weight, target.bytes);
                self.count(weight, bytes, span)?;
                let Some(target) = self.anchors.get(&id) else {
                    return Err(eof(span));
                };
                let mut node = target.clone();
                node.span = span;
                return Ok(node);
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.count(1, 0, span)?;
                let mut items = Vec::new();
                let mut weight = 1;
                let mut bytes = 0;
                loop {
                    let Some((ev, sp)) = self.next()? else {
                        return Err(eof(span));
                    };
                    if let Event::SequenceEnd = ev {
                        break;
                    }
                    let item = self.node(ev, sp, depth + 1, &path.index(items.len()))?;
                    weight += item.weight;
                    bytes += item.bytes;
                    items.push(item);
                }
                (Node { kind: Kind::Seq(items), span, tag: tag_text(tag.as_deref()), weight, bytes }, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                self.count(1, 0, span)?;
                let mut node = self.mapping(span, depth, path)?;
                node.tag = tag_text(tag.as_deref());
                (node, anchor)
            }
            _ => {
                return Err(YamlError {
                    span,
                    path: String::new(),
                    problem: "unexpected YAML structure".into(),
                });
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, span: Span, depth: usize, path: &YPath) -> Result<Node, YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        // Key -> index in `entries`: duplicate and merge checks stay linear in the mapping's
        // size (a scan of `entries` per key made a 1 MB mapping take seconds).
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut merges: Vec<Node> = Vec::new();
        let mut weight = 1;
        let mut bytes = 0;
        loop {
            let Some((ev, sp)) = self.next()? else {
                return Err(eof(span));
            };
            if let Event::MappingEnd = ev {
                break;
            }
            let key_node = self.node(ev, sp, depth + 1, path)?;
            let Some((ev, sp)) = self.next()? else {
                return Err(eof(span));
            };
            let value_path = match &key_node.kind {
                Kind::Scalar { text, .. } => path.key(text),
                _ => path.clone(),
            };
            let value = self.node(ev, sp, depth + 1, &value_path)?;
            weight += key_node.weight + value.weight;
            bytes += key_node.bytes + value.bytes;
            let (key, plain) = match key_node.kind {
                Kind::Scalar { text, plain } => (text, plain),
                _ => {
                    return Err(YamlError {
                        span: key_node.span,
                        path: String::new(),
                        problem: "mapping keys must be plain strings, not lists or mappings".into(),
                    });
                }
            };
            // YAML merge key: `<<: *defaults` (or a list of them) supplies keys not written here.
            if plain && key == "<<" {
                merges.push(value);
                continue;
            }
            if let Some(first) = index.get(&key).and_then(|&i| entries.get(i)) {
                self.duplicates.push(YamlError {
                    span: key_node.span,
                    path: value_path.as_str().to_owned(),
                    problem: format!(
                        "duplicate key {key:?} (first written at line {}, column {})",
                        first.key_span.line, first.key_span.column
                    ),
                });
                continue;
            }
            index.insert(key.clone(), entries.len());
            entries.push(Entry { key, key_span: key_node.span, value });
        }
        for merge in merges {
            let sources = match merge.kind {
                Kind::Map(_) => vec![merge],
                Kind::Seq(items) => items,
                Kind::Scalar { .. } => {
                    return Err(YamlError {
                        span: merge.span,
                        path: String::new(),
                        problem: "merge key `<<` needs a mapping or a list of mappings".into(),
                    });
                }
            };
            for source in sources {
                let Kind::Map(merged) = source.kind else {
                    return Err(YamlError {
                        span: source.span,
                        path: String::new(),
                        problem: "merge key `<<` needs a mapping or a list of mappings".into(),
                    });
                };
                for e in merged {
                    if !index.contains_key(&e.key) {
                        index.insert(e.key.clone(), entries.len());
                        entries.push(e);
                    }
                }
            }
        }
        Ok(Node { kind: Kind::Map(entries), span, tag: None, weight, bytes })
    }
}

fn eof(span: Span) -> YamlError {
    YamlError { span, path: String::new(), problem: "unexpected end of the document".into() }
}

//! What an import (or an overlay merge) hands back: the native YAML, the diagnostics, and for
//! each output line the source position it came from.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Severity, sort};
use crate::emit;
use crate::tree::{SourcePos, Tree};

/// A native Portcullis config produced from a definition.
///
/// `yaml` loads with `portcullis_config::from_str_in(&yaml, origin, &base_dir)` once every
/// [`Severity::Error`] diagnostic is resolved (usually by an overlay, see
/// [`merge_overlay`](crate::merge_overlay)). A problem the loader finds in `yaml` can be traced
/// back to the definition with [`Imported::source_of`].
#[derive(Debug, Clone)]
pub struct Imported {
    /// The native config, commented: a header naming the source, and `# from FILE:LINE` above
    /// each route, authorizer and function.
    pub yaml: String,
    /// What the definition holds that Portcullis does not honour, sorted by position. Errors
    /// name what an overlay must add.
    pub diagnostics: Vec<Diagnostic>,
    /// The directory relative paths in `yaml` (function `dir`) are relative to: the
    /// definition's directory for [`import_file`](crate::import_file).
    pub base_dir: PathBuf,
    pub(crate) header: Vec<String>,
    pub(crate) tree: Tree,
    lines: Vec<Option<SourcePos>>,
}

impl Imported {
    pub(crate) fn new(
        header: Vec<String>,
        tree: Tree,
        mut diagnostics: Vec<Diagnostic>,
        base_dir: &Path,
    ) -> Self {
        sort(&mut diagnostics);
        let rendered = emit::render(&header, &tree);
        Self {
            yaml: rendered.text,
            diagnostics,
            base_dir: base_dir.to_owned(),
            header,
            tree,
            lines: rendered.lines,
        }
    }

    /// Where line `line` (1-based) of `yaml` came from: a position in the definition, or in the
    /// overlay. `None` for comments, blank lines and values Portcullis supplied itself.
    pub fn source_of(&self, line: usize) -> Option<&SourcePos> {
        self.lines.get(line.checked_sub(1)?)?.as_ref()
    }

    /// Whether any diagnostic is an error: without an overlay resolving it, `yaml` does not
    /// serve the API as the definition describes (or does not load).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

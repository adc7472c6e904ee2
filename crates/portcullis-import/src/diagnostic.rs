//! What an import reports: each thing a definition holds that Portcullis cannot honour, by name
//! and position, and the fatal problems that stop an import.

use std::fmt;

use portcullis_config::Span;

/// How much a [`Diagnostic`] matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Left out or approximated; the API is still served without it (a request validator,
    /// throttling settings, an IAM role for invoking a function).
    Warning,
    /// Something the API needs that the definition cannot give Portcullis: a route left out
    /// (a VPC link, IAM authorization), a function with no local runtime. Each says what an
    /// overlay must write; [`merge_overlay`](crate::merge_overlay) drops those it resolves.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One remark about the definition, at a real position in its source file.
///
/// Displays as `api.yaml:12:9: warning: paths."/pets".get.x-amazon-apigateway-request-validator: ...`,
/// followed by `  help: ...` on its own line when there is a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Warning or error.
    pub severity: Severity,
    /// The file (or name) the position is in.
    pub origin: String,
    /// 1-based line of the offending key or value (0 when the whole file is meant).
    pub line: usize,
    /// 1-based column, in characters (0 when the whole file is meant).
    pub column: usize,
    /// Where in the source document, e.g. `paths."/pets".get.x-amazon-apigateway-integration.connectionType`.
    pub path: String,
    /// What is not honoured, naming the feature, in one sentence without a trailing period.
    pub message: String,
    /// What to do about it, e.g. which overlay key to write.
    pub help: Option<String>,
    /// Overlay paths that resolve an [`Severity::Error`]: writing any one of them makes the
    /// error moot (e.g. `functions.orders.runtime` or `functions.orders.invoke_url`).
    pub(crate) resolved_by: Vec<Vec<String>>,
}

impl Diagnostic {
    pub(crate) fn new(
        severity: Severity,
        origin: &str,
        span: Span,
        path: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            origin: origin.to_owned(),
            line: span.line,
            column: span.column,
            path: path.to_owned(),
            message: message.into(),
            help: None,
            resolved_by: Vec::new(),
        }
    }

    /// Adds a hint.
    pub(crate) fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    /// Names overlay paths (each a list of keys) any one of which resolves this error.
    pub(crate) fn resolved_by(&mut self, paths: &[&[&str]]) -> &mut Self {
        self.resolved_by = paths.iter().map(|p| p.iter().map(|k| (*k).to_owned()).collect()).collect();
        self
    }

    /// Resolved when the overlay says how function `name` runs.
    pub(crate) fn resolved_by_function(&mut self, name: &str) -> &mut Self {
        self.resolved_by(&[&["functions", name, "runtime"], &["functions", name, "invoke_url"]])
    }

    /// Resolved when the overlay gives route `key` an integration.
    pub(crate) fn resolved_by_route(&mut self, key: &str) -> &mut Self {
        self.resolved_by(&[
            &["routes", key, "http"],
            &["routes", key, "function"],
            &["routes", key, "respond"],
        ])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: ", self.origin, self.line, self.column, self.severity)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// An import that produced no config: the file cannot be read or parsed, is not the kind it was
/// said to be (`swagger: "2.0"` given as OpenAPI 3), or is unusable as a whole. Holds every
/// diagnostic found, errors first by position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ImportErrors {
    /// The diagnostics, at least one of them an error.
    pub diagnostics: Vec<Diagnostic>,
}

impl ImportErrors {
    pub(crate) fn single(d: Diagnostic) -> Self {
        Self { diagnostics: vec![d] }
    }
}

/// Sorts by file, position, then severity, keeping the order found for ties.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| (&a.origin, a.line, a.column).cmp(&(&b.origin, b.line, b.column)));
}

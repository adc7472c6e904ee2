//! Positioned configuration problems.

use std::fmt;

/// A 1-based position in the config source (line and column of a key or value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// Line, counted from 1.
    pub line: usize,
    /// Column, counted from 1 (in characters).
    pub column: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value together with the position it was written at.
///
/// Kept on values that later compile steps check again (CEL rules, route keys), so that
/// their errors can point at the source with [`ConfigError::at`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// One problem in a config file: where it is, which YAML path, what is wrong, and a hint.
///
/// Displays as
/// `portcullis.yaml:12:5: routes."GET /pets".timeout: invalid duration "5 parsecs" (expected e.g. 5s, 250ms, 1m)`
/// followed by `  help: did you mean `timeout`?` on its own line when there is a suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the config came from (a file name, or `<embedded demo>`).
    pub origin: String,
    /// 1-based line of the offending key or value (0 when unknown).
    pub line: usize,
    /// 1-based column of the offending key or value (0 when unknown).
    pub column: usize,
    /// YAML path of the offending node, e.g. `routes."GET /x".timeout` (empty for the document).
    pub path: String,
    /// What is wrong, in one sentence without a trailing period.
    pub problem: String,
    /// A hint for fixing it, shown after `help:` (e.g. "did you mean `timeout`?").
    pub suggestion: Option<String>,
}

impl ConfigError {
    /// A problem at `span` in `origin`, without a suggestion.
    ///
    /// Later compile steps (e.g. compiling CEL rules kept as [`Spanned`] strings) use this to
    /// report errors in the same positioned format as the loader.
    pub fn at(
        origin: impl Into<String>,
        span: Span,
        path: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            origin: origin.into(),
            line: span.line,
            column: span.column,
            path: path.into(),
            problem: problem.into(),
            suggestion: None,
        }
    }

    /// Adds a hint shown after `help:`.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// The position as a [`Span`].
    pub fn span(&self) -> Span {
        Span { line: self.line, column: self.column }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.origin, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.problem)?;
        if let Some(s) = &self.suggestion {
            write!(f, "\n  help: {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one config, sorted by position. Never empty.
///
/// Displays one problem per line (plus its `help:` line), so a user fixes everything in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems, sorted by line and column.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// A single problem (e.g. the file could not be read).
    pub fn single(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

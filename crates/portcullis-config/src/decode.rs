//! The decoding toolkit: walks the positioned YAML tree, converts scalars to typed values,
//! and records every problem (with its position and YAML path) instead of stopping.
//!
//! Strictness is the same as serde's `deny_unknown_fields` on every mapping: a [`MapReader`]
//! remembers which keys the decoder asked for, and every other key is an error at the key's
//! position with a "did you mean" hint drawn from the keys that were asked for.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, Span};
use crate::types::Compat;
use crate::yaml::{Entry, Kind, Node};

/// A YAML path such as `routes."GET /x".timeout` or `authorizers.a.audience[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct YPath(String);

impl YPath {
    /// The path of a mapping value under `key`.
    pub(crate) fn key(&self, key: &str) -> YPath {
        let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let mut s = self.0.clone();
        if !s.is_empty() {
            s.push('.');
        }
        if plain {
            s.push_str(key);
        } else {
            let _ = write!(s, "{key:?}");
        }
        YPath(s)
    }

    /// The path of the `i`th list item.
    pub(crate) fn index(&self, i: usize) -> YPath {
        YPath(format!("{}[{i}]", self.0))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Decoding context: where the config came from, and every problem found so far.
pub(crate) struct Cx {
    pub(crate) origin: String,
    pub(crate) base_dir: PathBuf,
    pub(crate) compat: Compat,
    /// A `compat` that wins over the file's (`check --compat aws`).
    pub(crate) forced_compat: Option<Compat>,
    /// Whether `shared_state` is configured (limits and caches may then be shared).
    pub(crate) shared_state: bool,
    /// The `stage_variables` defined, for references to them.
    pub(crate) stage_variables: Vec<(String, String)>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigError>,
}

impl Cx {
    pub(crate) fn new(origin: &str, base_dir: &Path) -> Self {
        Self {
            origin: origin.to_owned(),
            // Absolute now, so a path stays right whatever directory it is later used from (a
            // function runs in its own `dir`).
            base_dir: std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_owned()),
            compat: Compat::Extended,
            forced_compat: None,
            shared_state: false,
            stage_variables: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records a problem; returns it so a suggestion can be added.
    pub(crate) fn error(&mut self, span: Span, path: &YPath, problem: impl Into<String>) -> &mut ConfigError {
        self.errors.push(ConfigError::at(&self.origin, span, path.as_str(), problem));
        let last = self.errors.len() - 1;
        &mut self.errors[last]
    }

    /// Records a problem with an optional hint.
    pub(crate) fn error_hint(
        &mut self,
        span: Span,
        path: &YPath,
        problem: impl Into<String>,
        hint: Option<String>,
    ) {
        let e = self.error(span, path, problem);
        e.suggestion = hint;
    }

    /// Records a non-fatal remark (surfaced in `Config::warnings`).
    pub(crate) fn warn(&mut self, span: Span, path: &YPath, problem: impl Into<String>) {
        self.warnings.push(ConfigError::at(&self.origin, span, path.as_str(), problem));
    }

    /// Under `compat: aws`, records that `feature` is not something AWS can do, and why.
    pub(crate) fn aws_forbids(&mut self, span: Span, path: &YPath, feature: &str, why: &str) {
        if self.compat == Compat::Aws {
            self.error(span, path, format!("{feature} is not available with compat: aws ({why})"))
                .suggestion = Some("remove it, or set `compat: extended`".into());
        }
    }

    /// `p` resolved against the config file's directory.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() { p.to_owned() } else { self.base_dir.join(p) }
    }

    /// Reports an expression problem at its character within the scalar `node` (exact for
    /// plain and simply quoted scalars; escapes in double-quoted scalars shift it).
    pub(crate) fn expr_error(&mut self, node: &Node, path: &YPath, e: &crate::expr::ExprError, what: &str) {
        let quoted = matches!(&node.kind, Kind::Scalar { plain: false, .. });
        let span = Span { line: node.span.line, column: node.span.column + usize::from(quoted) + e.offset };
        self.error_hint(span, path, format!("{what}: {}", e.problem), e.hint.clone());
    }

    /// Reports "expected X, found Y" at `node`.
    pub(crate) fn expected(&mut self, node: &Node, path: &YPath, what: &str) {
        self.error(node.span, path, format!("expected {what}, found {}", node.describe()));
    }
}

/// The closest of `candidates` to `word`, if close enough to be a plausible typo.
pub(crate) fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    portcullis_core::closest(word, candidates)
}

/// "did you mean `x`?" for the closest candidate.
pub(crate) fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    suggest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Reads the keys of one mapping; unknown keys are reported by [`MapReader::finish`].
pub(crate) struct MapReader<'n> {
    pub(crate) path: YPath,
    pub(crate) span: Span,
    entries: &'n [Entry],
    used: Vec<bool>,
    known: Vec<&'static str>,
}

const NO_ENTRIES: &[Entry] = &[];

impl<'n> MapReader<'n> {
    /// A reader over `node`, which must be a mapping (null counts as an empty one).
    /// Reports the type problem and returns `None` otherwise.
    pub(crate) fn new(cx: &mut Cx, node: &'n Node, path: &YPath) -> Option<Self> {
        let entries = match &node.kind {
            Kind::Map(entries) => entries.as_slice(),
            _ if node.is_null() => NO_ENTRIES,
            _ => {
                cx.expected(node, path, "a mapping");
                return None;
            }
        };
        Some(Self {
            path: path.clone(),
            span: node.span,
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
        })
    }

    /// The value under `key` (a null value counts as absent), with its path.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<(&'n Node, YPath)> {
        self.known.push(key);
        let i = self.entries.iter().position(|e| e.key == key)?;
        self.used[i] = true;
        let node = &self.entries[i].value;
        if node.is_null() {
            return None;
        }
        Some((node, self.path.key(key)))
    }

    /// The key's own position, if present.
    pub(crate) fn key_span(&self, key: &str) -> Option<Span> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.key_span)
    }

    /// Every key written, with its position.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&'n str, Span)> {
        self.entries.iter().map(|e| (e.key.as_str(), e.key_span))
    }

    /// Whether `key` is written (even with a null value).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Accepts (ignores) keys starting with `x-`: a place for YAML anchors to live, as in
    /// Docker Compose files.
    pub(crate) fn allow_extension_keys(&mut self) {
        for (e, used) in self.entries.iter().zip(self.used.iter_mut()) {
            if e.key.starts_with("x-") {
                *used = true;
            }
        }
    }

    /// Reports every key that was never asked for, with a suggestion among the known ones.
    pub(crate) fn finish(self, cx: &mut Cx) {
        for (e, used) in self.entries.iter().zip(&self.used) {
            if !used {
                let hint = did_you_mean(&e.key, self.known.iter().copied()).or_else(|| {
                    Some(format!(
                        "expected one of: {}",
                        self.known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ))
                });
                cx.error_hint(e.key_span, &self.path.key(&e.key), format!("unknown key {:?}", e.key), hint);
            }
        }
    }
}

/// An optional key of `m`: its decoded value, or `default` when absent (or null).
pub(crate) fn opt<T>(
    cx: &mut Cx,
    m: &mut MapReader<'_>,
    key: &'static str,
    default: T,
    f: impl FnOnce(&mut Cx, &Node, &YPath) -> Option<T>,
) -> Option<T> {
    match m.get(key) {
        Some((n, p)) => f(cx, n, &p),
        None => Some(default),
    }
}

/// The entries of a free-form mapping (names chosen by the user), or `None` after reporting.
pub(crate) fn entries<'n>(cx: &mut Cx, node: &'n Node, path: &YPath) -> Option<&'n [Entry]> {
    match &node.kind {
        Kind::Map(e) => Some(e),
        _ if node.is_null() => Some(NO_ENTRIES),
        _ => {
            cx.expected(node, path, "a mapping");
            None
        }
    }
}

/// The items of a list; a single scalar counts as a one-item list.
pub(crate) fn items<'n>(cx: &mut Cx, node: &'n Node, path: &YPath) -> Option<Vec<&'n Node>> {
    match &node.kind {
        Kind::Seq(items) => Some(items.iter().collect()),
        Kind::Scalar { .. } if !node.is_null() => Some(vec![node]),
        _ => {
            cx.expected(node, path, "a list");
            None
        }
    }
}

/// A non-null scalar's text.
pub(crate) fn string(cx: &mut Cx, node: &Node, path: &YPath) -> Option<String> {
    match &node.kind {
        Kind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
        _ => {
            cx.expected(node, path, "a string");
            None
        }
    }
}

/// A non-empty string.
pub(crate) fn non_empty(cx: &mut Cx, node: &Node, path: &YPath) -> Option<String> {
    let s = string(cx, node, path)?;
    if s.trim().is_empty() {
        cx.error(node.span, path, "must not be empty");
        return None;
    }
    Some(s)
}

/// A list of non-empty strings.
pub(crate) fn string_list(cx: &mut Cx, node: &Node, path: &YPath) -> Option<Vec<String>> {
    let items = items(cx, node, path)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        match non_empty(cx, item, &path.index(i)) {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `true` or `false`.
pub(crate) fn boolean(cx: &mut Cx, node: &Node, path: &YPath) -> Option<bool> {
    if let Kind::Scalar { text, plain: true } = &node.kind {
        match text.as_str() {
            "true" | "True" | "TRUE" => return Some(true),
            "false" | "False" | "FALSE" => return Some(false),
            _ => {}
        }
    }
    cx.expected(node, path, "true or false");
    None
}

/// An unsigned integer within `min..=max`.
pub(crate) fn integer(cx: &mut Cx, node: &Node, path: &YPath, min: u64, max: u64) -> Option<u64> {
    let Kind::Scalar { text, .. } = &node.kind else {
        cx.expected(node, path, "a whole number");
        return None;
    };
    let Ok(n) = text.replace('_', "").parse::<u64>() else {
        cx.expected(node, path, "a whole number");
        return None;
    };
    if n < min || n > max {
        cx.error(node.span, path, format!("{n} is out of range (allowed: {min} to {max})"));
        return None;
    }
    Some(n)
}

/// A duration between `min` and `max`.
pub(crate) fn duration_between(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
    min: Duration,
    max: Duration,
) -> Option<Duration> {
    let d = duration(cx, node, path, min.is_zero())?;
    if d < min || d > max {
        cx.error(
            node.span,
            path,
            format!(
                "{} is out of range ({} to {})",
                humantime::format_duration(d),
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        );
        return None;
    }
    Some(d)
}

/// A duration such as `5s`, `250ms`, `1m`, `1h 30m` (humantime syntax). Zero only if allowed.
pub(crate) fn duration(cx: &mut Cx, node: &Node, path: &YPath, allow_zero: bool) -> Option<Duration> {
    let Kind::Scalar { text, .. } = &node.kind else {
        cx.expected(node, path, "a duration like 5s, 250ms or 1m");
        return None;
    };
    let t = text.trim();
    if allow_zero && t == "0" {
        return Some(Duration::ZERO);
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        cx.error(node.span, path, format!("invalid duration {text:?}: a unit is required")).suggestion =
            Some(format!("write `{t}s` for seconds or `{t}ms` for milliseconds"));
        return None;
    }
    match humantime::parse_duration(t) {
        Ok(d) if d.is_zero() && !allow_zero => {
            cx.error(node.span, path, "duration must be greater than zero");
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            cx.error(node.span, path, format!("invalid duration {text:?} (expected e.g. 5s, 250ms, 1m)"));
            None
        }
    }
}

/// Formats a duration the way users write it (`30s`, `250ms`).
pub(crate) fn show_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A size in bytes: an integer, or a number with a unit (`150KB`, `10MB`, `10MiB`, `1GB`).
/// Decimal units (KB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) of 1024.
pub(crate) fn size(cx: &mut Cx, node: &Node, path: &YPath) -> Option<u64> {
    let Kind::Scalar { text, .. } = &node.kind else {
        cx.expected(node, path, "a size like 10MB, 512KiB or a number of bytes");
        return None;
    };
    let parsed = parse_size(text.trim());
    match parsed {
        Some(0) => {
            cx.error(node.span, path, "size must be greater than zero");
            None
        }
        Some(n) => Some(n),
        None => {
            cx.error(
                node.span,
                path,
                format!("invalid size {text:?} (expected bytes or e.g. 150KB, 10MB, 10MiB, 1GB)"),
            );
            None
        }
    }
}

fn parse_size(t: &str) -> Option<u64> {
    let digits_end = t.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let num: u64 = num.replace('_', "").parse().ok()?;
    let mult: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    num.checked_mul(mult)
}

/// `IP:port`.
pub(crate) fn socket_addr(cx: &mut Cx, node: &Node, path: &YPath) -> Option<SocketAddr> {
    let s = string(cx, node, path)?;
    match s.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            cx.error(
                node.span,
                path,
                format!("invalid address {s:?} (expected IP:port, e.g. 127.0.0.1:8080 or [::1]:8080)"),
            );
            None
        }
    }
}

/// One of a fixed set of words; suggests the closest on a miss.
pub(crate) fn choice<T: Copy>(
    cx: &mut Cx,
    node: &Node,
    path: &YPath,
    options: &[(&'static str, T)],
) -> Option<T> {
    let Kind::Scalar { text, .. } = &node.kind else {
        cx.expected(node, path, &one_of(options));
        return None;
    };
    if let Some((_, v)) = options.iter().find(|(k, _)| k == text) {
        return Some(*v);
    }
    let hint = did_you_mean(text, options.iter().map(|(k, _)| *k));
    cx.error_hint(node.span, path, format!("invalid value {text:?} (expected {})", one_of(options)), hint);
    None
}

fn one_of<T>(options: &[(&'static str, T)]) -> String {
    let names: Vec<String> = options.iter().map(|(k, _)| format!("`{k}`")).collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// An HTTP header name (lower-cased), refusing names the gateway itself manages.
pub(crate) fn header_name(cx: &mut Cx, name: &str, span: Span, path: &YPath) -> Option<http::HeaderName> {
    let Ok(h) = http::HeaderName::from_bytes(name.as_bytes()) else {
        cx.error(span, path, format!("invalid header name {name:?}"));
        return None;
    };
    const RESERVED: &[&str] = &[
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
    ];
    if RESERVED.contains(&h.as_str()) {
        cx.error(span, path, format!("header {name:?} is managed by the gateway and cannot be set here"));
        return None;
    }
    Some(h)
}

//! Path templates (the path half of a route key) and the segmentation of request paths.
//!
//! Both sides are split the same way: drop the leading `/`, split on `/`. So `/` is one empty
//! segment, and a trailing slash is a final empty segment (`/pets/` = `pets`, ``), which keeps
//! `/pets/` distinct from `/pets` (spec §1.2: trailing slash [UNDOC], we keep it significant).
//! Literal segments are compared after percent-decoding, on both sides, so a `%2F` inside a
//! segment stays inside that segment.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{PathError, RouteKeyError, RouteKeyErrorKind};

/// The most segments a request path or a path template may have. Bounds the work of one match
/// (and the stack buffers it uses); longer request paths are refused with
/// [`PathError::TooManySegments`].
pub const MAX_SEGMENTS: usize = 128;

/// One segment of a [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A literal segment, percent-decoded (`caf%C3%A9` is stored as `café`). The empty literal
    /// stands for `/` (root) or a trailing slash, and only ever comes last.
    Literal(Box<str>),
    /// `{name}`: exactly one non-empty segment.
    Var(Arc<str>),
    /// `{name+}`: one or more remaining segments; always the last segment.
    Greedy(Arc<str>),
}

/// The path of a route key, e.g. `/pets/{id}` or `/{proxy+}`: validated and split into
/// [`Segment`]s. `Display` writes it exactly as it was written.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    text: Box<str>,
    segments: Box<[Segment]>,
}

impl PartialEq for PathTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for PathTemplate {}
impl std::hash::Hash for PathTemplate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PathTemplate {
    /// The segments, in order. `/` is `[Literal("")]`; `/pets/` is `[Literal("pets"), Literal("")]`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The variable names in path order (`{name+}` gives `name`).
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(n) | Segment::Greedy(n) => Some(&**n),
            Segment::Literal(_) => None,
        })
    }

    /// The name of the greedy variable, if the template ends with one.
    pub fn greedy(&self) -> Option<&str> {
        match self.segments.last() {
            Some(Segment::Greedy(n)) => Some(n),
            _ => None,
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Parses `path` as part of route key `key` (for error messages).
    pub(crate) fn parse_in(key: &str, path: &str) -> Result<Self, RouteKeyError> {
        let err = |kind| RouteKeyError::new(key, kind, None);
        let Some(rest) = path.strip_prefix('/') else {
            let suggestion = format!("{} /{path}", key.split(' ').next().unwrap_or("ANY"));
            let suggestion = if key == path {
                format!("/{path}")
            } else {
                suggestion
            };
            return Err(RouteKeyError::new(
                key,
                RouteKeyErrorKind::PathNotAbsolute,
                Some(suggestion),
            ));
        };
        if let Some(ch) = path
            .chars()
            .find(|c| *c == '?' || *c == '#' || c.is_control())
        {
            return Err(err(RouteKeyErrorKind::BadChar { ch }));
        }
        let raw: Vec<&str> = rest.split('/').collect();
        if raw.len() > MAX_SEGMENTS {
            return Err(err(RouteKeyErrorKind::TooManySegments {
                limit: MAX_SEGMENTS,
            }));
        }
        let last = raw.len() - 1;
        let mut segments = Vec::with_capacity(raw.len());
        for (i, seg) in raw.iter().enumerate() {
            let segment = parse_segment(seg).map_err(err)?;
            match &segment {
                Segment::Literal(l) if l.is_empty() && i != last => {
                    return Err(err(RouteKeyErrorKind::EmptySegment));
                }
                Segment::Greedy(name) if i != last => {
                    return Err(err(RouteKeyErrorKind::GreedyNotLast {
                        name: name.to_string(),
                    }));
                }
                Segment::Var(name) | Segment::Greedy(name) => {
                    let seen = segments
                        .iter()
                        .any(|s| matches!(s, Segment::Var(n) | Segment::Greedy(n) if n == name));
                    if seen {
                        return Err(err(RouteKeyErrorKind::DuplicateVar {
                            name: name.to_string(),
                        }));
                    }
                }
                Segment::Literal(_) => {}
            }
            segments.push(segment);
        }
        Ok(Self {
            text: path.into(),
            segments: segments.into(),
        })
    }
}

/// Parses one raw template segment.
fn parse_segment(seg: &str) -> Result<Segment, RouteKeyErrorKind> {
    let braces = seg.matches(['{', '}']).count();
    if braces == 0 {
        let decoded = decode(seg).map_err(|_| RouteKeyErrorKind::BadPercentEncoding {
            segment: seg.to_owned(),
        })?;
        if decoded == "." || decoded == ".." {
            return Err(RouteKeyErrorKind::DotSegment);
        }
        return Ok(Segment::Literal(decoded.into()));
    }
    let inner = match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(inner) if braces == 2 => inner,
        _ => {
            return Err(RouteKeyErrorKind::VarNotWholeSegment {
                segment: seg.to_owned(),
            });
        }
    };
    let (name, greedy) = match inner.strip_suffix('+') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(RouteKeyErrorKind::BadVarName {
            name: name.to_owned(),
        });
    }
    Ok(if greedy {
        Segment::Greedy(name.into())
    } else {
        Segment::Var(name.into())
    })
}

impl FromStr for PathTemplate {
    type Err = RouteKeyError;

    fn from_str(path: &str) -> Result<Self, Self::Err> {
        Self::parse_in(path, path)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Value of one hex digit.
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strictly percent-decodes `raw` into `out` (appending), refusing a `%` not followed by two
/// hex digits. Returns the number of bytes appended. Works on any `Extend<u8>`-like sink.
fn decode_into(raw: &[u8], mut push: impl FnMut(u8)) -> Result<(), PathError> {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hi = raw.get(i + 1).copied().and_then(hex);
            let lo = raw.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(h), Some(l)) => push(h << 4 | l),
                _ => return Err(PathError::BadPercentEncoding),
            }
            i += 3;
        } else {
            push(b);
            i += 1;
        }
    }
    Ok(())
}

/// Strictly percent-decodes one segment into a new string.
pub(crate) fn decode(raw: &str) -> Result<String, PathError> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    let mut out = Vec::with_capacity(raw.len());
    decode_into(raw.as_bytes(), |b| out.push(b))?;
    String::from_utf8(out).map_err(|_| PathError::NotUtf8)
}

/// Size of the on-stack buffer that holds the decoded path; longer paths with escapes fall back
/// to one heap buffer (the only allocation of a match besides the returned params).
const STACK_DECODE: usize = 1024;

/// A request path split into raw and decoded segments, validated.
pub(crate) struct RequestPath<'a> {
    /// The whole raw path (starts with `/`).
    pub(crate) raw_path: &'a str,
    /// Byte offset in `raw_path` where each raw segment starts.
    pub(crate) starts: [u32; MAX_SEGMENTS],
    /// Raw segments.
    pub(crate) raw: [&'a str; MAX_SEGMENTS],
    /// Number of segments.
    pub(crate) len: usize,
}

impl<'a> RequestPath<'a> {
    /// Splits and validates the raw (still percent-encoded) path.
    pub(crate) fn split(raw_path: &'a str) -> Result<Self, PathError> {
        let Some(rest) = raw_path.strip_prefix('/') else {
            return Err(PathError::NotAbsolute);
        };
        let mut out = RequestPath {
            raw_path,
            starts: [0; MAX_SEGMENTS],
            raw: [""; MAX_SEGMENTS],
            len: 0,
        };
        let mut start = 1usize;
        for seg in rest.split('/') {
            if out.len == MAX_SEGMENTS {
                return Err(PathError::TooManySegments {
                    limit: MAX_SEGMENTS,
                });
            }
            // Request paths that reach us are far below 4 GiB (header limits); saturate anyway.
            out.starts[out.len] = u32::try_from(start).unwrap_or(u32::MAX);
            out.raw[out.len] = seg;
            out.len += 1;
            start += seg.len() + 1;
        }
        Ok(out)
    }

    /// Whether any segment needs decoding.
    pub(crate) fn has_escapes(&self) -> bool {
        self.raw_path.contains('%')
    }

    /// The raw text from segment `i` to the end (raw segments joined by `/`).
    pub(crate) fn raw_from(&self, i: usize) -> &'a str {
        let start = self.starts[i] as usize;
        self.raw_path.get(start..).unwrap_or("")
    }
}

/// Decodes every segment of `path` and hands the decoded segments to `f`.
///
/// Decoded text lives in a stack buffer when it fits (the common case), else in one heap
/// buffer. Refuses invalid escapes, non-UTF-8 results and dot segments.
pub(crate) fn with_decoded<R>(
    path: &RequestPath<'_>,
    f: impl FnOnce(&[&str]) -> R,
) -> Result<R, PathError> {
    let check_dots = |s: &str| {
        if s == "." || s == ".." {
            Err(PathError::DotSegment)
        } else {
            Ok(())
        }
    };
    if !path.has_escapes() {
        for seg in &path.raw[..path.len] {
            check_dots(seg)?;
        }
        return Ok(f(&path.raw[..path.len]));
    }
    let mut stack = [0u8; STACK_DECODE];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if path.raw_path.len() <= STACK_DECODE {
        &mut stack
    } else {
        heap.resize(path.raw_path.len(), 0);
        &mut heap
    };
    let mut ends = [0usize; MAX_SEGMENTS];
    let mut pos = 0usize;
    for (i, seg) in path.raw[..path.len].iter().enumerate() {
        decode_into(seg.as_bytes(), |b| {
            // Decoding never lengthens text and `buf` is as long as the whole raw path.
            if let Some(slot) = buf.get_mut(pos) {
                *slot = b;
            }
            pos += 1;
        })?;
        ends[i] = pos;
    }
    let buf: &[u8] = buf;
    let mut decoded = [""; MAX_SEGMENTS];
    let mut start = 0usize;
    for i in 0..path.len {
        let bytes = buf.get(start..ends[i]).ok_or(PathError::NotUtf8)?;
        let s = std::str::from_utf8(bytes).map_err(|_| PathError::NotUtf8)?;
        check_dots(s)?;
        decoded[i] = s;
        start = ends[i];
    }
    Ok(f(&decoded[..path.len]))
}

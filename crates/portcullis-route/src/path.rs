//! Path templates (the path half of a route key) and the segmentation of request paths.
//!
//! Both sides are split the same way: drop the leading `/`, split on `/`. So `/` is one empty
//! segment, and a trailing slash is a final empty segment (`/pets/` = `pets`, ``), which keeps
//! `/pets/` distinct from `/pets` (docs/aws-compatibility.md#routes-and-route-selection: trailing
//! slash `[UNDOC]`, we keep it significant). Literal segments are compared after percent-decoding,
//! on both sides, so a `%2F` inside a segment stays inside that segment.

use std::borrow::Cow;
use std::collections::HashSet;
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
    /// stands for `/` (root) or a trailing slash, and only ever comes last. Shared, like the
    /// variable names: a table stores each distinct name once (`RouteTableBuilder::insert`).
    Literal(Arc<str>),
    /// `{name}`: exactly one non-empty segment.
    Var(Arc<str>),
    /// `{name+}`: one or more remaining segments; always the last segment.
    Greedy(Arc<str>),
}

impl Segment {
    /// The literal (decoded) or the variable's name: the one shared allocation each segment
    /// holds.
    pub fn name(&self) -> &Arc<str> {
        let (Segment::Literal(name) | Segment::Var(name) | Segment::Greedy(name)) = self;
        name
    }

    fn name_mut(&mut self) -> &mut Arc<str> {
        let (Segment::Literal(name) | Segment::Var(name) | Segment::Greedy(name)) = self;
        name
    }
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

    /// Makes every literal and variable name point at the copy in `pool`, adding a copy of its
    /// own for each new name: a table of many routes keeps one allocation per distinct name, and
    /// none of the caller's. Holding the caller's would keep alive what it was built from (a
    /// config parsed on a loader thread: one shared name pins a page of that thread's heap).
    pub(crate) fn share_names<S: std::hash::BuildHasher>(&mut self, pool: &mut HashSet<Arc<str>, S>) {
        for seg in &mut self.segments {
            let name = seg.name_mut();
            let shared = match pool.get(&**name) {
                Some(shared) => Arc::clone(shared),
                None => {
                    let own: Arc<str> = Arc::from(&**name);
                    pool.insert(Arc::clone(&own));
                    own
                }
            };
            *name = shared;
        }
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
            let suggestion = if key == path { format!("/{path}") } else { suggestion };
            return Err(RouteKeyError::new(key, RouteKeyErrorKind::PathNotAbsolute, Some(suggestion)));
        };
        if let Some(ch) = path.chars().find(|c| *c == '?' || *c == '#' || c.is_control()) {
            return Err(err(RouteKeyErrorKind::BadChar { ch }));
        }
        let raw: Vec<&str> = rest.split('/').collect();
        if raw.len() > MAX_SEGMENTS {
            return Err(err(RouteKeyErrorKind::TooManySegments { limit: MAX_SEGMENTS }));
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
                    return Err(err(RouteKeyErrorKind::GreedyNotLast { name: name.to_string() }));
                }
                Segment::Var(name) | Segment::Greedy(name) => {
                    let seen = segments
                        .iter()
                        .any(|s| matches!(s, Segment::Var(n) | Segment::Greedy(n) if n == name));
                    if seen {
                        return Err(err(RouteKeyErrorKind::DuplicateVar { name: name.to_string() }));
                    }
                }
                Segment::Literal(_) => {}
            }
            segments.push(segment);
        }
        Ok(Self { text: path.into(), segments: segments.into() })
    }
}

/// Parses one raw template segment.
fn parse_segment(seg: &str) -> Result<Segment, RouteKeyErrorKind> {
    let braces = seg.matches(['{', '}']).count();
    if braces == 0 {
        let decoded =
            decode(seg).map_err(|_| RouteKeyErrorKind::BadPercentEncoding { segment: seg.to_owned() })?;
        if decoded == "." || decoded == ".." {
            return Err(RouteKeyErrorKind::DotSegment);
        }
        return Ok(Segment::Literal(decoded.into()));
    }
    let inner = match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(inner) if braces == 2 => inner,
        _ => {
            return Err(RouteKeyErrorKind::VarNotWholeSegment { segment: seg.to_owned() });
        }
    };
    let (name, greedy) = match inner.strip_suffix('+') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(RouteKeyErrorKind::BadVarName { name: name.to_owned() });
    }
    Ok(if greedy { Segment::Greedy(name.into()) } else { Segment::Var(name.into()) })
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

/// Strictly percent-decodes `raw`, handing each byte to `push`; refuses a `%` not followed by
/// two hex digits (lenient decoders pass those through, which would let `%zz` and `%7a` mean
/// different things on either side of the gateway).
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

/// The request path as API Gateway hands it to integrations: `rawPath` and
/// `requestContext.http.path` of payload 2.0, `path` of payload 1.0
/// (docs/aws-compatibility.md#payload-20-request-event). Live captures of HTTP APIs show three
/// steps, reproduced here:
///
/// 1. the path is percent-decoded (`space%20value` → `space value`, `slash%2Fvalue` →
///    `slash/value`, `%23` → `#`);
/// 2. a `?` that decoding produced ends the path (`question%3Fvalue` → `question`: AWS parses
///    the decoded text as a request target again);
/// 3. what is left is percent-decoded a second time (`%252F` → `/`, `%2525` → `%`), and a `%`
///    that then starts no escape (`percent%25done`) makes AWS refuse the request with 400:
///    [`PathError::BadEncodedPercent`], as is a second decoding that is not UTF-8.
///
/// Borrowed, without work beyond one scan, when the path has no `%`. Routing itself decodes
/// once (`%252F` stays the segment text `%2F`), so a route never matches differently from how
/// it did; only what the integration reads changes.
///
/// # Errors
/// [`PathError::BadPercentEncoding`] or [`PathError::NotUtf8`] for the first decoding (the
/// router refuses those paths too), [`PathError::BadEncodedPercent`] or [`PathError::NotUtf8`]
/// for the second.
pub fn integration_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut once = Vec::with_capacity(raw.len());
    decode_into(raw.as_bytes(), |b| once.push(b))?;
    if let Some(query) = once.iter().position(|&b| b == b'?') {
        once.truncate(query);
    }
    let twice = if once.contains(&b'%') {
        let mut twice = Vec::with_capacity(once.len());
        decode_into(&once, |b| twice.push(b)).map_err(|_| PathError::BadEncodedPercent)?;
        twice
    } else {
        once
    };
    String::from_utf8(twice).map(Cow::Owned).map_err(|_| PathError::NotUtf8)
}

/// Size of the on-stack buffer that holds the decoded path; longer paths with escapes fall back
/// to one heap buffer (the only allocation of a match besides the returned params).
const STACK_DECODE: usize = 1024;

/// A path split into segments without copying: `text` is `/seg0/seg1/...` and `slashes[i]` is
/// the index of the `/` before segment `i`, `slashes[len]` = `text.len()`.
#[derive(Clone, Copy)]
pub(crate) struct Segs<'a> {
    text: &'a str,
    slashes: &'a [usize],
}

impl<'a> Segs<'a> {
    /// Number of segments (at least 1: `/` is one empty segment).
    pub(crate) fn len(&self) -> usize {
        self.slashes.len() - 1
    }

    /// Segment `i` (without slashes).
    pub(crate) fn get(&self, i: usize) -> &'a str {
        // Every recorded position holds an ASCII `/`, so both ends are char boundaries.
        self.text.get(self.slashes[i] + 1..self.slashes[i + 1]).unwrap_or("")
    }

    /// Segments `i..` joined by `/`, as one slice of the text.
    pub(crate) fn rest(&self, i: usize) -> &'a str {
        self.text.get(self.slashes[i] + 1..).unwrap_or("")
    }
}

/// Splits, validates and decodes a raw request path, then hands `f` the raw and the decoded
/// segments.
///
/// Splitting is one pass over the bytes into an on-stack table of slash positions. Paths
/// without `%` are their own decoding (no copy). Otherwise the decoded text is written into a
/// stack buffer when it fits (the common case), else into one heap buffer.
///
/// # Errors
/// Refuses paths not starting with `/`, more than [`MAX_SEGMENTS`] segments, invalid escapes,
/// decoded text that is not UTF-8, and `.`/`..` segments (raw or decoded).
pub(crate) fn with_segments<R>(
    raw_path: &str,
    f: impl FnOnce(Segs<'_>, Segs<'_>) -> R,
) -> Result<R, PathError> {
    let bytes = raw_path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut slashes = [0usize; MAX_SEGMENTS + 1];
    let mut n = 0;
    let mut escapes = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' {
            if n == MAX_SEGMENTS {
                return Err(PathError::TooManySegments { limit: MAX_SEGMENTS });
            }
            slashes[n] = i;
            n += 1;
        } else if b == b'%' {
            escapes = true;
        }
    }
    slashes[n] = bytes.len();
    let raw = Segs { text: raw_path, slashes: &slashes[..=n] };
    if !escapes {
        for i in 0..n {
            check_dots(raw.get(i))?;
        }
        return Ok(f(raw, raw));
    }

    let mut stack = [0u8; STACK_DECODE];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if bytes.len() <= STACK_DECODE {
        &mut stack
    } else {
        heap.resize(bytes.len(), 0);
        &mut heap
    };
    let mut dslashes = [0usize; MAX_SEGMENTS + 1];
    let mut pos = 0usize;
    for (i, slash) in dslashes.iter_mut().take(n).enumerate() {
        *slash = pos;
        // Decoding never lengthens text and `buf` is as long as the whole raw path.
        let mut push = |b: u8| {
            if let Some(slot) = buf.get_mut(pos) {
                *slot = b;
            }
            pos += 1;
        };
        push(b'/');
        decode_into(raw.get(i).as_bytes(), push)?;
    }
    dslashes[n] = pos;
    let buf: &[u8] = buf;
    // Every segment is valid UTF-8 exactly when the whole text is, since `/` is a char of its own.
    let text = std::str::from_utf8(buf.get(..pos).unwrap_or_default()).map_err(|_| PathError::NotUtf8)?;
    let decoded = Segs { text, slashes: &dslashes[..=n] };
    for i in 0..n {
        check_dots(decoded.get(i))?;
    }
    Ok(f(raw, decoded))
}

/// Refuses `.` and `..` (no dot-segment tricks through the gateway), also where a segment
/// hides them from a naive split: behind an encoded slash (`..%2Fadmin` decodes to one segment
/// `../admin`, which an upstream that decodes before normalising reads as a step up), behind a
/// backslash (a separator to some servers), or behind a second layer of encoding
/// (`%252E%252E%252F`, for upstreams that decode twice). Only segments holding `/`, `\` or `%`
/// take the slow path.
///
/// The second layer is decoded the way upstreams decode, leniently and to bytes: an invalid
/// escape stays as written and invalid UTF-8 is kept. A strict decoder would stop at `%zz` or
/// `%FF` and let `%zz%2F..%2Fadmin` through, which a lenient upstream reads as `%zz/../admin`.
fn check_dots(seg: &str) -> Result<(), PathError> {
    if is_dots(seg) {
        return Err(PathError::DotSegment);
    }
    if !seg.bytes().any(|b| matches!(b, b'/' | b'\\' | b'%')) {
        return Ok(());
    }
    if seg.split(['/', '\\']).any(is_dots) {
        return Err(PathError::DotSegment);
    }
    if seg.contains('%') {
        let mut again = Vec::with_capacity(seg.len());
        decode_lenient(seg.as_bytes(), &mut again);
        if again.split(|b| matches!(b, b'/' | b'\\')).any(is_dots_bytes) {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

/// Percent-decodes `raw` into `out` as lenient decoders do: `%` not followed by two hex digits
/// is kept as written.
fn decode_lenient(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let escaped =
            (raw[i] == b'%').then(|| Some((hex(*raw.get(i + 1)?)?, hex(*raw.get(i + 2)?)?))).flatten();
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
}

fn is_dots(piece: &str) -> bool {
    is_dots_bytes(piece.as_bytes())
}

fn is_dots_bytes(piece: &[u8]) -> bool {
    piece == b"." || piece == b".."
}

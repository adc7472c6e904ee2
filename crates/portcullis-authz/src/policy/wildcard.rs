//! IAM wildcard patterns (docs/aws-compatibility.md#iam-policy-and-simple-responses): `*` is any
//! run of characters (including `/` and `:`), `?` is exactly one character, everything else is
//! literal and case-sensitive.
//!
//! A pattern is compiled once into the segments between its stars. Matching anchors the first
//! segment at the start and the last at the end (both have a fixed length in characters), then
//! places each middle segment at its leftmost occurrence after the previous one. Leftmost
//! placement is always safe because a star absorbs whatever lies between segments, so there is
//! never a reason to backtrack further than "try the next start": no recursion, no exponential
//! blow-up. Star-free segments are found with `str::find` (linear), so patterns such as
//! `*a*a*a*b` against `aaaa…` stay linear; a segment containing `?` is tried at each start,
//! O(window × segment), which the 512-character pattern limit bounds.

/// One piece of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// Literal text, compared byte for byte.
    Lit(Box<str>),
    /// `?`: exactly one character (a Unicode scalar value, as IAM counts characters).
    One,
}

/// The text between two stars (or a pattern end and a star).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Segment {
    atoms: Vec<Atom>,
    /// How many characters of text this segment consumes (fixed: there are no stars in it).
    chars: usize,
}

impl Segment {
    fn parse(text: &str) -> Segment {
        let mut atoms = Vec::new();
        let mut lit = String::new();
        let mut chars = 0;
        for c in text.chars() {
            chars += 1;
            if c == '?' {
                if !lit.is_empty() {
                    atoms.push(Atom::Lit(std::mem::take(&mut lit).into_boxed_str()));
                }
                atoms.push(Atom::One);
            } else {
                lit.push(c);
            }
        }
        if !lit.is_empty() {
            atoms.push(Atom::Lit(lit.into_boxed_str()));
        }
        Segment { atoms, chars }
    }

    /// Matches the segment at byte offset `at` of `text` (a char boundary); returns the end offset.
    fn match_at(&self, text: &str, mut at: usize) -> Option<usize> {
        for atom in &self.atoms {
            let rest = text.get(at..)?;
            match atom {
                Atom::Lit(lit) => {
                    if !rest.starts_with(&**lit) {
                        return None;
                    }
                    at += lit.len();
                }
                Atom::One => at += rest.chars().next()?.len_utf8(),
            }
        }
        Some(at)
    }

    /// Leftmost occurrence of the segment wholly inside `text[from..]`; returns its end offset.
    fn find_from(&self, text: &str, from: usize) -> Option<usize> {
        match self.atoms.as_slice() {
            [] => Some(from),
            [Atom::Lit(lit)] => text.get(from..)?.find(&**lit).map(|i| from + i + lit.len()),
            [Atom::Lit(lit), ..] => {
                // Jump between occurrences of the leading literal instead of trying every char.
                let mut start = from;
                loop {
                    start += text.get(start..)?.find(&**lit)?;
                    if let Some(end) = self.match_at(text, start) {
                        return Some(end);
                    }
                    start += text[start..].chars().next()?.len_utf8();
                }
            }
            _ => {
                let window = text.get(from..)?;
                window
                    .char_indices()
                    .map(|(i, _)| from + i)
                    .chain(std::iter::once(text.len()))
                    .find_map(|start| self.match_at(text, start))
            }
        }
    }
}

/// A compiled IAM wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard(Kind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Only stars: matches everything (the common `"Resource": "*"`).
    Any,
    /// No wildcard at all: string equality.
    Exact(Box<str>),
    /// `segments[0]` * `segments[1]` * … * `segments[n-1]`, n ≥ 2 (or one segment with `?`
    /// and no star).
    Glob(Vec<Segment>),
}

impl Wildcard {
    /// Compiles `pattern`. Never fails: every string is a valid IAM pattern.
    pub(crate) fn new(pattern: &str) -> Wildcard {
        if !pattern.is_empty() && pattern.bytes().all(|b| b == b'*') {
            return Wildcard(Kind::Any);
        }
        if !pattern.contains(['*', '?']) {
            return Wildcard(Kind::Exact(pattern.into()));
        }
        // `a**b` is `a*b`: splitting keeps an empty segment between the two stars, which
        // `find_from` places anywhere at no cost, so no special case is needed.
        Wildcard(Kind::Glob(pattern.split('*').map(Segment::parse).collect()))
    }

    /// Whether the whole of `text` matches the pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        match &self.0 {
            Kind::Any => true,
            Kind::Exact(exact) => **exact == *text,
            Kind::Glob(segments) => glob_matches(segments, text),
        }
    }
}

fn glob_matches(segments: &[Segment], text: &str) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return text.is_empty();
    };
    let Some((last, middle)) = rest.split_last() else {
        // No star: the single segment must cover the text exactly.
        return first.match_at(text, 0) == Some(text.len());
    };
    let Some(mut cursor) = first.match_at(text, 0) else {
        return false;
    };
    // The last segment has a fixed length in characters, so its start is known.
    let suffix_start = if last.chars == 0 {
        text.len()
    } else {
        match text.char_indices().rev().nth(last.chars - 1) {
            Some((i, _)) => i,
            None => return false,
        }
    };
    if suffix_start < cursor || last.match_at(text, suffix_start) != Some(text.len()) {
        return false;
    }
    let window = &text[..suffix_start];
    for segment in middle {
        match segment.find_from(window, cursor) {
            Some(end) => cursor = end,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;

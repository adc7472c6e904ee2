//! Route keys as written in the config: `$default` or `<METHOD> <path>`
//! (docs/aws-compatibility.md#routes-and-route-selection).
//!
//! Parsing is strict because a route key that the gateway silently reinterprets is a route that
//! never matches: every refusal names the problem and, where there is an obvious fix, suggests it
//! (see [`RouteKeyError::suggestion`]).

use std::fmt;
use std::str::FromStr;

use http::Method;

use crate::error::{RouteKeyError, RouteKeyErrorKind};
use crate::path::PathTemplate;

/// A parsed route key: what one route of an HTTP API answers to.
///
/// `Display` writes the canonical text, which is exactly the text that was parsed (parsing
/// refuses every non-canonical spelling, e.g. `get /pets` or two spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// `$default`: catches every request that no other route matches
    /// (docs/aws-compatibility.md#routes-and-route-selection).
    Default,
    /// `<METHOD> <path>`, e.g. `GET /pets/{id}` or `ANY /{proxy+}`.
    Route {
        /// The method (or `ANY`) the route answers to.
        method: MethodSel,
        /// The path template.
        path: PathTemplate,
    },
}

/// The method part of a route key.
///
/// Only the seven methods AWS lists for `$context.httpMethod`
/// (docs/aws-compatibility.md#routes-and-route-selection) can be named; other request methods (e.g.
/// `PROPFIND`) can only reach `ANY` routes or `$default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MethodSel {
    /// `ANY`: every method not otherwise defined for the same path template.
    Any,
    /// One of `GET POST PUT PATCH DELETE HEAD OPTIONS` when parsed. A key built by hand with
    /// another method is accepted by the table and matches exactly that method.
    Method(Method),
}

/// The methods a route key may name, in the order of the per-node method tables.
pub(crate) const METHODS: [Method; 7] =
    [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS];

/// Slot of `ANY` in a method table (after the seven explicit methods).
pub(crate) const ANY_SLOT: usize = 7;

/// Methods that exist in HTTP but that HTTP API route keys cannot name.
const UNSUPPORTED_METHODS: [&str; 2] = ["CONNECT", "TRACE"];

/// The table slot of a request method, `None` for methods no route key can name.
///
/// Methods are compared literally: `HEAD` is its own method and never reaches a `GET` route.
pub(crate) fn method_slot(method: &Method) -> Option<usize> {
    METHODS.iter().position(|m| m == method)
}

impl MethodSel {
    /// The table slot of this selector (`ANY` last); `None` for a hand-built
    /// `MethodSel::Method` holding a method outside [`METHODS`] (parsing never yields one).
    pub(crate) fn slot(&self) -> Option<usize> {
        match self {
            MethodSel::Any => Some(ANY_SLOT),
            MethodSel::Method(m) => method_slot(m),
        }
    }

    /// Whether this selector accepts a request made with `method`.
    pub fn accepts(&self, method: &Method) -> bool {
        match self {
            MethodSel::Any => true,
            MethodSel::Method(m) => m == method,
        }
    }

    /// The text as written in a route key (`ANY`, `GET`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            MethodSel::Any => "ANY",
            MethodSel::Method(m) => m.as_str(),
        }
    }
}

impl fmt::Display for MethodSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MethodSel {
    type Err = RouteKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_method(s).map_err(|(kind, suggestion)| RouteKeyError::new(s, kind, suggestion))
    }
}

impl RouteKey {
    /// Whether this is the `$default` route.
    pub fn is_default(&self) -> bool {
        matches!(self, RouteKey::Default)
    }

    /// The method selector, `None` for `$default`.
    pub fn method(&self) -> Option<&MethodSel> {
        match self {
            RouteKey::Default => None,
            RouteKey::Route { method, .. } => Some(method),
        }
    }

    /// The path template, `None` for `$default`.
    pub fn path(&self) -> Option<&PathTemplate> {
        match self {
            RouteKey::Default => None,
            RouteKey::Route { path, .. } => Some(path),
        }
    }
}

impl RouteKey {
    /// Orders keys the way route selection ranks them when several match one request (the
    /// crate docs' priority rules 1 to 7), `$default` last, ties by text: a listing of routes in
    /// priority order (the admin console's route table). Keys that can never match the same
    /// request are still ordered, by the same rules, so the listing is stable.
    pub fn precedence_cmp(&self, other: &RouteKey) -> std::cmp::Ordering {
        rank(self).cmp(&rank(other)).then_with(|| self.to_string().cmp(&other.to_string()))
    }
}

/// The sort key of [`RouteKey::precedence_cmp`], smaller first: `$default`; a greedy variable;
/// literals and segments before the greedy one (more first); variables; segments; segment kinds
/// left to right; `ANY`.
type Rank = (bool, bool, std::cmp::Reverse<usize>, std::cmp::Reverse<usize>, usize, usize, Vec<u8>, bool);

fn rank(key: &RouteKey) -> Rank {
    use crate::path::Segment;
    use std::cmp::Reverse;
    let RouteKey::Route { method, path } = key else {
        return (true, false, Reverse(0), Reverse(0), 0, 0, Vec::new(), false);
    };
    let segments = path.segments();
    let greedy = matches!(segments.last(), Some(Segment::Greedy(_)));
    let literals = segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
    let vars = segments.iter().filter(|s| matches!(s, Segment::Var(_))).count();
    // Rule 3 ranks greedy routes only (two other routes matching one request have as many
    // segments as it has).
    let before_greedy = if greedy { segments.len() - 1 } else { 0 };
    let kinds = segments
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 0,
            Segment::Var(_) => 1,
            Segment::Greedy(_) => 2,
        })
        .collect();
    (
        false,
        greedy,
        Reverse(literals),
        Reverse(before_greedy),
        vars,
        segments.len(),
        kinds,
        matches!(method, MethodSel::Any),
    )
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKey::Default => f.write_str("$default"),
            RouteKey::Route { method, path } => write!(f, "{method} {path}"),
        }
    }
}

impl FromStr for RouteKey {
    type Err = RouteKeyError;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        let err = |kind, suggestion| Err(RouteKeyError::new(key, kind, suggestion));
        if key == "$default" {
            return Ok(RouteKey::Default);
        }
        if key.is_empty() {
            return err(RouteKeyErrorKind::Empty, None);
        }
        if key.split_whitespace().any(|w| w.eq_ignore_ascii_case("$default")) {
            return err(RouteKeyErrorKind::DefaultWithOther, Some("$default".to_owned()));
        }

        let words: Vec<&str> = key.split_whitespace().collect();
        match words.as_slice() {
            [] => err(RouteKeyErrorKind::Empty, None),
            [single] => no_space(key, single),
            [method, path] => {
                if key != format!("{method} {path}") {
                    // Two words, but separated or surrounded by the wrong whitespace.
                    return err(RouteKeyErrorKind::ExtraSpace, Some(format!("{method} {path}")));
                }
                let method = match parse_method(method) {
                    Ok(m) => m,
                    Err((kind, suggestion)) => return err(kind, suggestion),
                };
                let path = PathTemplate::parse_in(key, path)?;
                Ok(RouteKey::Route { method, path })
            }
            [_, _, ..] => err(RouteKeyErrorKind::SpaceInPath, None),
        }
    }
}

/// A key with no whitespace at all: `/pets`, `GET/pets`, `GET`.
fn no_space(key: &str, word: &str) -> Result<RouteKey, RouteKeyError> {
    if word.starts_with('/') {
        return Err(RouteKeyError::new(key, RouteKeyErrorKind::MissingMethod, None));
    }
    if let Some(slash) = word.find('/') {
        let (method, path) = word.split_at(slash);
        let method = match parse_method(method) {
            Ok(m) => m.to_string(),
            Err((_, Some(s))) => s,
            Err((_, None)) => method.to_owned(),
        };
        return Err(RouteKeyError::new(
            key,
            RouteKeyErrorKind::MissingSpace,
            Some(format!("{method} {path}")),
        ));
    }
    Err(RouteKeyError::new(key, RouteKeyErrorKind::MissingPath, None))
}

/// Parses the method word; on failure returns the error kind and a suggested method.
fn parse_method(word: &str) -> Result<MethodSel, (RouteKeyErrorKind, Option<String>)> {
    if word == "ANY" {
        return Ok(MethodSel::Any);
    }
    if let Some(m) = METHODS.iter().find(|m| m.as_str() == word) {
        return Ok(MethodSel::Method(m.clone()));
    }
    let upper = word.to_ascii_uppercase();
    if UNSUPPORTED_METHODS.contains(&upper.as_str()) {
        return Err((RouteKeyErrorKind::UnsupportedMethod { method: word.to_owned() }, None));
    }
    // The same method in another case is an obvious fix; a misspelt one (`DELET`) is left to
    // whoever reports the error, with its list of methods (`KNOWN_METHODS`).
    let suggestion = KNOWN_METHODS.iter().find(|m| **m == upper).map(|m| (*m).to_owned());
    Err((RouteKeyErrorKind::UnknownMethod { method: word.to_owned() }, suggestion))
}

/// Every method a route key may name, as written.
pub const KNOWN_METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"];

//! AWS HTTP API route keys and route selection
//! (docs/aws-compatibility.md#routes-and-route-selection–1.4). Pure: no I/O, no async.
//!
//! One job: turn route keys (`GET /pets/{id}`, `ANY /{proxy+}`, `$default`) into an immutable
//! [`RouteTable`] and pick, for a request's method and raw path, the route AWS would pick, with
//! its path parameters. It does not know stages (the caller strips the stage segment first,
//! docs/aws-compatibility.md#stages-and-stage-variables), CORS preflight
//! (docs/aws-compatibility.md#cors, a pipeline stage) or integrations (the table stores any `T`,
//! typically the route's compiled plan).
//!
//! Where it sits: a leaf. `portcullis-config` parses route keys with it (errors carry a
//! [`RouteKeyError::suggestion`]), `portcullis-app` builds the table, `portcullis-pipeline`
//! calls [`RouteTable::find`] once per request, and `portcullis-core` re-exports [`Params`].
//!
//! ```
//! use portcullis_route::{RouteKey, RouteTableBuilder};
//! use http::Method;
//!
//! let mut b = RouteTableBuilder::new();
//! for (key, v) in [("GET /pets/{id}", 1), ("ANY /{proxy+}", 2), ("$default", 3)] {
//!     b.insert(key.parse::<RouteKey>()?, v)?;
//! }
//! let table = b.build();
//! let m = table.find(&Method::GET, "/pets/caf%C3%A9")?.expect("a match");
//! assert_eq!((*m.value, m.key.to_string()), (1, "GET /pets/{id}".to_owned()));
//! assert_eq!(m.params.get("id").map(|p| p.decoded.as_str()), Some("café"));
//! assert_eq!(*table.find(&Method::POST, "/a/b")?.expect("greedy").value, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Route keys
//! `$default`, or `METHOD /path` with exactly one space. METHOD is `ANY` or one of
//! `GET POST PUT PATCH DELETE HEAD OPTIONS` (upper case). Path segments are literals, `{name}`
//! or, last only, `{name+}`; names use `[A-Za-z0-9_]`, are non-empty and unique in one key.
//! Literals may be percent-encoded (`/a%20b`); they are compared decoded. An empty segment is
//! allowed only at the end: `/` is the root, `/pets/` (trailing slash) differs from `/pets`.
//! Two keys with the same method selector and the same shape (variable names ignored) are a
//! [`DuplicateRoute`].
//!
//! # Matching rules
//! These are our decisions where AWS is `[UNDOC]`
//! (docs/aws-compatibility.md#routes-and-route-selection); the property tests check the trie
//! against a brute-force scorer of exactly these rules.
//! - `raw_path` is the request path without the query, still percent-encoded, starting with
//!   `/`. It is split on `/`; each segment is percent-decoded for comparison with literal
//!   segments; literal comparison is exact and case-sensitive; a trailing slash is significant.
//! - Refused with [`PathError`]: invalid percent-encoding, a segment that decodes to invalid
//!   UTF-8, any segment that is `.` or `..` raw or after decoding (no dot-segment tricks
//!   through the gateway), more than [`MAX_SEGMENTS`] segments.
//! - `{var}` matches exactly one non-empty segment. `{name+}` matches one or more remaining
//!   segments, non-empty overall; a root-level greedy (`/{proxy+}`) also matches the bare `/`
//!   with an empty value (docs/aws-compatibility.md#routes-and-route-selection); a `… /` route
//!   still wins, being literal; [`RouteTableBuilder::root_greedy_takes_slash`] turns this off.
//! - A `%2F` inside a segment stays inside that segment. [`Param::raw`] is the raw text (for a
//!   greedy variable, the raw segments joined by `/`), [`Param::decoded`] the decoded text.
//! - Priority among the routes that match (a total order):
//!   1. any match without a greedy variable beats any match with one;
//!   2. more literal segments;
//!   3. more segments matched before the greedy variable;
//!   4. fewer variables;
//!   5. fewer segments in total;
//!   6. position by position from the left, literal before `{var}` before greedy;
//!   7. for the same path template, an explicit method beats `ANY`.
//!
//!   `$default` is used only when nothing else matches. A method with no route on the path
//!   (and no `ANY`, no `$default`) is a miss, `Ok(None)`: HTTP APIs have no 405
//!   (docs/aws-compatibility.md#routes-and-route-selection).
//! - Methods are literal: `HEAD` does not match `GET` routes. Methods outside the seven
//!   (e.g. `PROPFIND`) can only match `ANY` routes or `$default`.
//!
//! # Cost
//! [`RouteTable::find`] walks a segment trie (literal children in a hash map, one `{var}`
//! child, greedy routes per node, a method table per node) depth-first, literal child first,
//! in two phases (routes without, then with a greedy variable). It only ever enters trie nodes
//! that match a prefix of the request, enters each at most once per phase, and prunes subtrees
//! where no route ends at the request's depth or where no candidate could outrank the best one
//! found. So its cost depends on the request and on how many templates share its prefixes, not
//! on the number of routes; the worst case, a table built to make every prefix ambiguous, is
//! still bounded by the size of that table. Everything else is computed by
//! [`RouteTableBuilder::build`]; `find` allocates only the returned [`Params`] (plus one
//! buffer for percent-encoded paths longer than 1 KiB). Figures: `benches/route_match.rs`.

mod error;
mod key;
mod path;
mod table;
#[cfg(test)]
mod tests;

pub use error::{DuplicateRoute, PathError, RouteKeyError, RouteKeyErrorKind};
pub use key::{KNOWN_METHODS, MethodSel, RouteKey};
pub use path::{MAX_SEGMENTS, PathTemplate, Segment, integration_path};
pub use table::{Match, RouteTable, RouteTableBuilder};

use std::sync::Arc;

/// One captured path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Variable name as written in the route key (`id` for `{id}`, `proxy` for `{proxy+}`).
    pub name: Arc<str>,
    /// The value exactly as it appeared in the request path (still percent-encoded).
    pub raw: String,
    /// The percent-decoded value (what AWS hands to Lambda in `pathParameters`).
    pub decoded: String,
}

/// The parameters of one match, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| &*p.name == name)
    }
    /// All parameters in path order.
    pub fn iter(&self) -> std::slice::Iter<'_, Param> {
        self.0.iter()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

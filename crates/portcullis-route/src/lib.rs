//! AWS HTTP API route keys and route selection. (Skeleton: being implemented.)

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

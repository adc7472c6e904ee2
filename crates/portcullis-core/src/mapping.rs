//! Parameter mapping entries, typed: AWS's `RequestParameters` and `ResponseParameters` keys
//! (`overwrite:header.x-tenant`, `append:querystring.tag`, `remove:header.server`,
//! `overwrite:path`, `overwrite:statuscode`) with their values as [`Template`]s. The config
//! loader produces them; the mapping stages apply them.

use http::HeaderName;

use crate::Template;

/// What an entry does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingAction {
    /// `append:`: adds a header line or a query pair; what the client sent stays.
    Append,
    /// `overwrite:`: replaces every occurrence.
    Overwrite,
    /// `remove:`: drops every occurrence (the value is ignored).
    Remove,
}

impl MappingAction {
    /// The word written before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingAction::Append => "append",
            MappingAction::Overwrite => "overwrite",
            MappingAction::Remove => "remove",
        }
    }
}

/// What an entry changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MappingTarget {
    /// `header.NAME`.
    Header(HeaderName),
    /// `querystring.NAME` (request mapping only).
    Query(String),
    /// `path` (request mapping, `overwrite` only): the upstream path.
    Path,
    /// `statuscode` (response mapping, `overwrite` only): the status sent to the client.
    StatusCode,
}

/// One entry: `action:target` and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MappingEntry {
    /// What to do.
    pub action: MappingAction,
    /// What to change.
    pub target: MappingTarget,
    /// The value (empty for `remove`).
    pub value: Template,
}

impl std::fmt::Display for MappingEntry {
    /// The key as AWS writes it, e.g. `overwrite:header.x-tenant`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.action.as_str())?;
        match &self.target {
            MappingTarget::Header(name) => write!(f, "header.{name}"),
            MappingTarget::Query(name) => write!(f, "querystring.{name}"),
            MappingTarget::Path => f.write_str("path"),
            MappingTarget::StatusCode => f.write_str("statuscode"),
        }
    }
}

//! What an export says about the parts of a config the OpenAPI definition does not carry as
//! they are: each by its config path, with why and what happened to it.

use std::fmt;

/// What happened to a part of the config that the definition does not carry as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteKind {
    /// **Left out**: AWS HTTP APIs have no equivalent, so the definition does not mention it
    /// and an API imported from it behaves as if the config did not say it: a fixed response,
    /// CEL `rules`, a per-route `cors`, a keyed throttle, the development issuer, a local key
    /// file, `forward_claims`... A route whose authorizer is left out is left out too: a route
    /// is never exported unprotected.
    LeftOut,
    /// **Exported approximately**: written as the closest value AWS accepts, which behaves
    /// differently in some cases the note names: a timeout outside AWS's 50 ms to 30 s, several
    /// JWT identity sources where AWS reads one, an algorithm list AWS does not honour, ARNs
    /// naming the default placeholder account.
    Approximated,
    /// **Outside the definition**: AWS has it, but not in an OpenAPI definition: the stage, its
    /// variables and throttling settings, access logging, and the Lambda functions themselves.
    /// Configure it on AWS beside the imported API.
    OutsideDefinition,
}

impl NoteKind {
    /// `left out`, `exported approximately` or `outside the definition`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::LeftOut => "left out",
            NoteKind::Approximated => "exported approximately",
            NoteKind::OutsideDefinition => "outside the definition",
        }
    }
}

/// One part of the config the definition does not carry as it is.
///
/// Displays as `PATH: MESSAGE`, e.g.
/// `routes."GET /x".respond: a fixed response has no AWS equivalent; left out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The config path of what the note is about, written as the config loader writes paths
    /// in its errors (`routes."GET /x".respond`, `authorizers.dev.issuer`, `stage`).
    pub path: String,
    /// What happened to it.
    pub kind: NoteKind,
    /// Why, and what to do about it; ends with what happened (`left out`, `exported as ...`).
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A config path under construction: `routes."GET /x".timeout`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigPath(String);

impl ConfigPath {
    /// The top-level key `key`.
    pub(crate) fn root(key: &str) -> ConfigPath {
        ConfigPath::default().key(key)
    }

    /// The value under `key`, quoted unless it is a plain word (as the loader writes paths).
    pub(crate) fn key(&self, key: &str) -> ConfigPath {
        let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let mut s = self.0.clone();
        if !s.is_empty() {
            s.push('.');
        }
        if plain {
            s.push_str(key);
        } else {
            s.push_str(&format!("{key:?}"));
        }
        ConfigPath(s)
    }

    /// The `i`th list item.
    pub(crate) fn index(&self, i: usize) -> ConfigPath {
        ConfigPath(format!("{}[{i}]", self.0))
    }
}

/// The notes of one export, in config order.
#[derive(Debug, Default)]
pub(crate) struct Notes(pub(crate) Vec<Note>);

impl Notes {
    pub(crate) fn add(&mut self, path: &ConfigPath, kind: NoteKind, message: impl Into<String>) {
        self.0.push(Note { path: path.0.clone(), kind, message: message.into() });
    }

    pub(crate) fn left_out(&mut self, path: &ConfigPath, why: impl fmt::Display) {
        self.add(path, NoteKind::LeftOut, format!("{why}; left out"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_as_the_loader_does() {
        let p = ConfigPath::root("routes").key("GET /x").key("throttle").index(1).key("key");
        assert_eq!(p.0, "routes.\"GET /x\".throttle[1].key");
        assert_eq!(ConfigPath::root("authorizers").key("auth0").key("issuer").0, "authorizers.auth0.issuer");
    }

    #[test]
    fn a_note_displays_as_path_and_message() {
        let mut notes = Notes::default();
        notes.left_out(
            &ConfigPath::root("routes").key("GET /x").key("respond"),
            "a fixed response has no AWS equivalent",
        );
        assert_eq!(
            notes.0[0].to_string(),
            "routes.\"GET /x\".respond: a fixed response has no AWS equivalent; left out"
        );
        assert_eq!(notes.0[0].kind.as_str(), "left out");
    }
}

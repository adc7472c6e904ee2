//! Revoked tokens (an extension: on AWS a JWT is valid until its `exp`).
//!
//! An entry names a token by its `jti`, or every token of a subject (`sub`) issued up to the
//! moment of revocation (its `iat`; a token without `iat` is covered too), so a user who signs
//! in again after being cut off gets through. Each entry is kept until its `until`, after
//! which the tokens it names have expired anyway. The JWT authorizer checks the list on every
//! request, after its verified-token cache: a cached verification never admits a revoked token.
//!
//! The list is read on the request path without a lock (an immutable set swapped whole) and
//! written rarely: by the admin listener, by the shared store's subscription, at start from
//! `state_dir`.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What an entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Revoked {
    /// One token, by its `jti`.
    Jti(String),
    /// Every token of a subject issued up to `revoked_at`.
    Sub(String),
}

impl std::fmt::Display for Revoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revoked::Jti(jti) => write!(f, "jti {jti:?}"),
            Revoked::Sub(sub) => write!(f, "sub {sub:?}"),
        }
    }
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The token or subject.
    #[serde(flatten)]
    pub revoked: Revoked,
    /// When it was revoked (Unix seconds).
    pub revoked_at: u64,
    /// Until when the entry is kept (Unix seconds); tokens it names have expired by then.
    pub until: u64,
}

#[derive(Default)]
struct Entries {
    jti: HashMap<String, Revocation>,
    sub: HashMap<String, Revocation>,
}

/// The revocations in force, shared by every JWT authorizer of the process.
#[derive(Default)]
pub struct RevocationList {
    entries: ArcSwap<Entries>,
}

impl std::fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.load();
        f.debug_struct("RevocationList")
            .field("jti", &entries.jti.len())
            .field("sub", &entries.sub.len())
            .finish()
    }
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces every entry with `all` (a full resync), dropping those past their `until`.
    pub fn replace(&self, all: impl IntoIterator<Item = Revocation>, now: u64) {
        let mut entries = Entries::default();
        for revocation in all.into_iter().filter(|r| r.until > now) {
            insert(&mut entries, revocation);
        }
        self.entries.store(Arc::new(entries));
    }

    /// Adds one entry (a later one for the same token or subject wins).
    pub fn add(&self, revocation: Revocation) {
        self.entries.rcu(|current| {
            let mut entries = Entries { jti: current.jti.clone(), sub: current.sub.clone() };
            insert(&mut entries, revocation.clone());
            entries
        });
    }

    /// Every entry still in force at `now`, for persistence and listing.
    pub fn all(&self, now: u64) -> Vec<Revocation> {
        let entries = self.entries.load();
        let mut all: Vec<Revocation> =
            entries.jti.values().chain(entries.sub.values()).filter(|r| r.until > now).cloned().collect();
        all.sort_by(|a, b| {
            (a.revoked_at, &a.revoked).cmp(&(b.revoked_at, &b.revoked)).then(a.until.cmp(&b.until))
        });
        all
    }

    /// The entry that revokes the token with `claims` at `now`, if any.
    pub fn check(&self, claims: &Map<String, Value>, now: u64) -> Option<Revocation> {
        let entries = self.entries.load();
        if entries.jti.is_empty() && entries.sub.is_empty() {
            return None;
        }
        if let Some(Value::String(jti)) = claims.get("jti")
            && let Some(entry) = entries.jti.get(jti)
            && entry.until > now
        {
            return Some(entry.clone());
        }
        if let Some(Value::String(sub)) = claims.get("sub")
            && let Some(entry) = entries.sub.get(sub)
            && entry.until > now
        {
            let issued = claims.get("iat").and_then(Value::as_f64);
            if issued.is_none_or(|iat| iat <= entry.revoked_at as f64) {
                return Some(entry.clone());
            }
        }
        None
    }
}

impl PartialOrd for Revoked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Revoked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |r: &Revoked| match r {
            Revoked::Jti(s) => (0, s.clone()),
            Revoked::Sub(s) => (1, s.clone()),
        };
        key(self).cmp(&key(other))
    }
}

fn insert(entries: &mut Entries, revocation: Revocation) {
    match &revocation.revoked {
        Revoked::Jti(jti) => {
            entries.jti.insert(jti.clone(), revocation);
        }
        Revoked::Sub(sub) => {
            entries.sub.insert(sub.clone(), revocation);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_jti_revokes_one_token_and_a_subject_its_tokens_issued_before() {
        let list = RevocationList::new();
        assert!(list.check(&claims(json!({"jti": "a", "sub": "alice"})), 100).is_none());
        list.add(Revocation { revoked: Revoked::Jti("a".into()), revoked_at: 100, until: 200 });
        list.add(Revocation { revoked: Revoked::Sub("bob".into()), revoked_at: 100, until: 200 });
        assert!(list.check(&claims(json!({"jti": "a"})), 150).is_some());
        assert!(list.check(&claims(json!({"jti": "b"})), 150).is_none());
        assert!(list.check(&claims(json!({"jti": "a"})), 200).is_none(), "kept until `until` only");
        assert!(list.check(&claims(json!({"sub": "bob", "iat": 90})), 150).is_some());
        assert!(list.check(&claims(json!({"sub": "bob"})), 150).is_some(), "no iat: covered");
        assert!(
            list.check(&claims(json!({"sub": "bob", "iat": 120})), 150).is_none(),
            "signed in again after"
        );
        assert_eq!(list.all(150).len(), 2);
        list.replace(vec![Revocation { revoked: Revoked::Jti("c".into()), revoked_at: 1, until: 120 }], 150);
        assert!(list.all(150).is_empty(), "a full resync drops what has run out");
    }

    #[test]
    fn entries_read_and_write_as_json() {
        let entry = Revocation { revoked: Revoked::Sub("alice".into()), revoked_at: 1, until: 2 };
        let text = serde_json::to_string(&entry).unwrap();
        assert_eq!(text, r#"{"sub":"alice","revoked_at":1,"until":2}"#);
        assert_eq!(serde_json::from_str::<Revocation>(&text).unwrap(), entry);
    }
}

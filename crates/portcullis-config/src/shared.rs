//! `shared_state:` (Redis for state several replicas share) and `revocation:`.
//!
//! ```yaml
//! shared_state:
//!   redis: redis://127.0.0.1:6379/0     # rediss:// (TLS), redis+sentinel://host:26379/SERVICE, or a list: a cluster
//!   key_prefix: portcullis:prod:
//!   timeout: 50ms
//!   on_unavailable: local               # or deny
//! revocation: {enabled: true}
//! ```

use std::time::Duration;

use crate::decode::{self, Cx, MapReader, YPath, opt};
use crate::yaml::{Kind, Node};

/// `shared_state:`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStateConfig {
    /// `redis`: one URL (`redis://`, `rediss://`, `redis+sentinel://`) or a list of `redis://` /
    /// `rediss://` URLs, the nodes of a cluster. Required.
    pub redis: Vec<String>,
    /// `key_prefix`: prepended to every key. Default `portcullis:`.
    pub key_prefix: String,
    /// `timeout`: longest a Redis call on the request path may take. Default `50ms`.
    pub timeout: Duration,
    /// `on_unavailable`: `local` (default: each replica counts on its own state, logged and
    /// counted) or `deny` (shared-throttled routes answer 503).
    pub on_unavailable: OnUnavailable,
}

/// `shared_state.on_unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnavailable {
    /// Per-replica state.
    Local,
    /// 503 on shared-throttled routes.
    Deny,
}

/// `revocation:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationConfig {
    /// `enabled`: JWT authorizers deny revoked tokens (`portcullis revoke`, `POST /revocations`
    /// on the admin listener). Default `false`.
    pub enabled: bool,
    /// `resync`: how often every entry is read again from the shared store (besides the
    /// subscription that brings each new one at once). Default `10s`.
    pub resync: Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        RevocationConfig { enabled: false, resync: Duration::from_secs(10) }
    }
}

/// Decodes `shared_state:`.
pub(crate) fn decode(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Option<SharedStateConfig>> {
    let mut m = MapReader::new(cx, n, p)?;
    let redis = match m.get("redis") {
        Some((n, p)) => urls(cx, n, &p),
        None => {
            cx.error(n.span, p, "`shared_state` needs `redis` (a redis:// URL)");
            None
        }
    };
    let key_prefix = opt(cx, &mut m, "key_prefix", "portcullis:".to_owned(), decode::non_empty);
    let timeout = opt(cx, &mut m, "timeout", Duration::from_millis(50), |cx, n, p| {
        decode::duration_between(cx, n, p, Duration::from_millis(1), Duration::from_secs(10))
    });
    let on_unavailable = opt(cx, &mut m, "on_unavailable", OnUnavailable::Local, |cx, n, p| {
        decode::choice(cx, n, p, &[("local", OnUnavailable::Local), ("deny", OnUnavailable::Deny)])
    });
    m.finish(cx);
    cx.aws_forbids(n.span, p, "`shared_state`", "AWS keeps its state itself");
    Some(Some(SharedStateConfig {
        redis: redis?,
        key_prefix: key_prefix?,
        timeout: timeout?,
        on_unavailable: on_unavailable?,
    }))
}

fn urls(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Vec<String>> {
    let list = match &n.kind {
        Kind::Seq(_) => decode::string_list(cx, n, p)?,
        _ => vec![decode::non_empty(cx, n, p)?],
    };
    let mut ok = true;
    let cluster = list.len() > 1;
    for url in &list {
        let scheme = url.split_once("://").map(|(s, _)| s);
        let allowed: &[&str] = if cluster {
            &["redis", "rediss"]
        } else {
            &["redis", "rediss", "redis+sentinel", "rediss+sentinel"]
        };
        if !scheme.is_some_and(|s| allowed.contains(&s)) {
            let what = if cluster {
                "a cluster node is redis://HOST:PORT or rediss://HOST:PORT"
            } else {
                "expected redis://HOST:PORT[/DB], rediss:// (TLS), or redis+sentinel://HOST:PORT[,HOST:PORT]/SERVICE[/DB]"
            };
            cx.error(n.span, p, format!("invalid Redis URL {url:?}: {what}"));
            ok = false;
        } else if scheme.is_some_and(|s| s.ends_with("+sentinel"))
            && url.split_once("://").is_none_or(|(_, rest)| rest.split('/').nth(1).is_none_or(str::is_empty))
        {
            cx.error(n.span, p, format!("invalid Redis URL {url:?}: a Sentinel URL names the service: redis+sentinel://HOST:26379/SERVICE"));
            ok = false;
        }
    }
    ok.then_some(list)
}

/// Decodes `revocation:`.
pub(crate) fn decode_revocation(cx: &mut Cx, n: &Node, p: &YPath) -> Option<RevocationConfig> {
    let mut m = MapReader::new(cx, n, p)?;
    let enabled = opt(cx, &mut m, "enabled", false, decode::boolean);
    let resync = opt(cx, &mut m, "resync", Duration::from_secs(10), |cx, n, p| {
        decode::duration_between(cx, n, p, Duration::from_millis(100), Duration::from_secs(3600))
    });
    m.finish(cx);
    if enabled == Some(true) {
        cx.aws_forbids(n.span, p, "`revocation`", "on AWS a JWT is valid until its `exp`");
    }
    Some(RevocationConfig { enabled: enabled?, resync: resync? })
}

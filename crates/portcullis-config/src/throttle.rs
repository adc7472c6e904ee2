//! `throttle:`: token buckets (AWS's stage and route throttling), and per-key buckets as an
//! extension.
//!
//! ```yaml
//! throttle: {rate: 1000, burst: 2000}                 # the whole API
//! routes:
//!   ANY /{proxy+}:
//!     throttle:
//!       - {rate: 50, burst: 100}                                      # this route, all callers
//!       - {rate: 5, burst: 10, key: $context.authorizer.claims.sub}   # per principal
//! ```

use portcullis_core::Template;

use crate::decode::{self, Cx, MapReader, YPath, opt};
use crate::error::Span;
use crate::expr::{self, Place};
use crate::yaml::{Kind, Node};

/// Keys a keyed limit keeps buckets for unless `max_keys` says otherwise: at about 200 bytes
/// a key, 20 MB.
pub(crate) const DEFAULT_MAX_KEYS: u64 = 100_000;

/// One limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// `rate`: requests per second refilled (AWS's `ThrottlingRateLimit`); may be fractional.
    pub rate: f64,
    /// `burst`: requests allowed at once (AWS's `ThrottlingBurstLimit`).
    pub burst: u32,
    /// `key`: a bucket per value of this expression (a claim, a header, the source address);
    /// `None` for one bucket. Extension: an error under `compat: aws`.
    pub key: Option<Template>,
    /// `max_keys`: most keys a keyed limit keeps a bucket for (the ones used most often are
    /// kept). Default 100,000.
    pub max_keys: u64,
    /// `scope`: `shared` (one bucket for every replica, in `shared_state`'s Redis; the default
    /// when `shared_state` is set) or `local` (this replica's own).
    pub scope: ThrottleScope,
    /// Where the limit is written.
    pub span: Span,
}

/// `throttle.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// One bucket for every replica.
    Shared,
    /// This replica's own buckets.
    Local,
}

/// The API-wide `throttle:` (one limit, no key).
pub(crate) fn decode_api(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Option<ThrottleConfig>> {
    let limit = limit(cx, n, p)?;
    if limit.key.is_some() {
        cx.error(n.span, p, "the API-wide `throttle` has no `key`: set keyed limits on routes");
        return None;
    }
    Some(Some(limit))
}

/// A route's `throttle:`: one limit or a list of them.
pub(crate) fn decode_route(cx: &mut Cx, n: &Node, p: &YPath) -> Option<Vec<ThrottleConfig>> {
    match &n.kind {
        Kind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            let mut unkeyed = 0;
            for (i, item) in items.iter().enumerate() {
                match limit(cx, item, &p.index(i)) {
                    Some(limit) => {
                        unkeyed += usize::from(limit.key.is_none());
                        out.push(limit);
                    }
                    None => ok = false,
                }
            }
            if unkeyed > 1 {
                cx.error(n.span, p, "a route has at most one limit without a `key`");
                ok = false;
            }
            if out.iter().filter(|l| l.key.is_some()).count() > 0 {
                cx.aws_forbids(n.span, p, "a throttle `key`", "AWS throttles per stage and route only");
            }
            if out.len() > 1 {
                cx.aws_forbids(n.span, p, "several limits on a route", "AWS has one limit per route");
            }
            ok.then_some(out)
        }
        _ => {
            let limit = limit(cx, n, p)?;
            if limit.key.is_some() {
                cx.aws_forbids(n.span, p, "a throttle `key`", "AWS throttles per stage and route only");
            }
            Some(vec![limit])
        }
    }
}

fn limit(cx: &mut Cx, n: &Node, p: &YPath) -> Option<ThrottleConfig> {
    let mut m = MapReader::new(cx, n, p)?;
    let rate = match m.get("rate") {
        Some((n, p)) => rate(cx, n, &p),
        None => {
            cx.error(n.span, p, "a limit needs `rate` (requests per second)");
            None
        }
    };
    let burst = match m.get("burst") {
        Some((n, p)) => decode::integer(cx, n, &p, 0, 100_000_000).map(|b| b as u32),
        None => {
            cx.error(n.span, p, "a limit needs `burst` (requests allowed at once)");
            None
        }
    };
    let key = opt(cx, &mut m, "key", None, |cx, n, p| {
        let text = decode::non_empty(cx, n, p)?;
        match expr::template(&text, Place::ThrottleKey, &cx.stage_variables) {
            Ok(template) if template.variables().next().is_some() => Some(Some(template)),
            Ok(_) => {
                cx.error(
                    n.span,
                    p,
                    format!("the key {text:?} names no variable: every request would share one bucket"),
                );
                None
            }
            Err(e) => {
                cx.expr_error(n, p, &e, "invalid throttle key");
                None
            }
        }
    });
    let max_keys =
        opt(cx, &mut m, "max_keys", DEFAULT_MAX_KEYS, |cx, n, p| decode::integer(cx, n, p, 1, 100_000_000));
    if let (Some(None), Some(max)) = (&key, max_keys)
        && max != DEFAULT_MAX_KEYS
    {
        cx.error(n.span, p, "`max_keys` bounds a keyed limit: this limit has no `key`");
        m.finish(cx);
        return None;
    }
    let default_scope = if cx.shared_state { ThrottleScope::Shared } else { ThrottleScope::Local };
    let scope = opt(cx, &mut m, "scope", default_scope, |cx, n, p| {
        let scope =
            decode::choice(cx, n, p, &[("shared", ThrottleScope::Shared), ("local", ThrottleScope::Local)])?;
        if scope == ThrottleScope::Shared && !cx.shared_state {
            cx.error(n.span, p, "`scope: shared` needs `shared_state` (a Redis every replica shares)");
            return None;
        }
        Some(scope)
    });
    m.finish(cx);
    Some(ThrottleConfig {
        rate: rate?,
        burst: burst?,
        key: key?,
        max_keys: max_keys?,
        scope: scope?,
        span: n.span,
    })
}

fn rate(cx: &mut Cx, n: &Node, p: &YPath) -> Option<f64> {
    let text = decode::string(cx, n, p)?;
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.0..=1e9).contains(&rate) => Some(rate),
        _ => {
            cx.error(n.span, p, format!("invalid rate {text:?} (requests per second, a number from 0)"));
            None
        }
    }
}

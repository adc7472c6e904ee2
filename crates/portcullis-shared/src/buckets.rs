//! Throttle buckets in Redis: the same GCRA as `portcullis-limits`, run as one script per
//! request (one round trip for all of its shared limits; Redis runs a script alone, so replicas
//! cannot race), on Redis's clock. A cluster keeps each bucket in its own slot, and a script may
//! only touch one slot: there, each bucket is one script call.

use std::sync::LazyLock;
use std::time::Duration;

use portcullis_limits::{Asked, Gcra, SharedBuckets, Unavailable};
use redis::Script;

use crate::SharedState;

/// KEYS: the buckets, in order. ARGV: for each, its emission interval and burst tolerance in
/// microseconds. Returns `{0, 0}` when every bucket allowed the request, or `{i, µs until
/// allowed}` for the first bucket (1-based) that refused it; the buckets before it have counted
/// it, the ones after it are left alone. A key holds its bucket's theoretical arrival time and
/// expires when the bucket would be full again: an idle bucket costs nothing.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  local emission = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key))
  if tat == nil or tat < now then tat = now end
  local allowed_at = tat - tolerance
  if allowed_at > now then
    return {i, allowed_at - now}
  end
  local next_tat = tat + emission
  redis.call('SET', key, string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
end
return {0, 0}
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

/// What a bucket with no burst answers: never allowed, ask again in a second.
const NEVER: Duration = Duration::from_secs(1);

impl SharedBuckets for SharedState {
    fn check_all<'a>(&'a self, buckets: &'a [(&'a str, &'a Gcra)]) -> Asked<'a, Option<(usize, Duration)>> {
        Box::pin(async move {
            // A bucket that allows nothing needs no store; the ones before it still count.
            let (asked, never) = match buckets.iter().position(|(_, limit)| limit.burst() == 0) {
                Some(i) => (&buckets[..i], Some(i)),
                None => (buckets, None),
            };
            if !asked.is_empty() {
                if !self.health.should_try() {
                    return Err(Unavailable);
                }
                let per_call = if self.store.is_cluster() { 1 } else { asked.len() };
                for (chunk, first) in asked.chunks(per_call).zip((0..).step_by(per_call)) {
                    if let Some((i, wait)) = self.run(chunk).await? {
                        return Ok(Some((first + i, wait)));
                    }
                }
            }
            Ok(never.map(|i| (i, NEVER)))
        })
    }
}

impl SharedState {
    /// One script call for `buckets`.
    async fn run(&self, buckets: &[(&str, &Gcra)]) -> Result<Option<(usize, Duration)>, Unavailable> {
        let micros = |nanos: u64| (nanos / 1000).max(1);
        let call = async {
            let mut conn = self.store.connection().await?;
            let mut invocation = SCRIPT.prepare_invoke();
            for (key, limit) in buckets {
                invocation.key(self.key("rl", key));
                invocation.arg(micros(limit.emission_nanos())).arg(limit.tolerance_nanos() / 1000);
            }
            invocation.invoke_async::<(i64, i64)>(&mut conn).await
        };
        match tokio::time::timeout(self.settings.timeout, call).await {
            Ok(Ok((0, _))) => {
                self.health.succeeded();
                Ok(None)
            }
            Ok(Ok((i, wait))) => {
                self.health.succeeded();
                let index = usize::try_from(i - 1).unwrap_or(0);
                Ok(Some((index, Duration::from_micros(wait.max(1) as u64))))
            }
            Ok(Err(error)) => {
                self.store.failed(&error);
                self.health.failed("throttle", &error);
                Err(Unavailable)
            }
            Err(_) => {
                self.health.failed("throttle", &"no answer within the timeout");
                Err(Unavailable)
            }
        }
    }
}

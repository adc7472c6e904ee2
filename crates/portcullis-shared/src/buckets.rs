//! Throttle buckets in Redis: the same GCRA as `portcullis-limits`, run as one script per check
//! (one round trip; Redis runs a script alone, so replicas cannot race), on Redis's clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::time::Duration;

use portcullis_limits::{Decision, Gcra, SharedBuckets, Unavailable};
use redis::Script;

use crate::SharedState;

/// KEYS[1]: the bucket. ARGV: emission interval and burst tolerance, in microseconds.
/// Returns `{1, 0}` (allowed) or `{0, µs until allowed}`. The key holds the bucket's theoretical
/// arrival time and expires when the bucket would be full again: an idle bucket costs nothing.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local allowed_at = tat - tolerance
if allowed_at > now then
  return {0, allowed_at - now}
end
local next_tat = tat + emission
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {1, 0}
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

impl SharedBuckets for SharedState {
    fn check<'a>(
        &'a self,
        key: &'a str,
        limit: &'a Gcra,
    ) -> Pin<Box<dyn Future<Output = Result<Decision, Unavailable>> + Send + 'a>> {
        Box::pin(async move {
            if limit.burst() == 0 {
                return Ok(Decision::Throttled { retry_after: Duration::from_secs(1) });
            }
            if !self.health.should_try() {
                return Err(Unavailable);
            }
            let key = self.key("rl", key);
            let micros = |nanos: u64| (nanos / 1000).max(1);
            let call = async {
                let mut conn = self.store.connection().await?;
                let mut invocation = SCRIPT.key(&key);
                invocation.arg(micros(limit.emission_nanos())).arg(limit.tolerance_nanos() / 1000);
                invocation.invoke_async::<(i64, i64)>(&mut conn).await
            };
            match tokio::time::timeout(self.settings.timeout, call).await {
                Ok(Ok((1, _))) => {
                    self.health.succeeded();
                    Ok(Decision::Allowed)
                }
                Ok(Ok((_, wait))) => {
                    self.health.succeeded();
                    Ok(Decision::Throttled { retry_after: Duration::from_micros(wait.max(1) as u64) })
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
        })
    }
}

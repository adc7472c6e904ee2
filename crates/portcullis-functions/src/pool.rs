//! One function's instances: cold start, warm reuse, at most `concurrency` at once, a bounded
//! wait queue, idle stop, prewarm, and backoff after init failures.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use portcullis_core::TraceId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::MAX_PAYLOAD_BYTES;
use crate::invoke::InvokeError;
use crate::process::{Dispatched, Instance, Live, LiveHandle, Spec, lock};
use crate::stats::Instances;

/// Admission control shared with remote functions: `concurrency` permits, and a bounded number
/// of callers waiting (at most `queue_timeout`) for one.
#[derive(Debug)]
pub(crate) struct Admission {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_size: usize,
    queue_timeout: Duration,
}

impl Admission {
    pub(crate) fn new(concurrency: usize, queue_size: usize, queue_timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            queue_size,
            queue_timeout,
        }
    }

    /// A permit to run one invocation, or `Throttled` when the queue is full or the wait too long.
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, InvokeError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(InvokeError::ShuttingDown),
            Err(tokio::sync::TryAcquireError::NoPermits) => {}
        }
        // The guard also leaves the queue when the caller gives up (its future is dropped).
        let place = QueuePlace::take(&self.waiting);
        if place.ahead >= self.queue_size {
            return Err(InvokeError::Throttled);
        }
        let waited = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await;
        drop(place);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(InvokeError::ShuttingDown),
            Err(_elapsed) => Err(InvokeError::Throttled),
        }
    }

    pub(crate) fn close(&self) {
        self.permits.close();
    }
}

/// A place in the wait queue, given back on drop.
struct QueuePlace<'a> {
    waiting: &'a AtomicUsize,
    /// Callers that were already waiting.
    ahead: usize,
}

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a AtomicUsize) -> Self {
        let ahead = waiting.fetch_add(1, Ordering::AcqRel);
        Self { waiting, ahead }
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Idle {
    instance: Instance,
    since: Instant,
}

#[derive(Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
    last_reason: String,
}

/// The longest wait between init attempts after repeated init failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The wait after the first init failure; doubled per further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

pub(crate) struct Pool {
    pub(crate) spec: Spec,
    admission: Admission,
    /// Idle instances, least recently used first (taken from the back, so the same few instances
    /// stay warm and the rest age out).
    idle: Mutex<Vec<Idle>>,
    live: Live,
    next_id: AtomicU64,
    backoff: Mutex<Backoff>,
    closed: AtomicBool,
    /// Bumped by [`Pool::recycle`]; instances of an older generation are not reused.
    generation: AtomicU64,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

impl Pool {
    pub(crate) fn start(spec: Spec) -> Arc<Self> {
        let s = &spec.settings;
        let admission = Admission::new(s.concurrency.get(), s.queue_size, s.queue_timeout);
        let pool = Arc::new(Self {
            spec,
            admission,
            idle: Mutex::new(Vec::new()),
            live: Live::default(),
            next_id: AtomicU64::new(1),
            backoff: Mutex::new(Backoff::default()),
            closed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            reaper: Mutex::new(None),
        });
        let period =
            (pool.spec.settings.idle_timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(5));
        let reaper = tokio::spawn(reap_loop(Arc::downgrade(&pool), period));
        *lock(&pool.reaper) = Some(reaper);
        pool.top_up_prewarm();
        pool
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.settings.name
    }

    pub(crate) async fn invoke(
        self: &Arc<Self>,
        payload: Bytes,
        request_id: &str,
        trace: Option<&TraceId>,
        limit: Option<Duration>,
    ) -> Result<Bytes, InvokeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(InvokeError::ShuttingDown);
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(InvokeError::RequestTooLarge);
        }
        let permit = self.admission.enter().await?;
        let instance = match self.take_idle() {
            Some(instance) => instance,
            None => self.cold_start(false).await?,
        };
        // A caller's deadline shorter than the function's timeout (a Lambda authorizer's 10 s)
        // ends the invocation like the function's own timeout: the instance is killed and
        // replaced, never left running for a caller that has gone.
        let timeout = limit.map_or(self.spec.settings.timeout, |limit| limit.min(self.spec.settings.timeout));
        let dispatched = match instance.dispatch(payload, request_id, trace, timeout) {
            Ok(dispatched) => dispatched,
            Err(error) => {
                let result = Err(error);
                self.settle(instance, &result, request_id);
                return result;
            }
        };
        let mut busy =
            Busy { pool: self, request_id, running: Some(Running { instance, dispatched, permit }) };
        busy.finish().await
    }

    /// Puts the instance of a finished invocation back in the idle list, or drops (kills) it
    /// when the result says it is broken (crash, timeout).
    fn settle(
        self: &Arc<Self>,
        mut instance: Instance,
        result: &Result<Bytes, InvokeError>,
        request_id: &str,
    ) {
        match result {
            Ok(_) | Err(InvokeError::FunctionError { .. } | InvokeError::ResponseTooLarge) => {
                instance.invocations += 1;
                match self.spec.settings.max_invocations {
                    Some(max) if instance.invocations >= max.get() => {
                        tracing::info!(
                            function = self.name(),
                            instance = instance.id,
                            invocations = instance.invocations,
                            "instance retired after max_invocations"
                        );
                        self.retire(instance);
                    }
                    _ => self.put_idle(instance),
                }
            }
            Err(error) => {
                tracing::warn!(
                    function = self.name(),
                    instance = instance.id,
                    request_id,
                    %error,
                    "instance discarded"
                );
                drop(instance);
            }
        }
    }

    /// Stops a healthy `instance` that has served `max_invocations` and, if the function keeps
    /// `prewarm` instances, starts a replacement once its process is gone (it counts as live
    /// until then, so topping up earlier would see nothing missing).
    fn retire(self: &Arc<Self>, instance: Instance) {
        let exited = lock(&self.live).get(&instance.id).cloned();
        drop(instance);
        if self.spec.settings.prewarm == 0 {
            return;
        }
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            if let Some(exited) = exited {
                exited.exited().await;
            }
            if let Some(pool) = pool.upgrade()
                && !pool.closed.load(Ordering::Acquire)
            {
                pool.top_up_prewarm();
            }
        });
    }

    fn take_idle(&self) -> Option<Instance> {
        let mut idle = lock(&self.idle);
        while let Some(entry) = idle.pop() {
            if entry.instance.alive() {
                return Some(entry.instance);
            }
        }
        None
    }

    fn put_idle(&self, instance: Instance) {
        if self.closed.load(Ordering::Acquire)
            || !instance.alive()
            || instance.generation != self.generation.load(Ordering::Acquire)
        {
            return;
        }
        lock(&self.idle).push(Idle { instance, since: Instant::now() });
    }

    /// Spawns an instance and waits for its init to finish. Fails fast while backing off after
    /// earlier init failures, so a broken function costs a request no more than an error.
    async fn cold_start(&self, provisioned: bool) -> Result<Instance, InvokeError> {
        {
            let backoff = lock(&self.backoff);
            if let Some(until) = backoff.until {
                let now = Instant::now();
                if now < until {
                    return Err(InvokeError::InitFailed {
                        reason: format!(
                            "{} (init failed {} time(s) in a row; next attempt in {} ms)",
                            backoff.last_reason,
                            backoff.failures,
                            (until - now).as_millis()
                        ),
                    });
                }
            }
        }
        let started = Instant::now();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::Acquire);
        let spawned = Instance::spawn(&self.spec, id, &self.live, provisioned).await;
        let ready = match spawned {
            Ok(mut instance) => {
                instance.generation = generation;
                if self.closed.load(Ordering::Acquire) {
                    return Err(InvokeError::ShuttingDown);
                }
                match instance.wait_ready(self.spec.settings.init_timeout).await {
                    Ok(()) => Ok(instance),
                    Err(reason) => Err(reason),
                }
            }
            Err(reason) => Err(reason),
        };
        match ready {
            Ok(instance) => {
                *lock(&self.backoff) = Backoff::default();
                self.spec.recorder.cold_start(started.elapsed());
                tracing::info!(
                    function = self.name(),
                    instance = id,
                    pid = instance.pid(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    provisioned,
                    "cold start"
                );
                Ok(instance)
            }
            Err(reason) => {
                let mut backoff = lock(&self.backoff);
                backoff.failures += 1;
                let delay = FIRST_BACKOFF
                    .saturating_mul(1 << backoff.failures.saturating_sub(1).min(16))
                    .min(MAX_BACKOFF);
                backoff.until = Some(Instant::now() + delay);
                backoff.last_reason = reason.clone();
                tracing::warn!(
                    function = self.name(),
                    instance = id,
                    failures = backoff.failures,
                    retry_in_ms = delay.as_millis() as u64,
                    %reason,
                    "init failed"
                );
                Err(InvokeError::InitFailed { reason })
            }
        }
    }

    /// Starts instances in the background until `prewarm` are live (each holds a permit while it
    /// starts, so prewarming never exceeds `concurrency`).
    fn top_up_prewarm(self: &Arc<Self>) {
        let want = self.spec.settings.prewarm.min(self.spec.settings.concurrency.get());
        let have = lock(&self.live).len();
        for _ in have..want {
            let Ok(permit) = self.admission.permits.clone().try_acquire_owned() else {
                return;
            };
            let pool = Arc::downgrade(self);
            tokio::spawn(async move {
                let Some(pool) = pool.upgrade() else { return };
                if let Ok(instance) = pool.cold_start(true).await {
                    pool.put_idle(instance);
                }
                drop(permit);
            });
        }
    }

    /// Stops instances idle for longer than `idle_timeout`, keeping `prewarm` of them.
    fn reap(&self) {
        let settings = &self.spec.settings;
        let now = Instant::now();
        let mut stopped = Vec::new();
        {
            let mut idle = lock(&self.idle);
            let mut live = lock(&self.live).len();
            let mut kept = Vec::with_capacity(idle.len());
            for entry in idle.drain(..) {
                if !entry.instance.alive() {
                    continue;
                }
                if now.duration_since(entry.since) >= settings.idle_timeout && live > settings.prewarm {
                    live -= 1;
                    stopped.push(entry.instance);
                } else {
                    kept.push(entry);
                }
            }
            *idle = kept;
        }
        for instance in stopped {
            tracing::info!(function = self.name(), instance = instance.id, "stopping idle instance");
        }
    }

    /// Stops idle instances now and busy ones when their invocation ends, and clears any init
    /// backoff, so the next invocation starts a fresh instance with the current code (`watch`).
    pub(crate) fn recycle(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        *lock(&self.backoff) = Backoff::default();
        let stale: Vec<Idle> = lock(&self.idle).drain(..).collect();
        tracing::info!(function = self.name(), stopped = stale.len(), "recycling instances");
    }

    pub(crate) fn idle_count(&self) -> usize {
        lock(&self.idle).len()
    }

    /// Live instances by state: starting (init running), idle (in the idle list), busy (the
    /// rest: running an invocation, or finishing one).
    pub(crate) fn instances(&self) -> Instances {
        let (live, starting) = {
            let live = lock(&self.live);
            (live.len(), live.values().filter(|h| h.starting()).count())
        };
        let idle = self.idle_count().min(live - starting);
        Instances { busy: live - starting - idle, idle, starting }
    }

    /// Pids of all live instances (for diagnostics and tests).
    pub(crate) fn pids(&self) -> Vec<u32> {
        let live = lock(&self.live);
        live.values().map(|h| h.pid()).collect()
    }

    /// Runtime API connections accepted by the live instances: (TCP, local socket).
    pub(crate) fn connections(&self) -> (u32, u32) {
        lock(&self.live).values().map(LiveHandle::connections).fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1))
    }

    /// Kills every instance without waiting (for `Drop`).
    pub(crate) fn kill_all(&self) {
        self.closed.store(true, Ordering::Release);
        self.admission.close();
        if let Some(reaper) = lock(&self.reaper).take() {
            reaper.abort();
        }
        lock(&self.idle).clear();
        for handle in lock(&self.live).values() {
            handle.kill();
        }
    }

    /// Kills every instance and waits until their processes are reaped (at most 5 s).
    pub(crate) async fn shutdown(&self) {
        self.kill_all();
        let handles: Vec<_> = lock(&self.live).values().cloned().collect();
        let all_exited = futures_join(handles.into_iter().map(|h| h.exited()));
        if tokio::time::timeout(Duration::from_secs(5), all_exited).await.is_err() {
            tracing::warn!(function = self.name(), "instances still running 5 s after the kill");
        }
    }
}

/// What an invocation in flight holds: its instance, its pending outcome and its permit.
struct Running {
    instance: Instance,
    dispatched: Dispatched,
    permit: OwnedSemaphorePermit,
}

/// An invocation in flight. When its caller goes away before it ends (the client disconnected,
/// an outer timeout fired), dropping this finishes the invocation in a background task, so the
/// instance goes back to the pool warm, as on Lambda, where a caller leaving does not stop the
/// function, instead of being killed and cold-started again. The permit is held until then:
/// the instance is still busy and counts against `concurrency`. The background wait ends by the
/// invocation's deadline like any other (the instance is killed on timeout).
struct Busy<'a> {
    pool: &'a Arc<Pool>,
    request_id: &'a str,
    running: Option<Running>,
}

impl Busy<'_> {
    async fn finish(&mut self) -> Result<Bytes, InvokeError> {
        let Some(running) = self.running.as_mut() else {
            return Err(InvokeError::Crashed { reason: "the invocation was already finished".into() });
        };
        let result = running.instance.finish(&mut running.dispatched).await;
        if let Some(running) = self.running.take() {
            self.pool.settle(running.instance, &result, self.request_id);
            // Released only after the instance is back in the idle list, so the next waiter
            // finds it.
            drop(running.permit);
        }
        result
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let Some(mut running) = self.running.take() else { return };
        // Without a runtime (it is shutting down) `running` is dropped here, which kills the
        // instance: nothing leaks either way.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let pool = self.pool.clone();
        let request_id = self.request_id.to_owned();
        tracing::debug!(function = pool.name(), instance = running.instance.id, %request_id, "caller went away; finishing the invocation in the background");
        runtime.spawn(async move {
            let result = running.instance.finish(&mut running.dispatched).await;
            pool.settle(running.instance, &result, &request_id);
            drop(running.permit);
        });
    }
}

async fn futures_join(waits: impl Iterator<Item = impl std::future::Future<Output = ()>>) {
    for wait in waits {
        wait.await;
    }
}

async fn reap_loop(pool: Weak<Pool>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        if pool.closed.load(Ordering::Acquire) {
            return;
        }
        pool.reap();
        pool.top_up_prewarm();
    }
}

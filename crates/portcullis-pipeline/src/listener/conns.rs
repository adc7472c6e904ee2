//! How many connections a listener holds, in all and per client address.
//!
//! Touched once when a connection opens and once when it closes, never per request. At the cap
//! the accept loop waits for room and raises the *pressure* generation: every connection with
//! no request in flight for [`PRESSURE_MIN_IDLE`] closes, so idle keep-alive sockets (or an
//! attacker's pile of them) give way to new clients instead of locking them out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// A connection idle for less than this is left alone under pressure: it may be a client that
/// connected a moment ago and is about to send its request.
pub(crate) const PRESSURE_MIN_IDLE: Duration = Duration::from_millis(250);

/// How often the accept loop asks idle connections again while it stays at the cap.
const PRESSURE_INTERVAL: Duration = Duration::from_millis(100);

/// Connection caps of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max: NonZeroUsize,
    /// Most connections open at once from one client address; `None`: no per-address cap
    /// (the default, since a load balancer in front makes every client one address).
    pub per_client: Option<NonZeroUsize>,
}

impl ConnectionLimits {
    /// The default cap for a process allowed `open_files` descriptors: each proxied request can
    /// hold two (the client's and the upstream's), and some are kept for everything else
    /// (functions' pipes, key files, the admin listener). At least 64.
    pub fn for_open_files(open_files: u64) -> Self {
        let usable = open_files.saturating_sub(128) / 2;
        let max = usize::try_from(usable).unwrap_or(usize::MAX).clamp(64, 1 << 20);
        ConnectionLimits { max: NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN), per_client: None }
    }
}

pub(super) struct ConnTracker {
    limits: ConnectionLimits,
    open: AtomicUsize,
    /// Open connections per client address; only kept when there is a per-client cap.
    per_client: Mutex<HashMap<IpAddr, usize>>,
    room: Notify,
    /// Signalled whenever a connection opens or closes (what request threads balance on).
    changed: Notify,
    pressure: watch::Sender<u64>,
}

/// How long a request thread holding more than its share of the connections first leaves new
/// connections to the others (they may all be busy: then it takes one that waited); each wait
/// that ends with the shares still uneven doubles it, up to [`MAX_BALANCE_WAIT`].
pub(super) const BALANCE_WAIT: Duration = Duration::from_millis(5);
pub(super) const MAX_BALANCE_WAIT: Duration = Duration::from_millis(160);

impl ConnTracker {
    pub(super) fn new(limits: ConnectionLimits) -> Self {
        ConnTracker {
            limits,
            open: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            room: Notify::new(),
            changed: Notify::new(),
            pressure: watch::Sender::new(0),
        }
    }

    pub(super) fn full(&self) -> bool {
        self.open.load(Ordering::Relaxed) >= self.limits.max.get()
    }

    /// Asks idle connections to close.
    pub(super) fn press(&self) {
        self.pressure.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Waits until a connection has closed, asking idle ones to close meanwhile.
    pub(super) async fn wait_for_room(&self) {
        while self.full() {
            self.press();
            let _ = tokio::time::timeout(PRESSURE_INTERVAL, self.room.notified()).await;
        }
    }

    /// Whether a thread holding `mine` of the connections, one of `threads` accepting from one
    /// socket, holds more than its share. Without the shares the thread that wakes first takes a
    /// burst of new connections and is left with most of the load.
    pub(super) fn over_share(&self, mine: &AtomicUsize, threads: usize) -> bool {
        mine.load(Ordering::Relaxed) > self.open.load(Ordering::Relaxed).div_ceil(threads)
    }

    /// Waits until a thread holding `mine` is within its share (true) or `wait` has passed
    /// (false).
    pub(super) async fn balance(&self, mine: &AtomicUsize, threads: usize, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !self.over_share(mine, threads) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    /// A slot for a connection from `client`, or `None` if that address is at its cap; `mine`
    /// counts the connections of the thread that accepted it.
    pub(super) fn admit(self: &Arc<Self>, client: IpAddr, mine: &Arc<AtomicUsize>) -> Option<Slot> {
        if let Some(cap) = self.limits.per_client {
            let mut per_client = self.per_client.lock().unwrap_or_else(PoisonError::into_inner);
            let count = per_client.entry(client).or_insert(0);
            if *count >= cap.get() {
                return None;
            }
            *count += 1;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        mine.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
        Some(Slot { tracker: Arc::clone(self), client, mine: Arc::clone(mine) })
    }

    fn release(&self, client: IpAddr) {
        if self.limits.per_client.is_some() {
            let mut per_client = self.per_client.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = per_client.get_mut(&client) {
                *count -= 1;
                if *count == 0 {
                    per_client.remove(&client);
                }
            }
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.room.notify_one();
        self.changed.notify_waiters();
    }
}

/// One open connection's place; released when dropped.
pub(super) struct Slot {
    tracker: Arc<ConnTracker>,
    client: IpAddr,
    mine: Arc<AtomicUsize>,
}

impl Slot {
    /// The pressure generation, changed each time the listener needs room.
    pub(super) fn pressure(&self) -> watch::Receiver<u64> {
        self.tracker.pressure.subscribe()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.mine.fetch_sub(1, Ordering::Relaxed);
        self.tracker.release(self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_client: Option<usize>) -> ConnectionLimits {
        ConnectionLimits {
            max: NonZeroUsize::new(max).unwrap(),
            per_client: per_client.and_then(NonZeroUsize::new),
        }
    }

    #[test]
    fn the_per_client_cap_counts_each_address_and_frees_on_close() {
        let tracker = Arc::new(ConnTracker::new(limits(10, Some(2))));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mine = Arc::new(AtomicUsize::new(0));
        let first = tracker.admit(a, &mine).unwrap();
        let _second = tracker.admit(a, &mine).unwrap();
        assert!(tracker.admit(a, &mine).is_none(), "a third connection from one address");
        let _other = tracker.admit(b, &mine).expect("another address has its own count");
        drop(first);
        assert!(tracker.admit(a, &mine).is_some(), "a closed connection frees its place");
    }

    #[test]
    fn full_at_the_cap_and_not_after_a_close() {
        let tracker = Arc::new(ConnTracker::new(limits(2, None)));
        let mine = Arc::new(AtomicUsize::new(0));
        let one = tracker.admit("127.0.0.1".parse().unwrap(), &mine).unwrap();
        let _two = tracker.admit("127.0.0.1".parse().unwrap(), &mine).unwrap();
        assert!(tracker.full());
        drop(one);
        assert!(!tracker.full());
    }

    #[tokio::test(start_paused = true)]
    async fn a_thread_over_its_share_waits_for_the_others_but_not_for_ever() {
        let tracker = Arc::new(ConnTracker::new(limits(100, None)));
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let _a1 = tracker.admit(client, &a).unwrap();
        assert!(!tracker.over_share(&a, 2), "one connection of one: within its share");
        let _a2 = tracker.admit(client, &a).unwrap();
        assert_eq!((a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)), (2, 0));
        assert!(tracker.over_share(&a, 2), "two of two connections, one of two threads");
        assert!(!tracker.over_share(&a, 1), "the only thread is never over its share");

        // Waits until the other thread takes one.
        let waiting = tracker.balance(&a, 2, Duration::from_secs(60));
        tokio::pin!(waiting);
        assert!(futures_poll(waiting.as_mut()).is_pending());
        let b1 = tracker.admit(client, &b).unwrap();
        assert_eq!(futures_poll(waiting.as_mut()), std::task::Poll::Ready(true), "two of three: within");

        // The other's connection closes and nothing else changes: the wait ends, uneven.
        drop(b1);
        assert_eq!(b.load(Ordering::Relaxed), 0, "a closed connection leaves its thread's count");
        let started = tokio::time::Instant::now();
        assert!(!tracker.balance(&a, 2, BALANCE_WAIT).await);
        assert_eq!(started.elapsed(), BALANCE_WAIT);
    }

    fn futures_poll<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx)
    }

    #[test]
    fn the_default_cap_follows_the_open_file_limit() {
        assert_eq!(ConnectionLimits::for_open_files(1024).max.get(), 448);
        assert_eq!(ConnectionLimits::for_open_files(100).max.get(), 64);
        assert_eq!(ConnectionLimits::for_open_files(1_048_576).max.get(), 524_224);
    }
}

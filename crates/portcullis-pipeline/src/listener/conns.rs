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
    pressure: watch::Sender<u64>,
}

impl ConnTracker {
    pub(super) fn new(limits: ConnectionLimits) -> Self {
        ConnTracker {
            limits,
            open: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            room: Notify::new(),
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

    /// A slot for a connection from `client`, or `None` if that address is at its cap.
    pub(super) fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        if let Some(cap) = self.limits.per_client {
            let mut per_client = self.per_client.lock().unwrap_or_else(PoisonError::into_inner);
            let count = per_client.entry(client).or_insert(0);
            if *count >= cap.get() {
                return None;
            }
            *count += 1;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot { tracker: Arc::clone(self), client })
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
    }
}

/// One open connection's place; released when dropped.
pub(super) struct Slot {
    tracker: Arc<ConnTracker>,
    client: IpAddr,
}

impl Slot {
    /// The pressure generation, changed each time the listener needs room.
    pub(super) fn pressure(&self) -> watch::Receiver<u64> {
        self.tracker.pressure.subscribe()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
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
        let first = tracker.admit(a).unwrap();
        let _second = tracker.admit(a).unwrap();
        assert!(tracker.admit(a).is_none(), "a third connection from one address");
        let _other = tracker.admit(b).expect("another address has its own count");
        drop(first);
        assert!(tracker.admit(a).is_some(), "a closed connection frees its place");
    }

    #[test]
    fn full_at_the_cap_and_not_after_a_close() {
        let tracker = Arc::new(ConnTracker::new(limits(2, None)));
        let one = tracker.admit("127.0.0.1".parse().unwrap()).unwrap();
        let _two = tracker.admit("127.0.0.1".parse().unwrap()).unwrap();
        assert!(tracker.full());
        drop(one);
        assert!(!tracker.full());
    }

    #[test]
    fn the_default_cap_follows_the_open_file_limit() {
        assert_eq!(ConnectionLimits::for_open_files(1024).max.get(), 448);
        assert_eq!(ConnectionLimits::for_open_files(100).max.get(), 64);
        assert_eq!(ConnectionLimits::for_open_files(1_048_576).max.get(), 524_224);
    }
}

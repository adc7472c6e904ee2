//! Per-thread stripes of shared state: a thread that writes to a stripe of its own never
//! passes a cache line back and forth with the other request threads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// This thread's stripe among `count` (`count` > 0): threads take stripes in turn, in the order
/// they first ask, so the runtime's few worker threads get distinct ones.
pub fn thread_stripe(count: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    STRIPE.with(|stripe| *stripe % count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_stripe_and_threads_take_them_in_turn() {
        let mine = thread_stripe(8);
        assert_eq!(thread_stripe(8), mine, "the same stripe every time");
        let others: Vec<usize> =
            (0..4).map(|_| std::thread::spawn(|| thread_stripe(1024)).join().unwrap()).collect();
        let mut distinct = others.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), others.len(), "new threads take new stripes: {others:?}");
    }
}

//! Request shards: the threads that accept and serve the main listener's connections, each
//! running its own single-threaded runtime (see the pipeline's listener). A connection stays on
//! the shard that accepted it, and so does everything registered with that shard's reactor (an
//! upstream connection it opened, a timer it set): state kept per shard is never handed across
//! threads on the hot path.

use std::cell::Cell;

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks this thread as request shard `index` for the rest of its life.
pub fn enter_shard(index: usize) {
    SHARD.with(|shard| shard.set(Some(index)));
}

/// The request shard this thread is, or `None` on any other thread (the main runtime's workers,
/// blocking threads, tests).
pub fn current_shard() -> Option<usize> {
    SHARD.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_thread_that_entered_a_shard_is_one() {
        assert_eq!(current_shard(), None);
        let seen = std::thread::spawn(|| {
            enter_shard(3);
            current_shard()
        })
        .join()
        .unwrap();
        assert_eq!(seen, Some(3));
        assert_eq!(current_shard(), None, "another thread's shard is not this one's");
    }
}

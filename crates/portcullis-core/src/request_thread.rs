//! Request threads: the threads that accept and serve the main listener's connections, each
//! running its own single-threaded runtime (see the pipeline's listener). A connection stays on
//! the thread that accepted it, and so does everything registered with that thread's reactor (an
//! upstream connection it opened, a timer it set): state kept per request thread is never handed
//! across threads on the hot path.

use std::cell::Cell;

thread_local! {
    static REQUEST_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as a request thread for the rest of its life.
pub fn enter_request_thread() {
    REQUEST_THREAD.with(|marked| marked.set(true));
}

/// Whether this thread is a request thread (not one of the main runtime's workers, a blocking
/// thread or a test's).
pub fn on_request_thread() -> bool {
    REQUEST_THREAD.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_thread_that_entered_is_a_request_thread() {
        assert!(!on_request_thread());
        let seen = std::thread::spawn(|| {
            enter_request_thread();
            on_request_thread()
        })
        .join()
        .unwrap();
        assert!(seen);
        assert!(!on_request_thread(), "another thread's mark is not this one's");
    }
}

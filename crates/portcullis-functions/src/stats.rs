//! What a function has done, for operators (the admin console and `/metrics`): invocations,
//! errors, timeouts as relaxed counters; the last cold starts and the last lines the function
//! printed in small bounded rings, kept only while the admin console is in use
//! ([`KeepRecent`]). Nothing here is on an invocation's critical path beyond one counter
//! increment; output lines are recorded by the task that already reads them for the log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::invoke::InvokeError;
use crate::process::lock;

/// Cold starts kept per function.
const COLD_STARTS: usize = 20;
/// Output lines kept per function.
const LINES: usize = 50;
/// Bytes of one output line kept (the log gets the whole line, up to its own limit).
const LINE_BYTES: usize = 1024;

/// Whether functions keep their last cold starts and output lines: on while the admin console is
/// in use. Off (the default), nothing is kept beyond the counters `/metrics` renders; the rings
/// stop being written, and what they hold is cleared the next time they are read. One switch is
/// shared by every function started with it (clones are the same switch).
#[derive(Debug, Clone, Default)]
pub struct KeepRecent(Arc<AtomicBool>);

impl KeepRecent {
    /// Turns the keeping on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// Whether it is on.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One cold start.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// When the instance became ready.
    pub at: SystemTime,
    /// From spawn to ready.
    pub duration: Duration,
}

/// One line a function printed.
#[derive(Debug, Clone)]
pub struct OutputLine {
    /// When it was read.
    pub at: SystemTime,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The invocation it most likely belongs to.
    pub request_id: Option<Arc<str>>,
    /// Its text, cut to 1 KiB.
    pub text: String,
}

/// Instances of a function by state, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Instances {
    /// Running an invocation.
    pub busy: usize,
    /// Ready and waiting.
    pub idle: usize,
    /// Spawned, init code running.
    pub starting: usize,
}

/// A function's figures at one moment.
#[derive(Debug, Clone, Default)]
pub struct FunctionStats {
    /// Instances by state (always zero for remote functions).
    pub instances: Instances,
    /// Invocations that ended (successfully or not).
    pub invocations: u64,
    /// Invocations that failed other than by timing out.
    pub errors: u64,
    /// Invocations that timed out.
    pub timeouts: u64,
    /// Cold starts since the gateway started.
    pub cold_start_count: u64,
    /// The most recent cold starts, oldest first.
    pub cold_starts: Vec<ColdStart>,
    /// The most recent output lines, oldest first.
    pub last_lines: Vec<OutputLine>,
}

/// The counters and rings one function keeps; shared by its invoker, pool and output readers.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    invocations: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    cold_start_count: AtomicU64,
    cold_starts: Mutex<VecDeque<ColdStart>>,
    lines: Mutex<VecDeque<OutputLine>>,
    keep: KeepRecent,
}

impl Recorder {
    pub(crate) fn new(keep: KeepRecent) -> Self {
        Self { keep, ..Self::default() }
    }

    pub(crate) fn invocation<T>(&self, result: &Result<T, InvokeError>) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(_) => {}
            Err(InvokeError::Timeout(_)) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn cold_start(&self, duration: Duration) {
        self.cold_start_count.fetch_add(1, Ordering::Relaxed);
        if !self.keep.is_on() {
            return;
        }
        let mut ring = lock(&self.cold_starts);
        if ring.len() == COLD_STARTS {
            ring.pop_front();
        }
        ring.push_back(ColdStart { at: SystemTime::now(), duration });
    }

    pub(crate) fn line(&self, stream: &'static str, request_id: Option<Arc<str>>, text: &str) {
        if !self.keep.is_on() {
            return;
        }
        let mut cut = text.len().min(LINE_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let line = OutputLine { at: SystemTime::now(), stream, request_id, text: text[..cut].to_owned() };
        let mut ring = lock(&self.lines);
        if ring.len() == LINES {
            ring.pop_front();
        }
        ring.push_back(line);
    }

    pub(crate) fn stats(&self, instances: Instances) -> FunctionStats {
        if !self.keep.is_on() {
            lock(&self.cold_starts).clear();
            lock(&self.lines).clear();
        }
        FunctionStats {
            instances,
            invocations: self.invocations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            cold_start_count: self.cold_start_count.load(Ordering::Relaxed),
            cold_starts: lock(&self.cold_starts).iter().cloned().collect(),
            last_lines: lock(&self.lines).iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_kept_only_while_asked_keep_the_newest_and_cut_lines_on_a_char_boundary() {
        // Off (nobody looks): the counters count, the rings stay empty.
        let keep = KeepRecent::default();
        let recorder = Recorder::new(keep.clone());
        recorder.line("stdout", None, "unseen");
        recorder.cold_start(Duration::from_millis(5));
        let stats = recorder.stats(Instances::default());
        assert_eq!(stats.cold_start_count, 1);
        assert!(stats.last_lines.is_empty() && stats.cold_starts.is_empty());

        let recorder = Recorder::new(keep.clone());
        keep.set(true);
        for i in 0..(LINES + 5) {
            recorder.line("stdout", None, &format!("line {i}"));
        }
        recorder.line("stderr", Some(Arc::from("r1")), &"é".repeat(LINE_BYTES));
        for _ in 0..(COLD_STARTS + 3) {
            recorder.cold_start(Duration::from_millis(5));
        }
        recorder.invocation::<()>(&Ok(()));
        recorder.invocation::<()>(&Err(InvokeError::Timeout(Duration::from_secs(1))));
        recorder.invocation::<()>(&Err(InvokeError::Throttled));
        let stats = recorder.stats(Instances::default());
        assert_eq!(stats.last_lines.len(), LINES);
        assert_eq!(stats.last_lines[0].text, "line 6");
        let last = stats.last_lines.last().expect("a line");
        assert_eq!((last.stream, last.text.len()), ("stderr", LINE_BYTES));
        assert_eq!(stats.cold_starts.len(), COLD_STARTS);
        assert_eq!(stats.cold_start_count, (COLD_STARTS + 3) as u64);
        assert_eq!((stats.invocations, stats.errors, stats.timeouts), (3, 1, 1));

        // Turned off again (the console went idle): what was kept goes at the next read.
        keep.set(false);
        let stats = recorder.stats(Instances::default());
        assert!(stats.last_lines.is_empty() && stats.cold_starts.is_empty());
        assert_eq!(stats.cold_start_count, (COLD_STARTS + 3) as u64);
    }
}

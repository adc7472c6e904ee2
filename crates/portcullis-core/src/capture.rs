//! A request extension that asks the function integration to keep the event it sends, so the
//! admin console can show it in development mode. Inserted by the pipeline only while a live
//! observer wants events; absent, it costs the integration one extension lookup.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// Where the function integration leaves a copy of the event it invoked the function with.
/// Clones share the slot; the first event kept wins.
#[derive(Debug, Clone, Default)]
pub struct EventCapture(Arc<OnceLock<Bytes>>);

impl EventCapture {
    /// Keeps `event` (a reference-counted handle, not a copy of the bytes).
    pub fn keep(&self, event: &Bytes) {
        let _ = self.0.set(event.clone());
    }

    /// The event, once the integration sent one.
    pub fn get(&self) -> Option<&Bytes> {
        self.0.get()
    }
}

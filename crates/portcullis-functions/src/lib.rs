//! Runs Lambda functions locally by serving the Lambda Runtime API (2018-06-01) that real runtime
//! clients speak, and invokes them.
//!
//! Where it sits: `portcullis-integration` (function integrations) and `portcullis-authz`
//! (Lambda authorizers) hold an [`Invoker`] and call [`Invoker::invoke`] with an event; nothing
//! else of this crate is visible to them. `portcullis-app` builds [`FunctionSettings`] from the
//! config and calls [`Functions::start`] once and [`Functions::shutdown`] on exit. The crate knows
//! no HTTP API semantics: events and responses are opaque bytes (see `portcullis-events`).
//!
//! Layout: `runtime_api.rs` is the emulated HTTP API an instance talks to; `process.rs` spawns,
//! tags the output of and kills one instance; `pool.rs` hands instances out (cold start, warm
//! reuse, concurrency, wait queue, idle stop, prewarm, init backoff); `invoke.rs` is the public
//! handle; `remote.rs` forwards to an invoke URL; `bootstrap.rs` embeds our Node and Python
//! runtime clients.
//!
//! Instance identity: `AWS_LAMBDA_RUNTIME_API` is only `host:port`, and a runtime client has no
//! way to say which instance it is. Each instance therefore gets its **own** listener on
//! `127.0.0.1:0`; the listener *is* the instance's identity, so a response or a crash is always
//! tied to the invocation that instance was given, with no guessing from connections. Our own
//! bootstraps also get a second door to the same API, a Unix socket (`LocalListener` in
//! `runtime_api.rs`): same protocol, without the TCP/IP path per message.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bootstrap;
mod invoke;
mod pool;
mod process;
mod remote;
mod runtime_api;
mod settings;
mod stats;

use std::collections::HashMap;

pub use invoke::{InvokeError, Invoker, StartError};
pub use settings::{FunctionKind, FunctionSettings, FunctionsOptions};
pub use stats::{ColdStart, FunctionStats, Instances, KeepRecent, OutputLine};

/// The Lambda synchronous payload limit (6 MB) for both the event and the function's response.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Every function of a gateway, each with its instance pool (or remote endpoint).
///
/// Dropping it kills every instance it started (`SIGKILL` to each instance's process group);
/// [`Functions::shutdown`] does the same and also waits until the processes are gone.
pub struct Functions {
    invokers: HashMap<String, Invoker>,
}

impl Functions {
    /// Writes the embedded bootstraps to `options.state_dir`, then starts one pool per function
    /// (and its `prewarm` instances, in the background). Must run inside a Tokio runtime.
    ///
    /// # Errors
    /// [`StartError`] for a duplicate name, an empty `command`, or a state directory that cannot
    /// be written.
    pub async fn start(
        settings: impl IntoIterator<Item = FunctionSettings>,
        options: FunctionsOptions,
    ) -> Result<Self, StartError> {
        let mut invokers = HashMap::new();
        // Nothing here shows recent output: the switch stays off.
        let keep = KeepRecent::default();
        for function in settings {
            if invokers.contains_key(&function.name) {
                return Err(StartError::Duplicate(function.name));
            }
            let name = function.name.clone();
            let invoker = Invoker::start(function, &options, &keep).await?;
            invokers.insert(name, invoker);
        }
        Ok(Self { invokers })
    }

    /// The handle that invokes the function called `name`.
    pub fn invoker(&self, name: &str) -> Option<Invoker> {
        self.invokers.get(name).cloned()
    }

    /// The names of all functions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.invokers.keys().map(String::as_str)
    }

    /// Refuses new invocations, kills every instance and waits (at most a few seconds) until
    /// their processes have exited. In-flight invocations end with [`InvokeError::Crashed`] or
    /// [`InvokeError::ShuttingDown`].
    pub async fn shutdown(&self) {
        for invoker in self.invokers.values() {
            invoker.shutdown().await;
        }
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        for invoker in self.invokers.values() {
            invoker.kill_all();
        }
    }
}

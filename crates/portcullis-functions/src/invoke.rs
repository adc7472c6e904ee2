//! The handle integrations and authorizers invoke functions through.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use portcullis_core::TraceId;

use crate::bootstrap;
use crate::pool::Pool;
use crate::process::Spec;
use crate::remote::RemoteFunction;
use crate::settings::{FunctionKind, FunctionSettings, FunctionsOptions};
use crate::stats::{FunctionStats, Instances, KeepRecent, Recorder};

/// Why an invocation produced no response. The function integration maps each to AWS's answer:
/// `RequestTooLarge` → 413, everything else (a timeout included) → 500.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Every instance was busy and the wait queue was full, or the wait exceeded
    /// `queue_timeout` (Lambda's `TooManyRequestsException`).
    #[error("throttled: no instance free")]
    Throttled,
    /// The handler reported an error (`invocation/{id}/error`, Lambda's `FunctionError`).
    #[error("the function failed: {}", portcullis_core::FunctionFailure::parse(.error_type, .body))]
    FunctionError {
        /// `Lambda-Runtime-Function-Error-Type` or the body's `errorType`.
        error_type: String,
        /// The error document the runtime posted (`errorMessage`, `errorType`, trace).
        body: Bytes,
    },
    /// The instance died (or dropped the invocation) before answering; it is replaced.
    #[error("the instance crashed: {reason}")]
    Crashed {
        /// Exit status or what went wrong.
        reason: String,
    },
    /// No answer within the function's timeout; the instance was killed.
    #[error("the function timed out after {0:?}")]
    Timeout(Duration),
    /// A new instance failed to initialise (`init/error`, exit, or init timeout), or earlier
    /// failures put the function in backoff.
    #[error("the function failed to initialise: {reason}")]
    InitFailed {
        /// What the runtime reported, or why init was not attempted.
        reason: String,
    },
    /// The function's response exceeded the 6 MB synchronous payload limit.
    #[error("the function response exceeds 6 MB")]
    ResponseTooLarge,
    /// The event exceeded the 6 MB synchronous payload limit.
    #[error("the invocation payload exceeds 6 MB")]
    RequestTooLarge,
    /// A remote invoke endpoint could not be reached or answered with an unexpected status.
    #[error("the remote invoke endpoint failed: {0}")]
    Remote(String),
    /// The gateway is shutting down.
    #[error("the functions runtime is shutting down")]
    ShuttingDown,
    /// The function was checked but not started (`portcullis check`).
    #[error("the function is not started")]
    NotStarted,
}

impl InvokeError {
    /// What the handler reported, for [`InvokeError::FunctionError`].
    pub fn failure(&self) -> Option<portcullis_core::FunctionFailure> {
        match self {
            InvokeError::FunctionError { error_type, body } => {
                Some(portcullis_core::FunctionFailure::parse(error_type, body))
            }
            _ => None,
        }
    }
}

/// A function could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Two functions have the same name.
    #[error("function {0:?} is defined twice")]
    Duplicate(String),
    /// A `provided` function with an empty `command`.
    #[error("function {0:?} has an empty command")]
    EmptyCommand(String),
    /// The embedded bootstraps could not be written to the state directory.
    #[error("could not write the runtime bootstraps: {0}")]
    Bootstrap(#[source] std::io::Error),
}

/// Invokes one function. Cheap to clone; all clones share the function's instance pool.
#[derive(Clone)]
pub struct Invoker {
    target: Target,
    /// Counters and rings shared with the pool (the same `Arc` as its spec's).
    recorder: Arc<Recorder>,
}

#[derive(Clone)]
enum Target {
    Local(Arc<Pool>),
    Remote(Arc<RemoteFunction>),
    /// A function checked but not started (`portcullis check`): every invocation fails.
    NotStarted(Arc<FunctionSettings>),
}

impl std::fmt::Debug for Invoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invoker").field("function", &self.name()).finish()
    }
}

impl Invoker {
    /// Starts one function's pool (or remote client) on its own; [`crate::Functions::start`]
    /// calls this per function. Useful to a registry that adds or replaces single functions on
    /// reload. Must run inside a Tokio runtime. `keep` is the switch that decides whether the
    /// function keeps its last cold starts and output lines (shared by every function of one
    /// gateway).
    ///
    /// # Errors
    /// [`StartError::EmptyCommand`] or [`StartError::Bootstrap`].
    pub async fn start(
        settings: FunctionSettings,
        options: &FunctionsOptions,
        keep: &KeepRecent,
    ) -> Result<Self, StartError> {
        if let FunctionKind::Remote { invoke_url } = &settings.kind {
            let remote = RemoteFunction::new(invoke_url.clone(), &settings);
            return Ok(Self { target: Target::Remote(Arc::new(remote)), recorder: Arc::default() });
        }
        let state_dir = options.state_dir.clone();
        let bootstraps = tokio::task::spawn_blocking(move || bootstrap::write(&state_dir))
            .await
            .map_err(|e| StartError::Bootstrap(std::io::Error::other(e)))?
            .map_err(StartError::Bootstrap)?;
        let spec = Spec::new(settings, options, &bootstraps, Recorder::new(keep.clone()))?;
        let recorder = Arc::clone(&spec.recorder);
        Ok(Self { target: Target::Local(Pool::start(spec)), recorder })
    }

    /// A handle to a function that is not started, for a configuration that is checked but not
    /// run: it answers every invocation with [`InvokeError::NotStarted`].
    pub fn not_started(settings: FunctionSettings) -> Self {
        Self { target: Target::NotStarted(Arc::new(settings)), recorder: Arc::default() }
    }

    /// Invokes the function synchronously with `payload` (the event JSON) and returns what the
    /// handler returned (JSON bytes). `request_id` becomes `Lambda-Runtime-Aws-Request-Id` (the
    /// handler's `context.awsRequestId`) and tags the instance's log lines. Any string works:
    /// runtime clients echo the id in the path `invocation/{id}/response`, so the Runtime API takes
    /// everything up to the last `/` as the id (API Gateway style base64 ids contain `/`), accepts
    /// it percent-encoded too, and hands out characters a URL path cannot carry (`?`, `#`, space,
    /// non-ASCII) percent-encoded.
    ///
    /// Ends within `queue_timeout` (waiting) + `init_timeout` (cold start) + `timeout` (run) plus
    /// a few milliseconds; a timed-out instance is killed before this returns.
    ///
    /// # Errors
    /// See [`InvokeError`].
    pub async fn invoke(&self, payload: Bytes, request_id: &str) -> Result<Bytes, InvokeError> {
        self.call(payload, request_id, None, None).await
    }

    /// [`invoke`](Self::invoke) for a caller that will not wait longer than `limit`: an
    /// invocation still running then ends as a timeout and its instance is killed and replaced,
    /// as at the function's own timeout (whichever comes first).
    ///
    /// # Errors
    /// As [`invoke`](Self::invoke); [`InvokeError::Timeout`] after `limit`.
    pub async fn invoke_within(
        &self,
        payload: Bytes,
        request_id: &str,
        limit: Duration,
    ) -> Result<Bytes, InvokeError> {
        self.call(payload, request_id, None, Some(limit)).await
    }

    /// [`invoke`](Self::invoke) (or, with a `limit`, [`invoke_within`](Self::invoke_within)) on
    /// behalf of a request: `trace` is the root of the function's `_X_AMZN_TRACE_ID`
    /// (`Lambda-Runtime-Trace-Id`), so the function and the request's events and logs share one
    /// trace. The other two start a trace of their own.
    ///
    /// # Errors
    /// As [`invoke`](Self::invoke) and [`invoke_within`](Self::invoke_within).
    pub async fn invoke_traced(
        &self,
        payload: Bytes,
        request_id: &str,
        trace: &TraceId,
        limit: Option<Duration>,
    ) -> Result<Bytes, InvokeError> {
        self.call(payload, request_id, Some(trace), limit).await
    }

    async fn call(
        &self,
        payload: Bytes,
        request_id: &str,
        trace: Option<&TraceId>,
        limit: Option<Duration>,
    ) -> Result<Bytes, InvokeError> {
        let result = match &self.target {
            Target::Local(pool) => pool.invoke(payload, request_id, trace, limit).await,
            Target::Remote(remote) => match limit {
                None => remote.invoke(payload, request_id, trace).await,
                Some(limit) => tokio::time::timeout(limit, remote.invoke(payload, request_id, trace))
                    .await
                    .unwrap_or(Err(InvokeError::Timeout(limit))),
            },
            Target::NotStarted(_) => Err(InvokeError::NotStarted),
        };
        self.recorder.invocation(&result);
        result
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        match &self.target {
            Target::Local(pool) => pool.name(),
            Target::Remote(remote) => remote.name(),
            Target::NotStarted(settings) => &settings.name,
        }
    }

    /// The function's run timeout.
    pub fn timeout(&self) -> Duration {
        match &self.target {
            Target::Local(pool) => pool.spec.settings.timeout,
            Target::Remote(remote) => remote.timeout(),
            Target::NotStarted(settings) => settings.timeout,
        }
    }

    /// Process ids of the function's live instances, busy or idle (diagnostics, tests).
    pub fn instance_pids(&self) -> Vec<u32> {
        match &self.target {
            Target::Local(pool) => pool.pids(),
            Target::Remote(_) | Target::NotStarted(_) => Vec::new(),
        }
    }

    /// Runtime API connections the live instances have opened, as `(tcp, local)`: `local`
    /// counts our bootstraps' private Unix socket (diagnostics, tests).
    pub fn runtime_api_connections(&self) -> (u32, u32) {
        match &self.target {
            Target::Local(pool) => pool.connections(),
            Target::Remote(_) | Target::NotStarted(_) => (0, 0),
        }
    }

    /// Instances by state, counters, recent cold starts and output lines (the admin console,
    /// `/metrics`).
    pub fn stats(&self) -> FunctionStats {
        let instances = match &self.target {
            Target::Local(pool) => pool.instances(),
            Target::Remote(_) | Target::NotStarted(_) => Instances::default(),
        };
        self.recorder.stats(instances)
    }

    /// How many instances are ready and idle right now (diagnostics, tests).
    pub fn idle_instances(&self) -> usize {
        match &self.target {
            Target::Local(pool) => pool.idle_count(),
            Target::Remote(_) | Target::NotStarted(_) => 0,
        }
    }

    /// Replaces the function's instances: idle ones stop now, busy ones when their invocation
    /// ends, and the next invocations cold-start with the code and files as they are now. Also
    /// clears an init-failure backoff. This is what `watch: true` calls when the function's files
    /// change. No effect on remote functions.
    pub fn recycle(&self) {
        if let Target::Local(pool) = &self.target {
            pool.recycle();
        }
    }

    /// Refuses new invocations, kills every instance and waits until they are gone.
    pub async fn shutdown(&self) {
        match &self.target {
            Target::Local(pool) => pool.shutdown().await,
            Target::Remote(remote) => remote.close(),
            Target::NotStarted(_) => {}
        }
    }

    /// Like [`Invoker::shutdown`] without waiting (for `Drop`).
    pub(crate) fn kill_all(&self) {
        match &self.target {
            Target::Local(pool) => pool.kill_all(),
            Target::Remote(remote) => remote.close(),
            Target::NotStarted(_) => {}
        }
    }
}

//! One function instance: its process, its Runtime API listener, its output, its death.

use std::collections::HashMap;
use std::ffi::OsString;
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use portcullis_core::TraceId;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bootstrap::Bootstraps;
use crate::invoke::{InvokeError, StartError};
use crate::runtime_api::{self, ApiState, Invocation, LocalListener, Outcome, Phase};
use crate::settings::{FunctionKind, FunctionSettings, FunctionsOptions};
use crate::stats::Recorder;

/// Locks a std mutex, ignoring poisoning: every critical section here is a plain field update
/// that cannot leave the data half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Variables passed through from the gateway's own environment. Everything else is withheld:
/// a Lambda function gets a clean environment, and the gateway's may hold secrets.
const PASS_THROUGH: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The variable that gives our bootstraps the instance's [`LocalListener`] address.
const LOCAL_API_VAR: &str = "PORTCULLIS_RUNTIME_API_LOCAL";

/// Everything needed to spawn instances of one function, computed once at start.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) settings: FunctionSettings,
    pub(crate) arn: Arc<str>,
    program: OsString,
    args: Vec<OsString>,
    handler: Option<String>,
    runtime_dir: Option<PathBuf>,
    python: bool,
    /// Where our bootstraps' Runtime API sockets are bound.
    sockets: PathBuf,
    /// What the function has done (counters, cold starts, output lines).
    pub(crate) recorder: Arc<Recorder>,
}

impl Spec {
    pub(crate) fn new(
        settings: FunctionSettings,
        options: &FunctionsOptions,
        bootstraps: &Bootstraps,
        recorder: Recorder,
    ) -> Result<Self, StartError> {
        let arn: Arc<str> =
            format!("arn:aws:lambda:{}:{}:function:{}", settings.region, options.account_id, settings.name)
                .into();
        let (program, args, handler, runtime_dir, python) = match &settings.kind {
            FunctionKind::Node { handler } => (
                OsString::from("node"),
                vec![bootstraps.node.clone().into_os_string()],
                Some(handler.clone()),
                bootstraps.node.parent().map(PathBuf::from),
                false,
            ),
            FunctionKind::Python { handler } => (
                OsString::from("python3"),
                vec![bootstraps.python.clone().into_os_string()],
                Some(handler.clone()),
                bootstraps.python.parent().map(PathBuf::from),
                true,
            ),
            FunctionKind::Provided { command } => {
                let Some((first, rest)) = command.split_first() else {
                    return Err(StartError::EmptyCommand(settings.name.clone()));
                };
                let program = if first.contains('/') && !first.starts_with('/') {
                    settings.dir.join(first).into_os_string()
                } else {
                    OsString::from(first)
                };
                (program, rest.iter().map(OsString::from).collect(), None, None, false)
            }
            FunctionKind::Remote { .. } => {
                return Err(StartError::EmptyCommand(settings.name.clone()));
            }
        };
        Ok(Self {
            settings,
            arn,
            program,
            args,
            handler,
            runtime_dir,
            python,
            sockets: bootstraps.sockets.clone(),
            recorder: Arc::new(recorder),
        })
    }

    fn command(&self, api: SocketAddr, local: Option<&Path>, provisioned: bool) -> Command {
        let s = &self.settings;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).current_dir(&s.dir).env_clear();
        for key in PASS_THROUGH {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.envs(s.environment.iter().map(|(k, v)| (k, v)));
        if self.python {
            // Python block-buffers a piped stdout; the log must see lines as they are printed.
            cmd.env("PYTHONUNBUFFERED", "1");
        }
        if let Some(handler) = &self.handler {
            cmd.env("_HANDLER", handler);
        }
        // Read and removed by our bootstraps before the handler loads. Without a socket of ours,
        // our bootstrap uses TCP, never an address from `environment`.
        if let Some(local) = local {
            cmd.env(LOCAL_API_VAR, local);
        } else if self.handler.is_some() {
            cmd.env_remove(LOCAL_API_VAR);
        }
        if let Some(dir) = &self.runtime_dir {
            cmd.env("LAMBDA_RUNTIME_DIR", dir);
        }
        let memory = s.memory_mb.to_string();
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &s.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", s.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name())
            .env(
                "AWS_LAMBDA_INITIALIZATION_TYPE",
                if provisioned { "provisioned-concurrency" } else { "on-demand" },
            )
            .env("AWS_REGION", &s.region)
            .env("AWS_DEFAULT_REGION", &s.region)
            .env("LAMBDA_TASK_ROOT", &s.dir)
            .env("TZ", ":UTC");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so a kill reaches whatever the handler spawned too.
            .process_group(0);
        die_with_gateway(&mut cmd);
        cmd
    }
}

/// Asks the kernel to SIGKILL the instance as soon as the gateway process is gone, however it
/// ended (SIGKILL and crashes included, where no shutdown code runs), so no function process
/// outlives its gateway. The signal is tied to the thread that forks: instances are spawned from
/// async tasks, that is from runtime worker threads, which live as long as the gateway.
#[allow(unsafe_code)]
fn die_with_gateway(cmd: &mut Command) {
    let gateway = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child between fork and exec. It calls only
    // `prctl` and `getppid` (async-signal-safe system calls), allocates nothing and touches no
    // lock. Checking the parent after arming closes the race where the gateway died before.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if nix::unistd::getppid() != gateway {
                return Err(std::io::Error::other("the gateway exited while this instance started"));
            }
            Ok(())
        });
    }
}

/// What the pool keeps of every live instance, busy or idle, so shutdown can reach all of them.
#[derive(Clone)]
pub(crate) struct LiveHandle {
    pid: u32,
    phase: watch::Receiver<Phase>,
    /// The instance's API state, for its connection counters.
    api: Arc<ApiState>,
}

impl std::fmt::Debug for LiveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHandle").field("pid", &self.pid).finish_non_exhaustive()
    }
}

impl LiveHandle {
    /// Runtime API connections accepted so far: (TCP, local socket).
    pub(crate) fn connections(&self) -> (u32, u32) {
        (self.api.tcp_connections.load(Ordering::Relaxed), self.api.local_connections.load(Ordering::Relaxed))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the instance is still running its init code.
    pub(crate) fn starting(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Starting)
    }

    pub(crate) fn kill(&self) {
        kill_group(self.pid);
    }

    /// Waits until the process has been reaped.
    pub(crate) async fn exited(mut self) {
        let _ = self.phase.wait_for(|p| matches!(p, Phase::Exited(_))).await;
    }
}

/// The registry of live instances of one pool, shared with each instance's supervisor task (which
/// removes the instance once its process has been reaped).
pub(crate) type Live = Arc<Mutex<HashMap<u64, LiveHandle>>>;

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // ESRCH (already gone) is fine.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// A running instance. Dropping it kills its process group and stops its listener.
pub(crate) struct Instance {
    pub(crate) id: u64,
    /// The pool generation the instance was started in (see `Pool::recycle`).
    pub(crate) generation: u64,
    /// Invocations finished so far (for `max_invocations`).
    pub(crate) invocations: u64,
    pid: u32,
    api: Arc<ApiState>,
    next_tx: mpsc::Sender<Invocation>,
    phase: watch::Receiver<Phase>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("id", &self.id).field("pid", &self.pid).finish()
    }
}

impl Instance {
    /// Binds the instance's Runtime API listener and spawns its process.
    pub(crate) async fn spawn(
        spec: &Spec,
        id: u64,
        live: &Live,
        provisioned: bool,
    ) -> Result<Instance, String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("could not bind the runtime API: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // Only our own bootstraps (which have a `_HANDLER`) know the local socket.
        let local = spec.handler.as_ref().and_then(|_| LocalListener::bind(&spec.sockets));
        let local_path = local.as_ref().map(|l| l.path().to_owned());
        let (next_tx, next_rx) = mpsc::channel(1);
        let api = Arc::new(ApiState::new(spec.arn.clone(), next_rx));
        let phase = api.phase.subscribe();
        let server = tokio::spawn(runtime_api::serve(listener, local, api.clone()));
        let mut child = match spec.command(addr, local_path.as_deref(), provisioned).spawn() {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                return Err(format!("could not start {:?}: {e}", spec.program));
            }
        };
        let Some(pid) = child.id() else {
            server.abort();
            return Err("the process exited at once".into());
        };
        lock(live).insert(id, LiveHandle { pid, phase: phase.clone(), api: api.clone() });
        let name: Arc<str> = spec.settings.name.as_str().into();
        if let Some(stdout) = child.stdout.take() {
            let recorder = Arc::clone(&spec.recorder);
            tokio::spawn(forward_output(stdout, "stdout", name.clone(), id, api.clone(), recorder));
        }
        if let Some(stderr) = child.stderr.take() {
            let recorder = Arc::clone(&spec.recorder);
            tokio::spawn(forward_output(stderr, "stderr", name.clone(), id, api.clone(), recorder));
        }
        let supervisor_api = api.clone();
        let supervisor_live = live.clone();
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            tracing::debug!(function = %name, instance = id, %status, "instance exited");
            // Kill leftovers of the group (a handler's own children) before forgetting it.
            kill_group(pid);
            supervisor_api.phase.send_replace(Phase::Exited(status));
            lock(&supervisor_live).remove(&id);
        });
        Ok(Instance { id, generation: 0, invocations: 0, pid, api, next_tx, phase, server })
    }

    /// Waits for the end of init: the first `invocation/next`.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let mut phase = self.phase.clone();
        let waited = tokio::time::timeout(timeout, async {
            phase.wait_for(|p| !matches!(p, Phase::Starting)).await.map(|p| p.clone())
        })
        .await;
        match waited {
            Err(_) => Err(format!("init did not finish within {timeout:?}")),
            Ok(Err(_)) => Err("the instance is gone".into()),
            Ok(Ok(Phase::Ready)) => Ok(()),
            Ok(Ok(Phase::InitFailed(reason))) => Err(reason),
            Ok(Ok(Phase::Exited(status))) => Err(format!("the process exited during init ({status})")),
            Ok(Ok(Phase::Starting)) => Err("the instance is still starting".into()),
        }
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&self) -> bool {
        !matches!(*self.phase.borrow(), Phase::Exited(_))
    }

    /// The process id (for diagnostics and tests).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Hands one invocation to this (idle, ready) instance. The result is awaited with
    /// [`Instance::finish`]; the split lets the pool finish an invocation whose caller went away
    /// in the background, so the instance goes back to the pool instead of being killed.
    pub(crate) fn dispatch(
        &self,
        payload: Bytes,
        request_id: &str,
        trace: Option<&TraceId>,
        timeout: Duration,
    ) -> Result<Dispatched, InvokeError> {
        let (reply, outcome) = oneshot::channel();
        let deadline = SystemTime::now() + timeout;
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let invocation = Invocation {
            request_id: runtime_api::wire_request_id(request_id),
            payload,
            deadline_ms,
            trace_id: trace_id(trace),
            reply,
        };
        if self.next_tx.try_send(invocation).is_err() {
            return Err(InvokeError::Crashed { reason: "the instance is not accepting work".into() });
        }
        Ok(Dispatched { outcome, deadline: tokio::time::Instant::now() + timeout, timeout })
    }

    /// Waits for the outcome of a [`Instance::dispatch`]ed invocation. Ends by its deadline: on
    /// expiry the process group is killed and the result is [`InvokeError::Timeout`].
    pub(crate) async fn finish(&self, dispatched: &mut Dispatched) -> Result<Bytes, InvokeError> {
        let mut phase = self.phase.clone();
        tokio::select! {
            biased;
            reported = &mut dispatched.outcome => map_outcome(reported.ok()),
            _ = phase.wait_for(|p| matches!(p, Phase::Exited(_))) => {
                // A response posted just before the exit still counts.
                match dispatched.outcome.try_recv() {
                    Ok(reported) => map_outcome(Some(reported)),
                    Err(_) => Err(InvokeError::Crashed { reason: self.exit_status() }),
                }
            }
            _ = tokio::time::sleep_until(dispatched.deadline) => {
                kill_group(self.pid);
                Err(InvokeError::Timeout(dispatched.timeout))
            }
        }
    }

    fn exit_status(&self) -> String {
        match &*self.phase.borrow() {
            Phase::Exited(status) => format!("the process exited mid-invocation ({status})"),
            _ => "the instance dropped the invocation".into(),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        kill_group(self.pid);
        self.server.abort();
        let _ = &self.api;
    }
}

/// An invocation handed to an instance and not finished yet.
pub(crate) struct Dispatched {
    outcome: oneshot::Receiver<Outcome>,
    deadline: tokio::time::Instant,
    timeout: Duration,
}

fn map_outcome(outcome: Option<Outcome>) -> Result<Bytes, InvokeError> {
    match outcome {
        Some(Outcome::Response(body)) => Ok(body),
        Some(Outcome::Error { error_type, body }) => Err(InvokeError::FunctionError { error_type, body }),
        Some(Outcome::TooLarge) => Err(InvokeError::ResponseTooLarge),
        None => Err(InvokeError::Crashed { reason: "the instance dropped the invocation".into() }),
    }
}

/// The longest line of function output kept whole. A longer line is logged cut to this length,
/// marked with how many bytes were dropped: a handler that prints without end (or a megabyte of
/// JSON on one line) costs the gateway this much memory per stream, never more.
pub(crate) const MAX_OUTPUT_LINE: usize = 16 * 1024;

/// Sends each output line to the gateway log, tagged with the function, the instance and the
/// request id it was most likely printed for.
async fn forward_output(
    stream: impl AsyncRead + Unpin,
    stream_name: &'static str,
    function: Arc<str>,
    instance: u64,
    api: Arc<ApiState>,
    recorder: Arc<Recorder>,
) {
    let mut lines = BoundedLines::new(BufReader::new(stream), MAX_OUTPUT_LINE);
    while let Some(line) = lines.next_line().await {
        let text = String::from_utf8_lossy(&line.text);
        let current = api.current_request();
        recorder.line(stream_name, current.clone(), &text);
        let request_id = current.as_deref().unwrap_or("-");
        if line.dropped == 0 {
            tracing::info!(target: "portcullis::function", function = %function, instance, request_id, stream = stream_name, "{text}");
        } else {
            tracing::info!(
                target: "portcullis::function",
                function = %function,
                instance,
                request_id,
                stream = stream_name,
                truncated_bytes = line.dropped,
                "{text} [… {} more bytes of this line dropped]",
                line.dropped
            );
        }
    }
}

/// One line of output, cut to the reader's limit.
#[derive(Debug)]
pub(crate) struct OutputLine {
    /// The first bytes of the line, without its end-of-line characters.
    pub(crate) text: Vec<u8>,
    /// How many bytes of the line were beyond the limit and dropped.
    pub(crate) dropped: u64,
}

/// Reads lines of at most `limit` bytes from a stream, discarding (and counting) the rest of a
/// longer line instead of buffering it: memory stays at `limit` plus the reader's buffer.
pub(crate) struct BoundedLines<R> {
    reader: R,
    limit: usize,
}

impl<R: tokio::io::AsyncBufRead + Unpin> BoundedLines<R> {
    pub(crate) fn new(reader: R, limit: usize) -> Self {
        BoundedLines { reader, limit }
    }

    /// The next line, or `None` at end of stream (or on a read error). A last line without a
    /// newline is returned too.
    pub(crate) async fn next_line(&mut self) -> Option<OutputLine> {
        let mut text = Vec::new();
        let mut dropped = 0u64;
        let mut read_any = false;
        loop {
            let available = match self.reader.fill_buf().await {
                Ok(buffer) => buffer,
                Err(_) => return read_any.then(|| finish(text, dropped)),
            };
            if available.is_empty() {
                return read_any.then(|| finish(text, dropped));
            }
            read_any = true;
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..end], Some(end + 1)),
                None => (available, None),
            };
            let room = self.limit.saturating_sub(text.len());
            let kept = chunk.len().min(room);
            text.extend_from_slice(&chunk[..kept]);
            dropped += (chunk.len() - kept) as u64;
            let consumed = done.unwrap_or(chunk.len());
            self.reader.consume(consumed);
            if done.is_some() {
                return Some(finish(text, dropped));
            }
        }
    }
}

fn finish(mut text: Vec<u8>, dropped: u64) -> OutputLine {
    if dropped == 0 && text.last() == Some(&b'\r') {
        text.pop();
    }
    OutputLine { text, dropped }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// An X-Ray trace header as Lambda hands it to a function (`Lambda-Runtime-Trace-Id`, the
/// function's `_X_AMZN_TRACE_ID`): `Root=1-<epoch hex>-<96 bits>;Parent=<64 bits>;Sampled=0`.
/// The root is the caller's request trace when there is one (the same `x-amzn-trace-id` its
/// event carries), else a new one; `Parent` and `Sampled` are always there, as on Lambda, since
/// X-Ray SDKs discard what a function records under a trace without them.
///
/// Built per invocation, so written by hand from a per-thread generator (seeded from
/// `RandomState`) rather than with `format!` and a fresh SipHash per number: it was a visible
/// share of the gateway's own instructions per invocation. Trace ids need uniqueness, not secrecy.
fn trace_id(root: Option<&TraceId>) -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (a, b, c) = TRACE_RNG.with(|rng| {
        let mut state = rng.get();
        let mut next = || {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let out = (next(), next(), next());
        rng.set(state);
        out
    });
    let mut out = String::with_capacity(80);
    match root {
        Some(root) => out.push_str(root.header()),
        None => {
            out.push_str("Root=1-");
            push_hex(&mut out, secs & 0xFFFF_FFFF, 8);
            out.push('-');
            push_hex(&mut out, a & 0xFFFF_FFFF, 8);
            push_hex(&mut out, b, 16);
        }
    }
    out.push_str(";Parent=");
    push_hex(&mut out, c, 16);
    out.push_str(";Sampled=0");
    out
}

thread_local! {
    static TRACE_RNG: std::cell::Cell<u64> = std::cell::Cell::new(random_u64());
}

/// The low `digits` hex digits of `value`, zero-padded, lower case.
fn push_hex(out: &mut String, value: u64, digits: u32) {
    for i in (0..digits).rev() {
        let nibble = ((value >> (i * 4)) & 0xF) as u8;
        out.push(char::from(if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 }));
    }
}

/// `YYYY/MM/DD/[$LATEST]<32 hex>`, the shape of Lambda's log stream names.
fn log_stream_name() -> String {
    let t = portcullis_core::UtcTime::of(SystemTime::now());
    format!("{:04}/{:02}/{:02}/[$LATEST]{:016x}{:016x}", t.year, t.month, t.day, random_u64(), random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_have_the_x_ray_shape_and_differ() {
        let ids: Vec<String> = (0..1000).map(|_| trace_id(None)).collect();
        for id in &ids {
            let rest = id.strip_prefix("Root=1-").expect(id);
            let (root, rest) = rest.split_once(";Parent=").expect(id);
            let (parent, sampled) = rest.split_once(';').expect(id);
            assert_eq!(sampled, "Sampled=0");
            let (epoch, unique) = root.split_once('-').expect(id);
            assert_eq!((epoch.len(), unique.len(), parent.len()), (8, 24, 16), "{id}");
            assert!(
                [epoch, unique, parent]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
                "{id}"
            );
            let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            assert!(u64::from_str_radix(epoch, 16).unwrap().abs_diff(secs & 0xFFFF_FFFF) < 5, "{id}");
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn a_callers_trace_is_the_root_lambda_adds_parent_and_sampled_to() {
        let root = TraceId::from_header(b"Root=1-5fff599f-6fca6ee66e37fe5e518eb45b").unwrap();
        let id = trace_id(Some(&root));
        let parent = id.strip_prefix("Root=1-5fff599f-6fca6ee66e37fe5e518eb45b;Parent=").expect(&id);
        assert_eq!(parent.len(), 16 + ";Sampled=0".len(), "{id}");
        assert!(parent.ends_with(";Sampled=0"), "{id}");
    }
}

#[cfg(test)]
mod output_tests {
    use super::BoundedLines;

    async fn lines(input: &[u8], limit: usize) -> Vec<(String, u64)> {
        // A 4-byte buffer, so lines span many reads.
        let reader = tokio::io::BufReader::with_capacity(4, input);
        let mut lines = BoundedLines::new(reader, limit);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await {
            out.push((String::from_utf8(line.text).unwrap(), line.dropped));
        }
        out
    }

    #[tokio::test]
    async fn short_lines_pass_whole_and_crlf_is_trimmed() {
        let got = lines(b"one\r\ntwo\n\nlast", 8).await;
        assert_eq!(got, [("one".into(), 0), ("two".into(), 0), (String::new(), 0), ("last".into(), 0)]);
    }

    #[tokio::test]
    async fn long_lines_are_cut_at_the_limit_and_the_rest_counted() {
        let got = lines(b"0123456789abcdef\nok\n0123456789", 10).await;
        assert_eq!(got, [("0123456789".into(), 6), ("ok".into(), 0), ("0123456789".into(), 0)]);
        let got = lines(b"0123456789X", 10).await;
        assert_eq!(got, [("0123456789".into(), 1)]);
    }
}

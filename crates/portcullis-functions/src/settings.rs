//! The typed settings a function runs with (built by `portcullis-app` from the YAML config).

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// How a function's code is run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// `runtime: nodejs`: our embedded bootstrap runs `handler` (`path/file.export`, ESM or
    /// CommonJS, async or callback style) with the `node` found on `PATH`.
    Node {
        /// `path/file.export`, relative to the function directory.
        handler: String,
    },
    /// `runtime: python`: our embedded bootstrap runs `handler` (`module.function`, or
    /// `dir/module.function`) with the `python3` found on `PATH`.
    Python {
        /// `module.function`.
        handler: String,
    },
    /// `runtime: provided`: any executable that speaks the Runtime API itself (built with the
    /// `lambda_runtime` crate, `python -m awslambdaric module.fn`, `aws-lambda-ric index.fn`).
    /// The first element is the program (relative paths containing `/` are resolved against the
    /// function directory, bare names against `PATH`), the rest its arguments.
    Provided {
        /// Program and arguments.
        command: Vec<String>,
    },
    /// `invoke_url:`: a function that already runs elsewhere behind an invoke endpoint such as the
    /// Lambda Runtime Interface Emulator's `/2015-03-31/functions/function/invocations`. The
    /// payload is POSTed there; no process is started.
    Remote {
        /// The invoke endpoint (plain `http`).
        invoke_url: Url,
    },
}

/// One function: what to run and the limits to run it with. Equal settings run the same
/// function the same way: a registry keeps a running pool across reloads while they are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionSettings {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, log tag, ARN suffix).
    pub name: String,
    /// How to run it.
    pub kind: FunctionKind,
    /// The function directory: working directory and `LAMBDA_TASK_ROOT` of its instances.
    pub dir: PathBuf,
    /// How long one invocation may run, from dispatch to the instance. Default 30 s (the HTTP
    /// API integration limit, docs/aws-compatibility.md#limits). On expiry the instance is killed.
    pub timeout: Duration,
    /// At most this many instances at once, each running one invocation at a time as on Lambda.
    /// Default 10.
    pub concurrency: NonZeroUsize,
    /// Extra environment variables for the instances (`environment:`). Lambda's own variables
    /// (`AWS_LAMBDA_RUNTIME_API`, `_HANDLER`, …) are set after these and win.
    pub environment: Vec<(String, String)>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; informational, not enforced. Default 128.
    pub memory_mb: u32,
    /// An instance unused for this long is stopped. Default 5 min.
    pub idle_timeout: Duration,
    /// Instances started at start-up and kept even when idle (like provisioned concurrency).
    /// Clamped to `concurrency`. Default 0.
    pub prewarm: usize,
    /// At most this many invocations wait for a free instance; more are throttled at once.
    /// Default 100.
    pub queue_size: usize,
    /// The longest an invocation waits for a free instance before it is throttled. Default 10 s.
    pub queue_timeout: Duration,
    /// The longest an instance may take from spawn to its first `invocation/next` (Lambda's init
    /// phase limit is 10 s). Default 10 s.
    pub init_timeout: Duration,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` and the ARN's region. Default `us-east-1`.
    pub region: String,
    /// An instance that has finished this many invocations is stopped instead of being reused,
    /// and the next request starts a fresh one. Bounds what a long-lived instance can leak (the
    /// real runtime clients set `_X_AMZN_TRACE_ID` with `setenv` per invocation, which glibc
    /// never frees). Default `None`: instances are reused until idle.
    pub max_invocations: Option<NonZeroU64>,
}

impl FunctionSettings {
    /// Settings with every default from the field docs.
    pub fn new(name: impl Into<String>, kind: FunctionKind, dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            kind,
            dir: dir.into(),
            timeout: Duration::from_secs(30),
            concurrency: NonZeroUsize::new(10).unwrap_or(NonZeroUsize::MIN),
            environment: Vec::new(),
            memory_mb: 128,
            idle_timeout: Duration::from_secs(300),
            prewarm: 0,
            queue_size: 100,
            queue_timeout: Duration::from_secs(10),
            init_timeout: Duration::from_secs(10),
            region: "us-east-1".to_owned(),
            max_invocations: None,
        }
    }
}

/// Settings shared by every function of one gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionsOptions {
    /// Where the embedded bootstraps are written (`<state_dir>/bootstrap/{node,python}/`).
    /// Default: `<temp dir>/portcullis-<pid>`.
    pub state_dir: PathBuf,
    /// The account id in function ARNs. Default `123456789012`.
    pub account_id: String,
}

impl Default for FunctionsOptions {
    fn default() -> Self {
        Self {
            state_dir: std::env::temp_dir().join(format!("portcullis-{}", std::process::id())),
            account_id: "123456789012".to_owned(),
        }
    }
}

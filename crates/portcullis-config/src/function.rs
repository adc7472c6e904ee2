//! `functions:`: Lambda handlers Portcullis runs itself
//! (docs/aws-compatibility.md#lambda-proxy-integration).

use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use crate::decode::{self, Cx, MapReader, YPath, opt};
use crate::yaml::{Entry, Node};

/// One function under `functions:`.
///
/// ```yaml
/// functions:
///   private: {runtime: nodejs, handler: src/private.main, timeout: 30s, concurrency: 10}
///   native:  {runtime: provided, command: ./target/release/bootstrap}
///   remote:  {invoke_url: http://127.0.0.1:9000/2015-03-31/functions/function/invocations}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// How the function runs: `runtime:` (with `handler` or `command`) or `invoke_url:`.
    /// Exactly one of `runtime` and `invoke_url` must be written.
    pub runtime: FunctionRuntime,
    /// `timeout`: how long one invocation may run before its instance is killed. Default `30s`
    /// (the HTTP API integration limit; Lambda itself allows up to 15 minutes).
    pub timeout: Duration,
    /// `concurrency`: at most this many instances at once; one invocation per instance at a
    /// time, as on Lambda. Default `10`. Must be at least 1.
    pub concurrency: NonZeroU32,
    /// `environment`: extra environment variables for instances. Values are strings (numbers
    /// and booleans are taken as written). Names reserved by the Lambda runtime
    /// (`AWS_REGION`, `_HANDLER`, `AWS_LAMBDA_RUNTIME_API`, ...) are refused, as on AWS.
    pub environment: IndexMap<String, String>,
    /// `prewarm`: instances started at start-up instead of on the first request. Default `0`;
    /// at most `concurrency`. (Not an AWS feature; like provisioned concurrency.)
    pub prewarm: u32,
    /// `watch`: restart instances when files under `dir` change (the local dev loop).
    /// Default `false`.
    pub watch: bool,
    /// `memory`: MB reported to the function (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, the context's
    /// `memoryLimitInMB`). Default `128`; allowed 128 to 10240 as on Lambda. Not enforced.
    pub memory: NonZeroU32,
    /// `idle_timeout`: a warm instance unused this long is stopped. Default `5m`.
    pub idle_timeout: Duration,
    /// `max_invocations`: an instance that has finished this many invocations is stopped and
    /// replaced on demand, bounding what a long-lived instance can leak. Default: none.
    pub max_invocations: Option<NonZeroU64>,
    /// `dir`: working directory of instances and root for `handler` (`LAMBDA_TASK_ROOT`).
    /// Default: the config file's directory; relative paths resolve against it.
    pub dir: PathBuf,
}

/// How a function is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionRuntime {
    /// `runtime: nodejs`: our bootstrap loads `handler` = `path/file.export` (ESM or CommonJS)
    /// relative to `dir`.
    Nodejs {
        /// `file.export`, e.g. `src/private.main`.
        handler: String,
    },
    /// `runtime: python`: our bootstrap imports `handler` = `module.function`.
    Python {
        /// `module.function`, e.g. `app.handler`.
        handler: String,
    },
    /// `runtime: provided`: any executable speaking the Lambda Runtime API, started in `dir`.
    Provided {
        /// `command`: the program. A string, or a list `[program, arg, ...]`. A relative path
        /// containing `/` resolves against `dir`; a bare name is looked up on `PATH`.
        command: PathBuf,
        /// Arguments after the program (from the list form).
        args: Vec<String>,
        /// `handler`: optional, passed as `_HANDLER` (default: empty).
        handler: Option<String>,
    },
    /// `invoke_url`: a remote Lambda invoke endpoint (e.g. the Runtime Interface Emulator's
    /// `/2015-03-31/functions/function/invocations`). Portcullis POSTs events there.
    Remote {
        /// The endpoint (http or https).
        invoke_url: url::Url,
    },
}

const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    // Not AWS's: the address of the Runtime API socket Portcullis gives its own bootstraps.
    "PORTCULLIS_RUNTIME_API_LOCAL",
];

/// A local runtime, as written in `runtime:`.
#[derive(Clone, Copy, PartialEq)]
enum Rt {
    Nodejs,
    Python,
    Provided,
}

/// Decodes one function, one small unit per setting; `None` after reporting when it is unusable.
pub(crate) fn decode(cx: &mut Cx, node: &Node, path: &YPath) -> Option<FunctionConfig> {
    let mut m = MapReader::new(cx, node, path)?;
    let runtime = runtime(cx, &mut m);
    let timeout =
        opt(cx, &mut m, "timeout", Duration::from_secs(30), |cx, n, p| decode::duration(cx, n, p, false));
    let concurrency = opt(cx, &mut m, "concurrency", 10, |cx, n, p| whole(cx, n, p, 1, 10_000));
    let prewarm = prewarm(cx, &mut m, concurrency);
    let memory = opt(cx, &mut m, "memory", 128, |cx, n, p| whole(cx, n, p, 128, 10_240));
    let idle_timeout = opt(cx, &mut m, "idle_timeout", Duration::from_secs(300), |cx, n, p| {
        decode::duration(cx, n, p, false)
    });
    let max_invocations = opt(cx, &mut m, "max_invocations", None, |cx, n, p| {
        decode::integer(cx, n, p, 1, 1_000_000_000_000).map(NonZeroU64::new)
    });
    let watch = opt(cx, &mut m, "watch", false, decode::boolean);
    let default_dir = cx.base_dir.clone();
    let dir =
        opt(cx, &mut m, "dir", default_dir, |cx, n, p| decode::non_empty(cx, n, p).map(|d| cx.resolve(&d)));
    let environment = environment(cx, &mut m);
    m.finish(cx);
    let dir = dir?;
    Some(FunctionConfig {
        runtime: in_dir(runtime?, &dir),
        timeout: timeout?,
        concurrency: NonZeroU32::new(concurrency?)?,
        environment,
        prewarm: prewarm?,
        watch: watch?,
        memory: NonZeroU32::new(memory?)?,
        idle_timeout: idle_timeout?,
        max_invocations: max_invocations?,
        dir,
    })
}

/// `runtime` (with `handler` or `command`) or `invoke_url`: exactly one.
fn runtime(cx: &mut Cx, m: &mut MapReader<'_>) -> Option<FunctionRuntime> {
    let runtime = m.get("runtime");
    let handler = m.get("handler");
    let command = m.get("command");
    let invoke_url = m.get("invoke_url");
    let rt = runtime.as_ref().and_then(|(n, p)| {
        decode::choice(
            cx,
            n,
            p,
            &[("nodejs", Rt::Nodejs), ("python", Rt::Python), ("provided", Rt::Provided)],
        )
    });
    // Checked whatever the runtime, so a bad `handler` is reported even next to a bad `runtime`.
    let handler_text = handler.as_ref().and_then(|(n, p)| decode::non_empty(cx, n, p));
    match (&runtime, &invoke_url) {
        (Some(_), Some((n, p))) => {
            cx.error(
                n.span,
                p,
                "`invoke_url` and `runtime` exclude each other: a function runs locally or remotely",
            );
            None
        }
        (None, None) => {
            cx.error(m.span, &m.path, "missing `runtime` (nodejs, python or provided) or `invoke_url`");
            None
        }
        (None, Some((n, p))) => remote(cx, m, n, p),
        (Some(_), None) => match rt? {
            rt @ (Rt::Nodejs | Rt::Python) => handler_runtime(cx, m, rt, handler.as_ref(), handler_text),
            Rt::Provided => provided(cx, m, command.as_ref(), handler_text),
        },
    }
}

/// `invoke_url`, which leaves nothing for `handler` or `command` to mean.
fn remote(cx: &mut Cx, m: &MapReader<'_>, n: &Node, p: &YPath) -> Option<FunctionRuntime> {
    for k in ["handler", "command"] {
        if let Some(s) = m.key_span(k) {
            cx.error(s, &m.path.key(k), format!("`{k}` has no meaning with `invoke_url`"));
        }
    }
    remote_url(cx, n, p).map(|invoke_url| FunctionRuntime::Remote { invoke_url })
}

/// `runtime: nodejs` or `python`: a `handler` (`path/file.export` or `module.function`), no
/// `command`.
fn handler_runtime(
    cx: &mut Cx,
    m: &MapReader<'_>,
    rt: Rt,
    handler: Option<&(&Node, YPath)>,
    handler_text: Option<String>,
) -> Option<FunctionRuntime> {
    if let Some(s) = m.key_span("command") {
        cx.error(
            s,
            &m.path.key("command"),
            "`command` is for `runtime: provided`; nodejs and python use `handler`",
        );
    }
    let Some((n, p)) = handler else {
        cx.error(m.span, &m.path, "missing `handler`").suggestion = Some(if rt == Rt::Nodejs {
            "e.g. `handler: src/index.handler` (file path, then the export)".into()
        } else {
            "e.g. `handler: app.handler` (module, then the function)".into()
        });
        return None;
    };
    let h = handler_text?;
    if !h.rsplit_once('.').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty()) {
        let expected = if rt == Rt::Nodejs {
            "`path/file.export`, e.g. src/index.handler"
        } else {
            "`module.function`, e.g. app.handler"
        };
        cx.error(n.span, p, format!("invalid handler {h:?}: expected {expected}"));
        return None;
    }
    Some(if rt == Rt::Nodejs {
        FunctionRuntime::Nodejs { handler: h }
    } else {
        FunctionRuntime::Python { handler: h }
    })
}

/// `runtime: provided`: a `command` (a program, or a list `[program, arg, ...]`), and an
/// optional `handler`.
fn provided(
    cx: &mut Cx,
    m: &MapReader<'_>,
    command: Option<&(&Node, YPath)>,
    handler: Option<String>,
) -> Option<FunctionRuntime> {
    let Some((n, p)) = command else {
        cx.error(m.span, &m.path, "missing `command` for `runtime: provided`").suggestion =
            Some("e.g. `command: ./target/release/bootstrap`".into());
        return None;
    };
    match decode::string_list(cx, n, p)?.as_slice() {
        [program, args @ ..] => {
            Some(FunctionRuntime::Provided { command: PathBuf::from(program), args: args.to_vec(), handler })
        }
        [] => {
            cx.error(n.span, p, "`command` must name a program");
            None
        }
    }
}

/// A provided command with a path component runs relative to `dir`.
fn in_dir(runtime: FunctionRuntime, dir: &Path) -> FunctionRuntime {
    match runtime {
        FunctionRuntime::Provided { command, args, handler }
            if command.is_relative() && command.components().count() > 1 =>
        {
            FunctionRuntime::Provided { command: dir.join(command), args, handler }
        }
        other => other,
    }
}

/// A count within `min..=max` (at most 10,240 here, so it fits a `u32`).
fn whole(cx: &mut Cx, n: &Node, p: &YPath, min: u64, max: u64) -> Option<u32> {
    decode::integer(cx, n, p, min, max).map(|c| c as u32)
}

/// `prewarm`: at most `concurrency`, default 0.
fn prewarm(cx: &mut Cx, m: &mut MapReader<'_>, concurrency: Option<u32>) -> Option<u32> {
    let Some((n, p)) = m.get("prewarm") else { return Some(0) };
    let v = whole(cx, n, &p, 0, 10_000);
    if let (Some(v), Some(c)) = (v, concurrency)
        && v > c
    {
        cx.error(n.span, &p, format!("prewarm ({v}) cannot exceed concurrency ({c})"));
    }
    v
}

/// `environment`: a problem drops only the variable it is about.
fn environment(cx: &mut Cx, m: &mut MapReader<'_>) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    if let Some((n, p)) = m.get("environment")
        && let Some(entries) = decode::entries(cx, n, &p)
    {
        for e in entries {
            if let Some(value) = environment_variable(cx, e, &p) {
                out.insert(e.key.clone(), value);
            }
        }
    }
    out
}

/// One environment variable's value: a valid name not reserved by Lambda or Portcullis, and a
/// string without NUL (null is the empty string).
fn environment_variable(cx: &mut Cx, e: &Entry, p: &YPath) -> Option<String> {
    let ep = p.key(&e.key);
    let valid_name =
        !e.key.is_empty() && !e.key.contains(['=', '\0']) && !e.key.starts_with(|c: char| c.is_ascii_digit());
    if !valid_name {
        cx.error(e.key_span, &ep, format!("invalid environment variable name {:?}", e.key));
        return None;
    }
    if RESERVED_ENV.contains(&e.key.as_str()) {
        let who = if e.key.starts_with("PORTCULLIS_") { "Portcullis" } else { "the Lambda runtime" };
        cx.error(e.key_span, &ep, format!("{} is reserved: {who} sets it", e.key));
        return None;
    }
    let value = if e.value.is_null() { String::new() } else { decode::string(cx, &e.value, &ep)? };
    if value.contains('\0') {
        cx.error(e.value.span, &ep, "environment values cannot contain NUL");
        return None;
    }
    Some(value)
}

fn remote_url(cx: &mut Cx, n: &Node, p: &YPath) -> Option<url::Url> {
    let s = decode::non_empty(cx, n, p)?;
    match url::Url::parse(&s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(u),
        Ok(_) => {
            cx.error(n.span, p, format!("invalid URL {s:?}: expected an http or https URL"));
            None
        }
        Err(e) => {
            cx.error(n.span, p, format!("invalid URL {s:?}: {e}"));
            None
        }
    }
}

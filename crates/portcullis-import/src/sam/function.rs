//! `AWS::Serverless::Function` (with `Globals.Function`) -> a native function, and its events
//! (<https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-function.html>).

use crate::cfn::Template;
use crate::native::{Function, Item, Native, Runtime};
use crate::source::{Cx, Key, VKind, Val};

use super::events::{self, Event};

/// Lambda's default timeout, in seconds (SAM writes none unless told).
const LAMBDA_DEFAULT_TIMEOUT: u64 = 3;

/// Properties that change how a function behaves on AWS but cannot be reproduced locally.
const NOT_REPRODUCED: &[(&str, &str)] = &[
    (
        "Layers",
        "layers are not loaded: put what they provide in the function's dir (or NODE_PATH, PYTHONPATH)",
    ),
    ("VpcConfig", "the function runs on this machine's network, not in a VPC"),
    ("FileSystemConfigs", "EFS file systems are not mounted"),
    ("SnapStart", "SnapStart has no local equivalent"),
];

/// The function's properties, with `Globals.Function` beneath them.
struct Props<'v> {
    own: Option<&'v Val>,
    globals: Option<&'v Val>,
}

impl<'v> Props<'v> {
    fn get(&self, key: &str) -> Option<&'v Val> {
        self.own.and_then(|p| p.get(key)).or_else(|| self.globals.and_then(|g| g.get(key)))
    }
}

/// Reads one function into `native.functions` (under its logical id) and its events.
pub(crate) fn read(
    cx: &mut Cx<'_>,
    t: &Template<'_>,
    key: &Key,
    resource: &Val,
    globals: Option<&Val>,
    native: &mut Native,
    events: &mut Vec<Event>,
) {
    let name = key.text.clone();
    let props = Props { own: resource.get("Properties"), globals };
    let mut f = Function { timeout: Some(LAMBDA_DEFAULT_TIMEOUT), ..Function::default() };
    runtime(cx, t, &name, resource, &props, &mut f);
    code_dir(cx, t, &name, &props, &mut f);
    if let Some(v) = t.get(cx, props.get("Timeout")) {
        f.timeout = number(cx, &v, "a number of seconds").or(f.timeout);
    }
    if let Some(v) = t.get(cx, props.get("MemorySize")) {
        f.memory = number(cx, &v, "a number of MB");
    }
    if let Some(v) = t.get(cx, props.get("ReservedConcurrentExecutions")) {
        match number(cx, &v, "a number") {
            Some(0) => {
                cx.warn(&v, "ReservedConcurrentExecutions 0 (the function is throttled on AWS) is not reproduced; ignored");
            }
            n => f.concurrency = n,
        }
    }
    f.environment = environment(cx, t, &props);
    for (property, why) in NOT_REPRODUCED {
        if let Some(v) = props.get(property) {
            cx.warn(v, format!("function `{name}`: `{property}`: {why}"));
        }
    }
    native.functions.insert(name.clone(), Item::new(f, key.span));
    if let Some(list) = props.own.and_then(|p| p.get("Events")) {
        events::collect(cx, t, &name, list, events);
    }
}

fn runtime(
    cx: &mut Cx<'_>,
    t: &Template<'_>,
    name: &str,
    resource: &Val,
    props: &Props<'_>,
    f: &mut Function,
) {
    if let Some(p) =
        props.get("PackageType").filter(|p| p.str().is_some_and(|s| s.eq_ignore_ascii_case("Image")))
    {
        cx.error(p, format!("function `{name}` is a container image: Portcullis runs code from a directory"))
            .help(format!("give `functions.{name}` a `runtime`, `handler` and `dir` (or an `invoke_url`, e.g. the image's Runtime Interface Emulator) in the overlay"))
            .resolved_by_function(name);
        return;
    }
    let Some(rt) = t.get(cx, props.get("Runtime")) else {
        cx.error(resource, format!("function `{name}` has no Runtime"))
            .help(format!("give `functions.{name}` a `runtime` in the overlay"))
            .resolved_by_function(name);
        return;
    };
    let id = rt.str().unwrap_or_default();
    let Some(runtime) = Runtime::of_lambda(id) else {
        cx.error(&rt, format!("function `{name}`: runtime `{id}` cannot run in Portcullis (it runs nodejs, python and provided runtimes)"))
            .help(format!("give `functions.{name}` a `runtime` it can run, or an `invoke_url`, in the overlay"))
            .resolved_by_function(name);
        f.notes.push(format!("Runtime {id} cannot run here: say how it runs in the overlay."));
        return;
    };
    f.runtime = Some(runtime);
    let handler = t.get(cx, props.get("Handler")).and_then(|h| h.str().map(str::to_owned));
    if runtime == Runtime::Provided {
        // Lambda starts `bootstrap` from the code directory; the handler is only passed on.
        f.command = Some("./bootstrap".into());
    } else if handler.is_none() {
        cx.error(resource, format!("function `{name}` has no Handler")).resolved_by(&[&[
            "functions",
            name,
            "handler",
        ]]);
    }
    f.handler = handler;
    if let Some(build) = resource.get("Metadata").and_then(|m| m.get("BuildMethod")) {
        let method = build.str().unwrap_or("?").to_owned();
        cx.warn(
            build,
            format!("function `{name}` is built by `sam build` ({method}); Portcullis runs CodeUri as it is"),
        )
        .help(format!("build it first and point `functions.{name}.dir` at the output in the overlay"));
    }
}

/// `dir` from `CodeUri` (a local path, relative to the template); S3 locations and inline
/// code are reported.
fn code_dir(cx: &mut Cx<'_>, t: &Template<'_>, name: &str, props: &Props<'_>, f: &mut Function) {
    if let Some(inline) = props.get("InlineCode") {
        cx.error(
            inline,
            format!("function `{name}`: InlineCode is not written anywhere Portcullis can run it"),
        )
        .help(format!("put the code in a file and give `functions.{name}.dir` in the overlay"))
        .resolved_by(&[&["functions", name, "dir"], &["functions", name, "invoke_url"]]);
        return;
    }
    let Some(uri) = t.get(cx, props.get("CodeUri")) else {
        f.dir = Some(".".into());
        return;
    };
    match uri.str() {
        Some(path) if !path.starts_with("s3://") => {
            let trimmed = path.trim_end_matches('/');
            f.dir = Some(if trimmed.is_empty() { ".".into() } else { trimmed.to_owned() });
        }
        _ => {
            cx.error(
                &uri,
                format!("function `{name}`: CodeUri {} is in S3, not on this machine", uri.describe()),
            )
            .help(format!("give `functions.{name}.dir` in the overlay"))
            .resolved_by(&[&["functions", name, "dir"], &["functions", name, "invoke_url"]]);
        }
    }
}

/// `Environment.Variables`, the function's over `Globals.Function`'s.
fn environment(cx: &mut Cx<'_>, t: &Template<'_>, props: &Props<'_>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let layers = [props.globals, props.own];
    for layer in layers.into_iter().flatten() {
        let Some(v) = layer.get("Environment").and_then(|e| e.get("Variables")) else {
            continue;
        };
        let Ok(v) = t.resolve(cx, v) else {
            continue;
        };
        for (key, value) in v.entries() {
            let text = match &value.kind {
                VKind::Scalar { .. } if value.is_null() => String::new(),
                VKind::Scalar { text, .. } => text.clone(),
                _ => {
                    cx.expected(value, "a string");
                    continue;
                }
            };
            vars.retain(|(k, _)| *k != key.text);
            vars.push((key.text.clone(), text));
        }
    }
    vars
}

fn number(cx: &mut Cx<'_>, v: &Val, what: &str) -> Option<u64> {
    let n = v.uint();
    if n.is_none() {
        cx.expected(v, what);
    }
    n
}

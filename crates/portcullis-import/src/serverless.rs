//! A Serverless Framework `serverless.yml` (v3 and v4) -> functions (`functions.*` with their
//! `httpApi` events), the HTTP API's authorizers and CORS (`provider.httpApi`)
//! (<https://www.serverless.com/framework/docs/providers/aws/events/http-api>).
//!
//! Variables are resolved first ([`variables`]). The Serverless Framework deploys an HTTP API
//! to the `$default` stage whatever `provider.stage` is (the stage names the deployment, not
//! an API Gateway stage), so the output keeps `$default`; `provider.stage` only feeds variables.

mod http_api;
mod variables;

use crate::diagnostic::ImportErrors;
use crate::native::{Function, Item, Native, Runtime};
use crate::source::{Cx, Key, VKind, Val};

use variables::Resolver;

/// The Framework's default function timeout, in seconds.
const DEFAULT_TIMEOUT: u64 = 6;
/// The Framework's default memory size, in MB.
const DEFAULT_MEMORY: u64 = 1024;

/// Function settings that change behaviour on AWS but are not reproduced locally.
const NOT_REPRODUCED: &[(&str, &str)] = &[
    (
        "layers",
        "layers are not loaded: put what they provide in the service directory (or NODE_PATH, PYTHONPATH)",
    ),
    ("vpc", "the function runs on this machine's network, not in a VPC"),
    ("url", "function URLs are not served; routes are"),
    ("fileSystemConfig", "EFS file systems are not mounted"),
];

/// What an import of a service found besides the config: lines for the output's header.
pub(crate) struct Service {
    pub(crate) native: Native,
    pub(crate) notes: Vec<String>,
}

/// Imports a `serverless.yml`.
pub(crate) fn import(cx: &mut Cx<'_>, raw: &Val) -> Result<Service, ImportErrors> {
    let (Some(_), Some(provider)) = (raw.get("service"), raw.get("provider")) else {
        return Err(cx.fatal(raw.span, "", "not a serverless.yml: `service` and `provider` are required"));
    };
    if let Some(name) = provider.get("name").and_then(Val::str).filter(|n| *n != "aws") {
        let at = provider.get("name").unwrap_or(provider).span;
        return Err(cx.fatal(
            at,
            "provider.name",
            format!("provider `{name}` is not AWS: nothing to import"),
        ));
    }
    let resolver = Resolver::new(cx, raw);
    let provider = resolver.resolve(cx, provider).unwrap_or_else(|| provider.clone());
    let functions = raw.get("functions").and_then(|f| resolver.resolve(cx, f));
    let service = raw.get("service").and_then(|s| resolver.resolve(cx, s));
    let service_name = service
        .as_ref()
        .and_then(|s| s.str().or_else(|| s.get("name").and_then(Val::str)))
        .unwrap_or("?")
        .to_owned();

    let mut native = Native::default();
    if provider.get("region").is_some() || cx.options.region.is_some() {
        native.region = Some(resolver.region.clone());
    }
    let mut events = Vec::new();
    for (key, f) in functions.as_ref().map(Val::entries).unwrap_or_default() {
        function(cx, &provider, key, f, &mut native, &mut events);
    }
    let http_api = provider.get("httpApi");
    http_api::authorizers(cx, http_api, &mut native);
    let methods = http_api::routes(cx, &events, &mut native);
    http_api::cors(cx, http_api, &methods, &mut native);
    if let Some(id) = http_api.and_then(|h| h.get("id")) {
        cx.warn(id, "provider.httpApi.id: the HTTP API is defined outside this service; only this service's routes are imported");
    }
    let notes = vec![
        format!(
            "Service `{service_name}`, stage `{}`: the stage feeds variables only; the Serverless",
            resolver.stage
        ),
        "Framework deploys HTTP APIs to the $default stage, which this config keeps.".to_owned(),
    ];
    Ok(Service { native, notes })
}

/// One `functions.NAME` -> a native function (run from the service directory, as Lambda runs
/// the deployed package) and its `httpApi` events.
fn function(
    cx: &mut Cx<'_>,
    provider: &Val,
    key: &Key,
    f: &Val,
    native: &mut Native,
    events: &mut Vec<http_api::Event>,
) {
    let name = key.text.clone();
    let mut out = Function { dir: Some(".".into()), ..Function::default() };
    if let Some(image) = f.get("image") {
        cx.error(
            image,
            format!("function `{name}` is a container image: Portcullis runs code from a directory"),
        )
        .help(format!(
            "give `functions.{name}` a `runtime`, `handler` and `dir` (or an `invoke_url`) in the overlay"
        ))
        .resolved_by_function(&name);
    } else {
        runtime(cx, provider, &name, f, &mut out);
    }
    out.timeout =
        Some(number(cx, f.get("timeout").or_else(|| provider.get("timeout"))).unwrap_or(DEFAULT_TIMEOUT));
    out.memory = Some(
        number(cx, f.get("memorySize").or_else(|| provider.get("memorySize"))).unwrap_or(DEFAULT_MEMORY),
    );
    if let Some(n) = number(cx, f.get("reservedConcurrency")).filter(|n| *n > 0) {
        out.concurrency = Some(n);
    }
    out.environment = environment(cx, provider.get("environment"), f.get("environment"));
    for (property, why) in NOT_REPRODUCED {
        if let Some(v) = f.get(property) {
            cx.warn(v, format!("function `{name}`: `{property}`: {why}"));
        }
    }
    native.functions.insert(name.clone(), Item::new(out, key.span));
    let payload = f
        .get("httpApi")
        .and_then(|h| h.get("payload"))
        .or_else(|| provider.get("httpApi").and_then(|h| h.get("payload")));
    for event in f.get("events").map(Val::items).unwrap_or_default() {
        http_api::collect(cx, &name, event, payload, events);
    }
}

fn runtime(cx: &mut Cx<'_>, provider: &Val, name: &str, f: &Val, out: &mut Function) {
    let written = f.get("runtime").or_else(|| provider.get("runtime"));
    let id = written.and_then(Val::str).unwrap_or("nodejs");
    let Some(runtime) = Runtime::of_lambda(id) else {
        cx.error(written.unwrap_or(f), format!("function `{name}`: runtime `{id}` cannot run in Portcullis (it runs nodejs, python and provided runtimes)"))
            .help(format!("give `functions.{name}` a `runtime` it can run, or an `invoke_url`, in the overlay"))
            .resolved_by_function(name);
        out.notes.push(format!("Runtime {id} cannot run here: say how it runs in the overlay."));
        return;
    };
    if written.is_none() {
        cx.warn(f, format!("function `{name}` names no runtime (nor does provider.runtime); run as nodejs, the Framework's default"));
    }
    out.runtime = Some(runtime);
    let handler = f.get("handler").and_then(Val::str).map(str::to_owned);
    if runtime == Runtime::Provided {
        out.command = Some("./bootstrap".into());
    } else if handler.is_none() {
        cx.error(f, format!("function `{name}` has no handler")).resolved_by(&[&[
            "functions",
            name,
            "handler",
        ]]);
    }
    out.handler = handler;
}

/// `provider.environment` with the function's `environment` over it.
fn environment(cx: &mut Cx<'_>, provider: Option<&Val>, own: Option<&Val>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for layer in [provider, own].into_iter().flatten() {
        for (key, value) in layer.entries() {
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

fn number(cx: &mut Cx<'_>, v: Option<&Val>) -> Option<u64> {
    let v = v?;
    let n = v.uint();
    if n.is_none() {
        cx.expected(v, "a whole number");
    }
    n
}

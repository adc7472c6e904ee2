//! The native Portcullis config an import builds (the keys of docs/config.md), each piece with
//! the position it came from, and its conversion to the output [`Tree`].

use std::sync::Arc;

use indexmap::IndexMap;
use portcullis_config::Span;

use crate::arn::{self, ArnError};
use crate::source::{Cx, Val};
use crate::tree::{SourcePos, Tree};

/// A value and where the definition wrote it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item<T> {
    pub(crate) value: T,
    pub(crate) at: Span,
}

impl<T> Item<T> {
    pub(crate) fn new(value: T, at: Span) -> Self {
        Self { value, at }
    }
}

/// Everything an import produces.
#[derive(Debug, Default)]
pub(crate) struct Native {
    /// `stage`: a named stage (SAM `StageName`); `None` keeps `$default`.
    pub(crate) stage: Option<Item<String>>,
    /// `stage_variables`.
    pub(crate) stage_variables: Option<Item<Vec<(String, String)>>>,
    /// `region`, when the definition or the options name one.
    pub(crate) region: Option<String>,
    /// `account_id`, when the options name one.
    pub(crate) account_id: Option<String>,
    pub(crate) cors: Option<Item<Cors>>,
    pub(crate) default_authorizer: Option<Item<String>>,
    pub(crate) authorizers: IndexMap<String, Item<Authorizer>>,
    pub(crate) functions: IndexMap<String, Item<Function>>,
    pub(crate) routes: IndexMap<String, Item<Route>>,
    /// `throttle` of the whole API (a stage's default route settings).
    pub(crate) throttle: Option<Item<Throttle>>,
    /// A route's throttle given apart from the route (an API's `RouteSettings`), by route key.
    pub(crate) route_throttles: IndexMap<String, Item<Throttle>>,
    /// `access_log.format` (a stage's access-log format).
    pub(crate) access_log_format: Option<Item<String>>,
}

/// `throttle:` (AWS's `ThrottlingRateLimit` and `ThrottlingBurstLimit`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Throttle {
    /// Requests per second, as written (AWS allows fractions).
    pub(crate) rate: String,
    /// Requests at once.
    pub(crate) burst: u64,
}

/// `cors:` (AWS's CORS configuration, lower-snake keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cors {
    pub(crate) allow_origins: Vec<String>,
    pub(crate) allow_methods: Vec<String>,
    pub(crate) allow_headers: Vec<String>,
    pub(crate) expose_headers: Vec<String>,
    pub(crate) max_age: Option<i64>,
    pub(crate) allow_credentials: Option<bool>,
}

/// One authorizer under `authorizers:`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Authorizer {
    Jwt {
        /// `None` when the definition does not say (the overlay must).
        issuer: Option<String>,
        audience: Vec<String>,
        identity_source: Vec<String>,
    },
    Lambda {
        function: String,
        /// `token` (REST's TOKEN event) or `request`.
        event: &'static str,
        payload_format_version: Option<String>,
        simple_responses: Option<bool>,
        identity_source: Vec<String>,
        /// Seconds.
        result_ttl: Option<u64>,
        token_validation: Option<String>,
    },
}

/// A function's runtime, as the native config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    Nodejs,
    Python,
    Provided,
}

impl Runtime {
    /// The native runtime of a Lambda runtime identifier (`nodejs20.x`, `python3.12`,
    /// `provided.al2023`); `None` for runtimes Portcullis cannot run (Java, .NET, Ruby, Go 1.x).
    pub(crate) fn of_lambda(id: &str) -> Option<Runtime> {
        let id = id.to_ascii_lowercase();
        if id.starts_with("nodejs") {
            Some(Runtime::Nodejs)
        } else if id.starts_with("python") {
            Some(Runtime::Python)
        } else if id.starts_with("provided") {
            Some(Runtime::Provided)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Runtime::Nodejs => "nodejs",
            Runtime::Python => "python",
            Runtime::Provided => "provided",
        }
    }
}

/// One function under `functions:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Function {
    /// `None` when the definition only names the function (an ARN): the overlay says how it runs.
    pub(crate) runtime: Option<Runtime>,
    pub(crate) handler: Option<String>,
    /// `provided` runtimes: the program (Lambda runs `bootstrap` from the code directory).
    pub(crate) command: Option<String>,
    pub(crate) dir: Option<String>,
    /// Seconds.
    pub(crate) timeout: Option<u64>,
    pub(crate) memory: Option<u64>,
    pub(crate) concurrency: Option<u64>,
    pub(crate) environment: Vec<(String, String)>,
    /// Comment lines for the output.
    pub(crate) notes: Vec<String>,
}

/// Where a route sends requests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Http(String),
    Function(String),
}

/// Which authorizer protects a route.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum RouteAuth {
    /// Nothing written: `default_authorizer` applies, if any.
    #[default]
    Inherit,
    /// `authorizer: none`.
    Public,
    Named(String),
}

/// One route under `routes:`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Route {
    pub(crate) target: Target,
    /// Milliseconds.
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) payload_format_version: Option<String>,
    pub(crate) auth: RouteAuth,
    pub(crate) scopes: Vec<String>,
    pub(crate) parameter_mapping: Vec<(String, String)>,
    /// Status code -> mappings.
    pub(crate) response_parameters: Vec<(String, Vec<(String, String)>)>,
    /// `throttle` of this route.
    pub(crate) throttle: Option<Throttle>,
}

impl Route {
    pub(crate) fn new(target: Target) -> Self {
        Self {
            target,
            timeout_ms: None,
            payload_format_version: None,
            auth: RouteAuth::Inherit,
            scopes: Vec::new(),
            parameter_mapping: Vec::new(),
            response_parameters: Vec::new(),
            throttle: None,
        }
    }
}

/// `30s`, `1500ms`.
fn millis(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

fn pairs(items: &[(String, String)]) -> Tree {
    items.iter().fold(Tree::map(), |t, (k, v)| t.with(k.clone(), Tree::str(v)))
}

fn non_empty(items: &[String]) -> Option<Tree> {
    (!items.is_empty()).then(|| Tree::strings(items))
}

/// The output tree of an import of `origin`.
pub(crate) fn to_tree(native: &Native, origin: &str) -> Tree {
    let origin: Arc<str> = Arc::from(origin);
    let pos = |span: Span| {
        (span.line > 0).then(|| SourcePos { origin: origin.clone(), line: span.line, column: span.column })
    };
    let mut root = Tree::map();
    if let Some(stage) = &native.stage {
        root.set("stage", Tree::str(&stage.value).at(pos(stage.at)));
    }
    if let Some(vars) = &native.stage_variables {
        root.set("stage_variables", pairs(&vars.value).at(pos(vars.at)));
    }
    if let Some(region) = &native.region {
        root.set("region", Tree::str(region));
    }
    if let Some(account) = &native.account_id {
        root.set("account_id", Tree::str(account));
    }
    if let Some(cors) = &native.cors {
        root.set("cors", cors_tree(&cors.value).at(pos(cors.at)));
    }
    if let Some(default) = &native.default_authorizer {
        root.set("default_authorizer", Tree::str(&default.value).at(pos(default.at)));
    }
    if let Some(throttle) = &native.throttle {
        root.set("throttle", throttle_tree(&throttle.value).at(pos(throttle.at)));
    }
    if let Some(format) = &native.access_log_format {
        root.set("access_log", Tree::map().with("format", Tree::str(&format.value)).at(pos(format.at)));
    }
    let section = |items: Vec<(String, Tree)>| Tree { value: crate::tree::TValue::Map(items), ..Tree::map() };
    if !native.authorizers.is_empty() {
        let items = native
            .authorizers
            .iter()
            .map(|(name, a)| (name.clone(), authorizer_tree(&a.value).at(pos(a.at)).shown_from()));
        root.set("authorizers", section(items.collect()));
    }
    if !native.functions.is_empty() {
        let items = native
            .functions
            .iter()
            .map(|(name, f)| (name.clone(), function_tree(&f.value).at(pos(f.at)).shown_from()));
        root.set("functions", section(items.collect()));
    }
    if !native.routes.is_empty() {
        let items = native.routes.iter().map(|(key, r)| {
            let settings = native.route_throttles.get(key);
            let mut tree = route_tree(&r.value);
            if r.value.throttle.is_none()
                && let Some(throttle) = settings
            {
                tree.set("throttle", throttle_tree(&throttle.value).at(pos(throttle.at)));
            }
            (key.clone(), tree.at(pos(r.at)).shown_from())
        });
        root.set("routes", section(items.collect()));
    }
    root
}

fn throttle_tree(t: &Throttle) -> Tree {
    Tree::map().with("rate", Tree::raw(&t.rate)).with("burst", Tree::raw(t.burst))
}

fn cors_tree(c: &Cors) -> Tree {
    Tree::map()
        .with_opt("allow_origins", non_empty(&c.allow_origins))
        .with_opt("allow_methods", non_empty(&c.allow_methods))
        .with_opt("allow_headers", non_empty(&c.allow_headers))
        .with_opt("expose_headers", non_empty(&c.expose_headers))
        .with_opt("max_age", c.max_age.map(Tree::raw))
        .with_opt("allow_credentials", c.allow_credentials.map(Tree::raw))
}

fn authorizer_tree(a: &Authorizer) -> Tree {
    match a {
        Authorizer::Jwt { issuer, audience, identity_source } => Tree::map()
            .with("type", Tree::str("jwt"))
            .with_opt("issuer", issuer.as_ref().map(Tree::str))
            .with_opt("audience", non_empty(audience))
            .with_opt("identity_source", non_empty(identity_source)),
        Authorizer::Lambda {
            function,
            event,
            payload_format_version,
            simple_responses,
            identity_source,
            result_ttl,
            token_validation,
        } => Tree::map()
            .with("type", Tree::str("lambda"))
            .with("function", Tree::str(function))
            .with("event", Tree::str(*event))
            .with_opt("payload_format_version", payload_format_version.as_ref().map(Tree::str))
            .with_opt("simple_responses", simple_responses.map(Tree::raw))
            .with_opt("identity_source", non_empty(identity_source))
            .with_opt("result_ttl", result_ttl.map(|s| Tree::str(format!("{s}s"))))
            .with_opt("token_validation", token_validation.as_ref().map(Tree::str)),
    }
}

fn function_tree(f: &Function) -> Tree {
    let mut t = Tree::map()
        .with_opt("runtime", f.runtime.map(|r| Tree::str(r.name())))
        .with_opt("handler", f.handler.as_ref().map(Tree::str))
        .with_opt("command", f.command.as_ref().map(Tree::str))
        .with_opt("dir", f.dir.as_ref().map(Tree::str))
        .with_opt("timeout", f.timeout.map(|s| Tree::str(format!("{s}s"))))
        .with_opt("memory", f.memory.map(Tree::raw))
        .with_opt("concurrency", f.concurrency.map(Tree::raw));
    if !f.environment.is_empty() {
        t.set("environment", pairs(&f.environment));
    }
    if f.runtime.is_none() && f.notes.is_empty() {
        t = t.note("How it runs is not in the definition: give runtime, handler and dir (or invoke_url) in an overlay.");
    }
    f.notes.iter().fold(t, |t, n| t.note(n.clone()))
}

fn route_tree(r: &Route) -> Tree {
    let mut t = match &r.target {
        Target::Http(url) => Tree::map().with("http", Tree::str(url)),
        Target::Function(name) => Tree::map().with("function", Tree::str(name)),
    };
    t = t
        .with_opt("timeout", r.timeout_ms.map(|ms| Tree::str(millis(ms))))
        .with_opt("payload_format_version", r.payload_format_version.as_ref().map(Tree::str));
    match &r.auth {
        RouteAuth::Inherit => {}
        RouteAuth::Public => t.set("authorizer", Tree::str("none")),
        RouteAuth::Named(name) => t.set("authorizer", Tree::str(name)),
    }
    t = t.with_opt("scopes", non_empty(&r.scopes));
    if !r.parameter_mapping.is_empty() {
        t.set("parameter_mapping", pairs(&r.parameter_mapping));
    }
    if !r.response_parameters.is_empty() {
        let by_status =
            r.response_parameters.iter().fold(Tree::map(), |t, (status, m)| t.with(status.clone(), pairs(m)));
        t.set("response_parameters", by_status);
    }
    if let Some(throttle) = &r.throttle {
        t.set("throttle", throttle_tree(throttle));
    }
    t
}

impl Native {
    /// The native function a Lambda ARN (or invocation URI) at `uri` names. A function this
    /// definition does not define is added without a runtime, with an error saying the overlay
    /// must give one. `None` (reported) when `uri` names no usable function.
    pub(crate) fn lambda_function(&mut self, cx: &mut Cx<'_>, uri: &Val) -> Option<String> {
        let Some(text) = uri.str() else {
            cx.error(uri, format!("expected a Lambda function ARN, found {}", uri.describe()));
            return None;
        };
        // The AWS variables API Gateway resolves when it imports OpenAPI.
        let text = &text
            .replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", cx.options.region())
            .replace("${AWS::AccountId}", cx.options.account_id());
        let f = match arn::function(text) {
            Ok(f) => f,
            Err(ArnError::NotLambda) => {
                cx.error(
                    uri,
                    format!(
                        "{text:?} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
                    ),
                );
                return None;
            }
            Err(ArnError::StageVariable) => {
                cx.error(uri, format!("{text:?} chooses the function with a stage variable, which Portcullis cannot resolve when loading"));
                return None;
            }
        };
        if let Some(q) = &f.qualifier {
            cx.warn(
                uri,
                format!(
                    "version or alias `{q}` of function `{}` ignored: Portcullis runs the code it is given",
                    f.name
                ),
            );
        }
        if !self.functions.contains_key(&f.name) {
            self.functions.insert(f.name.clone(), Item::new(Function::default(), uri.span));
            cx.error(
                uri,
                format!(
                    "function `{}` is defined outside this file: Portcullis does not know how to run it",
                    f.name
                ),
            )
            .help(format!(
                "give `functions.{}` a `runtime`, `handler` and `dir` (or an `invoke_url`) in the overlay",
                f.name
            ))
            .resolved_by_function(&f.name);
        }
        Some(f.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_keep_their_unit() {
        assert_eq!(millis(30_000), "30s");
        assert_eq!(millis(1_500), "1500ms");
    }

    #[test]
    fn lambda_runtimes_map_to_native_ones() {
        assert_eq!(Runtime::of_lambda("nodejs20.x"), Some(Runtime::Nodejs));
        assert_eq!(Runtime::of_lambda("python3.12"), Some(Runtime::Python));
        assert_eq!(Runtime::of_lambda("provided.al2023"), Some(Runtime::Provided));
        assert_eq!(Runtime::of_lambda("java21"), None);
    }
}

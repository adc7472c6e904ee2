//! Declarative authorization rules: CEL expressions over `claims`, `request`,
//! `route` and `authorizer`, compiled and checked once at config load and evaluated per request.
//!
//! Where it sits: the config crate compiles every `rules:` entry with [`Rule::compile`] (a
//! syntax or static type error is a config error with its position), groups the rules of one
//! authorizer or route into a [`RuleSet`], and the request pipeline calls
//! [`RuleSet::evaluate`] after authorization; any [`RuleFailure`] is a 403 naming the rule.
//!
//! What a rule sees (all maps; a missing key is an evaluation error, so the rule fails closed;
//! test with `has(claims.x)` first when a claim is optional):
//! - `claims`: the verified JWT's claims as JSON (integers as `int`, or `uint` above
//!   `i64::MAX`, other numbers `double`); an empty map when no JWT authorizer ran.
//! - `request`: `method`, `path` (the raw path as sent, still percent-encoded, no query),
//!   `headers` (lower-case name to value, repeated headers joined with `,`), `query` (decoded
//!   name to decoded value, `+` as space, repeats joined with `,`, as in the 2.0 event's
//!   `queryStringParameters`) and `source_ip` (the TCP peer's address as text).
//! - `route`: `key` (the route key as configured, `GET /pets/{id}`) and `params` (path
//!   parameter name to its percent-decoded value).
//! - `authorizer`: with a Lambda authorizer, `principal_id` (when it returned one) and
//!   `context` (its context object, JSON types kept); an empty map otherwise.
//!
//! Cost: evaluation builds only the variables the rules of a set mention, and of those only the
//! keys named literally (`claims.sub`, `request.headers['x-tenant']`); strings are borrowed
//! from the request and the claims, not copied. No locks.

mod check;
mod vars;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::common::types::{CelBool, CelString, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{Context, Env, ExecutionError, IdedExpr, Value};
use http::request::Parts;
use portcullis_core::CallContext;

use check::Needs;

/// The CEL environment rules are compiled with: the standard library (with the `has`, `all`,
/// `exists`, `exists_one`, `map`, `filter` macros and `optional`), built once.
static ENV: LazyLock<Env> = LazyLock::new(env);

thread_local! {
    /// The same environment for evaluation, one per thread: every evaluation clones the `Arc`
    /// into its `Context`, and a per-thread copy keeps that reference count off a cache line
    /// shared by all cores. Programs do not depend on the environment they were compiled in.
    static RUN_ENV: Arc<Env> = Arc::new(env());

    /// Regular expressions of `matches` calls with a literal pattern, compiled once per thread
    /// instead of on every call (cel's own `matches` compiles the pattern each time: ~30 µs).
    /// Only literal patterns from config reach it, so it is bounded by the config; cleared past
    /// a generous size in case reloads keep adding patterns.
    static REGEXES: std::cell::RefCell<HashMap<String, regex::Regex>> = RefCell::default();
}

/// The environment: cel's standard library plus [`check::MATCHES_LITERAL`].
fn env() -> Env {
    let mut env = Env::stdlib();
    env.add_member_overload(
        check::MATCHES_LITERAL,
        "portcullis_string_matches_literal",
        STRING_TYPE,
        vec![STRING_TYPE],
        matches_literal,
    )
    .expect("a name of our own cannot clash with the standard library");
    env
}

/// `s.matches(re)` for a literal `re`, with the compiled expression cached per thread.
fn matches_literal<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = |i: usize| args.get(i).and_then(|v| v.downcast_ref::<CelString>()).map(|s| s.inner());
    let (Some(this), Some(pattern)) = (text(0), text(1)) else {
        return Err(ExecutionError::invalid_argument_count(2, args.len()));
    };
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(re) = cache.get(pattern) {
            return Ok(CowVal::owned(CelBool::from(re.is_match(this))));
        }
        let re = regex::Regex::new(pattern).map_err(|e| ExecutionError::function_error("matches", e))?;
        let found = re.is_match(this);
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), re);
        Ok(CowVal::owned(CelBool::from(found)))
    })
}

/// One compiled rule: parsed, checked, and annotated with what it reads.
#[derive(Debug, Clone)]
pub struct Rule {
    source: Arc<str>,
    /// The checked tree, with selects on variables turned into indexes (see
    /// `check::index_root_selects`).
    expr: IdedExpr,
    needs: Needs,
}

/// Why a rule was rejected at load: where (within the rule's own text) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct RuleError {
    /// 1-based line within the rule's source.
    pub line: usize,
    /// 1-based column (in characters) within that line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl Rule {
    /// Parses and checks `source`. Rejects syntax errors, names other than `claims`, `request`,
    /// `route`, `authorizer` (and those bound by macros), unknown fields of `request`, `route`
    /// and `authorizer`, unknown functions and wrong arities, literal type clashes (`1 + 'a'`)
    /// and expressions that cannot be boolean. The error's position is within `source`.
    pub fn compile(source: &str) -> Result<Rule, RuleError> {
        let program = ENV.compile(source).map_err(|errs| {
            let first = errs.errors.first();
            let (line, column) = first.map_or((1, 1), |e| e.pos);
            RuleError {
                line: usize::try_from(line).unwrap_or(1).max(1),
                column: usize::try_from(column).unwrap_or(1).max(1),
                message: first.map_or_else(|| "syntax error".to_owned(), |e| e.msg.clone()),
            }
        })?;
        let needs = check::check(program.expression()).map_err(|f| {
            let offset = program.source_info().offset_for(f.expr_id).map_or(0, |(start, _)| start);
            let (line, column) = line_column(source, offset as usize);
            RuleError { line, column, message: f.message }
        })?;
        let mut expr = program.expression().clone();
        let mut next_id = check::max_id(&expr);
        check::index_root_selects(&mut expr, &mut next_id);
        Ok(Rule { source: source.into(), expr, needs })
    }

    /// The rule as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// 1-based line and column (in characters) of the byte `offset` into `source` (cel's node
/// offsets are byte offsets).
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for (at, c) in source.char_indices() {
        if at >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// All rules of one authorizer or route; all must hold.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    needs: Needs,
}

/// How a rule failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The rule evaluated to `false`.
    False,
    /// The rule could not be evaluated (a missing claim or header, a value of the wrong type):
    /// treated as a failure, never as a pass.
    Error(String),
    /// The rule evaluated to something other than a bool (only possible through `dyn` values,
    /// e.g. a rule that is just `claims.admin` where that claim is a string); names the type.
    NotBool(String),
}

/// The first rule of a set that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFailure {
    /// 0-based position of the rule in its set (as listed in config).
    pub index: usize,
    /// The rule as written.
    pub source: Arc<str>,
    /// Why it failed.
    pub kind: FailureKind,
}

impl std::fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {} `{}` ", self.index, self.source)?;
        match &self.kind {
            FailureKind::False => write!(f, "is false"),
            FailureKind::Error(e) => write!(f, "failed: {e}"),
            FailureKind::NotBool(t) => write!(f, "gave a {t}, not a bool"),
        }
    }
}

/// Written by hand: thiserror would take the `source` field for the error's cause.
impl std::error::Error for RuleFailure {}

impl RuleSet {
    /// Groups `rules`; what evaluation builds is the union of what they read.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let mut needs = Needs::default();
        for r in &rules {
            needs.merge(&r.needs);
        }
        RuleSet { rules, needs }
    }

    /// Whether there are no rules (evaluation then always passes).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every rule against one request, in order, stopping at the first that does not
    /// hold. Builds only the variables (and keys) the rules read.
    pub fn evaluate(&self, parts: &Parts, ctx: &CallContext) -> Result<(), RuleFailure> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let vars = vars::Vars::build(&self.needs, parts, ctx);
        let mut cel_ctx = Context::with_env(RUN_ENV.with(Arc::clone));
        cel_ctx.set_variable_resolver(&vars);
        for (index, rule) in self.rules.iter().enumerate() {
            let kind = match Value::resolve_val(&rule.expr, &cel_ctx) {
                Ok(v) => match v.downcast_ref::<CelBool>() {
                    Some(b) if *b.inner() => continue,
                    Some(_) => FailureKind::False,
                    None => FailureKind::NotBool(v.get_type().name().to_owned()),
                },
                Err(e) => FailureKind::Error(describe_error(&e)),
            };
            return Err(RuleFailure { index, source: Arc::clone(&rule.source), kind });
        }
        Ok(())
    }
}

/// An evaluation error in words that name keys, functions and types but never values: claims
/// can carry personal data and the message may end up in logs.
fn describe_error(e: &ExecutionError) -> String {
    let ty = |v: &Value| v.type_of().to_string();
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::UndeclaredReference(n) => format!("undeclared reference to '{n}'"),
        ExecutionError::NoSuchOverload(o) => o.to_string(),
        ExecutionError::InvalidArgumentCount { expected, actual } => {
            format!("expected {expected} argument(s), got {actual}")
        }
        ExecutionError::UnexpectedType { got, want } => format!("expected a {want}, got a {got}"),
        ExecutionError::ValuesNotComparable(a, b) => {
            format!("a {} cannot be compared to a {}", ty(a), ty(b))
        }
        ExecutionError::UnsupportedBinaryOperator(op, a, b) | ExecutionError::Overflow(op, a, b) => {
            format!("operator '{op}' failed on a {} and a {}", ty(a), ty(b))
        }
        ExecutionError::UnsupportedTargetType { target } => format!("unsupported target type {}", ty(target)),
        ExecutionError::NotSupportedAsMethod { method, target } => {
            format!("'{method}' is not a method of {}", ty(target))
        }
        ExecutionError::UnsupportedKeyType(v) => format!("a {} cannot be a map key", ty(v)),
        ExecutionError::UnsupportedIndex(i, v) => format!("a {} cannot index a {}", ty(i), ty(v)),
        ExecutionError::IndexOutOfBounds(_) => "index out of bounds".to_owned(),
        ExecutionError::DivisionByZero(_) | ExecutionError::RemainderByZero(_) => {
            "division by zero".to_owned()
        }
        ExecutionError::FunctionError { function, .. } => format!("function '{function}' failed"),
        ExecutionError::DuplicateKey(v) => format!("repeated map key of type {}", ty(v)),
        ExecutionError::MissingArgumentOrTarget => "missing argument or target".to_owned(),
        _ => "evaluation error".to_owned(),
    }
}

/// For the benchmark only: the cost of pieces of evaluation on their own. Not a stable API.
#[doc(hidden)]
pub mod bench_support {
    /// Builds the full `claims` value (every key) as evaluation would, and returns its size so
    /// the work cannot be optimised away.
    pub fn claims_value(claims: &serde_json::Map<String, serde_json::Value>) -> usize {
        let v = crate::vars::json_object_all(claims);
        v.as_sizer().map_or(0, |s| usize::try_from(*s.size().inner()).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;

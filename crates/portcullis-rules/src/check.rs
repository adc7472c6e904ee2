//! The load-time checker: walks a parsed rule, rejects what can only fail (unknown names, unknown
//! functions, wrong arities, statically wrong types) and records which variables, and which of
//! their fields, the rule reads, so evaluation builds nothing else.

use std::collections::BTreeSet;

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue, operators};

/// The root variables a rule may name.
pub(crate) const ROOTS: [&str; 4] = ["claims", "request", "route", "authorizer"];
/// Fields of `request`.
pub(crate) const REQUEST_FIELDS: [&str; 5] = ["method", "path", "headers", "query", "source_ip"];
/// Fields of `route`.
pub(crate) const ROUTE_FIELDS: [&str; 2] = ["key", "params"];
/// Fields of `authorizer`.
pub(crate) const AUTHORIZER_FIELDS: [&str; 2] = ["principal_id", "context"];
/// Type names CEL lets an expression mention as values (`type(x) == string`).
const TYPE_NAMES: [&str; 11] =
    ["int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"];

/// Which keys of a map-valued variable are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Need {
    /// Not read at all.
    #[default]
    None,
    /// Only these keys are read, each by a literal name (`claims.sub`, `claims['st-ev']`).
    Keys(BTreeSet<String>),
    /// Read as a whole (iterated, passed on, indexed by a computed key).
    All,
}

impl Need {
    fn add(&mut self, key: &str) {
        match self {
            Need::All => {}
            Need::Keys(keys) => {
                keys.insert(key.to_owned());
            }
            Need::None => *self = Need::Keys(BTreeSet::from([key.to_owned()])),
        }
    }
    pub(crate) fn merge(&mut self, other: &Need) {
        match other {
            Need::None => {}
            Need::All => *self = Need::All,
            Need::Keys(keys) => keys.iter().for_each(|k| self.add(k)),
        }
    }
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Need::None)
    }
    /// Whether `key` must be built.
    pub(crate) fn wants(&self, key: &str) -> bool {
        match self {
            Need::None => false,
            Need::All => true,
            Need::Keys(keys) => keys.contains(key),
        }
    }
}

/// What one or more rules read; the union over a rule set decides what evaluation builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Top-level claim names.
    pub(crate) claims: Need,
    /// Fields of `request`.
    pub(crate) request: Need,
    /// Header names (lower case) inside `request.headers`.
    pub(crate) headers: Need,
    /// Query parameter names inside `request.query`.
    pub(crate) query: Need,
    /// Fields of `route`.
    pub(crate) route: Need,
    /// Fields of `authorizer`.
    pub(crate) authorizer: Need,
}

impl Needs {
    pub(crate) fn merge(&mut self, other: &Needs) {
        self.claims.merge(&other.claims);
        self.request.merge(&other.request);
        self.headers.merge(&other.headers);
        self.query.merge(&other.query);
        self.route.merge(&other.route);
        self.authorizer.merge(&other.authorizer);
    }
}

/// A coarse static type: enough to catch literal clashes and non-boolean rules. Anything that
/// comes from a variable is `Dyn` (claims are JSON; their types are only known per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Null,
    List,
    Map,
    Type,
    Dyn,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Uint => "uint",
            Ty::Double => "double",
            Ty::String => "string",
            Ty::Bytes => "bytes",
            Ty::Null => "null",
            Ty::List => "list",
            Ty::Map => "map",
            Ty::Type => "type",
            Ty::Dyn => "dyn",
        }
    }
    fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Uint | Ty::Double)
    }
    /// Whether a value of this type may turn out to be `want` at run time.
    fn may_be(self, want: Ty) -> bool {
        self == Ty::Dyn || self == want
    }
}

/// A checker finding: the node it is about and what is wrong.
#[derive(Debug)]
pub(crate) struct Finding {
    pub(crate) expr_id: u64,
    pub(crate) message: String,
}

/// Member functions (called as `x.f(..)`): name and argument count, receiver excluded.
const MEMBER_FUNCTIONS: [(&str, usize); 9] = [
    ("contains", 1),
    ("startsWith", 1),
    ("endsWith", 1),
    ("matches", 1),
    ("size", 0),
    ("value", 0),
    ("hasValue", 0),
    ("or", 1),
    ("orValue", 1),
];

/// Global functions: name and argument count.
const GLOBAL_FUNCTIONS: [(&str, usize); 13] = [
    ("size", 1),
    ("matches", 2),
    ("int", 1),
    ("uint", 1),
    ("double", 1),
    ("string", 1),
    ("bytes", 1),
    ("bool", 1),
    ("dyn", 1),
    ("type", 1),
    ("optional.of", 1),
    ("optional.ofNonZeroValue", 1),
    ("optional.none", 0),
];

/// The member function a `matches` call with a literal pattern is rewritten to (see
/// [`index_root_selects`]); not callable from rule text, as it is no identifier.
pub(crate) const MATCHES_LITERAL: &str = "@matches_literal";

/// Checks a parsed rule; returns what it reads, or the first finding in source order of walk.
pub(crate) fn check(root: &IdedExpr) -> Result<Needs, Finding> {
    let mut checker = Checker { needs: Needs::default(), scope: Vec::new() };
    let ty = checker.expr(root)?;
    if !ty.may_be(Ty::Bool) {
        return Err(Finding {
            expr_id: root.id,
            message: format!("a rule must be a boolean expression, this one is of type {}", ty.name()),
        });
    }
    Ok(checker.needs)
}

struct Checker {
    needs: Needs,
    /// Names bound by comprehensions (macros), innermost last, with their static type.
    scope: Vec<(String, Ty)>,
}

/// `claims.a['b'].c` as root `claims` and the literal segments `a`, `b`, `c`.
fn literal_path(expr: &IdedExpr) -> Option<(&str, Vec<&str>)> {
    let mut segs = Vec::new();
    let mut cur = expr;
    loop {
        match &cur.expr {
            Expr::Ident(name) => {
                segs.reverse();
                return Some((name.as_str(), segs));
            }
            Expr::Select(sel) if !sel.test => {
                segs.push(sel.field.as_str());
                cur = &sel.operand;
            }
            Expr::Call(call) if call.func_name == operators::INDEX && call.args.len() == 2 => {
                match &call.args[1].expr {
                    Expr::Literal(LiteralValue::String(s)) => segs.push(s.inner()),
                    _ => return None,
                }
                cur = &call.args[0];
            }
            _ => return None,
        }
    }
}

/// Why a literal `matches` pattern is not a valid regular expression, if it is not.
fn invalid_regex(pattern: &IdedExpr) -> Option<String> {
    match &pattern.expr {
        Expr::Literal(LiteralValue::String(p)) => regex::Regex::new(p.inner()).err().map(|e| {
            let e = e.to_string();
            let why = e.lines().last().unwrap_or_default().trim_start_matches("error: ");
            format!("invalid regular expression in matches(): {why}")
        }),
        _ => None,
    }
}

fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match portcullis_core::closest(name, candidates) {
        Some(c) => format!("; did you mean '{c}'?"),
        None => String::new(),
    }
}

impl Checker {
    fn bound(&self, name: &str) -> Option<Ty> {
        self.scope.iter().rev().find(|(n, _)| n == name).map(|(_, t)| *t)
    }

    /// Records a read of `root` at the literal path `segs` (empty: the whole variable).
    fn record(&mut self, id: u64, root: &str, segs: &[&str]) -> Result<(), Finding> {
        let unknown_field = |var: &str, field: &str, fields: &[&str]| Finding {
            expr_id: id,
            message: format!(
                "`{var}` has no field '{field}' (it has {}){}",
                fields.join(", "),
                suggest(field, fields.iter().copied())
            ),
        };
        match root {
            "claims" => match segs.first() {
                Some(k) => self.needs.claims.add(k),
                None => self.needs.claims = Need::All,
            },
            "request" => match segs.first() {
                None => {
                    self.needs.request = Need::All;
                    self.needs.headers = Need::All;
                    self.needs.query = Need::All;
                }
                Some(&field) => {
                    if !REQUEST_FIELDS.contains(&field) {
                        return Err(unknown_field("request", field, &REQUEST_FIELDS));
                    }
                    self.needs.request.add(field);
                    match (field, segs.get(1)) {
                        ("headers", Some(name)) => {
                            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                                return Err(Finding {
                                    expr_id: id,
                                    message: format!(
                                        "header names in `request.headers` are lower case; did you mean '{}'?",
                                        name.to_ascii_lowercase()
                                    ),
                                });
                            }
                            self.needs.headers.add(name);
                        }
                        ("headers", None) => self.needs.headers = Need::All,
                        ("query", Some(name)) => self.needs.query.add(name),
                        ("query", None) => self.needs.query = Need::All,
                        _ => {}
                    }
                }
            },
            "route" => match segs.first() {
                None => self.needs.route = Need::All,
                Some(&field) if ROUTE_FIELDS.contains(&field) => self.needs.route.add(field),
                Some(&field) => return Err(unknown_field("route", field, &ROUTE_FIELDS)),
            },
            "authorizer" => match segs.first() {
                None => self.needs.authorizer = Need::All,
                Some(&field) if AUTHORIZER_FIELDS.contains(&field) => self.needs.authorizer.add(field),
                Some(&field) => return Err(unknown_field("authorizer", field, &AUTHORIZER_FIELDS)),
            },
            _ => unreachable!("record is only called for roots"),
        }
        Ok(())
    }

    /// The static type of a literal path into a variable.
    fn path_ty(root: &str, segs: &[&str]) -> Ty {
        match (root, segs) {
            ("request", []) | ("route", []) | ("authorizer", []) => Ty::Map,
            ("request", ["headers" | "query"]) | ("route", ["params"]) => Ty::Map,
            ("request", ["headers" | "query", _]) | ("route", ["params", _]) => Ty::String,
            ("request", [_]) | ("route", ["key"]) => Ty::String,
            ("request", [_, ..]) | ("route", [_, ..]) => Ty::Dyn,
            _ => Ty::Dyn,
        }
    }

    fn expr(&mut self, e: &IdedExpr) -> Result<Ty, Finding> {
        // A variable read through literal names: record exactly what is read.
        if let Some((root, segs)) = literal_path(e)
            && self.bound(root).is_none()
            && ROOTS.contains(&root)
        {
            self.record(e.id, root, &segs)?;
            return Ok(Self::path_ty(root, &segs));
        }
        match &e.expr {
            Expr::Unspecified => Ok(Ty::Dyn),
            Expr::Literal(lit) => Ok(match lit {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::Uint,
            }),
            Expr::Ident(name) => {
                if let Some(ty) = self.bound(name) {
                    return Ok(ty);
                }
                if ROOTS.contains(&name.as_str()) {
                    self.record(e.id, name, &[])?;
                    return Ok(Ty::Map);
                }
                if TYPE_NAMES.contains(&name.as_str()) {
                    return Ok(Ty::Type);
                }
                let names = self.scope.iter().map(|(n, _)| n.as_str()).chain(ROOTS);
                Err(Finding {
                    expr_id: e.id,
                    message: format!(
                        "unknown identifier '{name}' (rules see claims, request, route, authorizer){}",
                        suggest(name, names.collect::<Vec<_>>())
                    ),
                })
            }
            Expr::Select(sel) => {
                if sel.test {
                    // has(x.f): a presence test; `x.f` itself need not exist.
                    if let Some((root, segs)) = literal_path(&sel.operand)
                        && self.bound(root).is_none()
                        && ROOTS.contains(&root)
                    {
                        let mut segs = segs;
                        segs.push(&sel.field);
                        self.record(e.id, root, &segs)?;
                        return Ok(Ty::Bool);
                    }
                    let ty = self.expr(&sel.operand)?;
                    self.expect_map(sel.operand.id, ty, "has()")?;
                    return Ok(Ty::Bool);
                }
                let ty = self.expr(&sel.operand)?;
                self.expect_map(sel.operand.id, ty, &format!("selecting '.{}'", sel.field))?;
                Ok(Ty::Dyn)
            }
            Expr::List(list) => {
                for el in &list.elements {
                    self.expr(el)?;
                }
                Ok(Ty::List)
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.expr(&me.key)?;
                        self.expr(&me.value)?;
                    }
                }
                Ok(Ty::Map)
            }
            Expr::Struct(st) => Err(Finding {
                expr_id: e.id,
                message: format!("message construction ('{}{{..}}') is not supported in rules", st.type_name),
            }),
            Expr::Comprehension(c) => {
                let range = self.expr(&c.iter_range)?;
                if !(range.may_be(Ty::List) || range == Ty::Map) {
                    return Err(Finding {
                        expr_id: c.iter_range.id,
                        message: format!("cannot iterate over a {}", range.name()),
                    });
                }
                let accu = self.expr(&c.accu_init)?;
                let depth = self.scope.len();
                self.scope.push((c.iter_var.clone(), Ty::Dyn));
                if let Some(v2) = &c.iter_var2 {
                    self.scope.push((v2.clone(), Ty::Dyn));
                }
                self.scope.push((c.accu_var.clone(), accu));
                let r = (|| {
                    self.expr(&c.loop_cond)?;
                    self.expr(&c.loop_step)?;
                    self.expr(&c.result)
                })();
                self.scope.truncate(depth);
                r
            }
            Expr::Call(call) => self.call(e.id, call),
        }
    }

    fn expect_map(&self, id: u64, ty: Ty, what: &str) -> Result<(), Finding> {
        if ty.may_be(Ty::Map) {
            Ok(())
        } else {
            Err(Finding { expr_id: id, message: format!("{what} needs a map, not a {}", ty.name()) })
        }
    }

    fn call(&mut self, id: u64, call: &CallExpr) -> Result<Ty, Finding> {
        // `optional.of(x)` parses as a member call on the identifier `optional`: a namespaced
        // global function, not a variable.
        let qualified;
        let (name, target) = match call.target.as_deref() {
            Some(IdedExpr { expr: Expr::Ident(ns), .. })
                if self.bound(ns).is_none()
                    && !ROOTS.contains(&ns.as_str())
                    && GLOBAL_FUNCTIONS.iter().any(|(n, _)| {
                        n.strip_prefix(ns.as_str()).and_then(|r| r.strip_prefix('.'))
                            == Some(call.func_name.as_str())
                    }) =>
            {
                qualified = format!("{ns}.{}", call.func_name);
                (qualified.as_str(), None)
            }
            t => (call.func_name.as_str(), t),
        };
        let mut arg_tys = Vec::with_capacity(call.args.len());
        let target_ty = match target {
            Some(t) => Some(self.expr(t)?),
            None => None,
        };
        for a in &call.args {
            arg_tys.push(self.expr(a)?);
        }
        let clash = |msg: String| Err(Finding { expr_id: id, message: msg });
        if let Some(target_ty) = target_ty {
            let Some(&(_, arity)) = MEMBER_FUNCTIONS.iter().find(|(n, _)| *n == name) else {
                return clash(format!(
                    "unknown function '.{name}()'{}",
                    suggest(name, MEMBER_FUNCTIONS.iter().map(|(n, _)| *n))
                ));
            };
            if arity != call.args.len() {
                return clash(format!("'.{name}()' takes {arity} argument(s), not {}", call.args.len()));
            }
            return match name {
                "matches" if invalid_regex(&call.args[0]).is_some() => Err(Finding {
                    expr_id: call.args[0].id,
                    message: invalid_regex(&call.args[0]).unwrap_or_default(),
                }),
                "contains" | "startsWith" | "endsWith" | "matches" => {
                    for (ty, what) in [(target_ty, "its receiver"), (arg_tys[0], "its argument")] {
                        if !ty.may_be(Ty::String) {
                            return clash(format!(
                                "'.{name}()' needs a string as {what}, not a {}",
                                ty.name()
                            ));
                        }
                    }
                    Ok(Ty::Bool)
                }
                "size" => Ok(Ty::Int),
                "hasValue" => Ok(Ty::Bool),
                _ => Ok(Ty::Dyn),
            };
        }
        let binary = |op: &str| -> Option<&'static str> {
            Some(match op {
                operators::ADD => "+",
                operators::SUBSTRACT => "-",
                operators::MULTIPLY => "*",
                operators::DIVIDE => "/",
                operators::MODULO => "%",
                operators::EQUALS => "==",
                operators::NOT_EQUALS => "!=",
                operators::LESS => "<",
                operators::LESS_EQUALS => "<=",
                operators::GREATER => ">",
                operators::GREATER_EQUALS => ">=",
                operators::LOGICAL_AND => "&&",
                operators::LOGICAL_OR => "||",
                operators::IN => "in",
                operators::INDEX => "[]",
                _ => return None,
            })
        };
        if let Some(sym) = binary(name) {
            let (l, r) = (arg_tys[0], arg_tys[1]);
            let mismatch =
                || clash(format!("operator '{sym}' cannot combine a {} and a {}", l.name(), r.name()));
            let known = l != Ty::Dyn && r != Ty::Dyn;
            return match sym {
                "+" => {
                    if known
                        && !(l == r
                            && matches!(
                                l,
                                Ty::Int | Ty::Uint | Ty::Double | Ty::String | Ty::Bytes | Ty::List
                            ))
                    {
                        return mismatch();
                    }
                    Ok(if l == Ty::Dyn { r } else { l })
                }
                "-" | "*" | "/" | "%" => {
                    for t in [l, r] {
                        if !(t == Ty::Dyn || t.is_numeric()) || (sym == "%" && t == Ty::Double) {
                            return mismatch();
                        }
                    }
                    if known && l != r {
                        return mismatch();
                    }
                    Ok(if l == Ty::Dyn { r } else { l })
                }
                "==" | "!=" => {
                    let comparable =
                        l == r || (l.is_numeric() && r.is_numeric()) || l == Ty::Null || r == Ty::Null;
                    if known && !comparable {
                        return mismatch();
                    }
                    Ok(Ty::Bool)
                }
                "<" | "<=" | ">" | ">=" => {
                    for t in [l, r] {
                        if !matches!(
                            t,
                            Ty::Dyn | Ty::Int | Ty::Uint | Ty::Double | Ty::String | Ty::Bytes | Ty::Bool
                        ) {
                            return mismatch();
                        }
                    }
                    if known && l != r && !(l.is_numeric() && r.is_numeric()) {
                        return mismatch();
                    }
                    Ok(Ty::Bool)
                }
                "&&" | "||" => {
                    if !l.may_be(Ty::Bool) || !r.may_be(Ty::Bool) {
                        return mismatch();
                    }
                    Ok(Ty::Bool)
                }
                "in" => {
                    if !(r == Ty::Dyn || r == Ty::List || r == Ty::Map) {
                        return clash(format!("'in' needs a list or a map on its right, not a {}", r.name()));
                    }
                    Ok(Ty::Bool)
                }
                _ => {
                    // Indexing.
                    if !(l == Ty::Dyn || l == Ty::List || l == Ty::Map) {
                        return clash(format!("a {} cannot be indexed", l.name()));
                    }
                    Ok(Ty::Dyn)
                }
            };
        }
        match name {
            operators::LOGICAL_NOT | operators::NOT_STRICTLY_FALSE => {
                if !arg_tys[0].may_be(Ty::Bool) {
                    return clash(format!("'!' needs a bool, not a {}", arg_tys[0].name()));
                }
                return Ok(Ty::Bool);
            }
            operators::NEGATE => {
                if !(arg_tys[0] == Ty::Dyn || matches!(arg_tys[0], Ty::Int | Ty::Double)) {
                    return clash(format!("'-' cannot negate a {}", arg_tys[0].name()));
                }
                return Ok(arg_tys[0]);
            }
            operators::CONDITIONAL => {
                if !arg_tys[0].may_be(Ty::Bool) {
                    return clash(format!(
                        "the condition of '?:' must be a bool, not a {}",
                        arg_tys[0].name()
                    ));
                }
                return Ok(if arg_tys[1] == arg_tys[2] { arg_tys[1] } else { Ty::Dyn });
            }
            operators::OPT_SELECT | operators::OPT_INDEX => return Ok(Ty::Dyn),
            _ => {}
        }
        let Some(&(_, arity)) = GLOBAL_FUNCTIONS.iter().find(|(n, _)| *n == name) else {
            return clash(format!(
                "unknown function '{name}()'{}",
                suggest(name, GLOBAL_FUNCTIONS.iter().map(|(n, _)| *n))
            ));
        };
        if arity != call.args.len() {
            return clash(format!("'{name}()' takes {arity} argument(s), not {}", call.args.len()));
        }
        if name == "matches"
            && let Some(message) = invalid_regex(&call.args[1])
        {
            return Err(Finding { expr_id: call.args[1].id, message });
        }
        Ok(match name {
            "size" | "int" => Ty::Int,
            "uint" => Ty::Uint,
            "double" => Ty::Double,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "bool" | "matches" => Ty::Bool,
            "type" => Ty::Type,
            _ => Ty::Dyn,
        })
    }
}

/// Rewrites `v.f`, a field selected directly on a variable, into `v['f']`. Same meaning on the
/// maps rules see (same value, same missing-key error), but cel resolves a select chain as a
/// qualified name first (`request.method` could be a variable or type of that dotted name),
/// which costs a string join and several lookups per evaluation; an index does not, and the
/// selects above it then work on the value directly. Checking has already run on the original
/// tree, so positions in errors are unaffected. New nodes take ids from `next_id` upwards.
pub(crate) fn index_root_selects(e: &mut IdedExpr, next_id: &mut u64) {
    match &mut e.expr {
        Expr::Select(sel) => {
            let on_variable = matches!(&sel.operand.expr, Expr::Ident(n) if n != "optional");
            if !sel.test && on_variable {
                let operand = std::mem::take(&mut *sel.operand);
                let field = std::mem::take(&mut sel.field);
                *next_id += 1;
                let key = IdedExpr { id: *next_id, expr: Expr::Literal(LiteralValue::String(field.into())) };
                e.expr = Expr::Call(CallExpr {
                    func_name: operators::INDEX.to_owned(),
                    target: None,
                    args: vec![operand, key],
                });
            } else {
                index_root_selects(&mut sel.operand, next_id);
            }
        }
        Expr::Call(call) => {
            if let Some(t) = call.target.as_deref_mut() {
                index_root_selects(t, next_id);
            }
            call.args.iter_mut().for_each(|a| index_root_selects(a, next_id));
            // `s.matches('re')` and `matches(s, 're')` with a literal pattern: the cached form.
            let literal_last = matches!(
                call.args.last(),
                Some(IdedExpr { expr: Expr::Literal(LiteralValue::String(_)), .. })
            );
            if call.func_name == "matches" && literal_last {
                if call.target.is_none() && call.args.len() == 2 {
                    call.target = Some(Box::new(call.args.remove(0)));
                }
                if call.target.is_some() && call.args.len() == 1 {
                    call.func_name = MATCHES_LITERAL.to_owned();
                }
            }
        }
        Expr::List(list) => list.elements.iter_mut().for_each(|a| index_root_selects(a, next_id)),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(me) = &mut entry.expr {
                    index_root_selects(&mut me.key, next_id);
                    index_root_selects(&mut me.value, next_id);
                }
            }
        }
        Expr::Comprehension(c) => {
            for part in
                [&mut c.iter_range, &mut c.accu_init, &mut c.loop_cond, &mut c.loop_step, &mut c.result]
            {
                index_root_selects(part, next_id);
            }
        }
        Expr::Struct(_) | Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => {}
    }
}

/// The largest node id in `e`.
pub(crate) fn max_id(e: &IdedExpr) -> u64 {
    let children: Vec<&IdedExpr> = match &e.expr {
        Expr::Select(sel) => vec![&sel.operand],
        Expr::Call(call) => call.target.as_deref().into_iter().chain(call.args.iter()).collect(),
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map
            .entries
            .iter()
            .filter_map(|en| match &en.expr {
                EntryExpr::MapEntry(me) => Some([&me.key, &me.value]),
                EntryExpr::StructField(_) => None,
            })
            .flatten()
            .collect(),
        Expr::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Expr::Struct(_) | Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => vec![],
    };
    children.into_iter().map(max_id).fold(e.id, u64::max)
}

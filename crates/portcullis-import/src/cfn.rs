//! CloudFormation intrinsic functions in a SAM template, resolved where they name things of
//! the same template: `Ref` (parameters, pseudo parameters, functions, APIs), `Fn::GetAtt`
//! (a function's `Arn`), `Fn::Sub`, `Fn::Join`, `Fn::Select` and `Fn::FindInMap`, in their
//! long (`Fn::Sub:`) and short (`!Sub`) forms
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html>).
//!
//! Everything else (`Fn::If` and conditions, `Fn::ImportValue`, attributes of other resources)
//! is reported at its position, and the key holding it is left out.

use indexmap::IndexMap;

use crate::arn;
use crate::source::{Cx, Key, VKind, Val};

/// The stack name `AWS::StackName` stands for (the native `api_id` default).
const STACK_NAME: &str = "portcullis";

/// What a logical id names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resource {
    /// An `AWS::Serverless::Function`, by its native function name.
    Function(String),
    /// An `AWS::Serverless::HttpApi`: `Ref` gives its logical id.
    HttpApi,
    /// Anything else, by type.
    Other(String),
}

/// What intrinsics of one template resolve against.
pub(crate) struct Template<'t> {
    parameters: IndexMap<String, Val>,
    resources: IndexMap<String, Resource>,
    mappings: Option<&'t Val>,
    region: String,
    account: String,
    /// Outside a template (an OpenAPI file with `Fn::Sub` URIs), `${Name.Arn}` names the
    /// function `Name`.
    assume_functions: bool,
}

/// Why a value has no resolved form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// `Ref: AWS::NoValue`: the key is meant to be absent.
    NoValue,
    /// Reported already; the key is left out.
    Reported,
}

type Resolved = Result<Val, Unresolved>;

impl<'t> Template<'t> {
    /// Indexes `root`'s `Parameters` (values from `overrides`, else `Default`), `Resources`
    /// and `Mappings`. A function's native name is its logical id.
    pub(crate) fn new(cx: &mut Cx<'_>, root: &'t Val, overrides: &IndexMap<String, String>) -> Self {
        let mut parameters = IndexMap::new();
        if let Some(params) = root.get("Parameters") {
            for (key, p) in params.entries() {
                let value = match overrides.get(&key.text) {
                    Some(v) => Some(Val::string_at(v.clone(), p)),
                    None => p.get("Default").cloned(),
                };
                let Some(value) = value else {
                    continue;
                };
                let list = p
                    .get("Type")
                    .and_then(Val::str)
                    .is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"));
                parameters.insert(key.text.clone(), if list { split_list(&value) } else { value });
            }
        }
        let mut resources = IndexMap::new();
        for (key, r) in root.get("Resources").map(Val::entries).unwrap_or_default() {
            let kind = r.get("Type").and_then(Val::str).unwrap_or_default();
            let resource = match kind {
                "AWS::Serverless::Function" => Resource::Function(key.text.clone()),
                "AWS::Serverless::HttpApi" => Resource::HttpApi,
                other => Resource::Other(other.to_owned()),
            };
            resources.insert(key.text.clone(), resource);
        }
        Self {
            parameters,
            resources,
            mappings: root.get("Mappings"),
            region: cx.options.region().to_owned(),
            account: cx.options.account_id().to_owned(),
            assume_functions: false,
        }
    }

    /// Intrinsics outside a template: pseudo parameters, and `Name.Arn` as function `Name`.
    pub(crate) fn standalone(cx: &Cx<'_>) -> Template<'static> {
        Template {
            parameters: IndexMap::new(),
            resources: IndexMap::new(),
            mappings: None,
            region: cx.options.region().to_owned(),
            account: cx.options.account_id().to_owned(),
            assume_functions: true,
        }
    }

    /// `v` with every intrinsic in it resolved. Entries and items whose intrinsics cannot be
    /// resolved are left out (and reported); `Err` when `v` itself cannot be.
    pub(crate) fn resolve(&self, cx: &mut Cx<'_>, v: &Val) -> Resolved {
        if let Some(tag) = short_form(v) {
            return self.call(cx, v, &tag, &untagged(v));
        }
        if let [(key, arg)] = v.entries()
            && (key.text == "Ref" || key.text == "Condition" || key.text.starts_with("Fn::"))
        {
            return self.call(cx, v, &key.text, arg);
        }
        match &v.kind {
            VKind::Scalar { .. } => Ok(v.clone()),
            VKind::Seq(items) => {
                let items = items.iter().filter_map(|i| self.resolve(cx, i).ok()).collect();
                Ok(Val { kind: VKind::Seq(items), ..v.clone() })
            }
            VKind::Map(entries) => {
                let entries: Vec<(Key, Val)> = entries
                    .iter()
                    .filter_map(|(k, e)| self.resolve(cx, e).ok().map(|e| (k.clone(), e)))
                    .collect();
                Ok(Val { kind: VKind::Map(entries), ..v.clone() })
            }
        }
    }

    /// [`Template::resolve`] for an optional value; `None` when absent or left out.
    pub(crate) fn get(&self, cx: &mut Cx<'_>, v: Option<&Val>) -> Option<Val> {
        v.and_then(|v| self.resolve(cx, v).ok())
    }

    fn call(&self, cx: &mut Cx<'_>, at: &Val, name: &str, arg: &Val) -> Resolved {
        match name {
            "Ref" => self.reference(cx, at, arg),
            "Fn::GetAtt" => self.get_att(cx, at, arg),
            "Fn::Sub" => self.sub(cx, at, arg),
            "Fn::Join" => self.join(cx, at, arg),
            "Fn::Select" => self.select(cx, at, arg),
            "Fn::FindInMap" => self.find_in_map(cx, at, arg),
            other => {
                let why = match other {
                    "Fn::If" | "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" | "Condition" => {
                        "conditions are not evaluated"
                    }
                    "Fn::ImportValue" => "it reads another stack's outputs",
                    _ => "it is not supported",
                };
                cx.warn(at, format!("intrinsic `{other}` cannot be resolved ({why}); left out"));
                Err(Unresolved::Reported)
            }
        }
    }

    fn scalar_arg(&self, cx: &mut Cx<'_>, name: &str, arg: &Val) -> Result<String, Unresolved> {
        match self.resolve(cx, arg)?.str() {
            Some(s) => Ok(s.to_owned()),
            None => {
                cx.warn(arg, format!("`{name}` expects a string, found {}; left out", arg.describe()));
                Err(Unresolved::Reported)
            }
        }
    }

    fn reference(&self, cx: &mut Cx<'_>, at: &Val, arg: &Val) -> Resolved {
        let name = self.scalar_arg(cx, "Ref", arg)?;
        if name == "AWS::NoValue" {
            return Err(Unresolved::NoValue);
        }
        if let Some(p) = self.pseudo(&name) {
            return Ok(Val::string_at(p, at));
        }
        if let Some(value) = self.parameters.get(&name) {
            return Ok(Val { span: at.span, path: at.path.clone(), ..value.clone() });
        }
        match self.resources.get(&name) {
            Some(Resource::Function(native)) => Ok(Val::string_at(native.clone(), at)),
            Some(Resource::HttpApi) => Ok(Val::string_at(name, at)),
            Some(Resource::Other(kind)) => {
                cx.warn(at, format!("`Ref {name}` stands for the physical id of a resource of type {kind}, which exists only on AWS; left out"));
                Err(Unresolved::Reported)
            }
            None => {
                cx.warn(at, format!("`Ref {name}` names no parameter (with a Default) or resource of this template; left out"))
                    .help("give parameter values with ImportOptions::parameters (sam --parameter-overrides)");
                Err(Unresolved::Reported)
            }
        }
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => STACK_NAME.into(),
            _ => return None,
        })
    }

    fn get_att(&self, cx: &mut Cx<'_>, at: &Val, arg: &Val) -> Resolved {
        let target = match &arg.kind {
            VKind::Seq(items) if items.len() == 2 => {
                let id = self.scalar_arg(cx, "Fn::GetAtt", &items[0])?;
                let attr = self.scalar_arg(cx, "Fn::GetAtt", &items[1])?;
                format!("{id}.{attr}")
            }
            _ => self.scalar_arg(cx, "Fn::GetAtt", arg)?,
        };
        match self.attribute(&target) {
            Some(value) => Ok(Val::string_at(value, at)),
            None => {
                cx.warn(at, format!("`Fn::GetAtt {target}` cannot be resolved: only a function's Arn of this template can; left out"));
                Err(Unresolved::Reported)
            }
        }
    }

    /// `Function.Arn` of a function of this template.
    fn attribute(&self, target: &str) -> Option<String> {
        let (id, attr) = target.split_once('.')?;
        match (self.resources.get(id), attr) {
            (Some(Resource::Function(native)), "Arn") => {
                Some(arn::of_function(&self.region, &self.account, native))
            }
            (None, "Arn") if self.assume_functions => Some(arn::of_function(&self.region, &self.account, id)),
            _ => None,
        }
    }

    fn sub(&self, cx: &mut Cx<'_>, at: &Val, arg: &Val) -> Resolved {
        let (template, vars) = match &arg.kind {
            VKind::Seq(items) if items.len() == 2 => (&items[0], Some(&items[1])),
            _ => (arg, None),
        };
        let text = self.scalar_arg(cx, "Fn::Sub", template)?;
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                out.push_str(&self.sub_variable(cx, at, name, vars)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Val::string_at(out, at))
    }

    fn sub_variable(
        &self,
        cx: &mut Cx<'_>,
        at: &Val,
        name: &str,
        vars: Option<&Val>,
    ) -> Result<String, Unresolved> {
        if let Some(v) = vars.and_then(|m| m.get(name)) {
            return self.scalar_arg(cx, "Fn::Sub", v);
        }
        if let Some(p) = self.pseudo(name) {
            return Ok(p);
        }
        if let Some(v) = self.parameters.get(name).and_then(Val::str) {
            return Ok(v.to_owned());
        }
        if let Some(a) = self.attribute(name) {
            return Ok(a);
        }
        match self.resources.get(name) {
            Some(Resource::Function(native)) => Ok(native.clone()),
            Some(Resource::HttpApi) => Ok(name.to_owned()),
            _ => {
                cx.warn(
                    at,
                    format!(
                        "`Fn::Sub` variable `${{{name}}}` cannot be resolved from this template; left out"
                    ),
                );
                Err(Unresolved::Reported)
            }
        }
    }

    fn join(&self, cx: &mut Cx<'_>, at: &Val, arg: &Val) -> Resolved {
        let [sep, list] = arg.items() else {
            cx.warn(at, "`Fn::Join` expects [delimiter, [values]]; left out");
            return Err(Unresolved::Reported);
        };
        let sep = self.scalar_arg(cx, "Fn::Join", sep)?;
        let list = self.resolve(cx, list)?;
        let mut parts = Vec::new();
        for item in list.items() {
            parts.push(self.scalar_arg(cx, "Fn::Join", item)?);
        }
        Ok(Val::string_at(parts.join(&sep), at))
    }

    fn select(&self, cx: &mut Cx<'_>, at: &Val, arg: &Val) -> Resolved {
        let [index, list] = arg.items() else {
            cx.warn(at, "`Fn::Select` expects [index, [values]]; left out");
            return Err(Unresolved::Reported);
        };
        let index: Option<usize> = self.scalar_arg(cx, "Fn::Select", index)?.trim().parse().ok();
        let list = self.resolve(cx, list)?;
        match index.and_then(|i| list.items().get(i)) {
            Some(v) => Ok(Val { span: at.span, path: at.path.clone(), ..v.clone() }),
            None => {
                cx.warn(at, "`Fn::Select` index is not in the list; left out");
                Err(Unresolved::Reported)
            }
        }
    }

    fn find_in_map(&self, cx: &mut Cx<'_>, at: &Val, arg: &Val) -> Resolved {
        let [map, top, second] = arg.items() else {
            cx.warn(at, "`Fn::FindInMap` expects [MapName, TopLevelKey, SecondLevelKey]; left out");
            return Err(Unresolved::Reported);
        };
        let keys = [
            self.scalar_arg(cx, "Fn::FindInMap", map)?,
            self.scalar_arg(cx, "Fn::FindInMap", top)?,
            self.scalar_arg(cx, "Fn::FindInMap", second)?,
        ];
        let found = keys.iter().try_fold(self.mappings, |m, k| m.and_then(|m| m.get(k)).map(Some)).flatten();
        match found {
            Some(v) => Ok(Val { span: at.span, path: at.path.clone(), ..self.resolve(cx, v)? }),
            None => {
                cx.warn(
                    at,
                    format!(
                        "`Fn::FindInMap` finds no Mappings.{}.{}.{}; left out",
                        keys[0], keys[1], keys[2]
                    ),
                );
                Err(Unresolved::Reported)
            }
        }
    }
}

/// The function a short-form tag names (`!Sub` -> `Fn::Sub`, `!Ref` -> `Ref`).
fn short_form(v: &Val) -> Option<String> {
    let tag = v.tag.as_deref()?.strip_prefix('!')?;
    if tag.is_empty() || tag.starts_with('!') {
        return None;
    }
    Some(if tag == "Ref" || tag == "Condition" { tag.to_owned() } else { format!("Fn::{tag}") })
}

/// `Val` with its tag removed: the argument of a short-form intrinsic is the tagged node
/// itself.
fn untagged(v: &Val) -> Val {
    Val { tag: None, ..v.clone() }
}

/// A comma-delimited parameter value as a list.
fn split_list(v: &Val) -> Val {
    match v.str() {
        Some(s) => {
            Val { kind: VKind::Seq(s.split(',').map(|p| Val::string_at(p.trim(), v)).collect()), ..v.clone() }
        }
        None => v.clone(),
    }
}

#[cfg(test)]
mod tests;

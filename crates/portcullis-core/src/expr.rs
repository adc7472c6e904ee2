//! Expressions over a request, as AWS writes them: `$request.header.x`, `$context.requestId`,
//! `$stageVariables.backend`, `$response.body.id`, and templates mixing them with text
//! (`${request.path.id}-$context.requestId`).
//!
//! One vocabulary for every place that names a value of the request: identity sources of
//! authorizers, request and response parameter mapping, throttle keys and the access-log
//! format. The config loader parses the text once (with positions for its errors) and checks
//! which variables a place allows; the stage that uses an expression only resolves it, through
//! a lookup of its own ([`Template::render`]).

use std::borrow::Cow;
use std::fmt;

use http::HeaderName;
use serde_json::Value;

use crate::{ApiIdentity, ContextVariable};

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variable {
    /// `$request.header.NAME`: every value, joined with `,` (name case-insensitive).
    Header(HeaderName),
    /// `$request.querystring.NAME`: decoded values joined with `,` (name case-sensitive).
    Query(String),
    /// `$request.cookie.NAME`: a Portcullis extension (AWS has no cookie variable).
    Cookie(String),
    /// `$request.path`: the request path without a stage prefix.
    Path,
    /// `$request.path.NAME`: a path parameter.
    PathParam(String),
    /// `$request.body` (the whole body) or `$request.body.a.b[0]` (a JSON value).
    Body(JsonPath),
    /// `$context.NAME`.
    Context(ContextVariable),
    /// `$context.authorizer.claims.NAME`: a claim of the JWT the authorizer accepted.
    Claim(String),
    /// `$context.authorizer.KEY`: a value of a Lambda authorizer's `context`.
    AuthorizerValue(String),
    /// `$stageVariables.NAME`.
    StageVariable(String),
    /// `$response.header.NAME` (response mapping).
    ResponseHeader(HeaderName),
    /// `$response.body` or `$response.body.a.b[0]` (response mapping).
    ResponseBody(JsonPath),
}

impl Variable {
    /// Whether the variable is the same for every request of one configuration (stage
    /// variables, `$context.stage`, `$context.apiId`, `$context.accountId`).
    pub fn is_constant(&self) -> bool {
        match self {
            Variable::StageVariable(_) => true,
            Variable::Context(c) => c.known() == crate::context_variable::Known::Config,
            _ => false,
        }
    }

    /// The value of a constant variable in `api`; `None` for anything else (or a stage variable
    /// `api` does not define).
    pub fn constant(&self, api: &ApiIdentity) -> Option<String> {
        match self {
            Variable::StageVariable(name) => {
                api.stage_variables.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
            }
            Variable::Context(ContextVariable::Stage) => Some(api.stage.clone()),
            Variable::Context(ContextVariable::ApiId) => Some(api.api_id.clone()),
            Variable::Context(ContextVariable::AccountId) => Some(api.account_id.clone()),
            _ => None,
        }
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::Header(name) => write!(f, "$request.header.{name}"),
            Variable::Query(name) => write!(f, "$request.querystring.{name}"),
            Variable::Cookie(name) => write!(f, "$request.cookie.{name}"),
            Variable::Path => f.write_str("$request.path"),
            Variable::PathParam(name) => write!(f, "$request.path.{name}"),
            Variable::Body(path) => write!(f, "$request.body{path}"),
            Variable::Context(variable) => write!(f, "$context.{variable}"),
            Variable::Claim(name) => write!(f, "$context.authorizer.claims.{name}"),
            Variable::AuthorizerValue(key) => write!(f, "$context.authorizer.{key}"),
            Variable::StageVariable(name) => write!(f, "$stageVariables.{name}"),
            Variable::ResponseHeader(name) => write!(f, "$response.header.{name}"),
            Variable::ResponseBody(path) => write!(f, "$response.body{path}"),
        }
    }
}

/// A JSON path as AWS's mappings allow it: keys and array indexes, no recursive descent, no
/// filters. Empty: the whole body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct JsonPath(Box<[JsonStep]>);

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JsonStep {
    /// `.key`
    Key(String),
    /// `[index]`
    Index(usize),
}

impl JsonPath {
    /// A path of these steps.
    pub fn new(steps: Vec<JsonStep>) -> Self {
        JsonPath(steps.into_boxed_slice())
    }

    /// Whether the path names the whole body.
    pub fn is_whole(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at this path in `root`.
    pub fn select<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(root, |value, step| match step {
            JsonStep::Key(key) => value.get(key),
            JsonStep::Index(index) => value.get(index),
        })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &*self.0 {
            match step {
                JsonStep::Key(key) => write!(f, ".{key}")?,
                JsonStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Text and variables, in order: a mapping value, a response-header value, an access-log
/// format, a throttle key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Template(Box<[Part]>);

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    /// Text copied as is.
    Text(String),
    /// A variable's value.
    Var(Variable),
}

impl Template {
    /// A template of these parts (adjacent texts are merged).
    pub fn new(parts: Vec<Part>) -> Self {
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for part in parts {
            match (merged.last_mut(), part) {
                (_, Part::Text(text)) if text.is_empty() => {}
                (Some(Part::Text(last)), Part::Text(text)) => last.push_str(&text),
                (_, part) => merged.push(part),
            }
        }
        Template(merged.into_boxed_slice())
    }

    /// A template of one variable.
    pub fn variable(variable: Variable) -> Self {
        Template(Box::new([Part::Var(variable)]))
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.0
    }

    /// Every variable, in order.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.0.iter().filter_map(|part| match part {
            Part::Var(variable) => Some(variable),
            Part::Text(_) => None,
        })
    }

    /// The text, when the template holds no variable.
    pub fn as_text(&self) -> Option<&str> {
        match &*self.0 {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// The same template with every constant variable replaced by its value in `api` (done once
    /// when a configuration is compiled). A stage variable `api` lacks stays a variable (the
    /// config loader refuses references to undefined stage variables).
    pub fn resolve_constants(&self, api: &ApiIdentity) -> Template {
        Template::new(
            self.0
                .iter()
                .map(|part| match part {
                    Part::Var(variable) => match variable.constant(api) {
                        Some(value) => Part::Text(value),
                        None => part.clone(),
                    },
                    Part::Text(_) => part.clone(),
                })
                .collect(),
        )
    }

    /// Appends the template's value to `out`, asking `lookup` for each variable, and with
    /// `escape` deciding how a variable's value is written (text stays as is). Returns `false`
    /// as soon as a variable has no value (AWS then skips the entry); `out` then holds a prefix.
    pub fn render<'a>(
        &self,
        out: &mut String,
        mut lookup: impl FnMut(&Variable) -> Option<Cow<'a, str>>,
        mut escape: impl FnMut(&Variable, &str, &mut String),
    ) -> bool {
        for part in &*self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(variable) => match lookup(variable) {
                    Some(value) => escape(variable, &value, out),
                    None => return false,
                },
            }
        }
        true
    }
}

impl fmt::Display for Template {
    /// The `${...}` form, which reads back to the same template.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &*self.0 {
            match part {
                Part::Text(text) => f.write_str(text)?,
                Part::Var(variable) => {
                    let text = variable.to_string();
                    write!(f, "${{{}}}", text.trim_start_matches('$'))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_resolve_and_merge_with_their_neighbours() {
        let api = ApiIdentity {
            stage: "dev".into(),
            stage_variables: vec![("backend".into(), "http://up".into())],
            ..ApiIdentity::default()
        };
        let t = Template::new(vec![
            Part::Var(Variable::StageVariable("backend".into())),
            Part::Text("/".into()),
            Part::Var(Variable::Context(ContextVariable::Stage)),
            Part::Text("/".into()),
            Part::Var(Variable::PathParam("id".into())),
        ]);
        let resolved = t.resolve_constants(&api);
        assert_eq!(
            resolved.parts(),
            [Part::Text("http://up/dev/".into()), Part::Var(Variable::PathParam("id".into()))]
        );
        assert_eq!(resolved.to_string(), "http://up/dev/${request.path.id}");
    }

    #[test]
    fn rendering_stops_at_an_absent_variable() {
        let t = Template::new(vec![
            Part::Text("a-".into()),
            Part::Var(Variable::Query("q".into())),
            Part::Text("-b".into()),
        ]);
        let mut out = String::new();
        assert!(t.render(&mut out, |_| Some(Cow::Borrowed("x")), |_, v, out| out.push_str(v)));
        assert_eq!(out, "a-x-b");
        assert!(!t.render(&mut String::new(), |_| None, |_, v, out| out.push_str(v)));
    }

    #[test]
    fn json_paths_select_keys_and_indexes() {
        let path =
            JsonPath::new(vec![JsonStep::Key("a".into()), JsonStep::Index(1), JsonStep::Key("b".into())]);
        let value = serde_json::json!({"a": [0, {"b": "x"}]});
        assert_eq!(path.select(&value), Some(&Value::from("x")));
        assert_eq!(path.to_string(), ".a[1].b");
        assert!(JsonPath::default().is_whole());
    }
}

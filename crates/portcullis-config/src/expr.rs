//! Expressions as written in the config: `$request.header.x`, `${context.requestId}`,
//! `$stageVariables.backend`, and templates mixing them with text. Parsed here, once, into
//! `portcullis_core`'s [`Variable`] and [`Template`], with each problem reported at its
//! character and the variables each place allows checked ([`Place`]).
//!
//! Syntax (AWS's): `$name.path` runs to the first character that cannot be in a name; `${...}`
//! is needed where text follows directly (`${request.path.id}-x`). A `$` not followed by `{` or
//! a dotted name is text (`$5`).

use http::HeaderName;
use portcullis_core::{ContextVariable, JsonPath, JsonStep, Known, Part, Template, Variable};

use crate::decode::suggest;

/// Where an expression is written; it decides which variables are allowed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A `parameter_mapping` value: request, context (up to the authorizer), stage variables.
    RequestMapping,
    /// A `response_parameters` value: response, context, stage variables.
    ResponseMapping,
    /// A JWT authorizer's `identity_source`: a header, query parameter or cookie.
    JwtIdentity,
    /// A Lambda authorizer's `identity_source`: also request-time context and stage variables.
    LambdaIdentity,
    /// A throttle `key`: request values, context up to the authorizer.
    ThrottleKey,
    /// An access-log `format`: context variables, any.
    AccessLog,
    /// An `http:` URL: stage variables only.
    Url,
}

impl Place {
    fn request(self) -> bool {
        matches!(
            self,
            Place::RequestMapping | Place::JwtIdentity | Place::LambdaIdentity | Place::ThrottleKey
        )
    }

    /// The latest point a `$context` variable may be known at.
    fn context(self) -> Option<Known> {
        match self {
            Place::RequestMapping | Place::ThrottleKey => Some(Known::Authorized),
            Place::ResponseMapping | Place::AccessLog => Some(Known::Response),
            Place::LambdaIdentity => Some(Known::Request),
            Place::JwtIdentity | Place::Url => None,
        }
    }

    fn stage_variables(self) -> bool {
        !matches!(self, Place::JwtIdentity | Place::AccessLog)
    }

    fn what(self) -> &'static str {
        match self {
            Place::RequestMapping => "a parameter mapping",
            Place::ResponseMapping => "a response mapping",
            Place::JwtIdentity => "a JWT identity source",
            Place::LambdaIdentity => "a Lambda identity source",
            Place::ThrottleKey => "a throttle key",
            Place::AccessLog => "an access-log format",
            Place::Url => "an integration URL",
        }
    }
}

/// A problem at `offset` characters into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExprError {
    /// Character offset of the problem within the text (0-based).
    pub(crate) offset: usize,
    /// What is wrong, one sentence.
    pub(crate) problem: String,
    /// A hint, e.g. the closest supported variable.
    pub(crate) hint: Option<String>,
}

impl ExprError {
    fn at(offset: usize, problem: impl Into<String>, hint: Option<String>) -> Self {
        ExprError { offset, problem: problem.into(), hint }
    }
}

/// Parses a template: text and variables. `stage_variables` are the names defined; a
/// reference to another is an error.
pub(crate) fn template(
    text: &str,
    place: Place,
    stage_variables: &[(String, String)],
) -> Result<Template, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            literal.push(chars[i]);
            i += 1;
            continue;
        }
        let (name, name_at, next) = if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                return Err(ExprError::at(i, "`${` is not closed by `}`", None));
            };
            (chars[i + 2..i + 2 + close].iter().collect::<String>(), i + 2, i + 3 + close)
        } else {
            let mut end = i + 1;
            while end < chars.len()
                && (chars[end].is_ascii_alphanumeric()
                    || matches!(chars[end], '_' | '-' | '.' | ':' | '[' | ']'))
            {
                end += 1;
            }
            // A trailing dot ends a sentence, not a name.
            while end > i + 1 && chars[end - 1] == '.' {
                end -= 1;
            }
            let name: String = chars[i + 1..end].iter().collect();
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || !name.contains('.') {
                // `$5`, `$foo`: text, as AWS treats them.
                literal.push('$');
                i += 1;
                continue;
            }
            (name, i + 1, end)
        };
        let variable = resolve(&name, place, stage_variables)
            .map_err(|(problem, hint)| ExprError::at(name_at, problem, hint))?;
        parts.push(Part::Text(std::mem::take(&mut literal)));
        parts.push(Part::Var(variable));
        i = next;
    }
    parts.push(Part::Text(literal));
    Ok(Template::new(parts))
}

/// Parses a text that must be exactly one variable (`$request.header.Authorization`), as
/// identity sources are written.
pub(crate) fn variable(
    text: &str,
    place: Place,
    stage_variables: &[(String, String)],
) -> Result<Variable, ExprError> {
    let name = text
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .or_else(|| text.strip_prefix('$'))
        .ok_or_else(|| {
            ExprError::at(
                0,
                format!(
                    "{text:?} is not a variable (expected `$request.…`, `$context.…` or `$stageVariables.…`)"
                ),
                None,
            )
        })?;
    // Reported at the start of the expression: it is one variable.
    resolve(name, place, stage_variables).map_err(|(problem, hint)| ExprError::at(0, problem, hint))
}

type Problem = (String, Option<String>);

/// Resolves one variable name (without `$` or `${}`), checking that `place` allows it.
fn resolve(name: &str, place: Place, stage_variables: &[(String, String)]) -> Result<Variable, Problem> {
    let (root, rest) = name.split_once('.').unwrap_or((name, ""));
    let not_here = |what: &str| (format!("`${name}`: {what} cannot be used in {}", place.what()), None);
    match root {
        "request" if place.request() => request(name, rest, place),
        "context" => match place.context() {
            Some(by) => context(name, rest, by, place),
            None => Err(not_here("`$context` variables")),
        },
        "stageVariables" if place.stage_variables() => {
            if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((format!("`${name}` needs a stage variable name (letters, digits, _)"), None));
            }
            if !stage_variables.iter().any(|(v, _)| v == rest) {
                let hint = suggest(rest, stage_variables.iter().map(|(v, _)| v.as_str()))
                    .map(|v| format!("did you mean `$stageVariables.{v}`?"))
                    .or_else(|| Some("define it under `stage_variables:`".into()));
                return Err((format!("stage variable {rest:?} is not defined"), hint));
            }
            Ok(Variable::StageVariable(rest.to_owned()))
        }
        "response" if place == Place::ResponseMapping => response(name, rest),
        "request" | "stageVariables" | "response" => Err(not_here(&format!("`${root}` variables"))),
        _ => {
            let roots: Vec<&str> = ["request", "context", "stageVariables", "response"]
                .into_iter()
                .filter(|r| match *r {
                    "request" => place.request(),
                    "context" => place.context().is_some(),
                    "stageVariables" => place.stage_variables(),
                    _ => place == Place::ResponseMapping,
                })
                .collect();
            let hint = suggest(root, roots.iter().copied())
                .map(|r| format!("did you mean `${r}.{rest}`?"))
                .or_else(|| {
                    Some(format!(
                        "here variables start with {}",
                        roots.iter().map(|r| format!("`${r}.`")).collect::<Vec<_>>().join(", ")
                    ))
                });
            Err((format!("unknown variable `${name}`"), hint))
        }
    }
}

fn request(name: &str, rest: &str, place: Place) -> Result<Variable, Problem> {
    let (kind, selector) = rest.split_once('.').unwrap_or((rest, ""));
    let identity = matches!(place, Place::JwtIdentity | Place::LambdaIdentity);
    let need = |what: &str| (format!("`${name}` needs a {what}"), None);
    match (kind, selector) {
        ("header", "") => Err(need("header name")),
        ("header", h) => HeaderName::from_bytes(h.as_bytes())
            .map(Variable::Header)
            .map_err(|_| (format!("invalid header name {h:?} in `${name}`"), None)),
        ("querystring", "") => Err(need("query string parameter name")),
        ("querystring", q) => Ok(Variable::Query(q.to_owned())),
        ("cookie", "") if identity || place == Place::ThrottleKey => Err(need("cookie name")),
        ("cookie", c) if identity || place == Place::ThrottleKey => Ok(Variable::Cookie(c.to_owned())),
        ("path", "") if !identity => Ok(Variable::Path),
        ("path", p) if !identity => Ok(Variable::PathParam(p.to_owned())),
        ("body", _) if place == Place::RequestMapping => {
            json_path(rest.strip_prefix("body").unwrap_or_default()).map(Variable::Body).map_err(|problem| {
                (format!("`${name}`: {problem}"), Some("write e.g. `$request.body.order.items[0].id`".into()))
            })
        }
        _ => {
            let forms = match place {
                Place::JwtIdentity => {
                    "`$request.header.NAME`, `$request.querystring.NAME` or `$request.cookie.NAME`"
                }
                Place::LambdaIdentity => {
                    "`$request.header.NAME`, `$request.querystring.NAME`, `$request.cookie.NAME`"
                }
                Place::ThrottleKey => {
                    "`$request.header.NAME`, `$request.querystring.NAME`, `$request.cookie.NAME`, `$request.path.NAME`"
                }
                _ => {
                    "`$request.header.NAME`, `$request.querystring.NAME`, `$request.path`, `$request.path.NAME`, `$request.body.PATH`"
                }
            };
            let hint = suggest(kind, ["header", "querystring", "path", "body", "cookie"])
                .filter(|k| *k != kind)
                .map(|k| format!("did you mean `$request.{k}.{selector}`?"))
                .or_else(|| Some(format!("use {forms}")));
            Err((format!("unknown request variable `${name}` in {}", place.what()), hint))
        }
    }
}

fn response(name: &str, rest: &str) -> Result<Variable, Problem> {
    let (kind, selector) = rest.split_once('.').unwrap_or((rest, ""));
    match (kind, selector) {
        ("header", "") => Err((format!("`${name}` needs a header name"), None)),
        ("header", h) => HeaderName::from_bytes(h.as_bytes())
            .map(Variable::ResponseHeader)
            .map_err(|_| (format!("invalid header name {h:?} in `${name}`"), None)),
        ("body", _) => json_path(rest.strip_prefix("body").unwrap_or_default())
            .map(Variable::ResponseBody)
            .map_err(|problem| (format!("`${name}`: {problem}"), None)),
        _ => Err((
            format!("unknown response variable `${name}`"),
            Some("use `$response.header.NAME` or `$response.body.PATH`".into()),
        )),
    }
}

fn context(name: &str, rest: &str, by: Known, place: Place) -> Result<Variable, Problem> {
    if let Some(variable) = ContextVariable::parse(rest) {
        if variable.known() > by {
            return Err((
                format!("`${name}` is not known yet where {} is used", place.what()),
                Some(format!("usable here: {}", known_names(by))),
            ));
        }
        return Ok(Variable::Context(variable));
    }
    let authorizer_values = by >= Known::Authorized;
    if let Some(claim) = rest.strip_prefix("authorizer.claims.").filter(|_| authorizer_values) {
        if claim.is_empty() {
            return Err((format!("`${name}` needs a claim name"), None));
        }
        if claim.contains(':') {
            // AWS refuses these ("Invalid mapping expression specified").
            return Err((
                format!("claim {claim:?} contains `:`; AWS cannot reference such claims"),
                Some("forward it with `forward_claims` on the JWT authorizer instead".into()),
            ));
        }
        return Ok(Variable::Claim(claim.to_owned()));
    }
    if let Some(key) = rest.strip_prefix("authorizer.").filter(|_| authorizer_values) {
        if key.is_empty() || key == "claims" || key.contains(['.', ':']) {
            return Err((
                format!("invalid authorizer variable `${name}`"),
                Some(format!("usable here: {}", known_names(by))),
            ));
        }
        return Ok(Variable::AuthorizerValue(key.to_owned()));
    }
    let hint = suggest(rest, ContextVariable::names(Known::Response))
        .map(|c| format!("did you mean `$context.{c}`?"))
        .unwrap_or_else(|| format!("usable here: {}", known_names(by)));
    Err((format!("unknown context variable `${name}`"), Some(hint)))
}

fn known_names(by: Known) -> String {
    let mut names: Vec<String> = ContextVariable::names(by).map(|n| format!("`$context.{n}`")).collect();
    if by >= Known::Authorized {
        names.push("`$context.authorizer.claims.NAME`".into());
        names.push("`$context.authorizer.KEY`".into());
    }
    names.join(", ")
}

/// Parses the part after `$request.body`/`$response.body`: empty (the whole body) or
/// `.a.b[0].c`. AWS supports neither recursive descent (`..`) nor filters, and neither does this.
fn json_path(path: &str) -> Result<JsonPath, String> {
    let mut steps = Vec::new();
    if path.is_empty() {
        return Ok(JsonPath::new(steps));
    }
    let Some(path) = path.strip_prefix('.') else {
        return Err("expected `.` after `body`".into());
    };
    if path.starts_with('.') || path.contains("..") {
        return Err("recursive descent (`..`) is not supported (as on AWS)".into());
    }
    if path.contains('?') || path.contains('*') {
        return Err("filters and wildcards are not supported (as on AWS)".into());
    }
    for segment in path.split('.') {
        let (key, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        if key.is_empty() {
            return Err(format!("invalid JSON path segment {segment:?} (write `a[0]`, not `[0]`)"));
        }
        steps.push(JsonStep::Key(key.to_owned()));
        while !rest.is_empty() {
            let Some(close) = rest.find(']') else {
                return Err(format!("`[` without `]` in {segment:?}"));
            };
            let index = rest[1..close]
                .parse::<usize>()
                .map_err(|_| format!("array index {:?} is not a whole number", &rest[1..close]))?;
            steps.push(JsonStep::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("invalid JSON path segment {segment:?}"));
            }
        }
    }
    Ok(JsonPath::new(steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Template {
        template(text, Place::RequestMapping, &[]).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn error(text: &str, place: Place) -> ExprError {
        template(text, place, &[]).unwrap_err()
    }

    #[test]
    fn templates_read_back_in_the_braced_form() {
        assert_eq!(
            parsed("${context.requestId}-${request.path.id}").to_string(),
            "${context.requestId}-${request.path.id}"
        );
        assert_eq!(
            parsed("user $context.authorizer.claims.sub.").to_string(),
            "user ${context.authorizer.claims.sub}."
        );
        assert_eq!(parsed("costs $5, $foo").as_text(), Some("costs $5, $foo"));
        assert_eq!(parsed("$request.body.pets[1].name").to_string(), "${request.body.pets[1].name}");
    }

    #[test]
    fn problems_are_reported_at_their_character() {
        assert_eq!(
            error("x-${context.requestId", Place::RequestMapping),
            ExprError::at(2, "`${` is not closed by `}`", None)
        );
        let e = error("ab $context.requestid", Place::RequestMapping);
        assert_eq!((e.offset, e.problem.as_str()), (4, "unknown context variable `$context.requestid`"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `$context.requestId`?"));
        let e = error("$context.authorizer.claims.cognito:username", Place::RequestMapping);
        assert!(e.problem.contains("contains `:`"), "{e:?}");
        let e = error("${request.body..name}", Place::RequestMapping);
        assert_eq!(e.offset, 2);
        assert!(e.problem.contains("recursive descent"));
        let e = error("$request.body.a[x]", Place::RequestMapping);
        assert!(e.problem.contains("whole number"));
        let e = error("$reqest.header.a", Place::RequestMapping);
        assert_eq!(e.problem, "unknown variable `$reqest.header.a`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `$request.header.a`?"));
    }

    #[test]
    fn each_place_allows_its_own_variables() {
        assert!(error("$context.status", Place::RequestMapping).problem.contains("not known yet"));
        assert!(template("$context.status $context.integration.error", Place::AccessLog, &[]).is_ok());
        assert!(
            error("$request.header.x", Place::AccessLog)
                .problem
                .contains("cannot be used in an access-log format")
        );
        assert!(error("$response.header.x", Place::RequestMapping).problem.contains("cannot be used"));
        assert!(template("$response.header.server $response.body.id", Place::ResponseMapping, &[]).is_ok());
        assert!(error("$request.body", Place::ThrottleKey).problem.contains("unknown request variable"));
        assert!(
            error("$context.authorizer.claims.sub", Place::LambdaIdentity)
                .problem
                .contains("unknown context variable")
        );
        assert_eq!(
            variable("$request.cookie.session", Place::JwtIdentity, &[]),
            Ok(Variable::Cookie("session".into()))
        );
        assert_eq!(
            variable("$context.routeKey", Place::LambdaIdentity, &[]),
            Ok(Variable::Context(ContextVariable::RouteKey))
        );
        assert!(variable("$context.routeKey", Place::JwtIdentity, &[]).is_err());
        let defined = [("tenant".to_owned(), "t".to_owned())];
        assert_eq!(
            variable("${stageVariables.tenant}", Place::Url, &defined),
            Ok(Variable::StageVariable("tenant".into()))
        );
        let e = variable("$stageVariables.tenants", Place::LambdaIdentity, &defined).unwrap_err();
        assert_eq!(
            (e.problem.as_str(), e.hint.as_deref()),
            ("stage variable \"tenants\" is not defined", Some("did you mean `$stageVariables.tenant`?"))
        );
    }
}

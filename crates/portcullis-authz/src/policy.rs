//! IAM policies returned by Lambda authorizers
//! (docs/aws-compatibility.md#iam-policy-and-simple-responses): parsing and evaluation against a
//! request's `methodArn`/`routeArn`, plus parsing of the two authorizer answer shapes (IAM policy,
//! docs/aws-compatibility.md#iam-policy-and-simple-responses; simple,
//! docs/aws-compatibility.md#iam-policy-and-simple-responses) and their `context` rules
//! (docs/aws-compatibility.md#authorizer-context-to-the-integration).
//!
//! Where it sits: the Lambda authorizer (`lambda.rs`) invokes the function, hands its raw output
//! to [`IamResponse::parse`] or [`SimpleResponse::parse`], caches the parsed answer, and calls
//! [`Policy::evaluate`] with each request's [`method_arn`] (a cached policy is evaluated again for
//! every request, as AWS does, docs/aws-compatibility.md#identity-sources-and-caching). This module
//! does no I/O and knows no HTTP.
//!
//! Evaluation is standard IAM logic restricted to one action, `execute-api:Invoke`: any matching
//! `Deny` wins, else any matching `Allow` allows, else the request is implicitly denied. Whether a
//! statement's `Action`/`NotAction` covers `execute-api:Invoke` does not depend on the request, so
//! it is decided once at [`Policy::parse`]; resource patterns are compiled there too, so a request
//! only runs the linear wildcard matcher (see `wildcard.rs`).
//!
//! What is deliberately not supported (each fails closed, see [`Policy::parse`]): `Condition`
//! keys (docs/aws-compatibility.md#iam-policy-and-simple-responses says which keys AWS evaluates is
//! [UNDOC]), `Principal`/`NotPrincipal`, and IAM policy variables (`${aws:username}` is matched
//! literally).

mod response;
mod wildcard;

use serde_json::Value;

use wildcard::Wildcard;

pub use response::{ContextRules, IamResponse, MAX_CONTEXT_BYTES, ResponseError, SimpleResponse};

/// At most this many statements per policy document (a bound on evaluation cost; AWS's own limit
/// for authorizer policies is undocumented, IAM's policy-size limits would allow far fewer).
pub const MAX_STATEMENTS: usize = 1000;
/// At most this many `Resource`/`NotResource` entries across a whole policy document.
pub const MAX_RESOURCES: usize = 1000;
/// At most this many `Action`/`NotAction` entries across a whole policy document.
pub const MAX_ACTIONS: usize = 1000;
/// Longest accepted `Resource` (or `Action`) pattern, in characters: AWS limits a Resource ARN in
/// an authorizer policy to 512 characters (docs/aws-compatibility.md#iam-policy-and-simple-responses).
pub const MAX_PATTERN_CHARS: usize = 512;

/// The only action API Gateway asks about
/// (docs/aws-compatibility.md#iam-policy-and-simple-responses), lower-cased: actions match
/// case-insensitively, as in IAM.
const INVOKE: &str = "execute-api:invoke";

/// `arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}{path}`: the `methodArn`
/// (REST, HTTP API 1.0) or `routeArn` (HTTP API 2.0) of a request
/// (docs/aws-compatibility.md#lambda-authorizer-events), and the resource its policy is evaluated
/// against (docs/aws-compatibility.md#iam-policy-and-simple-responses).
///
/// `raw_path` is the request path as sent (no query string), starting with `/`; a path without
/// the leading slash gets one, so `GET /` gives `…/prod/GET/` as on AWS. The stage is written as
/// configured, `$default` included (docs/aws-compatibility.md#lambda-authorizer-events recommendation).
pub fn method_arn(api: &portcullis_core::ApiIdentity, method: &str, raw_path: &str) -> String {
    let slash = if raw_path.starts_with('/') { "" } else { "/" };
    let portcullis_core::ApiIdentity { region, account_id, api_id, stage, .. } = api;
    format!("arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{method}{slash}{raw_path}")
}

/// The outcome of evaluating a [`Policy`] for `execute-api:Invoke` on one resource ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement matched and no `Deny` did.
    Allow,
    /// A `Deny` statement matched (explicit deny wins over any `Allow`). `statement` is the
    /// 0-based index of the first matching `Deny` in `Statement` as written.
    ExplicitDeny {
        /// Index of the first matching `Deny` statement.
        statement: usize,
    },
    /// No statement matched: IAM's default deny.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may go on to the integration.
    pub fn is_allow(self) -> bool {
        self == Decision::Allow
    }
}

/// A parsed `policyDocument`, patterns precompiled: cheap to evaluate, immutable, `Send + Sync`,
/// meant to be cached and evaluated again for each request's ARN.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `Deny` statements that can apply to `execute-api:Invoke`, in document order.
    denies: Vec<Statement>,
    /// `Allow` statements that can apply to `execute-api:Invoke`, in document order.
    allows: Vec<Statement>,
    /// How many statements the document had (including those not about `execute-api:Invoke`).
    statement_count: usize,
}

/// One statement that applies to `execute-api:Invoke`.
#[derive(Debug, Clone)]
struct Statement {
    /// Index in `Statement` as written.
    index: usize,
    /// `Resource` (`negated: false`) or `NotResource` (`negated: true`).
    resources: Vec<Pattern>,
    negated: bool,
    /// The statement carries something we cannot evaluate (`Condition`, `Principal`): an `Allow`
    /// never applies, a `Deny` always does (fail closed).
    restricted: bool,
}

impl Statement {
    /// Whether the statement's resource element covers `arn` (ignoring any restriction).
    fn covers(&self, arn: &str) -> bool {
        self.resources.iter().any(|p| p.wildcard.matches(arn)) != self.negated
    }
}

/// A resource pattern as written plus its compiled form.
#[derive(Debug, Clone)]
struct Pattern {
    text: Box<str>,
    wildcard: Wildcard,
}

/// Why a `policyDocument` was rejected. Statement indexes are 0-based, as in `Statement[i]`.
/// Any of these makes the authorizer answer malformed: 500, never cached
/// (docs/aws-compatibility.md#lambda-authorizer-status-codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is not a JSON object.
    #[error("policyDocument must be a JSON object, found {found}")]
    NotAnObject {
        /// JSON type found.
        found: &'static str,
    },
    /// `Version` is present but not a string.
    #[error("policyDocument.Version must be a string, found {found}")]
    VersionNotString {
        /// JSON type found.
        found: &'static str,
    },
    /// There is no `Statement`.
    #[error("policyDocument has no Statement")]
    MissingStatement,
    /// `Statement` is neither an object nor an array.
    #[error("policyDocument.Statement must be an object or an array of objects, found {found}")]
    StatementsNotList {
        /// JSON type found.
        found: &'static str,
    },
    /// An element of `Statement` is not an object.
    #[error("Statement[{statement}] must be an object, found {found}")]
    StatementNotObject {
        /// Statement index.
        statement: usize,
        /// JSON type found.
        found: &'static str,
    },
    /// More than [`MAX_STATEMENTS`] statements.
    #[error("policyDocument has {count} statements, more than the limit of {limit}")]
    TooManyStatements {
        /// Statements in the document.
        count: usize,
        /// [`MAX_STATEMENTS`].
        limit: usize,
    },
    /// `Effect` is missing.
    #[error("Statement[{statement}] has no Effect")]
    MissingEffect {
        /// Statement index.
        statement: usize,
    },
    /// `Effect` is not exactly `"Allow"` or `"Deny"` (case-sensitive, as IAM).
    #[error("Statement[{statement}].Effect must be exactly \"Allow\" or \"Deny\", found {found}")]
    BadEffect {
        /// Statement index.
        statement: usize,
        /// The value found, as JSON (shortened).
        found: String,
    },
    /// Neither `field` nor `Not{field}` is present (`field` is `Action` or `Resource`).
    #[error("Statement[{statement}] has neither {field} nor Not{field}")]
    MissingField {
        /// Statement index.
        statement: usize,
        /// `Action` or `Resource`.
        field: &'static str,
    },
    /// Both `field` and `Not{field}` are present.
    #[error("Statement[{statement}] has both {field} and Not{field}")]
    BothFields {
        /// Statement index.
        statement: usize,
        /// `Action` or `Resource`.
        field: &'static str,
    },
    /// An `Action`/`NotAction`/`Resource`/`NotResource` is neither a string nor an array.
    #[error("Statement[{statement}].{field} must be a string or an array of strings, found {found}")]
    NotStringOrList {
        /// Statement index.
        statement: usize,
        /// Field name as written.
        field: &'static str,
        /// JSON type found.
        found: &'static str,
    },
    /// An array element of such a field is not a string.
    #[error("Statement[{statement}].{field}[{index}] must be a string, found {found}")]
    ElementNotString {
        /// Statement index.
        statement: usize,
        /// Field name as written.
        field: &'static str,
        /// Element index.
        index: usize,
        /// JSON type found.
        found: &'static str,
    },
    /// Such a field is an empty array (it would match nothing, or with `Not…` everything).
    #[error("Statement[{statement}].{field} is an empty array")]
    EmptyList {
        /// Statement index.
        statement: usize,
        /// Field name as written.
        field: &'static str,
    },
    /// A pattern is longer than [`MAX_PATTERN_CHARS`] characters.
    #[error(
        "Statement[{statement}].{field}[{index}] is {chars} characters long, more than the limit of {limit}"
    )]
    PatternTooLong {
        /// Statement index.
        statement: usize,
        /// Field name as written.
        field: &'static str,
        /// Element index (0 for a plain string).
        index: usize,
        /// Its length in characters.
        chars: usize,
        /// [`MAX_PATTERN_CHARS`].
        limit: usize,
    },
    /// More than [`MAX_RESOURCES`] resource or [`MAX_ACTIONS`] action entries in the document.
    #[error("policyDocument has more than {limit} {what} entries")]
    TooManyEntries {
        /// `resource` or `action`.
        what: &'static str,
        /// The limit exceeded.
        limit: usize,
    },
    /// `Condition` is present but not an object.
    #[error("Statement[{statement}].Condition must be an object, found {found}")]
    ConditionNotObject {
        /// Statement index.
        statement: usize,
        /// JSON type found.
        found: &'static str,
    },
}

/// The JSON type of `value`, for error messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Running totals, checked against [`MAX_RESOURCES`] and [`MAX_ACTIONS`].
#[derive(Default)]
struct Budget {
    resources: usize,
    actions: usize,
}

impl Policy {
    /// Parses and compiles a `policyDocument` (docs/aws-compatibility.md#iam-policy-and-simple-responses).
    ///
    /// Accepted: `Version` optional (any string, or null); `Statement` an array (possibly empty:
    /// everything is implicitly denied) or a single object; per statement, `Effect` exactly
    /// `Allow` or `Deny`, exactly one of `Action`/`NotAction` and one of `Resource`/`NotResource`,
    /// each a string or a non-empty array of strings. Other keys (`Sid`, `Id`) are ignored.
    /// Element names are case-sensitive (`effect` is not `Effect`).
    ///
    /// Fail-closed rules for what cannot be evaluated here: a statement with a non-empty
    /// `Condition`, or with `Principal`/`NotPrincipal`, never allows when it is an `Allow` and
    /// always applies (when its action and resource match) when it is a `Deny`. An empty
    /// `Condition` (`{}`) is no condition; a null `Condition` is absent.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the statement and field at fault, including the size bounds
    /// [`MAX_STATEMENTS`], [`MAX_RESOURCES`], [`MAX_ACTIONS`] and [`MAX_PATTERN_CHARS`].
    pub fn parse(document: &Value) -> Result<Policy, PolicyError> {
        let doc = document.as_object().ok_or(PolicyError::NotAnObject { found: json_type(document) })?;
        match doc.get("Version") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(other) => return Err(PolicyError::VersionNotString { found: json_type(other) }),
        }
        let statements: &[Value] = match doc.get("Statement") {
            None => return Err(PolicyError::MissingStatement),
            Some(Value::Array(list)) => list,
            Some(single @ Value::Object(_)) => std::slice::from_ref(single),
            Some(other) => return Err(PolicyError::StatementsNotList { found: json_type(other) }),
        };
        if statements.len() > MAX_STATEMENTS {
            return Err(PolicyError::TooManyStatements { count: statements.len(), limit: MAX_STATEMENTS });
        }
        let mut policy = Policy { denies: Vec::new(), allows: Vec::new(), statement_count: statements.len() };
        let mut budget = Budget::default();
        for (index, statement) in statements.iter().enumerate() {
            let (effect, compiled) = parse_statement(index, statement, &mut budget)?;
            if let Some(compiled) = compiled {
                match effect {
                    Effect::Allow => policy.allows.push(compiled),
                    Effect::Deny => policy.denies.push(compiled),
                }
            }
        }
        Ok(policy)
    }

    /// Evaluates the policy for `execute-api:Invoke` on `resource_arn` (usually [`method_arn`]):
    /// any matching `Deny` gives [`Decision::ExplicitDeny`] (the first one, by index), else any
    /// matching `Allow` gives [`Decision::Allow`], else [`Decision::ImplicitDeny`]
    /// (docs/aws-compatibility.md#iam-policy-and-simple-responses).
    pub fn evaluate(&self, resource_arn: &str) -> Decision {
        // A restricted Deny (Condition/Principal) applies: we cannot prove its condition false.
        if let Some(deny) = self.denies.iter().find(|s| s.covers(resource_arn)) {
            return Decision::ExplicitDeny { statement: deny.index };
        }
        if self.allows.iter().any(|s| !s.restricted && s.covers(resource_arn)) {
            return Decision::Allow;
        }
        Decision::ImplicitDeny
    }

    /// The `Resource` entries, as written, of the `Allow` statements whose action covers
    /// `execute-api:Invoke` (not `NotResource` ones), in document order. For explaining an
    /// implicit deny, e.g. "the cached policy allows only `…/GET/pets/1`"
    /// (docs/aws-compatibility.md#iam-policy-and-simple-responses, the classic `{proxy+}` + caching
    /// surprise).
    pub fn allowed_resources(&self) -> Vec<&str> {
        self.allows.iter().filter(|s| !s.negated).flat_map(|s| s.resources.iter().map(|p| &*p.text)).collect()
    }

    /// Indexes of `Allow` statements that would have allowed `resource_arn` but were skipped
    /// because they carry a `Condition` or `Principal` this gateway does not evaluate. For
    /// explaining why a request that "should" pass got an implicit deny.
    pub fn skipped_conditional_allows(&self, resource_arn: &str) -> Vec<usize> {
        self.allows.iter().filter(|s| s.restricted && s.covers(resource_arn)).map(|s| s.index).collect()
    }

    /// How many statements the document had.
    pub fn statement_count(&self) -> usize {
        self.statement_count
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// Parses statement `index`; `None` when its action does not cover `execute-api:Invoke` (it can
/// never affect a decision, but it is still validated).
fn parse_statement(
    index: usize,
    value: &Value,
    budget: &mut Budget,
) -> Result<(Effect, Option<Statement>), PolicyError> {
    let statement = value
        .as_object()
        .ok_or(PolicyError::StatementNotObject { statement: index, found: json_type(value) })?;
    let effect = match statement.get("Effect") {
        None => return Err(PolicyError::MissingEffect { statement: index }),
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(other) => return Err(PolicyError::BadEffect { statement: index, found: shorten(other) }),
    };

    let (action_field, actions, not_action) = one_of(statement, index, "Action", "NotAction")?;
    let actions = string_list(index, action_field, actions)?;
    budget.actions += actions.len();
    if budget.actions > MAX_ACTIONS {
        return Err(PolicyError::TooManyEntries { what: "action", limit: MAX_ACTIONS });
    }
    check_lengths(index, action_field, &actions)?;
    let names_invoke = actions.iter().any(|a| Wildcard::new(&a.to_lowercase()).matches(INVOKE));

    let (resource_field, resources, negated) = one_of(statement, index, "Resource", "NotResource")?;
    let resources = string_list(index, resource_field, resources)?;
    budget.resources += resources.len();
    if budget.resources > MAX_RESOURCES {
        return Err(PolicyError::TooManyEntries { what: "resource", limit: MAX_RESOURCES });
    }
    check_lengths(index, resource_field, &resources)?;

    let has_condition = match statement.get("Condition") {
        None | Some(Value::Null) => false,
        Some(Value::Object(map)) => !map.is_empty(),
        Some(other) => {
            return Err(PolicyError::ConditionNotObject { statement: index, found: json_type(other) });
        }
    };
    let has_principal = statement.contains_key("Principal") || statement.contains_key("NotPrincipal");

    if names_invoke == not_action {
        return Ok((effect, None));
    }
    let resources = resources
        .into_iter()
        .map(|text| Pattern { wildcard: Wildcard::new(text), text: text.into() })
        .collect();
    Ok((effect, Some(Statement { index, resources, negated, restricted: has_condition || has_principal })))
}

/// Exactly one of `field`/`not_field`: returns the name present, its value and whether it is
/// the `Not…` form.
fn one_of<'v>(
    statement: &'v serde_json::Map<String, Value>,
    index: usize,
    field: &'static str,
    not_field: &'static str,
) -> Result<(&'static str, &'v Value, bool), PolicyError> {
    match (statement.get(field), statement.get(not_field)) {
        (Some(v), None) => Ok((field, v, false)),
        (None, Some(v)) => Ok((not_field, v, true)),
        (None, None) => Err(PolicyError::MissingField { statement: index, field }),
        (Some(_), Some(_)) => Err(PolicyError::BothFields { statement: index, field }),
    }
}

/// A string or a non-empty array of strings.
fn string_list<'v>(index: usize, field: &'static str, value: &'v Value) -> Result<Vec<&'v str>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(list) if list.is_empty() => Err(PolicyError::EmptyList { statement: index, field }),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or(PolicyError::ElementNotString {
                    statement: index,
                    field,
                    index: i,
                    found: json_type(v),
                })
            })
            .collect(),
        other => Err(PolicyError::NotStringOrList { statement: index, field, found: json_type(other) }),
    }
}

fn check_lengths(index: usize, field: &'static str, patterns: &[&str]) -> Result<(), PolicyError> {
    for (i, pattern) in patterns.iter().enumerate() {
        // Byte length bounds char length: skip counting for the common short case.
        if pattern.len() > MAX_PATTERN_CHARS {
            let chars = pattern.chars().count();
            if chars > MAX_PATTERN_CHARS {
                return Err(PolicyError::PatternTooLong {
                    statement: index,
                    field,
                    index: i,
                    chars,
                    limit: MAX_PATTERN_CHARS,
                });
            }
        }
    }
    Ok(())
}

/// `value` as JSON, cut to 64 characters: enough to show what was sent without echoing a large
/// document into logs.
fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests;

use serde_json::{Value, json};

use super::*;

const API: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123";

fn arn(stage: &str, method: &str, path: &str) -> String {
    let api = portcullis_core::ApiIdentity {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        api_id: "abc123".into(),
        stage: stage.into(),
        ..Default::default()
    };
    method_arn(&api, method, path)
}

fn allow(resource: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
    ]})
}

/// One `Allow` on `resource` (string or array) evaluated against `arn`.
fn allowed(resource: Value, arn: &str) -> bool {
    Policy::parse(&allow(resource)).expect("valid policy").evaluate(arn).is_allow()
}

#[test]
fn method_arn_has_aws_format() {
    assert_eq!(arn("prod", "GET", "/pets/1"), format!("{API}/prod/GET/pets/1"));
    assert_eq!(arn("$default", "POST", "/"), format!("{API}/$default/POST/"));
    assert_eq!(arn("prod", "GET", "pets"), format!("{API}/prod/GET/pets"));
}

#[test]
fn resource_wildcard_table() {
    let get_pet = arn("prod", "GET", "/pets/1");
    let cases: Vec<(Value, String, bool)> = vec![
        // Exact ARNs.
        (json!(get_pet), get_pet.clone(), true),
        (json!(get_pet), arn("prod", "GET", "/pets/2"), false),
        (json!(get_pet), arn("prod", "GET", "/pets/1/"), false),
        (json!(get_pet), arn("test", "GET", "/pets/1"), false),
        // Case-sensitive everywhere in the resource.
        (json!(get_pet), arn("prod", "get", "/pets/1"), false),
        (json!(get_pet), arn("prod", "GET", "/Pets/1"), false),
        (json!(get_pet), arn("Prod", "GET", "/pets/1"), false),
        (json!(format!("{API}/prod/GET/pets/1").replace("us-east-1", "US-EAST-1")), get_pet.clone(), false),
        // Everything.
        (json!("*"), get_pet.clone(), true),
        (json!("**"), arn("$default", "DELETE", "/a/b/c"), true),
        (json!("arn:aws:execute-api:*"), get_pet.clone(), true),
        // All stages, all GET paths: `*` runs across `/`.
        (json!(format!("{API}/*/GET/*")), get_pet.clone(), true),
        (json!(format!("{API}/*/GET/*")), arn("$default", "GET", "/a/b/c/d"), true),
        (json!(format!("{API}/*/GET/*")), arn("prod", "POST", "/pets/1"), false),
        (json!(format!("{API}/*/GET/*")), arn("prod", "GET", "/"), true),
        // A whole stage.
        (json!(format!("{API}/prod/*")), arn("prod", "PATCH", "/x"), true),
        (json!(format!("{API}/prod/*")), arn("production", "GET", "/x"), false),
        (json!(format!("{API}/prod*")), arn("production", "GET", "/x"), true),
        // `$default` stage written literally.
        (json!(format!("{API}/$default/GET/pets")), arn("$default", "GET", "/pets"), true),
        (json!(format!("{API}/$default/*")), arn("prod", "GET", "/pets"), false),
        // Any method on a path subtree.
        (json!(format!("{API}/*/*/pets/*")), arn("prod", "PUT", "/pets/7"), true),
        (json!(format!("{API}/*/*/pets/*")), arn("prod", "PUT", "/pets"), false),
        // `*` spans `/`, so the "method" star also swallows path segments: IAM, not routing.
        (json!(format!("{API}/*/*/pets/*")), arn("prod", "GET", "/cats/pets/1"), true),
        (json!(format!("{API}/*/*/pets*")), arn("prod", "PUT", "/pets"), true),
        // `?` is exactly one character.
        (json!(format!("{API}/prod/GET/pets/?")), arn("prod", "GET", "/pets/7"), true),
        (json!(format!("{API}/prod/GET/pets/?")), arn("prod", "GET", "/pets/42"), false),
        (json!(format!("{API}/prod/GET/pets/?")), arn("prod", "GET", "/pets/"), false),
        (json!(format!("{API}/prod/GET/pets/??")), arn("prod", "GET", "/pets/42"), true),
        (json!(format!("{API}/prod/?ET/pets/1")), get_pet.clone(), true),
        (json!(format!("{API}/prod/GET/pets/?")), arn("prod", "GET", "/pets/é"), true),
        // A trailing star runs past `:` (and a leading one across segments).
        (json!("arn:aws:execute-api:us-east-1:*"), get_pet.clone(), true),
        (json!("arn:aws:execute-api:*:123456789012:abc123/*"), get_pet.clone(), true),
        (json!("arn:aws:execute-api:*:999999999999:abc123/*"), get_pet.clone(), false),
        (json!("*/GET/pets/1"), get_pet.clone(), true),
        (json!("arn:aws:execute-api:us-east-1:123456789012:other/*"), get_pet.clone(), false),
        // Arrays: any element matches.
        (json!([arn("prod", "GET", "/cats"), format!("{API}/*/GET/pets/*")]), get_pet.clone(), true),
        (json!([arn("prod", "GET", "/cats"), arn("prod", "GET", "/dogs")]), get_pet.clone(), false),
        // A policy naming only the first route's ARN denies others
        // (docs/aws-compatibility.md#iam-policy-and-simple-responses caching surprise).
        (json!(arn("prod", "GET", "/admin/reports")), arn("prod", "GET", "/admin/users"), false),
    ];
    assert!(cases.len() >= 35);
    for (resource, request, expected) in &cases {
        assert_eq!(allowed(resource.clone(), request), *expected, "Resource {resource} vs {request}");
    }
}

#[test]
fn action_forms_that_cover_invoke() {
    let get_pet = arn("prod", "GET", "/pets/1");
    let cases: &[(Value, bool)] = &[
        (json!("execute-api:Invoke"), true),
        (json!("execute-api:invoke"), true),
        (json!("EXECUTE-API:INVOKE"), true),
        (json!("*"), true),
        (json!("execute-api:*"), true),
        (json!("execute-api:Inv*"), true),
        (json!("execute-api:Invok?"), true),
        (json!("*:Invoke"), true),
        (json!("execute-api:ManageConnections"), false),
        (json!("execute-api:InvokeX"), false),
        (json!("lambda:InvokeFunction"), false),
        (json!(["s3:GetObject", "execute-api:Invoke"]), true),
        (json!(["s3:GetObject", "lambda:*"]), false),
    ];
    for (action, expected) in cases {
        let doc = json!({"Statement": {"Effect": "Allow", "Action": action, "Resource": "*"}});
        let got = Policy::parse(&doc).expect("valid").evaluate(&get_pet);
        assert_eq!(got.is_allow(), *expected, "Action {action}");
    }
}

#[test]
fn explicit_deny_beats_allow_in_any_order() {
    let doc = json!({"Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": format!("{API}/*")},
        {"Effect": "Deny", "Action": "execute-api:*", "Resource": format!("{API}/*/DELETE/*")},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    ]});
    let policy = Policy::parse(&doc).expect("valid");
    assert_eq!(policy.evaluate(&arn("prod", "DELETE", "/pets/1")), Decision::ExplicitDeny { statement: 1 });
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/pets/1")), Decision::Allow);
    assert_eq!(policy.statement_count(), 3);
}

#[test]
fn deny_only_policy_gives_explicit_or_implicit_deny() {
    let doc = json!({"Statement": [{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": arn("prod", "GET", "/a")}]});
    let policy = Policy::parse(&doc).expect("valid");
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/a")), Decision::ExplicitDeny { statement: 0 });
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/b")), Decision::ImplicitDeny);
}

#[test]
fn empty_statement_list_denies_implicitly() {
    let policy = Policy::parse(&json!({"Version": "2012-10-17", "Statement": []})).expect("valid");
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/")), Decision::ImplicitDeny);
    assert!(policy.allowed_resources().is_empty());
}

#[test]
fn not_resource_allows_everything_but_the_listed_patterns() {
    let doc = json!({"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
        "NotResource": [format!("{API}/*/*/admin/*"), format!("{API}/*/DELETE/*")]}]});
    let policy = Policy::parse(&doc).expect("valid");
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/pets")), Decision::Allow);
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/admin/users")), Decision::ImplicitDeny);
    assert_eq!(policy.evaluate(&arn("prod", "DELETE", "/pets/1")), Decision::ImplicitDeny);
    // NotResource entries are not "allowed resources".
    assert!(policy.allowed_resources().is_empty());
}

#[test]
fn not_resource_deny_denies_everything_outside_the_listed_patterns() {
    let doc = json!({"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "execute-api:Invoke", "NotResource": format!("{API}/prod/*")},
    ]});
    let policy = Policy::parse(&doc).expect("valid");
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/x")), Decision::Allow);
    assert_eq!(policy.evaluate(&arn("test", "GET", "/x")), Decision::ExplicitDeny { statement: 1 });
}

#[test]
fn not_action_covers_invoke_unless_it_names_it() {
    let get = arn("prod", "GET", "/x");
    let doc = |not_action: Value| json!({"Statement": {"Effect": "Allow", "NotAction": not_action, "Resource": "*"}});
    assert!(Policy::parse(&doc(json!("s3:*"))).expect("valid").evaluate(&get).is_allow());
    assert!(!Policy::parse(&doc(json!("execute-api:*"))).expect("valid").evaluate(&get).is_allow());
    assert!(
        !Policy::parse(&doc(json!(["s3:*", "execute-api:invoke"]))).expect("valid").evaluate(&get).is_allow()
    );
}

#[test]
fn statements_for_other_actions_never_decide() {
    let doc = json!({"Statement": [
        {"Effect": "Deny", "Action": "execute-api:ManageConnections", "Resource": "*"},
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
    ]});
    assert_eq!(Policy::parse(&doc).expect("valid").evaluate(&arn("prod", "GET", "/")), Decision::Allow);
}

#[test]
fn allow_with_condition_never_matches_and_is_reported() {
    let doc = json!({"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]});
    let policy = Policy::parse(&doc).expect("valid");
    let request = arn("prod", "GET", "/");
    assert_eq!(policy.evaluate(&request), Decision::ImplicitDeny);
    assert_eq!(policy.skipped_conditional_allows(&request), vec![0]);
}

#[test]
fn deny_with_condition_always_applies_when_resource_matches() {
    let doc = json!({"Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": format!("{API}/*/POST/*"),
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]});
    let policy = Policy::parse(&doc).expect("valid");
    assert_eq!(policy.evaluate(&arn("prod", "POST", "/a")), Decision::ExplicitDeny { statement: 1 });
    assert_eq!(policy.evaluate(&arn("prod", "GET", "/a")), Decision::Allow);
}

#[test]
fn empty_or_null_condition_is_no_condition() {
    for condition in [json!({}), Value::Null] {
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
            "Condition": condition}]});
        assert!(Policy::parse(&doc).expect("valid").evaluate(&arn("prod", "GET", "/")).is_allow());
    }
}

#[test]
fn allow_with_principal_is_treated_like_a_condition() {
    let doc = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"}]});
    assert_eq!(
        Policy::parse(&doc).expect("valid").evaluate(&arn("prod", "GET", "/")),
        Decision::ImplicitDeny
    );
}

#[test]
fn allowed_resources_lists_allow_resources_as_written() {
    let doc = json!({"Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn("prod", "GET", "/admin/reports")},
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*/DELETE/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "Action": "execute-api:*", "Resource": ["a", "b"]},
    ]});
    let policy = Policy::parse(&doc).expect("valid");
    let first = arn("prod", "GET", "/admin/reports");
    assert_eq!(policy.allowed_resources(), vec![first.as_str(), "a", "b"]);
}

#[test]
fn single_statement_object_and_sid_and_missing_version_are_accepted() {
    let doc = json!({"Statement": {"Sid": "x", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}});
    assert!(Policy::parse(&doc).expect("valid").evaluate(&arn("prod", "GET", "/")).is_allow());
}

#[test]
fn long_resource_patterns_are_accepted_up_to_the_limit() {
    let at_limit = format!("{API}/{}", "x".repeat(MAX_PATTERN_CHARS - API.len() - 1));
    assert_eq!(at_limit.chars().count(), MAX_PATTERN_CHARS);
    assert!(Policy::parse(&allow(json!(at_limit))).is_ok());
    let over = format!("{at_limit}y");
    assert_eq!(
        Policy::parse(&allow(json!(["*", over]))).unwrap_err(),
        PolicyError::PatternTooLong {
            statement: 0,
            field: "Resource",
            index: 1,
            chars: MAX_PATTERN_CHARS + 1,
            limit: MAX_PATTERN_CHARS
        }
    );
}

#[test]
fn size_bounds_are_enforced() {
    let statement = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"});
    let doc = json!({"Statement": vec![statement.clone(); MAX_STATEMENTS]});
    assert!(Policy::parse(&doc).is_ok());
    let doc = json!({"Statement": vec![statement; MAX_STATEMENTS + 1]});
    assert_eq!(
        Policy::parse(&doc).unwrap_err(),
        PolicyError::TooManyStatements { count: MAX_STATEMENTS + 1, limit: MAX_STATEMENTS }
    );
    let many = vec!["*"; MAX_RESOURCES + 1];
    assert_eq!(
        Policy::parse(&allow(json!(many))).unwrap_err(),
        PolicyError::TooManyEntries { what: "resource", limit: MAX_RESOURCES }
    );
}

#[test]
fn malformed_policies_name_what_is_wrong() {
    let ok = |extra: Value| {
        let mut s = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"});
        for (k, v) in extra.as_object().expect("object") {
            if v.is_null() {
                s.as_object_mut().expect("object").remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, s]})
    };
    let cases: Vec<(Value, PolicyError)> = vec![
        (json!([]), PolicyError::NotAnObject { found: "array" }),
        (json!("policy"), PolicyError::NotAnObject { found: "string" }),
        (json!({"Version": 2012, "Statement": []}), PolicyError::VersionNotString { found: "number" }),
        (json!({"Version": "2012-10-17"}), PolicyError::MissingStatement),
        (json!({"statement": []}), PolicyError::MissingStatement),
        (json!({"Statement": "Allow"}), PolicyError::StatementsNotList { found: "string" }),
        (json!({"Statement": [1]}), PolicyError::StatementNotObject { statement: 0, found: "number" }),
        (ok(json!({"Effect": null})), PolicyError::MissingEffect { statement: 1 }),
        (ok(json!({"Effect": "allow"})), PolicyError::BadEffect { statement: 1, found: "\"allow\"".into() }),
        (ok(json!({"Effect": "ALLOW"})), PolicyError::BadEffect { statement: 1, found: "\"ALLOW\"".into() }),
        (ok(json!({"Effect": true})), PolicyError::BadEffect { statement: 1, found: "true".into() }),
        (ok(json!({"Action": null})), PolicyError::MissingField { statement: 1, field: "Action" }),
        (ok(json!({"NotAction": "s3:*"})), PolicyError::BothFields { statement: 1, field: "Action" }),
        (ok(json!({"Resource": null})), PolicyError::MissingField { statement: 1, field: "Resource" }),
        (ok(json!({"NotResource": "*"})), PolicyError::BothFields { statement: 1, field: "Resource" }),
        (
            ok(json!({"Action": {"a": 1}})),
            PolicyError::NotStringOrList { statement: 1, field: "Action", found: "object" },
        ),
        (
            ok(json!({"Resource": ["*", 5]})),
            PolicyError::ElementNotString { statement: 1, field: "Resource", index: 1, found: "number" },
        ),
        (ok(json!({"Resource": []})), PolicyError::EmptyList { statement: 1, field: "Resource" }),
        (
            ok(json!({"Action": null, "NotAction": []})),
            PolicyError::EmptyList { statement: 1, field: "NotAction" },
        ),
        (
            ok(json!({"Condition": "aws:SourceIp"})),
            PolicyError::ConditionNotObject { statement: 1, found: "string" },
        ),
    ];
    for (doc, expected) in cases {
        assert_eq!(Policy::parse(&doc).unwrap_err(), expected, "{doc}");
    }
}

#[test]
fn errors_read_as_sentences_naming_statement_and_field() {
    let err = PolicyError::ElementNotString { statement: 2, field: "Resource", index: 1, found: "number" };
    assert_eq!(err.to_string(), "Statement[2].Resource[1] must be a string, found number");
    let err = ResponseError::from(PolicyError::MissingStatement);
    assert_eq!(err.to_string(), "invalid policyDocument: policyDocument has no Statement");
}

// === Authorizer answers (docs/aws-compatibility.md#iam-policy-and-simple-responses,
// #authorizer-context-to-the-integration) ===

const REST: ContextRules = ContextRules { primitives_only: true, reserve_claims: false };
const HTTP_V1: ContextRules = ContextRules { primitives_only: false, reserve_claims: true };
const HTTP_V2: ContextRules = ContextRules { primitives_only: false, reserve_claims: false };

/// The Clerk guide's TOKEN authorizer answer, as its `generatePolicy` builds it.
fn clerk_answer(effect: &str, resource: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "principalId": "user_2abc",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
        ]},
        "context": {"role": "admin"}
    }))
    .expect("serializes")
}

#[test]
fn clerk_guide_allow_answer_parses_and_allows_its_method_arn() {
    let method = arn("prod", "GET", "/admin/reports");
    let answer = IamResponse::parse(&clerk_answer("Allow", &method), REST).expect("valid answer");
    assert_eq!(answer.principal_id.as_deref(), Some("user_2abc"));
    assert_eq!(answer.context, json!({"role": "admin"}).as_object().cloned());
    assert_eq!(answer.usage_identifier_key, None);
    assert_eq!(answer.policy.evaluate(&method), Decision::Allow);
    // Cached and replayed for another route: implicitly denied, and explainable.
    assert_eq!(answer.policy.evaluate(&arn("prod", "GET", "/admin/users")), Decision::ImplicitDeny);
    assert_eq!(answer.policy.allowed_resources(), vec![method.as_str()]);
}

#[test]
fn clerk_guide_deny_answer_denies_explicitly() {
    let method = arn("prod", "GET", "/admin/reports");
    let answer = IamResponse::parse(&clerk_answer("Deny", &method), REST).expect("valid answer");
    assert_eq!(answer.policy.evaluate(&method), Decision::ExplicitDeny { statement: 0 });
}

#[test]
fn iam_answer_optional_members_may_be_absent_or_null() {
    let doc = json!({"Statement": []});
    for body in [
        json!({"policyDocument": doc}),
        json!({"policyDocument": doc, "principalId": null, "context": null, "usageIdentifierKey": null}),
    ] {
        let answer = IamResponse::parse(body.to_string().as_bytes(), REST).expect("valid");
        assert_eq!((answer.principal_id, answer.context, answer.usage_identifier_key), (None, None, None));
    }
    let body = json!({"policyDocument": doc, "usageIdentifierKey": "key-1", "extra": [1]});
    let answer = IamResponse::parse(body.to_string().as_bytes(), REST).expect("valid");
    assert_eq!(answer.usage_identifier_key.as_deref(), Some("key-1"));
}

#[test]
fn malformed_iam_answers_map_to_their_errors() {
    let doc = json!({"Statement": []});
    let cases: Vec<(&[u8], ContextRules, ResponseError)> = vec![
        (b"[]", REST, ResponseError::NotAnObject { found: "array" }),
        (b"\"Allow\"", REST, ResponseError::NotAnObject { found: "string" }),
        (b"null", REST, ResponseError::NotAnObject { found: "null" }),
        (b"{}", REST, ResponseError::MissingPolicyDocument),
        (br#"{"PolicyDocument": {"Statement": []}}"#, REST, ResponseError::MissingPolicyDocument),
    ];
    for (output, rules, expected) in cases {
        assert_eq!(IamResponse::parse(output, rules).unwrap_err(), expected);
    }
    let json_cases: Vec<(Value, ContextRules, ResponseError)> = vec![
        (
            json!({"policyDocument": "Allow"}),
            REST,
            ResponseError::Policy(PolicyError::NotAnObject { found: "string" }),
        ),
        (json!({"policyDocument": {}}), REST, ResponseError::Policy(PolicyError::MissingStatement)),
        (
            json!({"policyDocument": doc, "principalId": 42}),
            REST,
            ResponseError::PrincipalIdNotString { found: "number" },
        ),
        (
            json!({"policyDocument": doc, "usageIdentifierKey": true}),
            REST,
            ResponseError::UsageIdentifierKeyNotString { found: "boolean" },
        ),
        (
            json!({"policyDocument": doc, "context": "admin"}),
            REST,
            ResponseError::ContextNotObject { found: "string" },
        ),
        (
            json!({"policyDocument": doc, "context": []}),
            HTTP_V2,
            ResponseError::ContextNotObject { found: "array" },
        ),
        (
            json!({"policyDocument": doc, "context": {"role": "admin", "groups": ["a"]}}),
            REST,
            ResponseError::ContextValueNotPrimitive { key: "groups".into(), found: "array" },
        ),
        (
            json!({"policyDocument": doc, "context": {"org": {"id": 1}}}),
            REST,
            ResponseError::ContextValueNotPrimitive { key: "org".into(), found: "object" },
        ),
        (
            json!({"policyDocument": doc, "context": {"gone": null}}),
            REST,
            ResponseError::ContextValueNotPrimitive { key: "gone".into(), found: "null" },
        ),
        (
            json!({"policyDocument": doc, "context": {"claims": "x"}}),
            HTTP_V1,
            ResponseError::ContextKeyReserved { key: "claims".into() },
        ),
    ];
    for (body, rules, expected) in json_cases {
        assert_eq!(IamResponse::parse(body.to_string().as_bytes(), rules).unwrap_err(), expected, "{body}");
    }
}

#[test]
fn non_json_output_is_reported_without_echoing_it() {
    let err = IamResponse::parse(b"{\"policyDocument\": secret-token", REST).unwrap_err();
    let ResponseError::NotJson { reason } = &err else { panic!("expected NotJson, got {err:?}") };
    assert!(reason.contains("line 1"), "{reason}");
    assert!(!err.to_string().contains("secret-token"), "{err}");
    assert!(matches!(SimpleResponse::parse(b"", HTTP_V2), Err(ResponseError::NotJson { .. })));
}

#[test]
fn http_api_context_keeps_arrays_objects_and_types() {
    let context = json!({"n": 1, "b": true, "s": "x", "a": [1, "2"], "m": {"k": null}, "claims": 1});
    let body = json!({"policyDocument": {"Statement": []}, "context": context});
    let answer = IamResponse::parse(body.to_string().as_bytes(), HTTP_V2).expect("valid");
    assert_eq!(answer.context.map(Value::Object), Some(context));
    // `claims` is only reserved under payload 1.0.
    assert!(IamResponse::parse(body.to_string().as_bytes(), HTTP_V1).is_err());
}

#[test]
fn context_over_8_kb_is_rejected_and_at_8_kb_accepted() {
    // {"k":"…"} is 8 bytes plus the value.
    let fits =
        json!({"policyDocument": {"Statement": []}, "context": {"k": "x".repeat(MAX_CONTEXT_BYTES - 8)}});
    assert!(IamResponse::parse(fits.to_string().as_bytes(), REST).is_ok());
    let over = json!({"isAuthorized": true, "context": {"k": "x".repeat(MAX_CONTEXT_BYTES - 7)}});
    assert_eq!(
        SimpleResponse::parse(over.to_string().as_bytes(), HTTP_V2).unwrap_err(),
        ResponseError::ContextTooLarge { size: MAX_CONTEXT_BYTES + 1, limit: MAX_CONTEXT_BYTES }
    );
}

#[test]
fn simple_answers_parse() {
    let yes = SimpleResponse::parse(br#"{"isAuthorized": true, "context": {"tenant": "t1"}}"#, HTTP_V2)
        .expect("valid");
    assert_eq!(
        yes,
        SimpleResponse { is_authorized: true, context: json!({"tenant": "t1"}).as_object().cloned() }
    );
    let no = SimpleResponse::parse(br#"{"isAuthorized": false}"#, HTTP_V2).expect("valid");
    assert_eq!(no, SimpleResponse { is_authorized: false, context: None });
}

#[test]
fn malformed_simple_answers_map_to_their_errors() {
    let cases: Vec<(&[u8], ResponseError)> = vec![
        (b"true", ResponseError::NotAnObject { found: "boolean" }),
        (b"{}", ResponseError::MissingIsAuthorized),
        (br#"{"isauthorized": true}"#, ResponseError::MissingIsAuthorized),
        (br#"{"isAuthorized": "true"}"#, ResponseError::IsAuthorizedNotBoolean { found: "string" }),
        (br#"{"isAuthorized": 1}"#, ResponseError::IsAuthorizedNotBoolean { found: "number" }),
        (br#"{"isAuthorized": null}"#, ResponseError::IsAuthorizedNotBoolean { found: "null" }),
        (br#"{"isAuthorized": true, "context": 1}"#, ResponseError::ContextNotObject { found: "number" }),
    ];
    for (output, expected) in cases {
        assert_eq!(SimpleResponse::parse(output, HTTP_V2).unwrap_err(), expected);
    }
    let rest_like = br#"{"isAuthorized": true, "context": {"a": [1]}}"#;
    assert_eq!(
        SimpleResponse::parse(rest_like, REST).unwrap_err(),
        ResponseError::ContextValueNotPrimitive { key: "a".into(), found: "array" }
    );
}

#[test]
fn policy_is_send_sync_and_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug + Clone>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<IamResponse>();
    assert_send_sync::<SimpleResponse>();
    assert_send_sync::<ResponseError>();
}

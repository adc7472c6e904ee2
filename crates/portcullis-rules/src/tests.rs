//! Behaviour tests for rules: compile-time checks with positions, each variable, the issue's
//! examples over realistic claims, and fail-closed evaluation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use portcullis_core::{
    AuthContext, CallContext, JwtContext, LambdaContext, Param, Params, RequestIdGenerator,
};
use serde_json::{Map, Value, json};

use super::*;

/// Claims shaped like a Clerk session token customised as in the Clerk guide.
pub(crate) fn clerk_claims() -> Map<String, Value> {
    match json!({
        "azp": "http://localhost:3000",
        "exp": 1_700_000_600,
        "iat": 1_700_000_000,
        "iss": "https://clerk.example.com",
        "nbf": 1_699_999_990,
        "sid": "sess_2XyZabc",
        "sub": "user_2Xyzabc",
        "aud": "ClerkJwtAuthorizer",
        "metadata": {"role": "admin", "tenant": "acme"},
        "tenant": "acme",
        "scope": "read:pets write:pets",
        "cognito:groups": ["admin", "users"],
        "st-ev": {"v": true, "t": 1_700_000_000_123u64},
        "big": 18_446_744_073_709_551_615u64,
        "ratio": 0.5,
        "nothing": null
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn jwt(claims: Map<String, Value>) -> AuthContext {
    AuthContext::Jwt(JwtContext { claims: Arc::new(claims), scopes: None })
}

struct Req {
    parts: http::request::Parts,
    ctx: CallContext,
}

fn req(method: &str, uri: &str, headers: &[(&str, &str)], auth: AuthContext) -> Req {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let (parts, ()) = b.body(()).expect("valid request").into_parts();
    let addr: SocketAddr = "203.0.113.7:54321".parse().expect("addr");
    let ctx = CallContext {
        request_id: RequestIdGenerator::new(1).next_id(),
        client_addr: addr,
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /pets/{id}"),
        params: Params(vec![Param {
            name: Arc::from("id"),
            raw: "a%20b".to_owned(),
            decoded: "a b".to_owned(),
        }]),
        received_at: SystemTime::now(),
        auth,
    };
    Req { parts, ctx }
}

fn clerk_req() -> Req {
    req(
        "GET",
        "/pets/a%20b?limit=10&tag=x&tag=y+z&q=%C3%A9",
        &[("X-Tenant", "acme"), ("accept", "text/plain"), ("accept", "application/json")],
        jwt(clerk_claims()),
    )
}

fn eval(sources: &[&str], r: &Req) -> Result<(), RuleFailure> {
    let rules = sources.iter().map(|s| Rule::compile(s).expect(s)).collect();
    RuleSet::new(rules).evaluate(&r.parts, &r.ctx)
}

#[track_caller]
fn holds(source: &str, r: &Req) {
    if let Err(f) = eval(&[source], r) {
        panic!("expected `{source}` to hold: {f}");
    }
}

#[track_caller]
fn fails(source: &str, r: &Req) -> FailureKind {
    match eval(&[source], r) {
        Ok(()) => panic!("expected `{source}` to fail"),
        Err(f) => f.kind,
    }
}

#[track_caller]
fn compile_err(source: &str) -> RuleError {
    match Rule::compile(source) {
        Ok(_) => panic!("expected `{source}` to be rejected"),
        Err(e) => e,
    }
}

#[test]
fn issue_examples_hold_on_matching_claims() {
    let r = clerk_req();
    holds("claims.metadata.role == 'admin'", &r);
    holds("claims['st-ev'].v == true", &r);
    holds("'admin' in claims['cognito:groups']", &r);
    holds("request.headers['x-tenant'] == claims.tenant", &r);
}

#[test]
fn issue_examples_fail_on_other_claims() {
    let mut claims = clerk_claims();
    claims.insert("metadata".into(), json!({"role": "viewer"}));
    claims.insert("st-ev".into(), json!({"v": false, "t": 1}));
    claims.insert("cognito:groups".into(), json!(["users"]));
    claims.insert("tenant".into(), json!("globex"));
    let r = req("GET", "/", &[("x-tenant", "acme")], jwt(claims));
    for rule in [
        "claims.metadata.role == 'admin'",
        "claims['st-ev'].v == true",
        "'admin' in claims['cognito:groups']",
        "request.headers['x-tenant'] == claims.tenant",
    ] {
        assert_eq!(fails(rule, &r), FailureKind::False, "{rule}");
    }
}

#[test]
fn string_functions_and_has_work_on_claims() {
    let r = clerk_req();
    holds("has(claims.sub) && !has(claims.email)", &r);
    holds("claims.sub.startsWith('user_')", &r);
    holds("claims.scope.contains('write:pets')", &r);
    holds("claims.iss.endsWith('.example.com')", &r);
    holds("claims.sid.matches('^sess_[A-Za-z0-9]+$')", &r);
    holds("size(claims['cognito:groups']) == 2 && claims.scope.size() > 3", &r);
    holds("claims['cognito:groups'].exists(g, g == 'admin')", &r);
    holds("claims['cognito:groups'].all(g, g.size() > 2)", &r);
    holds("has(claims.metadata.tenant) && claims.metadata.tenant == 'acme'", &r);
    assert_eq!(fails("claims.sub.startsWith('org_')", &r), FailureKind::False);
    assert_eq!(fails("has(claims.email)", &r), FailureKind::False);
}

#[test]
fn json_numbers_compare_with_int_and_double_literals() {
    let r = clerk_req();
    holds("claims.exp > 1699999999 && claims.exp == 1700000600", &r);
    holds("claims.ratio == 0.5 && claims.ratio < 1.0", &r);
    holds("claims.big == 18446744073709551615u", &r);
    holds("claims['st-ev'].t > 0", &r);
    holds("claims.nothing == null", &r);
}

#[test]
fn missing_claim_fails_closed_with_an_error() {
    let r = clerk_req();
    match fails("claims.email == 'a@b.c'", &r) {
        FailureKind::Error(msg) => assert!(msg.contains("email"), "{msg}"),
        other => panic!("expected an evaluation error, got {other:?}"),
    }
    // A negated comparison on a missing claim must not pass either.
    assert!(matches!(fails("claims.email != 'a@b.c'", &r), FailureKind::Error(_)));
    assert!(matches!(fails("!(claims.metadata.org == 'x')", &r), FailureKind::Error(_)));
}

#[test]
fn wrong_runtime_type_fails_closed() {
    let r = clerk_req();
    // `tenant` is a string: `in` on a string is no overload.
    assert!(matches!(fails("'a' in claims.tenant", &r), FailureKind::Error(_)));
    assert!(matches!(fails("claims.exp.startsWith('1')", &r), FailureKind::Error(_)));
}

#[test]
fn non_bool_result_at_run_time_is_a_failure() {
    let r = clerk_req();
    assert_eq!(fails("claims.tenant", &r), FailureKind::NotBool("string".into()));
}

#[test]
fn claims_is_an_empty_map_without_a_jwt() {
    let r = req("GET", "/", &[], AuthContext::None);
    holds("size(claims) == 0", &r);
    holds("!has(claims.sub)", &r);
    assert!(matches!(fails("claims.sub == 'x'", &r), FailureKind::Error(_)));
}

#[test]
fn request_variables() {
    let r = clerk_req();
    holds("request.method == 'GET'", &r);
    holds("request.path == '/pets/a%20b'", &r);
    holds("request.source_ip == '203.0.113.7'", &r);
    holds("request.headers['x-tenant'] == 'acme'", &r);
    holds("request.headers.accept == 'text/plain,application/json'", &r);
    holds("request.query.limit == '10' && request.query.tag == 'x,y z'", &r);
    holds("request.query.q == 'é'", &r);
    holds("!has(request.query.missing) && !has(request.headers.authorization)", &r);
    holds("'x-tenant' in request.headers && size(request.query) == 3", &r);
    holds("request.headers.exists(h, h == 'accept')", &r);
    assert_eq!(fails("request.method == 'POST'", &r), FailureKind::False);
    assert!(matches!(fails("request.headers.authorization == 'x'", &r), FailureKind::Error(_)));
}

#[test]
fn whole_request_variable_has_every_field() {
    let r = clerk_req();
    holds("size(request) == 5 && request['headers']['x-tenant'] == 'acme'", &r);
    holds("request.exists(k, k == 'source_ip')", &r);
}

#[test]
fn route_variables() {
    let r = clerk_req();
    holds("route.key == 'GET /pets/{id}'", &r);
    holds("route.params.id == 'a b'", &r);
    holds("route.params.id == claims.sub || route.params['id'].contains(' ')", &r);
    assert_eq!(fails("route.params.id == 'a%20b'", &r), FailureKind::False);
}

#[test]
fn authorizer_variable_from_a_lambda_authorizer() {
    let context = match json!({"tenant": "acme", "tier": 3, "admin": true}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let auth = AuthContext::Lambda(LambdaContext {
        principal_id: Some("user|a1".into()),
        context: Some(Arc::new(context)),
    });
    let r = req("GET", "/", &[("x-tenant", "acme")], auth);
    holds("authorizer.principal_id == 'user|a1'", &r);
    holds("authorizer.context.admin && authorizer.context.tier >= 3", &r);
    holds("authorizer.context.tenant == request.headers['x-tenant']", &r);
    assert_eq!(fails("authorizer.context.tier > 3", &r), FailureKind::False);

    let none = req("GET", "/", &[], AuthContext::None);
    holds("size(authorizer) == 0 && !has(authorizer.principal_id)", &none);
    assert!(matches!(fails("authorizer.context.admin", &none), FailureKind::Error(_)));
}

#[test]
fn all_rules_must_hold_and_the_first_failure_is_named() {
    let r = clerk_req();
    let sources = ["claims.metadata.role == 'admin'", "request.method == 'POST'", "claims.nope"];
    let err = eval(&sources, &r).expect_err("second rule is false");
    assert_eq!(err.index, 1);
    assert_eq!(&*err.source, "request.method == 'POST'");
    assert_eq!(err.kind, FailureKind::False);
    assert_eq!(err.to_string(), "rule 1 `request.method == 'POST'` is false");

    let err = eval(&["true", "claims.nope == 1"], &r).expect_err("missing claim");
    assert_eq!(err.index, 1);
    assert!(err.to_string().starts_with("rule 1 `claims.nope == 1` failed: "), "{err}");

    eval(&["claims.metadata.role == 'admin'", "request.method == 'GET'"], &r).expect("both hold");
    let empty = RuleSet::new(Vec::new());
    assert!(empty.is_empty());
    empty.evaluate(&r.parts, &r.ctx).expect("no rules: pass");
}

#[test]
fn a_set_builds_what_any_of_its_rules_reads() {
    let r = clerk_req();
    // One rule reads `claims.tenant`, the other `claims.sub`; both must be present.
    eval(&["claims.tenant == 'acme'", "claims.sub == 'user_2Xyzabc'"], &r).expect("both keys built");
    eval(&["request.method == 'GET'", "request.headers['x-tenant'] == 'acme'"], &r)
        .expect("both request fields built");
}

#[test]
fn syntax_error_has_its_position() {
    let e = compile_err("claims.metadata.role == ");
    assert_eq!((e.line, e.column), (1, 25), "{e}");
    let e = compile_err("claims.a == 'x' &&\n  claims.b === 'y'");
    assert_eq!(e.line, 2, "{e}");
    assert_eq!(e.column, 14, "{e}");
}

#[test]
fn unknown_identifier_is_named_with_a_suggestion() {
    let e = compile_err("claim.metadata.role == 'admin'");
    assert!(e.message.contains("unknown identifier 'claim'"), "{e}");
    assert!(e.message.contains("did you mean 'claims'"), "{e}");
    assert_eq!((e.line, e.column), (1, 1));
    let e = compile_err("true &&\n   foo == 1");
    assert!(e.message.contains("'foo'") && !e.message.contains("did you mean"), "{e}");
    assert_eq!((e.line, e.column), (2, 4));
}

#[test]
fn comprehension_variables_are_in_scope_only_inside() {
    Rule::compile("claims['cognito:groups'].exists(g, g == 'admin')").expect("g bound");
    let e = compile_err("claims['cognito:groups'].exists(g, g == 'admin') && g == 'x'");
    assert!(e.message.contains("unknown identifier 'g'"), "{e}");
}

#[test]
fn unknown_fields_of_fixed_variables_are_rejected() {
    let e = compile_err("request.hedaers['x'] == 'y'");
    assert!(e.message.contains("did you mean 'headers'"), "{e}");
    let e = compile_err("route.parms.id == 'y'");
    assert!(e.message.contains("did you mean 'params'"), "{e}");
    let e = compile_err("authorizer.principal == 'y'");
    assert!(e.message.contains("did you mean 'principal_id'"), "{e}");
    let e = compile_err("request.headers['X-Tenant'] == 'acme'");
    assert!(e.message.contains("did you mean 'x-tenant'"), "{e}");
}

#[test]
fn unknown_function_and_wrong_arity_are_rejected() {
    let e = compile_err("claims.sub.startWith('user_')");
    assert!(e.message.contains("unknown function '.startWith()'"), "{e}");
    assert!(e.message.contains("did you mean 'startsWith'"), "{e}");
    let e = compile_err("lenght(claims.sub) > 1");
    assert!(e.message.contains("unknown function 'lenght()'"), "{e}");
    let e = compile_err("claims.sub.contains('a', 'b')");
    assert!(e.message.contains("takes 1 argument"), "{e}");
    let e = compile_err("size(claims.sub, 1) > 0");
    assert!(e.message.contains("takes 1 argument"), "{e}");
}

#[test]
fn non_boolean_rules_are_rejected() {
    for source in ["1", "'admin'", "1 + 2", "claims.sub + 'x'", "[1, 2]", "size(claims)"] {
        let e = compile_err(source);
        assert!(e.message.contains("must be a boolean expression"), "{source}: {e}");
    }
}

#[test]
fn literal_type_clashes_are_rejected_with_position() {
    for source in [
        "1 + 'a' == 2",
        "'a' - 1 == 'b'",
        "'a' == 1",
        "true && 1",
        "!'x'",
        "1 in 'abc'",
        "'abc'[0] == 'a'",
        "'a'.startsWith(1)",
        "1.contains('a')",
        "1 < 'a'",
        "2.0 % 1.0 == 0.0",
    ] {
        compile_err(source);
    }
    let e = compile_err("claims.a == 'x' ||\n  (1 + 'a') == 2");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("cannot combine a int and a string"), "{e}");
}

#[test]
fn accepted_rules_cover_every_declared_function() {
    let r = clerk_req();
    for source in [
        "size('abc') == 3",
        "matches('abc', '^a')",
        "int('3') == 3 && uint(3) == 3u && double(1) == 1.0",
        "string(1) == '1' && bytes('a') == b'a' && bool('true')",
        "dyn(1) == 1 && type(1) == int",
        "optional.of(1).hasValue() && optional.of(2).value() == 2",
        "!optional.none().hasValue() && optional.ofNonZeroValue(0).orValue(5) == 5",
        "optional.none().or(optional.of(1)).value() == 1",
        "claims.?email.orValue('none') == 'none'",
        "'ab'.size() == 2 && 'ab'.endsWith('b') && 'ab'.matches('a')",
        "-(1) == -1 && 1 - 1 == 0 && 2 * 2 == 4 && 4 / 2 == 2 && 5 % 2 == 1",
        "[1, 2].map(x, x * 2) == [2, 4] && [1, 2].filter(x, x > 1) == [2]",
        "[1, 2].exists_one(x, x == 1) && {'a': 1}.a == 1",
        "claims.tenant == 'acme' ? true : false",
        "[{'a': 1}].exists(m, m.a == 1) && {'a': {'b': 1}}.a.b == 1",
        "claims.metadata.role == claims['metadata']['role'] && claims.metadata == claims['metadata']",
    ] {
        holds(source, &r);
    }
}

#[test]
fn multi_line_rules_compile_and_run() {
    let r = clerk_req();
    holds("claims.metadata.role == 'admin'\n  && request.method == 'GET'\n  && route.params.id == 'a b'", &r);
}

#[test]
fn rule_and_set_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<Rule>();
    assert_send_sync::<RuleSet>();
    let rule = Rule::compile("claims.tenant == 'acme'").expect("compiles");
    assert_eq!(rule.source(), "claims.tenant == 'acme'");
}

#[test]
fn only_read_keys_are_built() {
    use crate::check::Need;
    let rule = Rule::compile("claims.metadata.role == 'admin' && request.headers['x-tenant'] == 'a'")
        .expect("compiles");
    assert_eq!(rule.needs.claims, Need::Keys(["metadata".to_owned()].into()));
    assert_eq!(rule.needs.request, Need::Keys(["headers".to_owned()].into()));
    assert_eq!(rule.needs.headers, Need::Keys(["x-tenant".to_owned()].into()));
    assert!(rule.needs.route.is_none() && rule.needs.authorizer.is_none() && rule.needs.query.is_none());
    let whole = Rule::compile("'admin' in claims && size(request.headers) > 0").expect("compiles");
    assert_eq!(whole.needs.claims, Need::All);
    assert_eq!(whole.needs.headers, Need::All);
}

#[test]
fn error_columns_count_characters_not_bytes() {
    let e = compile_err("'ééé' + 1 == 2");
    assert_eq!((e.line, e.column), (1, 7), "{e}");
    let e = compile_err("claims.a == 'é' &&\n  'ü' - 1 == 2");
    assert_eq!((e.line, e.column), (2, 7), "{e}");
    let e = compile_err("'ééé' == ");
    assert_eq!((e.line, e.column), (1, 10), "{e}");
}

#[test]
fn evaluation_errors_never_quote_claim_values() {
    let mut claims = clerk_claims();
    claims.insert("email".into(), json!("alice.secret@example.com"));
    let r = req("GET", "/", &[], jwt(claims));
    for rule in [
        "claims.email < 5",
        "claims.email - 1 == 0",
        "claims.email[0] == 'a'",
        "[claims.email][3] == 'x'",
        "int(claims.email) == 1",
        "{claims.email: 1, claims.email: 2}.size() == 1",
    ] {
        match fails(rule, &r) {
            FailureKind::Error(msg) => assert!(!msg.contains("alice"), "{rule}: {msg}"),
            other => panic!("{rule}: expected an evaluation error, got {other:?}"),
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever text a config holds, compiling it returns (never panics), and an error's
        /// position lies within the text.
        #[test]
        fn compile_never_panics_and_positions_are_inside(source in "[ -~\n]{0,40}") {
            if let Err(e) = Rule::compile(&source) {
                let lines = source.split('\n').count();
                prop_assert!(e.line >= 1 && e.line <= lines, "{e} for {source:?}");
                let width = source.split('\n').nth(e.line - 1).map_or(0, |l| l.chars().count());
                prop_assert!(e.column >= 1 && e.column <= width + 1, "{e} for {source:?}");
            }
        }

        /// A claim compared with a literal holds exactly when the strings are equal.
        #[test]
        fn claim_equality_matches_string_equality(claim in "[a-z0-9 ]{0,8}", lit in "[a-z0-9 ]{0,8}") {
            let mut claims = Map::new();
            claims.insert("role".into(), Value::String(claim.clone()));
            let r = req("GET", "/", &[], jwt(claims));
            let rule = format!("claims.role == '{lit}'");
            prop_assert_eq!(eval(&[&rule], &r).is_ok(), claim == lit);
        }
    }
}

#[test]
fn matches_with_a_literal_pattern_is_checked_at_load_and_cached() {
    let e = compile_err("claims.sub.matches('user_(')");
    assert_eq!(e.message, "invalid regular expression in matches(): unclosed group");
    assert_eq!((e.line, e.column), (1, 20), "{e}");
    let e = compile_err("matches(claims.sub, '[a-')");
    assert!(e.message.contains("invalid regular expression"), "{e}");
    let r = clerk_req();
    for _ in 0..2 {
        holds("claims.sub.matches('^user_[A-Za-z0-9]+$') && matches(claims.sid, '^sess_')", &r);
        assert_eq!(fails("claims.sub.matches('^org_')", &r), FailureKind::False);
        assert_eq!(fails("matches(claims.sub, '^org_')", &r), FailureKind::False);
    }
    for source in ["claims.sub.matches('^u')", "matches(claims.sub, '^u')"] {
        let rule = Rule::compile(source).expect(source);
        assert!(format!("{:?}", rule.expr).contains("@matches_literal"), "{source} not rewritten");
    }
    // Patterns computed at run time still work, through cel's own `matches`.
    holds("claims.sub.matches('^' + 'user_')", &r);
    // A non-string receiver fails closed.
    assert!(matches!(fails("claims.exp.matches('^1')", &r), FailureKind::Error(_)));
    // The rewritten name cannot be called from rule text.
    assert!(Rule::compile("claims.sub.@matches_literal('a')").is_err());
}

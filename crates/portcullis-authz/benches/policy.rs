//! Lambda-authorizer policy costs: evaluating a cached IAM policy against a
//! request ARN (what every request with a warm authorizer cache pays), and parsing a typical
//! authorizer answer (what every cache miss pays on top of the invocation).
//!
//! Run: `cargo bench -p portcullis-authz --bench policy`
//! (quick: `-- --warm-up-time 0.3 --measurement-time 1`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_authz::policy::{ContextRules, IamResponse, Policy, method_arn};
use serde_json::json;

const API: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123";

fn bench(c: &mut Criterion) {
    let request = method_arn(&api(), "GET", "/admin/reports/2026/11");

    let one = Policy::parse(&json!({"Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": format!("{API}/*/GET/*")}
    ]}))
    .expect("valid");
    c.bench_function("policy/evaluate_1_statement", |b| b.iter(|| one.evaluate(black_box(&request))));

    // Nine non-matching statements (a deny among them) before the one that allows.
    let mut statements: Vec<_> = (0..9)
        .map(|i| {
            let effect = if i == 4 { "Deny" } else { "Allow" };
            json!({"Effect": effect, "Action": "execute-api:*",
                   "Resource": [format!("{API}/*/POST/route{i}/*"), format!("{API}/test/*/r?ute{i}")]})
        })
        .collect();
    statements.push(json!({"Effect": "Allow", "Action": "*", "Resource": format!("{API}/prod/*/admin/*")}));
    let ten = Policy::parse(&json!({"Statement": statements})).expect("valid");
    c.bench_function("policy/evaluate_10_statements_wildcards", |b| {
        b.iter(|| ten.evaluate(black_box(&request)))
    });

    // Worst case: a 512-character pattern of many stars and `?` against a long ARN that fails late.
    let worst_pattern = format!("{}*?b", "*a?".repeat(169));
    let worst = Policy::parse(&json!({"Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": worst_pattern}
    ]}))
    .expect("valid");
    let long_arn = method_arn(&api(), "GET", &format!("/{}", "a".repeat(1500)));
    c.bench_function("policy/evaluate_worst_case_512_char_pattern", |b| {
        b.iter(|| worst.evaluate(black_box(&long_arn)))
    });

    let answer = serde_json::to_vec(&json!({
        "principalId": "user_2abc",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": request}
        ]},
        "context": {"role": "admin", "tenant": "t-42", "orgId": 7}
    }))
    .expect("serializes");
    let rules = ContextRules { primitives_only: true, reserve_claims: false };
    c.bench_function("policy/parse_typical_iam_answer", |b| {
        b.iter(|| IamResponse::parse(black_box(&answer), rules).expect("valid"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

fn api() -> portcullis_core::ApiIdentity {
    portcullis_core::ApiIdentity {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        api_id: "abc123".into(),
        stage: "prod".into(),
        ..Default::default()
    }
}

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayV2CustomAuthorizerV1Request,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use portcullis_core::{AuthContext, CallContext, RequestIdGenerator};
use portcullis_route::{Param, Params};
use serde_json::Value;

use super::*;

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api1/$default/GET/pets/7";

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(7).next_id(),
        client_addr: "203.0.113.9:55000".parse::<SocketAddr>().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: "GET /pets/{id}".into(),
        params: Params(vec![Param { name: "id".into(), raw: "7".into(), decoded: "7".into() }]),
        received_at: UNIX_EPOCH + Duration::from_millis(1_583_349_317_135),
        auth: AuthContext::None,
    }
}

fn parts() -> http::request::Parts {
    http::Request::builder()
        .method("GET")
        .uri("/pets/7?a=1&a=2&b=x")
        .header("host", "api1.example.com")
        .header("Authorization", "Bearer abc")
        .header("X-Tenant", "t1")
        .header("cookie", "s=1; t=2")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn facts<'a>(
    parts: &'a http::request::Parts,
    ctx: &'a CallContext,
    vars: &'a [(String, String)],
) -> RequestFacts<'a> {
    RequestFacts {
        parts,
        body: b"secret body",
        ctx,
        stage: "$default",
        api_id: "api1",
        account_id: "123456789012",
        domain: None,
        stage_variables: vars,
    }
}

#[test]
fn token_event_is_exactly_the_three_documented_fields() {
    let event: Value = serde_json::from_slice(&token_event("Bearer abc.def.ghi", ARN).unwrap()).unwrap();
    assert_eq!(
        event,
        serde_json::json!({"type": "TOKEN", "authorizationToken": "Bearer abc.def.ghi", "methodArn": ARN})
    );
    let typed: ApiGatewayCustomAuthorizerRequest =
        serde_json::from_slice(&token_event("Bearer x", ARN).unwrap()).unwrap();
    assert_eq!(typed.authorization_token.as_deref(), Some("Bearer x"));
    assert_eq!(typed.method_arn.as_deref(), Some(ARN));
}

#[test]
fn request_v2_event_has_route_arn_identity_array_and_no_body() {
    let parts = parts();
    // An authorizer outcome already in the context (none is, in the pipeline) must still not be
    // handed to an authorizer: this makes the `requestContext.authorizer` check able to fail.
    let ctx = CallContext {
        auth: AuthContext::Lambda(portcullis_core::LambdaContext {
            principal_id: Some("p".into()),
            context: None,
        }),
        ..ctx()
    };
    let vars = [("env".to_owned(), "dev".to_owned())];
    let ids = ["Bearer abc".to_owned(), "t1".to_owned()];
    let bytes = request_authorizer_v2(&facts(&parts, &ctx, &vars), ARN, &ids).unwrap();
    let event: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(event["routeArn"], ARN);
    assert_eq!(event["identitySource"], serde_json::json!(["Bearer abc", "t1"]));
    assert_eq!(event["routeKey"], "GET /pets/{id}");
    assert_eq!(event["rawPath"], "/pets/7");
    assert_eq!(event["rawQueryString"], "a=1&a=2&b=x");
    assert_eq!(event["queryStringParameters"]["a"], "1,2");
    assert_eq!(event["cookies"], serde_json::json!(["s=1", "t=2"]));
    assert_eq!(event["headers"]["x-tenant"], "t1");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["pathParameters"]["id"], "7");
    assert_eq!(event["stageVariables"]["env"], "dev");
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["routeKey"], "GET /pets/{id}");
    for absent in ["body", "isBase64Encoded"] {
        assert!(event.get(absent).is_none(), "{absent} must not be sent to an authorizer");
    }
    assert!(event["requestContext"].get("authorizer").is_none());
    let typed: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(typed.route_arn.as_deref(), Some(ARN));
    assert_eq!(typed.identity_source, Some(ids.to_vec()));
}

#[test]
fn request_v1_event_joins_identity_values_and_has_method_arn() {
    let (parts, ctx) = (parts(), ctx());
    let ids = ["Bearer abc".to_owned(), "t1".to_owned()];
    let bytes = request_authorizer_v1(&facts(&parts, &ctx, &[]), ARN, &ids).unwrap();
    let event: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(event["version"], "1.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(event["methodArn"], ARN);
    assert_eq!(event["identitySource"], "Bearer abc,t1");
    assert_eq!(event["authorizationToken"], "Bearer abc,t1");
    assert_eq!(event["resource"], "/pets/{id}");
    assert_eq!(event["path"], "/pets/7");
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["multiValueQueryStringParameters"]["a"], serde_json::json!(["1", "2"]));
    assert_eq!(event["requestContext"]["resourceId"], "GET /pets/{id}");
    for absent in ["body", "isBase64Encoded"] {
        assert!(event.get(absent).is_none(), "{absent} must not be sent to an authorizer");
    }
    assert!(event["requestContext"].get("authorizer").is_none());
    let typed: ApiGatewayV2CustomAuthorizerV1Request = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(typed.method_arn.as_deref(), Some(ARN));
    assert_eq!(typed.identity_source.as_deref(), Some("Bearer abc,t1"));
}

/// With no identity sources configured, AWS sends `"identitySource": null`, not `[]`.
#[test]
fn request_v2_event_without_identity_sources_has_a_null_identity_source() {
    let (parts, ctx) = (parts(), ctx());
    let bytes = request_authorizer_v2(&facts(&parts, &ctx, &[]), ARN, &[]).unwrap();
    let event: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(event.get("identitySource"), Some(&Value::Null), "{event}");
    let typed: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(typed.identity_source, None);
}

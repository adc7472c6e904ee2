use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use portcullis_core::{AuthContext, CallContext, JwtContext, LambdaContext, RequestIdGenerator};
use portcullis_route::{Param, Params};
use serde_json::{Value, json};

use super::*;

/// The trace every `ctx()` carries.
const TRACE: &str = "Root=1-5e5ffe45-c17c48981e6fe71a31fb22e6";

fn ctx(route_key: &str, params: &[(&str, &str)], auth: AuthContext) -> CallContext {
    let request_id = RequestIdGenerator::new(7).next_id();
    let received_at = UNIX_EPOCH + Duration::from_millis(1_583_349_317_135);
    CallContext {
        request_id,
        client_addr: "203.0.113.9:55000".parse::<SocketAddr>().unwrap(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::derive(request_id, received_at),
        route_key: route_key.into(),
        params: Params(
            params
                .iter()
                .map(|(n, v)| Param { name: (*n).into(), raw: v.to_string(), decoded: v.to_string() })
                .collect(),
        ),
        received_at,
        auth,
    }
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(()).unwrap().into_parts().0
}

fn v2(parts: &http::request::Parts, body: &[u8], ctx: &CallContext) -> Value {
    let facts = RequestFacts {
        parts,
        body,
        ctx,
        stage: "$default",
        api_id: "api1",
        account_id: "123456789012",
        domain: None,
        stage_variables: &[],
    };
    serde_json::from_slice(&request_v2(&facts).unwrap()).unwrap()
}

fn v1(parts: &http::request::Parts, body: &[u8], ctx: &CallContext) -> Value {
    let vars = [("env".to_owned(), "dev".to_owned())];
    let facts = RequestFacts {
        parts,
        body,
        ctx,
        stage: "$default",
        api_id: "api1",
        account_id: "123456789012",
        domain: Some("api1.execute-api.us-east-1.amazonaws.com"),
        stage_variables: &vars,
    };
    serde_json::from_slice(&request_v1(&facts).unwrap()).unwrap()
}

#[test]
fn v2_event_has_every_documented_field() {
    let parts = parts(
        "POST",
        "/pets/42?a=1&b=x%20y&a=2&flag&plus=c+d",
        &[
            ("host", "api1.execute-api.us-east-1.amazonaws.com"),
            ("content-type", "application/json"),
            ("user-agent", "curl/8"),
            ("x-dup", "one"),
            ("x-dup", "two"),
            ("cookie", "sid=abc; theme=dark"),
            ("cookie", "=nameless; bare; last=1"),
        ],
    );
    let ctx = ctx("POST /pets/{id}", &[("id", "42")], AuthContext::None);
    let event = v2(&parts, b"{\"n\":1}", &ctx);
    let expected = json!({
        "version": "2.0",
        "routeKey": "POST /pets/{id}",
        "rawPath": "/pets/42",
        "rawQueryString": "a=1&b=x%20y&a=2&flag&plus=c+d",
        "cookies": ["sid=abc", "theme=dark", "last=1"],
        "headers": {
            "content-length": "7",
            "content-type": "application/json",
            "host": "api1.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8",
            "x-amzn-trace-id": TRACE,
            "x-dup": "one,two",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-port": "80",
            "x-forwarded-proto": "http"
        },
        "queryStringParameters": {"a": "1,2", "b": "x y", "flag": "", "plus": "c d"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1",
            "domainName": "api1.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api1",
            "http": {
                "method": "POST",
                "path": "/pets/42",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8"
            },
            "requestId": ctx.request_id.as_str(),
            "routeKey": "POST /pets/{id}",
            "stage": "$default",
            "time": "04/Mar/2020:19:15:17 +0000",
            "timeEpoch": 1_583_349_317_135u64
        },
        "body": "{\"n\":1}",
        "pathParameters": {"id": "42"},
        "isBase64Encoded": false
    });
    assert_eq!(event, expected);
}

#[test]
fn v2_event_omits_empty_parts_and_keeps_raw_query_empty() {
    let parts = parts("GET", "/", &[("host", "localhost:8080")]);
    let event = v2(&parts, b"", &ctx("$default", &[], AuthContext::None));
    let obj = event.as_object().unwrap();
    for absent in ["cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"] {
        assert!(!obj.contains_key(absent), "{absent} should be omitted");
    }
    assert_eq!(event["rawQueryString"], "");
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event["requestContext"].get("authorizer").is_none());
    assert_eq!(event["requestContext"]["domainPrefix"], "localhost");
    assert_eq!(event["requestContext"]["http"]["userAgent"], "");
}

#[test]
fn binary_and_non_utf8_bodies_are_base64() {
    let parts_bin = parts("POST", "/", &[("content-type", "image/png")]);
    let event = v2(&parts_bin, b"PNG", &ctx("$default", &[], AuthContext::None));
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "UE5H");
    let parts_text = parts("POST", "/", &[("content-type", "text/plain")]);
    let event = v2(&parts_text, &[0xff, 0xfe, 0], &ctx("$default", &[], AuthContext::None));
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "//4A");
}

#[test]
fn v2_jwt_authorizer_carries_stringified_claims() {
    let claims = json!({
        "sub": "auth0|60357a6d98e3e5006a9d74a3",
        "exp": 1614176219,
        "email_verified": true,
        "groups": ["admin", "poweruser"],
        "gone": null
    });
    let auth =
        AuthContext::Jwt(JwtContext { claims: Arc::new(claims.as_object().unwrap().clone()), scopes: None });
    let event = v2(&parts("GET", "/private", &[]), b"", &ctx("GET /private", &[], auth));
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"jwt": {"claims": {
            "sub": "auth0|60357a6d98e3e5006a9d74a3",
            "exp": "1614176219",
            "email_verified": "true",
            "groups": "[admin poweruser]"
        }, "scopes": null}})
    );
    let auth = AuthContext::Jwt(JwtContext {
        claims: Arc::new(Default::default()),
        scopes: Some(Arc::from(vec!["read".to_owned()])),
    });
    let event = v2(&parts("GET", "/", &[]), b"", &ctx("GET /", &[], auth));
    assert_eq!(event["requestContext"]["authorizer"]["jwt"]["scopes"], json!(["read"]));
}

#[test]
fn v2_lambda_authorizer_context_keeps_json_types() {
    let context = json!({"user": "u1", "n": 3, "list": [1, 2], "obj": {"k": true}});
    let auth = AuthContext::Lambda(LambdaContext {
        principal_id: Some("p".into()),
        context: Some(Arc::new(context.as_object().unwrap().clone())),
    });
    let event = v2(&parts("GET", "/", &[]), b"", &ctx("GET /", &[], auth));
    assert_eq!(event["requestContext"]["authorizer"], json!({"lambda": context}));
    let auth = AuthContext::Lambda(LambdaContext { principal_id: None, context: None });
    let event = v2(&parts("GET", "/", &[]), b"", &ctx("GET /", &[], auth));
    assert_eq!(event["requestContext"]["authorizer"], json!({"lambda": null}));
}

#[test]
fn v1_event_matches_the_documented_shape() {
    let parts = parts(
        "GET",
        "/my/path?parameter1=value1&parameter1=value2&parameter2=value",
        &[
            ("header1", "value1"),
            ("header2", "value1"),
            ("header2", "value2"),
            ("user-agent", "ua"),
            ("content-type", "text/plain"),
        ],
    );
    let event = v1(&parts, b"Hello from Lambda!", &ctx("GET /my/path", &[], AuthContext::None));
    let expected = json!({
        "version": "1.0",
        "resource": "/my/path",
        "path": "/my/path",
        "httpMethod": "GET",
        "headers": {"content-length": "18", "content-type": "text/plain", "header1": "value1", "header2": "value2",
            "user-agent": "ua", "x-amzn-trace-id": TRACE,
            "x-forwarded-for": "203.0.113.9", "x-forwarded-port": "80", "x-forwarded-proto": "http"},
        "multiValueHeaders": {"content-length": ["18"], "content-type": ["text/plain"], "header1": ["value1"],
            "header2": ["value1", "value2"], "user-agent": ["ua"], "x-amzn-trace-id": [TRACE],
            "x-forwarded-for": ["203.0.113.9"], "x-forwarded-port": ["80"], "x-forwarded-proto": ["http"]},
        "queryStringParameters": {"parameter1": "value2", "parameter2": "value"},
        "multiValueQueryStringParameters": {"parameter1": ["value1", "value2"], "parameter2": ["value"]},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1",
            "authorizer": {"claims": null, "scopes": null},
            "domainName": "api1.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api1",
            "extendedRequestId": ctx("x", &[], AuthContext::None).request_id.as_str(),
            "httpMethod": "GET",
            "identity": {
                "accessKey": null, "accountId": null, "caller": null,
                "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
                "cognitoIdentityId": null, "cognitoIdentityPoolId": null, "principalOrgId": null,
                "sourceIp": "203.0.113.9", "user": null, "userAgent": "ua", "userArn": null
            },
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "requestId": ctx("x", &[], AuthContext::None).request_id.as_str(),
            "requestTime": "04/Mar/2020:19:15:17 +0000",
            "requestTimeEpoch": 1_583_349_317_135u64,
            "resourceId": "GET /my/path",
            "resourcePath": "/my/path",
            "stage": "$default"
        },
        "pathParameters": null,
        "stageVariables": {"env": "dev"},
        "body": "Hello from Lambda!",
        "isBase64Encoded": false
    });
    assert_eq!(event, expected);
}

#[test]
fn v1_absent_maps_are_null_and_resource_is_the_route_template() {
    let parts = parts("GET", "/pets/7", &[]);
    let facts_ctx = ctx("GET /pets/{id}", &[("id", "7")], AuthContext::None);
    let facts = RequestFacts {
        parts: &parts,
        body: b"",
        ctx: &facts_ctx,
        stage: "$default",
        api_id: "a",
        account_id: "1",
        domain: None,
        stage_variables: &[],
    };
    let event: Value = serde_json::from_slice(&request_v1(&facts).unwrap()).unwrap();
    assert_eq!(event["resource"], "/pets/{id}");
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    for null in ["queryStringParameters", "multiValueQueryStringParameters", "stageVariables", "body"] {
        assert_eq!(event[null], Value::Null, "{null}");
    }
}

#[test]
fn v1_lambda_authorizer_is_flat_with_principal_id() {
    let auth = AuthContext::Lambda(LambdaContext {
        principal_id: Some("user-1".into()),
        context: Some(Arc::new(json!({"role": "admin"}).as_object().unwrap().clone())),
    });
    let event = v1(&parts("GET", "/", &[]), b"", &ctx("GET /", &[], auth));
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"role": "admin", "principalId": "user-1", "integrationLatency": 0})
    );
}

// === cross-checks with the aws_lambda_events types ===

#[test]
fn v2_events_deserialize_as_aws_lambda_events_types() {
    use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
    let claims = json!({"sub": "s", "exp": 1});
    let auth = AuthContext::Jwt(JwtContext {
        claims: Arc::new(claims.as_object().unwrap().clone()),
        scopes: Some(Arc::from(vec!["a".to_owned()])),
    });
    let parts =
        parts("PUT", "/items/9?x=1&x=2", &[("host", "h.example.com"), ("cookie", "a=1; b=2"), ("x-y", "z")]);
    let context = ctx("PUT /items/{id}", &[("id", "9")], auth);
    let facts = RequestFacts {
        parts: &parts,
        body: &[0xff, 0x00],
        ctx: &context,
        stage: "prod",
        api_id: "api1",
        account_id: "123456789012",
        domain: None,
        stage_variables: &[("v".to_owned(), "1".to_owned())],
    };
    let bytes = request_v2(&facts).unwrap();
    let typed: ApiGatewayV2httpRequest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(typed.version.as_deref(), Some("2.0"));
    assert_eq!(typed.route_key.as_deref(), Some("PUT /items/{id}"));
    assert_eq!(typed.raw_path.as_deref(), Some("/items/9"));
    assert_eq!(typed.raw_query_string.as_deref(), Some("x=1&x=2"));
    assert_eq!(typed.cookies, Some(vec!["a=1".to_owned(), "b=2".to_owned()]));
    assert_eq!(typed.headers["x-y"], "z");
    assert!(typed.headers.get("cookie").is_none());
    assert_eq!(typed.path_parameters["id"], "9");
    assert_eq!(typed.stage_variables["v"], "1");
    assert!(typed.is_base64_encoded);
    assert_eq!(typed.body.as_deref(), Some("/wA="));
    let rc = &typed.request_context;
    assert_eq!(rc.http.method, http::Method::PUT);
    assert_eq!(rc.http.source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(rc.stage.as_deref(), Some("prod"));
    assert_eq!(rc.time_epoch, 1_583_349_317_135);
    assert_eq!(rc.domain_name.as_deref(), Some("h.example.com"));
    let jwt = rc.authorizer.as_ref().unwrap().jwt.as_ref().unwrap();
    assert_eq!(jwt.claims["exp"], "1");
    assert_eq!(jwt.scopes, Some(vec!["a".to_owned()]));
}

#[test]
fn v1_events_deserialize_as_aws_lambda_events_types() {
    use aws_lambda_events::apigw::ApiGatewayProxyRequest;
    let parts = parts("POST", "/a/b?q=1&q=2", &[("x-m", "1"), ("x-m", "2"), ("content-type", "text/plain")]);
    let bytes = {
        let c = ctx("ANY /a/{proxy+}", &[("proxy", "b")], AuthContext::None);
        let facts = RequestFacts {
            parts: &parts,
            body: b"hi",
            ctx: &c,
            stage: "$default",
            api_id: "api1",
            account_id: "123456789012",
            domain: None,
            stage_variables: &[],
        };
        request_v1(&facts).unwrap()
    };
    let typed: ApiGatewayProxyRequest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(typed.http_method, http::Method::POST);
    assert_eq!(typed.resource.as_deref(), Some("/a/{proxy+}"));
    assert_eq!(typed.path.as_deref(), Some("/a/b"));
    assert_eq!(typed.headers["x-m"], "2");
    assert_eq!(typed.multi_value_headers.get_all("x-m").iter().count(), 2);
    assert_eq!(typed.query_string_parameters.first("q"), Some("2"));
    assert_eq!(typed.multi_value_query_string_parameters.all("q").map(|v| v.len()), Some(2));
    assert_eq!(typed.path_parameters["proxy"], "b");
    assert_eq!(typed.body.as_deref(), Some("hi"));
    assert_eq!(typed.request_context.resource_path.as_deref(), Some("/a/{proxy+}"));
    assert_eq!(typed.request_context.identity.source_ip.as_deref(), Some("203.0.113.9"));
}

/// AWS's published payload 2.0 sample (developer guide, "Working with AWS Lambda proxy
/// integrations for HTTP APIs"), written out from the spec's field list: our event for the same
/// request must have exactly the sample's keys at every level.
#[test]
fn v2_event_has_the_same_keys_as_the_published_sample() {
    let sample: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/apigw-v2-sample.json")).unwrap();
    let parts = parts(
        "POST",
        "/my/path?parameter1=value1&parameter1=value2&parameter2=value",
        &[("header1", "value1"), ("header2", "value1,value2"), ("cookie", "cookie1=1; cookie2=2")],
    );
    let claims = json!({"claim1": "value1", "claim2": "value2"});
    let auth = AuthContext::Jwt(JwtContext {
        claims: Arc::new(claims.as_object().unwrap().clone()),
        scopes: Some(Arc::from(vec!["scope1".to_owned(), "scope2".to_owned()])),
    });
    let context = ctx("$default", &[("parameter1", "value1")], auth);
    let vars = [("stageVariable1".to_owned(), "value1".to_owned())];
    let facts = RequestFacts {
        parts: &parts,
        body: b"Hello from Lambda",
        ctx: &context,
        stage: "$default",
        api_id: "api-id",
        account_id: "123456789012",
        domain: Some("id.execute-api.us-east-1.amazonaws.com"),
        stage_variables: &vars,
    };
    let ours: Value = serde_json::from_slice(&request_v2(&facts).unwrap()).unwrap();
    assert_same_keys(&sample, &ours, "$");
    assert_eq!(ours["queryStringParameters"], sample["queryStringParameters"]);
    let mut headers = ours["headers"].as_object().unwrap().clone();
    for added in
        ["content-length", "x-amzn-trace-id", "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"]
    {
        assert!(headers.remove(added).is_some(), "{added}");
    }
    assert_eq!(Value::Object(headers), sample["headers"]);
    assert_eq!(ours["requestContext"]["authorizer"], sample["requestContext"]["authorizer"]);
}

fn assert_same_keys(expected: &Value, actual: &Value, at: &str) {
    if let (Some(e), Some(a)) = (expected.as_object(), actual.as_object()) {
        let ek: Vec<_> = e.keys().collect();
        let ak: Vec<_> = a.keys().collect();
        assert_eq!(ek, ak, "keys differ at {at}");
        for (k, v) in e {
            // Claims and maps of user data are compared by value above, not by key set.
            if !matches!(k.as_str(), "claims" | "headers" | "queryStringParameters") {
                assert_same_keys(v, &a[k], &format!("{at}.{k}"));
            }
        }
    }
}

#[test]
fn forwarded_headers_append_the_source_ip_and_describe_the_connection() {
    let parts = parts(
        "GET",
        "/",
        &[("host", "gw.example.com:8443"), ("x-forwarded-for", "198.51.100.1"), ("x-forwarded-proto", "ftp")],
    );
    let mut c = ctx("$default", &[], AuthContext::None);
    c.tls = true;
    c.local_port = 9443;
    let event = v2(&parts, b"", &c);
    assert_eq!(event["headers"]["x-forwarded-for"], "198.51.100.1, 203.0.113.9");
    assert_eq!(event["headers"]["x-forwarded-port"], "9443", "the connection's port, not the one in Host");
    assert_eq!(event["headers"]["x-forwarded-proto"], "https");
}

#[test]
fn single_values_join_repeats_with_a_comma_and_decode_the_query() {
    let p = parts("GET", "/x?a=1&b=x+y&a=2&c%20d=%2F", &[("x-t", "one"), ("X-T", "two"), ("y", "only")]);
    assert_eq!(header_value(&p.headers, "x-t").as_deref(), Some("one,two"));
    assert!(matches!(header_value(&p.headers, "y"), Some(std::borrow::Cow::Borrowed("only"))));
    assert_eq!(header_value(&p.headers, "absent"), None);
    let q = p.uri.query().unwrap();
    assert_eq!(query_value(q, "a").as_deref(), Some("1,2"));
    assert_eq!(query_value(q, "b").as_deref(), Some("x y"));
    assert_eq!(query_value(q, "c d").as_deref(), Some("/"));
    assert_eq!(query_value(q, "A"), None, "names are case-sensitive");
}

#[test]
fn ip_text_matches_display_for_both_families() {
    for ip in
        ["0.0.0.0", "203.0.113.9", "255.255.255.255", "10.0.100.7", "::1", "2001:db8::7", "::ffff:10.0.0.1"]
    {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        assert_eq!(ip_text(ip), ip.to_string());
    }
}

// === fidelity with live HTTP API captures ===

/// `rawPath` and `http.path` are percent-decoded as API Gateway hands them on: decoded, cut at
/// a decoded `?`, decoded again (`%252F` is `/`); the query is untouched.
#[test]
fn v2_paths_are_decoded_as_aws_decodes_them() {
    let cases = [
        ("/pets/caf%C3%A9%20x", "/pets/café x"),
        ("/capture/slash%2Fvalue", "/capture/slash/value"),
        ("/capture/question%3Fvalue", "/capture/question"),
        ("/capture/literal%252Fvalue", "/capture/literal/value"),
        ("/capture/hash%23value", "/capture/hash#value"),
    ];
    for (sent, expected) in cases {
        let p = parts("GET", &format!("{sent}?q=a%20b"), &[]);
        let event = v2(&p, b"", &ctx("$default", &[], AuthContext::None));
        assert_eq!(event["rawPath"], expected, "{sent}");
        assert_eq!(event["requestContext"]["http"]["path"], expected, "{sent}");
        assert_eq!(event["rawQueryString"], "q=a%20b");
    }
}

/// Payload 1.0 `path` and `requestContext.path` are decoded the same way (the gateway decodes
/// the path before either event is built); `resource` of `$default` is that path.
#[test]
fn v1_paths_are_decoded_as_aws_decodes_them() {
    let p = parts("GET", "/pets/caf%C3%A9%20x", &[]);
    let event = v1(&p, b"", &ctx("$default", &[], AuthContext::None));
    assert_eq!(event["path"], "/pets/café x");
    assert_eq!(event["requestContext"]["path"], "/pets/café x");
    assert_eq!(event["resource"], "/pets/café x");
}

/// Only JSON, XML, JavaScript and `text/*` bodies travel as text; everything else, a missing
/// content type and form posts included, is base64 (2.0 and 1.0 alike).
#[test]
fn only_text_json_xml_and_javascript_bodies_are_sent_as_text() {
    let text = [
        "text/plain",
        "text/html; charset=utf-8",
        "TEXT/CSV",
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/xml",
        "application/javascript",
        "application/problem+json",
        "application/atom+xml",
        "application/vnd.api+json; charset=utf-8",
    ];
    let base64 = [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/octet-stream"),
        Some("application/yaml"),
        Some("application/jsonl"),
        Some("application/json-seq"),
        Some("image/svg+xml"),
        Some(""),
    ];
    let cases = text.iter().map(|t| (Some(*t), false)).chain(base64.iter().map(|t| (*t, true)));
    for (content_type, encoded) in cases {
        let headers: Vec<_> = content_type.map(|t| ("content-type", t)).into_iter().collect();
        let p = parts("POST", "/", &headers);
        for event in [
            v2(&p, b"a=1&b=2", &ctx("$default", &[], AuthContext::None)),
            v1(&p, b"a=1&b=2", &ctx("$default", &[], AuthContext::None)),
        ] {
            assert_eq!(event["isBase64Encoded"], encoded, "{content_type:?}");
            let body = if encoded { "YT0xJmI9Mg==" } else { "a=1&b=2" };
            assert_eq!(event["body"], body, "{content_type:?}");
        }
    }
}

fn facts_v2<'a>(parts: &'a http::request::Parts, body: &'a [u8], ctx: &'a CallContext) -> RequestFacts<'a> {
    RequestFacts {
        parts,
        body,
        ctx,
        stage: "$default",
        api_id: "api1",
        account_id: "123456789012",
        domain: None,
        stage_variables: &[],
    }
}

/// Every event carries the request's `x-amzn-trace-id`, the one `ctx.trace_id` holds (and the
/// function's `_X_AMZN_TRACE_ID` root): a client's valid header travels on as it was sent.
#[test]
fn every_event_carries_the_requests_trace_header() {
    let mut c = ctx("GET /pets/{id}", &[("id", "7")], AuthContext::None);
    let p = parts("GET", "/pets/7", &[("x-amzn-trace-id", "Root=1-abc")]);
    let f = facts_v2(&p, b"", &c);
    let events: Vec<Value> = vec![
        serde_json::from_slice(&request_v2(&f).unwrap()).unwrap(),
        serde_json::from_slice(&request_v1(&f).unwrap()).unwrap(),
        serde_json::from_slice(&crate::request_authorizer_v2(&f, "arn", &[]).unwrap()).unwrap(),
        serde_json::from_slice(&crate::request_authorizer_v1(&f, "arn", &[]).unwrap()).unwrap(),
    ];
    let expected = c.trace_id.header();
    assert!(expected.starts_with("Root=1-5e5ffe45-"), "{expected}");
    for event in &events {
        assert_eq!(event["headers"]["x-amzn-trace-id"], expected, "{event}");
    }
    assert_eq!(events[1]["multiValueHeaders"]["x-amzn-trace-id"], json!([expected]));

    let sent = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1";
    let p = parts("GET", "/pets/7", &[("x-amzn-trace-id", sent)]);
    c.trace_id = portcullis_core::TraceId::for_request(&p.headers, c.request_id, c.received_at);
    let event = v2(&p, b"", &c);
    assert_eq!(event["headers"]["x-amzn-trace-id"], sent);
    assert_eq!(v1(&p, b"", &c)["headers"]["x-amzn-trace-id"], sent);
}

/// `content-length` is always there: `0` without a body (AWS adds it), the body's length
/// otherwise, also when the client sent the body chunked.
#[test]
fn content_length_is_zero_without_a_body_and_the_real_length_otherwise() {
    let c = ctx("$default", &[], AuthContext::None);
    let get = parts("GET", "/", &[]);
    assert_eq!(v2(&get, b"", &c)["headers"]["content-length"], "0");
    assert_eq!(v1(&get, b"", &c)["headers"]["content-length"], "0");
    assert_eq!(v1(&get, b"", &c)["multiValueHeaders"]["content-length"], json!(["0"]));
    let chunked = parts("POST", "/", &[("transfer-encoding", "chunked"), ("content-type", "text/plain")]);
    assert_eq!(v2(&chunked, b"payload", &c)["headers"]["content-length"], "7");
    let sized = parts("POST", "/", &[("content-length", "7"), ("content-type", "text/plain")]);
    assert_eq!(v2(&sized, b"payload", &c)["headers"]["content-length"], "7");
    assert_eq!(v1(&sized, b"payload", &c)["multiValueHeaders"]["content-length"], json!(["7"]));
    // An authorizer reads no body: the announced length, else 0.
    let f = facts_v2(&sized, b"", &c);
    let event: Value =
        serde_json::from_slice(&crate::request_authorizer_v2(&f, "arn", &[]).unwrap()).unwrap();
    assert_eq!(event["headers"]["content-length"], "7");
    let f = facts_v2(&get, b"", &c);
    let event: Value =
        serde_json::from_slice(&crate::request_authorizer_v2(&f, "arn", &[]).unwrap()).unwrap();
    assert_eq!(event["headers"]["content-length"], "0");
}

/// An HTTP/2 client sends `:authority`, not `Host`: the event still has `host`, and
/// `domainName`/`domainPrefix` never carry a port (nor do they for an HTTP/1.1 `Host`).
/// `x-forwarded-port` is the port the client connected to, whatever the authority says.
#[test]
fn http2_authority_becomes_host_and_domain_has_no_port() {
    let mut c = ctx("$default", &[], AuthContext::None);
    c.tls = true;
    c.local_port = 9443;
    let mut h2 = parts("GET", "https://api.example.com:8443/pets", &[]);
    h2.version = http::Version::HTTP_2;
    // (`v1` sets a configured domain, so only its headers are compared.)
    let (event, v1_event) = (v2(&h2, b"", &c), v1(&h2, b"", &c));
    assert_eq!(event["requestContext"]["domainName"], "api.example.com");
    assert_eq!(event["requestContext"]["domainPrefix"], "api");
    for event in [event, v1_event] {
        assert_eq!(event["headers"]["host"], "api.example.com:8443", "{event}");
        assert_eq!(event["headers"]["x-forwarded-port"], "9443");
        assert_eq!(event["headers"]["x-forwarded-proto"], "https");
    }
    let h1 = parts("GET", "/pets", &[("host", "gw.example.com:8080")]);
    let event = v2(&h1, b"", &c);
    assert_eq!(event["headers"]["host"], "gw.example.com:8080");
    assert_eq!(event["requestContext"]["domainName"], "gw.example.com");
    let v6 = parts("GET", "/pets", &[("host", "[2001:db8::1]:8080")]);
    assert_eq!(v2(&v6, b"", &c)["requestContext"]["domainName"], "[2001:db8::1]");
}

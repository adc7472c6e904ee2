//! Integrations, timeouts and parameter mappings as AWS writes them.

use serde_json::{Value, json};

use crate::export_openapi;

/// The integration of the only route of `yaml`'s config, and the notes.
fn integration(yaml: &str) -> (Value, Vec<String>) {
    let config = portcullis_config::from_str(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let exported = export_openapi(&config);
    let key = config.routes[0].key.to_string();
    let (method, path) = key.split_once(' ').unwrap();
    let method =
        if method == "ANY" { "x-amazon-apigateway-any-method".into() } else { method.to_ascii_lowercase() };
    let op = &exported.document["paths"][path][method];
    let notes = exported.notes.iter().map(ToString::to_string).collect();
    (op["x-amazon-apigateway-integration"].clone(), notes)
}

#[test]
fn an_http_route_is_an_http_proxy_integration() {
    let (i, notes) = integration(
        "routes:\n  GET /pets/{id}:\n    http: https://pets.example.com:8443/v1/pets/{id}?src=gw\n    timeout: 5s\n",
    );
    assert_eq!(
        i,
        json!({
            "type": "http_proxy",
            "httpMethod": "ANY",
            "uri": "https://pets.example.com:8443/v1/pets/{id}?src=gw",
            "payloadFormatVersion": "1.0",
            "connectionType": "INTERNET",
            "timeoutInMillis": 5000,
        })
    );
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn a_function_route_is_a_lambda_proxy_integration_with_its_arn() {
    let (i, _) = integration(
        "region: eu-west-1\naccount_id: \"111122223333\"\nfunctions:\n  orders: {runtime: nodejs, handler: i.h}\nroutes:\n  POST /orders:\n    function: orders\n    payload_format_version: \"1.0\"\n    timeout: 1500ms\n",
    );
    assert_eq!(
        i,
        json!({
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:111122223333:function:orders/invocations",
            "payloadFormatVersion": "1.0",
            "connectionType": "INTERNET",
            "timeoutInMillis": 1500,
        })
    );
    let (i, _) = integration(
        "functions:\n  f: {runtime: nodejs, handler: i.h}\nroutes:\n  ANY /{proxy+}:\n    function: f\n",
    );
    assert_eq!(i["payloadFormatVersion"], "2.0");
    assert_eq!(i["timeoutInMillis"], 30000);
}

#[test]
fn timeouts_outside_awss_limits_are_clamped_and_noted() {
    let (i, notes) =
        integration("routes:\n  GET /slow:\n    http: https://a.example.com\n    timeout: 90s\n");
    assert_eq!(i["timeoutInMillis"], 30000);
    assert_eq!(
        notes,
        [
            "routes.\"GET /slow\".timeout: timeout 90s is outside AWS's integration limits of 50ms to 30s; exported as 30000 ms"
        ]
    );
    let (i, notes) =
        integration("routes:\n  GET /fast:\n    http: https://a.example.com\n    timeout: 10ms\n");
    assert_eq!(i["timeoutInMillis"], 50);
    assert_eq!(notes.len(), 1);
    let (i, notes) =
        integration("routes:\n  GET /odd:\n    http: https://a.example.com\n    timeout: 1500us\n");
    assert_eq!(i["timeoutInMillis"], 50);
    assert_eq!(notes.len(), 1);
}

#[test]
fn mappings_keep_awss_keys_and_value_forms() {
    let (i, notes) = integration(
        "routes:\n  GET /orders/{id}:\n    http: https://a.example.com/orders/{id}\n    parameter_mapping:\n      overwrite:header.x-tenant: $context.authorizer.tenant\n      append:header.x-trace: ${context.requestId}-${request.path.id}\n      remove:header.x-debug: \"''\"\n      overwrite:querystring.user: ${context.authorizer.claims.sub}\n      overwrite:path: /v2/orders/$request.path.id\n      append:header.x-fixed: literal text\n    response_parameters:\n      \"500\":\n        overwrite:statuscode: \"502\"\n        append:header.x-body: $response.body.a[0]\n",
    );
    assert_eq!(
        i["requestParameters"],
        json!({
            "overwrite:header.x-tenant": "$context.authorizer.tenant",
            "append:header.x-trace": "${context.requestId}-${request.path.id}",
            "remove:header.x-debug": "''",
            "overwrite:querystring.user": "$context.authorizer.claims.sub",
            "overwrite:path": "/v2/orders/${request.path.id}",
            "append:header.x-fixed": "literal text",
        })
    );
    assert_eq!(
        i["responseParameters"],
        json!({"500": {"overwrite:statuscode": "502", "append:header.x-body": "$response.body.a[0]"}})
    );
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn a_lone_variable_that_plain_form_would_cut_is_braced() {
    use portcullis_core::{Template, Variable};
    let claim = Template::variable(Variable::Claim("https://example.com/roles".into()));
    assert_eq!(super::mapping_value(&claim), "${context.authorizer.claims.https://example.com/roles}");
    let (i, _) = integration(
        "routes:\n  GET /a:\n    http: https://a.example.com\n    parameter_mapping:\n      overwrite:header.x-id: $context.requestId.\n",
    );
    assert_eq!(i["requestParameters"]["overwrite:header.x-id"], "${context.requestId}.");
}

#[test]
fn a_fixed_response_is_left_out_with_its_route() {
    let config =
        portcullis_config::from_str("routes:\n  GET /x:\n    respond: {status: 204}\n", "t.yaml").unwrap();
    let exported = export_openapi(&config);
    assert_eq!(exported.document["paths"], json!({}));
    assert_eq!(
        exported.notes[0].to_string(),
        "routes.\"GET /x\".respond: a fixed response has no AWS equivalent; the route is left out"
    );
}

#[test]
fn http_settings_aws_lacks_are_noted() {
    let (_, notes) = integration(
        "routes:\n  GET /a:\n    http: https://a.example.com\n    http_version: \"2\"\n    upstream_ca: ca.pem\n",
    );
    assert_eq!(
        notes,
        [
            "routes.\"GET /a\".http_version: AWS always calls HTTP backends with HTTP/1.1; left out",
            "routes.\"GET /a\".upstream_ca: AWS trusts only publicly trusted certificates on https backends; left out",
        ]
    );
    let (_, notes) =
        integration("routes:\n  GET /a:\n    http: https://a.example.com\n    http_version: \"1.1\"\n");
    assert!(notes.is_empty(), "{notes:?}");
}

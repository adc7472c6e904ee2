//! The document's shape and the notes on top-level settings.

use serde_json::json;

use crate::{NoteKind, export_openapi};

fn config(yaml: &str) -> portcullis_config::Config {
    match portcullis_config::from_str(yaml, "portcullis.yaml") {
        Ok(c) => c,
        Err(e) => panic!("invalid test config:\n{e}"),
    }
}

fn notes(yaml: &str) -> Vec<String> {
    export_openapi(&config(yaml)).notes.iter().map(ToString::to_string).collect()
}

#[test]
fn the_document_has_what_import_api_requires() {
    let exported =
        export_openapi(&config("api_id: shop\nroutes:\n  GET /a:\n    http: https://a.example.com\n"));
    let doc = &exported.document;
    assert_eq!(doc["openapi"], "3.0.1");
    assert_eq!(doc["info"], json!({"title": "shop", "version": "1.0"}));
    assert_eq!(doc["x-amazon-apigateway-importexport-version"], "1.0");
    assert!(doc.get("components").is_none());
    assert!(doc.get("x-amazon-apigateway-cors").is_none());
    assert!(exported.notes.is_empty(), "{:?}", exported.notes);
}

#[test]
fn a_config_without_routes_still_has_paths() {
    let exported = export_openapi(&config("listen: 127.0.0.1:8080\n"));
    assert_eq!(exported.document["paths"], json!({}));
}

#[test]
fn json_and_yaml_renderings_hold_the_same_document() {
    let exported = export_openapi(&config(
        "cors: {allow_origins: [\"*\"], max_age: 10}\nroutes:\n  ANY /{proxy+}:\n    http: https://a.example.com/{proxy}\n    parameter_mapping:\n      append:header.x-a: \"yes: ${request.path.proxy}\"\n",
    ));
    let from_json: serde_json::Value = serde_json::from_str(&exported.to_json()).unwrap();
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&exported.to_yaml()).unwrap();
    assert_eq!(from_json, exported.document);
    assert_eq!(from_yaml, exported.document);
    assert!(exported.to_json().ends_with("}\n"));
}

#[test]
fn stage_settings_are_named_as_outside_the_definition() {
    let exported = export_openapi(&config(
        "stage: prod\nstage_variables: {backend: b}\nthrottle: {rate: 10, burst: 20}\naccess_log: {format: clf}\n",
    ));
    let kinds: Vec<NoteKind> = exported.notes.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [NoteKind::OutsideDefinition; 4]);
    let text: Vec<String> = exported.notes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "stage: stage `prod` is created beside the imported API (`aws apigatewayv2 create-stage`); an OpenAPI definition names no stage",
            "stage_variables: stage variables are set on the stage (`create-stage --stage-variables`), not in an OpenAPI definition",
            "throttle: the API-wide limit is the stage's DefaultRouteSettings (ThrottlingRateLimit, ThrottlingBurstLimit), not part of an OpenAPI definition",
            "access_log.format: an access-log format is the stage's AccessLogSettings (with a CloudWatch Logs destination), not part of an OpenAPI definition",
        ]
    );
}

#[test]
fn functions_are_named_with_the_account_that_holds_them() {
    let yaml = "functions:\n  orders: {runtime: nodejs, handler: index.handler}\nroutes:\n  GET /o:\n    function: orders\n";
    assert_eq!(
        notes(yaml),
        [
            "account_id: the Lambda ARNs name the default account 123456789012, a placeholder; set `account_id` (and `region`) to where the functions are deployed",
            "functions.orders: a Lambda function is deployed outside API Gateway; integrations and authorizers name it by ARN (function `orders` in us-east-1 of account 123456789012)",
        ]
    );
    let yaml = format!("region: eu-west-1\naccount_id: \"111122223333\"\n{yaml}");
    assert_eq!(
        notes(&yaml),
        [
            "functions.orders: a Lambda function is deployed outside API Gateway; integrations and authorizers name it by ARN (function `orders` in eu-west-1 of account 111122223333)"
        ]
    );
}

#[test]
fn debug_headers_are_left_out() {
    assert_eq!(
        notes("debug_headers: true\n"),
        ["debug_headers: AWS never tells clients why they were denied; left out"]
    );
}

#[test]
fn the_api_cors_policy_is_the_cors_extension() {
    let exported = export_openapi(&config(
        "cors:\n  allow_origins: [https://app.example.com]\n  allow_methods: [GET]\n",
    ));
    assert_eq!(
        exported.document["x-amazon-apigateway-cors"],
        json!({"allowOrigins": ["https://app.example.com"], "allowMethods": ["GET"], "allowCredentials": false})
    );
}

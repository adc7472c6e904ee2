//! The export against AWS's own shapes: the native equivalents of portcullis-import's OpenAPI
//! fixtures (which follow AWS's examples; see that crate's `tests/fixtures/FIXTURES.md`) export
//! to documents whose key fields are the fixtures'. Spellings AWS accepts either way are
//! compared as one: `type` in any case; `payloadFormatVersion` as a number or a string, and
//! left unsaid or `"1.0"` on an HTTP proxy; an `http_proxy` `httpMethod` equal to the route's or
//! `ANY`; a bare function ARN or its invocation URI; a lone `${variable}` or `$variable` as a
//! mapping value; no `security` or `security: []`; no `timeoutInMillis` or AWS's default 30000;
//! header names in identity sources in any case.

use std::path::Path;

use serde_json::{Map, Value, json};

/// The native config `tests/fixtures/NAME.yaml`.
fn native(name: &str) -> portcullis_config::Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.yaml"));
    portcullis_config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// portcullis-import's fixture `openapi/FILE`, as JSON.
fn aws(file: &str) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../portcullis-import/tests/fixtures/openapi").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if file.ends_with(".json") {
        serde_json::from_str(&text).unwrap()
    } else {
        serde_saphyr::from_str(&text).unwrap()
    }
}

/// What import-api makes of a document: routes, integrations, authorizers, CORS.
fn key_fields(doc: &Value) -> Value {
    let integrations = &doc["components"]["x-amazon-apigateway-integrations"];
    let mut routes = Map::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_owned(),
                "parameters" => continue,
                m => m.to_ascii_uppercase(),
            };
            let key =
                if op["isDefaultRoute"] == true { "$default".to_owned() } else { format!("{method} {path}") };
            let mut integration = &op["x-amazon-apigateway-integration"];
            if let Some(name) = integration["$ref"].as_str() {
                let name = name.rsplit('/').next().unwrap();
                integration = &integrations[name];
            }
            let security = match &op["security"] {
                Value::Null => json!([]),
                s => s.clone(),
            };
            routes.insert(
                key,
                json!({"integration": integration_fields(integration, &method), "security": security}),
            );
        }
    }
    let mut authorizers = Map::new();
    if let Some(schemes) = doc["components"]["securitySchemes"].as_object() {
        for (name, scheme) in schemes {
            authorizers.insert(name.clone(), authorizer_fields(scheme));
        }
    }
    let cors = &doc["x-amazon-apigateway-cors"];
    let cors = if cors.is_null() {
        Value::Null
    } else {
        let mut c = cors.as_object().unwrap().clone();
        c.entry("allowCredentials").or_insert(json!(false));
        Value::Object(c)
    };
    json!({"routes": routes, "authorizers": authorizers, "cors": cors})
}

fn integration_fields(i: &Value, route_method: &str) -> Value {
    let kind = i["type"].as_str().unwrap().to_ascii_lowercase();
    let mut method = i["httpMethod"].as_str().unwrap_or("ANY").to_ascii_uppercase();
    if kind == "http_proxy" && method == route_method {
        method = "ANY".into();
    }
    let mut uri = i["uri"].as_str().unwrap().to_owned();
    if uri.starts_with("arn:aws:lambda:") {
        let region = uri.split(':').nth(3).unwrap();
        uri = format!("arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{uri}/invocations");
    }
    json!({
        "type": kind,
        "httpMethod": method,
        "uri": uri,
        // HTTP proxies have one payload version, 1.0, which a definition may leave unsaid.
        "payloadFormatVersion": match version(&i["payloadFormatVersion"]) {
            Value::Null if kind == "http_proxy" => json!("1.0"),
            v => v,
        },
        "timeoutInMillis": i.get("timeoutInMillis").cloned().unwrap_or(json!(30000)),
        "connectionType": i.get("connectionType").cloned().unwrap_or(json!("INTERNET")),
        "requestParameters": mapping_values(i.get("requestParameters").cloned().unwrap_or(json!({}))),
        "responseParameters": mapping_values(i.get("responseParameters").cloned().unwrap_or(json!({}))),
    })
}

fn authorizer_fields(scheme: &Value) -> Value {
    let ext = &scheme["x-amazon-apigateway-authorizer"];
    let kind = ext["type"].as_str().unwrap().to_ascii_lowercase();
    let sources: Vec<String> = ext["identitySource"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix("$request.header.") {
            Some(name) => format!("$request.header.{}", name.to_ascii_lowercase()),
            None => s.to_owned(),
        })
        .collect();
    if kind == "jwt" {
        let config = &ext["jwtConfiguration"];
        let issuer = match config["issuer"].as_str() {
            Some(i) => i.to_owned(),
            None => {
                let url = scheme["openIdConnectUrl"].as_str().unwrap();
                url.strip_suffix("/.well-known/openid-configuration").unwrap().to_owned()
            }
        };
        json!({"type": kind, "issuer": issuer, "audience": config["audience"], "identitySource": sources})
    } else {
        let ttl = match &ext["authorizerResultTtlInSeconds"] {
            Value::String(s) => json!(s.parse::<u64>().unwrap()),
            v => v.clone(),
        };
        json!({
            "type": kind,
            "identitySource": sources,
            "authorizerUri": ext["authorizerUri"],
            "authorizerPayloadFormatVersion": version(&ext["authorizerPayloadFormatVersion"]),
            "enableSimpleResponses": ext["enableSimpleResponses"],
            "authorizerResultTtlInSeconds": ttl,
        })
    }
}

/// Mapping values with a lone `${variable}` written `$variable`, the same value.
fn mapping_values(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, mapping_values(v))).collect()),
        Value::String(s) => match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            Some(var) if !var.contains(['{', '}']) => json!(format!("${var}")),
            _ => json!(s),
        },
        v => v,
    }
}

/// `"2.0"`, `2.0` and `2` are one version.
fn version(v: &Value) -> Value {
    match v {
        Value::String(s) => json!(s),
        Value::Number(n) => json!(format!("{:.1}", n.as_f64().unwrap())),
        _ => Value::Null,
    }
}

#[track_caller]
fn assert_exports_as(native_name: &str, aws_file: &str) {
    let exported = portcullis_export::export_openapi(&native(native_name));
    let ours = key_fields(&exported.document);
    let theirs = key_fields(&aws(aws_file));
    assert_eq!(
        ours,
        theirs,
        "\n--- ours ---\n{}\n--- AWS-shaped ---\n{}",
        serde_json::to_string_pretty(&ours).unwrap(),
        serde_json::to_string_pretty(&theirs).unwrap()
    );
    assert_eq!(exported.document["openapi"], "3.0.1");
    assert_eq!(exported.document["x-amazon-apigateway-importexport-version"], "1.0");
}

#[test]
fn orders_exports_as_awss_http_api_examples_write_it() {
    assert_exports_as("orders", "orders.yaml");
}

#[test]
fn pet_store_exports_as_awss_example_pet_store() {
    assert_exports_as("petstore", "petstore.json");
}

#[test]
fn a_jwt_protected_api_exports_as_the_console_exports_it() {
    assert_exports_as("wso2", "wso2.yaml");
}

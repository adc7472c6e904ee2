//! Native overlays laid over an import.

use portcullis_config::{AuthorizerConfig, FunctionRuntime, Integration, Issuer, KeySource};
use portcullis_import::{SourceKind, merge_overlay};

use crate::support::{assert_has, diagnostics, import, load, read};

fn orders() -> portcullis_import::Imported {
    import(SourceKind::OpenApi, "openapi/orders.yaml")
}

#[test]
fn an_overlay_supplies_what_the_definition_cannot_say_and_the_result_loads() {
    let imported = orders();
    assert!(imported.has_errors());
    let merged =
        merge_overlay(&imported, &read("overlay/orders-overlay.yaml"), "overlay/orders-overlay.yaml")
            .unwrap();
    // Every "how does this function run" error is resolved by the overlay.
    assert!(merged.diagnostics.is_empty(), "{:?}", diagnostics(&merged));
    assert!(!merged.has_errors());
    let yaml = &merged.yaml;
    assert_has(yaml, "listen: 127.0.0.1:8088\n");
    // Key by key: the imported issuer and audience stay, the overlay adds a local key file.
    assert_has(
        yaml,
        "  # from openapi/orders.yaml:76, overlay/orders-overlay.yaml:4\n  cognito:\n    type: jwt\n    issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI\n    audience: [5hbo4rsn1lbk2mjt9ge2ctvfsp]\n    identity_source: [$request.header.Authorization]\n    jwks_file: keys/cognito-jwks.json\n",
    );
    assert_has(yaml, "  discovered:\n    type: jwt\n    issuer: dev\n    audience: [orders-api]\n");
    assert_has(yaml, "  orders:\n    runtime: nodejs\n    handler: src/orders.handler\n    dir: functions\n");
    // `http` replaces the imported `function`; a null value removes a key.
    assert_has(yaml, "  $default:\n    http: http://127.0.0.1:3000\n");
    assert!(!yaml.contains("    function: fallback"), "{yaml}");
    assert_has(
        yaml,
        "  tenant-auth:\n    invoke_url: http://127.0.0.1:9001/2015-03-31/functions/function/invocations\n",
    );

    let config = load(&merged);
    assert_eq!(config.listen.to_string(), "127.0.0.1:8088");
    let AuthorizerConfig::Jwt(cognito) = &config.authorizers["cognito"] else {
        panic!("cognito is a JWT authorizer")
    };
    assert!(matches!(&cognito.keys, KeySource::JwksFile(p) if p.ends_with("keys/cognito-jwks.json")));
    assert!(matches!(&cognito.issuer, Issuer::Url { .. }));
    let AuthorizerConfig::Jwt(discovered) = &config.authorizers["discovered"] else {
        panic!("discovered is a JWT authorizer")
    };
    assert_eq!(discovered.issuer, Issuer::Dev);
    assert!(matches!(&config.functions["tenant-auth"].runtime, FunctionRuntime::Remote { .. }));
    assert!(
        matches!(&config.functions["orders"].runtime, FunctionRuntime::Nodejs { handler } if handler == "src/orders.handler")
    );
    let default = config.routes.iter().find(|r| r.key.to_string() == "$default").unwrap();
    assert!(matches!(&default.integration, Integration::Http(_)));
}

#[test]
fn merged_lines_trace_back_to_either_file() {
    let merged =
        merge_overlay(&orders(), &read("overlay/orders-overlay.yaml"), "overlay/orders-overlay.yaml")
            .unwrap();
    let line_of = |text: &str| merged.yaml.lines().position(|l| l == text).unwrap() + 1;
    let key_file = merged.source_of(line_of("    jwks_file: keys/cognito-jwks.json")).unwrap();
    assert_eq!((&*key_file.origin, key_file.line, key_file.column), ("overlay/orders-overlay.yaml", 5, 16));
    let listen = merged.source_of(line_of("listen: 127.0.0.1:8088")).unwrap();
    assert_eq!((&*listen.origin, listen.line), ("overlay/orders-overlay.yaml", 2));
    let route = merged.source_of(line_of("  DELETE /orders/{id}:")).unwrap();
    assert_eq!((&*route.origin, route.line), ("openapi/orders.yaml", 26));
    assert_has(&merged.yaml, "# Merged with the overlay overlay/orders-overlay.yaml: its keys win.\n");
}

#[test]
fn errors_the_overlay_does_not_address_remain() {
    let overlay = "functions:\n  orders: {runtime: nodejs, handler: index.handler}\n";
    let merged = merge_overlay(&orders(), overlay, "overlay.yaml").unwrap();
    let left: Vec<String> = merged.diagnostics.iter().map(|d| d.message.clone()).collect();
    assert_eq!(
        left,
        [
            "function `orders-admin` is defined outside this file: Portcullis does not know how to run it",
            "function `fallback` is defined outside this file: Portcullis does not know how to run it",
            "function `tenant-auth` is defined outside this file: Portcullis does not know how to run it",
        ]
    );
}

#[test]
fn a_new_type_replaces_an_authorizer_and_new_entries_say_where_they_come_from() {
    let overlay = "\
authorizers:
  tenantAuth:
    type: jwt
    issuer: dev
    audience: [tenants]
routes:
  GET /version:
    respond: {status: 200, body: v1}
";
    let merged = merge_overlay(&orders(), overlay, "local.yaml").unwrap();
    assert_has(
        &merged.yaml,
        "  # from openapi/orders.yaml:94, local.yaml:2\n  tenantAuth:\n    type: jwt\n    issuer: dev\n    audience: [tenants]\n\nfunctions:\n",
    );
    // Its function is used no more: gone, and so is the error asking how it runs.
    assert!(!merged.yaml.contains("tenant-auth"), "{}", merged.yaml);
    assert!(merged.diagnostics.iter().all(|d| !d.message.contains("tenant-auth")));
    assert_has(
        &merged.yaml,
        "  # from local.yaml:7\n  GET /version:\n    respond:\n      status: 200\n      body: v1\n",
    );
}

#[test]
fn an_overlay_that_is_not_a_mapping_or_not_yaml_is_refused() {
    let err = merge_overlay(&orders(), "- listen\n", "overlay.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "overlay.yaml:1:1: error: an overlay is a native Portcullis config: a mapping at the top level"
    );
    let err = merge_overlay(&orders(), "routes: {a: [\n", "overlay.yaml").unwrap_err();
    assert_eq!(err.diagnostics[0].origin, "overlay.yaml");
    assert!(err.diagnostics[0].message.starts_with("invalid YAML"), "{err}");
}

#[test]
fn every_fixture_with_errors_loads_once_its_overlay_resolves_them() {
    let cases = [
        (SourceKind::OpenApi, "openapi/unsupported.yaml", "overlay/unsupported-openapi.yaml"),
        (SourceKind::Sam, "sam/unsupported.yaml", "overlay/unsupported-sam.yaml"),
        (SourceKind::Serverless, "serverless/v4-request-authorizer.yml", "overlay/v4.yaml"),
    ];
    for (kind, definition, overlay) in cases {
        let imported = import(kind, definition);
        assert!(imported.has_errors(), "{definition}");
        let merged = merge_overlay(&imported, &read(overlay), overlay).unwrap();
        // What remains are routes left out on purpose (IAM, VPC links...): they do not stop a load.
        let errors: Vec<String> = merged
            .diagnostics
            .iter()
            .filter(|d| d.severity == portcullis_import::Severity::Error)
            .map(|d| d.message.clone())
            .collect();
        assert!(errors.iter().all(|e| e.contains("left out")), "{definition}: {errors:?}");
        load(&merged);
    }
}

#[test]
fn an_overlay_route_replaces_one_the_import_left_out() {
    let imported = import(SourceKind::Sam, "sam/unsupported.yaml");
    let merged =
        merge_overlay(&imported, &read("overlay/unsupported-sam.yaml"), "overlay/unsupported-sam.yaml")
            .unwrap();
    assert!(
        merged.diagnostics.iter().all(|d| !d.message.contains("GET /secret")),
        "{:?}",
        diagnostics(&merged)
    );
    assert_has(
        &merged.yaml,
        "  # from overlay/unsupported-sam.yaml:13\n  GET /secret:\n    function: HelloFunction\n    authorizer: local\n",
    );
    let config = load(&merged);
    assert!(
        config
            .routes
            .iter()
            .any(|r| r.key.to_string() == "GET /secret" && r.authorizer.as_deref() == Some("local"))
    );
}

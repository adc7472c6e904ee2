//! OpenAPI 3.0 with API Gateway's extensions.

use portcullis_config::Integration;
use portcullis_import::{ImportOptions, Severity, SourceKind, import};

use crate::support::{assert_has, diagnostics, import as import_fixture, load, positions, read};

#[test]
fn pet_store_json_imports_http_proxy_routes_and_cors() {
    let imported = import_fixture(SourceKind::OpenApi, "openapi/petstore.json");
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    assert_has(
        &imported.yaml,
        "routes:\n  # from openapi/petstore.json:10\n  GET /pets:\n    http: http://127.0.0.1:4010/petstore/pets\n  # from openapi/petstore.json:29\n  POST /pets:\n",
    );
    // A number payloadFormatVersion is read; HTTP integrations have no choice, so none is written.
    assert_has(
        &imported.yaml,
        "  GET /pets/{petId}:\n    http: http://127.0.0.1:4010/petstore/pets/{petId}\n",
    );
    assert!(!imported.yaml.contains("payload_format_version"));
    assert_has(
        &imported.yaml,
        "cors:\n  allow_origins: [\"*\"]\n  allow_methods: [GET, OPTIONS, POST]\n  allow_headers: [x-amzm-header, x-apigateway-header, x-api-key, authorization, x-amz-date, content-type]\n",
    );
    let config = load(&imported);
    assert_eq!(config.routes.len(), 3);
    let get_pet = config.routes.iter().find(|r| r.key.to_string() == "GET /pets/{petId}").unwrap();
    assert!(
        matches!(&get_pet.integration, Integration::Http(url) if url.to_string().ends_with("/petstore/pets/{petId}"))
    );
}

#[test]
fn orders_maps_every_extension_to_native_keys() {
    let imported = import_fixture(SourceKind::OpenApi, "openapi/orders.yaml");
    let yaml = &imported.yaml;
    assert_has(
        yaml,
        "cors:\n  allow_origins: [\"https://app.example.com\"]\n  allow_methods: [GET, POST]\n  allow_headers: [authorization, content-type]\n  expose_headers: [apigw-requestid]\n  max_age: 600\n  allow_credentials: true\n",
    );
    // JWT from jwtConfiguration; JWT from an openIdConnect scheme's discovery URL.
    assert_has(
        yaml,
        "  cognito:\n    type: jwt\n    issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI\n    audience: [5hbo4rsn1lbk2mjt9ge2ctvfsp]\n    identity_source: [$request.header.Authorization]\n",
    );
    assert_has(
        yaml,
        "  discovered:\n    type: jwt\n    issuer: https://idp.example.com/realms/main\n    audience: [orders-api]\n",
    );
    // A Lambda REQUEST authorizer: the comma-separated identitySource, a TTL written as a string.
    assert_has(
        yaml,
        "  tenantAuth:\n    type: lambda\n    function: tenant-auth\n    event: request\n    payload_format_version: \"2.0\"\n    simple_responses: true\n    identity_source: [$request.header.Authorization, $context.routeKey]\n    result_ttl: 300s\n",
    );
    // $ref integrations, the long invocation-URI form, timeouts and scopes.
    assert_has(
        yaml,
        "  POST /orders:\n    function: orders\n    timeout: 10s\n    payload_format_version: \"2.0\"\n    authorizer: cognito\n    scopes: [orders/write]\n",
    );
    assert_has(
        yaml,
        "  GET /orders/{id}:\n    function: orders\n    timeout: 10s\n    payload_format_version: \"2.0\"\n    authorizer: cognito\n    scopes: [orders/read, orders/write]\n",
    );
    // A bare function ARN, a number payloadFormatVersion, an odd timeout.
    assert_has(
        yaml,
        "  DELETE /orders/{id}:\n    function: orders-admin\n    timeout: 2500ms\n    payload_format_version: \"1.0\"\n    authorizer: tenantAuth\n",
    );
    // x-amazon-apigateway-any-method on a greedy path, requestParameters, responseParameters.
    assert_has(
        yaml,
        "  ANY /admin/{proxy+}:\n    http: https://admin.internal.example.com/{proxy}\n    authorizer: tenantAuth\n    parameter_mapping:\n      append:header.x-tenant: $context.authorizer.tenantId\n      overwrite:header.x-user: ${context.authorizer.principalId}\n      remove:querystring.debug: \"''\"\n    response_parameters:\n      \"500\":\n        overwrite:statuscode: \"502\"\n        append:header.x-failed: \"true\"\n",
    );
    // `security: []` is public; `/$default` with isDefaultRoute is the $default route.
    assert_has(yaml, "  GET /status:\n    http: http://127.0.0.1:3000/status\n    authorizer: none\n");
    assert_has(
        yaml,
        "  # from openapi/orders.yaml:66\n  $default:\n    function: fallback\n    payload_format_version: \"2.0\"\n",
    );
    assert_has(
        yaml,
        "  GET /profile:\n    function: orders\n    timeout: 10s\n    payload_format_version: \"2.0\"\n    authorizer: discovered\n    scopes: [profile]\n",
    );
    // Functions named only by ARN: errors the overlay resolves, one per function.
    assert_eq!(
        positions(&imported),
        ["32:14 error", "71:14 error", "101:24 error", "109:12 error"],
        "{:?}",
        diagnostics(&imported)
    );
    assert_eq!(
        imported.diagnostics[3].to_string(),
        "openapi/orders.yaml:109:12: error: components.x-amazon-apigateway-integrations.ordersFunction.uri: \
         function `orders` is defined outside this file: Portcullis does not know how to run it\n  \
         help: give `functions.orders` a `runtime`, `handler` and `dir` (or an `invoke_url`) in the overlay"
    );
    assert_has(
        yaml,
        "functions:\n  # from openapi/orders.yaml:101\n  # How it runs is not in the definition: give runtime, handler and dir (or invoke_url) in an overlay.\n  tenant-auth: {}\n",
    );
}

#[test]
fn every_unsupported_feature_is_reported_at_its_line_and_column() {
    let imported = import_fixture(SourceKind::OpenApi, "openapi/unsupported.yaml");
    let expected = [
        "3:1 warning: a root-level `security` is not applied to routes by API Gateway; routes without their own `security` are public",
        "5:1 warning: `x-amazon-apigateway-api-key-source` is a REST API setting; HTTP APIs ignore it",
        "6:1 warning: `x-amazon-apigateway-binary-media-types` is a REST API setting; HTTP APIs ignore it",
        "14:25 error: route `GET /private-link`: a VPC link integration (connectionType: VPC_LINK) reaches a private AWS network Portcullis cannot join; left out",
        "20:11 error: route `GET /iam` uses IAM authorization (AWS_IAM, SigV4), which Portcullis cannot check; left out",
        "27:15 error: route `POST /iam-extension` uses IAM authorization (AWS_IAM, SigV4), which Portcullis cannot check; left out",
        "33:7 warning: `x-amazon-apigateway-request-validator`: request validation is a REST API feature; HTTP APIs do not validate requests",
        "38:9 warning: integration `passthroughBehavior` is a REST API setting; HTTP API proxy integrations ignore it",
        "39:22 warning: `credentials` (the IAM role API Gateway assumes to invoke the integration) has no meaning locally; ignored",
        "43:15 error: route `GET /mock`: integration type `mock` is not an HTTP API integration (only aws_proxy and http_proxy are); left out",
        "44:9 warning: integration `requestTemplates` is a REST API setting; HTTP API proxy integrations ignore it",
        "50:29 error: route `POST /sqs`: AWS service integration `SQS-SendMessage` is not supported; left out",
        "58:9 error: route `GET /two-authorizers`: several security requirements; API Gateway allows one authorizer per route (IAM, Lambda or JWT); left out",
        "66:11 error: route `GET /basic` requires security scheme `basicAuth`, which Portcullis cannot enforce; left out",
        "73:11 warning: route `GET /lambda-scopes`: scopes apply to JWT authorizers only; `lambdaAuth` is a Lambda authorizer, scopes ignored",
        "76:9 warning: httpMethod POST: Portcullis forwards the client's method (GET) unchanged",
        "80:7 warning: route `GET /no-integration` has no x-amazon-apigateway-integration; left out",
        "81:5 warning: TRACE is not a method HTTP API routes support; left out",
        "93:11 warning: `tlsConfig` (serverNameToVerify for private integrations) is not supported; the upstream's certificate is checked against its host name",
        "110:7 warning: security scheme `basicAuth` has no x-amazon-apigateway-authorizer: API Gateway cannot enforce it; routes requiring it are left out",
        "117:9 warning: authorizer `lambdaAuth`: `type: token` is a REST API authorizer; run as a TOKEN authorizer",
        "118:24 warning: version or alias `live` of function `token-auth` ignored: Portcullis runs the code it is given",
        "118:24 error: function `token-auth` is defined outside this file: Portcullis does not know how to run it",
        "119:32 warning: `authorizerCredentials` (the IAM role API Gateway assumes to invoke the authorizer) has no meaning locally; ignored",
    ];
    assert_eq!(diagnostics(&imported), expected);
    // What can be served still is, and nothing that cannot be is.
    let routes_section = imported.yaml.split("\nroutes:\n").nth(1).unwrap();
    let routes: Vec<&str> = routes_section
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && !l.contains('#'))
        .collect();
    assert_eq!(routes, ["  POST /validated:", "  GET /lambda-scopes:", "  GET /served:"]);
    // REST's TOKEN authorizer, with its identity source and validation expression translated.
    assert_has(
        &imported.yaml,
        "  lambdaAuth:\n    type: lambda\n    function: token-auth\n    event: token\n    identity_source: [$request.header.Authorization]\n    result_ttl: 60s\n    token_validation: ^Bearer [-0-9a-zA-Z._]*$\n",
    );
}

#[test]
fn a_vpc_link_error_names_the_overlay_key_that_replaces_the_route() {
    let imported = import_fixture(SourceKind::OpenApi, "openapi/unsupported.yaml");
    let vpc = imported.diagnostics.iter().find(|d| d.message.contains("VPC_LINK")).unwrap();
    assert_eq!(vpc.severity, Severity::Error);
    assert_eq!(vpc.path, "paths.\"/private-link\".get.x-amazon-apigateway-integration.connectionType");
    assert_eq!(
        vpc.help.as_deref(),
        Some("give `routes.\"GET /private-link\"` an `http` URL the gateway can reach, in the overlay")
    );
}

#[test]
fn swagger_2_is_refused_as_on_aws() {
    let err = import(
        SourceKind::OpenApi,
        &read("openapi/swagger2.yaml"),
        "openapi/swagger2.yaml",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "openapi/swagger2.yaml:1:10: error: swagger: Swagger 2.0 (OpenAPI 2.0) cannot be imported: HTTP APIs import OpenAPI 3.0 definitions only, as on AWS"
    );
}

#[test]
fn a_document_without_a_version_and_a_syntax_error_are_refused_with_positions() {
    let options = ImportOptions::default();
    let err = import(SourceKind::OpenApi, "info: {title: x}\npaths: {}\n", "api.yaml", &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "api.yaml:1:1: error: not an OpenAPI document: no `openapi` version at the top level"
    );
    let err =
        import(SourceKind::OpenApi, "openapi: 3.0.1\npaths:\n  /a: [\n", "api.yaml", &options).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert_eq!((err.diagnostics[0].line, err.diagnostics[0].severity), (3, Severity::Error));
    assert!(err.diagnostics[0].message.starts_with("invalid YAML"), "{err}");
}

#[test]
fn json_with_tabs_reads_like_yaml_and_duplicate_keys_warn() {
    let json = "{\n\t\"openapi\": \"3.0.1\",\n\t\"paths\": {\n\t\t\"/a\": {\"get\": {\"x-amazon-apigateway-integration\": {\"type\": \"HTTP_PROXY\", \"uri\": \"http://127.0.0.1:3000/a\", \"uri\": \"http://127.0.0.1:3000/b\"}}}\n\t}\n}\n";
    let imported = import(SourceKind::OpenApi, json, "api.json", &ImportOptions::default()).unwrap();
    assert_has(&imported.yaml, "  GET /a:\n    http: http://127.0.0.1:3000/a\n");
    assert_eq!(
        diagnostics(&imported),
        ["4:110 warning: duplicate key \"uri\" (first written at line 4, column 76); the first is used"]
    );
}

#[test]
fn wso2_style_jwt_authorizer_takes_the_client_id_as_audience() {
    let imported = import_fixture(SourceKind::OpenApi, "openapi/wso2.yaml");
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    assert_has(
        &imported.yaml,
        "  wso2-jwt:\n    type: jwt\n    issuer: https://localhost:9443/oauth2/token\n    audience: [Kp3XzqfGxIfOA4PdXvPAxyUkYq0a]\n    identity_source: [$request.header.Authorization]\n",
    );
    assert_has(
        &imported.yaml,
        "  GET /employees/{employeeId}:\n    http: http://127.0.0.1:8081/employees/{employeeId}\n    authorizer: wso2-jwt\n",
    );
    let config = load(&imported);
    let authorizer = &config.authorizers["wso2-jwt"];
    assert!(format!("{authorizer:?}").contains("Kp3XzqfGxIfOA4PdXvPAxyUkYq0a"));
    assert!(config.routes.iter().all(|r| r.authorizer.as_deref() == Some("wso2-jwt")));
}

#[test]
fn each_output_line_traces_back_to_the_definition() {
    let imported = import_fixture(SourceKind::OpenApi, "openapi/orders.yaml");
    let line_of = |text: &str| imported.yaml.lines().position(|l| l == text).unwrap() + 1;
    let route = imported.source_of(line_of("  DELETE /orders/{id}:")).unwrap();
    assert_eq!((&*route.origin, route.line, route.column), ("openapi/orders.yaml", 26, 5));
    // Lines inside an entry point at the entry; comments point nowhere.
    assert_eq!(imported.source_of(line_of("    function: orders-admin")).unwrap().line, 26);
    assert!(imported.source_of(line_of("  # from openapi/orders.yaml:26")).is_none());
    assert!(imported.source_of(1).is_none());
}

#[test]
fn the_kind_of_a_definition_is_detected() {
    use crate::support::read as text;
    assert_eq!(SourceKind::detect(&text("openapi/petstore.json")), Some(SourceKind::OpenApi));
    assert_eq!(SourceKind::detect(&text("openapi/swagger2.yaml")), Some(SourceKind::OpenApi));
    assert_eq!(SourceKind::detect(&text("sam/clerk.yaml")), Some(SourceKind::Sam));
    assert_eq!(SourceKind::detect(&text("serverless/supertokens.yml")), Some(SourceKind::Serverless));
    assert_eq!(SourceKind::detect("listen: 127.0.0.1:8080\n"), None);
}

#[test]
fn aws_variables_and_fn_sub_name_functions_in_a_stand_alone_definition() {
    let definition = r#"openapi: "3.0.1"
info: {title: tasks-api, version: v1.0}
paths:
  /tasks:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:ListTasks/invocations
        payloadFormatVersion: "2.0"
  /tasks/{id}:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        payloadFormatVersion: "2.0"
        uri:
          Fn::Sub: arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${GetTaskFunction.Arn}/invocations
"#;
    let imported = import(SourceKind::OpenApi, definition, "tasks.yaml", &ImportOptions::default()).unwrap();
    assert_has(&imported.yaml, "  GET /tasks:\n    function: ListTasks\n");
    assert_has(&imported.yaml, "  GET /tasks/{id}:\n    function: GetTaskFunction\n");
    assert_eq!(positions(&imported), ["9:14 error", "17:11 error"], "{:?}", diagnostics(&imported));
}

//! Serverless Framework services.

use portcullis_config::AuthorizerConfig;
use portcullis_import::{ImportOptions, SourceKind, import};

use crate::support::{assert_has, diagnostics, import as import_fixture, import_with, load};

#[test]
fn supertokens_style_jwt_authorizer_with_variables_resolved() {
    let imported = import_fixture(SourceKind::Serverless, "serverless/supertokens.yml");
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    let yaml = &imported.yaml;
    // issuerUrl = ${self:custom.apiDomain}${self:custom.apiBasePath}; apiDomain falls back.
    assert_has(
        yaml,
        "  supertokens:\n    type: jwt\n    issuer: https://api.example.com/auth\n    audience: [jwtAuthorizers]\n    identity_source: [$request.header.Authorization]\n",
    );
    // The Framework's defaults: 6s timeout, 1024 MB; provider.environment under the function's.
    assert_has(
        yaml,
        "  user:\n    runtime: nodejs\n    handler: src/user.handler\n    dir: .\n    timeout: 10s\n    memory: 1024\n    environment:\n      SUPERTOKENS_CONNECTION_URI: http://127.0.0.1:3567\n      STAGE: dev\n      WEBSITE_DOMAIN: http://localhost:3000\n",
    );
    // Short forms: 'ANY /path' and '*'; the object form with scopes; a bare authorizer name.
    assert_has(yaml, "  ANY /auth/{proxy+}:\n    function: auth\n");
    assert_has(
        yaml,
        "  GET /user:\n    function: user\n    authorizer: supertokens\n    scopes: [\"user:read\"]\n",
    );
    assert_has(yaml, "  DELETE /user/{id}:\n    function: user\n    authorizer: supertokens\n");
    assert_has(yaml, "  $default:\n    function: fallback\n");
    // cors: true is the Framework's default set, methods filled from the routes.
    assert_has(
        yaml,
        "cors:\n  allow_origins: [\"*\"]\n  allow_methods: [OPTIONS, GET, POST, PUT, PATCH, HEAD, DELETE]\n  allow_headers:\n    - Content-Type\n",
    );
    // provider.stage feeds variables; the HTTP API stays on $default, as the Framework deploys it.
    assert!(!yaml.contains("\nstage:"), "{yaml}");
    assert_has(
        yaml,
        "# Service `supertokens-api`, stage `dev`: the stage feeds variables only; the Serverless\n\
         # Framework deploys HTTP APIs to the $default stage, which this config keeps.\n\n",
    );
    let config = load(&imported);
    assert_eq!(config.stage, "$default");
    assert!(
        matches!(&config.authorizers["supertokens"], AuthorizerConfig::Jwt(j) if j.audience == ["jwtAuthorizers"])
    );
}

#[test]
fn stage_and_environment_come_from_the_options_only() {
    let mut options = ImportOptions::default().with_env(|name| match name {
        "API_DOMAIN" => Some("https://auth.shop.example".into()),
        "SUPERTOKENS_URI" => Some("https://try.supertokens.io".into()),
        _ => None,
    });
    options.stage = Some("prod".into());
    let imported = import_with(SourceKind::Serverless, "serverless/supertokens.yml", &options);
    assert_has(&imported.yaml, "    issuer: https://auth.shop.example/auth\n");
    assert_has(
        &imported.yaml,
        "      SUPERTOKENS_CONNECTION_URI: https://try.supertokens.io\n      STAGE: prod\n",
    );
    assert_has(&imported.yaml, "stage `prod`");
}

#[test]
fn request_authorizers_params_and_every_unsupported_feature() {
    let imported = import_fixture(SourceKind::Serverless, "serverless/v4-request-authorizer.yml");
    let expected = [
        "38:22 error: function `partner-authorizer` is defined outside this file: Portcullis does not know how to run it",
        "48:20 warning: variable source `ssm` (in `${ssm:/billing/signing-key}`) is not read by an import; its fallback applies, if any",
        "50:7 warning: function `invoices`: `layers`: layers are not loaded: put what they provide in the service directory (or NODE_PATH, PYTHONPATH)",
        "65:13 error: route `GET /internal/report` uses IAM authorization (aws_iam), which Portcullis cannot check; left out",
        "66:9 warning: function `invoices`: an `http` event belongs to a REST API; Portcullis serves HTTP APIs (`httpApi`); not imported",
        "71:14 error: function `exporter`: runtime `java17` cannot run in Portcullis (it runs nodejs, python and provided runtimes)",
        "74:9 warning: function `exporter`: a `schedule` event is not an HTTP API request; not imported",
    ];
    assert_eq!(diagnostics(&imported), expected);
    let yaml = &imported.yaml;
    assert_has(yaml, "region: eu-west-1\n");
    assert_has(
        yaml,
        "  apiKeyAuth:\n    type: lambda\n    function: authorizer\n    event: request\n    payload_format_version: \"2.0\"\n    simple_responses: true\n    identity_source: [$request.header.x-api-key]\n    result_ttl: 60s\n",
    );
    assert_has(
        yaml,
        "  partnerAuth:\n    type: lambda\n    function: partner-authorizer\n    event: request\n",
    );
    // ${param:tableName} from `stages.default.params`; ${ssm:...} falls back.
    assert_has(yaml, "    environment:\n      TABLE: billing-local\n      SIGNING_KEY: local-signing-key\n");
    assert_has(
        yaml,
        "  GET /invoices:\n    function: invoices\n    payload_format_version: \"2.0\"\n    authorizer: apiKeyAuth\n",
    );
    assert!(!yaml.contains("/internal/report") && !yaml.contains("/legacy/invoices"), "{yaml}");
    // An object cors with no methods gets OPTIONS plus the routes' methods.
    assert_has(
        yaml,
        "cors:\n  allow_origins: [\"https://billing.example.com\"]\n  allow_methods: [OPTIONS, GET, POST]\n  allow_headers: [authorization, content-type]\n  expose_headers: [apigw-requestid]\n  max_age: 300\n  allow_credentials: true\n",
    );
}

#[test]
fn parameters_follow_the_stage_and_the_options() {
    let mut options = ImportOptions::default();
    options.stage = Some("prod".into());
    let imported = import_with(SourceKind::Serverless, "serverless/v4-request-authorizer.yml", &options);
    assert_has(&imported.yaml, "      TABLE: billing-prod\n");
    options.parameters.insert("tableName".into(), "from-options".into());
    let imported = import_with(SourceKind::Serverless, "serverless/v4-request-authorizer.yml", &options);
    assert_has(&imported.yaml, "      TABLE: from-options\n");
}

#[test]
fn a_service_for_another_provider_or_no_service_is_refused() {
    let options = ImportOptions::default();
    let err =
        import(SourceKind::Serverless, "service: x\nprovider:\n  name: azure\n", "serverless.yml", &options)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "serverless.yml:3:9: error: provider.name: provider `azure` is not AWS: nothing to import"
    );
    let err = import(SourceKind::Serverless, "functions: {}\n", "serverless.yml", &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "serverless.yml:1:1: error: not a serverless.yml: `service` and `provider` are required"
    );
}

#[test]
fn a_service_written_in_json_is_read_as_its_yaml_would_be() {
    let json = r#"{
  "service": "json-api",
  "provider": {
    "name": "aws",
    "runtime": "python3.12",
    "stage": "${opt:stage, 'dev'}",
    "environment": {"STAGE": "${sls:stage}"},
    "httpApi": {
      "authorizers": {
        "idp": {"issuerUrl": "https://idp.example.com/", "audience": ["api"], "identitySource": "$request.header.Authorization"}
      }
    }
  },
  "functions": {
    "hello": {
      "handler": "app.handler",
      "events": [
        {"httpApi": {"method": "GET", "path": "/hello", "authorizer": {"name": "idp", "scopes": ["read"]}}},
        {"httpApi": "POST /items"}
      ]
    }
  }
}"#;
    let imported =
        import(SourceKind::Serverless, json, "serverless.json", &ImportOptions::default()).unwrap();
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    assert_has(
        &imported.yaml,
        "  idp:\n    type: jwt\n    issuer: https://idp.example.com/\n    audience: [api]\n    identity_source: [$request.header.Authorization]\n",
    );
    assert_has(
        &imported.yaml,
        "  GET /hello:\n    function: hello\n    authorizer: idp\n    scopes: [read]\n",
    );
    assert_has(&imported.yaml, "  POST /items:\n    function: hello\n");
    let config = load(&imported);
    assert_eq!(config.functions["hello"].environment.get("STAGE").map(String::as_str), Some("dev"));
}

//! AWS SAM templates.

use portcullis_config::{AuthorizerConfig, Integration};
use portcullis_import::{ImportOptions, SourceKind, import};

use crate::support::{assert_has, diagnostics, import as import_fixture, import_with, load, positions};

#[test]
fn auth0_sst_style_default_jwt_authorizer_with_a_public_route() {
    let imported = import_fixture(SourceKind::Sam, "sam/auth0-sst.yaml");
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    let yaml = &imported.yaml;
    assert_has(yaml, "default_authorizer: Auth0Authorizer\n");
    // The issuer keeps its trailing slash: it is compared byte for byte with `iss`.
    assert_has(
        yaml,
        "  Auth0Authorizer:\n    type: jwt\n    issuer: https://portcullis-demo.us.auth0.com/\n    audience: [q8fZ4bLw2TgXv9RkC1mNs7YhJ3uPe6Da]\n    identity_source: [$request.header.Authorization]\n",
    );
    // Globals.Function gives runtime, CodeUri and Timeout; the handler runs from CodeUri as is.
    assert_has(
        yaml,
        "  PrivateFunction:\n    runtime: nodejs\n    handler: src/private.main\n    dir: .\n    timeout: 10s\n",
    );
    assert_has(
        yaml,
        "  # from sam/auth0-sst.yaml:32\n  GET /private:\n    function: PrivateFunction\n  # from sam/auth0-sst.yaml:44\n  GET /public:\n    function: PublicFunction\n    authorizer: none\n",
    );
    let config = load(&imported);
    let route = |key: &str| config.routes.iter().find(|r| r.key.to_string() == key).unwrap();
    assert_eq!(route("GET /private").authorizer.as_deref(), Some("Auth0Authorizer"));
    assert_eq!(route("GET /public").authorizer, None);
    assert!(matches!(&route("GET /public").integration, Integration::Function(f) if f == "PublicFunction"));
    assert_eq!(
        config.functions["PublicFunction"].dir,
        std::path::absolute(imported.base_dir.join(".")).unwrap()
    );
}

#[test]
fn clerk_style_jwt_and_lambda_request_authorizers_with_intrinsics() {
    let imported = import_fixture(SourceKind::Sam, "sam/clerk.yaml");
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    let yaml = &imported.yaml;
    // StageName and StageVariables from !Ref and !Sub of parameters with Default.
    assert_has(yaml, "stage: dev\n\nstage_variables:\n  backend: http://127.0.0.1:3000\n");
    // The property's CorsConfiguration wins over Globals.HttpApi's.
    assert_has(
        yaml,
        "cors:\n  allow_origins: [\"https://app.example.com\"]\n  allow_methods: [GET, POST, DELETE]\n  allow_headers: [authorization, content-type]\n  expose_headers: [apigw-requestid]\n  max_age: 600\n  allow_credentials: true\n",
    );
    // Issuer = the Clerk frontend API URL, audience = the static `aud` added to session tokens.
    assert_has(
        yaml,
        "  ClerkJwtAuthorizer:\n    type: jwt\n    issuer: https://crisp-lemur-42.clerk.accounts.dev\n    audience: [ClerkJwtAuthorizer]\n",
    );
    // FunctionArn: !GetAtt names a function of the template; Identity becomes sources and TTL.
    assert_has(
        yaml,
        "  ClerkAdminAuthorizer:\n    type: lambda\n    function: ClerkAuthorizerFunction\n    event: request\n    payload_format_version: \"2.0\"\n    simple_responses: true\n    identity_source: [$request.header.Authorization, $context.routeKey]\n    result_ttl: 300s\n",
    );
    // Globals.Function under the function's own properties; environment from !Ref and !Sub.
    assert_has(
        yaml,
        "  ApiFunction:\n    runtime: python\n    handler: app.handler\n    dir: src\n    timeout: 15s\n    memory: 256\n    environment:\n      STAGE: dev\n      CLERK_ISSUER: https://crisp-lemur-42.clerk.accounts.dev\n      FUNCTION_ARN: arn:aws:lambda:us-east-1:123456789012:function:ApiFunction\n",
    );
    // DefinitionBody: !Join of a stage variable URL; Fn::Sub invocation URI; !FindInMap timeout.
    assert_has(yaml, "  GET /health:\n    http: ${stageVariables.backend}/health\n    authorizer: none\n");
    assert_has(
        yaml,
        "  GET /reports/{id}:\n    function: ApiFunction\n    timeout: 8s\n    payload_format_version: \"2.0\"\n    authorizer: ClerkAdminAuthorizer\n",
    );
    // Events: the JWT authorizer's AuthorizationScopes apply to routes that name none.
    assert_has(
        yaml,
        "  GET /me:\n    function: ApiFunction\n    authorizer: ClerkJwtAuthorizer\n    scopes: [profile]\n",
    );
    assert_has(
        yaml,
        "  ANY /admin/{proxy+}:\n    function: ApiFunction\n    timeout: 5s\n    payload_format_version: \"1.0\"\n    authorizer: ClerkAdminAuthorizer\n",
    );
    let config = load(&imported);
    assert_eq!(config.stage, "dev");
    assert!(
        matches!(&config.authorizers["ClerkAdminAuthorizer"], AuthorizerConfig::Lambda(l) if l.function == "ClerkAuthorizerFunction")
    );
    assert_eq!(
        config.functions["ClerkAuthorizerFunction"].dir,
        std::path::absolute(imported.base_dir.join("authorizer")).unwrap()
    );
}

#[test]
fn parameter_overrides_region_and_account_reach_the_output() {
    let mut options = ImportOptions::default();
    options.parameters.insert("StageName".into(), "prod".into());
    options.parameters.insert("ClerkFrontendApi".into(), "https://clerk.example.com".into());
    options.region = Some("eu-west-1".into());
    options.account_id = Some("111122223333".into());
    let imported = import_with(SourceKind::Sam, "sam/clerk.yaml", &options);
    let yaml = &imported.yaml;
    assert_has(yaml, "stage: prod\n");
    assert_has(yaml, "region: eu-west-1\naccount_id: \"111122223333\"\n");
    assert_has(yaml, "    issuer: https://clerk.example.com\n");
    assert_has(yaml, "      FUNCTION_ARN: arn:aws:lambda:eu-west-1:111122223333:function:ApiFunction\n");
    // FindInMap has no entry for `prod`: reported, and the route keeps the default timeout.
    assert_eq!(
        diagnostics(&imported),
        ["86:45 warning: `Fn::FindInMap` finds no Mappings.Limits.prod.TimeoutMs; left out"]
    );
    assert_has(
        yaml,
        "  GET /reports/{id}:\n    function: ApiFunction\n    payload_format_version: \"2.0\"\n",
    );
    let config = load(&imported);
    assert_eq!((config.region.as_str(), config.account_id.as_str()), ("eu-west-1", "111122223333"));
}

#[test]
fn every_unsupported_feature_is_reported_at_its_line_and_column() {
    let imported = import_fixture(SourceKind::Sam, "sam/unsupported.yaml");
    let expected = [
        "11:28 warning: DefaultAuthorizer AWS_IAM: routes without an Auth.Authorizer of their own use IAM authorization, which Portcullis cannot check; they are left out",
        "14:33 warning: throttling needs both `ThrottlingRateLimit` and `ThrottlingBurstLimit`; not applied",
        "16:9 warning: `Domain`: custom domains are not served; the gateway listens on `listen`",
        "19:3 warning: resource `LegacyApi` (AWS::Serverless::Api) is a REST API; Portcullis serves HTTP APIs; not imported",
        "27:20 warning: function `HelloFunction` is built by `sam build` (esbuild); Portcullis runs CodeUri as it is",
        "33:9 warning: function `HelloFunction`: `Layers`: layers are not loaded: put what they provide in the function's dir (or NODE_PATH, PYTHONPATH)",
        "36:23 warning: `Ref Table` stands for the physical id of a resource of type AWS::DynamoDB::Table, which exists only on AWS; left out",
        "37:30 warning: `Fn::GetAtt Table.Arn` cannot be resolved: only a function's Arn of this template can; left out",
        "38:32 warning: intrinsic `Fn::ImportValue` cannot be resolved (it reads another stack's outputs); left out",
        "39:21 warning: intrinsic `Fn::If` cannot be resolved (conditions are not evaluated); left out",
        "49:9 error: route `GET /secret` uses the API's default IAM authorization, which Portcullis cannot check; left out",
        "55:9 warning: event `Legacy` of function `HelloFunction` belongs to a REST API (Type: Api); Portcullis serves HTTP APIs; not imported",
        "61:9 warning: event `Queue` of function `HelloFunction` (Type: SQS) is not an HTTP API request; not imported",
        "69:16 error: function `JavaFunction`: runtime `java21` cannot run in Portcullis (it runs nodejs, python and provided runtimes)",
        "70:16 error: function `JavaFunction`: CodeUri \"s3://my-bucket/java-function.zip\" is in S3, not on this machine",
        "80:27 error: route `GET /report` uses IAM authorization (AWS_IAM), which Portcullis cannot check; left out",
        "88:9 error: function `InlineFunction`: InlineCode is not written anywhere Portcullis can run it",
        "91:9 warning: event `Implicit` belongs to API `ServerlessHttpApi`; only `Api` is imported",
    ];
    assert_eq!(diagnostics(&imported), expected);
    // Fail closed: the IAM-protected routes are absent, the public one is served.
    assert!(!imported.yaml.contains("GET /secret:") && !imported.yaml.contains("GET /report:"));
    assert_has(&imported.yaml, "  GET /hello:\n    function: HelloFunction\n    authorizer: none\n");
    // The environment keeps nothing it could not resolve.
    assert!(!imported.yaml.contains("environment"), "{}", imported.yaml);
}

#[test]
fn the_implicit_api_can_be_chosen_instead() {
    let mut options = ImportOptions::default();
    options.api = Some("ServerlessHttpApi".into());
    let imported = import_with(SourceKind::Sam, "sam/unsupported.yaml", &options);
    assert_has(&imported.yaml, "  GET /inline:\n    function: InlineFunction\n");
    assert!(!imported.yaml.contains("GET /hello:"));
    assert!(positions(&imported).contains(&"41:9 warning".to_owned()), "{:?}", diagnostics(&imported));
}

#[test]
fn long_form_intrinsics_and_json_templates_resolve_too() {
    let json = r#"{
  "Transform": "AWS::Serverless-2016-10-31",
  "Parameters": {"Origin": {"Type": "String", "Default": "https://app.example.com"}},
  "Resources": {
    "Fn": {
      "Type": "AWS::Serverless::Function",
      "Properties": {
        "Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": {"Fn::Join": ["/", ["target", "lambda", "fn"]]},
        "Environment": {"Variables": {"ORIGIN": {"Ref": "Origin"}, "SELF": {"Fn::Sub": "${Fn.Arn}"}}},
        "Events": {"Root": {"Type": "HttpApi"}}
      }
    }
  }
}"#;
    let imported = import(SourceKind::Sam, json, "template.json", &ImportOptions::default()).unwrap();
    assert!(imported.diagnostics.is_empty(), "{:?}", diagnostics(&imported));
    // A `provided` runtime starts `bootstrap` from CodeUri, as Lambda does.
    assert_has(
        &imported.yaml,
        "  Fn:\n    runtime: provided\n    handler: bootstrap\n    command: ./bootstrap\n    dir: target/lambda/fn\n    timeout: 3s\n    environment:\n      ORIGIN: https://app.example.com\n",
    );
    assert_has(&imported.yaml, "      SELF: arn:aws:lambda:us-east-1:123456789012:function:Fn\n");
    // An HttpApi event without Path and Method is the $default route.
    assert_has(&imported.yaml, "  $default:\n    function: Fn\n");
    load(&imported);
}

#[test]
fn a_template_without_resources_or_serverless_resources_is_refused() {
    let options = ImportOptions::default();
    let err =
        import(SourceKind::Sam, "AWSTemplateFormatVersion: '2010-09-09'\n", "t.yaml", &options).unwrap_err();
    assert_eq!(err.to_string(), "t.yaml:1:1: error: not a SAM template: no `Resources`");
    let err = import(
        SourceKind::Sam,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  B: {Type: AWS::S3::Bucket}\n",
        "t.yaml",
        &options,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.yaml:3:3: error: Resources: no AWS::Serverless::Function or AWS::Serverless::HttpApi in this template: nothing to serve"
    );
}

#[test]
fn import_file_makes_code_directories_relative_to_the_template() {
    let path = crate::support::fixture("sam/clerk.yaml");
    let imported = portcullis_import::import_file(SourceKind::Sam, &path, &ImportOptions::default()).unwrap();
    assert_eq!(imported.base_dir, path.parent().unwrap());
    assert_has(
        &imported.yaml,
        &format!("# Portcullis config imported from {} (AWS SAM template).\n", path.display()),
    );
    let config = load(&imported);
    assert_eq!(config.functions["ApiFunction"].dir, path.parent().unwrap().join("src"));
    let missing = path.with_file_name("missing.yaml");
    let err =
        portcullis_import::import_file(SourceKind::Sam, &missing, &ImportOptions::default()).unwrap_err();
    assert_eq!((err.diagnostics[0].line, err.diagnostics[0].column), (0, 0));
    assert!(err.to_string().contains("cannot read the definition"), "{err}");
}

#[test]
fn stage_throttling_route_settings_and_the_access_log_format_are_imported() {
    let template = "Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefaultRouteSettings: {ThrottlingRateLimit: 100.5, ThrottlingBurstLimit: 200, DetailedMetricsEnabled: true}
      RouteSettings:
        \"GET /orders\": {ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10}
      AccessLogSettings:
        DestinationArn: arn:aws:logs:us-east-1:123456789012:log-group:api
        Format: '{\"id\":\"$context.requestId\",\"status\":\"$context.status\"}'
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Events:
        List: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /orders, Method: GET}}
        Create:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /orders, Method: POST, RouteSettings: {ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2}}
";
    let imported = import(SourceKind::Sam, template, "template.yaml", &ImportOptions::default()).unwrap();
    let config = load(&imported);
    let api = config.throttle.as_ref().expect("the stage's throttle");
    assert_eq!((api.rate, api.burst), (100.5, 200));
    let route = |key: &str| config.routes.iter().find(|r| r.key.to_string() == key).unwrap();
    assert_eq!((route("GET /orders").throttle[0].rate, route("GET /orders").throttle[0].burst), (5.0, 10));
    assert_eq!((route("POST /orders").throttle[0].rate, route("POST /orders").throttle[0].burst), (1.0, 2));
    assert!(matches!(config.access_log.format, portcullis_config::AccessLogFormat::Template(_)));
    let reported = diagnostics(&imported).join("\n");
    assert!(
        reported.contains("`DetailedMetricsEnabled`: per-route logging and metrics are not applied"),
        "{reported}"
    );
    assert!(reported.contains("`DestinationArn`"), "{reported}");
    assert!(!reported.contains("ThrottlingRateLimit"), "{reported}");
}

#[test]
fn an_events_authorization_scopes_and_an_authorizers_function_payload_type_are_honoured() {
    let template = "Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: nodejs20.x}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            AuthorizationScopes: [orders:read]
            JwtConfiguration: {issuer: https://idp.example.com/, audience: [api]}
            IdentitySource: $request.header.Authorization
          Tokens:
            FunctionArn: !GetAtt AuthzFunction.Arn
            FunctionPayloadType: TOKEN
            Identity: {Headers: [Authorization], ReauthorizeEvery: 60}
          Requests:
            FunctionArn: !GetAtt AuthzFunction.Arn
            FunctionPayloadType: REQUEST
            AuthorizerPayloadFormatVersion: 1.0
            Identity: {Headers: [x-key]}
  AuthzFunction:
    Type: AWS::Serverless::Function
    Properties: {Handler: authz.handler}
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: orders.handler
      Events:
        List: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /orders, Method: GET}}
        Create:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /orders, Method: POST, Auth: {Authorizer: Jwt, AuthorizationScopes: [orders:write, admin]}}
        Token:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /token, Method: GET, Auth: {Authorizer: Tokens}}
        Request:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /request, Method: GET, Auth: {Authorizer: Requests, AuthorizationScopes: [nope]}}
";
    let imported = import(SourceKind::Sam, template, "template.yaml", &ImportOptions::default()).unwrap();
    let config = load(&imported);
    let route = |key: &str| config.routes.iter().find(|r| r.key.to_string() == key).unwrap();
    // The authorizer's scopes where the event names none; the event's own where it does.
    assert_eq!(route("GET /orders").scopes, ["orders:read"]);
    assert_eq!(route("POST /orders").scopes, ["orders:write", "admin"]);
    // FunctionPayloadType: TOKEN runs the REST TOKEN event, with a warning; REQUEST the HTTP
    // API REQUEST event in the payload version written.
    let AuthorizerConfig::Lambda(tokens) = &config.authorizers["Tokens"] else { panic!("lambda") };
    assert_eq!(tokens.event, portcullis_config::AuthorizerEvent::Token);
    assert_eq!(tokens.result_ttl, std::time::Duration::from_secs(60));
    let AuthorizerConfig::Lambda(requests) = &config.authorizers["Requests"] else { panic!("lambda") };
    assert_eq!(
        requests.event,
        portcullis_config::AuthorizerEvent::Request {
            payload_format_version: portcullis_config::PayloadFormatVersion::V1
        }
    );
    assert_eq!(route("GET /token").authorizer.as_deref(), Some("Tokens"));
    // Scopes on a route with a Lambda authorizer are reported and not applied, as on AWS.
    assert!(route("GET /request").scopes.is_empty());
    let reported = diagnostics(&imported).join("\n");
    assert!(reported.contains("FunctionPayloadType TOKEN is a REST API authorizer"), "{reported}");
    assert!(
        reported.contains("route `GET /request`: AuthorizationScopes apply to JWT authorizers only; ignored"),
        "{reported}"
    );
}

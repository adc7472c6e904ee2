//! Authorizers as security schemes, and what AWS cannot express of them.

use serde_json::{Value, json};

use crate::{NoteKind, export_openapi};

const FUNCTIONS: &str = "functions:\n  authz: {runtime: nodejs, handler: i.h}\n";

/// The security schemes of `yaml`'s config, and the notes (those about `account_id` and
/// functions excepted).
fn schemes(yaml: &str) -> (Value, Vec<String>) {
    let yaml = format!("region: eu-west-1\naccount_id: \"111122223333\"\n{FUNCTIONS}{yaml}");
    let config = portcullis_config::from_str(&yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let exported = export_openapi(&config);
    let notes = exported
        .notes
        .iter()
        .filter(|n| !n.path.starts_with("functions."))
        .map(ToString::to_string)
        .collect();
    (exported.document["components"]["securitySchemes"].clone(), notes)
}

#[test]
fn a_jwt_authorizer_is_an_oauth2_scheme_with_its_configuration() {
    let (s, notes) = schemes(
        "authorizers:\n  auth0:\n    type: jwt\n    issuer: https://example.us.auth0.com/\n    audience: [api, other]\n",
    );
    assert_eq!(
        s["auth0"],
        json!({
            "type": "oauth2",
            "flows": {},
            "x-amazon-apigateway-authorizer": {
                "type": "jwt",
                "jwtConfiguration": {"issuer": "https://example.us.auth0.com/", "audience": ["api", "other"]},
                "identitySource": "$request.header.authorization",
            },
        })
    );
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn a_request_authorizer_is_an_api_key_scheme_with_its_settings() {
    let (s, notes) = schemes(
        "authorizers:\n  tenant:\n    type: lambda\n    function: authz\n    event: request\n    simple_responses: true\n    identity_source: [$request.header.Authorization, $context.routeKey]\n    result_ttl: 60s\n",
    );
    assert_eq!(
        s["tenant"],
        json!({
            "type": "apiKey",
            "name": "Unused",
            "in": "header",
            "x-amazon-apigateway-authorizer": {
                "type": "request",
                "authorizerUri": "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:111122223333:function:authz/invocations",
                "authorizerPayloadFormatVersion": "2.0",
                "enableSimpleResponses": true,
                "identitySource": "$request.header.authorization, $context.routeKey",
                "authorizerResultTtlInSeconds": 60,
            },
        })
    );
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn a_scheme_names_its_one_header_or_query_parameter() {
    let (s, _) = schemes(
        "authorizers:\n  h:\n    type: lambda\n    function: authz\n    event: request\n    payload_format_version: \"1.0\"\n    identity_source: [$request.header.X-Key]\n    result_ttl: 0s\n  q:\n    type: lambda\n    function: authz\n    event: request\n    identity_source: [$request.querystring.token]\n    result_ttl: 0s\n",
    );
    assert_eq!((&s["h"]["name"], &s["h"]["in"]), (&json!("x-key"), &json!("header")));
    assert_eq!((&s["q"]["name"], &s["q"]["in"]), (&json!("token"), &json!("query")));
    // Simple responses exist for payload 2.0 only.
    assert!(s["h"]["x-amazon-apigateway-authorizer"].get("enableSimpleResponses").is_none());
    assert_eq!(s["h"]["x-amazon-apigateway-authorizer"]["authorizerPayloadFormatVersion"], "1.0");
}

#[test]
fn authorizers_aws_cannot_run_are_left_out_with_their_routes() {
    let config = portcullis_config::from_str(
        &format!(
            "{FUNCTIONS}authorizers:\n  dev: {{type: jwt, issuer: dev, audience: [a]}}\n  local: {{type: jwt, issuer: \"http://127.0.0.1:9000\", audience: [a]}}\n  token: {{type: lambda, function: authz, event: token, result_ttl: 0s}}\n  ok: {{type: jwt, issuer: \"https://id.example.com\", audience: [a]}}\nroutes:\n  GET /dev: {{http: \"https://a.example.com\", authorizer: dev}}\n  GET /token: {{http: \"https://a.example.com\", authorizer: token}}\n  GET /ok: {{http: \"https://a.example.com\", authorizer: ok, scopes: [read]}}\n  GET /public: {{http: \"https://a.example.com\"}}\n"
        ),
        "t.yaml",
    )
    .unwrap();
    let exported = export_openapi(&config);
    let doc = &exported.document;
    assert_eq!(doc["components"]["securitySchemes"].as_object().unwrap().keys().collect::<Vec<_>>(), ["ok"]);
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/ok", "/public"]);
    assert_eq!(doc["paths"]["/ok"]["get"]["security"], json!([{"ok": ["read"]}]));
    assert!(doc["paths"]["/public"]["get"].get("security").is_none());
    let notes: Vec<String> = exported
        .notes
        .iter()
        .filter(|n| !n.path.starts_with("functions.") && n.path != "account_id")
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        notes,
        [
            "authorizers.dev.issuer: the development issuer signs tokens only this gateway trusts (give the authorizer a real issuer to export it); the authorizer is left out, and so is every route it protects",
            "authorizers.local.issuer: issuer \"http://127.0.0.1:9000\": AWS accepts https issuers only; the authorizer is left out, and so is every route it protects",
            "authorizers.token.event: a TOKEN authorizer is a REST API authorizer, and HTTP APIs have REQUEST and JWT authorizers only; the authorizer is left out, and so is every route it protects",
            "routes.\"GET /dev\".authorizer: authorizer `dev` is left out (it uses the development issuer), so the route is left out: a route is never exported unprotected",
            "routes.\"GET /token\".authorizer: authorizer `token` is left out (it is a TOKEN authorizer), so the route is left out: a route is never exported unprotected",
        ]
    );
    assert!(exported.notes.iter().all(|n| n.kind != NoteKind::Approximated || n.path == "account_id"));
}

#[test]
fn jwt_settings_aws_lacks_are_noted() {
    let (s, notes) = schemes(
        "authorizers:\n  a:\n    type: jwt\n    issuer: https://id.example.com\n    audience: [x]\n    identity_source: [$request.cookie.session, $request.header.authorization, $request.querystring.t]\n    jwks_file: keys.json\n    algorithms: [RS256, ES256]\n    leeway: 5s\n    forward_claims: {x-user: sub}\n    rules: [\"claims.sub != ''\"]\n",
    );
    assert_eq!(s["a"]["x-amazon-apigateway-authorizer"]["identitySource"], "$request.header.authorization");
    assert_eq!(
        notes,
        [
            "authorizers.a.identity_source[0]: `$request.cookie.session`: AWS reads identity sources from headers, query strings, $context and $stageVariables only; left out",
            "authorizers.a.identity_source: an AWS JWT authorizer reads its token from exactly one place; exported as `$request.header.authorization` alone",
            "authorizers.a.jwks_file: AWS fetches an issuer's keys by OpenID Connect discovery only; left out",
            "authorizers.a.algorithms: AWS JWT authorizers accept RS256, RS384 and RS512 only; tokens signed with ES256 are refused on AWS",
            "authorizers.a.leeway: AWS allows no clock skew on `exp` and `nbf`; left out",
            "authorizers.a.forward_claims: AWS has no claim forwarding (a route's `parameter_mapping` with `$context.authorizer.claims.NAME` does the same, and exports); left out",
            "authorizers.a.rules: AWS JWT authorizers check issuer, audience, expiry and scopes only; left out",
        ]
    );
}

#[test]
fn an_algorithm_list_narrower_than_awss_is_approximated() {
    let (_, notes) = schemes(
        "authorizers:\n  a: {type: jwt, issuer: \"https://id.example.com\", audience: [x], algorithms: [RS256]}\n",
    );
    assert_eq!(
        notes,
        [
            "authorizers.a.algorithms: AWS JWT authorizers accept RS256, RS384 and RS512, with no narrower list; exported as all three"
        ]
    );
    let (_, notes) = schemes(
        "authorizers:\n  a: {type: jwt, issuer: \"https://id.example.com\", audience: [x], algorithms: [RS256, RS384, RS512]}\n",
    );
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn a_lambda_authorizer_keyed_only_on_cookies_loses_its_cache() {
    let (s, notes) = schemes(
        "authorizers:\n  a:\n    type: lambda\n    function: authz\n    event: request\n    identity_source: [$request.cookie.session]\n    result_ttl: 300s\n    forward_context: {x-tenant: tenant}\n",
    );
    let ext = &s["a"]["x-amazon-apigateway-authorizer"];
    assert_eq!(ext["authorizerResultTtlInSeconds"], 0);
    assert!(ext.get("identitySource").is_none());
    assert_eq!(
        notes,
        [
            "authorizers.a.identity_source[0]: `$request.cookie.session`: AWS reads identity sources from headers, query strings, $context and $stageVariables only; left out",
            "authorizers.a.result_ttl: AWS caches decisions by identity source, and none is left; exported as 0 (no caching)",
            "authorizers.a.forward_context: AWS has no context forwarding (a route's `parameter_mapping` with `$context.authorizer.KEY` does the same, and exports); left out",
        ]
    );
}

#[test]
fn a_jwt_authorizer_reading_only_cookies_is_left_out() {
    let (s, notes) = schemes(
        "authorizers:\n  a: {type: jwt, issuer: \"https://id.example.com\", audience: [x], identity_source: [$request.cookie.t]}\n",
    );
    assert!(s.is_null());
    assert_eq!(
        notes[1],
        "authorizers.a.identity_source: AWS reads tokens from a header or query string, and this authorizer reads cookies only; the authorizer is left out, and so is every route it protects"
    );
}

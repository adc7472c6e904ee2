//! Routes as paths and operations, and the route settings AWS has no place for.

use serde_json::json;

use crate::{NoteKind, export_openapi};

fn export(yaml: &str) -> crate::Exported {
    let config = portcullis_config::from_str(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    export_openapi(&config)
}

#[test]
fn methods_any_greedy_paths_and_default_take_awss_forms() {
    let exported = export(
        "routes:\n  GET /pets/{id}:\n    http: https://a.example.com/pets/{id}\n  DELETE /pets/{id}:\n    http: https://a.example.com/pets/{id}\n  ANY /files/{proxy+}:\n    http: https://a.example.com/{proxy}\n  $default:\n    http: https://a.example.com\n",
    );
    let paths = &exported.document["paths"];
    let pets = paths["/pets/{id}"].as_object().unwrap();
    assert_eq!(pets.keys().collect::<Vec<_>>(), ["delete", "get", "parameters"]);
    assert_eq!(
        pets["parameters"],
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}])
    );
    assert_eq!(
        pets["get"]["responses"],
        json!({"default": {"description": "Default response for GET /pets/{id}"}})
    );
    let files = &paths["/files/{proxy+}"];
    assert_eq!(files["parameters"][0]["name"], "proxy");
    assert!(files["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"].is_object());
    let default = &paths["/$default"]["x-amazon-apigateway-any-method"];
    assert_eq!(default["isDefaultRoute"], true);
    assert!(paths["/$default"].get("parameters").is_none());
    assert!(exported.notes.is_empty(), "{:?}", exported.notes);
}

#[test]
fn a_route_takes_its_authorizer_and_scopes_as_security() {
    let exported = export(
        "authorizers:\n  auth0: {type: jwt, issuer: \"https://id.example.com/\", audience: [api]}\ndefault_authorizer: auth0\nroutes:\n  GET /inherits:\n    http: https://a.example.com\n    scopes: [read, write]\n  GET /public:\n    http: https://a.example.com\n    authorizer: none\n",
    );
    let paths = &exported.document["paths"];
    assert_eq!(paths["/inherits"]["get"]["security"], json!([{"auth0": ["read", "write"]}]));
    assert!(paths["/public"]["get"].get("security").is_none());
}

#[test]
fn route_settings_aws_lacks_are_noted() {
    let exported = export(
        "routes:\n  GET /a:\n    http: https://a.example.com\n    rules: [\"request.method == 'GET'\"]\n    cors: {allow_origins: [\"https://x.example.com\"]}\n    throttle:\n      - {rate: 5, burst: 10}\n      - {rate: 1, burst: 2, key: $request.header.x-user}\n  GET /b:\n    http: https://a.example.com\n    throttle: {rate: 5, burst: 10}\n",
    );
    let notes: Vec<(String, NoteKind)> = exported.notes.iter().map(|n| (n.to_string(), n.kind)).collect();
    assert_eq!(
        notes,
        [
            ("routes.\"GET /a\".rules: AWS routes have no declarative rules: on AWS the route admits every caller its authorizer admits; left out".into(), NoteKind::LeftOut),
            ("routes.\"GET /a\".cors: AWS configures CORS for the whole API only; left out".into(), NoteKind::LeftOut),
            ("routes.\"GET /a\".throttle[0]: a route's limit is the stage's RouteSettings for `GET /a` (ThrottlingRateLimit, ThrottlingBurstLimit), not part of an OpenAPI definition".into(), NoteKind::OutsideDefinition),
            ("routes.\"GET /a\".throttle[1].key: AWS throttles a route as a whole, never per key; left out".into(), NoteKind::LeftOut),
            ("routes.\"GET /b\".throttle: a route's limit is the stage's RouteSettings for `GET /b` (ThrottlingRateLimit, ThrottlingBurstLimit), not part of an OpenAPI definition".into(), NoteKind::OutsideDefinition),
        ]
    );
    // The routes themselves are exported.
    assert!(exported.document["paths"]["/a"]["get"].is_object());
}

#[test]
fn a_literal_any_dollar_default_route_cannot_share_the_default_routes_place() {
    let exported = export(
        "routes:\n  $default:\n    http: https://a.example.com\n  ANY /$default:\n    http: https://b.example.com\n",
    );
    let op = &exported.document["paths"]["/$default"]["x-amazon-apigateway-any-method"];
    assert_eq!(op["x-amazon-apigateway-integration"]["uri"], "https://a.example.com");
    assert_eq!(exported.notes.len(), 1);
    assert!(
        exported.notes[0]
            .to_string()
            .starts_with("routes.\"ANY /$default\": AWS writes the `$default` route as")
    );
}

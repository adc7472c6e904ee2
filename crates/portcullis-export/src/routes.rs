//! `routes` -> `paths`: one operation per route, under its path and method
//! (`x-amazon-apigateway-any-method` for `ANY`; `$default` as the `/$default` path with
//! `isDefaultRoute`, AWS's form:
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-any-method.html>),
//! with the route's integration and its authorizer as the operation's `security`.

use portcullis_config::{Config, RouteConfig};
use portcullis_route::{MethodSel, RouteKey, Segment};
use serde_json::{Map, Value, json};

use crate::authorizers::Schemes;
use crate::integration;
use crate::note::{ConfigPath, NoteKind, Notes};

/// The operation key of `ANY`.
const ANY_METHOD: &str = "x-amazon-apigateway-any-method";
/// The path AWS writes the `$default` route under.
const DEFAULT_PATH: &str = "/$default";

/// Every route of `config` that AWS can express, as OpenAPI `paths`.
pub(crate) fn export(config: &Config, schemes: &Schemes, notes: &mut Notes) -> Map<String, Value> {
    let mut paths: Map<String, Value> = Map::new();
    for route in &config.routes {
        let key = route.key.to_string();
        let path = ConfigPath::root("routes").key(&key);
        let Some(operation) = operation(config, route, &key, schemes, &path, notes) else {
            continue;
        };
        let (path_text, method) = match &route.key.value {
            RouteKey::Default => (DEFAULT_PATH.to_owned(), ANY_METHOD.to_owned()),
            RouteKey::Route { method: MethodSel::Any, path } => {
                (path.as_str().to_owned(), ANY_METHOD.to_owned())
            }
            RouteKey::Route { method: MethodSel::Method(m), path } => {
                (path.as_str().to_owned(), m.as_str().to_ascii_lowercase())
            }
        };
        let item = paths.entry(path_text.clone()).or_insert_with(|| path_item(&route.key.value));
        let Value::Object(item) = item else { continue };
        if item.contains_key(&method) {
            // Only `ANY /$default` and `$default` can meet here.
            notes.left_out(
                &path,
                format!("AWS writes the `$default` route as `{ANY_METHOD}` of the path {DEFAULT_PATH}, which this route would take too"),
            );
            continue;
        }
        item.insert(method, operation);
    }
    paths
}

/// A path item with the path's variables declared, as OpenAPI asks (`{proxy+}` declares
/// `proxy`, as AWS's examples do).
fn path_item(key: &RouteKey) -> Value {
    let mut item = Map::new();
    let names: Vec<&str> = key
        .path()
        .map(|p| {
            p.segments()
                .iter()
                .filter_map(|s| match s {
                    Segment::Var(n) | Segment::Greedy(n) => Some(&**n),
                    Segment::Literal(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !names.is_empty() {
        let parameters: Vec<Value> = names
            .iter()
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        item.insert("parameters".into(), Value::Array(parameters));
    }
    Value::Object(item)
}

/// The operation of one route, or `None` (noted) when the route is left out.
fn operation(
    config: &Config,
    route: &RouteConfig,
    key: &str,
    schemes: &Schemes,
    path: &ConfigPath,
    notes: &mut Notes,
) -> Option<Value> {
    let mut op = Map::new();
    if let Some(name) = &route.authorizer {
        if let Some(why) = schemes.left_out.get(name) {
            notes.add(
                &path.key("authorizer"),
                NoteKind::LeftOut,
                format!("authorizer `{name}` is left out ({why}), so the route is left out: a route is never exported unprotected"),
            );
            return None;
        }
        let mut requirement = Map::new();
        requirement.insert(name.clone(), json!(route.scopes));
        op.insert("security".into(), json!([requirement]));
    }
    let integration = integration::export(config, route, path, notes)?;
    extensions(route, key, path, notes);
    if route.key.is_default() {
        op.insert("isDefaultRoute".into(), json!(true));
    }
    op.insert("responses".into(), json!({"default": {"description": format!("Default response for {key}")}}));
    op.insert("x-amazon-apigateway-integration".into(), integration);
    Some(Value::Object(op))
}

/// Route settings AWS has no place for in the definition.
fn extensions(route: &RouteConfig, key: &str, path: &ConfigPath, notes: &mut Notes) {
    if !route.rules.is_empty() {
        notes.left_out(
            &path.key("rules"),
            "AWS routes have no declarative rules: on AWS the route admits every caller its authorizer admits",
        );
    }
    if route.cors.is_some() {
        notes.left_out(&path.key("cors"), "AWS configures CORS for the whole API only");
    }
    let several = route.throttle.len() > 1;
    for (i, limit) in route.throttle.iter().enumerate() {
        let at = if several { path.key("throttle").index(i) } else { path.key("throttle") };
        if limit.key.is_some() {
            notes.left_out(&at.key("key"), "AWS throttles a route as a whole, never per key");
        } else {
            notes.add(
                &at,
                NoteKind::OutsideDefinition,
                format!("a route's limit is the stage's RouteSettings for `{key}` (ThrottlingRateLimit, ThrottlingBurstLimit), not part of an OpenAPI definition"),
            );
        }
    }
}

#[cfg(test)]
mod tests;

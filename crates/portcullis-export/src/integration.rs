//! A route's integration -> its `x-amazon-apigateway-integration`
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html>),
//! spelled as AWS exports HTTP APIs: `type` in lower case, `payloadFormatVersion` always
//! written (`"1.0"` for HTTP proxies, the only version they have), `connectionType: INTERNET`,
//! parameter mapping in `requestParameters` and `responseParameters`.

use std::time::Duration;

use portcullis_config::{Config, HttpVersion, Integration, RouteConfig};
use portcullis_core::{MappingAction, MappingEntry, Part, Template};
use serde_json::{Map, Value, json};

use crate::arn;
use crate::note::{ConfigPath, NoteKind, Notes};

/// AWS's integration timeout limits (`timeoutInMillis`, 50 ms to 30 s).
const MIN_TIMEOUT_MS: u64 = 50;
const MAX_TIMEOUT_MS: u64 = 30_000;

/// The integration of `route`, or `None` (noted) when AWS has no equivalent.
pub(crate) fn export(
    config: &Config,
    route: &RouteConfig,
    path: &ConfigPath,
    notes: &mut Notes,
) -> Option<Value> {
    let mut out = Map::new();
    match &route.integration {
        Integration::Http(url) => {
            out.insert("type".into(), json!("http_proxy"));
            // ANY: the backend gets the client's method, as the gateway forwards it.
            out.insert("httpMethod".into(), json!("ANY"));
            out.insert("uri".into(), json!(url.to_string()));
            out.insert("payloadFormatVersion".into(), json!("1.0"));
            http_settings(route, path, notes);
        }
        Integration::Function(name) => {
            out.insert("type".into(), json!("aws_proxy"));
            // Lambda functions are invoked with POST.
            out.insert("httpMethod".into(), json!("POST"));
            out.insert("uri".into(), json!(arn::invocation_uri(&config.region, &config.account_id, name)));
            out.insert("payloadFormatVersion".into(), json!(route.payload_format_version.as_str()));
        }
        Integration::Respond(_) => {
            notes.add(
                &path.key("respond"),
                NoteKind::LeftOut,
                "a fixed response has no AWS equivalent; the route is left out",
            );
            return None;
        }
    }
    out.insert("connectionType".into(), json!("INTERNET"));
    out.insert("timeoutInMillis".into(), json!(timeout(route.timeout, &path.key("timeout"), notes)));
    if !route.parameter_mapping.is_empty() {
        out.insert("requestParameters".into(), mappings(&route.parameter_mapping));
    }
    if !route.response_parameters.is_empty() {
        let by_status: Map<String, Value> = route
            .response_parameters
            .iter()
            .map(|(status, entries)| (status.to_string(), mappings(entries)))
            .collect();
        out.insert("responseParameters".into(), Value::Object(by_status));
    }
    Some(Value::Object(out))
}

/// Settings of `http` routes that AWS has no place for.
fn http_settings(route: &RouteConfig, path: &ConfigPath, notes: &mut Notes) {
    if route.http_version == HttpVersion::Http2 {
        notes.left_out(&path.key("http_version"), "AWS always calls HTTP backends with HTTP/1.1");
    }
    if route.upstream_ca.is_some() {
        notes.left_out(
            &path.key("upstream_ca"),
            "AWS trusts only publicly trusted certificates on https backends",
        );
    }
}

/// `timeoutInMillis`: whole milliseconds within AWS's limits; anything else is noted.
fn timeout(timeout: Duration, path: &ConfigPath, notes: &mut Notes) -> u64 {
    let whole = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let ms = if !timeout.subsec_nanos().is_multiple_of(1_000_000) { whole.saturating_add(1) } else { whole };
    let exported = ms.clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
    if exported != ms {
        notes.add(
            path,
            NoteKind::Approximated,
            format!(
                "{} is outside AWS's integration limits of 50ms to 30s; exported as {exported} ms",
                show(timeout)
            ),
        );
    } else if ms != whole {
        notes.add(
            path,
            NoteKind::Approximated,
            format!("{} is not a whole number of milliseconds; exported as {exported} ms", show(timeout)),
        );
    }
    exported
}

fn show(d: Duration) -> String {
    format!("timeout {d:?}")
}

/// Mapping entries as AWS writes them: `"append:header.x": "$request.header.y"`; a removal's
/// value is `''`, as in AWS's examples.
fn mappings(entries: &[MappingEntry]) -> Value {
    let map: Map<String, Value> = entries
        .iter()
        .map(|e| {
            let value = match e.action {
                MappingAction::Remove => "''".to_owned(),
                _ => mapping_value(&e.value),
            };
            (e.to_string(), Value::String(value))
        })
        .collect();
    Value::Object(map)
}

/// A mapping value: a lone variable as AWS's examples write it (`$request.header.x`), anything
/// else in the `${...}` form, which reads back to the same template.
fn mapping_value(value: &Template) -> String {
    if let [Part::Var(variable)] = value.parts() {
        let text = variable.to_string();
        // `$name` ends at the first character outside these; a trailing `.` is text.
        let plain = text[1..].chars().all(|c| c.is_ascii_alphanumeric() || "_-.:[]".contains(c))
            && !text.ends_with('.');
        if plain {
            return text;
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests;

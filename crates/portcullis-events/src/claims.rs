//! How JWT claims are rendered into `requestContext.authorizer.jwt.claims`
//! (docs/aws-compatibility.md#claims-passed-to-the-integration).

use serde_json::Value;

/// The text AWS puts in the event for one claim value, or `None` for a `null` claim (omitted).
///
/// All claim values reach the function as strings
/// (docs/aws-compatibility.md#claims-passed-to-the-integration, observed): strings unchanged,
/// numbers as their decimal JSON text, booleans as `true`/`false`, arrays in Go `fmt` style (`[a b
/// c]`, space separated, elements unquoted). Nested objects are [UNDOC]; we follow the spec's
/// recommendation of Go style as well, `map[k1:v1 k2:v2]` with keys sorted as Go's `fmt` sorts map
/// keys.
pub fn claim_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => {
            let mut out = String::new();
            go_format(other, &mut out);
            Some(out)
        }
    }
}

fn go_format(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_format(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                go_format(&map[key], out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_render_as_aws_strings() {
        assert_eq!(claim_string(&json!("auth0|1")).as_deref(), Some("auth0|1"));
        assert_eq!(claim_string(&json!(1612061676)).as_deref(), Some("1612061676"));
        assert_eq!(claim_string(&json!(true)).as_deref(), Some("true"));
        assert_eq!(claim_string(&json!(["admin", "poweruser"])).as_deref(), Some("[admin poweruser]"));
        assert_eq!(claim_string(&json!({"b": 1, "a": [1, 2]})).as_deref(), Some("map[a:[1 2] b:1]"));
        assert_eq!(claim_string(&json!(null)), None);
    }
}

//! AWS's rendering of JWT claims for Lambda events (spec §2.8): every value a string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Claims as API Gateway puts them in `requestContext.authorizer.jwt.claims`: numbers as their
/// decimal text, booleans `true`/`false`, strings as is, arrays Go-style `[a b c]`, objects
/// Go-style `map[k:v]` with sorted keys ([UNDOC]: what Go's `%v` prints), `null` claims omitted.
pub fn aws_claims_strings(claims: &Map<String, Value>) -> BTreeMap<String, String> {
    claims
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let mut out = String::new();
            go_format(v, &mut out);
            (k.clone(), out)
        })
        .collect()
}

fn go_format(value: &Value, out: &mut String) {
    match value {
        // Inside arrays and maps Go prints a nil interface as `<nil>`.
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
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
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push_str("map[");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_format(v, out);
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
    fn claims_render_as_aws_does() {
        let claims = json!({
            "sub": "alice", "exp": 1612061676, "email_verified": true, "ratio": 1.5,
            "cognito:groups": ["admin", "poweruser"], "metadata": {"role": "admin", "a": [1, 2]},
            "gone": null, "scope": "read write"
        });
        let out = aws_claims_strings(claims.as_object().unwrap());
        assert_eq!(out["sub"], "alice");
        assert_eq!(out["exp"], "1612061676");
        assert_eq!(out["email_verified"], "true");
        assert_eq!(out["ratio"], "1.5");
        assert_eq!(out["cognito:groups"], "[admin poweruser]");
        assert_eq!(out["metadata"], "map[a:[1 2] role:admin]");
        assert_eq!(out["scope"], "read write");
        assert!(!out.contains_key("gone"));
    }
}

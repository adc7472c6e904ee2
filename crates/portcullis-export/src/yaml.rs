//! A JSON value as block-style YAML, the way AWS's YAML exports look: every string value
//! double-quoted, keys plain where YAML reads them back as the same string.
//!
//! Strings are written with JSON's escapes, which YAML's double-quoted style shares; characters
//! YAML does not allow raw (C0 and C1 controls, DEL, U+FEFF) are escaped as `\uXXXX`.

use std::fmt::Write as _;

use serde_json::Value;

/// `value` as a YAML document, ending with a newline.
pub(crate) fn render(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => block(&mut out, value, 0),
        Value::Array(items) if !items.is_empty() => block(&mut out, value, 0),
        _ => {
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
    out
}

/// A non-empty mapping or sequence at `indent`, one entry per line.
fn block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let _ = write!(out, "{pad}{}:", key_text(key));
                entry(out, v, indent + 2);
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block(item) {
                    // The item's block at indent + 2, its first indentation replaced by "- ".
                    let mut nested = String::new();
                    block(&mut nested, item, indent + 2);
                    let _ = write!(out, "{pad}- {}", &nested[indent + 2..]);
                } else {
                    let _ = writeln!(out, "{pad}- {}", scalar(item));
                }
            }
        }
        _ => {}
    }
}

/// The rest of a `key:` line: a scalar (or empty collection) on the same line, else a block
/// on the following lines.
fn entry(out: &mut String, value: &Value, indent: usize) {
    if is_block(value) {
        out.push('\n');
        block(out, value, indent);
    } else {
        let _ = writeln!(out, " {}", scalar(value));
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// A scalar, or an empty collection in flow style.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A key, plain when YAML reads it back as this same string, else double-quoted.
fn key_text(key: &str) -> String {
    let reserved = matches!(
        key.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    );
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || "/$_".contains(c))
        && key.chars().all(|c| c.is_ascii_alphanumeric() || "_-./{}+$:".contains(c))
        && !key.ends_with(':')
        && !reserved;
    if plain { key.to_owned() } else { quoted(key) }
}

/// A double-quoted YAML string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c) || c == '\u{feff}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_values_render_as_block_yaml() {
        let value = json!({
            "openapi": "3.0.1",
            "paths": {
                "/pets/{id}": {
                    "get": {
                        "security": [{"auth": ["read", "write"]}],
                        "responses": {},
                    },
                },
            },
            "list": [[1, 2], [], {"a": null}],
            "500": true,
        });
        assert_eq!(
            render(&value),
            "\"500\": true\nlist:\n  - - 1\n    - 2\n  - []\n  - a: null\nopenapi: \"3.0.1\"\npaths:\n  /pets/{id}:\n    get:\n      responses: {}\n      security:\n        - auth:\n            - \"read\"\n            - \"write\"\n"
        );
    }

    #[test]
    fn strings_yaml_cannot_hold_raw_are_escaped() {
        assert_eq!(quoted("a\"b\\c\u{7}\u{85}\u{7f}é"), "\"a\\\"b\\\\c\\u0007\\u0085\\u007Fé\"");
        assert_eq!(key_text("append:header.x-a"), "append:header.x-a");
        assert_eq!(key_text("yes"), "\"yes\"");
        assert_eq!(key_text("a b"), "\"a b\"");
        assert_eq!(key_text(""), "\"\"");
        assert_eq!(render(&json!("x")), "\"x\"\n");
    }
}

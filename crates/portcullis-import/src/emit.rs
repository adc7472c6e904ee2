//! [`Tree`] -> YAML text, block style, with comments, and a map from each output line to the
//! source position it came from.
//!
//! Strings are written plain when YAML reads them back as the same string, else double-quoted:
//! `"2.0"`, `"true"`, `"500"` and `": "` stay strings. Numbers and booleans ([`TValue::Raw`])
//! are written as they are. Lists of short strings use the flow form (`[a, b]`).

use crate::tree::{SourcePos, TValue, Tree};

/// Rendered YAML and, per output line (index 0 = line 1), the position it came from.
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) lines: Vec<Option<SourcePos>>,
}

struct Out {
    text: String,
    lines: Vec<Option<SourcePos>>,
}

impl Out {
    fn line(&mut self, s: &str, pos: Option<&SourcePos>) {
        self.text.push_str(s);
        self.text.push('\n');
        self.lines.push(pos.cloned());
    }
}

/// Renders `root` (a mapping) after the `header` comment lines.
pub(crate) fn render(header: &[String], root: &Tree) -> Rendered {
    let mut out = Out { text: String::new(), lines: Vec::new() };
    for h in header {
        out.line(&comment(h), None);
    }
    if !header.is_empty() {
        out.line("", None);
    }
    if let TValue::Map(entries) = &root.value {
        for (i, (key, value)) in entries.iter().enumerate() {
            // A blank line before each section (a top-level key holding a mapping).
            if i > 0 && matches!(&value.value, TValue::Map(e) if !e.is_empty()) {
                out.line("", None);
            }
            entry(&mut out, 0, key, value, root.from.first());
        }
    }
    Rendered { text: out.text, lines: out.lines }
}

fn comment(text: &str) -> String {
    if text.is_empty() { "#".into() } else { format!("# {text}") }
}

fn entry(out: &mut Out, indent: usize, key: &str, value: &Tree, inherited: Option<&SourcePos>) {
    let pad = " ".repeat(indent);
    let pos = value.from.first().or(inherited);
    if value.show_from && !value.from.is_empty() {
        let places: Vec<String> = value.from.iter().map(|p| format!("{}:{}", p.origin, p.line)).collect();
        out.line(&format!("{pad}# from {}", places.join(", ")), None);
    }
    for n in &value.notes {
        out.line(&format!("{pad}{}", comment(n)), None);
    }
    let k = scalar(key, false);
    match &value.value {
        TValue::Str(s) => out.line(&format!("{pad}{k}: {}", scalar(s, false)), pos),
        TValue::Raw(s) => out.line(&format!("{pad}{k}: {s}"), pos),
        TValue::Map(entries) if entries.is_empty() => out.line(&format!("{pad}{k}: {{}}"), pos),
        TValue::Map(entries) => {
            out.line(&format!("{pad}{k}:"), pos);
            for (ck, cv) in entries {
                entry(out, indent + 2, ck, cv, pos);
            }
        }
        TValue::Seq(items) => match flow(items) {
            Some(f) => out.line(&format!("{pad}{k}: {f}"), pos),
            None => {
                out.line(&format!("{pad}{k}:"), pos);
                for item in items {
                    seq_item(out, indent + 2, item, pos);
                }
            }
        },
    }
}

fn seq_item(out: &mut Out, indent: usize, item: &Tree, inherited: Option<&SourcePos>) {
    let pad = " ".repeat(indent);
    let pos = item.from.first().or(inherited);
    match &item.value {
        TValue::Str(s) => out.line(&format!("{pad}- {}", scalar(s, false)), pos),
        TValue::Raw(s) => out.line(&format!("{pad}- {s}"), pos),
        TValue::Map(entries) if !entries.is_empty() => {
            out.line(&format!("{pad}-"), pos);
            for (k, v) in entries {
                entry(out, indent + 2, k, v, pos);
            }
        }
        TValue::Map(_) => out.line(&format!("{pad}- {{}}"), pos),
        TValue::Seq(items) => match flow(items) {
            Some(f) => out.line(&format!("{pad}- {f}"), pos),
            None => {
                out.line(&format!("{pad}-"), pos);
                for i in items {
                    seq_item(out, indent + 2, i, pos);
                }
            }
        },
    }
}

/// `[a, b]` when every item is a scalar and the line stays short.
fn flow(items: &[Tree]) -> Option<String> {
    let mut parts = Vec::new();
    for item in items {
        match &item.value {
            TValue::Str(s) => parts.push(scalar(s, true)),
            TValue::Raw(s) => parts.push(s.clone()),
            _ => return None,
        }
    }
    let f = format!("[{}]", parts.join(", "));
    (f.len() <= 100 || items.len() <= 1).then_some(f)
}

/// A string as a YAML scalar: plain when that reads back as the same string, else
/// double-quoted. `in_flow`: inside `[...]`, where `,[]{}` also end a plain scalar.
pub(crate) fn scalar(s: &str, in_flow: bool) -> String {
    if plain_ok(s, in_flow) { s.to_owned() } else { quoted(s) }
}

fn plain_ok(s: &str, in_flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_whitespace() || s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return false;
    }
    // Indicators that cannot start a plain scalar (`-`, `?`, `:` only before a space, but
    // quoting them always is simpler and rare here).
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    if in_flow && s.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    !reads_as_non_string(s)
}

/// Whether YAML (1.2 core schema, or 1.1 for the old booleans some readers still honour)
/// would read this plain scalar as null, a boolean or a number.
pub(crate) fn reads_as_non_string(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n") {
        return true;
    }
    if matches!(lower.as_str(), ".inf" | "-.inf" | "+.inf" | ".nan") {
        return true;
    }
    let digits = lower.trim_start_matches(['+', '-']);
    if digits.starts_with("0x") || digits.starts_with("0o") {
        return true;
    }
    let n = digits.replace('_', "");
    !n.is_empty()
        && n.parse::<f64>().is_ok()
        && n.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
}

fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_yaml_would_retype_are_quoted() {
        for s in
            ["2.0", "500", "true", "No", "~", "", " x", "a: b", "x #y", "-5", "0x1f", "*", "{id}", "a\nb"]
        {
            assert!(scalar(s, false).starts_with('"'), "{s:?} should be quoted");
        }
        for s in [
            "5s",
            "GET /pets/{id}",
            "$default",
            "http://127.0.0.1:3000/{proxy}",
            "src/index.handler",
            "v1.2.3",
        ] {
            assert_eq!(scalar(s, false), s, "{s:?} should be plain");
        }
        assert_eq!(scalar("https://a.example", true), "\"https://a.example\"");
        assert_eq!(scalar("\"hi\" \\", false), r#""\"hi\" \\""#);
    }

    #[test]
    fn every_quoted_scalar_reads_back_as_the_same_string() {
        let samples = ["2.0", "a: b", "tab\there", "quote\"", "back\\slash", "\u{7f}del", "", "yes", "#x"];
        for s in samples {
            let doc = format!("k: {}\n", scalar(s, false));
            let parsed = portcullis_config::document::parse(&doc, "t").unwrap();
            assert_eq!(parsed.root().get("k").and_then(|n| n.scalar()), Some(s), "{doc}");
        }
    }
}

//! What a function reported when its handler failed: the runtime's error document.

use std::fmt;

use serde_json::Value;

/// A handler's error, as the runtime posted it (`{"errorType", "errorMessage", "stackTrace"}`;
/// Node's runtime calls the trace `trace`). Shown in the log, by `portcullis invoke`, and with
/// `debug_headers` in the 500 a client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFailure {
    /// `errorType` (`Error`, `KeyError`, `Runtime.ImportModuleError`, ...).
    pub error_type: String,
    /// `errorMessage`.
    pub message: String,
    /// The trace, one frame or line per entry, in the runtime's order.
    pub stack_trace: Vec<String>,
}

/// Longest message and trace kept: a handler that throws a megabyte keeps the log readable.
const MAX_TEXT: usize = 4 * 1024;
/// Most trace entries kept.
const MAX_FRAMES: usize = 50;

fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl FunctionFailure {
    /// Reads the error document `body`; `error_type` (the `Lambda-Runtime-Function-Error-Type`
    /// header) wins when the body has none. A body that is not such a document becomes the
    /// message.
    pub fn parse(error_type: &str, body: &[u8]) -> Self {
        let document = serde_json::from_slice::<Value>(body).ok();
        let text =
            |key: &str| document.as_ref().and_then(|d| d.get(key)).and_then(Value::as_str).map(bounded);
        let error_type = text("errorType").filter(|t| !t.is_empty()).unwrap_or_else(|| error_type.to_owned());
        let message = match (text("errorMessage"), &document) {
            (Some(message), _) => message,
            (None, Some(_)) => String::new(),
            (None, None) => bounded(&String::from_utf8_lossy(body)),
        };
        let trace = document.as_ref().and_then(|d| d.get("stackTrace").or_else(|| d.get("trace")));
        let stack_trace = match trace {
            Some(Value::Array(frames)) => frames
                .iter()
                .filter_map(Value::as_str)
                .flat_map(str::lines)
                .map(str::trim_end)
                .filter(|line| !line.trim().is_empty())
                .take(MAX_FRAMES)
                .map(bounded)
                .collect(),
            Some(Value::String(trace)) => trace.lines().take(MAX_FRAMES).map(bounded).collect(),
            _ => Vec::new(),
        };
        FunctionFailure { error_type, message, stack_trace }
    }

    /// The first trace line that names a place (a file and line), for one-line summaries.
    pub fn location(&self) -> Option<&str> {
        self.stack_trace
            .iter()
            .map(|line| line.trim())
            .find(|line| line.starts_with("File \"") || line.starts_with("at "))
    }
}

impl fmt::Display for FunctionFailure {
    /// `Error: kaboom (at /var/task/index.mjs:3:9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error_type)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(location) = self.location() {
            write!(f, " ({location})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FunctionFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_python_documents_are_read() {
        let node = br#"{"errorType":"Error","errorMessage":"kaboom","trace":["Error: kaboom","    at handler (file:///var/task/index.mjs:2:9)","    at process (bootstrap.mjs:1:1)"]}"#;
        let failure = FunctionFailure::parse("Unhandled", node);
        assert_eq!(failure.error_type, "Error");
        assert_eq!(failure.message, "kaboom");
        assert_eq!(failure.stack_trace.len(), 3);
        assert_eq!(failure.to_string(), "Error: kaboom (at handler (file:///var/task/index.mjs:2:9))");

        let python = br#"{"errorMessage":"'id'","errorType":"KeyError","stackTrace":["  File \"/var/task/app.py\", line 3, in handler\n    return event['id']\n"]}"#;
        let failure = FunctionFailure::parse("", python);
        assert_eq!(
            failure.stack_trace,
            ["  File \"/var/task/app.py\", line 3, in handler", "    return event['id']"]
        );
        assert_eq!(failure.to_string(), "KeyError: 'id' (File \"/var/task/app.py\", line 3, in handler)");
    }

    #[test]
    fn anything_else_is_kept_as_the_message() {
        let failure = FunctionFailure::parse("Custom", b"not json");
        assert_eq!((failure.error_type.as_str(), failure.message.as_str()), ("Custom", "not json"));
        assert!(failure.stack_trace.is_empty());
        let huge = FunctionFailure::parse("X", "y".repeat(100_000).as_bytes());
        assert!(huge.message.len() < 5000);
    }
}

//! `rules:` (CEL) -> compiled rule sets, once at load.

use std::sync::Arc;

use portcullis_config::{Config, ConfigError, Span, Spanned};
use portcullis_rules::{Rule, RuleSet};

/// Compiles `rules`; a syntax or type error is a config error at the rule's position (the line
/// within a multi-line rule added, the column given within the rule). `None` when there are no
/// rules or one failed.
pub(crate) fn compile(
    config: &Config,
    path: &str,
    rules: &[Spanned<String>],
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<RuleSet>> {
    if rules.is_empty() {
        return None;
    }
    let mut compiled = Vec::with_capacity(rules.len());
    for (index, rule) in rules.iter().enumerate() {
        match Rule::compile(rule) {
            Ok(rule) => compiled.push(rule),
            Err(e) => {
                let span = Span { line: rule.span.line + e.line.saturating_sub(1), column: rule.span.column };
                errors.push(ConfigError::at(
                    config.origin.clone(),
                    span,
                    format!("{path}[{index}]"),
                    format!(
                        "invalid rule {:?}: {} (at line {}, column {} of the rule)",
                        rule.value, e.message, e.line, e.column
                    ),
                ));
            }
        }
    }
    (compiled.len() == rules.len()).then(|| Arc::new(RuleSet::new(compiled)))
}

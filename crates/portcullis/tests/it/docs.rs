//! The documentation says what the binary does: every complete YAML example in README.md,
//! docs/ and the examples loads with `portcullis check` (a block that is only part of a config
//! starts with `# fragment`).

use std::path::{Path, PathBuf};

use crate::harness::{cli, write};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every ```yaml block of `text`, with the line it starts on.
fn yaml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```yaml") || fence.starts_with("```yml") => {
                current = Some((i + 2, String::new()))
            }
            Some(_) if fence.starts_with("```") => blocks.extend(current.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_complete_yaml_example_in_the_docs_passes_check() {
    let mut documents = vec![repo().join("README.md")];
    for dir in ["docs", "examples"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() && !path.ends_with("node_modules") {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "md") {
                    documents.push(path);
                }
            }
        }
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        for (line, block) in yaml_blocks(&text) {
            if block.trim_start().starts_with("# fragment") {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "portcullis.yaml", &block);
            let (code, output) = cli(dir.path(), "check", &[]);
            checked += 1;
            if code != Some(0) {
                failures.push(format!(
                    "{}:{line}: {output}",
                    document.strip_prefix(repo()).unwrap_or(document).display()
                ));
            }
        }
    }
    assert!(checked >= 10, "only {checked} YAML examples found");
    assert!(
        failures.is_empty(),
        "{} of {checked} examples do not load:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_example_configs_pass_check_where_they_are() {
    for example in ["examples/wso2", "examples/supertokens", "examples/replicas"] {
        let (code, output) = cli(&repo().join(example), "check", &[]);
        assert_eq!(code, Some(0), "{example}: {output}");
    }
}

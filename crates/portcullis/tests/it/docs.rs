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

/// Files of the product a reader may open: sources, scripts, docs (not dependencies, build
/// output or fixtures copied from elsewhere).
fn product_files() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![repo()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), ".git" | "target" | "node_modules" | "fixtures" | "vendor") {
                    stack.push(path);
                }
            } else if ["rs", "md", "sh", "py", "mjs", "js", "toml", "yaml", "yml"]
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")))
            {
                found.push(path);
            }
        }
    }
    found
}

/// History lives in git: the product names no work item, session or private reference.
#[test]
fn no_file_of_the_product_tells_the_story_of_its_development() {
    // Written with classes, so that this line does not match itself.
    let history = regex::Regex::new(r"(?i)\bspec [§]|\bissue #?\d+\b|\bstop \d+\b|\bseed [0]00\b").unwrap();
    let mut found = Vec::new();
    for path in product_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if history.is_match(line) {
                found.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(repo()).unwrap_or(&path).display(),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// `portcullis-app/src/compile*` is the one place that reads a `Config`: nothing else in the
/// gateway's crate or the binary reads its fields (`source.rs` builds one; tests may read it).
#[test]
fn only_the_compile_module_reads_a_config() {
    let read = regex::Regex::new(r"\bconfig\.(routes|functions|authorizers|origin|listen|admin|admin_token|state_dir|warnings|stage|stage_variables|log|revocation|limits|shared_state|tls|access_log|cors|throttle|debug_headers|region|account_id|api_id|compat)\b").unwrap();
    let mut found = Vec::new();
    for dir in ["crates/portcullis-app/src", "crates/portcullis/src"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    if name != "compile" {
                        stack.push(path);
                    }
                    continue;
                }
                if !name.ends_with(".rs") || matches!(name.as_str(), "compile.rs" | "source.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests at the end of a file may read what they set up.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (i, line) in code.lines().enumerate() {
                    if read.is_match(line) && !line.trim_start().starts_with("//") {
                        found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "read a Config outside compile/:\n{}", found.join("\n"));
}

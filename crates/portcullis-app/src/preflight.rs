//! Checks of a config against the machine it will run on, before anything starts: do the
//! functions' handler files and commands exist? `portcullis check` reports them, and `serve`
//! logs them at start. They are warnings, not errors: a build step may create the file later,
//! and the first invocation reports the failure with the function's own error.

use std::path::{Path, PathBuf};

use portcullis_functions::{FunctionKind, FunctionSettings};

/// One problem found, as a sentence naming the function.
pub fn warnings(functions: &[FunctionSettings]) -> Vec<String> {
    let mut found = Vec::new();
    for function in functions {
        let name = &function.name;
        if matches!(function.kind, FunctionKind::Remote { .. }) {
            continue;
        }
        if !function.dir.is_dir() {
            found.push(format!("functions.{name}: directory {} does not exist", function.dir.display()));
            continue;
        }
        match &function.kind {
            FunctionKind::Node { handler } | FunctionKind::Python { handler } => {
                let candidates = match &function.kind {
                    FunctionKind::Node { .. } => node_module(&function.dir, handler),
                    _ => python_module(&function.dir, handler),
                };
                if let Some(candidates) = candidates
                    && !candidates.iter().any(|c| c.is_file())
                {
                    found.push(format!(
                        "functions.{name}: handler `{handler}`: none of {} exists",
                        list(&candidates)
                    ));
                }
            }
            FunctionKind::Provided { command } => {
                let program = Path::new(command.first().map_or("", String::as_str));
                if !command_exists(program, &function.dir) {
                    found.push(format!(
                        "functions.{name}: command `{}` not found (relative to {}, or on PATH)",
                        program.display(),
                        function.dir.display()
                    ));
                }
            }
            FunctionKind::Remote { .. } => {}
        }
    }
    found
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The files Lambda's Node.js runtime would load for `path/file.export`.
fn node_module(dir: &Path, handler: &str) -> Option<Vec<PathBuf>> {
    let (module, _export) = handler.rsplit_once('.')?;
    Some(["js", "mjs", "cjs"].iter().map(|ext| dir.join(format!("{module}.{ext}"))).collect())
}

/// The files Python would import for `package.module.function` (a module or a package).
fn python_module(dir: &Path, handler: &str) -> Option<Vec<PathBuf>> {
    let (module, _function) = handler.rsplit_once('.')?;
    let path = module.replace('.', "/");
    Some(vec![dir.join(format!("{path}.py")), dir.join(&path).join("__init__.py")])
}

/// Whether `command` names an executable file: as a path (absolute, or relative to `dir` when
/// it holds a `/`), or as a bare name on `PATH`.
fn command_exists(command: &Path, dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let executable =
        |path: &Path| path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if command.is_absolute() {
        return executable(command);
    }
    if command.components().count() > 1 {
        return executable(&dir.join(command));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| executable(&p.join(command))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions(yaml: &str, dir: &Path) -> Vec<FunctionSettings> {
        let config = portcullis_config::from_str_in(yaml, "t.yaml", dir).unwrap_or_else(|e| panic!("{e}"));
        crate::compile::process(&config).functions
    }

    #[test]
    fn missing_handler_files_and_commands_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.mjs"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/app.py"), "").unwrap();
        let yaml = "functions:
  node_ok: {runtime: nodejs, handler: ok.handler}
  node_missing: {runtime: nodejs, handler: nothere.handler}
  py_ok: {runtime: python, handler: pkg.app.handler}
  py_missing: {runtime: python, handler: gone.handler}
  cmd_path: {runtime: provided, command: sh}
  cmd_missing: {runtime: provided, command: ./bootstrap}
  no_dir: {runtime: nodejs, handler: a.b, dir: nowhere}
";
        let found = warnings(&functions(yaml, dir.path()));
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].starts_with("functions.node_missing: handler `nothere.handler`"), "{}", found[0]);
        assert!(found[0].contains("nothere.js") && found[0].contains("nothere.mjs"));
        assert!(found[1].starts_with("functions.py_missing") && found[1].contains("gone.py"));
        assert!(found[2].starts_with("functions.cmd_missing: command `"), "{}", found[2]);
        assert!(found[3].starts_with("functions.no_dir: directory"), "{}", found[3]);
    }
}

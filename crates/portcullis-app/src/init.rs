//! `portcullis init`: a new project's files, each ready to run: a commented `portcullis.yaml`
//! (written from scratch, or imported from a definition the user has), a sample handler, and a
//! `.gitignore` entry for the state directory (it holds the development issuer's private key).

use std::path::{Path, PathBuf};

use portcullis_import::SourceKind;

/// The starter config: a public route to a function, a route behind the development issuer.
pub const STARTER_CONFIG: &str = r#"# portcullis.yaml: written by `portcullis init`. Reference: docs/config.md.
#
#   portcullis serve --dev        run it (readable logs, functions reloaded on every edit)
#   portcullis check              validate it; `--compat aws` names what AWS would do differently
#   portcullis routes             the route table

# Where API requests are served.
listen: 127.0.0.1:8080

functions:
  # A Lambda handler in handlers/hello.mjs, run by Portcullis's emulation of the Lambda
  # Runtime API (Node.js; `runtime: python` and `provided` work the same way).
  hello:
    runtime: nodejs
    handler: hello.handler
    dir: handlers

authorizers:
  # JWT authorizer backed by the built-in development issuer. Mint a token with
  #   portcullis token --sub alice --aud my-api
  # and replace `dev` with your identity provider's issuer URL (Auth0, Cognito, Clerk, ...).
  users:
    type: jwt
    issuer: dev
    audience: [my-api]

routes:
  # Public: anyone may call it.
  GET /hello/{name}:
    function: hello

  # Private: 401 without a valid token, 200 with one.
  GET /me:
    function: hello
    authorizer: users
"#;

/// The sample handler (`handlers/hello.mjs`).
pub const STARTER_HANDLER: &str = r#"// A Lambda handler: it gets API Gateway's payload 2.0 event and answers as a Lambda function
// behind an HTTP API does. Portcullis reloads it on every edit under `portcullis serve --dev`.
export const handler = async (event) => {
  const claims = event.requestContext?.authorizer?.jwt?.claims;
  const name = event.pathParameters?.name ?? claims?.sub ?? 'world';
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: `Hello, ${name}!`, routeKey: event.routeKey }),
  };
};
"#;

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file `init` would write already exists.
    #[error("{} already exists: remove it or run `portcullis init` in another directory", .0.display())]
    Exists(PathBuf),
    /// The definition could not be imported.
    #[error("{0}")]
    Import(portcullis_config::ConfigErrors),
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What `init` wrote, and what an imported definition holds that Portcullis cannot honour.
#[derive(Debug)]
pub struct Initialized {
    /// The files written or changed, in order.
    pub written: Vec<PathBuf>,
    /// Diagnostics of an imported definition (to print).
    pub diagnostics: Vec<String>,
}

/// Writes a new project into `dir`: `portcullis.yaml` (from `from`, a definition, when given),
/// `handlers/hello.mjs` (without `from`), and a `.portcullis/` line in `.gitignore`.
///
/// # Errors
/// [`InitError`]; nothing is overwritten.
pub fn init(dir: &Path, from: Option<(SourceKind, &Path)>) -> Result<Initialized, InitError> {
    let config_path = dir.join("portcullis.yaml");
    let handler_path = dir.join("handlers/hello.mjs");
    let mut planned = vec![config_path.clone()];
    if from.is_none() {
        planned.push(handler_path.clone());
    }
    if let Some(existing) = planned.iter().find(|p| p.exists()) {
        return Err(InitError::Exists(existing.clone()));
    }
    let write = |path: &Path, text: &str| -> Result<(), InitError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| InitError::Write { path: path.to_owned(), source })?;
        }
        std::fs::write(path, text).map_err(|source| InitError::Write { path: path.to_owned(), source })
    };
    let mut diagnostics = Vec::new();
    match from {
        Some((kind, definition)) => {
            let imported = crate::source::import(kind, definition, None).map_err(InitError::Import)?;
            diagnostics = imported.diagnostics.iter().map(ToString::to_string).collect();
            // The imported config's relative paths are relative to the definition's directory.
            let mut text = imported.yaml.clone();
            if std::path::absolute(&imported.base_dir).ok() != std::path::absolute(dir).ok() {
                text = format!(
                    "# Relative paths below are relative to {}: keep this file beside the definition,\n# or adjust them.\n{text}",
                    imported.base_dir.display()
                );
            }
            write(&config_path, &text)?;
        }
        None => {
            write(&config_path, STARTER_CONFIG)?;
            write(&handler_path, STARTER_HANDLER)?;
        }
    }
    let mut written = planned;
    let gitignore = dir.join(".gitignore");
    let current = std::fs::read_to_string(&gitignore).unwrap_or_default();
    if !current
        .lines()
        .any(|l| matches!(l.trim(), ".portcullis" | ".portcullis/" | "/.portcullis" | "/.portcullis/"))
    {
        let mut text = current;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(
            "# Portcullis state: the development issuer's private key, generated files.\n.portcullis/\n",
        );
        write(&gitignore, &text)?;
        written.push(gitignore);
    }
    Ok(Initialized { written, diagnostics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_project_checks_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target").unwrap();
        let done = init(dir.path(), None).unwrap();
        assert_eq!(done.written.len(), 3);
        let config = portcullis_config::load(&dir.path().join("portcullis.yaml")).unwrap();
        assert_eq!(config.routes.len(), 2);
        assert!(config.functions["hello"].dir.join("hello.mjs").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".gitignore")).unwrap().lines().last(),
            Some(".portcullis/")
        );
        assert!(matches!(init(dir.path(), None), Err(InitError::Exists(_))));
    }
}

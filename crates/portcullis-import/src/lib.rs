//! Bring the API a user already has: an API definition -> the equivalent native Portcullis config.
//!
//! **One job:** read an API definition written for AWS — an OpenAPI 3.0 document with API
//! Gateway's `x-amazon-apigateway-*` extensions, an AWS SAM template, or a Serverless Framework
//! `serverless.yml` (v3 and v4) — and produce native Portcullis config as commented YAML text
//! ([`Imported::yaml`]), plus a [`Diagnostic`] for everything the definition holds that
//! Portcullis cannot honour (a VPC link, IAM authorization, a REST-only setting, an intrinsic it
//! cannot resolve, a runtime it cannot run), each by name and file:line:column. Nothing is
//! dropped silently. [`merge_overlay`] lays a native YAML overlay over the result for what a
//! definition cannot say (listen address, a local `jwks_file`, how to run a function named only
//! by its ARN).
//!
//! **Not its job:** validating the native config (that is `portcullis-config`'s, which loads
//! the output), deploying anything, building code (handlers run from their code directory as
//! written, so interpreted runtimes need no build step), exporting OpenAPI, or reading files
//! other than the one definition ([`import_file`]). It never reads the process environment:
//! serverless `${env:...}` goes through [`ImportOptions::with_env`].
//!
//! **Where it sits:** beside the config loader, before it. The `portcullis` binary reads a
//! definition with this crate, merges an overlay, and hands the YAML to `portcullis-config`.
//! Depends only on `portcullis-config`, for its positioned YAML reader
//! ([`portcullis_config::document`]).
//!
//! ```
//! use portcullis_import::{ImportOptions, SourceKind, import};
//!
//! let openapi = r#"
//! openapi: "3.0.1"
//! info: {title: pets, version: "1"}
//! paths:
//!   /pets/{id}:
//!     get:
//!       x-amazon-apigateway-integration:
//!         type: http_proxy
//!         httpMethod: GET
//!         uri: http://127.0.0.1:3000/pets/{id}
//!         payloadFormatVersion: "1.0"
//!         connectionType: VPC_LINK
//!   /health:
//!     get:
//!       x-amazon-apigateway-integration: {type: http_proxy, uri: "http://127.0.0.1:3000/health"}
//! "#;
//! let imported = import(SourceKind::OpenApi, openapi, "api.yaml", &ImportOptions::default()).unwrap();
//! assert!(imported.yaml.contains("  GET /health:\n    http: http://127.0.0.1:3000/health\n"));
//! assert_eq!(
//!     imported.diagnostics[0].to_string().lines().next().unwrap(),
//!     "api.yaml:12:25: error: paths.\"/pets/{id}\".get.x-amazon-apigateway-integration.connectionType: \
//!      route `GET /pets/{id}`: a VPC link integration (connectionType: VPC_LINK) reaches a private AWS \
//!      network Portcullis cannot join; left out"
//! );
//! ```

mod arn;
mod cfn;
mod cors;
mod diagnostic;
mod emit;
mod native;
mod openapi;
mod options;
mod output;
mod overlay;
mod sam;
mod serverless;
mod source;
mod tree;

use std::path::Path;

pub use diagnostic::{Diagnostic, ImportErrors, Severity};
pub use options::{DEFAULT_ACCOUNT_ID, DEFAULT_REGION, ImportOptions};
pub use output::Imported;
pub use overlay::merge_overlay;
pub use tree::SourcePos;

use crate::source::{Cx, Val};

/// The kind of definition to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// OpenAPI 3.0 with API Gateway's extensions, YAML or JSON.
    OpenApi,
    /// An AWS SAM template (`Transform: AWS::Serverless-2016-10-31`), YAML or JSON.
    Sam,
    /// A Serverless Framework `serverless.yml` (v3 or v4).
    Serverless,
}

impl SourceKind {
    /// Guesses the kind from a document's top-level keys: `openapi`/`swagger` (OpenAPI), a
    /// SAM `Transform` or `Resources` (SAM), `service` with `provider` (Serverless). `None`
    /// when the text is not YAML or matches none.
    pub fn detect(source: &str) -> Option<SourceKind> {
        let doc = portcullis_config::document::parse(source, "").ok()?;
        let root = doc.root();
        if root.get("openapi").is_some() || root.get("swagger").is_some() {
            Some(SourceKind::OpenApi)
        } else if root.get("Transform").is_some() || root.get("Resources").is_some() {
            Some(SourceKind::Sam)
        } else if root.get("service").is_some() && root.get("provider").is_some() {
            Some(SourceKind::Serverless)
        } else {
            None
        }
    }

    fn describe(self) -> &'static str {
        match self {
            SourceKind::OpenApi => "OpenAPI definition with API Gateway extensions",
            SourceKind::Sam => "AWS SAM template",
            SourceKind::Serverless => "Serverless Framework service",
        }
    }
}

/// Reads `source` (YAML or JSON) as a definition of `kind`; `origin` names it in diagnostics
/// and comments. Relative paths in the output are relative to [`ImportOptions::base_dir`].
///
/// # Errors
/// When no config can be produced: the text is not YAML/JSON, is Swagger 2.0 (refused as API
/// Gateway refuses it for HTTP APIs), or is not a definition of `kind`. The error holds every
/// diagnostic found.
pub fn import(
    kind: SourceKind,
    source: &str,
    origin: &str,
    options: &ImportOptions,
) -> Result<Imported, ImportErrors> {
    let mut cx = Cx::new(origin, options);
    let root = source::parse(&mut cx, source)?;
    let (mut native, notes) = match kind {
        SourceKind::OpenApi => (openapi::import(&mut cx, &root)?, Vec::new()),
        SourceKind::Sam => (sam::import(&mut cx, &root)?, Vec::new()),
        SourceKind::Serverless => {
            let service = serverless::import(&mut cx, &root)?;
            (service.native, service.notes)
        }
    };
    if native.region.is_none() {
        native.region = options.region.clone();
    }
    native.account_id = options.account_id.clone();
    let mut header = header(kind, origin, &root);
    header.extend(notes);
    let tree = native::to_tree(&native, origin);
    Ok(Imported::new(header, tree, cx.diagnostics, &options.base_dir))
}

/// Reads the definition at `path`; relative paths in the output (function `dir`) are relative
/// to its directory, which [`Imported::base_dir`] reports (`options.base_dir` is ignored).
///
/// # Errors
/// As [`import`]; a file that cannot be read (or is not a regular file, or is larger than
/// [`portcullis_config::MAX_CONFIG_FILE_BYTES`]) is one error at 0:0.
pub fn import_file(kind: SourceKind, path: &Path, options: &ImportOptions) -> Result<Imported, ImportErrors> {
    let origin = path.display().to_string();
    // The loader's bounds: a regular file, at most MAX_CONFIG_FILE_BYTES, UTF-8.
    let source = portcullis_config::read_config_file(path).map_err(|problem| {
        let problem = problem.replace("config file", "definition");
        ImportErrors::single(Diagnostic::new(
            Severity::Error,
            &origin,
            portcullis_config::Span::default(),
            "",
            problem,
        ))
    })?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => Path::new(".").to_owned(),
    };
    let mut imported = import(kind, &source, &origin, options)?;
    imported.base_dir = base_dir;
    Ok(imported)
}

fn header(kind: SourceKind, origin: &str, root: &Val) -> Vec<String> {
    let title = root.get("info").and_then(|i| i.get("title")).and_then(Val::str);
    let mut lines = vec![match title {
        Some(t) => format!("Portcullis config imported from {origin} ({}, \"{t}\").", kind.describe()),
        None => format!("Portcullis config imported from {origin} ({}).", kind.describe()),
    }];
    lines.push("Generated by portcullis-import: regenerate it rather than edit it, and put local".into());
    lines.push("settings (listen address, key files, how functions run) in an overlay.".into());
    lines
}

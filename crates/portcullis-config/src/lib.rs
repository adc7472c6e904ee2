//! Portcullis's config: YAML text -> a validated, typed [`Config`], or every problem at once.
//!
//! **One job:** turn `portcullis.yaml` into typed values (`SocketAddr`, `Duration`, `Url`,
//! [`UrlTemplate`], [`RouteKey`](portcullis_route::RouteKey), `$request`/`$context`
//! expressions as [`portcullis_core::Variable`] and [`portcullis_core::Template`], enums), with
//! every reference resolved (functions, authorizers, `default_authorizer`) and every problem
//! reported with file, line, column and YAML path ([`ConfigError`]).
//!
//! **Not its job:** reading certificate/key/JWKS files, compiling CEL rules, building runtime
//! objects. `portcullis-app` compiles a [`Config`] into the runtime snapshot; runtime crates take
//! their own `Settings` and never import this crate. CEL `rules` are kept as [`Spanned`] source
//! text so the compiler can report errors at their position with [`ConfigError::at`].
//!
//! **Where it sits:** read by `portcullis-app` and the `portcullis` binary (`check`,
//! `demo-config`). Depends only on `portcullis-route` (to parse route keys and judge duplicate
//! routes exactly as the router will).
//!
//! How it works: a private `yaml` module builds a tree of positioned nodes from the parser events of
//! granit-parser (the YAML parser under serde-saphyr, re-exported by it); the decoder walks it,
//! collecting problems instead of stopping, and refuses unknown keys everywhere (serde's
//! `deny_unknown_fields`, with a "did you mean" hint). Errors come out sorted by position.
//! The [`document`] module lends that positioned tree, read-only and with YAML tags, to crates
//! that read other YAML documents (`portcullis-import`: OpenAPI, SAM, `serverless.yml`).
//!
//! ```
//! let yaml = "routes:\n  GET /pets/{id}:\n    http: http://127.0.0.1:3000/pets/{id}\n    tiemout: 5s\n";
//! let errors = portcullis_config::from_str(yaml, "portcullis.yaml").unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "portcullis.yaml:4:5: routes.\"GET /pets/{id}\".tiemout: unknown key \"tiemout\"\n  help: did you mean `timeout`?"
//! );
//!
//! let config = portcullis_config::demo();
//! assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
//! ```

mod authorizer;
mod cors;
mod decode;
pub mod document;
mod error;
mod expr;
mod function;
mod mapping;
mod route;
mod shared;
mod throttle;
mod top;
mod types;
mod url_template;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use authorizer::{
    Algorithm, AnswerCache, AuthorizerConfig, AuthorizerEvent, Issuer, JwtAuthorizerConfig, JwtCacheConfig,
    KeySource, LambdaAuthorizerConfig, TokenValidation,
};
pub use cors::CorsConfig;
pub use error::{ConfigError, ConfigErrors, Span, Spanned};
pub use function::{FunctionConfig, FunctionRuntime};
pub use route::{FixedResponse, HttpVersion, Integration, IntegrationKind, RouteConfig};
pub use shared::{OnUnavailable, RevocationConfig, SharedStateConfig};
pub use throttle::{ThrottleConfig, ThrottleScope};
pub use types::{
    AccessLogConfig, AccessLogFormat, AccessLogOutput, AdminTokenSource, Compat, Config, LimitsConfig,
    LogConfig, LogFormat, PayloadFormatVersion, TlsConfig,
};
pub use url_template::{Scheme, UrlPart, UrlTemplate};

/// The embedded default config, used by `portcullis serve` when there is no config file and
/// printed by `portcullis demo-config`.
pub const DEMO_YAML: &str = include_str!("demo.yaml");

/// The origin named in errors about [`DEMO_YAML`].
pub const DEMO_ORIGIN: &str = "<embedded demo>";

/// The largest config file read, in bytes. A config of 10,000 routes is about 1 MB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads, parses and validates the config file at `path`. Relative paths in it (TLS files,
/// `state_dir`, function `dir`, key files, `upstream_ca`) resolve against the file's directory.
///
/// # Errors
/// Every problem found, sorted by position; a file that cannot be read, is not a regular file or
/// is larger than [`MAX_CONFIG_FILE_BYTES`] is one error at 0:0.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &LoadOptions::default())
}

/// How to load, beyond what the file says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Check as if the file said `compat:` this (`portcullis check --compat aws`).
    pub compat: Option<Compat>,
}

/// [`load`] with `options`.
///
/// # Errors
/// Those of [`load`].
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    let source = read_config_file(path)
        .map_err(|problem| ConfigErrors::single(ConfigError::at(&origin, Span::default(), "", problem)))?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => Path::new(".").to_owned(),
    };
    from_str_in_with(&source, &origin, &base, options)
}

/// Reads a config file (or any definition file) with the loader's safety bounds: a regular
/// file only (a FIFO, a device such as `/dev/zero` or a directory is refused without reading
/// from it), at most [`MAX_CONFIG_FILE_BYTES`], UTF-8.
///
/// # Errors
/// The problem, as a sentence for the user.
pub fn read_config_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    // Non-blocking, so opening a FIFO with no writer returns at once instead of hanging; reads
    // of a regular file are unaffected.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    let metadata = file.metadata().map_err(|e| format!("cannot read the config file: {e}"))?;
    if !metadata.is_file() {
        let kind =
            if metadata.is_dir() { "a directory" } else { "not a regular file (a device, FIFO or socket)" };
        return Err(format!("cannot read the config file: it is {kind}"));
    }
    if metadata.len() > MAX_CONFIG_FILE_BYTES {
        return Err(format!(
            "the config file is {} bytes, more than the {MAX_CONFIG_FILE_BYTES} a config may have",
            metadata.len()
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // `take`: a file that grows while it is read still stops at the limit.
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(format!("the config file grew past {MAX_CONFIG_FILE_BYTES} bytes while it was read"));
    }
    String::from_utf8(bytes).map_err(|e| format!("the config file is not UTF-8: {e}"))
}

/// Parses and validates `source`; `origin` names it in errors (usually the file name).
/// Relative paths resolve against the current directory.
///
/// # Errors
/// Every problem found, sorted by position.
pub fn from_str(source: &str, origin: &str) -> Result<Config, ConfigErrors> {
    from_str_in(source, origin, Path::new("."))
}

/// Like [`from_str`], resolving relative paths against `base_dir`.
///
/// # Errors
/// Every problem found, sorted by position.
pub fn from_str_in(source: &str, origin: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    from_str_in_with(source, origin, base_dir, &LoadOptions::default())
}

/// Like [`from_str_in`], with `options`.
///
/// # Errors
/// Every problem found, sorted by position.
pub fn from_str_in_with(
    source: &str,
    origin: &str,
    base_dir: &Path,
    options: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    let (root, duplicates) = yaml::parse(source)
        .map_err(|e| ConfigErrors::single(ConfigError::at(origin, e.span, e.path, e.problem)))?;
    let mut cx = decode::Cx::new(origin, base_dir);
    cx.forced_compat = options.compat;
    for d in duplicates {
        cx.errors.push(ConfigError::at(origin, d.span, d.path, d.problem));
    }
    let config = top::decode_config(&mut cx, &root);
    if !cx.errors.is_empty() {
        // Stable sort: problems at one position keep the order they were found in.
        cx.errors.sort_by_key(ConfigError::span);
        return Err(ConfigErrors(cx.errors));
    }
    match config {
        Some(mut c) => {
            cx.warnings.sort_by_key(ConfigError::span);
            c.warnings = cx.warnings;
            Ok(c)
        }
        // Every `None` is preceded by a recorded error; this is a guard, not a path.
        None => Err(ConfigErrors::single(ConfigError::at(origin, Span::default(), "", "invalid config"))),
    }
}

/// The embedded demo config ([`DEMO_YAML`]), parsed.
///
/// # Panics
/// Never in a released build: the demo is checked by a test.
pub fn demo() -> Config {
    from_str(DEMO_YAML, DEMO_ORIGIN).expect("the embedded demo config is valid")
}

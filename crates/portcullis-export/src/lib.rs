//! Take the API to AWS: a native Portcullis [`Config`] -> an OpenAPI 3.0 definition with API
//! Gateway's `x-amazon-apigateway-*` extensions, as `aws apigatewayv2 import-api` reads it for
//! an HTTP API.
//!
//! **One job:** [`export_openapi`] writes the routes, integrations, authorizers, parameter
//! mappings and CORS policy of a config as an OpenAPI 3.0.1 document ([`Exported::document`],
//! rendered with [`Exported::to_json`] or [`Exported::to_yaml`]), and a [`Note`] for every part
//! of the config the document does not carry as it is, by config path. Nothing is dropped
//! silently. Each note says what happened ([`NoteKind`]):
//!
//! - [`NoteKind::LeftOut`]: AWS has no equivalent; an API imported from the document behaves
//!   as if the config did not say it (a fixed response, CEL rules, a route's own `cors`, a keyed
//!   throttle, the development issuer, local key files, `forward_claims`, a TOKEN authorizer).
//!   A route whose authorizer is left out is left out too: never exported unprotected.
//! - [`NoteKind::Approximated`]: written as the closest value AWS accepts (a timeout outside
//!   50 ms to 30 s, several JWT identity sources, an algorithm list AWS does not honour, ARNs
//!   naming the default account).
//! - [`NoteKind::OutsideDefinition`]: AWS has it, but not in an OpenAPI definition of an HTTP
//!   API: the stage and its variables, throttling (stage route settings), access-log formats,
//!   the Lambda functions themselves.
//!
//! Never noted, because they describe where and how this gateway runs rather than the API:
//! `listen`, `admin`, `tls`, `limits`, `state_dir`, `log`, `compat`, `allow_dev_issuer`, a JWT
//! authorizer's `cache`, the loader's default `algorithms` (every supported one; AWS verifies
//! RS256, RS384 and RS512), `http_version: auto` and `"1.1"`. `default_authorizer` is applied
//! to each route (AWS has no default), and `${stageVariables.NAME}` in an `http` URL is
//! exported as the value it had when the config loaded.
//!
//! Importing the document back with `portcullis-import` gives the same config for everything
//! AWS can express (`tests/round_trip.rs` checks it on generated configs): routes as a set
//! (AWS routes have no order), mappings as maps, the rest as written.
//!
//! **Not its job:** reading config files (that is `portcullis-config`'s), importing definitions
//! (`portcullis-import`), deploying anything, or the Lambda functions themselves (an
//! integration names a function by ARN, built from `region`, `account_id` and its name).
//!
//! **Where it sits:** beside the config loader, after it. The `portcullis` binary loads a config
//! and hands it to this crate. Depends on `portcullis-config` for the `Config` and on the
//! `portcullis-core` and `portcullis-route` types it holds; on no runtime crate.
//!
//! ```
//! let config = portcullis_config::from_str(
//!     "routes:\n  GET /pets/{id}:\n    http: https://pets.example.com/pets/{id}\n  GET /health:\n    respond: {status: 200}\n",
//!     "portcullis.yaml",
//! )
//! .unwrap();
//! let exported = portcullis_export::export_openapi(&config);
//! let integration = &exported.document["paths"]["/pets/{id}"]["get"]["x-amazon-apigateway-integration"];
//! assert_eq!(integration["type"], "http_proxy");
//! assert_eq!(integration["uri"], "https://pets.example.com/pets/{id}");
//! assert_eq!(
//!     exported.notes[0].to_string(),
//!     "routes.\"GET /health\".respond: a fixed response has no AWS equivalent; the route is left out"
//! );
//! ```

mod arn;
mod authorizers;
mod cors;
mod deployment;
mod integration;
mod note;
mod routes;
mod yaml;

use portcullis_config::Config;
use serde_json::{Map, Value, json};

pub use note::{Note, NoteKind};

/// The OpenAPI version written (`openapi:`), the one AWS's examples and exports use.
pub const OPENAPI_VERSION: &str = "3.0.1";
/// `info.version` of the document.
pub const DOCUMENT_VERSION: &str = "1.0";

/// An exported definition and what it leaves out or approximates.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The OpenAPI 3.0.1 document (keys in sorted order).
    pub document: Value,
    /// Everything the document does not carry as the config says it: top-level settings and
    /// functions first, then `cors`, `authorizers` and `routes`, each in config order.
    pub notes: Vec<Note>,
}

impl Exported {
    /// The document as indented JSON, ending with a newline (what `import-api --body` reads).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.document).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The document as block-style YAML, every string value double-quoted.
    pub fn to_yaml(&self) -> String {
        yaml::render(&self.document)
    }
}

/// Exports `config` as an OpenAPI 3.0.1 definition for an AWS HTTP API. `info.title` is the
/// config's `api_id`; `info.version` is [`DOCUMENT_VERSION`]. Never fails: whatever AWS cannot
/// express becomes a [`Note`].
pub fn export_openapi(config: &Config) -> Exported {
    let mut notes = note::Notes::default();
    deployment::notes(config, &mut notes);
    let cors = config.cors.as_ref().map(|c| cors::export(c, &mut notes));
    let schemes = authorizers::export(config, &mut notes);
    let paths = routes::export(config, &schemes, &mut notes);

    let mut document = Map::new();
    document.insert("openapi".into(), json!(OPENAPI_VERSION));
    document.insert("info".into(), json!({"title": config.api_id, "version": DOCUMENT_VERSION}));
    document.insert("x-amazon-apigateway-importexport-version".into(), json!("1.0"));
    document.insert("paths".into(), Value::Object(paths));
    if !schemes.schemes.is_empty() {
        document.insert("components".into(), json!({"securitySchemes": schemes.schemes}));
    }
    if let Some(cors) = cors {
        document.insert("x-amazon-apigateway-cors".into(), cors);
    }
    Exported { document: Value::Object(document), notes: notes.0 }
}

#[cfg(test)]
mod tests;

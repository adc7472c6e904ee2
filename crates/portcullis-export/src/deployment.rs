//! Notes on the top-level settings an OpenAPI definition of an HTTP API has no place for: the
//! stage and its settings, which AWS configures beside the imported API, the Lambda functions,
//! which are deployed outside API Gateway, and the ARNs that name them.

use portcullis_config::{AccessLogFormat, AuthorizerConfig, Config, Integration};

use crate::note::{ConfigPath, NoteKind, Notes};

/// The config's default `account_id`, a placeholder.
const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Notes on `stage`, `stage_variables`, `throttle`, `access_log`, `debug_headers`,
/// `account_id` and `functions`.
pub(crate) fn notes(config: &Config, notes: &mut Notes) {
    if config.stage != "$default" {
        notes.add(
            &ConfigPath::root("stage"),
            NoteKind::OutsideDefinition,
            format!("stage `{}` is created beside the imported API (`aws apigatewayv2 create-stage`); an OpenAPI definition names no stage", config.stage),
        );
    }
    if !config.stage_variables.is_empty() {
        notes.add(
            &ConfigPath::root("stage_variables"),
            NoteKind::OutsideDefinition,
            "stage variables are set on the stage (`create-stage --stage-variables`), not in an OpenAPI definition",
        );
    }
    if config.throttle.is_some() {
        notes.add(
            &ConfigPath::root("throttle"),
            NoteKind::OutsideDefinition,
            "the API-wide limit is the stage's DefaultRouteSettings (ThrottlingRateLimit, ThrottlingBurstLimit), not part of an OpenAPI definition",
        );
    }
    if config.access_log.enabled && config.access_log.format != AccessLogFormat::Json {
        notes.add(
            &ConfigPath::root("access_log").key("format"),
            NoteKind::OutsideDefinition,
            "an access-log format is the stage's AccessLogSettings (with a CloudWatch Logs destination), not part of an OpenAPI definition",
        );
    }
    if config.debug_headers {
        notes.left_out(&ConfigPath::root("debug_headers"), "AWS never tells clients why they were denied");
    }
    let names_functions = config.routes.iter().any(|r| matches!(r.integration, Integration::Function(_)))
        || config.authorizers.values().any(|a| matches!(a, AuthorizerConfig::Lambda(_)));
    if names_functions && config.account_id == DEFAULT_ACCOUNT_ID {
        notes.add(
            &ConfigPath::root("account_id"),
            NoteKind::Approximated,
            format!("the Lambda ARNs name the default account {DEFAULT_ACCOUNT_ID}, a placeholder; set `account_id` (and `region`) to where the functions are deployed"),
        );
    }
    for name in config.functions.keys() {
        notes.add(
            &ConfigPath::root("functions").key(name),
            NoteKind::OutsideDefinition,
            format!("a Lambda function is deployed outside API Gateway; integrations and authorizers name it by ARN (function `{name}` in {} of account {})", config.region, config.account_id),
        );
    }
}

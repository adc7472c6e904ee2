//! native -> OpenAPI -> native: the export read back with `portcullis-import` is the same
//! config, for everything AWS can express.
//!
//! What is generated: configs restricted to what AWS HTTP APIs can express: routes with every
//! method, `ANY`, `$default`, literal segments (percent-encoded, dotted, trailing slash),
//! `{var}` and `{proxy+}`; `http` integrations (placeholders, ports, queries, IPv6 hosts) and
//! `function` integrations with payload versions and timeouts; JWT authorizers (https issuers,
//! audiences, a header or query identity source); Lambda REQUEST authorizers (payload version,
//! simple responses, identity sources, result TTL); `default_authorizer`, `authorizer: none`,
//! scopes; request and response parameter mappings; the API's CORS policy; region and account;
//! a named stage and a stage variable (`$stageVariables.tier` in URLs, mappings and identity
//! sources), which the overlay gives back, as a stage is not part of a definition. Strings
//! that YAML reads as something else unless quoted (`true`, `012`, `a: b`, `#x`) appear in
//! audiences, scopes and mapping values.
//!
//! What is checked, for each config:
//! - the export notes nothing but the functions (deployed outside API Gateway) and the stage;
//! - the document, as JSON or as YAML, imports with no diagnostic but "this function is defined
//!   elsewhere", which an overlay giving the functions (and the stage) resolves;
//! - the result loads, and equals the original on every AWS-expressible field: each route
//!   (integration, timeout, payload version, authorizer, scopes, mappings, every other route
//!   setting), each authorizer, CORS, region, account and stage. Routes compare as a set keyed
//!   by route key and mapping entries as maps: AWS keeps neither in order. `default_authorizer`
//!   is compared through the authorizer of each route, where AWS keeps it;
//! - exporting the result again gives the same document.
//!
//! Cases: `PORTCULLIS_FUZZ_CASES` (default [`DEFAULT_CASES`], a few seconds in a debug build).
//! Failures are kept in `tests/round_trip.proptest-regressions` and replayed first.

mod aws_fixtures;
mod generated;

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_config::{AuthorizerConfig, Config, CorsConfig, Span, Spanned};
use portcullis_core::Variable;
use portcullis_import::{ImportOptions, Severity, SourceKind};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases when `PORTCULLIS_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 256;

fn cases() -> ProptestConfig {
    let cases = std::env::var("PORTCULLIS_FUZZ_CASES").ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(DEFAULT_CASES),
        max_shrink_time: 60_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/round_trip.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

// === what "the same config" means ===

/// What AWS can express of a config, in a form that compares: spans cleared, routes keyed by
/// route key, mapping entries sorted.
#[derive(Debug, PartialEq)]
struct AwsView {
    region: String,
    account_id: String,
    stage: String,
    stage_variables: Vec<(String, String)>,
    routes: BTreeMap<String, portcullis_config::RouteConfig>,
    authorizers: BTreeMap<String, AuthorizerView>,
    cors: Option<CorsConfig>,
}

#[derive(Debug, PartialEq)]
enum AuthorizerView {
    Jwt(Box<portcullis_config::JwtAuthorizerConfig>),
    Lambda {
        function: String,
        event: portcullis_config::AuthorizerEvent,
        simple_responses: bool,
        identity_source: Vec<Variable>,
        result_ttl: Duration,
        token_validation: Option<String>,
        forward_context: Vec<(String, String)>,
    },
}

fn aws_view(config: &Config) -> AwsView {
    let routes = config
        .routes
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.key = Spanned::new(r.key.value.clone(), Span::default());
            r.parameter_mapping.sort_by_key(|e| (e.to_string(), e.value.to_string()));
            for (_, entries) in &mut r.response_parameters {
                entries.sort_by_key(|e| (e.to_string(), e.value.to_string()));
            }
            r.response_parameters.sort_by_key(|(status, _)| *status);
            (r.key.to_string(), r)
        })
        .collect();
    let authorizers = config
        .authorizers
        .iter()
        .map(|(name, a)| {
            let view = match a {
                AuthorizerConfig::Jwt(j) => AuthorizerView::Jwt(Box::new(j.clone())),
                AuthorizerConfig::Lambda(l) => AuthorizerView::Lambda {
                    function: l.function.clone(),
                    event: l.event,
                    simple_responses: l.simple_responses,
                    identity_source: l.identity_source.clone(),
                    result_ttl: l.result_ttl,
                    token_validation: l.token_validation.as_ref().map(|t| t.pattern.clone()),
                    forward_context: l
                        .forward_context
                        .iter()
                        .map(|(h, k)| (h.to_string(), k.clone()))
                        .collect(),
                },
            };
            (name.clone(), view)
        })
        .collect();
    let cors = config.cors.clone().map(|c| CorsConfig { span: Span::default(), ..c });
    AwsView {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        stage: config.stage.clone(),
        stage_variables: config.stage_variables.clone(),
        routes,
        authorizers,
        cors,
    }
}

// === the round trip ===

/// Exports `original`, imports the document (as YAML when `yaml`), merges `overlay`, loads the
/// result; panics on any unexpected note or diagnostic.
fn round_trip(original: &Config, overlay: &str, yaml: bool) -> Config {
    let exported = portcullis_export::export_openapi(original);
    let unexpected: Vec<String> = exported
        .notes
        .iter()
        .filter(|n| !(n.path.starts_with("functions.") || n.path == "stage" || n.path == "stage_variables"))
        .map(ToString::to_string)
        .collect();
    assert!(unexpected.is_empty(), "notes on an AWS-expressible config: {unexpected:#?}");
    let (text, origin) =
        if yaml { (exported.to_yaml(), "api.yaml") } else { (exported.to_json(), "api.json") };
    let mut options = ImportOptions::default();
    options.region = Some(original.region.clone());
    options.account_id = Some(original.account_id.clone());
    let imported = portcullis_import::import(SourceKind::OpenApi, &text, origin, &options)
        .unwrap_or_else(|e| panic!("the export does not import:\n{e}\n--- {origin} ---\n{text}"));
    let unexpected: Vec<String> = imported
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Error || !d.message.contains("is defined outside this file"))
        .map(ToString::to_string)
        .collect();
    assert!(unexpected.is_empty(), "import diagnostics: {unexpected:#?}\n--- {origin} ---\n{text}");
    let merged = portcullis_import::merge_overlay(&imported, overlay, "overlay.yaml")
        .unwrap_or_else(|e| panic!("the overlay does not merge:\n{e}"));
    let left: Vec<String> = merged.diagnostics.iter().map(ToString::to_string).collect();
    assert!(left.is_empty(), "diagnostics the overlay leaves: {left:#?}");
    portcullis_config::from_str_in(&merged.yaml, "imported.yaml", &merged.base_dir)
        .unwrap_or_else(|e| panic!("the import does not load:\n{e}\n--- imported ---\n{}", merged.yaml))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn native_to_openapi_to_native_keeps_everything_aws_can_express(api in generated::api(), yaml in any::<bool>()) {
        let (config_yaml, overlay) = api.config_yaml();
        let original = portcullis_config::from_str(&config_yaml, "portcullis.yaml")
            .unwrap_or_else(|e| panic!("the generated config is invalid:\n{e}\n--- config ---\n{config_yaml}"));
        let back = round_trip(&original, &overlay, yaml);
        prop_assert_eq!(aws_view(&back), aws_view(&original), "--- config ---\n{}", config_yaml);
        let again = portcullis_export::export_openapi(&back);
        prop_assert_eq!(again.document, portcullis_export::export_openapi(&original).document);
    }
}

//! Golden tests of error texts (each pins line and column), and typed decoding of valid configs.

use std::path::Path;
use std::time::Duration;

use crate::*;

/// The full error text for `yaml`, which must be invalid.
fn errors(yaml: &str) -> String {
    match from_str(yaml, "t.yaml") {
        Ok(_) => panic!("config unexpectedly valid:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

fn ok(yaml: &str) -> Config {
    match from_str(yaml, "t.yaml") {
        Ok(c) => c,
        Err(e) => panic!("config unexpectedly invalid:\n{e}"),
    }
}

// === unknown keys ===

#[test]
fn misspelt_route_key_is_reported_at_the_key_with_a_suggestion() {
    let e =
        errors("routes:\n  GET /pets/{id}:\n    http: http://127.0.0.1:3000/pets/{id}\n    tiemout: 5s\n");
    assert_eq!(
        e,
        "t.yaml:4:5: routes.\"GET /pets/{id}\".tiemout: unknown key \"tiemout\"\n  help: did you mean `timeout`?"
    );
}

#[test]
fn misspelt_top_level_key_suggests_the_close_one() {
    assert_eq!(
        errors("listn: 127.0.0.1:8080\n"),
        "t.yaml:1:1: listn: unknown key \"listn\"\n  help: did you mean `listen`?"
    );
}

#[test]
fn unknown_key_far_from_every_name_lists_the_known_ones() {
    let e = errors("limits:\n  zzzzzz: 1\n");
    assert_eq!(
        e,
        "t.yaml:2:3: limits.zzzzzz: unknown key \"zzzzzz\"\n  help: expected one of: `max_body`, `max_header_bytes`, `header_timeout`, `idle_timeout`, `drain_timeout`, `max_connections`, `max_connections_per_client`, `http2_max_concurrent_streams`, `upstream_max_connections`, `upstream_max_pending`"
    );
}

#[test]
fn unknown_keys_are_refused_in_nested_sections() {
    let e = errors(
        "functions:\n  f: {runtime: python, handler: app.h, envirnoment: {A: b}}\nauthorizers:\n  a: {type: jwt, issuer: https://i.example/, audience: [x], cache: {max_token: 5}}\nroutes:\n  GET /: {respond: {stauts: 201}}\n",
    );
    assert_eq!(
        e,
        "t.yaml:2:40: functions.f.envirnoment: unknown key \"envirnoment\"\n  help: did you mean `environment`?\n\
         t.yaml:4:69: authorizers.a.cache.max_token: unknown key \"max_token\"\n  help: did you mean `max_tokens`?\n\
         t.yaml:6:21: routes.\"GET /\".respond.stauts: unknown key \"stauts\"\n  help: did you mean `status`?"
    );
}

// === route keys ===

#[test]
fn bad_route_keys_are_reported_at_the_key_with_the_routers_suggestion() {
    let cases = [
        (
            "GIT /pets",
            "invalid route key `GIT /pets`: unknown method `GIT`: use one of ANY, GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (upper case)\n  help: did you mean `GET`?",
        ),
        (
            "get /pets",
            "invalid route key `get /pets`: unknown method `get`: use one of ANY, GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (upper case)\n  help: did you mean `GET`?",
        ),
        (
            "GET/pets",
            "invalid route key `GET/pets`: the method and the path must be separated by one space\n  help: did you mean `GET /pets`?",
        ),
        (
            "GET pets",
            "invalid route key `GET pets`: the path must start with `/`\n  help: did you mean `GET /pets`?",
        ),
        (
            "GET /{proxy+}/x",
            "invalid route key `GET /{proxy+}/x`: greedy variable `{proxy+}` must be the last segment of the path",
        ),
        ("GET /{a}/{a}", "invalid route key `GET /{a}/{a}`: variable `a` appears twice in one route key"),
        (
            "GET /a{b}",
            "invalid route key `GET /a{b}`: `a{b}`: a path variable must be a whole segment, like `/{name}`",
        ),
        (
            "GET $default",
            "invalid route key `GET $default`: `$default` must stand alone, exactly as written here\n  help: did you mean `$default`?",
        ),
    ];
    for (key, message) in cases {
        let yaml = format!("routes:\n  {key}: {{http: http://a}}\n");
        assert_eq!(errors(&yaml), format!("t.yaml:2:3: routes.{key:?}: {message}"), "route key {key:?}");
    }
}

#[test]
fn duplicate_routes_name_both_positions() {
    let e = errors(
        "routes:\n  GET /pets/{id}: {http: http://a}\n  POST /pets/{id}: {http: http://a}\n  GET /pets/{petId}: {http: http://a}\n",
    );
    assert_eq!(
        e,
        "t.yaml:4:3: routes.\"GET /pets/{petId}\": duplicate route: \"GET /pets/{petId}\" has the same method and path shape as \"GET /pets/{id}\" (line 2, column 3)\n  help: variable names do not distinguish routes; merge them or change one"
    );
}

// === URLs ===

#[test]
fn bad_urls_are_reported_at_the_value() {
    let cases = [
        ("ftp://a/b", "scheme \"ftp\" is not supported (use http or https)"),
        ("http://u:p@a/b", "user info (user:password@) is not allowed; send credentials with headers"),
        ("http://a/b#c", "fragments (#...) are never sent to servers; remove it"),
        ("/b", "expected an absolute http:// or https:// URL"),
        ("http://:80/b", "bad host or port (empty host)"),
        ("http://a/b c", "character ' ' must be percent-encoded"),
        ("http://a/b%zz", "`%` must start a percent-escape such as %20"),
        ("http://{x}/b", "placeholders are only allowed in the path"),
        ("http://a/b?q={x}", "placeholders are only allowed in the path, not the query"),
    ];
    for (url, why) in cases {
        let yaml = format!("routes:\n  GET /x/{{x}}: {{http: '{url}'}}\n");
        assert_eq!(
            errors(&yaml),
            format!("t.yaml:2:22: routes.\"GET /x/{{x}}\".http: invalid URL {url:?}: {why}"),
            "url {url:?}"
        );
    }
}

#[test]
fn unknown_placeholder_names_the_route_variables_and_suggests() {
    assert_eq!(
        errors("routes:\n  GET /pets/{id}:\n    http: http://a/pets/{idd}\n"),
        "t.yaml:3:11: routes.\"GET /pets/{id}\".http: unknown placeholder {idd} in URL: the route key's variables are {id}\n  help: did you mean `{id}`?"
    );
    assert_eq!(
        errors("routes:\n  $default:\n    http: http://a/{proxy}\n"),
        "t.yaml:3:11: routes.\"$default\".http: unknown placeholder {proxy} in URL: the route key has no variables"
    );
    assert_eq!(
        errors("routes:\n  ANY /f/{proxy+}:\n    http: http://a/s/{proxy+}\n"),
        "t.yaml:3:11: routes.\"ANY /f/{proxy+}\".http: placeholder {proxy+} in the URL: greedy `+` belongs only in the route key\n  help: write `{proxy}`"
    );
}

// === durations and sizes ===

#[test]
fn bad_duration_is_reported_at_the_value() {
    assert_eq!(
        errors("routes:\n  GET /pets:\n    http: http://a\n    timeout: 5 parsecs\n"),
        "t.yaml:4:14: routes.\"GET /pets\".timeout: invalid duration \"5 parsecs\" (expected e.g. 5s, 250ms, 1m)"
    );
    assert_eq!(
        errors("routes:\n  GET /pets:\n    http: http://a\n    timeout: 5\n"),
        "t.yaml:4:14: routes.\"GET /pets\".timeout: invalid duration \"5\": a unit is required\n  help: write `5s` for seconds or `5ms` for milliseconds"
    );
    assert_eq!(
        errors("limits:\n  header_timeout: 0s\n"),
        "t.yaml:2:19: limits.header_timeout: duration must be greater than zero"
    );
}

#[test]
fn bad_size_is_reported_at_the_value() {
    assert_eq!(
        errors("limits:\n  max_body: 10 parsecs\n"),
        "t.yaml:2:13: limits.max_body: invalid size \"10 parsecs\" (expected bytes or e.g. 150KB, 10MB, 10MiB, 1GB)"
    );
    assert_eq!(
        errors("limits:\n  max_header_bytes: -1\n"),
        "t.yaml:2:21: limits.max_header_bytes: invalid size \"-1\" (expected bytes or e.g. 150KB, 10MB, 10MiB, 1GB)"
    );
}

#[test]
fn sizes_accept_bytes_and_decimal_and_binary_units() {
    for (text, bytes) in [
        ("1234", 1234u64),
        ("150KB", 150_000),
        ("10MB", 10_000_000),
        ("10MiB", 10_485_760),
        ("1GB", 1_000_000_000),
        ("2 GiB", 2 << 30),
        ("512kib", 512 * 1024),
    ] {
        let c = ok(&format!("limits: {{max_body: {text}}}\nroutes: {{}}\n"));
        assert_eq!(c.limits.max_body, bytes, "{text}");
    }
}

// === references ===

#[test]
fn missing_function_and_authorizer_references_are_errors_with_suggestions() {
    let e = errors(
        "functions:\n  private: {runtime: nodejs, handler: src/private.main}\n\
         authorizers:\n  auth0: {type: jwt, issuer: https://a.example/, audience: [x]}\n  adm: {type: lambda, function: privte, event: request}\n\
         default_authorizer: auth1\n\
         routes:\n  GET /x: {function: privat}\n  GET /y: {http: http://a, authorizer: auth}\n",
    );
    assert_eq!(
        e,
        "t.yaml:5:33: authorizers.adm.function: unknown function \"privte\": it is not defined under `functions:`\n  help: did you mean `private`?\n\
         t.yaml:6:21: default_authorizer: unknown authorizer \"auth1\": it is not defined under `authorizers:`\n  help: did you mean `auth0`?\n\
         t.yaml:8:22: routes.\"GET /x\".function: unknown function \"privat\": it is not defined under `functions:`\n  help: did you mean `private`?\n\
         t.yaml:9:40: routes.\"GET /y\".authorizer: unknown authorizer \"auth\": it is not defined under `authorizers:` (use `none` for a public route)\n  help: did you mean `auth0`?"
    );
}

#[test]
fn a_broken_definition_is_not_reported_again_at_its_references() {
    // The function is invalid (bad handler), but the route's reference to it is not an error.
    let e = errors("functions:\n  f: {runtime: nodejs, handler: nodot}\nroutes:\n  GET /x: {function: f}\n");
    assert_eq!(
        e,
        "t.yaml:2:33: functions.f.handler: invalid handler \"nodot\": expected `path/file.export`, e.g. src/index.handler"
    );
}

// === compat: aws ===

#[test]
fn compat_aws_names_every_non_aws_feature_and_why() {
    let e = errors(
        "compat: aws\nauthorizers:\n  a:\n    type: jwt\n    issuer: dev\n    audience: [x]\n    algorithms: [RS256, ES256]\n    leeway: 5s\n    identity_source: [$request.cookie.s]\n    rules: [\"claims.x == 1\"]\n  b: {type: jwt, issuer: https://i.example/, audience: [x], public_key_file: k.pem}\nroutes:\n  GET /x: {respond: {body: hi}, timeout: 45s}\n  GET /y: {http: http://a, rules: [\"true\"], authorizer: none}\n",
    );
    let help = "\n  help: remove it, or set `compat: extended`";
    assert_eq!(
        e,
        format!(
            "t.yaml:5:13: authorizers.a.issuer: `issuer: dev` is not available with compat: aws (AWS verifies tokens only from real OIDC issuers){help}\n\
             t.yaml:7:25: authorizers.a.algorithms[1]: algorithm ES256 is not available with compat: aws (AWS JWT authorizers support RSA (RS256, RS384, RS512) only){help}\n\
             t.yaml:8:13: authorizers.a.leeway: `leeway` is not available with compat: aws (AWS allows no clock skew){help}\n\
             t.yaml:9:23: authorizers.a.identity_source[0]: a cookie identity source is not available with compat: aws (AWS reads identity sources from headers, query strings, $context and $stageVariables only){help}\n\
             t.yaml:10:5: authorizers.a.rules: `rules` on a JWT authorizer is not available with compat: aws (AWS JWT authorizers check only issuer, audience, expiry and scopes){help}\n\
             t.yaml:11:78: authorizers.b.public_key_file: `public_key_file` is not available with compat: aws (AWS always fetches keys from the issuer){help}\n\
             t.yaml:13:12: routes.\"GET /x\".respond: a `respond` integration is not available with compat: aws (AWS HTTP APIs have no fixed-response integration){help}\n\
             t.yaml:13:42: routes.\"GET /x\".timeout: timeout 45s is outside AWS's integration limit of 50ms to 30s (compat: aws)\n  help: use at most 30s, or set `compat: extended`\n\
             t.yaml:14:28: routes.\"GET /y\".rules: `rules` on a route is not available with compat: aws (AWS routes have no declarative authorization rules){help}"
        )
    );
}

#[test]
fn compat_extended_allows_the_same_features() {
    let c = ok(
        "authorizers:\n  a:\n    type: jwt\n    issuer: dev\n    audience: [x]\n    algorithms: [RS256, ES256]\n    leeway: 5s\n    identity_source: [$request.cookie.s]\n    rules: [\"claims.x == 1\"]\nroutes:\n  GET /x: {respond: {body: hi}, timeout: 45s}\n",
    );
    assert_eq!(c.routes[0].timeout, Duration::from_secs(45));
}

#[test]
fn compat_aws_defaults_jwt_algorithms_to_rsa() {
    let c = ok(
        "compat: aws\nauthorizers:\n  a: {type: jwt, issuer: https://i.example/, audience: [x]}\nroutes: {}\n",
    );
    let AuthorizerConfig::Jwt(j) = &c.authorizers["a"] else { panic!("jwt") };
    assert_eq!(j.algorithms, Algorithm::AWS.to_vec());
}

// === YAML-level problems ===

#[test]
fn duplicate_yaml_keys_are_errors_naming_both_positions_and_checking_continues() {
    assert_eq!(
        errors(
            "routes:\n  GET /x:\n    http: http://a\n    http: http://b\n  GET /x: {http: http://c}\n  GET /y: {http: http://a, timeout: soon}\n"
        ),
        "t.yaml:4:5: routes.\"GET /x\".http: duplicate key \"http\" (first written at line 3, column 5)\n\
         t.yaml:5:3: routes.\"GET /x\": duplicate key \"GET /x\" (first written at line 2, column 3)\n\
         t.yaml:6:37: routes.\"GET /y\".timeout: invalid duration \"soon\" (expected e.g. 5s, 250ms, 1m)"
    );
}

#[test]
fn wrong_types_say_what_was_expected_and_found() {
    assert_eq!(
        errors(
            "listen: {a: 1}\ndebug_headers: yes\nfunctions:\n  f: {runtime: python, handler: app.h, concurrency: many}\nroutes: []\n"
        ),
        "t.yaml:1:9: listen: expected a string, found a mapping\n\
         t.yaml:2:16: debug_headers: expected true or false, found \"yes\"\n\
         t.yaml:4:53: functions.f.concurrency: expected a whole number, found \"many\"\n\
         t.yaml:5:9: routes: expected a mapping, found a list"
    );
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    assert_eq!(
        errors("routes:\n  GET /x: {http: http://a\n"),
        "t.yaml:2:11: invalid YAML: unclosed bracket '{'"
    );
    assert_eq!(
        errors("routes: {}\n---\nroutes: {}\n"),
        "t.yaml:3:1: expected a single YAML document, found a second one"
    );
}

#[test]
fn alias_bombs_are_refused() {
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let p = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = errors(&yaml);
    assert!(e.contains("document too large"), "{e}");
}

#[test]
fn anchors_aliases_and_merge_keys_work_and_x_keys_hold_anchors() {
    let c = ok(
        "x-defaults: &d {timeout: 5s, authorizer: none}\nx-url: &u http://a\nroutes:\n  GET /a: {<<: *d, http: *u}\n  GET /b: {<<: *d, http: http://b, timeout: 7s}\n",
    );
    assert_eq!(c.routes[0].timeout, Duration::from_secs(5));
    assert_eq!(c.routes[1].timeout, Duration::from_secs(7), "explicit keys win over merged ones");
    assert!(matches!(&c.routes[0].integration, Integration::Http(u) if u.host == "a"));
}

// === other validation ===

#[test]
fn every_problem_is_reported_at_once_sorted_by_position() {
    let e = from_str(
        "routes:\n  GET /b: {http: http://a, timeout: 1 fortnight}\n  GET /a: {http: ftp://x}\nlisten: nowhere\n",
        "t.yaml",
    )
    .unwrap_err();
    let lines: Vec<(usize, usize)> = e.errors().iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(lines, vec![(2, 37), (3, 18), (4, 9)]);
}

#[test]
fn route_integrations_are_exactly_one() {
    assert_eq!(
        errors("routes:\n  GET /x: {http: http://a, function: f}\n  GET /y: {timeout: 5s}\n"),
        "t.yaml:2:28: routes.\"GET /x\".function: a route has exactly one integration, but both `http` and `function` are written\n\
         t.yaml:3:3: routes.\"GET /y\": a route needs an integration: `http: URL`, `function: NAME` or `respond: {...}`"
    );
}

#[test]
fn issuer_must_be_https_unless_loopback() {
    assert_eq!(
        errors("authorizers:\n  a: {type: jwt, issuer: http://idp.example.com/, audience: [x]}\n"),
        "t.yaml:2:26: authorizers.a.issuer: issuer \"http://idp.example.com/\" must use https (http is allowed only for loopback hosts: 127.0.0.0/8, ::1, localhost)"
    );
    for host in ["127.0.0.1:9000", "127.5.6.7", "[::1]:8443", "localhost:3000"] {
        ok(&format!(
            "authorizers:\n  a: {{type: jwt, issuer: 'http://{host}/', audience: [x], jwks_uri: 'http://{host}/jwks'}}\nroutes: {{}}\n"
        ));
    }
}

#[test]
fn key_sources_exclude_each_other() {
    assert_eq!(
        errors(
            "authorizers:\n  a: {type: jwt, issuer: https://a.example/, audience: [x], jwks_uri: https://a.example/k, public_key_file: k.pem}\n"
        ),
        "t.yaml:2:92: authorizers.a.public_key_file: `public_key_file` and `jwks_uri` exclude each other: choose one source of keys"
    );
}

#[test]
fn lambda_authorizer_limits_are_checked() {
    assert_eq!(
        errors(
            "functions:\n  authz: {runtime: nodejs, handler: index.handler}\nauthorizers:\n  l: {type: lambda, function: authz, event: token, result_ttl: 2h, token_validation: '^(Bearer'}\n  r: {type: lambda, function: authz, event: request, identity_source: [$request.header.X, $bogus.x], simple_responses: true, payload_format_version: '1.0'}\n"
        ),
        "t.yaml:4:64: authorizers.l.result_ttl: result_ttl 2h is over the maximum of 3600s\n\
         t.yaml:4:86: authorizers.l.token_validation: invalid regex \"^(Bearer\": unclosed group\n\
         t.yaml:5:91: authorizers.r.identity_source[1]: invalid identity source: unknown variable `$bogus.x`\n  help: here variables start with `$request.`, `$context.`, `$stageVariables.`\n\
         t.yaml:5:120: authorizers.r.simple_responses: `simple_responses` needs `event: request` with payload_format_version \"2.0\" (as on AWS)"
    );
}

#[test]
fn defaulted_result_ttl_is_a_warning_not_an_error() {
    let c = ok(
        "functions:\n  authz: {runtime: nodejs, handler: index.handler}\nauthorizers:\n  l: {type: lambda, function: authz, event: token}\nroutes: {}\n",
    );
    let AuthorizerConfig::Lambda(l) = &c.authorizers["l"] else { panic!("lambda") };
    assert_eq!(l.result_ttl, Duration::from_secs(300));
    assert_eq!(
        c.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "t.yaml:4:6: authorizers.l: no `result_ttl`: caching decisions for 300s (AWS's HTTP API default is undocumented); write `result_ttl` to choose"
        ]
    );
}

#[test]
fn function_names_follow_lambdas_rule() {
    assert_eq!(
        errors("functions:\n  my fn: {runtime: python, handler: app.h}\n"),
        "t.yaml:2:3: functions.\"my fn\": invalid function name \"my fn\" (as on Lambda: 1 to 64 letters, digits, - and _)"
    );
}

#[test]
fn values_are_taken_as_written_so_leading_zeros_survive() {
    let c = ok(
        "account_id: 012345678901\nroutes:\n  GET /x: {function: f, payload_format_version: 1.0}\nfunctions:\n  f: {runtime: python, handler: app.h}\n",
    );
    assert_eq!(c.account_id, "012345678901");
    assert_eq!(c.routes[0].payload_format_version, PayloadFormatVersion::V1);
}

#[test]
fn scopes_need_a_jwt_authorizer() {
    assert_eq!(
        errors("routes:\n  GET /x: {http: http://a, scopes: [read]}\n"),
        "t.yaml:2:36: routes.\"GET /x\".scopes: `scopes` need a JWT authorizer, but this route has none"
    );
}

#[test]
fn error_at_builds_positioned_errors_for_later_compile_steps() {
    let c = ok(
        "authorizers:\n  a: {type: jwt, issuer: dev, audience: [x], rules: ['claims.x ==']}\nroutes: {}\n",
    );
    let AuthorizerConfig::Jwt(j) = &c.authorizers["a"] else { panic!("jwt") };
    let rule = &j.rules[0];
    let e = ConfigError::at(&c.origin, rule.span, "authorizers.a.rules[0]", "syntax error");
    assert_eq!(e.to_string(), "t.yaml:2:54: authorizers.a.rules[0]: syntax error");
}

// === valid configs ===

#[test]
fn demo_config_parses_and_has_the_documented_routes() {
    let c = demo();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin.to_string(), "127.0.0.1:9901");
    let keys: Vec<String> = c.routes.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        keys,
        ["GET /private", "GET /", "GET /hello/{name}", "GET /fn/{name}", "ANY /public/{proxy+}"]
    );
    assert!(c.functions.contains_key("hello"), "the demo runs one function");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.routes[0].authorizer.as_deref(), Some("dev"), "the demo protects /private");
    assert!(c.routes[1..].iter().all(|r| r.authorizer.is_none()), "the rest of the demo is public");
    let Integration::Respond(r) = &c.routes[1].integration else { panic!("respond") };
    assert_eq!(r.status, http::StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("demo front page is JSON");
    assert!(body["try"].is_array());
}

#[test]
fn empty_config_gets_every_default() {
    let c = ok("# nothing\n");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin.to_string(), "127.0.0.1:9901");
    assert_eq!(c.limits, LimitsConfig::default());
    assert_eq!(c.limits.max_body, 10_485_760);
    assert_eq!(c.limits.max_header_bytes, 10_240);
    assert_eq!(c.limits.header_timeout, Duration::from_secs(10));
    assert_eq!(c.limits.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.drain_timeout, Duration::from_secs(30));
    assert_eq!(c.compat, Compat::Extended);
    assert_eq!(
        (c.region.as_str(), c.account_id.as_str(), c.api_id.as_str(), c.stage.as_str()),
        ("us-east-1", "123456789012", "portcullis", "$default")
    );
    assert!(c.access_log.enabled);
    assert!(!c.debug_headers);
    assert_eq!(
        c.state_dir,
        std::env::current_dir().unwrap().join(".portcullis"),
        "absolute, from the config's directory"
    );
    assert!(c.routes.is_empty());
}

const FULL: &str = r#"
listen: 0.0.0.0:8443
admin: "[::1]:9000"
tls: {cert: certs/cert.pem, key: /etc/keys/key.pem}
limits: {max_body: 1MiB, max_header_bytes: 16KiB, header_timeout: 2s, idle_timeout: 90s, drain_timeout: 5s, max_connections: 5000, max_connections_per_client: 64, http2_max_concurrent_streams: 50, upstream_max_connections: 200, upstream_max_pending: 0}
state_dir: state
log: {format: pretty, level: "portcullis=debug,info"}
access_log: {enabled: false}
compat: extended
region: eu-west-1
account_id: "012345678901"
api_id: abc123
stage: prod
stage_variables: {env: prod}
debug_headers: true
functions:
  private:
    runtime: nodejs
    handler: src/private.main
    timeout: 10s
    concurrency: 4
    environment: {TABLE: orders, COUNT: 3}
    prewarm: 2
    watch: true
    memory: 256
    idle_timeout: 2m
  report: {runtime: python, handler: app.handler, dir: py, max_invocations: 100_000}
  native: {runtime: provided, command: [./target/release/bootstrap, --fast]}
  remote: {invoke_url: "http://127.0.0.1:9000/2015-03-31/functions/function/invocations"}
  clerk-authz: {runtime: nodejs, handler: authz.handler}
authorizers:
  auth0:
    type: jwt
    issuer: https://myorg.us.auth0.com/
    audience: [UsGRQJJz5sDfPQDs6bhQ9Oc3hNISuVif]
    identity_source: [$request.header.Authorization, $request.querystring.token]
    jwks_uri: https://myorg.us.auth0.com/.well-known/jwks.json
    algorithms: [RS256, ES256, EdDSA]
    leeway: 30s
    forward_claims: {x-user-id: sub, X-User-Email: email}
    cache: {max_tokens: 500, jwks_refresh: 10m, jwks_max_stale: 1h}
  clerk:
    type: jwt
    issuer: https://clerk.example.com
    audience: [ClerkJwtAuthorizer]
    public_key_file: keys/clerk.pem
    rules: ["claims.metadata.role == 'admin'"]
  admins:
    type: lambda
    function: clerk-authz
    event: token
    identity_source: [$request.header.Authorization]
    result_ttl: 300s
    token_validation: '^Bearer [-0-9a-zA-Z._]+$'
  tenants:
    type: lambda
    function: clerk-authz
    event: request
    payload_format_version: "2.0"
    simple_responses: true
    identity_source: [$request.header.X-Tenant, $context.routeKey, $stageVariables.env, $request.cookie.sid]
    result_ttl: 0s
    forward_context: {x-tenant: tenant}
default_authorizer: auth0
routes:
  GET /pets/{id}:
    http: http://127.0.0.1:3000/pets/{id}?src=gw
  ANY /files/{proxy+}:
    http: https://files.internal:8443/static/{proxy}
    timeout: 5s
    http_version: "2"
    upstream_ca: ca.pem
  POST /orders: {http: "https://orders.internal/api/orders", scopes: [orders:write], http_version: "1.1"}
  GET /public: {http: http://127.0.0.1:3000, authorizer: none}
  GET /private: {function: private}
  GET /legacy: {function: report, payload_format_version: "1.0", authorizer: admins}
  GET /reports: {function: remote, rules: ["'analyst' in claims['cognito:groups']"]}
  GET /tenant: {function: native, authorizer: tenants, timeout: 1m}
  GET /teapot:
    respond: {status: 418, headers: {content-type: text/plain, x-a: b}, body: "short and stout"}
  $default:
    http: http://127.0.0.1:3000
"#;

#[test]
fn full_config_decodes_into_typed_values() {
    let base = Path::new("/srv/gw");
    let c = from_str_in(FULL, "full.yaml", base).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(c.admin.to_string(), "[::1]:9000");
    assert_eq!(c.tls, Some(TlsConfig { cert: base.join("certs/cert.pem"), key: "/etc/keys/key.pem".into() }));
    assert_eq!(
        c.limits,
        LimitsConfig {
            max_body: 1 << 20,
            max_header_bytes: 16 << 10,
            header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(90),
            drain_timeout: Duration::from_secs(5),
            max_connections: Some(5000),
            max_connections_per_client: Some(64),
            http2_max_concurrent_streams: 50,
            upstream_max_connections: 200,
            upstream_max_pending: 0,
        }
    );
    assert_eq!(c.state_dir, base.join("state"));
    assert_eq!(
        c.log,
        LogConfig { format: Some(LogFormat::Pretty), level: Some("portcullis=debug,info".into()) }
    );
    assert!(!c.access_log.enabled);
    assert_eq!(c.account_id, "012345678901");
    assert_eq!((c.region.as_str(), c.api_id.as_str(), c.stage.as_str()), ("eu-west-1", "abc123", "prod"));
    assert!(c.debug_headers);
    assert_eq!(c.warnings.len(), 1, "debug_headers warning: {:?}", c.warnings);

    // Functions.
    let f = &c.functions["private"];
    assert_eq!(f.runtime, FunctionRuntime::Nodejs { handler: "src/private.main".into() });
    assert_eq!(f.timeout, Duration::from_secs(10));
    assert_eq!(f.concurrency.get(), 4);
    assert_eq!(f.environment.get("COUNT").map(String::as_str), Some("3"));
    assert_eq!((f.prewarm, f.watch, f.memory.get()), (2, true, 256));
    assert_eq!(f.idle_timeout, Duration::from_secs(120));
    assert_eq!(f.max_invocations, None, "default: reused until idle");
    assert_eq!(c.functions["report"].max_invocations.map(|n| n.get()), Some(100_000));
    assert_eq!(f.dir, base);
    let r = &c.functions["report"];
    assert_eq!(r.dir, base.join("py"));
    assert_eq!((r.timeout, r.concurrency.get(), r.memory.get()), (Duration::from_secs(30), 10, 128));
    assert_eq!(
        c.functions["native"].runtime,
        FunctionRuntime::Provided {
            command: base.join("./target/release/bootstrap"),
            args: vec!["--fast".into()],
            handler: None
        }
    );
    let FunctionRuntime::Remote { invoke_url } = &c.functions["remote"].runtime else { panic!() };
    assert_eq!(invoke_url.port(), Some(9000));

    // Authorizers.
    let AuthorizerConfig::Jwt(a) = &c.authorizers["auth0"] else { panic!("jwt") };
    let Issuer::Url { exact, url } = &a.issuer else { panic!("url issuer") };
    assert_eq!(exact, "https://myorg.us.auth0.com/");
    assert_eq!(url.host_str(), Some("myorg.us.auth0.com"));
    assert_eq!(
        a.identity_source,
        vec![
            portcullis_core::Variable::Header(http::header::AUTHORIZATION),
            portcullis_core::Variable::Query("token".into())
        ]
    );
    assert!(matches!(&a.keys, KeySource::JwksUri(u) if u.path() == "/.well-known/jwks.json"));
    assert_eq!(a.algorithms, vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]);
    assert_eq!(a.leeway, Duration::from_secs(30));
    let claims: Vec<(&str, &str)> = a.forward_claims.iter().map(|(h, c)| (h.as_str(), c.as_str())).collect();
    assert_eq!(claims, [("x-user-id", "sub"), ("x-user-email", "email")]);
    assert_eq!(
        a.cache,
        JwtCacheConfig {
            max_tokens: 500,
            jwks_refresh: Duration::from_secs(600),
            jwks_max_stale: Duration::from_secs(3600)
        }
    );
    let AuthorizerConfig::Jwt(clerk) = &c.authorizers["clerk"] else { panic!("jwt") };
    // Kept exactly as written: no trailing slash added.
    assert!(matches!(&clerk.issuer, Issuer::Url { exact, .. } if exact == "https://clerk.example.com"));
    assert_eq!(clerk.keys, KeySource::PublicKeyFile(base.join("keys/clerk.pem")));
    assert_eq!(clerk.algorithms, Algorithm::ALL.to_vec());
    assert_eq!(clerk.rules[0].value, "claims.metadata.role == 'admin'");
    assert_eq!(clerk.rules[0].span, Span { line: 47, column: 13 });
    assert_eq!(clerk.identity_source.len(), 1);

    let AuthorizerConfig::Lambda(adm) = &c.authorizers["admins"] else { panic!("lambda") };
    assert_eq!(adm.function, "clerk-authz");
    assert_eq!(adm.event, AuthorizerEvent::Token);
    assert_eq!(adm.result_ttl, Duration::from_secs(300));
    let tv = adm.token_validation.as_ref().expect("token_validation");
    assert!(tv.regex.is_match("Bearer abc.def-1"));
    assert!(!tv.regex.is_match("xBearer abc"));
    let AuthorizerConfig::Lambda(t) = &c.authorizers["tenants"] else { panic!("lambda") };
    assert_eq!(t.event, AuthorizerEvent::Request { payload_format_version: PayloadFormatVersion::V2 });
    assert!(t.simple_responses);
    assert_eq!(
        t.identity_source.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["$request.header.x-tenant", "$context.routeKey", "$stageVariables.env", "$request.cookie.sid"]
    );
    assert_eq!(t.result_ttl, Duration::ZERO);
    assert_eq!(t.forward_context.get("x-tenant").map(String::as_str), Some("tenant"));
    assert_eq!(c.default_authorizer.as_deref(), Some("auth0"));

    // Routes, in file order.
    let keys: Vec<String> = c.routes.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        keys,
        [
            "GET /pets/{id}",
            "ANY /files/{proxy+}",
            "POST /orders",
            "GET /public",
            "GET /private",
            "GET /legacy",
            "GET /reports",
            "GET /tenant",
            "GET /teapot",
            "$default"
        ]
    );
    let pets = &c.routes[0];
    assert_eq!(pets.key.span, Span { line: 66, column: 3 });
    let Integration::Http(u) = &pets.integration else { panic!("http") };
    assert_eq!(u.scheme, Scheme::Http);
    assert_eq!((u.authority.as_str(), u.host.as_str(), u.port), ("127.0.0.1:3000", "127.0.0.1", 3000));
    assert_eq!(u.path, vec![UrlPart::Literal("/pets/".into()), UrlPart::Var("id".into())]);
    assert_eq!(u.query.as_deref(), Some("src=gw"));
    assert_eq!(u.to_string(), "http://127.0.0.1:3000/pets/{id}?src=gw");
    assert_eq!(pets.timeout, Duration::from_secs(30));
    assert_eq!(pets.authorizer.as_deref(), Some("auth0"));
    assert_eq!(pets.http_version, HttpVersion::Auto);

    let files = &c.routes[1];
    let Integration::Http(u) = &files.integration else { panic!("http") };
    assert_eq!((u.scheme, u.port), (Scheme::Https, 8443));
    assert_eq!(u.vars().collect::<Vec<_>>(), ["proxy"]);
    assert_eq!(files.timeout, Duration::from_secs(5));
    assert_eq!(files.http_version, HttpVersion::Http2);
    assert_eq!(files.upstream_ca, Some(base.join("ca.pem")));

    let orders = &c.routes[2];
    assert_eq!(orders.scopes, ["orders:write"]);
    assert_eq!(orders.http_version, HttpVersion::Http1);
    let Integration::Http(u) = &orders.integration else { panic!("http") };
    assert_eq!((u.authority.as_str(), u.port), ("orders.internal", 443));

    assert_eq!(c.routes[3].authorizer, None);
    assert_eq!(c.routes[4].integration, Integration::Function("private".into()));
    assert_eq!(c.routes[4].payload_format_version, PayloadFormatVersion::V2);
    assert_eq!(c.routes[5].payload_format_version, PayloadFormatVersion::V1);
    assert_eq!(c.routes[5].authorizer.as_deref(), Some("admins"));
    assert_eq!(c.routes[6].rules[0].value, "'analyst' in claims['cognito:groups']");
    assert_eq!(c.routes[7].timeout, Duration::from_secs(60));

    let Integration::Respond(t) = &c.routes[8].integration else { panic!("respond") };
    assert_eq!(t.status.as_u16(), 418);
    assert_eq!(t.headers["content-type"], "text/plain");
    assert_eq!(t.body, "short and stout");

    let Integration::Http(u) = &c.routes[9].integration else { panic!("http") };
    assert!(u.path.is_empty());
    assert!(c.routes[9].key.is_default());
}

#[test]
fn load_reads_a_file_and_resolves_paths_against_its_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("portcullis.yaml");
    std::fs::write(&file, "tls: {cert: c.pem, key: k.pem}\nroutes:\n  GET /: {respond: {body: hi}}\n")
        .expect("write");
    let c = load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tls.expect("tls").cert, dir.path().join("c.pem"));
    assert_eq!(c.state_dir, dir.path().join(".portcullis"));

    std::fs::write(&file, "routes:\n  GET /: {respond: {body: hi}, tiemout: 1s}\n").expect("write");
    let e = load(&file).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:2:32: routes.\"GET /\".tiemout: unknown key \"tiemout\"\n  help: did you mean `timeout`?",
            file.display()
        )
    );
}

#[test]
fn unset_limits_take_the_documented_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("portcullis.yaml");
    std::fs::write(&file, "routes:\n  GET /: {respond: {body: hi}}\n").expect("write");
    let l = load(&file).unwrap_or_else(|e| panic!("{e}")).limits;
    assert_eq!(l.http2_max_concurrent_streams, 100, "nginx's and Envoy's advice: 100 or fewer");
    assert_eq!(l.upstream_max_connections, 1024);
    assert_eq!(l.upstream_max_pending, 1024);
    assert_eq!(l.max_body, 10 * 1024 * 1024);
    assert_eq!(l.max_header_bytes, 10_240);
    assert_eq!(l.header_timeout, Duration::from_secs(10));
}

#[test]
fn missing_file_is_one_error_naming_it() {
    let e = load(Path::new("/nonexistent/portcullis.yaml")).unwrap_err();
    assert_eq!(e.errors().len(), 1);
    assert!(
        e.to_string().starts_with("/nonexistent/portcullis.yaml:0:0: cannot read the config file:"),
        "{e}"
    );
}

#[test]
fn misplaced_and_inconsistent_settings_are_golden() {
    let cases: &[(&str, &str)] = &[
        (
            "authorizers:\n  a: {type: jwt, issuer: dev, audience: [x], identity_source: [$request.headers.Authorization]}\n",
            "t.yaml:2:64: authorizers.a.identity_source[0]: invalid identity source: unknown request variable `$request.headers.Authorization` in a JWT identity source\n  help: did you mean `$request.header.Authorization`?",
        ),
        (
            "routes:\n  GET /x: {http: http://a, payload_format_version: '1.0', upstream_ca: ca.pem}\n  GET /y: {function: f, http_version: '2'}\nfunctions:\n  f: {runtime: python, handler: a.b}\n",
            "t.yaml:2:28: routes.\"GET /x\".payload_format_version: `payload_format_version` applies only to `function` integrations\n\
             t.yaml:2:59: routes.\"GET /x\".upstream_ca: `upstream_ca` needs an https:// upstream\n\
             t.yaml:3:25: routes.\"GET /y\".http_version: `http_version` applies only to `http` integrations",
        ),
        (
            "listen: 127.0.0.1:8080\nadmin: 127.0.0.1:8080\ntls: {cert: c.pem}\n",
            "t.yaml:2:1: admin: `admin` and `listen` are both 127.0.0.1:8080; they need different ports\n\
             t.yaml:3:6: tls: `tls` needs `key` (a PEM file)",
        ),
        (
            "routes:\n  GET /x: {respond: {status: 700, headers: {x-a: \"bad\\nvalue\", content-length: 3}}}\n",
            "t.yaml:2:30: routes.\"GET /x\".respond.status: 700 is out of range (allowed: 100 to 599)\n\
             t.yaml:2:50: routes.\"GET /x\".respond.headers.x-a: invalid header value \"bad\\nvalue\"\n\
             t.yaml:2:64: routes.\"GET /x\".respond.headers.content-length: header \"content-length\" is managed by the gateway and cannot be set here",
        ),
        (
            "functions:\n  a: {runtime: nodejs}\n  b: {runtime: provided, invoke_url: http://x}\n  c: {runtime: python, handler: a.b, concurrency: 2, prewarm: 3, environment: {AWS_REGION: x, PORTCULLIS_RUNTIME_API_LOCAL: y}}\n  d: {runtime: ruby, handler: a.b}\n  e: {runtime: nodejs, handler: a.b, max_invocations: 0}\n",
            "t.yaml:2:6: functions.a: missing `handler`\n  help: e.g. `handler: src/index.handler` (file path, then the export)\n\
             t.yaml:3:38: functions.b.invoke_url: `invoke_url` and `runtime` exclude each other: a function runs locally or remotely\n\
             t.yaml:4:63: functions.c.prewarm: prewarm (3) cannot exceed concurrency (2)\n\
             t.yaml:4:80: functions.c.environment.AWS_REGION: AWS_REGION is reserved: the Lambda runtime sets it\n\
             t.yaml:4:95: functions.c.environment.PORTCULLIS_RUNTIME_API_LOCAL: PORTCULLIS_RUNTIME_API_LOCAL is reserved: Portcullis sets it\n\
             t.yaml:5:16: functions.d.runtime: invalid value \"ruby\" (expected `nodejs`, `python` or `provided`)\n\
             t.yaml:6:55: functions.e.max_invocations: 0 is out of range (allowed: 1 to 1000000000000)",
        ),
        (
            "functions:\n  f: {runtime: nodejs, handler: a.b}\nauthorizers:\n  a: {type: lambda, function: f, event: token, simple_responses: true, payload_format_version: '2.0'}\n  b: {type: lambda, function: f, event: request, token_validation: x, result_ttl: 5s}\n  c: {type: lambda, function: f, event: token, identity_source: [$request.querystring.t]}\n",
            "t.yaml:4:66: authorizers.a.simple_responses: `simple_responses` needs `event: request` with payload_format_version \"2.0\" (as on AWS)\n\
             t.yaml:4:72: authorizers.a.payload_format_version: `payload_format_version` applies only to `event: request` (a token event has one fixed format)\n\
             t.yaml:5:50: authorizers.b.token_validation: `token_validation` applies only to `event: token`\n\
             t.yaml:5:83: authorizers.b.result_ttl: caching needs at least one `identity_source` (the cache key)\n  help: add an identity_source, or set `result_ttl: 0s`\n\
             t.yaml:6:65: authorizers.c.identity_source: a token authorizer reads exactly one header, e.g. [$request.header.Authorization]",
        ),
        (
            "authorizers:\n  a: {type: jwt, issuer: dev, algorithms: [HS256, none, rs256], jwks_uri: https://x/k, identity_source: [$context.path]}\n  b: {typ: jwt}\n",
            "t.yaml:2:6: authorizers.a: missing `audience` (the accepted `aud` values)\n  help: e.g. `audience: [my-api]`\n\
             t.yaml:2:44: authorizers.a.algorithms[0]: algorithm \"HS256\" is never accepted: only asymmetric signatures can be verified with public keys\n\
             t.yaml:2:51: authorizers.a.algorithms[1]: algorithm \"none\" is never accepted: only asymmetric signatures can be verified with public keys\n\
             t.yaml:2:57: authorizers.a.algorithms[2]: invalid value \"rs256\" (expected `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384` or `EdDSA`)\n  help: did you mean `RS256`?\n\
             t.yaml:2:65: authorizers.a.jwks_uri: `issuer: dev` serves its own keys; remove `jwks_uri`\n\
             t.yaml:2:106: authorizers.a.identity_source[0]: invalid identity source: `$context.path`: `$context` variables cannot be used in a JWT identity source\n\
             t.yaml:3:7: authorizers.b.typ: unknown key \"typ\"\n  help: did you mean `type`? (jwt or lambda)",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(errors(yaml), *expected, "config:\n{yaml}");
    }
}

mod robustness {
    use proptest::prelude::*;

    use super::FULL;

    fn check(source: &str) {
        if let Err(errors) = crate::from_str(source, "t.yaml") {
            let spans: Vec<_> = errors.errors().iter().map(crate::ConfigError::span).collect();
            let mut sorted = spans.clone();
            sorted.sort();
            assert_eq!(spans, sorted, "errors sorted by position");
            for e in errors.errors() {
                assert!(e.line >= 1 && e.column >= 1, "unpositioned error: {e}");
                assert!(!e.problem.is_empty());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Damaging a valid config anywhere gives positioned errors, never a panic.
        #[test]
        fn damaged_configs_give_positioned_errors(
            at in 0usize..FULL.len(),
            cut in 0usize..8,
            insert in "[ -~\n\t\u{e9}\u{1F600}]{0,6}",
        ) {
            let mut at = at;
            while !FULL.is_char_boundary(at) { at -= 1; }
            let mut end = (at + cut).min(FULL.len());
            while !FULL.is_char_boundary(end) { end -= 1; }
            let source = format!("{}{}{}", &FULL[..at], insert, &FULL[end..]);
            check(&source);
        }

        /// Arbitrary text never panics the loader.
        #[test]
        fn arbitrary_text_never_panics(source in "\\PC{0,200}") {
            check(&source);
        }
    }
}

#[test]
fn unknown_context_variables_in_identity_sources_are_refused_with_a_suggestion() {
    let yaml = "functions:\n  f: {runtime: nodejs, handler: a.handler}\nauthorizers:\n  z: {type: lambda, function: f, event: request, identity_source: [$context.routekey], result_ttl: 0s}\n";
    let got = errors(yaml);
    assert!(got.contains("t.yaml:4:"), "{got}");
    assert!(got.contains("unknown context variable `$context.routekey`"), "{got}");
    assert!(got.contains("did you mean `$context.routeKey`?"), "{got}");
}

// === the production edge: cors, throttle, response mapping, access log ===

#[test]
fn cors_decodes_at_the_top_and_on_a_route() {
    let c = ok(
        "cors:\n  allow_origins: [https://app.example.com, \"https://*.example.org\"]\n  allow_methods: [get, POST]\n  allow_headers: [Authorization]\n  expose_headers: [apigw-requestid]\n  max_age: 600\n  allow_credentials: true\nroutes:\n  GET /x:\n    respond: {body: hi}\n    cors: {allow_origins: [\"*\"], allow_methods: [\"*\"]}\n",
    );
    let cors = c.cors.unwrap();
    assert_eq!(cors.allow_origins, ["https://app.example.com", "https://*.example.org"]);
    assert_eq!(cors.allow_methods, ["GET", "POST"]);
    assert_eq!(cors.allow_headers, ["authorization"]);
    assert_eq!(cors.max_age, Some(600));
    assert!(cors.allow_credentials);
    assert_eq!(c.routes[0].cors.as_ref().unwrap().allow_origins, ["*"]);
}

#[test]
fn credentials_with_any_origin_is_refused_at_the_key() {
    assert_eq!(
        errors("cors:\n  allow_origins: [\"*\"]\n  allow_credentials: true\n"),
        "t.yaml:3:3: cors.allow_credentials: `allow_credentials: true` cannot go with the origin `*`: browsers refuse it, and AWS rejects it (allow-credentials is not supported if allow-origin is *)\n  help: list the origins that may send credentials"
    );
}

#[test]
fn bad_cors_values_are_reported_at_the_item() {
    let e = errors(
        "cors:\n  allow_origins: [https://ok.example, app.example.com, \"https://x/y\"]\n  allow_methods: [GET, FETCH]\n  max_age: 90000\n",
    );
    assert!(e.contains("t.yaml:2:39: cors.allow_origins[1]: invalid origin \"app.example.com\""), "{e}");
    assert!(e.contains("t.yaml:2:56: cors.allow_origins[2]: invalid origin \"https://x/y\": an origin is `scheme://host[:port]`, without a path"), "{e}");
    assert!(e.contains("t.yaml:3:24: cors.allow_methods[1]: unknown method \"FETCH\""), "{e}");
    assert!(e.contains("t.yaml:4:12: cors.max_age: invalid max_age \"90000\" (seconds, -1 to 86400)"), "{e}");
}

#[test]
fn throttle_decodes_api_route_and_keyed_limits() {
    let c = ok(
        "throttle: {rate: 1000, burst: 2000}\nroutes:\n  GET /x:\n    respond: {body: hi}\n    throttle:\n      - {rate: 50, burst: 100}\n      - {rate: 0.5, burst: 10, key: $context.authorizer.claims.sub}\n      - {rate: 20, burst: 40, key: $context.identity.sourceIp}\n",
    );
    let api = c.throttle.unwrap();
    assert_eq!((api.rate, api.burst, api.key.is_none()), (1000.0, 2000, true));
    let route = &c.routes[0].throttle;
    assert_eq!(route.len(), 3);
    assert_eq!(route[1].rate, 0.5);
    assert_eq!(route[1].key.as_ref().unwrap().to_string(), "${context.authorizer.claims.sub}");
    let single = ok("routes:\n  GET /x: {respond: {body: hi}, throttle: {rate: 1, burst: 1}}\n");
    assert_eq!(single.routes[0].throttle.len(), 1);
}

#[test]
fn bad_limits_are_reported_with_their_positions() {
    let e = errors(
        "throttle: {rate: 10, burst: 5, key: $request.header.x}\nroutes:\n  GET /x:\n    respond: {body: hi}\n    throttle:\n      - {rate: -1, burst: 1}\n      - {burst: 1}\n      - {rate: 1, burst: 1, key: $context.nope}\n      - {rate: 1, burst: 1, key: \"static\"}\n",
    );
    assert!(e.contains("t.yaml:1:11: throttle: the API-wide `throttle` has no `key`"), "{e}");
    assert!(e.contains("t.yaml:6:16: routes.\"GET /x\".throttle[0].rate: invalid rate \"-1\""), "{e}");
    assert!(
        e.contains("t.yaml:7:9: routes.\"GET /x\".throttle[1]: a limit needs `rate` (requests per second)"),
        "{e}"
    );
    assert!(e.contains("routes.\"GET /x\".throttle[2].key"), "{e}");
    assert!(
        e.contains("t.yaml:9:34: routes.\"GET /x\".throttle[3].key: the key \"static\" names no variable"),
        "{e}"
    );
}

#[test]
fn two_unkeyed_route_limits_are_refused() {
    let e = errors(
        "routes:\n  GET /x:\n    respond: {body: hi}\n    throttle: [{rate: 1, burst: 1}, {rate: 2, burst: 2}]\n",
    );
    assert!(
        e.contains("t.yaml:4:15: routes.\"GET /x\".throttle: a route has at most one limit without a `key`"),
        "{e}"
    );
}

#[test]
fn response_parameters_decode_and_refuse_bad_keys_and_statuses() {
    let c = ok(
        "routes:\n  GET /x:\n    http: http://127.0.0.1:1/\n    response_parameters:\n      \"500\": {overwrite:statuscode: \"502\", append:header.x-failed: \"true\"}\n      \"200\": {remove:header.server: \"\"}\n",
    );
    let mapped = &c.routes[0].response_parameters;
    assert_eq!(mapped.iter().map(|(s, e)| (*s, e.len())).collect::<Vec<_>>(), [(500, 2), (200, 1)]);
    let e = errors(
        "routes:\n  GET /x:\n    http: http://127.0.0.1:1/\n    response_parameters:\n      \"700\": {overwrite:statuscode: \"502\"}\n      \"200\": {append:statuscode: \"1\", overwrite:header.content-length: \"1\", overwrite:querystring.a: \"1\", overwrite:header.x: $request.header.y}\n      \"201\": {overwrite:statuscode: \"99\"}\n",
    );
    assert!(
        e.contains("t.yaml:5:7: routes.\"GET /x\".response_parameters.700: invalid status code \"700\""),
        "{e}"
    );
    assert!(e.contains("the status code can only be overwritten"), "{e}");
    assert!(e.contains("content-length"), "{e}");
    assert!(e.contains("invalid response mapping key \"overwrite:querystring.a\""), "{e}");
    assert!(e.contains("$request.header.y"), "{e}");
    assert!(e.contains("invalid status code \"99\" (100 to 599)"), "{e}");
}

#[test]
fn access_log_formats_outputs_and_unknown_variables() {
    let c = ok(
        "access_log:\n  format: '{\"id\":\"$context.requestId\",\"st\":\"$context.status\",\"err\":\"$context.authorizer.error\",\"sub\":\"$context.authorizer.claims.sub\"}'\n  output: logs/access.log\n",
    );
    let AccessLogFormat::Template(template) = &c.access_log.format else { panic!("a template") };
    assert_eq!(template.variables().count(), 4);
    let AccessLogOutput::File(path) = &c.access_log.output else { panic!("a file") };
    assert!(path.ends_with("logs/access.log"), "{path:?}");
    assert_eq!(ok("access_log: {format: clf, output: stderr}\n").access_log.format, AccessLogFormat::Clf);
    let e = errors("access_log:\n  format: '$context.requestId $context.requestIdd'\n");
    assert!(e.contains("t.yaml:2:"), "{e}");
    assert!(e.contains("requestIdd"), "{e}");
    assert!(e.contains("did you mean `$context.requestId`"), "{e}");
    let e = errors("access_log: {format: plain}\n");
    assert!(e.contains("neither `json`, `clf`, nor a template"), "{e}");
}

#[test]
fn stages_and_stage_variables_are_checked_where_written() {
    let e = errors(&format!("stage: {}\n", "s".repeat(129)));
    assert!(e.contains("up to 128 letters"), "{e}");
    let e = errors(
        "stage: dev\nstage_variables: {backend: http://127.0.0.1:3000}\nroutes:\n  GET /x: {http: \"${stageVariables.backnd}/x\"}\n",
    );
    assert!(e.contains("t.yaml:4:"), "{e}");
    assert!(e.contains("backnd"), "{e}");
}

#[test]
fn compat_aws_names_the_edge_extensions() {
    let e = errors(
        "compat: aws\ncors: {allow_origins: [\"https://*.example.com\"]}\nroutes:\n  GET /x:\n    respond: {body: hi}\n    cors: {allow_origins: [https://a.example]}\n    throttle: [{rate: 1, burst: 1, key: $context.identity.sourceIp}]\n",
    );
    assert!(e.contains("t.yaml:2:24: cors.allow_origins[0]: the origin pattern \"https://*.example.com\" is not available with compat: aws"), "{e}");
    assert!(e.contains("routes.\"GET /x\".cors: `cors` on a route is not available with compat: aws"), "{e}");
    assert!(
        e.contains("routes.\"GET /x\".throttle: a throttle `key` is not available with compat: aws"),
        "{e}"
    );
}

#[test]
fn compat_aws_refuses_token_authorizers_which_http_apis_do_not_have() {
    let e = errors(
        "compat: aws\nfunctions:\n  authz: {runtime: nodejs, handler: index.handler}\nauthorizers:\n  l: {type: lambda, function: authz, event: token}\nroutes: {}\n",
    );
    assert!(
        e.starts_with("t.yaml:5:45: authorizers.l.event: `event: token` is not available with compat: aws (HTTP APIs have REQUEST and JWT authorizers only"),
        "{e}"
    );
    let ok = ok(
        "compat: aws\nfunctions:\n  authz: {runtime: nodejs, handler: index.handler}\nauthorizers:\n  r: {type: lambda, function: authz, event: request, payload_format_version: \"2.0\", simple_responses: true, identity_source: [$request.header.x]}\nroutes: {}\n",
    );
    assert_eq!(ok.authorizers.len(), 1);
}

// === the admin listener ===

#[test]
fn admin_is_an_address_or_a_mapping_with_a_token_source() {
    let c = ok("admin: 127.0.0.1:9100\n");
    assert_eq!((c.admin.to_string(), c.admin_token), ("127.0.0.1:9100".to_owned(), None));
    let c = ok("admin: {listen: 0.0.0.0:9901, token_file: secrets/admin-token}\n");
    assert_eq!(c.admin.to_string(), "0.0.0.0:9901");
    let token = c.admin_token.expect("a token source");
    let AdminTokenSource::File(file) = token.value else { panic!("a file") };
    assert!(file.is_absolute() && file.ends_with("secrets/admin-token"), "{}", file.display());
    let c = ok("admin: {listen: \"[::]:9901\", token_env: PORTCULLIS_ADMIN_TOKEN}\n");
    assert_eq!(c.admin_token.map(|t| t.value), Some(AdminTokenSource::Env("PORTCULLIS_ADMIN_TOKEN".into())));
    // A token on loopback is allowed (and then required by the console too).
    let c = ok("admin: {token_env: T}\n");
    assert_eq!(c.admin.to_string(), "127.0.0.1:9901");
}

#[test]
fn an_admin_listener_other_machines_can_reach_needs_a_token() {
    assert_eq!(
        errors("admin: 0.0.0.0:9901\n"),
        "t.yaml:1:1: admin: the admin listener on 0.0.0.0:9901 can be reached from other machines, and it has no token\n  help: write `admin: {listen: 0.0.0.0:9901, token_file: FILE}` (or `token_env: VARIABLE`) so the console and the admin endpoints need a bearer token, or listen on 127.0.0.1"
    );
    assert_eq!(
        errors("admin: {listen: 10.0.0.1:9901, token_file: a, token_env: B}\n"),
        "t.yaml:1:58: admin.token_env: give either `token_file` or `token_env`, not both"
    );
    assert_eq!(
        errors("admin: {listen: 127.0.0.1:9901, token: x}\n"),
        "t.yaml:1:33: admin.token: unknown key \"token\"\n  help: expected one of: `listen`, `token_file`, `token_env`"
    );
}

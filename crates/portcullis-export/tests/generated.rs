//! Native configs restricted to what AWS HTTP APIs can express, as YAML text, with the overlay
//! that gives back what a definition cannot say.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// A generated API, before references between its parts are resolved.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    region: &'static str,
    account_id: String,
    /// A named stage, given by the overlay (a stage is not part of a definition).
    stage: Option<&'static str>,
    /// Whether the stage has the variable `tier`, given by the overlay too; without it,
    /// whatever refers to `$stageVariables.tier` is not generated.
    tier: bool,
    functions: Vec<String>,
    authorizers: Vec<(String, Authorizer)>,
    default_authorizer: Option<Index>,
    routes: Vec<Route>,
    cors: Option<Value>,
}

#[derive(Debug, Clone)]
enum Authorizer {
    Jwt { issuer: &'static str, audience: Vec<String>, identity_source: Option<&'static str> },
    Lambda { function: Index, v1: bool, simple: Option<bool>, sources: Vec<&'static str>, ttl: Option<u32> },
}

#[derive(Debug, Clone)]
struct Route {
    method: &'static str,
    /// `None`: `$default`.
    path: Option<Vec<Seg>>,
    target: Target,
    timeout_ms: Option<u32>,
    auth: Auth,
    scopes: Vec<String>,
    mappings: Vec<(String, String)>,
    responses: Vec<(u16, Vec<(String, String)>)>,
}

#[derive(Debug, Clone)]
enum Seg {
    Literal(&'static str),
    Var(String),
}

#[derive(Debug, Clone)]
enum Target {
    Http { base: &'static str, query: Option<&'static str> },
    Function { function: Index, version: Option<&'static str> },
}

#[derive(Debug, Clone)]
enum Auth {
    Inherit,
    Public,
    Named(Index),
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,10}"
}

/// Text that YAML reads as something else unless it is quoted: booleans, nulls, numbers,
/// indicators, comments, quotes, leading and trailing spaces.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "true", "no", "null", "~", "1.0", "012", "0x1F", "1e3", "-x", "- x", "a: b", "#x", "x #y", "*x",
            "&x", "!x", "%x", "@x", "`x", "'x'", "\"x\"", "{a}", "[a]", "? x", "| x", ">x", "x:", ",x",
            "ünï", " x", "x ",
        ])
        .prop_map(str::to_owned),
        "[ -~]{1,12}".prop_filter("text, no variables", |s| !s.trim().is_empty() && !s.contains('$')),
    ]
}

/// A word, sometimes tricky text without whitespace.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9][A-Za-z0-9:/._-]{0,12}",
        1 => tricky().prop_filter("no whitespace", |s| !s.chars().any(char::is_whitespace)),
    ]
}

fn authorizer() -> impl Strategy<Value = Authorizer> {
    let jwt = (
        prop::sample::select(vec![
            "https://id.example.com",
            "https://example.us.auth0.com/",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI",
            "https://login.example.org:8443/realms/main",
        ]),
        prop::collection::vec(prop_oneof![token(), tricky()], 1..4),
        prop::option::of(prop::sample::select(vec![
            "$request.header.Authorization",
            "$request.header.X-Token",
            "$request.querystring.access_token",
        ])),
    )
        .prop_map(|(issuer, audience, identity_source)| Authorizer::Jwt {
            issuer,
            audience,
            identity_source,
        });
    let lambda = (
        any::<Index>(),
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::sample::subsequence(
            vec![
                "$request.header.Authorization",
                "$request.querystring.token",
                "$context.routeKey",
                "$request.header.X-Tenant",
                "$context.identity.sourceIp",
                "$stageVariables.tier",
            ],
            0..4,
        ),
        prop::option::of(0u32..=3600),
    )
        .prop_map(|(function, v1, simple, sources, ttl)| Authorizer::Lambda {
            function,
            v1,
            simple,
            sources,
            ttl,
        });
    prop_oneof![jwt, lambda]
}

fn segment() -> impl Strategy<Value = Seg> {
    prop_oneof![
        3 => "[a-z0-9][a-z0-9_-]{0,7}".prop_map(|s| Seg::Literal(Box::leak(s.into_boxed_str()))),
        1 => prop::sample::select(vec!["v1.2", "caf%C3%A9", "a~b", "%20x", "ünï", "A.B"]).prop_map(Seg::Literal),
        2 => "[a-z][a-zA-Z0-9_]{0,6}".prop_map(Seg::Var),
    ]
}

/// A path: segments, then maybe a greedy variable or a trailing slash.
fn path() -> impl Strategy<Value = Vec<Seg>> {
    (prop::collection::vec(segment(), 0..4), 0..4u8).prop_map(|(mut segs, end)| {
        match end {
            0 => segs.push(Seg::Var("proxy+".into())),
            1 => segs.push(Seg::Literal("")),
            _ => {}
        }
        // Variable names are unique within a path.
        let mut seen = BTreeSet::new();
        segs.retain(|s| match s {
            Seg::Var(v) => seen.insert(v.trim_end_matches('+').to_owned()),
            Seg::Literal(_) => true,
        });
        segs
    })
}

fn mapping_key() -> impl Strategy<Value = String> {
    (prop::sample::select(vec!["append", "overwrite", "remove"]), "[a-z][a-z0-9]{0,5}", any::<bool>())
        .prop_map(|(action, name, header)| {
            if header { format!("{action}:header.x-p{name}") } else { format!("{action}:querystring.{name}") }
        })
}

fn request_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => request_variable().prop_map(str::to_owned),
        1 => tricky(),
    ]
}

fn request_variable() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "$request.header.x-in",
        "$request.querystring.q",
        "$context.requestId",
        "${context.requestId}-suffix",
        "literal value",
        "yes: no # not a comment",
        "$request.body.items[0].id",
        "'quoted'",
        "$context.authorizer.principalId",
        "${stageVariables.tier}-${context.stage}",
    ])
}

fn response_entry() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (500u16..=599).prop_map(|s| ("overwrite:statuscode".to_owned(), s.to_string())),
        (
            prop::sample::select(vec!["append", "overwrite", "remove"]),
            "[a-z][a-z0-9]{0,5}",
            prop::sample::select(vec![
                "$response.header.x-up",
                "$context.requestId",
                "$response.body.id",
                "static",
                "@{}",
                "$stageVariables.tier"
            ]),
        )
            .prop_map(|(action, name, value)| (format!("{action}:header.x-r{name}"), value.to_owned())),
    ]
}

fn route() -> impl Strategy<Value = Route> {
    let target = prop_oneof![
        (
            prop::sample::select(vec![
                "https://api.example.com",
                "http://127.0.0.1:3000",
                "https://Backend.Example.com:8443/base",
                "http://[::1]:8080/v1",
                "https://${stageVariables.tier}.example.com",
            ]),
            prop::option::of(prop::sample::select(vec!["a=1", "b=%20x&c"])),
        )
            .prop_map(|(base, query)| Target::Http { base, query }),
        (any::<Index>(), prop::option::of(prop::sample::select(vec!["1.0", "2.0"])))
            .prop_map(|(function, version)| Target::Function { function, version }),
    ];
    let auth = prop_oneof![Just(Auth::Inherit), Just(Auth::Public), any::<Index>().prop_map(Auth::Named)];
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"]),
        prop::option::weighted(0.9, path()),
        target,
        prop::option::of(prop_oneof![50u32..=30_000, (1u32..=30).prop_map(|s| s * 1000)]),
        auth,
        prop::collection::vec(token(), 0..3),
        prop::collection::vec((mapping_key(), request_value()), 0..3),
        prop::collection::vec((200u16..=599, prop::collection::vec(response_entry(), 1..3)), 0..2),
    )
        .prop_map(|(method, path, target, timeout_ms, auth, scopes, mappings, responses)| Route {
            method,
            path,
            target,
            timeout_ms,
            auth,
            scopes,
            mappings,
            responses,
        })
}

fn cors() -> impl Strategy<Value = Value> {
    (
        prop::sample::subsequence(
            vec!["https://app.example.com", "http://localhost:3000", "*", "https://*"],
            0..3,
        ),
        prop::sample::subsequence(vec!["GET", "POST", "DELETE", "OPTIONS", "*"], 0..3),
        prop::sample::subsequence(vec!["authorization", "content-type", "x-custom", "*"], 0..3),
        prop::sample::subsequence(vec!["apigw-requestid", "x-total"], 0..2),
        prop::option::of(-1i32..=86_400),
        any::<bool>(),
    )
        .prop_map(|(origins, methods, headers, expose, max_age, credentials)| {
            let mut c = Map::new();
            c.insert("allow_origins".into(), json!(origins));
            c.insert("allow_methods".into(), json!(methods));
            c.insert("allow_headers".into(), json!(headers));
            c.insert("expose_headers".into(), json!(expose));
            if let Some(m) = max_age {
                c.insert("max_age".into(), json!(m));
            }
            // AWS refuses credentials with the origin `*`.
            c.insert("allow_credentials".into(), json!(credentials && !origins.contains(&"*")));
            Value::Object(c)
        })
}

pub(crate) fn api() -> impl Strategy<Value = Api> {
    (
        prop::sample::select(vec!["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"]),
        "[0-9]{12}".prop_filter("not the placeholder account", |a| a != "123456789012"),
        (prop::option::of(prop::sample::select(vec!["prod", "dev-1"])), any::<bool>()),
        prop::collection::vec(word(), 0..4),
        prop::collection::vec((word(), authorizer()), 0..4),
        prop::option::of(any::<Index>()),
        prop::collection::vec(route(), 1..8),
        prop::option::of(cors()),
    )
        .prop_map(
            |(
                region,
                account_id,
                (stage, tier),
                functions,
                authorizers,
                default_authorizer,
                routes,
                cors,
            )| Api {
                region,
                account_id,
                stage,
                tier,
                functions,
                authorizers,
                default_authorizer,
                routes,
                cors,
            },
        )
}

impl Api {
    /// The native config as YAML text (JSON's flow form, a subset of YAML), and the overlay
    /// that gives back what a definition cannot say: how the functions run, the stage.
    pub(crate) fn config_yaml(&self) -> (String, String) {
        let mut names: Vec<String> = Vec::new();
        for f in &self.functions {
            if !names.contains(f) {
                names.push(f.clone());
            }
        }
        if names.is_empty() {
            names.push("fallback".into());
        }
        let mut refs = Refs { functions: names, used: BTreeSet::new(), ..Refs::default() };
        let authorizers = self.authorizers(&mut refs);
        refs.default = self.default_authorizer.as_ref().and_then(|i| refs.authorizer(i));

        let mut routes = Map::new();
        let mut shapes = BTreeSet::new();
        for r in &self.routes {
            let (key, vars, shape) = r.key();
            // Keys are unique by method and path shape.
            if shapes.insert(shape) {
                routes.insert(key, self.route(r, &vars, &mut refs));
            }
        }

        let mut stage = Map::new();
        if let Some(name) = self.stage {
            stage.insert("stage".into(), json!(name));
        }
        if self.tier {
            stage.insert("stage_variables".into(), json!({"tier": "gold"}));
        }
        let functions: Map<String, Value> = refs
            .used
            .iter()
            .map(|f| (f.clone(), json!({"runtime": "nodejs", "handler": "index.handler"})))
            .collect();
        let mut config = stage.clone();
        config.insert("region".into(), json!(self.region));
        config.insert("account_id".into(), json!(self.account_id));
        if let Some(c) = &self.cors {
            config.insert("cors".into(), c.clone());
        }
        if !authorizers.is_empty() {
            config.insert("authorizers".into(), Value::Object(authorizers));
        }
        if let Some(d) = &refs.default {
            config.insert("default_authorizer".into(), json!(d));
        }
        if !functions.is_empty() {
            config.insert("functions".into(), Value::Object(functions.clone()));
        }
        config.insert("routes".into(), Value::Object(routes));
        let mut overlay = stage;
        overlay.insert("functions".into(), Value::Object(functions));
        let text = |v: Map<String, Value>| serde_json::to_string_pretty(&Value::Object(v)).unwrap();
        (text(config), text(overlay))
    }

    /// Whether `text` may be written: it refers to no stage variable, or the stage has them.
    fn defined(&self, text: &str) -> bool {
        self.tier || !text.contains("stageVariables")
    }

    /// `authorizers:`, noting in `refs` their names, which are JWT, and the functions they use.
    fn authorizers(&self, refs: &mut Refs) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, a) in &self.authorizers {
            if name == "none" || out.contains_key(name) {
                continue;
            }
            let value = match a {
                Authorizer::Jwt { issuer, audience, identity_source } => {
                    refs.jwt.insert(name.clone());
                    let mut m = json!({"type": "jwt", "issuer": issuer, "audience": audience});
                    if let Some(s) = identity_source {
                        m["identity_source"] = json!([s]);
                    }
                    m
                }
                Authorizer::Lambda { function, v1, simple, sources, ttl } => {
                    let sources: Vec<&str> = sources.iter().copied().filter(|s| self.defined(s)).collect();
                    let mut m =
                        json!({"type": "lambda", "function": refs.function(function), "event": "request"});
                    m["payload_format_version"] = json!(if *v1 { "1.0" } else { "2.0" });
                    if let (Some(s), false) = (simple, v1) {
                        m["simple_responses"] = json!(s);
                    }
                    if !sources.is_empty() {
                        m["identity_source"] = json!(sources);
                    }
                    // Caching needs an identity source to key on.
                    match (ttl, sources.is_empty()) {
                        (_, true) => m["result_ttl"] = json!("0s"),
                        (Some(t), false) => m["result_ttl"] = json!(format!("{t}s")),
                        (None, false) => {}
                    }
                    m
                }
            };
            refs.authorizers.push(name.clone());
            out.insert(name.clone(), value);
        }
        out
    }

    /// One route's settings; `vars` are its path variables.
    fn route(&self, r: &Route, vars: &[String], refs: &mut Refs) -> Value {
        let mut m = Map::new();
        match &r.target {
            Target::Http { base, query } => {
                let mut url =
                    if self.defined(base) { base.to_string() } else { "https://api.example.com".into() };
                for v in vars {
                    url.push_str(&format!("/{{{v}}}"));
                }
                if let Some(q) = query {
                    url.push('?');
                    url.push_str(q);
                }
                m.insert("http".into(), json!(url));
            }
            Target::Function { function, version } => {
                m.insert("function".into(), json!(refs.function(function)));
                if let Some(v) = version {
                    m.insert("payload_format_version".into(), json!(v));
                }
            }
        }
        if let Some(ms) = r.timeout_ms {
            m.insert("timeout".into(), json!(format!("{ms}ms")));
        }
        let effective = match &r.auth {
            Auth::Inherit => refs.default.clone(),
            Auth::Public => {
                m.insert("authorizer".into(), json!("none"));
                None
            }
            Auth::Named(i) => match refs.authorizer(i) {
                Some(name) => {
                    m.insert("authorizer".into(), json!(name));
                    Some(name)
                }
                None => refs.default.clone(),
            },
        };
        // Scopes need a JWT authorizer.
        if effective.is_some_and(|a| refs.jwt.contains(&a)) && !r.scopes.is_empty() {
            m.insert("scopes".into(), json!(r.scopes));
        }
        let mut mapping = self.mapping(&r.mappings);
        if m.contains_key("http")
            && let Some(v) = vars.first()
        {
            mapping.insert("overwrite:path".into(), json!(format!("/v2/$request.path.{v}")));
        }
        if !mapping.is_empty() {
            m.insert("parameter_mapping".into(), Value::Object(mapping));
        }
        let responses: Map<String, Value> = r
            .responses
            .iter()
            .map(|(status, entries)| (status.to_string(), Value::Object(self.mapping(entries))))
            .collect();
        if !responses.is_empty() {
            m.insert("response_parameters".into(), Value::Object(responses));
        }
        Value::Object(m)
    }

    /// Mapping entries; a removal's value is `''`, as AWS writes it.
    fn mapping(&self, entries: &[(String, String)]) -> Map<String, Value> {
        entries
            .iter()
            .filter(|(_, v)| self.defined(v))
            .map(|(k, v)| (k.clone(), json!(if k.starts_with("remove:") { "''" } else { v.as_str() })))
            .collect()
    }
}

impl Route {
    /// The route key, the path's variable names, and the key's shape (variables unnamed).
    fn key(&self) -> (String, Vec<String>, String) {
        let Some(segs) = &self.path else {
            return ("$default".to_owned(), Vec::new(), "$default".to_owned());
        };
        let text: Vec<String> = segs
            .iter()
            .map(|s| match s {
                Seg::Literal(l) => l.to_string(),
                Seg::Var(v) => format!("{{{v}}}"),
            })
            .collect();
        let shape: Vec<&str> = segs
            .iter()
            .map(|s| match s {
                Seg::Literal(l) => l,
                Seg::Var(v) if v.ends_with('+') => "{+}",
                Seg::Var(_) => "{}",
            })
            .collect();
        let vars = segs
            .iter()
            .filter_map(|s| match s {
                Seg::Var(v) => Some(v.trim_end_matches('+').to_owned()),
                Seg::Literal(_) => None,
            })
            .collect();
        (
            format!("{} /{}", self.method, text.join("/")),
            vars,
            format!("{} /{}", self.method, shape.join("/")),
        )
    }
}

/// What routes may refer to, and the functions referred to so far.
#[derive(Default)]
struct Refs {
    functions: Vec<String>,
    used: BTreeSet<String>,
    authorizers: Vec<String>,
    jwt: BTreeSet<String>,
    default: Option<String>,
}

impl Refs {
    fn function(&mut self, i: &Index) -> String {
        let name = self.functions[i.index(self.functions.len())].clone();
        self.used.insert(name.clone());
        name
    }

    fn authorizer(&self, i: &Index) -> Option<String> {
        (!self.authorizers.is_empty()).then(|| self.authorizers[i.index(self.authorizers.len())].clone())
    }
}

//! `authorizers` -> `components.securitySchemes`, each with an `x-amazon-apigateway-authorizer`
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authorizer.html>):
//! JWT authorizers as `type: jwt` under an `oauth2` scheme, Lambda `event: request` authorizers
//! as `type: request` under an `apiKey` scheme, as AWS's examples write them.

use std::collections::BTreeMap;

use portcullis_config::{
    Algorithm, AuthorizerConfig, AuthorizerEvent, Config, Issuer, JwtAuthorizerConfig, KeySource,
    LambdaAuthorizerConfig, PayloadFormatVersion,
};
use portcullis_core::Variable;
use serde_json::{Map, Value, json};

use crate::arn;
use crate::note::{ConfigPath, NoteKind, Notes};

/// How a note ends when a whole authorizer is left out.
const WHOLE: &str = "the authorizer is left out, and so is every route it protects";

/// The security schemes of the definition, and what routes need to know about each authorizer.
#[derive(Debug, Default)]
pub(crate) struct Schemes {
    /// Name -> security scheme, for `components.securitySchemes`.
    pub(crate) schemes: Map<String, Value>,
    /// The authorizers left out, each with the reason routes repeat when they are left out too.
    pub(crate) left_out: BTreeMap<String, &'static str>,
}

/// Every authorizer of `config`, in config order.
pub(crate) fn export(config: &Config, notes: &mut Notes) -> Schemes {
    let mut out = Schemes::default();
    for (name, authorizer) in &config.authorizers {
        let path = ConfigPath::root("authorizers").key(name);
        let scheme = match authorizer {
            AuthorizerConfig::Jwt(jwt) => self::jwt(jwt, &path, notes),
            AuthorizerConfig::Lambda(lambda) => self::lambda(config, lambda, &path, notes),
        };
        match scheme {
            Ok(scheme) => {
                out.schemes.insert(name.clone(), scheme);
            }
            Err(why) => {
                out.left_out.insert(name.clone(), why);
            }
        }
    }
    out
}

/// A JWT authorizer, or why it is left out (noted).
fn jwt(jwt: &JwtAuthorizerConfig, path: &ConfigPath, notes: &mut Notes) -> Result<Value, &'static str> {
    let issuer = match &jwt.issuer {
        Issuer::Dev => {
            notes.add(
                &path.key("issuer"),
                NoteKind::LeftOut,
                format!("the development issuer signs tokens only this gateway trusts (give the authorizer a real issuer to export it); {WHOLE}"),
            );
            return Err("it uses the development issuer");
        }
        Issuer::Url { exact, url } if url.scheme() != "https" => {
            notes.add(
                &path.key("issuer"),
                NoteKind::LeftOut,
                format!("issuer {exact:?}: AWS accepts https issuers only; {WHOLE}"),
            );
            return Err("its issuer is not https");
        }
        Issuer::Url { exact, .. } => exact.clone(),
    };
    let sources = without_cookies(&jwt.identity_source, &path.key("identity_source"), notes);
    let source = match sources.as_slice() {
        [] => {
            notes.add(
                &path.key("identity_source"),
                NoteKind::LeftOut,
                format!("AWS reads tokens from a header or query string, and this authorizer reads cookies only; {WHOLE}"),
            );
            return Err("it reads tokens from cookies only");
        }
        [one] => one,
        [first, ..] => {
            notes.add(
                &path.key("identity_source"),
                NoteKind::Approximated,
                format!("an AWS JWT authorizer reads its token from exactly one place; exported as `{first}` alone"),
            );
            first
        }
    };
    key_source(&jwt.keys, path, notes);
    algorithms(&jwt.algorithms, path, notes);
    if !jwt.leeway.is_zero() {
        notes.left_out(&path.key("leeway"), "AWS allows no clock skew on `exp` and `nbf`");
    }
    if !jwt.forward_claims.is_empty() {
        notes.left_out(
            &path.key("forward_claims"),
            "AWS has no claim forwarding (a route's `parameter_mapping` with `$context.authorizer.claims.NAME` does the same, and exports)",
        );
    }
    if !jwt.rules.is_empty() {
        notes.left_out(
            &path.key("rules"),
            "AWS JWT authorizers check issuer, audience, expiry and scopes only",
        );
    }
    Ok(json!({
        "type": "oauth2",
        "flows": {},
        "x-amazon-apigateway-authorizer": {
            "type": "jwt",
            "jwtConfiguration": {"issuer": issuer, "audience": jwt.audience},
            "identitySource": source.to_string(),
        },
    }))
}

/// `jwks_uri`, `jwks_file`, `public_key_file`: AWS always discovers the issuer's keys.
fn key_source(keys: &KeySource, path: &ConfigPath, notes: &mut Notes) {
    let key = match keys {
        KeySource::Discovery => return,
        KeySource::JwksUri(_) => "jwks_uri",
        KeySource::JwksFile(_) => "jwks_file",
        KeySource::PublicKeyFile(_) => "public_key_file",
    };
    notes.left_out(&path.key(key), "AWS fetches an issuer's keys by OpenID Connect discovery only");
}

/// `algorithms`: AWS accepts RS256, RS384 and RS512. The loader's default list (every
/// supported algorithm) is not noted.
fn algorithms(algorithms: &[Algorithm], path: &ConfigPath, notes: &mut Notes) {
    if algorithms == Algorithm::ALL || algorithms == Algorithm::AWS {
        return;
    }
    let others: Vec<&str> =
        algorithms.iter().filter(|a| !Algorithm::AWS.contains(a)).map(|a| a.as_str()).collect();
    let message = if others.is_empty() {
        "AWS JWT authorizers accept RS256, RS384 and RS512, with no narrower list; exported as all three"
            .to_owned()
    } else {
        format!(
            "AWS JWT authorizers accept RS256, RS384 and RS512 only; tokens signed with {} are refused on AWS",
            others.join(", ")
        )
    };
    notes.add(&path.key("algorithms"), NoteKind::Approximated, message);
}

/// A Lambda authorizer (`type: request`), or why it is left out (noted).
fn lambda(
    config: &Config,
    lambda: &LambdaAuthorizerConfig,
    path: &ConfigPath,
    notes: &mut Notes,
) -> Result<Value, &'static str> {
    let AuthorizerEvent::Request { payload_format_version } = lambda.event else {
        notes.add(
            &path.key("event"),
            NoteKind::LeftOut,
            format!("a TOKEN authorizer is a REST API authorizer, and HTTP APIs have REQUEST and JWT authorizers only; {WHOLE}"),
        );
        return Err("it is a TOKEN authorizer");
    };
    let sources_path = path.key("identity_source");
    let sources = without_cookies(&lambda.identity_source, &sources_path, notes);
    let mut ttl = lambda.result_ttl.as_secs();
    if sources.is_empty() && ttl > 0 {
        // AWS caches only on identity sources: without any, caching is off.
        notes.add(
            &path.key("result_ttl"),
            NoteKind::Approximated,
            "AWS caches decisions by identity source, and none is left; exported as 0 (no caching)",
        );
        ttl = 0;
    }
    if !lambda.forward_context.is_empty() {
        notes.left_out(
            &path.key("forward_context"),
            "AWS has no context forwarding (a route's `parameter_mapping` with `$context.authorizer.KEY` does the same, and exports)",
        );
    }
    let mut authorizer = Map::new();
    authorizer.insert("type".into(), json!("request"));
    authorizer.insert(
        "authorizerUri".into(),
        json!(arn::invocation_uri(&config.region, &config.account_id, &lambda.function)),
    );
    authorizer.insert("authorizerPayloadFormatVersion".into(), json!(payload_format_version.as_str()));
    if payload_format_version == PayloadFormatVersion::V2 {
        authorizer.insert("enableSimpleResponses".into(), json!(lambda.simple_responses));
    }
    if !sources.is_empty() {
        // AWS writes identity sources as one comma-separated string.
        let joined: Vec<String> = sources.iter().map(ToString::to_string).collect();
        authorizer.insert("identitySource".into(), json!(joined.join(", ")));
    }
    authorizer.insert("authorizerResultTtlInSeconds".into(), json!(ttl));
    // The scheme names the one header or query parameter, else "Unused" (AWS's convention).
    let (name, place) = match sources.as_slice() {
        [Variable::Header(h)] => (h.as_str().to_owned(), "header"),
        [Variable::Query(q)] => (q.clone(), "query"),
        _ => ("Unused".to_owned(), "header"),
    };
    Ok(json!({
        "type": "apiKey",
        "name": name,
        "in": place,
        "x-amazon-apigateway-authorizer": authorizer,
    }))
}

/// The identity sources AWS can read: cookie sources (an extension) are dropped, with a note.
fn without_cookies(sources: &[Variable], path: &ConfigPath, notes: &mut Notes) -> Vec<Variable> {
    let mut out = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        if matches!(source, Variable::Cookie(_)) {
            notes.left_out(
                &path.index(i),
                format!("`{source}`: AWS reads identity sources from headers, query strings, $context and $stageVariables only"),
            );
        } else {
            out.push(source.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;

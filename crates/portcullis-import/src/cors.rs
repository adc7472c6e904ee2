//! CORS configurations in the three spellings definitions use: OpenAPI's
//! `x-amazon-apigateway-cors` (`allowOrigins`), SAM's `CorsConfiguration` (`AllowOrigins`) and
//! the Serverless Framework's `httpApi.cors` (`allowedOrigins`)
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html>).

use crate::native::Cors;
use crate::source::{Cx, VKind, Val};

/// One CORS property.
#[derive(Clone, Copy)]
pub(crate) enum Field {
    Origins,
    Methods,
    Headers,
    Expose,
    MaxAge,
    Credentials,
}

/// A CORS configuration with the given spelling of its keys (OpenAPI lower-camel, SAM
/// upper-camel, serverless `allowedOrigins`...). Unknown keys are warned about.
pub(crate) fn read(cx: &mut Cx<'_>, v: &Val, keys: &[(&str, Field)]) -> Option<Cors> {
    if !matches!(v.kind, VKind::Map(_)) {
        cx.expected(v, "a CORS configuration (a mapping)");
        return None;
    }
    let mut c = Cors::default();
    for (key, value) in v.entries() {
        let Some((_, field)) = keys.iter().find(|(k, _)| *k == key.text) else {
            cx.warn_key(v, &key.text, format!("unknown CORS property `{}`; ignored", key.text));
            continue;
        };
        let list = |cx: &mut Cx<'_>| match value.strings() {
            Some(l) => l,
            None => {
                cx.expected(value, "a list of strings");
                Vec::new()
            }
        };
        match field {
            Field::Origins => c.allow_origins = list(cx),
            Field::Methods => c.allow_methods = list(cx),
            Field::Headers => c.allow_headers = list(cx),
            Field::Expose => c.expose_headers = list(cx),
            Field::MaxAge => match value.str().and_then(|s| s.trim().parse().ok()) {
                Some(n) => c.max_age = Some(n),
                None => cx.expected(value, "a number of seconds"),
            },
            Field::Credentials => match value.bool() {
                Some(b) => c.allow_credentials = Some(b),
                None => cx.expected(value, "true or false"),
            },
        }
    }
    Some(c)
}

/// `over` laid on `base` field by field, as SAM merges `CorsConfiguration` over the
/// definition's `x-amazon-apigateway-cors`.
pub(crate) fn over(base: Cors, over: Cors) -> Cors {
    let pick = |o: Vec<String>, b: Vec<String>| if o.is_empty() { b } else { o };
    Cors {
        allow_origins: pick(over.allow_origins, base.allow_origins),
        allow_methods: pick(over.allow_methods, base.allow_methods),
        allow_headers: pick(over.allow_headers, base.allow_headers),
        expose_headers: pick(over.expose_headers, base.expose_headers),
        max_age: over.max_age.or(base.max_age),
        allow_credentials: over.allow_credentials.or(base.allow_credentials),
    }
}

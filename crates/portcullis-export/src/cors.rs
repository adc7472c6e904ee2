//! The top-level `cors` -> `x-amazon-apigateway-cors` (lower-camel keys)
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-cors-configuration.html>).

use portcullis_config::CorsConfig;
use serde_json::{Map, Value, json};

use crate::note::{ConfigPath, Notes};

/// The origins with a `*` AWS accepts: any origin, any https origin, any http origin.
const AWS_WILDCARDS: [&str; 3] = ["*", "https://*", "http://*"];

/// The API's CORS configuration. Origin patterns AWS does not accept are left out (noted): a
/// browser on such an origin is refused on AWS, never allowed by mistake.
pub(crate) fn export(cors: &CorsConfig, notes: &mut Notes) -> Value {
    let path = ConfigPath::root("cors");
    let mut origins = Vec::new();
    for (i, origin) in cors.allow_origins.iter().enumerate() {
        if origin.contains('*') && !AWS_WILDCARDS.contains(&origin.as_str()) {
            notes.left_out(
                &path.key("allow_origins").index(i),
                format!("origin pattern {origin:?}: AWS accepts `*`, `https://*` and `http://*` as wildcards, no others"),
            );
        } else {
            origins.push(origin.clone());
        }
    }
    let mut out = Map::new();
    let mut list = |key: &str, items: &[String]| {
        if !items.is_empty() {
            out.insert(key.into(), json!(items));
        }
    };
    list("allowOrigins", &origins);
    list("allowMethods", &cors.allow_methods);
    list("allowHeaders", &cors.allow_headers);
    list("exposeHeaders", &cors.expose_headers);
    if let Some(max_age) = cors.max_age {
        out.insert("maxAge".into(), json!(max_age));
    }
    out.insert("allowCredentials".into(), json!(cors.allow_credentials));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(yaml: &str) -> CorsConfig {
        let config = portcullis_config::from_str(yaml, "t.yaml").unwrap();
        config.cors.unwrap()
    }

    #[test]
    fn every_field_is_written_in_lower_camel_case() {
        let mut notes = Notes::default();
        let c = cors(
            "cors:\n  allow_origins: [https://app.example.com]\n  allow_methods: [GET, POST]\n  allow_headers: [Authorization]\n  expose_headers: [apigw-requestid]\n  max_age: 600\n  allow_credentials: true\n",
        );
        assert_eq!(
            export(&c, &mut notes),
            json!({
                "allowOrigins": ["https://app.example.com"],
                "allowMethods": ["GET", "POST"],
                "allowHeaders": ["authorization"],
                "exposeHeaders": ["apigw-requestid"],
                "maxAge": 600,
                "allowCredentials": true,
            })
        );
        assert!(notes.0.is_empty());
    }

    #[test]
    fn origin_patterns_aws_lacks_are_left_out_and_named() {
        let mut notes = Notes::default();
        let c = cors(
            "cors:\n  allow_origins: [\"https://*.example.com\", \"https://*\", https://a.example.com]\n",
        );
        assert_eq!(
            export(&c, &mut notes),
            json!({"allowOrigins": ["https://*", "https://a.example.com"], "allowCredentials": false})
        );
        assert_eq!(
            notes.0[0].to_string(),
            "cors.allow_origins[0]: origin pattern \"https://*.example.com\": AWS accepts `*`, `https://*` and `http://*` as wildcards, no others; left out"
        );
    }
}

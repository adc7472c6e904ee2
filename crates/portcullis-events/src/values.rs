//! The value of a variable (`$request.header.x`, `$context.routeKey`, ...) for one request, as
//! AWS gives it: the same text whether it lands in an event, a mapped header, an identity
//! source or a throttle key.

use std::borrow::Cow;

use http::header::{COOKIE, USER_AGENT};
use portcullis_core::{AuthContext, ContextVariable, Variable};
use serde_json::Value;

use crate::RequestFacts;
use crate::claims::claim_string;
use crate::clf::{clf_time, epoch_millis};
use crate::request::{domain_name, domain_prefix, header_value, query_value};

/// The value of `variable` for the request of `facts`; `None` when the request does not carry
/// it (a header not sent, a claim the token lacks, no authorizer ran).
///
/// Variables known only later are `None` here: the request body (`$request.body`, which the
/// parameter-mapping stage reads itself), the response (`$response.*`) and the `$context`
/// variables of the response (`status`, `responseLatency`, ...), which the access log and the
/// response-mapping stage resolve.
pub fn request_value<'a>(variable: &Variable, facts: &RequestFacts<'a>) -> Option<Cow<'a, str>> {
    let parts = facts.parts;
    let ctx = facts.ctx;
    Some(match variable {
        Variable::Header(name) => header_value(&parts.headers, name)?,
        Variable::Query(name) => Cow::Owned(query_value(parts.uri.query()?, name)?),
        Variable::Cookie(name) => Cow::Borrowed(cookie(parts, name)?),
        // `$request.path` is the path without the stage prefix
        // (docs/aws-compatibility.md#stages-and-stage-variables).
        Variable::Path => Cow::Owned(
            percent_encoding::percent_decode_str(stage_relative(facts.stage, parts.uri.path()))
                .decode_utf8_lossy()
                .into_owned(),
        ),
        Variable::PathParam(name) => Cow::Borrowed(ctx.params.get(name)?.decoded.as_str()),
        Variable::Context(variable) => context_value(*variable, facts)?,
        Variable::Claim(name) => match &ctx.auth {
            AuthContext::Jwt(jwt) => Cow::Owned(claim_string(jwt.claims.get(name)?)?),
            _ => return None,
        },
        Variable::AuthorizerValue(key) => match &ctx.auth {
            AuthContext::Lambda(lambda) => Cow::Owned(json_text(lambda.context.as_ref()?.get(key)?)?),
            _ => return None,
        },
        Variable::StageVariable(name) => {
            Cow::Borrowed(facts.stage_variables.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())?)
        }
        Variable::Body(_) | Variable::ResponseHeader(_) | Variable::ResponseBody(_) => return None,
    })
}

fn context_value<'a>(variable: ContextVariable, facts: &RequestFacts<'a>) -> Option<Cow<'a, str>> {
    let parts = facts.parts;
    let ctx = facts.ctx;
    Some(match variable {
        ContextVariable::RequestId | ContextVariable::ExtendedRequestId => {
            Cow::Owned(ctx.request_id.as_str().to_owned())
        }
        ContextVariable::RouteKey => Cow::Owned(ctx.route_key.to_string()),
        ContextVariable::HttpMethod => Cow::Borrowed(parts.method.as_str()),
        ContextVariable::Path => Cow::Borrowed(parts.uri.path()),
        ContextVariable::Protocol => Cow::Borrowed(match parts.version {
            http::Version::HTTP_2 => "HTTP/2.0",
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        }),
        ContextVariable::Stage => Cow::Borrowed(facts.stage),
        ContextVariable::ApiId => Cow::Borrowed(facts.api_id),
        ContextVariable::AccountId => Cow::Borrowed(facts.account_id),
        ContextVariable::DomainName => non_empty(domain_name(facts))?,
        ContextVariable::DomainPrefix => non_empty(domain_prefix(domain_name(facts)))?,
        ContextVariable::RequestTime => Cow::Owned(clf_time(ctx.received_at)),
        ContextVariable::RequestTimeEpoch => Cow::Owned(epoch_millis(ctx.received_at).to_string()),
        ContextVariable::SourceIp => Cow::Owned(ctx.client_addr.ip().to_string()),
        ContextVariable::UserAgent => {
            Cow::Owned(String::from_utf8_lossy(parts.headers.get(USER_AGENT)?.as_bytes()).into_owned())
        }
        ContextVariable::PrincipalId => match &ctx.auth {
            AuthContext::Lambda(lambda) => Cow::Owned(lambda.principal_id.clone()?),
            _ => return None,
        },
        ContextVariable::AuthorizerError
        | ContextVariable::Status
        | ContextVariable::ResponseLength
        | ContextVariable::DataProcessed
        | ContextVariable::ResponseLatency
        | ContextVariable::IntegrationLatency
        | ContextVariable::IntegrationStatus
        | ContextVariable::IntegrationServiceStatus
        | ContextVariable::IntegrationErrorMessage
        | ContextVariable::ErrorMessage
        | ContextVariable::ErrorMessageString
        | ContextVariable::ErrorResponseType => return None,
    })
}

/// `path` without the prefix of a named stage (a path outside it is left as it is: the route
/// stage has already refused such a request).
pub fn stage_relative<'p>(stage: &str, path: &'p str) -> &'p str {
    portcullis_core::strip_stage(stage, path).unwrap_or(path)
}

fn non_empty(text: &str) -> Option<Cow<'_, str>> {
    (!text.is_empty()).then_some(Cow::Borrowed(text))
}

/// The first cookie named `name`, its value unquoted.
pub fn cookie<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|header| {
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
    })
}

/// A Lambda authorizer context value, or a JSON value a mapping selected, as text: strings
/// raw, numbers and booleans as their JSON text (`1`, `true`), objects and arrays as compact
/// JSON; `null` is absent.
pub fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portcullis_core::{
        ApiIdentity, CallContext, JwtContext, LambdaContext, Param, Params, RequestIdGenerator,
    };
    use serde_json::json;

    use super::*;

    fn ctx(auth: AuthContext) -> CallContext {
        CallContext {
            request_id: RequestIdGenerator::new(1).next_id(),
            client_addr: "192.0.2.9:5555".parse().unwrap(),
            tls: false,
            local_port: 80,
            trace_id: portcullis_core::TraceId::default(),
            route_key: Arc::from("GET /orders/{id}"),
            params: Params(vec![Param { name: Arc::from("id"), raw: "a%20b".into(), decoded: "a b".into() }]),
            received_at: std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123),
            auth,
        }
    }

    #[test]
    fn request_and_context_variables_read_as_aws_hands_them_on() {
        let parts = http::Request::get("/orders/a%20b?q=1&q=two+2")
            .header("host", "api.example.com:8080")
            .header("x-a", "1")
            .header("x-a", "2")
            .header("cookie", "s=\"v\"; t=2")
            .header("user-agent", "curl/8")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let api = ApiIdentity {
            stage: "dev".into(),
            stage_variables: vec![("backend".into(), "b".into())],
            ..ApiIdentity::default()
        };
        let claims = json!({"sub": "alice", "groups": ["a", "b"]});
        let ctx = ctx(AuthContext::Jwt(JwtContext {
            claims: Arc::new(claims.as_object().unwrap().clone()),
            scopes: None,
        }));
        let facts = RequestFacts::new(&parts, &[], &ctx, &api);
        let value = |text: Variable| request_value(&text, &facts).map(Cow::into_owned);
        assert_eq!(value(Variable::Header(http::HeaderName::from_static("x-a"))).as_deref(), Some("1,2"));
        assert_eq!(value(Variable::Query("q".into())).as_deref(), Some("1,two 2"));
        assert_eq!(value(Variable::Cookie("s".into())).as_deref(), Some("v"));
        assert_eq!(value(Variable::Path).as_deref(), Some("/orders/a b"));
        assert_eq!(value(Variable::PathParam("id".into())).as_deref(), Some("a b"));
        assert_eq!(value(Variable::Claim("groups".into())).as_deref(), Some("[a b]"));
        assert_eq!(value(Variable::StageVariable("backend".into())).as_deref(), Some("b"));
        let context = |c| value(Variable::Context(c));
        assert_eq!(context(ContextVariable::RouteKey).as_deref(), Some("GET /orders/{id}"));
        assert_eq!(context(ContextVariable::Stage).as_deref(), Some("dev"));
        assert_eq!(context(ContextVariable::DomainPrefix).as_deref(), Some("api"));
        assert_eq!(context(ContextVariable::SourceIp).as_deref(), Some("192.0.2.9"));
        assert_eq!(context(ContextVariable::UserAgent).as_deref(), Some("curl/8"));
        assert_eq!(context(ContextVariable::RequestTimeEpoch).as_deref(), Some("1700000000123"));
        assert_eq!(context(ContextVariable::PrincipalId), None, "no Lambda authorizer ran");
        assert_eq!(context(ContextVariable::Status), None, "known only with the response");
    }

    #[test]
    fn lambda_context_values_render_as_json_text() {
        let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
        let api = ApiIdentity::default();
        let context = json!({"tenant": "acme", "n": 1.5, "ok": true, "o": {"a": 1}, "gone": null});
        let ctx = ctx(AuthContext::Lambda(LambdaContext {
            principal_id: Some("user|1".into()),
            context: context.as_object().cloned().map(Arc::new),
        }));
        let facts = RequestFacts::new(&parts, &[], &ctx, &api);
        let value =
            |key: &str| request_value(&Variable::AuthorizerValue(key.into()), &facts).map(Cow::into_owned);
        assert_eq!(value("tenant").as_deref(), Some("acme"));
        assert_eq!(value("n").as_deref(), Some("1.5"));
        assert_eq!(value("ok").as_deref(), Some("true"));
        assert_eq!(value("o").as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(value("gone"), None);
        assert_eq!(
            request_value(&Variable::Context(ContextVariable::PrincipalId), &facts).as_deref(),
            Some("user|1")
        );
    }
}

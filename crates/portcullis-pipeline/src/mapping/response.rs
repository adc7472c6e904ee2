//! The mapping stage's response half: AWS `ResponseParameters`, applied to the integration's
//! response with the configured status (docs/aws-compatibility.md#response-parameter-mapping).
//!
//! Only responses the integration produced are mapped (a function's `statusCode`, an upstream's
//! status); the gateway's own answers (401, 403, 429, an integration failure's 500 or 503) never
//! reach this stage, as on AWS. Values are evaluated against the response as it arrived, then
//! applied in config order, like the request half. `$response.body.<path>` reads the first
//! 100 KB of the body (AWS's truncation) and sends the whole body on unchanged; a mapping that
//! references no body never touches it.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::HeaderMap;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use portcullis_core::{
    ApiIdentity, Body, BoxError, CallContext, ContextVariable, MappingAction, MappingEntry, MappingTarget,
    Template, Variable, full,
};
use portcullis_events::{RequestFacts, header_value, json_text, request_value};
use serde_json::Value;

use super::{BODY_JSON_LIMIT, MappingError, apply_header};

/// A route's `response_parameters`, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMapping {
    by_status: Box<[(u16, Box<[MappingEntry]>)]>,
    api: ApiIdentity,
    needs_body: bool,
}

impl ResponseMapping {
    /// The mapping of `by_status` (status -> entries) on the API `api`, whose constants are
    /// substituted now.
    pub fn new(by_status: &[(u16, Vec<MappingEntry>)], api: &ApiIdentity) -> Self {
        let by_status: Box<[(u16, Box<[MappingEntry]>)]> = by_status
            .iter()
            .map(|(status, entries)| {
                let entries = entries
                    .iter()
                    .map(|e| MappingEntry { value: e.value.resolve_constants(api), ..e.clone() })
                    .collect();
                (*status, entries)
            })
            .collect();
        let needs_body = by_status
            .iter()
            .flat_map(|(_, entries)| entries.iter())
            .any(|e| e.value.variables().any(|v| matches!(v, Variable::ResponseBody(_))));
        ResponseMapping { by_status, api: api.clone(), needs_body }
    }

    /// The entries for an integration response with `status`.
    fn entries(&self, status: StatusCode) -> Option<&[MappingEntry]> {
        self.by_status.iter().find(|(s, _)| *s == status.as_u16()).map(|(_, e)| &**e)
    }
}

/// What the values of a response mapping may name besides the response: the request as it
/// reached the integration and its context.
pub struct RequestSide<'a> {
    /// The request head (method, URI, headers) as the integration received it.
    pub parts: &'a Parts,
    /// Route, parameters, authorizer outcome.
    pub ctx: &'a CallContext,
    /// Time spent in the integration, in milliseconds.
    pub integration_latency_ms: Option<f64>,
    /// Whether the integration is a Lambda function (`$context.integrationStatus` is then the
    /// Lambda service's 200).
    pub lambda: bool,
}

/// The mapping stage's response half: applies the route's response mapping, if any, to the
/// integration's response.
///
/// # Errors
/// [`MappingError`]: a mapped status or header value cannot be represented (the caller answers
/// 500, as an integration failure), or the body a value references could not be read.
pub async fn response(
    mapping: Option<&ResponseMapping>,
    response: Response<Body>,
    request: &RequestSide<'_>,
) -> Result<Response<Body>, MappingError> {
    let Some(mapping) = mapping else { return Ok(response) };
    let Some(entries) = mapping.entries(response.status()) else { return Ok(response) };
    let (mut head, body) = response.into_parts();
    let (body, prefix) = if mapping.needs_body { read_prefix(body).await? } else { (body, Bytes::new()) };
    apply(entries, &mut head, &prefix, mapping, request).inspect_err(|error| {
        tracing::warn!(request_id = %request.ctx.request_id, route = %request.ctx.route_key, %error, "response mapping failed");
    })?;
    Ok(Response::from_parts(head, body))
}

fn apply(
    entries: &[MappingEntry],
    head: &mut http::response::Parts,
    body: &Bytes,
    mapping: &ResponseMapping,
    request: &RequestSide<'_>,
) -> Result<(), MappingError> {
    let facts = RequestFacts::new(request.parts, &[], request.ctx, &mapping.api);
    let parsed = std::cell::OnceCell::new();
    let json = || parsed.get_or_init(|| serde_json::from_slice::<Value>(body).ok()).as_ref();
    let integration_status = head.status.as_u16().to_string();
    let latency = request.integration_latency_ms.map(|ms| format!("{}", ms.round() as u64));
    let values: Vec<Option<String>> = entries
        .iter()
        .map(|entry| {
            if entry.action == MappingAction::Remove {
                return Some(String::new());
            }
            render(&entry.value, |variable| match variable {
                Variable::ResponseHeader(name) => header_value(&head.headers, name),
                Variable::ResponseBody(path) if path.is_whole() => {
                    Some(Cow::Owned(String::from_utf8_lossy(body).into_owned()))
                }
                Variable::ResponseBody(path) => json_text(path.select(json()?)?).map(Cow::Owned),
                Variable::Context(ContextVariable::IntegrationServiceStatus) if request.lambda => {
                    Some(Cow::Borrowed("200"))
                }
                Variable::Context(
                    ContextVariable::IntegrationStatus
                    | ContextVariable::IntegrationServiceStatus
                    | ContextVariable::Status,
                ) => Some(Cow::Borrowed(integration_status.as_str())),
                Variable::Context(ContextVariable::IntegrationLatency) => {
                    latency.as_deref().map(Cow::Borrowed)
                }
                other => request_value(other, &facts),
            })
        })
        .collect();
    for (entry, value) in entries.iter().zip(values) {
        match &entry.target {
            MappingTarget::StatusCode => {
                if let Some(text) = value {
                    head.status = text
                        .trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|code| (100..=599).contains(code))
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .ok_or(MappingError::StatusCode(text))?;
                }
            }
            MappingTarget::Header(name) => apply_header(&mut head.headers, entry.action, name, value)?,
            // Request mapping only; the config loader keeps them out of response mappings.
            MappingTarget::Query(_) | MappingTarget::Path => {}
        }
    }
    Ok(())
}

fn render<'a>(template: &Template, lookup: impl FnMut(&Variable) -> Option<Cow<'a, str>>) -> Option<String> {
    let mut out = String::new();
    template.render(&mut out, lookup, |_, value, out| out.push_str(value)).then_some(out)
}

/// Reads the first [`BODY_JSON_LIMIT`] bytes of `body`: the body to send on (the same bytes
/// followed by the rest, unread) and the prefix.
async fn read_prefix(mut body: Body) -> Result<(Body, Bytes), MappingError> {
    let mut prefix = BytesMut::new();
    let mut trailers = None;
    while prefix.len() < BODY_JSON_LIMIT {
        match body.frame().await {
            None => return Ok((full(prefix.clone().freeze()), prefix.freeze())),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => prefix.extend_from_slice(&data),
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    break;
                }
            },
            Some(Err(error)) => {
                tracing::debug!(%error, "the integration's response body failed while mapping");
                return Err(MappingError::ResponseBody);
            }
        }
    }
    let prefix = prefix.freeze();
    let whole = prefix.slice(..prefix.len().min(BODY_JSON_LIMIT));
    let rest = if trailers.is_some() { None } else { Some(body) };
    Ok((BodyExt::boxed(Prefixed { prefix: Some(prefix), trailers, rest }), whole))
}

/// A body that sends bytes already read, then trailers already read or the rest of a body.
struct Prefixed {
    prefix: Option<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<Body>,
}

impl HttpBody for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let extra = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let mut hint = self.rest.as_ref().map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint);
        hint.set_lower(hint.lower() + extra);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + extra);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use http_body_util::BodyExt;
    use portcullis_core::{AuthContext, RequestIdGenerator};

    use super::*;

    fn compile(yaml_entries: &str) -> ResponseMapping {
        let yaml = format!(
            "stage: dev\nstage_variables: {{region_label: eu}}\nroutes:\n  GET /x:\n    http: http://127.0.0.1:1/\n    response_parameters:\n{yaml_entries}"
        );
        let config = portcullis_config::from_str(&yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let api = ApiIdentity {
            stage: "dev".into(),
            stage_variables: config.stage_variables.clone(),
            ..ApiIdentity::default()
        };
        ResponseMapping::new(&config.routes[0].response_parameters, &api)
    }

    fn ctx() -> CallContext {
        CallContext {
            request_id: RequestIdGenerator::new(7).next_id(),
            client_addr: "192.0.2.9:1".parse().unwrap(),
            tls: false,
            local_port: 80,
            trace_id: portcullis_core::TraceId::default(),
            route_key: Arc::from("GET /x"),
            params: Default::default(),
            received_at: SystemTime::now(),
            auth: AuthContext::None,
        }
    }

    async fn run(mapping: &ResponseMapping, response: Response<Body>) -> Response<Body> {
        let parts = http::Request::get("/dev/x").body(()).unwrap().into_parts().0;
        let ctx = ctx();
        let side =
            RequestSide { parts: &parts, ctx: &ctx, integration_latency_ms: Some(12.4), lambda: false };
        super::response(Some(mapping), response, &side).await.unwrap()
    }

    fn upstream(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response<Body> {
        let mut b = Response::builder().status(status);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(full(body)).unwrap()
    }

    #[tokio::test]
    async fn a_mapped_status_gets_its_entries_and_others_pass_untouched() {
        let mapping = compile(
            "      \"500\": {overwrite:statuscode: \"502\", append:header.x-failed: \"true\"}\n      \"200\": {remove:header.server: \"\", overwrite:header.x-region: $stageVariables.region_label, append:header.x-stage: \"${context.stage}-${context.integrationStatus}\"}\n",
        );
        let failed = run(&mapping, upstream(500, &[("x-failed", "upstream")], "boom")).await;
        assert_eq!(failed.status(), 502);
        let values: Vec<_> = failed.headers().get_all("x-failed").iter().collect();
        assert_eq!(values, ["upstream", "true"], "append keeps the upstream's value");

        let ok = run(&mapping, upstream(200, &[("server", "nginx"), ("x-region", "us")], "ok")).await;
        assert_eq!(ok.status(), 200);
        assert!(ok.headers().get("server").is_none());
        assert_eq!(ok.headers()["x-region"], "eu");
        assert_eq!(ok.headers()["x-stage"], "dev-200");
        assert_eq!(ok.into_body().collect().await.unwrap().to_bytes(), "ok");

        let other = run(&mapping, upstream(404, &[("server", "nginx")], "")).await;
        assert_eq!(other.status(), 404);
        assert_eq!(other.headers()["server"], "nginx", "no entries for 404");
    }

    #[tokio::test]
    async fn values_come_from_the_response_headers_and_body_which_is_sent_whole() {
        let mapping = compile(
            "      \"200\": {overwrite:header.x-user: $response.body.user.id, append:header.x-type: $response.header.content-type, overwrite:header.x-absent: $response.body.nothing}\n",
        );
        let small = r#"{"user":{"id":"u-1"}}"#;
        let response = run(
            &mapping,
            upstream(200, &[("content-type", "application/json"), ("x-absent", "upstream")], small),
        )
        .await;
        assert_eq!(response.headers()["x-user"], "u-1");
        assert_eq!(response.headers()["x-type"], "application/json");
        assert!(
            response.headers().get("x-absent").is_none(),
            "an absent value still clears an overwrite target"
        );
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), small);

        // Over 100 KB the JSON is cut, as AWS cuts it, so the path finds nothing; the client
        // still gets every byte.
        let big = format!("{{\"user\":{{\"id\":\"u-1\"}},\"pad\":\"{}\"}}", "x".repeat(300_000));
        let body: &'static str = Box::leak(big.clone().into_boxed_str());
        let response = run(&mapping, upstream(200, &[("content-type", "application/json")], body)).await;
        assert!(response.headers().get("x-user").is_none());
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), big.as_bytes());
    }

    #[tokio::test]
    async fn a_status_that_is_not_one_fails_the_mapping() {
        let mapping = compile("      \"200\": {overwrite:statuscode: $response.header.x-code}\n");
        let parts = http::Request::get("/dev/x").body(()).unwrap().into_parts().0;
        let ctx = ctx();
        let side = RequestSide { parts: &parts, ctx: &ctx, integration_latency_ms: None, lambda: false };
        let error = super::response(Some(&mapping), upstream(200, &[("x-code", "abc")], ""), &side)
            .await
            .unwrap_err();
        assert_eq!(error, MappingError::StatusCode("abc".into()));
    }
}

//! The only place the stages are put in order.
//!
//! ```text
//! request:   limits ─▶ route ─▶ cors (preflight) ─▶ throttle ─▶ authorize ─▶ throttle (keys
//!            the authorizer established) ─▶ mapping ─▶ integrate ─▶ mapping (response
//!            parameters, on the integration's own answer only)
//! response:  respond ─▶ authorize (deny reason) ─▶ route (nearest routes on a development
//!            404) ─▶ cors (headers) ─▶ metrics, access log
//! ```
//! Each stage is one module with a `request` half and, where it has one, a `response` half,
//! and its own error type; [`crate::respond`] is the one table from those errors to answers.
//! Each line of [`Gateway::request_path`] and [`Gateway::response_path`] is one stage, with the
//! reason it sits where it does.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HOST, USER_AGENT};
use http::request::Parts;
use http::{Request, Response, Version};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use portcullis_authz::Trace;
use portcullis_core::{AuthContext, Body, BoxError, CallContext, EventCapture, RequestIdGenerator, TraceId};

use crate::access_log::{AccessLogSink, AccessRecord, CountedBody, LoggedBody, RequestDetail, Wants};
use crate::listener::ConnMeta;
use crate::metrics::Metrics;
use crate::plan::{RoutePlan, Snapshot};
use crate::respond::Rejection;
use crate::{authorize, cors, integrate, limits, mapping, respond, route, throttle};

/// The request pipeline. One per listener; the route table inside is swapped on reload.
pub struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    ids: RequestIdGenerator,
    access_log: Arc<dyn AccessLogSink>,
    /// What the access log prints beyond the fields every record has.
    wants: Wants,
    metrics: Arc<Metrics>,
}

impl Gateway {
    /// A pipeline serving whatever snapshot `snapshot` holds at the time of each request.
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        ids: RequestIdGenerator,
        access_log: Arc<dyn AccessLogSink>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let wants = access_log.wants();
        Gateway { snapshot, ids, access_log, wants, metrics }
    }

    /// Answer one request. Never fails: every problem becomes a response (see [`Rejection`]).
    pub async fn handle<B>(&self, mut request: Request<B>, conn: ConnMeta) -> Response<LoggedBody>
    where
        B: HttpBody<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let received_at = SystemTime::now();
        let request_id = self.ids.next_id();
        let protocol = match request.version() {
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        // Boxed from the start: the record rides in the response body and then to the access
        // log's writer, and a pointer moves cheaper than 450 bytes. The box is one the writer
        // gave back, when it has one.
        let mut record = self.access_log.boxed(AccessRecord::start(
            request_id,
            received_at,
            conn.client_addr.ip(),
            request.method(),
            request.uri(),
            protocol,
        ));
        record.user_agent = request.headers().get(USER_AGENT).cloned();
        if self.wants.host {
            record.host = request.headers().get(HOST).cloned();
        }
        // A live observer (the admin console) sees the headers, and in development mode the
        // event sent to a function; nobody watching costs one check.
        let observing = self.access_log.observing();
        if observing.requests {
            let event = observing.events.then(|| {
                let capture = EventCapture::default();
                request.extensions_mut().insert(capture.clone());
                capture
            });
            record.detail = Some(Box::new(RequestDetail { headers: request.headers().clone(), event }));
        }

        // One snapshot for the whole request: a reload never changes rules mid-request.
        let snapshot = self.snapshot.load_full();
        let mut flow = Flow::default();
        let result = self.request_path(&snapshot, request, conn, &mut record, &mut flow).await;
        let response = self.response_path(&snapshot, result, &mut record, &flow, started);
        response.map(|body| LoggedBody::new(body, record, Arc::clone(&self.access_log), started))
    }

    async fn request_path<B>(
        &self,
        snapshot: &Snapshot,
        request: Request<B>,
        conn: ConnMeta,
        record: &mut AccessRecord,
        flow: &mut Flow,
    ) -> Result<Response<Body>, Rejection>
    where
        B: HttpBody<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();

        // Head checks first: nothing else should spend work on an oversized or malformed head.
        limits::request(&parts, &snapshot.limits)?;

        // Route selection: a miss is AWS's 404, before any authorizer runs.
        let routed = route::request(snapshot, &parts.method, parts.uri.path());

        // A browser's preflight is answered here, before throttling and any authorizer: it
        // carries no credentials, and the real request it asks about will meet them.
        if let Some(answer) = cors::request(snapshot, &parts, &routed, &mut flow.cors) {
            return Ok(answer);
        }
        let (plan, params) = routed?;
        record.route_key = Some(Arc::clone(&plan.key));
        flow.plan = Some(Arc::clone(&plan));
        let mut ctx = CallContext {
            request_id: record.request_id,
            trace_id: TraceId::for_request(&parts.headers, record.request_id, record.received_at),
            client_addr: conn.client_addr,
            tls: conn.tls,
            local_port: conn.local_port,
            route_key: Arc::clone(&plan.key),
            params,
            received_at: record.received_at,
            auth: AuthContext::None,
        };

        // Throttling, before the authorizer: a request over a limit costs no identity provider,
        // no authorizer function and no backend.
        throttle::request(snapshot.throttle.as_deref(), plan.throttle(), &parts, &ctx, &snapshot.api).await?;

        // Authorization: a denial ends the request; the integration is never called.
        authorize::request(
            &plan.access,
            plan.rules.as_deref(),
            &mut parts,
            &mut ctx,
            record,
            &mut Trace::off(),
        )
        .await?;

        if self.wants.auth || record.detail.is_some() {
            record.auth = ctx.auth.clone();
        }

        // Limits keyed on what the authorizer established (a claim, a context value): only an
        // authorized caller has such a key, and it cannot be forged to spend another's bucket.
        throttle::authorized(plan.throttle(), &parts, &ctx, &snapshot.api).await?;

        // The body is streamed through a limit rather than buffered: a chunked upload over
        // `max_body` fails mid-stream and becomes 413.
        let body = Limited::new(body, snapshot.limits.max_body as usize)
            .map_err(|error| -> BoxError { error })
            .boxed();
        // Counted only for a log format that prints `$context.dataProcessed`.
        let body = if self.wants.request_bytes {
            let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
            record.request_bytes = Some(Arc::clone(&count));
            CountedBody::new(body, count).boxed()
        } else {
            body
        };

        // Parameter mapping: after authorization, so that `$context.authorizer.*` is known;
        // before the integration, which forwards (HTTP) or builds its event from the mapped
        // request. It reads the (limited) body only when a value references `$request.body`.
        let body = mapping::request(plan.mapping(), &mut parts, body, &ctx).await?;

        // The integration: the request leaves the gateway.
        let response_mapping = plan.response_mapping();
        let head = response_mapping.map(|_| head_of(&parts));
        let response =
            integrate::request(&*plan.integration, Request::from_parts(parts, body), &ctx, record).await?;

        // Response parameter mapping: the integration's own responses only; the gateway's
        // answers (the `?`s above) are never remapped, as on AWS.
        match (response_mapping, head) {
            (Some(mapping), Some(head)) => {
                let side = mapping::RequestSide {
                    parts: &head,
                    ctx: &ctx,
                    integration_latency: record.integration_latency,
                    lambda: plan.integration.is_lambda(),
                };
                Ok(mapping::response(Some(mapping), response, &side).await?)
            }
            _ => Ok(response),
        }
    }

    fn response_path(
        &self,
        snapshot: &Snapshot,
        result: Result<Response<Body>, Rejection>,
        record: &mut AccessRecord,
        flow: &Flow,
        started: Instant,
    ) -> Response<Body> {
        // The answer: the integration's response, or the one table's answer to a rejection
        // (with `debug_headers`, a function's error report); `apigw-requestid` on both.
        let mut response = respond::response(result, record.request_id, record, snapshot.debug_headers);
        // With `debug_headers`, a denial says why, and a 404 names the nearest routes.
        authorize::response(&mut response, record, snapshot.debug_headers);
        route::response(&mut response, snapshot, record);
        // CORS headers last, on the final answer, the gateway's own included: a browser app
        // can read why it was refused.
        cors::response(response.headers_mut(), snapshot, flow.plan.as_deref(), &flow.cors);
        // Counted once the status is final; the access log line follows when the body ends.
        self.metrics.observe(record.status, started.elapsed());
        if let Some(reason) = record.authorizer_reason {
            self.metrics.denial(reason);
        }
        if let Some(kind) = record.error {
            self.metrics.error(kind);
        }
        response
    }
}

/// What the request half leaves for the response half.
#[derive(Default)]
struct Flow {
    /// The route that served the request, once one matched.
    plan: Option<Arc<RoutePlan>>,
    /// What the CORS stage's request half saw.
    cors: cors::Seen,
}

/// A copy of the request head the integration is about to take, for the response mapping's
/// `$context` values.
fn head_of(parts: &Parts) -> Parts {
    let mut copy = Request::new(());
    *copy.method_mut() = parts.method.clone();
    *copy.uri_mut() = parts.uri.clone();
    *copy.version_mut() = parts.version;
    *copy.headers_mut() = parts.headers.clone();
    copy.into_parts().0
}

impl crate::listener::Handler for Gateway {
    type Body = LoggedBody;

    fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
        conn: ConnMeta,
    ) -> impl std::future::Future<Output = Response<LoggedBody>> + Send {
        Gateway::handle(self, request, conn)
    }
}

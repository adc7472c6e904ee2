//! The only place the stages are put in order.
//!
//! ```text
//! request:   limits ─▶ route ─▶ authorize ─▶ mapping ─▶ integrate
//! response:  respond ─▶ authorize (deny reason) ─▶ access log
//! ```
//! Each stage is one module with a `request` half and, where it has one, a `response` half,
//! and its own error type; [`crate::respond`] is the one table from those errors to answers.
//! Each line of [`Gateway::request_path`] and [`Gateway::response_path`] is one stage, with the
//! reason it sits where it does.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::USER_AGENT;
use http::{Request, Response, Version};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use portcullis_authz::Trace;
use portcullis_core::{AuthContext, Body, BoxError, CallContext, RequestIdGenerator};

use crate::access_log::{AccessLogSink, AccessRecord, LoggedBody};
use crate::listener::ConnMeta;
use crate::metrics::Metrics;
use crate::plan::Snapshot;
use crate::respond::Rejection;
use crate::{authorize, integrate, limits, mapping, respond, route};

/// The request pipeline. One per listener; the route table inside is swapped on reload.
pub struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    ids: RequestIdGenerator,
    access_log: Arc<dyn AccessLogSink>,
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
        Gateway { snapshot, ids, access_log, metrics }
    }

    /// Answer one request. Never fails: every problem becomes a response (see [`Rejection`]).
    pub async fn handle<B>(&self, request: Request<B>, conn: ConnMeta) -> Response<LoggedBody>
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
        let mut record = AccessRecord::start(
            request_id,
            received_at,
            conn.client_addr.ip(),
            request.method(),
            request.uri(),
            protocol,
        );
        record.user_agent = request.headers().get(USER_AGENT).cloned();

        // One snapshot for the whole request: a reload never changes rules mid-request.
        let snapshot = self.snapshot.load_full();
        let result = self.request_path(&snapshot, request, conn, &mut record).await;
        let response = self.response_path(&snapshot, result, &mut record, started);
        response.map(|body| LoggedBody::new(body, record, Arc::clone(&self.access_log), started))
    }

    async fn request_path<B>(
        &self,
        snapshot: &Snapshot,
        request: Request<B>,
        conn: ConnMeta,
        record: &mut AccessRecord,
    ) -> Result<Response<Body>, Rejection>
    where
        B: HttpBody<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();

        // Head checks first: nothing else should spend work on an oversized or malformed head.
        limits::request(&parts, &snapshot.limits)?;

        // Route selection: a miss is AWS's 404, before any authorizer runs.
        let (plan, params) = route::request(snapshot, &parts.method, parts.uri.path())?;
        record.route_key = Some(Arc::clone(&plan.key));
        let mut ctx = CallContext {
            request_id: record.request_id,
            client_addr: conn.client_addr,
            tls: conn.tls,
            route_key: Arc::clone(&plan.key),
            params,
            received_at: record.received_at,
            auth: AuthContext::None,
        };

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

        // The body is streamed through a limit rather than buffered: a chunked upload over
        // `max_body` fails mid-stream and becomes 413.
        let body = Limited::new(body, snapshot.limits.max_body as usize)
            .map_err(|error| -> BoxError { error })
            .boxed();

        // Parameter mapping: after authorization, so that `$context.authorizer.*` is known;
        // before the integration, which forwards (HTTP) or builds its event from the mapped
        // request. It reads the (limited) body only when a value references `$request.body`.
        let body = mapping::request(plan.mapping.as_deref(), &mut parts, body, &ctx).await?;

        // The integration: the request leaves the gateway.
        Ok(integrate::request(&*plan.integration, Request::from_parts(parts, body), &ctx, record).await?)
    }

    fn response_path(
        &self,
        snapshot: &Snapshot,
        result: Result<Response<Body>, Rejection>,
        record: &mut AccessRecord,
        started: Instant,
    ) -> Response<Body> {
        // The answer: the integration's response, or the one table's answer to a rejection;
        // `apigw-requestid` on both.
        let mut response = respond::response(result, record.request_id, record);
        // With `debug_headers`, a denial says why.
        authorize::response(&mut response, record, snapshot.debug_headers);
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

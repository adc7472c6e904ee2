//! The only place the stages are put in order.
//!
//! ```text
//! listener ─▶ limits ─▶ route ─▶ authorize ─▶ mapping ─▶ integrate ─▶ respond ─▶ access log
//! ```
//! Each line of [`Gateway::run`] is one stage, with the reason it sits where it does. CORS and
//! throttling slot in between route and authorize when they land (CORS preflights must be
//! answered before an authorizer can refuse them, spec §6.2; throttling must protect identity
//! providers and authorizer functions, spec §7.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::{Request, Response, Version};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use portcullis_core::{AuthContext, BoxError, CallContext, RequestId, RequestIdGenerator};

use crate::access_log::{AccessLogSink, AccessRecord, LoggedBody};
use crate::metrics::Metrics;
use crate::plan::Snapshot;
use crate::respond::Rejection;
use crate::{authorize, integrate, limits, mapping, route};

/// The request-id response header AWS HTTP APIs send (spec §7.3), also sent upstream.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("apigw-requestid");
/// With `debug_headers: true`, the reason code of a denial.
pub static DENY_REASON_HEADER: HeaderName = HeaderName::from_static("x-portcullis-deny-reason");

/// What the listener knows about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct ConnMeta {
    /// The TCP peer.
    pub client_addr: SocketAddr,
    /// The port the client connected to (the listener's).
    pub local_port: u16,
    /// Whether the connection is TLS.
    pub tls: bool,
}

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
        let mut response =
            match self.run(&snapshot, request, conn, request_id, received_at, &mut record).await {
                Ok(response) => response,
                Err(rejection) => {
                    record.error = Some(rejection.kind());
                    rejection.into_response()
                }
            };
        if snapshot.debug_headers
            && let Some(reason) = record.authorizer_reason
        {
            response.headers_mut().insert(&DENY_REASON_HEADER, HeaderValue::from_static(reason));
        }
        if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
            response.headers_mut().insert(&REQUEST_ID_HEADER, value);
        }
        record.status = response.status().as_u16();
        self.metrics.observe(record.status, started.elapsed());
        if let Some(reason) = record.authorizer_reason {
            self.metrics.denial(reason);
        }
        if let Some(kind) = record.error {
            self.metrics.error(kind);
        }
        response.map(|body| LoggedBody::new(body, record, Arc::clone(&self.access_log), started))
    }

    async fn run<B>(
        &self,
        snapshot: &Snapshot,
        request: Request<B>,
        conn: ConnMeta,
        request_id: RequestId,
        received_at: SystemTime,
        record: &mut AccessRecord,
    ) -> Result<Response<portcullis_core::Body>, Rejection>
    where
        B: HttpBody<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();

        // Size checks first: nothing else should spend work on an oversized request (spec §9.1).
        limits::check_head(&parts, &snapshot.limits)?;

        // Route selection (spec §1.3). A miss is AWS's 404, before any authorizer runs.
        let (plan, params) = route::select(snapshot, &parts.method, parts.uri.path())?;
        record.route_key = Some(Arc::clone(&plan.key));
        let mut ctx = CallContext {
            request_id,
            client_addr: conn.client_addr,
            tls: conn.tls,
            route_key: Arc::clone(&plan.key),
            params,
            received_at,
            auth: AuthContext::None,
        };

        // Authorization (spec §2, §3): a denial ends the request; the integration is not called.
        authorize::run(&plan, &mut parts, &mut ctx, record).await?;

        // The body is streamed through a limit rather than buffered: a chunked upload over
        // `max_body` fails mid-stream and becomes 413 (the integration reports BodyTooLarge).
        let body = Limited::new(body, snapshot.limits.max_body as usize)
            .map_err(|error| -> BoxError { error })
            .boxed();

        // Parameter mapping (spec §5.2, §9 step 6): after authorization, so that
        // `$context.authorizer.*` is known; before the integration, which forwards (HTTP) or
        // builds its Lambda event from the mapped request. It reads the (limited) body only
        // when a value references `$request.body`.
        let body = mapping::run(&plan, &mut parts, body, &ctx).await?;

        // Integration (spec §4, §5).
        integrate::call(&plan, Request::from_parts(parts, body), &ctx, record).await
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

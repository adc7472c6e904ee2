//! Facts about one request that any stage may read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{AuthContext, Params, RequestId, TraceId};

/// Built by the route stage once a route matched; read by authorizers, integrations and the
/// access log. Owned by the request, so no stage needs a lock to read it.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The `apigw-requestid` of this request.
    pub request_id: RequestId,
    /// The `x-amzn-trace-id` of this request: in its events, on its way to HTTP upstreams, and
    /// the root of every function invocation it causes.
    pub trace_id: TraceId,
    /// The TCP peer (AWS's `sourceIp`).
    pub client_addr: SocketAddr,
    /// Whether the client connected over TLS (drives `x-forwarded-proto`).
    pub tls: bool,
    /// The port the client connected to, the listener's (`x-forwarded-port`): not the one in
    /// `Host`, which a client may leave out or make up.
    pub local_port: u16,
    /// The matched route key as written in config, e.g. `GET /pets/{id}` or `$default`.
    pub route_key: Arc<str>,
    /// Path parameters captured by the match.
    pub params: Params,
    /// When the gateway received the request head.
    pub received_at: SystemTime,
    /// What the authorizer established (filled by the authorizer stage).
    pub auth: AuthContext,
}

//! HTTP proxy integration: forwards the request to an upstream URL and streams the answer back
//! (docs/aws-compatibility.md#http-proxy-integration, `HTTP_PROXY`).
//!
//! Where it sits: `portcullis-app` builds one [`HttpClient`] per process (it owns the connection
//! pools and survives config reloads) and one [`HttpIntegration`] per route from typed
//! [`HttpSettings`]; the pipeline's `integrate` stage calls it through the
//! [`Integration`](crate::Integration) trait. Failures come back as
//! [`IntegrationError`](crate::IntegrationError); this module never writes an error response.
//!
//! What it does per request:
//! - builds the upstream URL from the target (path variables replaced by their raw,
//!   still-percent-encoded values; the whole client path appended for `$default`) plus the
//!   client's query string ([`UpstreamTarget`]);
//! - removes hop-by-hop headers both ways and adds `x-forwarded-*` and `apigw-requestid`
//!   (`headers` submodule);
//! - sends HTTP/1.1 or HTTP/2 to the upstream whatever the client spoke, streaming both bodies;
//! - bounds the time until the upstream's response head by the route's timeout.
//!
//! What it deliberately does not do: retries (a request body is streamed once and cannot be
//! replayed), WebSocket/`Upgrade` pass-through, `Expect: 100-continue` towards the upstream, and
//! request/response parameter mapping (docs/aws-compatibility.md#request-parameter-mapping, a
//! pipeline stage of its own).

mod client;
mod headers;
mod limit;
mod pool;
mod target;
mod watched_body;
mod wire;

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::http::header::HeaderValue;
use ::http::{Request, Response, Uri, Version};
use http_body_util::BodyExt;
use portcullis_core::{Body, BoxError, CallContext, ErrorChain};

use crate::{BoxFuture, Described, Integration, IntegrationError};

pub use client::{ClientOptions, HttpClient, HttpClientError};
pub use target::{PathOverride, PathPart, Scheme, UpstreamTarget};

use client::UpstreamClient;
use limit::{OriginLimit, PermitBody};
use pool::{Http1Pool, PoolError};
use target::CompiledTarget;
use watched_body::{BodyFault, WatchedBody};

/// Which HTTP version to speak to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `https`: offer `h2` and `http/1.1` by ALPN and use what the upstream picks. Plain `http`:
    /// HTTP/1.1 (there is no negotiation without TLS; use [`HttpVersion::Http2`] for h2c).
    #[default]
    Auto,
    /// Always HTTP/1.1 (no ALPN offered over TLS). AWS always speaks HTTP/1.1 to backends
    /// (docs/aws-compatibility.md#http-proxy-integration), so this is the strict-parity choice.
    Http1,
    /// Always HTTP/2: h2c with prior knowledge over `http`, ALPN `h2` only over `https`.
    Http2,
}

/// Everything one HTTP proxy integration needs, built by `portcullis-app` from the config.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Where requests go.
    pub target: UpstreamTarget,
    /// Maximum time from sending the request until the upstream's response head arrives
    /// (connect, TLS handshake and request upload included). Streaming the response body after
    /// the head is not limited, so long downloads are not cut. AWS: 50 ms–30 s, default 30 s
    /// (docs/aws-compatibility.md#http-proxy-integration, #limits).
    pub timeout: Duration,
    /// HTTP version towards the upstream.
    pub version: HttpVersion,
}

/// The HTTP proxy integration of one route. Cheap to share: the pools live in the
/// [`HttpClient`] it was built from.
pub struct HttpIntegration {
    transport: Transport,
    target: CompiledTarget,
    timeout: Duration,
}

/// How requests reach the upstream.
enum Transport {
    /// The upstream always speaks HTTP/1.1 (`http1`, or `auto` over plain `http`): the origin's
    /// own pool, origin-form URIs, and the `Host` header made once (see [`http1_host`]).
    Http1 { pool: Arc<Http1Pool>, host: HeaderValue },
    /// HTTP/2, or ALPN over TLS: hyper-util's client (boxed: it is several times the size of
    /// the other variant, and a config may hold thousands of routes), absolute URIs; each
    /// request holds a place under the origin's cap until its response body ends.
    Negotiated { client: Box<UpstreamClient>, limit: Arc<OriginLimit> },
}

/// Why sending failed, before the error is mapped to an [`IntegrationError`].
enum SendFailure {
    Connect(BoxError),
    Exchange(BoxError),
    Saturated,
}

impl fmt::Debug for HttpIntegration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpIntegration")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpIntegration {
    /// An integration sending requests through `client`'s pools for `settings.version`.
    /// Everything that does not depend on the request (URL prefix, literal path parts, target
    /// query, the pool itself) is prepared here, once.
    pub fn new(client: &HttpClient, settings: HttpSettings) -> Self {
        let HttpSettings { target, timeout, version } = settings;
        let (transport, target) = match http1_host(&target, version) {
            Some(host) => {
                let pool = client.http1_pool(target.scheme, &target.authority);
                (Transport::Http1 { pool, host }, CompiledTarget::new(target).in_origin_form())
            }
            None => {
                let limit = client.origin_limit(target.scheme, &target.authority);
                let client = Box::new(client.for_version(version));
                (Transport::Negotiated { client, limit }, CompiledTarget::new(target))
            }
        };
        Self { transport, target, timeout }
    }

    async fn forward(
        &self,
        req: Request<Body>,
        ctx: &CallContext,
    ) -> Result<Response<Body>, IntegrationError> {
        let (mut parts, body) = req.into_parts();
        // Our own extension, not for the upstream; kept to rebuild the URI for a failure's log.
        let path_override = parts.extensions.remove::<PathOverride>();

        let uri = match self.target.upstream_uri_with(&parts.uri, &ctx.params, path_override.as_ref()) {
            Ok(uri) => uri,
            Err(err) => {
                // Only reachable if a path value is not valid in a URI, which the route matcher
                // should have prevented; treat it as an integration failure (500), not a panic.
                tracing::warn!(
                    upstream = %self.target.log_prefix(),
                    error = %err,
                    "HTTP integration: could not build the upstream URL"
                );
                return Err(IntegrationError::Upstream(Box::new(err)));
            }
        };

        let forwarding = headers::prepare_request(&mut parts.headers, &parts.uri, ctx);
        let client_uri = std::mem::replace(&mut parts.uri, uri);
        // Whatever the client spoke: the connection decides h1/h2, and the legacy client refuses
        // an HTTP/2-versioned request on an HTTP/1 connection.
        parts.version = Version::HTTP_11;

        let fault = Arc::new(BodyFault::default());
        let body = WatchedBody::new(body, Arc::clone(&fault));
        let req = Request::from_parts(parts, body);
        // The upstream URI for a failure's log, built again then: a clone kept for every request
        // would cost an allocation (the URI's buffer becomes shared) on the success path.
        let log_uri = || LogUri {
            prefix: self.target.log_prefix(),
            uri: self.target.upstream_uri_with(&client_uri, &ctx.params, path_override.as_ref()).ok(),
        };

        let outcome = tokio::time::timeout(self.timeout, self.send(req, forwarding)).await;
        match outcome {
            Ok(Ok(mut response)) => {
                headers::prepare_response(response.headers_mut());
                Ok(response)
            }
            Ok(Err(failure)) => {
                let (is_connect, err) = match failure {
                    SendFailure::Connect(err) => (true, err),
                    SendFailure::Exchange(err) => (false, err),
                    SendFailure::Saturated => {
                        tracing::warn!(
                            upstream = %self.target.log_prefix(),
                            "HTTP integration refused: the upstream is at its connection limit and its queue is full"
                        );
                        return Err(IntegrationError::Saturated);
                    }
                };
                let too_large = fault.over_limit() || is_length_limit(err.as_ref());
                let (what, mapped) = if too_large {
                    ("request body over the limit", IntegrationError::BodyTooLarge)
                } else if fault.client_error() {
                    ("the client's request body failed", IntegrationError::ClientBody(err))
                } else if is_connect {
                    ("could not connect", IntegrationError::Connect(err))
                } else {
                    ("upstream failed", IntegrationError::Upstream(err))
                };
                tracing::warn!(
                    upstream = %log_uri(),
                    error = %ErrorChain(mapped.source().unwrap_or(&mapped)),
                    "HTTP integration failed: {what}"
                );
                Err(mapped)
            }
            Err(_elapsed) if fault.over_limit() => {
                // The body tripped the limit and the upstream never answered: the client's fault.
                tracing::warn!(
                    upstream = %log_uri(),
                    "HTTP integration failed: request body over the limit"
                );
                Err(IntegrationError::BodyTooLarge)
            }
            Err(_elapsed) => {
                tracing::warn!(
                    upstream = %log_uri(),
                    timeout = ?self.timeout,
                    "HTTP integration timed out waiting for the response head"
                );
                Err(IntegrationError::Timeout(self.timeout))
            }
        }
    }

    /// One exchange over the route's transport, with the forwarding headers; the response body
    /// is boxed either way.
    async fn send(
        &self,
        mut req: Request<WatchedBody>,
        forwarding: headers::Forwarding<'_>,
    ) -> Result<Response<Body>, SendFailure> {
        match &self.transport {
            // Written with the head, with `host` first: nothing added to the request's map.
            Transport::Http1 { pool, host } => match pool.send(req, host, &forwarding).await {
                Ok(response) => Ok(response.map(|body| body.map_err(BoxError::from).boxed())),
                Err(PoolError::Connect(err)) => Err(SendFailure::Connect(err)),
                Err(err @ PoolError::Exchange(_)) => Err(SendFailure::Exchange(Box::new(err))),
                Err(PoolError::Saturated(_)) => Err(SendFailure::Saturated),
            },
            Transport::Negotiated { client, limit } => {
                forwarding.insert_into(req.headers_mut());
                let permit = limit.acquire().await.map_err(|_| SendFailure::Saturated)?;
                match client.request(req).await {
                    Ok(response) => {
                        Ok(response.map(|body| PermitBody::new(body, permit).map_err(BoxError::from).boxed()))
                    }
                    Err(err) if err.is_connect() => Err(SendFailure::Connect(Box::new(err))),
                    Err(err) => Err(SendFailure::Exchange(Box::new(err))),
                }
            }
        }
    }
}

impl Integration for HttpIntegration {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<Response<Body>, IntegrationError>> {
        Box::pin(self.forward(req, ctx))
    }

    fn describe(&self) -> Described {
        Described { kind: "http", target: self.target.display() }
    }
}

/// The `Host` header of an upstream that always speaks HTTP/1 (`host`, plus `:port` as written
/// unless it is the scheme's default, as hyper-util's client writes it), built once per route
/// instead of formatted on every request; `None` when the upstream may speak HTTP/2,
/// where the authority travels as `:authority` and no `host` header may be added. `Some` also
/// picks the route's transport: the origin's HTTP/1.1 pool.
fn http1_host(target: &UpstreamTarget, version: HttpVersion) -> Option<HeaderValue> {
    let always_http1 = match version {
        HttpVersion::Http1 => true,
        HttpVersion::Auto => target.scheme == Scheme::Http,
        HttpVersion::Http2 => false,
    };
    if !always_http1 {
        return None;
    }
    let host = target.authority.host();
    let value = match (target.authority.port(), target.scheme) {
        (None, _) => host.to_owned(),
        (Some(port), Scheme::Https) if port.as_u16() == 443 => host.to_owned(),
        (Some(port), Scheme::Http) if port.as_u16() == 80 => host.to_owned(),
        (Some(port), _) => format!("{host}:{port}"),
    };
    HeaderValue::from_str(&value).ok()
}

/// Whether `err` or any of its sources is the `Limited` body's over-limit error.
fn is_length_limit(err: &(dyn StdError + 'static)) -> bool {
    portcullis_core::is_caused_by::<http_body_util::LengthLimitError>(err)
}

/// An upstream URI for logs: scheme, host, port and path; never userinfo or the query (both may
/// carry secrets such as passwords or API keys). The prefix is the target's, so it is the same
/// whether the request URI is absolute or in origin form.
struct LogUri<'a> {
    prefix: &'a str,
    uri: Option<Uri>,
}

impl fmt::Display for LogUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix)?;
        f.write_str(self.uri.as_ref().map_or("", Uri::path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::uri::Authority;

    fn target(scheme: Scheme, authority: &'static str) -> UpstreamTarget {
        UpstreamTarget {
            scheme,
            authority: Authority::from_static(authority),
            path: Vec::new(),
            query: None,
            append_request_path: false,
        }
    }

    #[test]
    fn http1_host_matches_what_the_client_would_write() {
        let host = |scheme, authority, version| {
            http1_host(&target(scheme, authority), version).map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(host(Scheme::Http, "up:3000", HttpVersion::Auto).as_deref(), Some("up:3000"));
        assert_eq!(host(Scheme::Http, "up:80", HttpVersion::Auto).as_deref(), Some("up"));
        assert_eq!(host(Scheme::Http, "up", HttpVersion::Http1).as_deref(), Some("up"));
        assert_eq!(host(Scheme::Http, "[::1]:8080", HttpVersion::Auto).as_deref(), Some("[::1]:8080"));
        assert_eq!(host(Scheme::Https, "up:443", HttpVersion::Http1).as_deref(), Some("up"));
        assert_eq!(host(Scheme::Https, "up:80", HttpVersion::Http1).as_deref(), Some("up:80"));
        // Pools that may or must speak HTTP/2 are left to the client.
        assert_eq!(host(Scheme::Https, "up", HttpVersion::Auto), None);
        assert_eq!(host(Scheme::Http, "up", HttpVersion::Http2), None);
    }
}

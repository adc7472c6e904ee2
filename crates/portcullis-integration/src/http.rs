//! HTTP proxy integration: forwards the request to an upstream URL and streams the answer back
//! (spec §5.1, `HTTP_PROXY`).
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
//! request/response parameter mapping (spec §5.2/§5.3, a pipeline stage of its own).

mod client;
mod headers;
mod target;
mod watched_body;

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::http::header::{HOST, HeaderValue};
use ::http::{Request, Response, Uri, Version};
use http_body_util::BodyExt;
use portcullis_core::{Body, BoxError, CallContext};

use crate::{BoxFuture, Integration, IntegrationError};

pub use client::{ClientOptions, HttpClient, HttpClientError};
pub use target::{PathOverride, PathPart, Scheme, UpstreamTarget};

use client::UpstreamClient;
use target::CompiledTarget;
use watched_body::WatchedBody;

/// Which HTTP version to speak to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `https`: offer `h2` and `http/1.1` by ALPN and use what the upstream picks. Plain `http`:
    /// HTTP/1.1 (there is no negotiation without TLS; use [`HttpVersion::Http2`] for h2c).
    #[default]
    Auto,
    /// Always HTTP/1.1 (no ALPN offered over TLS). AWS always speaks HTTP/1.1 to backends
    /// (spec §5.1), so this is the strict-parity choice.
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
    /// (spec §5.1, §7.2).
    pub timeout: Duration,
    /// HTTP version towards the upstream.
    pub version: HttpVersion,
}

/// The HTTP proxy integration of one route. Cheap to share: the pools live in the
/// [`HttpClient`] it was built from.
pub struct HttpIntegration {
    client: UpstreamClient,
    target: CompiledTarget,
    timeout: Duration,
    /// `Host` for upstream connections that are always HTTP/1, made once (see [`http1_host`]).
    host: Option<HeaderValue>,
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
    /// query) is prepared here, once.
    pub fn new(client: &HttpClient, settings: HttpSettings) -> Self {
        Self {
            client: client.for_version(settings.version),
            host: http1_host(&settings.target, settings.version),
            target: CompiledTarget::new(settings.target),
            timeout: settings.timeout,
        }
    }

    async fn forward(
        &self,
        req: Request<Body>,
        ctx: &CallContext,
    ) -> Result<Response<Body>, IntegrationError> {
        let (mut parts, body) = req.into_parts();

        let uri = match self.target.upstream_uri_with(&parts.uri, &ctx.params, parts.extensions.get()) {
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

        headers::prepare_request(&mut parts.headers, &parts.uri, ctx);
        if let Some(host) = &self.host {
            parts.headers.insert(HOST, host.clone());
        }
        parts.uri = uri;
        // Whatever the client spoke: the pool decides h1/h2 per connection, and the legacy client
        // refuses an HTTP/2-versioned request on an HTTP/1 connection.
        parts.version = Version::HTTP_11;

        let over_limit = Arc::new(AtomicBool::new(false));
        let body = WatchedBody::new(body, Arc::clone(&over_limit));
        let req = Request::from_parts(parts, body);
        let log_uri = LogUri(req.uri().clone());

        let outcome = tokio::time::timeout(self.timeout, self.client.request(req)).await;
        match outcome {
            Ok(Ok(mut response)) => {
                headers::prepare_response(response.headers_mut());
                Ok(response.map(|incoming| incoming.map_err(BoxError::from).boxed()))
            }
            Ok(Err(err)) => {
                let too_large = over_limit.load(Ordering::Acquire) || is_length_limit(&err);
                let (what, mapped) = if too_large {
                    ("request body over the limit", IntegrationError::BodyTooLarge)
                } else if err.is_connect() {
                    ("could not connect", IntegrationError::Connect(Box::new(err)))
                } else {
                    ("upstream failed", IntegrationError::Upstream(Box::new(err)))
                };
                tracing::warn!(
                    upstream = %log_uri,
                    error = %ErrorChain(mapped.source().unwrap_or(&mapped)),
                    "HTTP integration failed: {what}"
                );
                Err(mapped)
            }
            Err(_elapsed) if over_limit.load(Ordering::Acquire) => {
                // The body tripped the limit and the upstream never answered: the client's fault.
                tracing::warn!(
                    upstream = %log_uri,
                    "HTTP integration failed: request body over the limit"
                );
                Err(IntegrationError::BodyTooLarge)
            }
            Err(_elapsed) => {
                tracing::warn!(
                    upstream = %log_uri,
                    timeout = ?self.timeout,
                    "HTTP integration timed out waiting for the response head"
                );
                Err(IntegrationError::Timeout(self.timeout))
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
}

/// The `Host` header hyper-util's client writes on an HTTP/1 connection when the request has
/// none (`host`, plus `:port` as written unless it is the scheme's default), built once per route
/// instead of formatted on every request (issue 6). Only for pools that always speak HTTP/1: over
/// HTTP/2 the authority travels as `:authority` and no `host` header may be added, so those
/// requests are left to the client as before.
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
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// An upstream URI for logs: scheme, host, port and path; never userinfo or the query (both may
/// carry secrets such as passwords or API keys).
struct LogUri(Uri);

impl fmt::Display for LogUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.0.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        if let Some(host) = self.0.host() {
            f.write_str(host)?;
        }
        if let Some(port) = self.0.port_u16() {
            write!(f, ":{port}")?;
        }
        f.write_str(self.0.path())
    }
}

/// An error and its sources, `: `-separated, for one log line.
struct ErrorChain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut current = self.0.source();
        while let Some(e) = current {
            write!(f, ": {e}")?;
            current = e.source();
        }
        Ok(())
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

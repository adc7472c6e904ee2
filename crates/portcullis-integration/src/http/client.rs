//! The process-wide upstream client: connection pools, TLS configuration, HTTP/2 settings.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ::http::Uri;
use ::http::uri::Authority;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use super::HttpVersion;
use super::limit::OriginLimit;
use super::pool::{Http1Pool, PoolLimits};
use super::target::Scheme;
use super::watched_body::WatchedBody;

/// One pooled hyper client; `Clone` shares the pool.
pub(super) type UpstreamClient = Client<HttpsConnector<HttpConnector>, WatchedBody>;

/// How the process-wide [`HttpClient`] is built. `Default` gives production values.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Root certificates trusted for `https` upstreams in addition to the system's roots (a
    /// private CA for internal services). Default: none.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Whether to trust the operating system's root certificates. Default: `true`. If the
    /// system has none, a warning is logged and only `extra_roots` are trusted.
    pub native_roots: bool,
    /// How long an idle keep-alive connection stays in the pool. Default: 90 s (below the 120 s
    /// many servers use, so the gateway normally closes first and avoids reusing a connection
    /// the upstream is closing).
    pub pool_idle_timeout: Duration,
    /// Most idle connections kept per upstream host. Default: 1024.
    pub pool_max_idle_per_host: usize,
    /// Interval of HTTP/2 keep-alive pings, also on idle connections, so that a dead HTTP/2
    /// upstream leaves the pool instead of swallowing requests. Default: 20 s.
    pub http2_keep_alive_interval: Duration,
    /// How long to wait for a ping's answer before closing the connection. Default: 10 s.
    pub http2_keep_alive_timeout: Duration,
    /// Most connections (HTTP/1.1) or concurrent requests (HTTP/2) to one origin. Default: 1024.
    pub max_connections_per_origin: usize,
    /// Most requests waiting for an origin at its cap; beyond, a request fails at once.
    /// Default: 1024.
    pub max_pending_per_origin: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            extra_roots: Vec::new(),
            native_roots: true,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 1024,
            http2_keep_alive_interval: Duration::from_secs(20),
            http2_keep_alive_timeout: Duration::from_secs(10),
            max_connections_per_origin: 1024,
            max_pending_per_origin: 1024,
        }
    }
}

/// Why the [`HttpClient`] could not be built (startup only; never on a request).
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// A certificate in [`ClientOptions::extra_roots`] is not a usable trust anchor.
    #[error("extra root certificate #{index} is not a usable trust anchor: {source}")]
    InvalidRoot {
        /// Position in `extra_roots`.
        index: usize,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the TLS configuration (the crypto provider lacks the default versions).
    #[error("TLS client configuration rejected: {0}")]
    Tls(#[source] rustls::Error),
}

/// The upstream client of the whole process: connection pools per upstream and HTTP version,
/// and the TLS trust configuration. Clone it freely (an `Arc` inside). Build it once at startup
/// and keep it across config reloads so that pooled connections survive them.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Clients>,
}

/// One pool per [`HttpVersion`], because the version is a property of a connection: an h2c
/// pool must never hand out an HTTP/1 connection and vice versa. Upstreams that always speak
/// HTTP/1.1 get an [`Http1Pool`] per origin instead (see `pool.rs` for why).
struct Clients {
    auto: UpstreamClient,
    http1: UpstreamClient,
    http2: UpstreamClient,
    /// Connector of the HTTP/1.1 pools: no ALPN offered over TLS.
    http1_connector: HttpsConnector<HttpConnector>,
    limits: PoolLimits,
    /// Caps per origin, from the options.
    origin_caps: (usize, usize),
    /// The connection cap of each origin, shared by its HTTP/1.1 pool and by requests through
    /// the negotiating clients. Weak, like the pools.
    origin_limits: Mutex<HashMap<(Scheme, Authority), Weak<OriginLimit>>>,
    /// The HTTP/1.1 pool of each origin, shared by every route that sends there. Weak, so that a
    /// pool no route uses any more (after a reload) is dropped with its connections; a reload
    /// that keeps the origin finds the pool alive, because the old routes still hold it while
    /// the new ones are compiled. Locked only while a config is compiled.
    http1_pools: Mutex<HashMap<(Scheme, Authority), Weak<Http1Pool>>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the pools and the TLS configuration (rustls with the aws-lc-rs provider, chosen
    /// explicitly so that another provider enabled elsewhere in the build cannot make rustls's
    /// auto-selection panic).
    ///
    /// Reads the system's root certificates (blocking file I/O, once); call at startup.
    ///
    /// # Errors
    /// [`HttpClientError::InvalidRoot`] if an extra root is not a valid CA certificate,
    /// [`HttpClientError::Tls`] if rustls rejects the configuration.
    pub fn new(options: ClientOptions) -> Result<Self, HttpClientError> {
        let roots = root_store(&options)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(HttpClientError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut tcp = HttpConnector::new();
        // hyper-rustls decides by scheme; the TCP connector must accept `https` URIs too.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);

        // ALPN `h2, http/1.1`: the upstream picks.
        let auto = HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp.clone());
        // No ALPN: the server falls back to HTTP/1.1.
        let http1 = HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp.clone());
        let http1_connector = http1.clone();
        // ALPN `h2` only; over plain http the client below speaks h2c with prior knowledge.
        let http2 = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http2()
            .wrap_connector(tcp);

        let clients = Clients {
            auto: builder(&options).build(auto),
            http1: builder(&options).build(http1),
            http2: builder(&options).http2_only(true).build(http2),
            http1_connector,
            limits: PoolLimits {
                idle_timeout: options.pool_idle_timeout,
                max_idle: options.pool_max_idle_per_host,
            },
            origin_caps: (options.max_connections_per_origin, options.max_pending_per_origin),
            origin_limits: Mutex::new(HashMap::new()),
            http1_pools: Mutex::new(HashMap::new()),
        };
        Ok(Self { inner: Arc::new(clients) })
    }

    /// The pool for `version` (a cheap clone sharing the pool).
    pub(super) fn for_version(&self, version: HttpVersion) -> UpstreamClient {
        match version {
            HttpVersion::Auto => self.inner.auto.clone(),
            HttpVersion::Http1 => self.inner.http1.clone(),
            HttpVersion::Http2 => self.inner.http2.clone(),
        }
    }

    /// The HTTP/1.1 pool of `scheme://authority`, created on first use. Called when a config is
    /// compiled, never per request.
    pub(super) fn http1_pool(&self, scheme: Scheme, authority: &Authority) -> Arc<Http1Pool> {
        shared(&self.inner.http1_pools, (scheme, authority.clone()), || {
            let origin = Uri::builder()
                .scheme(scheme.as_str())
                .authority(authority.clone())
                .path_and_query("/")
                .build()
                .expect("a scheme, a parsed authority and `/` always make a URI");
            let limit = self.origin_limit(scheme, authority);
            Http1Pool::new(origin, self.inner.http1_connector.clone(), self.inner.limits, limit)
        })
    }

    /// The connection cap of `scheme://authority`, created on first use. Called when a config
    /// is compiled, never per request.
    pub(super) fn origin_limit(&self, scheme: Scheme, authority: &Authority) -> Arc<OriginLimit> {
        let (max, max_pending) = self.inner.origin_caps;
        shared(&self.inner.origin_limits, (scheme, authority.clone()), || OriginLimit::new(max, max_pending))
    }
}

/// The live value of `key` in `map`, or a new one from `make` (and the entries whose values are
/// gone dropped). Values are held weakly: one lives while a compiled route uses it.
fn shared<K: Eq + std::hash::Hash, V>(
    map: &Mutex<HashMap<K, Weak<V>>>,
    key: K,
    make: impl FnOnce() -> V,
) -> Arc<V> {
    let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(value) = map.get(&key).and_then(Weak::upgrade) {
        return value;
    }
    map.retain(|_, value| value.strong_count() > 0);
    let value = Arc::new(make());
    map.insert(key, Arc::downgrade(&value));
    value
}

fn builder(options: &ClientOptions) -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        // Without a pool timer the idle timeout is never enforced (hyper-util; linkerd2-proxy
        // #4004 hit this).
        .pool_timer(TokioTimer::new())
        // HTTP/2 keep-alive pings need a timer too.
        .timer(TokioTimer::new())
        .pool_idle_timeout(options.pool_idle_timeout)
        .pool_max_idle_per_host(options.pool_max_idle_per_host)
        .http2_keep_alive_interval(options.http2_keep_alive_interval)
        .http2_keep_alive_timeout(options.http2_keep_alive_timeout)
        .http2_keep_alive_while_idle(true);
    builder
}

/// The system's roots (if wanted and found) plus the configured extra roots.
fn root_store(options: &ClientOptions) -> Result<RootCertStore, HttpClientError> {
    let mut roots = RootCertStore::empty();
    if options.native_roots {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "could not load some system root certificates");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "ignored unparsable system root certificates");
        }
        if added == 0 {
            tracing::warn!(
                "no system root certificates found: https upstreams are trusted only through \
                 the configured extra roots"
            );
        }
    }
    for (index, cert) in options.extra_roots.iter().enumerate() {
        roots.add(cert.clone()).map_err(|source| HttpClientError::InvalidRoot { index, source })?;
    }
    Ok(roots)
}

//! A small HTTP client for tests (HTTP/1.1 or h2c prior knowledge).

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Whole body.
    pub body: Bytes,
}

impl Reply {
    /// Body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body parsed as JSON (panics with the body text if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A pooled client.
#[derive(Clone)]
pub struct TestClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for TestClient {
    fn default() -> Self {
        Self::http1()
    }
}

impl TestClient {
    /// HTTP/1.1 with keep-alive.
    pub fn http1() -> Self {
        TestClient { client: Client::builder(TokioExecutor::new()).build_http() }
    }

    /// HTTP/2 without TLS (prior knowledge).
    pub fn h2c() -> Self {
        TestClient { client: Client::builder(TokioExecutor::new()).http2_only(true).build_http() }
    }

    /// GET `url`.
    pub async fn get(&self, url: &str) -> Reply {
        self.send(Method::GET, url, &[], Bytes::new()).await
    }

    /// GET `url`; `None` when the connection fails or no answer comes within 5 s.
    pub async fn try_get(&self, url: &str) -> Option<Reply> {
        let request = Request::get(url).body(Full::new(Bytes::new())).ok()?;
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), self.client.request(request))
            .await
            .ok()?
            .ok()?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        Some(Reply { status: parts.status, headers: parts.headers, body })
    }

    /// Send a request with headers and a body; panics on transport errors (a test failure).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body.into())).expect("valid test request");
        let response = tokio::time::timeout(std::time::Duration::from_secs(30), self.client.request(request))
            .await
            .expect("response within 30 s")
            .expect("transport ok");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("whole body").to_bytes();
        Reply { status: parts.status, headers: parts.headers, body }
    }
}

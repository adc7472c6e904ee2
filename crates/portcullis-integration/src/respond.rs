//! Fixed-response integration (`respond:` in config): the gateway answers by itself with a
//! configured status, headers and body. AWS REST APIs call this a MOCK integration; HTTP APIs
//! have none, so `compat: aws` refuses it. The embedded demo config uses it so that
//! `portcullis serve` works with no backend at all.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use portcullis_core::{Body, CallContext, full};

use crate::{BoxFuture, Described, Integration, IntegrationError};

/// A canned response, built once at load.
#[derive(Debug, Clone)]
pub struct RespondIntegration {
    status: StatusCode,
    /// Boxed, and `None` when empty: a `HeaderMap` is 96 bytes inline, and a config of many
    /// `respond:` routes (the 10,010-route benchmark) mostly sets none.
    headers: Option<Box<HeaderMap>>,
    body: Bytes,
}

impl RespondIntegration {
    /// Always answer `status` with `headers` and `body`.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        let headers = (!headers.is_empty()).then(|| Box::new(headers));
        RespondIntegration { status, headers, body }
    }
}

impl Integration for RespondIntegration {
    fn call<'a>(
        &'a self,
        _request: Request<Body>,
        _ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<Response<Body>, IntegrationError>> {
        // The request body is dropped unread; hyper then closes or drains the connection.
        Box::pin(async move {
            let mut response = Response::new(full(self.body.clone()));
            *response.status_mut() = self.status;
            if let Some(headers) = &self.headers {
                *response.headers_mut() = HeaderMap::clone(headers);
            }
            Ok(response)
        })
    }

    fn describe(&self) -> Described {
        let status = self.status;
        Described {
            kind: "respond",
            target: format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""))
                .trim_end()
                .to_owned(),
        }
    }
}

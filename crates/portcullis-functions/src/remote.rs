//! Functions that already run elsewhere, behind an invoke endpoint (for example the Lambda
//! Runtime Interface Emulator's `/2015-03-31/functions/function/invocations`).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_core::TraceId;
use url::Url;

use crate::MAX_PAYLOAD_BYTES;
use crate::invoke::InvokeError;
use crate::pool::Admission;
use crate::settings::FunctionSettings;

pub(crate) struct RemoteFunction {
    name: String,
    url: Url,
    timeout: Duration,
    admission: Admission,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl RemoteFunction {
    pub(crate) fn new(url: Url, settings: &FunctionSettings) -> Self {
        let admission =
            Admission::new(settings.concurrency.get(), settings.queue_size, settings.queue_timeout);
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { name: settings.name.clone(), url, timeout: settings.timeout, admission, client }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn close(&self) {
        self.admission.close();
    }

    /// POSTs the payload; `X-Amz-Function-Error` on the answer marks a function error, as on the
    /// Lambda Invoke API.
    pub(crate) async fn invoke(
        &self,
        payload: Bytes,
        request_id: &str,
        trace: Option<&TraceId>,
    ) -> Result<Bytes, InvokeError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(InvokeError::RequestTooLarge);
        }
        let _permit = self.admission.enter().await?;
        let mut request = Request::post(self.url.as_str())
            .header("content-type", "application/json")
            .header("x-amzn-requestid", request_id);
        // The Lambda Invoke API takes the caller's trace in this header.
        if let Some(trace) = trace {
            request = request.header(TraceId::HEADER, trace.header());
        }
        let request = request.body(Full::new(payload)).map_err(|e| InvokeError::Remote(e.to_string()))?;
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| InvokeError::Remote(e.to_string()))?;
            let status = response.status();
            let function_error = response
                .headers()
                .get("x-amz-function-error")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(response.into_body(), MAX_PAYLOAD_BYTES)
                .collect()
                .await
                .map_err(|_| InvokeError::ResponseTooLarge)?
                .to_bytes();
            Ok::<_, InvokeError>((status, function_error, body))
        };
        let (status, function_error, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| InvokeError::Timeout(self.timeout))??;
        if let Some(kind) = function_error {
            let error_type = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("errorType").and_then(|t| t.as_str()).map(str::to_owned))
                .unwrap_or(kind);
            return Err(InvokeError::FunctionError { error_type, body });
        }
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::TOO_MANY_REQUESTS => Err(InvokeError::Throttled),
            s => Err(InvokeError::Remote(format!("status {s}"))),
        }
    }
}

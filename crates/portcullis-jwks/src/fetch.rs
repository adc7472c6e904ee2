//! HTTP GETs to identity providers: bounded in time and size, https only (loopback excepted).

use std::net::IpAddr;
use std::time::Duration;

use portcullis_core::ErrorChain;
use reqwest::header::{CACHE_CONTROL, CONTENT_LENGTH};
use serde_json::Value;
use url::{Host, Url};

use crate::error::{FetchError, JwksError};
use crate::registry::JwksOptions;

/// Whether `url` may be fetched: https anywhere, http only to loopback (local IdPs, tests);
/// docs/aws-compatibility.md#token-extraction-and-keys recommends https-only issuers.
pub(crate) fn is_allowed_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

pub(crate) fn check_url(url: &Url) -> Result<(), JwksError> {
    if is_allowed_url(url) { Ok(()) } else { Err(JwksError::InsecureUrl { url: url.to_string() }) }
}

/// A JSON document and the lifetime its `Cache-Control: max-age` asked for.
pub(crate) struct Fetched {
    pub(crate) json: Value,
    pub(crate) max_age: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: usize,
}

impl Fetcher {
    pub(crate) fn new(options: &JwksOptions) -> Result<Self, JwksError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.fetch_timeout)
            // A redirect may not leave https (or loopback), and at most three hops.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 3 {
                    attempt.error("too many redirects")
                } else if is_allowed_url(attempt.url()) {
                    attempt.follow()
                } else {
                    attempt.error("redirect to a non-https URL")
                }
            }));
        for der in &options.extra_root_certificates {
            let cert = reqwest::Certificate::from_der(der).map_err(|e| JwksError::Client(e.to_string()))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let client = builder.build().map_err(|e| JwksError::Client(ErrorChain(&e).to_string()))?;
        Ok(Self { client, timeout: options.fetch_timeout, max_body: options.max_body })
    }

    /// GET `url` as JSON within the fetch timeout and body cap
    /// (docs/aws-compatibility.md#token-extraction-and-keys: 1500 ms, 150 000 B).
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Fetched, FetchError> {
        let fut = self.get_json_unbounded(url);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.to_string(), timeout: self.timeout }),
        }
    }

    async fn get_json_unbounded(&self, url: &Url) -> Result<Fetched, FetchError> {
        let http = |e: reqwest::Error| FetchError::Http {
            url: url.to_string(),
            message: ErrorChain(&e).to_string(),
        };
        let too_large = || FetchError::TooLarge { url: url.to_string(), limit: self.max_body };
        let mut response =
            self.client.get(url.clone()).header("accept", "application/json").send().await.map_err(http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status { url: url.to_string(), status: status.as_u16() });
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > self.max_body) {
            return Err(too_large());
        }
        let max_age = response
            .headers()
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(max_age);
        let mut body = Vec::with_capacity(declared.unwrap_or(4096).min(self.max_body));
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let json = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Invalid { url: url.to_string(), message: format!("not JSON: {e}") })?;
        Ok(Fetched { json, max_age })
    }
}

/// `max-age=N` from one Cache-Control value; `no-cache`/`no-store` count as zero (the store then
/// clamps to its minimum refresh interval).
pub(crate) fn max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            found = secs.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    found
}

/// `{issuer}/.well-known/openid-configuration` (OIDC Discovery §4: a trailing `/` on the issuer
/// is removed before appending).
pub(crate) fn discovery_url(issuer: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_read_and_no_store_means_zero() {
        assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(max_age("Max-Age=5, must-revalidate"), Some(Duration::from_secs(5)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn only_https_or_loopback_urls_are_allowed() {
        for ok in ["https://idp.example/", "http://127.0.0.1:9/x", "http://[::1]:8/", "http://localhost/"] {
            assert!(is_allowed_url(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in ["http://idp.example/", "http://10.0.0.1/", "ftp://127.0.0.1/", "file:///etc/keys"] {
            assert!(!is_allowed_url(&Url::parse(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn discovery_url_drops_a_trailing_slash() {
        assert_eq!(
            discovery_url("https://myorg.us.auth0.com/").unwrap().as_str(),
            "https://myorg.us.auth0.com/.well-known/openid-configuration"
        );
    }
}

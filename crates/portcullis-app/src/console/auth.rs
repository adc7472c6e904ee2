//! Who may use the admin listener, and what every answer carries so a browser keeps the console
//! to itself.
//!
//! - The token (`admin.token_file` / `admin.token_env`) is read once at start; only its SHA-256
//!   is kept, and a presented bearer token is compared digest to digest in constant time. It is
//!   never logged or echoed.
//! - Cross-site requests to the API are refused: a browser says where a request comes from
//!   (`Sec-Fetch-Site`, `Origin`), and only the console's own origin may call it. This keeps a
//!   page on another site from reading the live stream or running explain with the operator's
//!   browser, token or not.
//! - Without a token (a loopback listener), the API answers only requests addressed to an IP
//!   address or `localhost`: a DNS name pointing at 127.0.0.1 (DNS rebinding) is refused.

use std::fmt;

use aws_lc_rs::{constant_time, digest};
use http::header::{AUTHORIZATION, HOST, ORIGIN};
use http::{HeaderMap, HeaderValue, Uri};

use portcullis_config::{AdminTokenSource, ConfigError, ConfigErrors, Span, Spanned};

use crate::compile::Serving;

/// The console's Content-Security-Policy: only its own script, style and API; nothing inline;
/// no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The shortest token accepted.
const MIN_TOKEN_CHARS: usize = 16;

/// The admin bearer token, as its digest.
#[derive(Clone)]
pub(crate) struct AdminToken {
    digest: [u8; 32],
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    /// A token whose secret is `secret`.
    pub(crate) fn new(secret: &str) -> Self {
        AdminToken { digest: sha256(secret.as_bytes()) }
    }

    /// Reads the token from where config says it is.
    ///
    /// # Errors
    /// A positioned problem: the file cannot be read, the variable is not set, the token is
    /// shorter than 16 characters. The message never contains the token.
    pub(crate) fn read(source: &Spanned<AdminTokenSource>, origin: &str) -> Result<Self, ConfigErrors> {
        read_secret(source, origin).map(|secret| AdminToken::new(&secret))
    }
}

/// The admin token's text, from where config says it is (for clients of the admin listener:
/// `portcullis revoke`).
///
/// # Errors
/// As [`AdminToken::read`].
pub(crate) fn read_secret(source: &Spanned<AdminTokenSource>, origin: &str) -> Result<String, ConfigErrors> {
    let problem = |path: &str, problem: String| {
        ConfigErrors::single(ConfigError::at(origin, source.span, path.to_owned(), problem))
    };
    let (path, secret) = match &source.value {
        AdminTokenSource::File(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                problem(
                    "admin.token_file",
                    format!("cannot read the admin token from {}: {e}", file.display()),
                )
            })?;
            ("admin.token_file", text)
        }
        AdminTokenSource::Env(name) => {
            let text = std::env::var(name).map_err(|_| {
                problem(
                    "admin.token_env",
                    format!("the environment variable {name} is not set; it should hold the admin token"),
                )
            })?;
            ("admin.token_env", text)
        }
    };
    let secret = secret.trim();
    if secret.chars().count() < MIN_TOKEN_CHARS {
        return Err(problem(
            path,
            format!(
                "the admin token is shorter than {MIN_TOKEN_CHARS} characters; use a long random one (e.g. `openssl rand -hex 32`)"
            ),
        ));
    }
    Ok(secret.to_owned())
}

/// The token the admin listener needs, read from where config says; an admin listener bound to
/// an address other machines can reach (`--admin` may move it there) refuses to start without
/// one.
///
/// # Errors
/// A positioned problem with the token source, or the missing token.
pub(crate) fn admin_token(serving: &Serving) -> Result<Option<AdminToken>, ConfigErrors> {
    let bind = serving.admin;
    match &serving.admin_token {
        Some(at) => AdminToken::read(&at.source, &at.origin).map(Some),
        None if !bind.ip().is_loopback() => Err(ConfigErrors::single(ConfigError::at(
            &serving.origin,
            Span::default(),
            "admin",
            format!(
                "the admin listener would listen on {bind}, which other machines can reach, without a token: set `admin: {{listen: {bind}, token_file: FILE}}` (or `token_env: VARIABLE`), or listen on 127.0.0.1"
            ),
        ))),
        None => Ok(None),
    }
}

impl AdminToken {
    /// Whether `headers` carry `Authorization: Bearer <this token>`.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
        let Some((scheme, presented)) = value.split_once(' ') else { return false };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time::verify_slices_are_equal(&sha256(presented.trim().as_bytes()), &self.digest)
                .is_ok()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Whether a browser sent this request from a page that is not the console's own: a
/// `Sec-Fetch-Site` other than `same-origin` (or `none`, typed in the address bar), or an
/// `Origin` other than `http://` plus the request's own host. Clients that are not browsers send
/// neither and are not affected.
pub(crate) fn cross_site(uri: &Uri, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else { return false };
    match host(uri, headers) {
        Some(host) => origin.as_bytes() != format!("http://{host}").as_bytes(),
        None => true,
    }
}

/// Whether the request names the listener by an IP address or `localhost` (not by some other
/// DNS name, which a rebinding attack would use).
pub(crate) fn addressed_by_ip_or_localhost(uri: &Uri, headers: &HeaderMap) -> bool {
    let Some(host) = host(uri, headers) else { return true };
    let name = match host.strip_prefix('[') {
        Some(rest) => {
            return rest.split_once(']').is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority().map(|a| a.as_str()).or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()))
}

/// Headers every admin answer carries.
pub(crate) fn protect(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    if !headers.contains_key("cache-control") {
        set(headers, "cache-control", "no-store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = AdminToken::new("0123456789abcdef-secret");
        assert!(token.admits(&headers(&[("authorization", "Bearer 0123456789abcdef-secret")])));
        assert!(token.admits(&headers(&[("authorization", "bearer 0123456789abcdef-secret")])));
        assert!(!token.admits(&headers(&[("authorization", "Bearer 0123456789abcdef-secreT")])));
        assert!(!token.admits(&headers(&[("authorization", "Basic 0123456789abcdef-secret")])));
        assert!(!token.admits(&headers(&[("authorization", "0123456789abcdef-secret")])));
        assert!(!token.admits(&headers(&[])));
        assert_eq!(format!("{token:?}"), "AdminToken(…)");
    }

    #[test]
    fn a_short_or_missing_token_stops_the_start_without_showing_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("token");
        std::fs::write(&file, "short\n").expect("write");
        let source = Spanned::new(AdminTokenSource::File(file.clone()), Default::default());
        let error = AdminToken::read(&source, "t.yaml").expect_err("too short").to_string();
        assert!(error.contains("admin.token_file") && error.contains("shorter than 16"), "{error}");
        assert!(!error.contains("short\n") && !error.contains(": short"), "{error}");
        std::fs::write(&file, "  0123456789abcdef0123\n").expect("write");
        let token = AdminToken::read(&source, "t.yaml").expect("long enough");
        assert!(token.admits(&headers(&[("authorization", "Bearer 0123456789abcdef0123")])));
        let missing =
            Spanned::new(AdminTokenSource::Env("PORTCULLIS_TEST_UNSET_TOKEN_VAR".into()), Default::default());
        let error = AdminToken::read(&missing, "t.yaml").expect_err("unset").to_string();
        assert!(error.contains("PORTCULLIS_TEST_UNSET_TOKEN_VAR is not set"), "{error}");
    }

    #[test]
    fn only_the_consoles_own_origin_may_call_the_api() {
        let uri: Uri = "/api/live".parse().expect("uri");
        let own = headers(&[("host", "127.0.0.1:9901"), ("origin", "http://127.0.0.1:9901")]);
        assert!(!cross_site(&uri, &own));
        assert!(!cross_site(
            &uri,
            &headers(&[("host", "127.0.0.1:9901"), ("sec-fetch-site", "same-origin")])
        ));
        assert!(!cross_site(&uri, &headers(&[("host", "127.0.0.1:9901")])), "curl sends neither");
        assert!(cross_site(&uri, &headers(&[("host", "127.0.0.1:9901"), ("origin", "http://evil.example")])));
        assert!(cross_site(&uri, &headers(&[("host", "127.0.0.1:9901"), ("origin", "null")])));
        assert!(cross_site(&uri, &headers(&[("host", "127.0.0.1:9901"), ("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&uri, &headers(&[("host", "127.0.0.1:9901"), ("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn without_a_token_only_ip_addresses_and_localhost_name_the_listener() {
        let uri: Uri = "/api/routes".parse().expect("uri");
        for ok in ["127.0.0.1:9901", "localhost:9901", "LOCALHOST", "[::1]:9901", "10.0.0.5:80"] {
            let h: HeaderMap = [(HOST, HeaderValue::from_str(ok).expect("value"))].into_iter().collect();
            assert!(addressed_by_ip_or_localhost(&uri, &h), "{ok}");
        }
        for bad in ["rebind.example:9901", "localhost.evil.example:9901", "[::1", "127.0.0.1.nip.io"] {
            let h: HeaderMap = [(HOST, HeaderValue::from_str(bad).expect("value"))].into_iter().collect();
            assert!(!addressed_by_ip_or_localhost(&uri, &h), "{bad}");
        }
    }
}

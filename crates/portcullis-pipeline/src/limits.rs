//! Limits stage: checks of the request head before any other work (size limits, the `Host`
//! header HTTP/1.1 requires).

use http::Version;
use http::header::{CONTENT_LENGTH, HOST};
use http::request::Parts;

use crate::plan::RequestLimits;

/// Why the head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Request line and headers over `max_header_bytes` (431).
    #[error("the request head is over the header budget")]
    HeadersTooLarge,
    /// The announced body is over `max_body` (413).
    #[error("the announced body is over max_body")]
    PayloadTooLarge,
    /// No `Host`, two `Host` headers, or a malformed `content-length` (400).
    #[error("the request head is malformed")]
    Malformed,
}

/// The limits stage's request half: rejects heads over the header budget, bodies announced
/// over `max_body`, and heads HTTP/1.1 does not allow.
///
/// The header budget counts what AWS's 10,240-byte limit names: the request line and the
/// header values (docs/aws-compatibility.md#limits); names and separators are not counted.
/// hyper enforces a hard cap above this (see the listener), so a head far over the limit never
/// reaches memory in full.
pub fn request(parts: &Parts, limits: &RequestLimits) -> Result<(), LimitError> {
    let request_line = parts.method.as_str().len()
        + 1
        + parts.uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + " HTTP/1.1\r\n".len();
    let mut size = request_line;
    for value in parts.headers.values() {
        size += value.len();
        if size > limits.max_header_bytes {
            return Err(LimitError::HeadersTooLarge);
        }
    }
    if size > limits.max_header_bytes {
        return Err(LimitError::HeadersTooLarge);
    }
    // RFC 9112, section 3.2: an HTTP/1.1 request has exactly one Host, an HTTP/1.0 request at
    // most one; HTTP/2 carries the authority in `:authority` and may add at most one `host`.
    let hosts = parts.headers.get_all(HOST).iter().count();
    if hosts > 1 || (hosts == 0 && parts.version == Version::HTTP_11) {
        return Err(LimitError::Malformed);
    }
    if let Some(length) = parts.headers.get(CONTENT_LENGTH) {
        let announced = length.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
        match announced {
            Some(n) if n > limits.max_body => return Err(LimitError::PayloadTooLarge),
            Some(_) => {}
            // hyper already refuses malformed Content-Length on HTTP/1; be safe for HTTP/2.
            None => return Err(LimitError::Malformed),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(headers: &[(&str, String)]) -> Parts {
        let mut builder = Request::get("/pets/1").header("host", "gw");
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    const LIMITS: RequestLimits = RequestLimits { max_body: 100, max_header_bytes: 10_240 };

    #[test]
    fn heads_at_the_limit_pass_and_one_byte_more_fails() {
        // The request line and the values count; names and separators do not.
        let line = "GET /pets/1 HTTP/1.1\r\n".len() + "gw".len();
        let fill = 10_240 - line;
        assert_eq!(request(&parts(&[("x-big", "a".repeat(fill))]), &LIMITS), Ok(()));
        assert_eq!(
            request(&parts(&[("x-big", "a".repeat(fill + 1))]), &LIMITS),
            Err(LimitError::HeadersTooLarge)
        );
    }

    #[test]
    fn http11_requests_need_exactly_one_host() {
        let without = Request::get("/").body(()).unwrap().into_parts().0;
        assert_eq!(request(&without, &LIMITS), Err(LimitError::Malformed));
        let two = Request::get("/").header("host", "a").header("host", "b").body(()).unwrap().into_parts().0;
        assert_eq!(request(&two, &LIMITS), Err(LimitError::Malformed));
        let http2 = Request::get("/").version(Version::HTTP_2).body(()).unwrap().into_parts().0;
        assert_eq!(request(&http2, &LIMITS), Ok(()), "HTTP/2 has :authority");
        let http10 = Request::get("/").version(Version::HTTP_10).body(()).unwrap().into_parts().0;
        assert_eq!(request(&http10, &LIMITS), Ok(()));
    }

    #[test]
    fn announced_body_over_the_limit_is_413() {
        assert_eq!(request(&parts(&[("content-length", "100".into())]), &LIMITS), Ok(()));
        assert_eq!(
            request(&parts(&[("content-length", "101".into())]), &LIMITS),
            Err(LimitError::PayloadTooLarge)
        );
        assert_eq!(request(&parts(&[("content-length", "x".into())]), &LIMITS), Err(LimitError::Malformed));
    }
}

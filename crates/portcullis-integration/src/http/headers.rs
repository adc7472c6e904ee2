//! Header rewriting between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1) and the
//! forwarding headers the gateway adds (docs/aws-compatibility.md#http-proxy-integration; exact
//! values are [UNDOC], see the decisions noted on each function).

use std::io::Write as _;
use std::net::IpAddr;

use bytes::BufMut;

use ::http::Uri;
use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use portcullis_core::CallContext;

/// Connection-scoped headers that never cross a proxy. `Proxy-Connection` is non-standard but
/// still sent by old clients.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const APIGW_REQUESTID: HeaderName = HeaderName::from_static("apigw-requestid");
const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static(portcullis_core::TraceId::HEADER);

/// The listener's port as a header value; the usual ports without formatting or allocating.
fn port_value(port: u16) -> HeaderValue {
    match port {
        80 => HeaderValue::from_static("80"),
        443 => HeaderValue::from_static("443"),
        8080 => HeaderValue::from_static("8080"),
        port => HeaderValue::from(port),
    }
}

/// The decimal digits of `port`, written at the end of `buf`.
fn port_digits(mut port: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (port % 10) as u8;
        port /= 10;
        if port == 0 {
            return &buf[at..];
        }
    }
}

/// Removes hop-by-hop headers, including every header the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the few names present, noting which hop-by-hop names occur: cheaper than
    // hashing nine mostly absent names on every request and response. A header named
    // by `Connection` needs `Connection` (index 0) to be present.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        // Collected first: the names borrow from the map that is about to change. Most
        // `Connection` headers say only `keep-alive` or `close`: nothing to collect then.
        let mut named: Vec<HeaderName> = Vec::new();
        for value in &headers.get_all(header::CONNECTION) {
            for token in value.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                let known = token.is_empty()
                    || token.eq_ignore_ascii_case(b"close")
                    || HOP_BY_HOP.iter().any(|hop| token.eq_ignore_ascii_case(hop.as_str().as_bytes()));
                if !known && let Ok(name) = HeaderName::from_bytes(token) {
                    named.push(name);
                }
            }
        }
        for name in named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Rewrites the client's headers for the upstream and returns the forwarding headers to add.
///
/// - hop-by-hop headers go, and `Expect`: the body is streamed to the upstream straight away, so
///   an upstream `100 Continue` would be meaningless (the gateway's own server already answered
///   the client's `Expect`).
/// - `Host` goes: the client sets `Host` to the upstream authority on HTTP/1.1 connections and
///   `:authority` on HTTP/2 ones, from the upstream URI.
///
/// The forwarding headers ([`Forwarding`]) are added by [`Forwarding::insert_into`] (HTTP/2 and
/// ALPN upstreams) or written with the head by [`Forwarding::write_lines`] (the HTTP/1.1 pool),
/// to the same effect.
pub(super) fn prepare_request<'a>(
    headers: &mut HeaderMap,
    original_uri: &Uri,
    ctx: &'a CallContext,
) -> Forwarding<'a> {
    let host = headers
        .get(header::HOST)
        .cloned()
        .or_else(|| original_uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()));

    remove_hop_by_hop(headers);
    headers.remove(header::EXPECT);
    headers.remove(header::HOST);
    Forwarding { ctx, host }
}

/// What the gateway tells an upstream about a request, replacing what the client sent under the
/// same names:
/// - `x-forwarded-for`: the client IP is appended to what the client sent (`a, b, ip`).
/// - `x-forwarded-proto`, `-host`, `-port`: what the gateway saw; a client cannot spoof them
///   (they are reserved names in AWS: docs/aws-compatibility.md#request-parameter-mapping). The
///   port is the one the client connected to (the listener's), not one read from `Host`, which a
///   client may omit or invent; `-host` is the original `Host` (or `:authority`), omitted when
///   there is none.
/// - `apigw-requestid`: the gateway's request id, so upstream logs can be joined with ours.
/// - `x-amzn-trace-id`: the request's trace, as in its Lambda events
///   (docs/aws-compatibility.md#http-proxy-integration); a client's own well-formed trace header
///   is left as sent, so a caller's trace continues through the gateway.
pub(super) struct Forwarding<'a> {
    ctx: &'a CallContext,
    host: Option<HeaderValue>,
}

impl Forwarding<'_> {
    fn proto(&self) -> &'static str {
        if self.ctx.tls { "https" } else { "http" }
    }

    fn own_trace(&self) -> Option<&str> {
        (!self.ctx.trace_id.is_from_client()).then(|| self.ctx.trace_id.header())
    }

    /// Adds the forwarding headers to `headers`.
    pub(super) fn insert_into(self, headers: &mut HeaderMap) {
        let mut joined = Vec::with_capacity(48);
        self.write_for(headers, &mut joined);
        // Made of valid header values, commas and an IP: always valid; the bare IP otherwise
        // rather than the client's list unchanged.
        let forwarded_for = HeaderValue::from_bytes(&joined)
            .or_else(|_| HeaderValue::from_str(&self.ctx.client_addr.ip().to_string()))
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        headers.insert(X_FORWARDED_FOR, forwarded_for);
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(self.proto()));
        headers.insert(X_FORWARDED_PORT, port_value(self.ctx.local_port));
        if let Ok(id) = HeaderValue::from_str(self.ctx.request_id.as_str()) {
            headers.insert(APIGW_REQUESTID, id);
        }
        if let Some(trace) = self.own_trace()
            && let Ok(trace) = HeaderValue::from_str(trace)
        {
            headers.insert(X_AMZN_TRACE_ID, trace);
        }
        match self.host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host),
            None => headers.remove(X_FORWARDED_HOST),
        };
    }

    /// Whether a client header named `name` is left out of the head because
    /// [`Forwarding::write_lines`] writes its own.
    pub(super) fn replaces(&self, name: &HeaderName) -> bool {
        *name == X_FORWARDED_FOR
            || *name == X_FORWARDED_PROTO
            || *name == X_FORWARDED_PORT
            || *name == X_FORWARDED_HOST
            || *name == APIGW_REQUESTID
            || (*name == X_AMZN_TRACE_ID && !self.ctx.trace_id.is_from_client())
    }

    /// Writes the forwarding headers as HTTP/1.1 header lines; `headers` are the client's, for
    /// the `x-forwarded-for` values it sent.
    pub(super) fn write_lines(&self, headers: &HeaderMap, out: &mut impl BufMut) {
        out.put_slice(b"x-forwarded-for: ");
        self.write_for(headers, out);
        out.put_slice(b"\r\n");
        let mut line = |name: &HeaderName, value: &[u8]| {
            out.put_slice(name.as_str().as_bytes());
            out.put_slice(b": ");
            out.put_slice(value);
            out.put_slice(b"\r\n");
        };
        line(&X_FORWARDED_PROTO, self.proto().as_bytes());
        let mut digits = [0u8; 5];
        line(&X_FORWARDED_PORT, port_digits(self.ctx.local_port, &mut digits));
        if let Some(host) = &self.host {
            line(&X_FORWARDED_HOST, host.as_bytes());
        }
        line(&APIGW_REQUESTID, self.ctx.request_id.as_bytes());
        if let Some(trace) = self.own_trace() {
            line(&X_AMZN_TRACE_ID, trace.as_bytes());
        }
    }

    /// The `x-forwarded-for` value: the client's non-blank values, then the client's IP.
    fn write_for(&self, headers: &HeaderMap, out: &mut impl BufMut) {
        for value in headers.get_all(&X_FORWARDED_FOR) {
            let value = value.as_bytes();
            if value.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            out.put_slice(value);
            out.put_slice(b", ");
        }
        push_ip(out, self.ctx.client_addr.ip());
    }
}

/// Appends `ip` as `Display` writes it; IPv4 by hand, which is most of the cost of this header
/// otherwise.
fn push_ip(out: &mut impl BufMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.put_u8(b'.');
                }
                if octet >= 100 {
                    out.put_u8(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.put_u8(b'0' + octet / 10 % 10);
                }
                out.put_u8(b'0' + octet % 10);
            }
        }
        // Formatted straight into `out`; writing into a buffer cannot fail.
        IpAddr::V6(_) => {
            let _ = write!((&mut *out).writer(), "{ip}");
        }
    }
}

/// Removes hop-by-hop headers from the upstream's response. Framing (`transfer-encoding`) is
/// redone by the gateway's server for the client's protocol.
pub(super) fn prepare_response(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_ip_writes_what_display_writes() {
        for text in
            ["0.0.0.0", "127.0.0.1", "10.9.99.100", "255.255.255.255", "1.20.199.5", "::1", "2001:db8::7"]
        {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    fn ctx(local_port: u16, trace_id: portcullis_core::TraceId) -> CallContext {
        CallContext {
            request_id: portcullis_core::RequestIdGenerator::new(1).next_id(),
            trace_id,
            client_addr: "198.51.100.7:40000".parse().unwrap(),
            tls: false,
            local_port,
            route_key: "$default".into(),
            params: portcullis_core::Params::default(),
            received_at: std::time::SystemTime::now(),
            auth: portcullis_core::AuthContext::None,
        }
    }

    /// `x-forwarded-port` is the port the client connected to, not one read from `Host`; the
    /// request's trace goes upstream unless the client sent a trace of its own, which is kept.
    #[test]
    fn forwarded_port_is_the_connections_and_the_trace_goes_upstream() {
        let uri: Uri = "/pets".parse().unwrap();
        let derived = portcullis_core::TraceId::derive(
            portcullis_core::RequestIdGenerator::new(2).next_id(),
            std::time::SystemTime::now(),
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("gw.example.com:8080"));
        headers.insert("x-amzn-trace-id", HeaderValue::from_static("not a trace"));
        prepare_request(&mut headers, &uri, &ctx(9000, derived)).insert_into(&mut headers);
        assert_eq!(headers["x-forwarded-port"], "9000");
        assert_eq!(headers["x-forwarded-host"], "gw.example.com:8080");
        assert_eq!(headers["x-amzn-trace-id"], derived.header());
        assert_eq!(headers.get_all("x-amzn-trace-id").iter().count(), 1);

        let sent = "Root=1-67891233-abcdef012345678912345678;Sampled=1";
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-trace-id", HeaderValue::from_static(sent));
        let kept = portcullis_core::TraceId::from_header(sent.as_bytes()).unwrap();
        prepare_request(&mut headers, &uri, &ctx(80, kept)).insert_into(&mut headers);
        assert_eq!(headers["x-amzn-trace-id"], sent);
        assert_eq!(headers["x-forwarded-port"], "80", "no Host at all: still the connection's port");
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Private,, close"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::ACCEPT));

        let mut plain = HeaderMap::new();
        plain.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        remove_hop_by_hop(&mut plain);
        assert_eq!(plain.len(), 1);
    }
}

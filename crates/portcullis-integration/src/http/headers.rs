//! Header rewriting between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1) and the
//! forwarding headers the gateway adds (spec §5.1; exact values are [UNDOC], see the decisions
//! noted on each function).

use std::io::Write as _;

use ::http::Uri;
use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::uri::Authority;
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

/// Removes hop-by-hop headers, including every header the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Collected first: the names borrow from the map that is about to change. `Connection` is
    // rare on keep-alive HTTP/1.1 and absent on HTTP/2, so this usually allocates nothing.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Rewrites the client's headers for the upstream.
///
/// - hop-by-hop headers go, and `Expect`: the body is streamed to the upstream straight away, so
///   an upstream `100 Continue` would be meaningless (the gateway's own server already answered
///   the client's `Expect`).
/// - `Host` goes: the client sets `Host` to the upstream authority on HTTP/1.1 connections and
///   `:authority` on HTTP/2 ones, from the upstream URI.
/// - `x-forwarded-for`: the client IP is appended to what the client sent (`a, b, ip`).
/// - `x-forwarded-proto`, `-host`, `-port`: replaced by what the gateway saw; a client cannot
///   spoof them (they are reserved names in AWS, spec §5.2). The port is the one in the original
///   `Host` (or `:authority`), or the scheme's default (80/443) when it names none; without any
///   host the header is omitted.
/// - `apigw-requestid`: the gateway's request id, so upstream logs can be joined with ours.
pub(super) fn prepare_request(headers: &mut HeaderMap, original_uri: &Uri, ctx: &CallContext) {
    let original_host = headers
        .get(header::HOST)
        .cloned()
        .or_else(|| original_uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()));

    remove_hop_by_hop(headers);
    headers.remove(header::EXPECT);
    headers.remove(header::HOST);

    append_forwarded_for(headers, ctx);
    let proto = if ctx.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));

    headers.remove(X_FORWARDED_PORT);
    headers.remove(X_FORWARDED_HOST);
    if let Some(host) = original_host {
        let default_port = if ctx.tls { 443 } else { 80 };
        let port = Authority::try_from(host.as_bytes())
            .ok()
            .map(|authority| authority.port_u16().unwrap_or(default_port));
        if let Some(port) = port {
            headers.insert(X_FORWARDED_PORT, HeaderValue::from(port));
        }
        headers.insert(X_FORWARDED_HOST, host);
    }

    if let Ok(id) = HeaderValue::from_str(ctx.request_id.as_str()) {
        headers.insert(APIGW_REQUESTID, id);
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, ctx: &CallContext) {
    let ip = ctx.client_addr.ip();
    let mut joined: Vec<u8> = Vec::with_capacity(48);
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let value = value.as_bytes();
        if value.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        joined.extend_from_slice(value);
        joined.extend_from_slice(b", ");
    }
    // Writing into a Vec cannot fail.
    let _ = write!(joined, "{ip}");
    // The joined value is made of valid header values, commas and an IP: always valid; fall back
    // to the bare IP rather than forwarding the client's list unchanged.
    let value = HeaderValue::from_bytes(&joined)
        .or_else(|_| HeaderValue::from_str(&ip.to_string()))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    headers.insert(X_FORWARDED_FOR, value);
}

/// Removes hop-by-hop headers from the upstream's response. Framing (`transfer-encoding`) is
/// redone by the gateway's server for the client's protocol.
pub(super) fn prepare_response(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

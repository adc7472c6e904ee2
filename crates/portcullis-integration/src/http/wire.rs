//! HTTP/1.1 on one pooled upstream connection, spoken from the request's own task.
//!
//! hyper's connection-level client drives each connection from a task of its own: a request
//! crosses to it through a channel, the response head comes back through another, and the body
//! through a third. Per proxied request that is two extra task wake-ups and three channel
//! hand-offs around the same parse and encode; under callgrind it was about a fifth of a
//! proxied request's user-space instructions (ARCHITECTURE.md#performance-choices). Here the
//! request's task writes the request and reads the response itself, and the response body reads
//! straight from the socket as the client's side polls it.
//!
//! What it speaks (RFC 9112):
//! - the request head in origin form, headers as given except the framing ones, which follow the
//!   body: `content-length` when its length is known, `transfer-encoding: chunked` when not,
//!   none when there is no body (a client's `content-length: 0` is kept);
//! - the head and a body already at hand leave in one write; a streamed body is sent as it
//!   comes, and the response is read at the same time. An upstream that answers before the
//!   upload ends is heard: on a `4xx` or `5xx` or `connection: close` the upload stops and the
//!   connection is not reused; otherwise the upload goes on while the answer streams (an echo,
//!   a transform), driven by the response body;
//! - response framing: no body for `HEAD`, `204` and `304`; chunked when it is the last transfer
//!   coding (a `content-length` beside it is dropped and the connection not reused); else
//!   `content-length` (repeated values must agree); else the body runs to the connection's end;
//! - interim `1xx` answers are skipped; `101` is an error (the gateway never asks to upgrade);
//! - the connection is reusable when the response is HTTP/1.1 without `connection: close` (or
//!   HTTP/1.0 with `keep-alive`), the request was sent whole and the body was read to its end
//!   with nothing after it.
//!
//! Bounds: a response head of at most 100 headers in 400 KiB (hyper's defaults), a chunk-size
//! line of 4 KiB with no bare LF, 16 KiB of chunk extensions per body, trailers of 16 KiB.
//! A client's request trailers are not forwarded (they would pass the gateway's header rules).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::request::Parts;
use ::http::{Method, Request, Response, StatusCode, Version};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use portcullis_core::BoxError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::headers::Forwarding;
use super::watched_body::WatchedBody;

/// What the pool's connector opens: TCP, or TLS over TCP.
pub(super) type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

const MAX_HEADERS: usize = 100;
const MAX_HEAD: usize = 400 * 1024;
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;
/// Chunk extensions one body may carry (hyper's bound too); they are read and ignored.
const MAX_CHUNK_EXTENSIONS: usize = 16 * 1024;
/// The first read's size; it doubles while reads fill it, up to `READ_MAX`.
const READ_MIN: usize = 8 * 1024;
const READ_MAX: usize = 64 * 1024;
/// Request body gathered before it is written: the head and a body at hand leave together.
const WRITE_BATCH: usize = 64 * 1024;
/// Body data shorter than this is copied beside the framing bytes instead of queued apart.
const COPY_BELOW: usize = 4 * 1024;

/// Why an exchange or a response body failed. Every variant leaves the connection unusable.
#[derive(Debug, thiserror::Error)]
pub(super) enum WireError {
    /// Writing the request failed.
    #[error("writing the request: {0}")]
    Write(#[source] io::Error),
    /// Reading the response failed.
    #[error("reading the response: {0}")]
    Read(#[source] io::Error),
    /// The upstream closed the connection before sending a response.
    #[error("the upstream closed the connection before responding")]
    ClosedBeforeResponse,
    /// The upstream closed the connection in the middle of a response.
    #[error("the upstream closed the connection in the middle of the response")]
    Truncated,
    /// The response is not valid HTTP/1.1.
    #[error("invalid response: {0}")]
    Invalid(&'static str),
    /// The response head does not parse.
    #[error("invalid response head: {0}")]
    Head(#[from] httparse::Error),
    /// The response head is over its size bound.
    #[error("response head over {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// The client's request body failed.
    #[error("the request body failed: {0}")]
    RequestBody(#[source] BoxError),
    /// The request body's length is not the one its size hint promised.
    #[error("the request body's length differs from its declared length")]
    RequestLength,
}

/// One upstream connection with what has been read from it and not consumed yet.
pub(super) struct Conn {
    /// Boxed: a TLS stream is large, and a connection moves between the pool and each request.
    io: Box<TokioIo<Stream>>,
    buf: BytesMut,
    read_size: usize,
    /// The request head's buffer, kept from one request to the next.
    out: BytesMut,
    /// A place under the origin's connection cap, given back when the connection closes.
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    pub(super) fn new(stream: Stream, permit: OwnedSemaphorePermit) -> Self {
        Self {
            io: Box::new(TokioIo::new(stream)),
            buf: BytesMut::new(),
            read_size: READ_MIN,
            out: BytesMut::new(),
            _permit: permit,
        }
    }

    /// Whether an idle connection can carry another request: the upstream has sent nothing since
    /// the last response (no close, no reset, no stray bytes). No system call unless the socket
    /// was signalled readable.
    pub(super) fn is_idle_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        Pin::new(&mut *self.io).poll_read(&mut cx, &mut probe).is_pending()
    }

    /// Gives back what a large exchange grew, before the connection waits in the pool: a read
    /// buffer or a head buffer above [`READ_MIN`] is freed (the next request starts a fresh
    /// one), so that idle connections hold at most a few KiB each whatever they carried.
    pub(super) fn trim_for_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > READ_MIN {
            self.buf = BytesMut::new();
        }
        self.read_size = READ_MIN;
        if self.out.capacity() > READ_MIN {
            self.out = BytesMut::new();
        }
    }

    /// Whether bytes have been read that no response has consumed.
    pub(super) fn has_unread(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Reads more into `buf`: the number of bytes read, 0 at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buf.reserve(self.read_size);
        let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut *self.io), cx, &mut self.buf))?;
        if n >= self.read_size {
            self.read_size = (self.read_size * 2).min(READ_MAX);
        }
        Poll::Ready(Ok(n))
    }
}

/// A response head read from a connection, with how its body is framed.
pub(super) struct Exchanged {
    pub(super) head: Response<()>,
    pub(super) conn: Conn,
    pub(super) body: Decoder,
    /// Whether the connection may carry another request once the body has been read (and the
    /// upload, if it goes on, has been sent whole).
    pub(super) keep_alive: bool,
    /// The rest of the request body, when the answer began before the upload ended and the
    /// upstream may still read it (an echo, a streaming transform): sent while the answer is
    /// read ([`Upload::poll`]). Boxed: rare, and kept out of the size of every response body.
    pub(super) upload: Option<Box<Upload>>,
}

/// The rest of a request still being sent while its answer is read.
pub(super) struct Upload(RequestWriter);

impl Upload {
    /// Sends more of the request: `Ready(Ok)` once it is all sent, `Ready(Err)` if it failed.
    pub(super) fn poll(&mut self, conn: &mut Conn, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        let polled = self.0.poll(&mut conn.io, cx);
        if polled.is_ready() {
            conn.out = self.0.take_buffer();
        }
        polled
    }
}

/// Sends `req` (origin-form URI) on `conn`, with `host` and the forwarding headers, and reads
/// the response head.
pub(super) async fn exchange(
    mut conn: Conn,
    req: Request<WatchedBody>,
    host: &HeaderValue,
    forwarding: &Forwarding<'_>,
) -> Result<Exchanged, WireError> {
    let (parts, body) = req.into_parts();
    let head_request = parts.method == Method::HEAD;
    let head = Head { parts: &parts, host, forwarding };
    let mut writer = Some(RequestWriter::new(std::mem::take(&mut conn.out), &head, body));
    drop(parts);

    let mut request_sent = false;
    let mut write_failed: Option<io::Error> = None;
    let head = poll_fn(|cx| {
        if let Some(w) = writer.as_mut() {
            match w.poll(&mut conn.io, cx) {
                Poll::Ready(Ok(())) => {
                    conn.out = w.take_buffer();
                    writer = None;
                    request_sent = true;
                }
                // The upstream may have stopped reading after answering (an early `413`, then a
                // close): an answer already here says more than the failed write.
                Poll::Ready(Err(WireError::Write(err))) => {
                    writer = None;
                    write_failed = Some(err);
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {}
            }
        }
        // Read while writing, so that an early answer is not left waiting behind the upload.
        // After a failed write, read on until an answer, the end or an error (the reset that
        // failed the write makes the socket readable).
        match poll_head(&mut conn, cx) {
            Poll::Ready(Err(err)) => Poll::Ready(Err(write_failed.take().map_or(err, WireError::Write))),
            polled => polled,
        }
    })
    .await?;

    let (head, body, mut keep_alive) = framing(head, head_request)?;
    // An upstream that refuses (`4xx`, `5xx`) or closes will not read the rest: stop sending.
    let upload = writer.filter(|_| {
        let reads_on = keep_alive && !head.status().is_client_error() && !head.status().is_server_error();
        reads_on && write_failed.is_none()
    });
    keep_alive &= request_sent || upload.is_some();
    Ok(Exchanged { head, conn, body, keep_alive, upload: upload.map(|rest| Box::new(Upload(rest))) })
}

/// The request on its way out: bytes waiting to be written, and the body still to come. What
/// is written next is `queue`, then `staging`.
struct RequestWriter {
    /// The head, framing bytes and small data.
    staging: BytesMut,
    /// Larger data, queued as it came, and staging bytes frozen ahead of it.
    queue: VecDeque<Bytes>,
    queue_len: usize,
    body: Option<WatchedBody>,
    framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body.
    Empty,
    /// `content-length`: the bytes still to send.
    Length(u64),
    Chunked,
}

impl RequestWriter {
    fn new(mut staging: BytesMut, head: &Head<'_>, body: WatchedBody) -> Self {
        let framing = if body.is_end_stream() {
            Framing::Empty
        } else {
            body.size_hint().exact().map_or(Framing::Chunked, Framing::Length)
        };
        staging.clear();
        head.encode(&mut staging, framing);
        let body = (framing != Framing::Empty).then_some(body);
        Self { staging, queue: VecDeque::new(), queue_len: 0, body, framing }
    }

    fn pending(&self) -> usize {
        self.queue_len + self.staging.len()
    }

    /// The emptied staging buffer, for the connection's next request.
    fn take_buffer(&mut self) -> BytesMut {
        let mut buffer = std::mem::take(&mut self.staging);
        buffer.clear();
        buffer
    }

    /// Ready when the whole request is written and flushed.
    fn poll(&mut self, io: &mut TokioIo<Stream>, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        loop {
            while self.body.is_some() && self.pending() < WRITE_BATCH {
                match self.poll_body(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => break,
                }
            }
            if self.pending() == 0 {
                // Everything so far is written: push it out of any TLS buffer, then either done
                // or waiting for more of the body.
                ready!(Pin::new(&mut *io).poll_flush(cx)).map_err(WireError::Write)?;
                return if self.body.is_none() { Poll::Ready(Ok(())) } else { Poll::Pending };
            }
            ready!(self.poll_write_pending(io, cx))?;
        }
    }

    fn poll_write_pending(
        &mut self,
        io: &mut TokioIo<Stream>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), WireError>> {
        while self.pending() > 0 {
            let written = {
                let mut slices = [IoSlice::new(&[]); 16];
                let parts = self
                    .queue
                    .iter()
                    .map(|b| &b[..])
                    .chain(Some(&self.staging[..]).filter(|s| !s.is_empty()));
                let n = parts.zip(slices.iter_mut()).map(|(part, slice)| *slice = IoSlice::new(part)).count();
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n])).map_err(WireError::Write)?
            };
            if written == 0 {
                return Poll::Ready(Err(WireError::Write(io::ErrorKind::WriteZero.into())));
            }
            self.consume(written);
        }
        Poll::Ready(Ok(()))
    }

    /// Drops the first `n` pending bytes, which have been written.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                self.staging.advance(n);
                return;
            };
            let step = front.len().min(n);
            front.advance(step);
            self.queue_len -= step;
            n -= step;
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
    }

    /// Takes one frame of the body, if one is ready, into the pending bytes.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        let Some(body) = self.body.as_mut() else { return Poll::Ready(Ok(())) };
        match ready!(Pin::new(body).poll_frame(cx)) {
            None => self.end(),
            Some(Err(err)) => Poll::Ready(Err(WireError::RequestBody(err))),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => Poll::Ready(self.push_data(data)),
                Err(_trailers) => self.end(),
            },
        }
    }

    fn push_data(&mut self, data: Bytes) -> Result<(), WireError> {
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.framing {
            Framing::Length(rest) => {
                *rest = rest.checked_sub(data.len() as u64).ok_or(WireError::RequestLength)?;
                self.push(data);
            }
            Framing::Chunked => {
                let _ = write!(self.staging, "{:x}\r\n", data.len());
                self.push(data);
                self.staging.put_slice(b"\r\n");
            }
            Framing::Empty => return Err(WireError::RequestLength),
        }
        Ok(())
    }

    /// Adds `data` to the pending bytes: copied into staging when small, queued as it is
    /// otherwise (behind the staging bytes before it).
    fn push(&mut self, data: Bytes) {
        if data.len() < COPY_BELOW {
            self.staging.put_slice(&data);
            return;
        }
        if !self.staging.is_empty() {
            let staged = self.staging.split().freeze();
            self.queue_len += staged.len();
            self.queue.push_back(staged);
        }
        self.queue_len += data.len();
        self.queue.push_back(data);
    }

    /// The body's end. A client's trailers are not forwarded: they would reach the upstream
    /// past the gateway's header rules (the forwarding headers, hop-by-hop removal).
    fn end(&mut self) -> Poll<Result<(), WireError>> {
        self.body = None;
        match self.framing {
            Framing::Length(0) | Framing::Empty => {}
            Framing::Length(_) => return Poll::Ready(Err(WireError::RequestLength)),
            Framing::Chunked => self.staging.put_slice(b"0\r\n\r\n"),
        }
        Poll::Ready(Ok(()))
    }
}

fn put_field(out: &mut BytesMut, name: &HeaderName, value: &HeaderValue) {
    out.put_slice(name.as_str().as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n");
}

/// What the request head is written from.
struct Head<'a> {
    parts: &'a Parts,
    host: &'a HeaderValue,
    forwarding: &'a Forwarding<'a>,
}

impl Head<'_> {
    /// The request line, `host`, the client's headers, the forwarding headers, and the framing
    /// headers, which are the body's whatever the client sent.
    /// `out` is the connection's head buffer, kept between requests: it grows to the largest
    /// head once, so no sizing pass is needed.
    fn encode(&self, out: &mut BytesMut, framing: Framing) {
        let Head { parts, host, forwarding } = self;
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        out.reserve(512);
        out.put_slice(parts.method.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(target.as_bytes());
        out.put_slice(b" HTTP/1.1\r\nhost: ");
        out.put_slice(host.as_bytes());
        out.put_slice(b"\r\n");
        // A client's `content-length: 0` on a request without a body is kept.
        let mut declared_length = false;
        for (name, value) in &parts.headers {
            if name == header::CONTENT_LENGTH {
                declared_length = true;
            } else if name != header::TRANSFER_ENCODING && !forwarding.replaces(name) {
                put_field(out, name, value);
            }
        }
        forwarding.write_lines(&parts.headers, out);
        match framing {
            Framing::Length(n) => {
                let _ = write!(out, "content-length: {n}\r\n");
            }
            Framing::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
            Framing::Empty if declared_length => out.put_slice(b"content-length: 0\r\n"),
            Framing::Empty => {}
        }
        out.put_slice(b"\r\n");
    }
}

/// Reads until a final (non-`1xx`) response head is complete.
fn poll_head(conn: &mut Conn, cx: &mut Context<'_>) -> Poll<Result<Response<()>, WireError>> {
    loop {
        if !conn.buf.is_empty() {
            if let Some(head) = parse_head(&mut conn.buf)? {
                if head.status() == StatusCode::SWITCHING_PROTOCOLS {
                    return Poll::Ready(Err(WireError::Invalid(
                        "101 Switching Protocols, but no upgrade was asked",
                    )));
                }
                if head.status().is_informational() {
                    continue;
                }
                return Poll::Ready(Ok(head));
            }
            if conn.buf.len() >= MAX_HEAD {
                return Poll::Ready(Err(WireError::HeadTooLarge));
            }
        }
        if ready!(conn.poll_fill(cx)).map_err(WireError::Read)? == 0 {
            return Poll::Ready(Err(if conn.buf.is_empty() {
                WireError::ClosedBeforeResponse
            } else {
                WireError::Truncated
            }));
        }
    }
}

/// A complete response head taken off the front of `buf`, or `None` if more is needed. The
/// header values share one buffer with the head, as hyper's do.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Response<()>>, WireError> {
    // Where each header's name and value lie in `buf`, noted while the parser borrows it.
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let (len, code, minor, count) = {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut slots,
        )?;
        let httparse::Status::Complete(len) = parsed else { return Ok(None) };
        if len > MAX_HEAD {
            return Err(WireError::HeadTooLarge);
        }
        let base = buf.as_ptr() as usize;
        let offset = |part: &[u8]| (part.as_ptr() as usize - base) as u32;
        for (span, field) in spans.iter_mut().zip(response.headers.iter()) {
            *span = (
                offset(field.name.as_bytes()),
                field.name.len() as u32,
                offset(field.value),
                field.value.len() as u32,
            );
        }
        (len, response.code.unwrap_or(0), response.version.unwrap_or(1), response.headers.len())
    };
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &(name_at, name_len, value_at, value_len) in &spans[..count] {
        let (name_at, value_at) = (name_at as usize, value_at as usize);
        let name = HeaderName::from_bytes(&head[name_at..name_at + name_len as usize])
            .map_err(|_| WireError::Invalid("a header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value_at..value_at + value_len as usize))
            .map_err(|_| WireError::Invalid("a header value"))?;
        headers.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(code).map_err(|_| WireError::Invalid("the status code"))?;
    *response.version_mut() = if minor == 0 { Version::HTTP_10 } else { Version::HTTP_11 };
    *response.headers_mut() = headers;
    Ok(Some(response))
}

/// How the body of `head` is framed, and whether its connection may be reused after it.
fn framing(mut head: Response<()>, head_request: bool) -> Result<(Response<()>, Decoder, bool), WireError> {
    let headers = head.headers();
    let mut keep_alive = if head.version() == Version::HTTP_11 {
        !connection_has(headers, "close")
    } else {
        connection_has(headers, "keep-alive")
    };
    let status = head.status();
    if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((head, Decoder::Done, keep_alive));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        let chunked = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|value| value.as_bytes().rsplit(|&b| b == b',').next())
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        // Transfer codings in an HTTP/1.0 answer are faulty framing (RFC 9112 §6.1).
        if head.headers_mut().remove(header::CONTENT_LENGTH).is_some() || head.version() != Version::HTTP_11 {
            // Both framings at once (a smuggling pattern): the chunked one is read, and the
            // connection is not trusted again.
            keep_alive = false;
        }
        return Ok(if chunked {
            (head, Decoder::Chunked(Chunk::Size, MAX_CHUNK_EXTENSIONS), keep_alive)
        } else {
            (head, Decoder::Eof, false)
        });
    }
    match content_length(headers)? {
        Some(0) => Ok((head, Decoder::Done, keep_alive)),
        Some(n) => Ok((head, Decoder::Length(n), keep_alive)),
        None => Ok((head, Decoder::Eof, false)),
    }
}

fn connection_has(headers: &HeaderMap, option: &str) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(option.as_bytes()))
    })
}

/// The `content-length`, if any: every value (and every element of a list) must be the same
/// number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, WireError> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let digits = element.trim_ascii();
            let n = std::str::from_utf8(digits)
                .ok()
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u64>().ok())
                .ok_or(WireError::Invalid("content-length"))?;
            if length.is_some_and(|seen| seen != n) {
                return Err(WireError::Invalid("content-length values differ"));
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// Where a response body is in its framing.
#[derive(Debug)]
pub(super) enum Decoder {
    /// `content-length`: the bytes still to read.
    Length(u64),
    /// Where the chunked body is, and how many bytes of chunk extensions it may still send.
    Chunked(Chunk, usize),
    /// Until the upstream closes the connection.
    Eof,
    /// The body has been read to its end.
    Done,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailers,
    End,
}

impl Decoder {
    pub(super) fn is_done(&self) -> bool {
        matches!(self, Decoder::Done)
    }

    /// The exact length still to come, when the framing says it.
    pub(super) fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Done => Some(0),
            _ => None,
        }
    }

    /// The next frame of the body from `conn`.
    pub(super) fn poll_frame(
        &mut self,
        conn: &mut Conn,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, WireError>>> {
        self.poll_next(conn, cx).map(Result::transpose)
    }

    fn poll_next(
        &mut self,
        conn: &mut Conn,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Frame<Bytes>>, WireError>> {
        loop {
            match self {
                Decoder::Done => return Poll::Ready(Ok(None)),
                Decoder::Length(rest) => {
                    if conn.buf.is_empty() && ready!(conn.poll_fill(cx)).map_err(WireError::Read)? == 0 {
                        return Poll::Ready(Err(WireError::Truncated));
                    }
                    let take = conn.buf.len().min(usize::try_from(*rest).unwrap_or(usize::MAX));
                    *rest -= take as u64;
                    if *rest == 0 {
                        *self = Decoder::Done;
                    }
                    return Poll::Ready(Ok(Some(Frame::data(conn.buf.split_to(take).freeze()))));
                }
                Decoder::Eof => {
                    if conn.buf.is_empty() && ready!(conn.poll_fill(cx)).map_err(WireError::Read)? == 0 {
                        *self = Decoder::Done;
                        return Poll::Ready(Ok(None));
                    }
                    return Poll::Ready(Ok(Some(Frame::data(conn.buf.split().freeze()))));
                }
                Decoder::Chunked(chunk, extensions_left) => {
                    let frame = ready!(poll_chunk(chunk, extensions_left, conn, cx))?;
                    if *chunk == Chunk::End {
                        *self = Decoder::Done;
                    }
                    if frame.is_some() {
                        return Poll::Ready(Ok(frame));
                    }
                }
            }
        }
    }
}

/// The next frame of a chunked body: data, or its trailers; `None` at its end.
fn poll_chunk(
    chunk: &mut Chunk,
    extensions_left: &mut usize,
    conn: &mut Conn,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Frame<Bytes>>, WireError>> {
    loop {
        let need_more = match *chunk {
            Chunk::End => return Poll::Ready(Ok(None)),
            Chunk::Size => match httparse::parse_chunk_size(&conn.buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    // httparse takes a line with no digits as size 0, and any byte, a bare LF
                    // included (a desync pattern), in an extension.
                    if !conn.buf[0].is_ascii_hexdigit() || conn.buf[..used - 1].contains(&b'\n') {
                        return Poll::Ready(Err(WireError::Invalid("a chunk size")));
                    }
                    if used > MAX_CHUNK_LINE {
                        return Poll::Ready(Err(WireError::Invalid("a chunk-size line over 4 KiB")));
                    }
                    // Beyond 16 hex digits and CRLF, a size line is extensions: bounded per body,
                    // so tiny chunks with long extensions cannot cost far more than their data.
                    *extensions_left = extensions_left
                        .checked_sub(used.saturating_sub(18))
                        .ok_or(WireError::Invalid("chunk extensions over 16 KiB"))?;
                    conn.buf.advance(used);
                    *chunk = if size == 0 { Chunk::Trailers } else { Chunk::Data(size) };
                    false
                }
                Ok(httparse::Status::Partial) if conn.buf.len() > MAX_CHUNK_LINE => {
                    return Poll::Ready(Err(WireError::Invalid("a chunk-size line over 4 KiB")));
                }
                Ok(httparse::Status::Partial) => true,
                Err(_) => return Poll::Ready(Err(WireError::Invalid("a chunk size"))),
            },
            Chunk::Data(rest) => {
                if conn.buf.is_empty() {
                    true
                } else {
                    let take = conn.buf.len().min(usize::try_from(rest).unwrap_or(usize::MAX));
                    let left = rest - take as u64;
                    *chunk = if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) };
                    return Poll::Ready(Ok(Some(Frame::data(conn.buf.split_to(take).freeze()))));
                }
            }
            Chunk::DataEnd if conn.buf.len() < 2 => true,
            Chunk::DataEnd => {
                if conn.buf[..2] != *b"\r\n" {
                    return Poll::Ready(Err(WireError::Invalid("chunk data not followed by CRLF")));
                }
                conn.buf.advance(2);
                *chunk = Chunk::Size;
                false
            }
            Chunk::Trailers => {
                let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let parsed = match httparse::parse_headers(&conn.buf, &mut fields) {
                    Ok(httparse::Status::Complete((used, _))) if used > MAX_TRAILERS => {
                        return Poll::Ready(Err(WireError::Invalid("trailers over 16 KiB")));
                    }
                    Ok(httparse::Status::Complete((used, fields))) => {
                        let mut trailers = HeaderMap::new();
                        for field in fields.iter() {
                            let name = HeaderName::from_bytes(field.name.as_bytes())
                                .map_err(|_| WireError::Invalid("a trailer name"))?;
                            let value = HeaderValue::from_bytes(field.value)
                                .map_err(|_| WireError::Invalid("a trailer value"))?;
                            trailers.append(name, value);
                        }
                        Some((used, trailers))
                    }
                    Ok(httparse::Status::Partial) if conn.buf.len() > MAX_TRAILERS => {
                        return Poll::Ready(Err(WireError::Invalid("trailers over 16 KiB")));
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(_) => return Poll::Ready(Err(WireError::Invalid("the trailers"))),
                };
                match parsed {
                    Some((used, trailers)) => {
                        conn.buf.advance(used);
                        *chunk = Chunk::End;
                        return Poll::Ready(Ok((!trailers.is_empty()).then(|| Frame::trailers(trailers))));
                    }
                    None => true,
                }
            }
        };
        if need_more && ready!(conn.poll_fill(cx)).map_err(WireError::Read)? == 0 {
            return Poll::Ready(Err(WireError::Truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::headers::prepare_request;
    use portcullis_core::{CallContext, RequestIdGenerator, TraceId};

    fn ctx(trace_id: TraceId) -> CallContext {
        CallContext {
            request_id: RequestIdGenerator::new(3).next_id(),
            trace_id,
            client_addr: "203.0.113.9:40000".parse().unwrap(),
            tls: true,
            local_port: 8443,
            route_key: "$default".into(),
            params: portcullis_core::Params::default(),
            received_at: std::time::SystemTime::now(),
            auth: portcullis_core::AuthContext::None,
        }
    }

    #[tokio::test]
    async fn a_connection_going_idle_gives_back_what_a_large_answer_grew() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (mut server, _) = server.unwrap();
        let permit = std::sync::Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().unwrap();
        let mut conn = Conn::new(MaybeHttpsStream::Http(TokioIo::new(client.unwrap())), permit);
        // 256 KiB arrive: the reads grow to their largest size.
        let sent = tokio::spawn(async move {
            tokio::io::AsyncWriteExt::write_all(&mut server, &vec![b'x'; 256 * 1024]).await.unwrap();
            server
        });
        let mut read = 0;
        while read < 256 * 1024 {
            read += poll_fn(|cx| conn.poll_fill(cx)).await.unwrap();
            conn.buf.clear();
        }
        let _server = sent.await.unwrap();
        assert_eq!(conn.read_size, READ_MAX);
        assert!(conn.buf.capacity() > READ_MIN);
        conn.out.reserve(32 * 1024);
        conn.trim_for_idle();
        assert!(conn.buf.capacity() <= READ_MIN && conn.out.capacity() <= READ_MIN);
        assert_eq!(conn.read_size, READ_MIN);
        // A connection that carried only small exchanges keeps its buffers (no allocation on the
        // next request).
        conn.buf.reserve(READ_MIN);
        let kept = conn.buf.capacity();
        conn.trim_for_idle();
        assert_eq!(conn.buf.capacity(), kept);
    }

    /// The header lines of an encoded request head, sorted, as `name: value`.
    fn lines_of(head: &[u8]) -> Vec<String> {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut fields);
        assert!(request.parse(head).unwrap().is_complete());
        let mut lines: Vec<String> = request
            .headers
            .iter()
            .map(|f| format!("{}: {}", f.name, String::from_utf8_lossy(f.value)))
            .collect();
        lines.sort();
        lines
    }

    /// The HTTP/1.1 pool writes the forwarding headers with the head; HTTP/2 upstreams get them
    /// inserted into the request's map. Both must say the same, whatever the client sent.
    #[test]
    fn the_head_carries_what_the_map_would_for_any_client_headers() {
        let sent_trace = "Root=1-67891233-abcdef012345678912345678;Sampled=1";
        let cases: Vec<(Vec<(&str, &str)>, TraceId)> = vec![
            (vec![("host", "gw.example"), ("accept", "*/*")], TraceId::default()),
            (
                vec![
                    ("host", "gw.example:8443"),
                    ("x-forwarded-for", "198.51.100.1"),
                    ("x-forwarded-for", "  "),
                    ("x-forwarded-for", "198.51.100.2, 198.51.100.3"),
                    ("x-forwarded-port", "1"),
                    ("x-forwarded-proto", "gopher"),
                    ("x-forwarded-host", "forged.example"),
                    ("apigw-requestid", "forged"),
                    ("x-amzn-trace-id", "not a trace"),
                    ("content-length", "3"),
                    ("x-custom", "a"),
                    ("x-custom", "b"),
                ],
                TraceId::derive(RequestIdGenerator::new(4).next_id(), std::time::SystemTime::now()),
            ),
            (vec![("x-amzn-trace-id", sent_trace)], TraceId::from_header(sent_trace.as_bytes()).unwrap()),
        ];
        let host = HeaderValue::from_static("upstream:3000");
        for (headers, trace) in cases {
            let ctx = ctx(trace);
            let mut request = Request::builder().method(Method::POST).uri("/up?q=1");
            for (name, value) in &headers {
                request = request.header(*name, *value);
            }
            let (mut parts, ()) = request.body(()).unwrap().into_parts();
            let original = parts.uri.clone();

            let mut mapped = parts.headers.clone();
            prepare_request(&mut mapped, &original, &ctx).insert_into(&mut mapped);
            mapped.insert(header::HOST, host.clone());
            mapped.insert(header::CONTENT_LENGTH, HeaderValue::from_static("3"));
            let mut expected: Vec<String> =
                mapped.iter().map(|(name, value)| format!("{name}: {}", value.to_str().unwrap())).collect();
            expected.sort();

            let forwarding = prepare_request(&mut parts.headers, &original, &ctx);
            let mut out = BytesMut::new();
            Head { parts: &parts, host: &host, forwarding: &forwarding }.encode(&mut out, Framing::Length(3));
            assert!(out.starts_with(b"POST /up?q=1 HTTP/1.1\r\nhost: upstream:3000\r\n"));
            assert_eq!(lines_of(&out), expected, "client headers {headers:?}");
        }
    }
}

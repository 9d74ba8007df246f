//! `redactd http`: a reverse proxy in front of log-ingestion APIs
//! (Elasticsearch `_bulk`, Loki, Splunk HEC, OTLP/HTTP, Datadog, Vector and
//! Fluent Bit `http` sinks).
//!
//! Each request body is decoded, redacted in its own format and re-encoded
//! with its own `Content-Encoding` ([`super::http_body`]); `Content-Length`
//! is set to the new length. Method, path, query and every end-to-end
//! header (credentials such as `Authorization`, `DD-API-KEY`,
//! `X-Scope-OrgID` included) go upstream untouched, and the upstream's
//! status, headers and body come back unchanged, so shippers' retries and
//! acknowledgements keep working. Headers are never logged.
//!
//! **Buffered or streamed.** NDJSON and text bodies that arrive chunked or
//! with a `Content-Length` over `stream_above` are streamed
//! ([`super::http_stream`]): redacted as they arrive and sent upstream
//! chunked, in memory bounded by `max_line` (the longest NDJSON line) and a
//! few chunks, whatever the body's size. Every other body (JSON and
//! protobuf formats, which are redacted whole, and short NDJSON and text) is
//! buffered and sent with its new `Content-Length`; `max_body` bounds it.
//!
//! **Refusals.** Over `max_body` decoded bytes (streamed or not) the answer
//! is 413, a body that cannot be decoded or parsed gets 400 (415 for an
//! unknown coding). Nothing unscanned is ever forwarded: a buffered body is
//! refused before anything is sent, and a streamed one that fails midway is
//! aborted upstream (its chunked encoding is never terminated, so the
//! upstream sees an incomplete request, not a short body) while the client
//! gets the 4xx. Every refusal is counted by reason
//! ([`Refused`], `redactd_http_requests_refused_total`) and logged at info,
//! rate limited per listener (5 lines per 10 s), with
//! the peer and the reason, never the path (it may hold a token) or a body
//! byte. An unreachable upstream answers 502.
//! Connections are kept alive both ways; on shutdown, connections finish
//! their current request and close.
//!
//! **TLS.** The listener can terminate TLS ([`Tls::listener`]); the upstream
//! can be `https://` ([`Tls::upstream`]: rustls, verified against a CA file
//! or the system's trust store, optionally with a client certificate).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::http_body::{decode, encode, extend_capped, BodyError, BodyRedactor, Coding, Format};
use super::http_stream::{ChannelBody, Chunk, Parts, StreamRedactor, PIECE};
use crate::counters::Refused;
use crate::engine::Finding;
use crate::net::budget::{Budget, Lease};
use crate::net::slots::{Slot, SlotIo, Slots, Timeouts};
use crate::net::tls::BoxStream;
use crate::net::{self, Counters, EngineWatch, Shutdown, Stop};

/// Settings of one HTTP proxy listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener name (logs, metrics).
    pub name: String,
    /// `http://` or `https://host:port` the requests go to (its path is a
    /// prefix).
    pub upstream: Uri,
    /// Largest decoded request body, in bytes.
    pub max_body: usize,
    /// NDJSON and text bodies longer than this, or sent chunked, are
    /// streamed.
    pub stream_above: usize,
    /// Longest NDJSON line held while streaming.
    pub max_line: usize,
    /// Time a client gets to send a request's headers (slow or stalled
    /// clients are disconnected rather than holding a connection slot).
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time connections get to finish after shutdown begins.
    pub drain: Duration,
    /// Bound on one upstream connect.
    pub connect_timeout: Duration,
    /// Idle and message timeouts of its connections.
    pub timeouts: Timeouts,
}

/// TLS at each end of a listener.
#[derive(Clone, Default)]
pub struct Tls {
    /// Terminates TLS from clients, when set.
    pub listener: Option<TlsAcceptor>,
    /// For an `https://` upstream: how to verify it (required then).
    pub upstream: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("listener", &self.listener.is_some())
            .field("upstream", &self.upstream.is_some())
            .finish()
    }
}

/// The upstream client, plain or TLS.
enum UpClient {
    Plain(Client<HttpConnector, UpBody>),
    Tls(Client<HttpsConnector<HttpConnector>, UpBody>),
}

impl UpClient {
    fn new(cfg: &Config, tls: Option<Arc<rustls::ClientConfig>>) -> UpClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(cfg.connect_timeout));
        connector.set_nodelay(true);
        let builder = Client::builder(TokioExecutor::new());
        match tls {
            None => UpClient::Plain(builder.build(connector)),
            Some(tls) => {
                connector.enforce_http(false);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*tls).clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(connector);
                UpClient::Tls(builder.build(https))
            }
        }
    }

    async fn request(
        &self,
        req: Request<UpBody>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        match self {
            UpClient::Plain(c) => c.request(req).await,
            UpClient::Tls(c) => c.request(req).await,
        }
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// What goes upstream: a buffered body or a [`ChannelBody`].
type UpBody = BoxBody<Bytes, BoxError>;

struct Ctx {
    cfg: Config,
    engine: EngineWatch,
    counters: Arc<Counters>,
    client: UpClient,
    acceptor: Option<TlsAcceptor>,
    refusal_log: net::LogEvery,
    /// Memory for buffered bodies, shared with every listener.
    buffers: Budget,
}

/// Serves `listener` until `stop`, then lets connections finish. An
/// `https://` upstream needs `tls.upstream`.
pub async fn serve(
    listener: TcpListener,
    cfg: Config,
    tls: Tls,
    engine: EngineWatch,
    counters: Arc<Counters>,
    stop: Stop,
    buffers: Budget,
) {
    let client = UpClient::new(&cfg, tls.upstream);
    let (name, max, deadline) = (cfg.name.clone(), cfg.max_connections, cfg.drain);
    let ctx_timeouts = cfg.timeouts;
    let probe = tokio::spawn(probe_upstream(
        cfg.upstream.clone(),
        cfg.connect_timeout,
        Arc::clone(&counters),
        stop.drain.clone(),
    ));
    let ctx = Arc::new(Ctx {
        cfg,
        engine,
        counters: Arc::clone(&counters),
        client,
        acceptor: tls.listener,
        refusal_log: net::LogEvery::new(LOG_BURST, LOG_WINDOW),
        buffers,
    });
    let serve_one = move |stream: TcpStream, peer: SocketAddr, shutdown: Shutdown, slot: Slot| {
        let ctx = Arc::clone(&ctx);
        connection(stream, slot, peer, ctx, shutdown)
    };
    let slots = Slots::new(max, ctx_timeouts);
    net::accept_loop(listener, &name, slots, &counters, stop, deadline, serve_one).await;
    probe.abort();
}

/// Keeps `upstream_up` current for `/readyz`: a TCP connect to the upstream
/// every second until shutdown (requests update it too).
async fn probe_upstream(
    upstream: Uri,
    timeout: Duration,
    counters: Arc<Counters>,
    mut stop: Shutdown,
) {
    let default_port = if upstream.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let Some(authority) = upstream.authority().map(|a| {
        if a.port().is_some() {
            a.to_string()
        } else {
            format!("{a}:{default_port}")
        }
    }) else {
        return;
    };
    loop {
        let up = net::connect(&authority, timeout).await.is_ok();
        counters
            .upstream_up
            .store(u64::from(up), std::sync::atomic::Ordering::Relaxed);
        tokio::select! {
            _ = stop.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn connection(
    stream: TcpStream,
    slot: Slot,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let io: BoxStream = match &ctx.acceptor {
        None => Box::new(stream),
        Some(acceptor) => {
            let (c, name, t) = (&ctx.counters, &ctx.cfg.name, ctx.cfg.connect_timeout);
            match net::accept_tls(acceptor, stream, t, c, name, peer).await {
                Some(s) => Box::new(s),
                None => return Ok(()),
            }
        }
    };
    // Requests on one HTTP/1.1 connection come one after another: one
    // redactor and one set of scratch buffers serve them all (the lock is
    // never contended, and never held across an await).
    let scratch = Arc::new(std::sync::Mutex::new(Some(Scratch::new(&ctx.engine))));
    // Reads count as progress for the slot; a request answered is a
    // message boundary (keep-alive silence is idleness, not a stall).
    let io = SlotIo::new(io, slot);
    let slot = io.slot();
    let service = {
        let ctx = Arc::clone(&ctx);
        service_fn(move |req: Request<Incoming>| {
            let ctx = Arc::clone(&ctx);
            let scratch = Arc::clone(&scratch);
            let slot = Arc::clone(&slot);
            async move {
                let resp = proxy(req, &ctx, &scratch, peer).await;
                slot.between_messages(true);
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.cfg.header_timeout)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let r = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = r {
        debug!(listener = %ctx.cfg.name, %peer, error = %e, "http connection ended");
    }
    Ok(())
}

fn plain(status: StatusCode, msg: String) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(msg + "\n"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Headers that belong to one connection, not to the message (RFC 9110
/// section 7.6.1), plus the ones this proxy recomputes.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<String> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for n in named {
        h.remove(n.as_str());
    }
    for n in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::CONTENT_LENGTH,
        header::HOST,
    ] {
        h.remove(n);
    }
    h.remove("keep-alive");
}

fn upstream_uri(base: &Uri, req: &Uri) -> Result<Uri, String> {
    let prefix = base.path().trim_end_matches('/');
    let pq = req.path_and_query().map_or("/", |p| p.as_str());
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(
        format!("{prefix}{pq}")
            .parse()
            .map_err(|e| format!("bad request path: {e}"))?,
    );
    Uri::from_parts(parts).map_err(|e| e.to_string())
}

/// A connection's redactor and buffers.
struct Scratch {
    engine: EngineWatch,
    /// Taken by a streamed body while it runs; lost (and remade) only when
    /// a compressed body fails inside its decoder.
    parts: Option<Parts>,
}

impl Scratch {
    fn new(engine: &EngineWatch) -> Scratch {
        let mut engine = engine.clone();
        let red = engine.borrow_and_update().redactor();
        Scratch {
            engine,
            parts: Some(Parts {
                red,
                body: BodyRedactor::new(),
            }),
        }
    }

    /// The parts, current with the engine (a reload swaps the redactor
    /// between bodies).
    fn parts(&mut self) -> &mut Parts {
        let fresh = net::reloaded(&mut self.engine);
        let parts = self.parts.get_or_insert_with(|| Parts {
            red: self.engine.borrow().redactor(),
            body: BodyRedactor::new(),
        });
        if let Some(e) = fresh {
            parts.red = e.redactor();
        }
        parts
    }

    /// The parts, taken for a streamed body (put back by its end).
    fn take_parts(&mut self) -> Parts {
        self.parts();
        self.parts.take().expect("made by parts()")
    }
}

/// Why a request was not relayed.
enum Refusal {
    /// Refused by redactd: answered with the reason's status and this
    /// message (which never holds body bytes).
    Refused(Refused, String),
    /// The upstream stopped taking the body: relay what it answered.
    UpstreamGone,
}

impl From<BodyError> for Refusal {
    fn from(e: BodyError) -> Refusal {
        Refusal::Refused(body_reason(&e), e.to_string())
    }
}

/// Why a body that cannot be forwarded is refused.
fn body_reason(e: &BodyError) -> Refused {
    match e.status() {
        413 => Refused::TooLarge,
        415 => Refused::UnsupportedType,
        _ => Refused::InvalidBody,
    }
}

/// The status redactd answers a refusal with.
fn refusal_status(reason: Refused) -> StatusCode {
    match reason {
        Refused::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Refused::UnsupportedEncoding | Refused::UnsupportedType => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        Refused::InvalidBody | Refused::BadRequest => StatusCode::BAD_REQUEST,
        Refused::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Refused::Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn proxy(
    req: Request<Incoming>,
    ctx: &Ctx,
    scratch: &std::sync::Mutex<Option<Scratch>>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    // HTTP/1.1 requests on a connection come one at a time: the scratch is
    // taken for this one and put back after (a request cancelled midway
    // drops it, and the next one makes another).
    let lock = || scratch.lock().unwrap_or_else(|p| p.into_inner());
    let taken = lock().take();
    let mut s = taken.unwrap_or_else(|| Scratch::new(&ctx.engine));
    let resp = match forward(req, ctx, &mut s, peer).await {
        Ok(resp) => resp,
        Err(Refusal::Refused(reason, msg)) => refuse(ctx, peer, reason, msg),
        Err(Refusal::UpstreamGone) => plain(StatusCode::BAD_GATEWAY, "upstream unavailable".into()),
    };
    *lock() = Some(s);
    resp
}

/// Redacts one request and relays it, or says why not.
async fn forward(
    req: Request<Incoming>,
    ctx: &Ctx,
    s: &mut Scratch,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Refusal> {
    let c = &ctx.counters;
    Counters::add(&c.messages_in, 1);
    let (parts, body) = req.into_parts();
    let header = |n: header::HeaderName| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let refused = |reason, msg: &str| Refusal::Refused(reason, msg.into());
    let coding = Coding::parse(header(header::CONTENT_ENCODING))
        .ok_or_else(|| refused(Refused::UnsupportedEncoding, "unsupported Content-Encoding"))?;
    let format =
        Format::classify(parts.uri.path(), header(header::CONTENT_TYPE)).ok_or_else(|| {
            refused(
                Refused::UnsupportedType,
                "unsupported Content-Type for this route",
            )
        })?;
    let uri = upstream_uri(&ctx.cfg.upstream, &parts.uri)
        .map_err(|e| Refusal::Refused(Refused::BadRequest, e))?;
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    let mut up = Request::new(());
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;

    // Streamed: chunked in (no exact length), or longer than stream_above.
    let streamed = StreamRedactor::streams(format, coding)
        && body
            .size_hint()
            .exact()
            .is_none_or(|n| n > ctx.cfg.stream_above as u64);
    if streamed {
        return stream(ctx, s, body, up, format, coding, peer).await;
    }

    // The body's memory comes from the budget every listener shares.
    let mut lease = ctx.buffers.lease();
    let wire = read_body(body, ctx.cfg.max_body, &mut lease).await?;
    Counters::add(&c.bytes_in, wire.len() as u64);
    let body = if wire.is_empty() {
        Bytes::new()
    } else {
        redact_body(ctx, s, coding, format, &wire, peer, &mut lease)?
    };
    let len = body.len();
    if len > 0 || parts.headers.contains_key(header::CONTENT_LENGTH) {
        up.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let up = up.map(|()| Full::new(body).map_err(|never| match never {}).boxed());
    Ok(relay(ctx, ctx.client.request(up).await, len as u64))
}

/// Reads a whole request body, refusing more than `max` bytes (413).
///
/// Each frame is copied into one buffer and dropped at once: hyper's frames
/// are slices of its connection read buffer, so a body sent one byte per
/// segment, kept as frames, would pin a whole read buffer (8 KiB) per byte.
/// The buffer grows by doubling but never past `max`, and a
/// `Content-Length` is trusted for no more than [`PREALLOCATE`] bytes up
/// front (a client may announce a large body and stall).
async fn read_body(mut body: Incoming, max: usize, lease: &mut Lease) -> Result<Vec<u8>, Refusal> {
    let hint = body.size_hint().exact().unwrap_or(0);
    let mut buf = Vec::with_capacity(hint.min(PREALLOCATE as u64) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: not forwarded
        };
        if buf.len() + data.len() > max {
            return Err(Refusal::Refused(
                Refused::TooLarge,
                format!("body exceeds {max} bytes"),
            ));
        }
        extend_capped(&mut buf, &data, max);
        covered(lease, buf.capacity())?;
    }
    Ok(buf)
}

/// Makes `lease` cover `bytes`, or refuses the request for now (503).
fn covered(lease: &mut Lease, bytes: usize) -> Result<(), Refusal> {
    if lease.try_cover(bytes) {
        return Ok(());
    }
    Err(Refusal::Refused(
        Refused::Busy,
        "request bodies are using all the memory set aside for them; retry".into(),
    ))
}

/// A body the client did not send whole (cut off, malformed chunking).
fn unreadable(e: hyper::Error) -> Refusal {
    Refusal::Refused(Refused::BadRequest, format!("cannot read the body: {e}"))
}

/// Bytes of a buffered body allocated before they arrive.
const PREALLOCATE: usize = 64 << 10;

/// The upstream's answer, relayed; or 502.
fn relay(
    ctx: &Ctx,
    resp: Result<Response<Incoming>, hyper_util::client::legacy::Error>,
    sent: u64,
) -> Response<ProxyBody> {
    let c = &ctx.counters;
    match resp {
        Ok(resp) => {
            c.upstream_up.store(1, std::sync::atomic::Ordering::Relaxed);
            Counters::add(&c.messages_out, 1);
            Counters::add(&c.bytes_out, sent);
            let (mut rparts, rbody) = resp.into_parts();
            strip_hop_by_hop(&mut rparts.headers);
            // The length of an unchanged body is still right; hyper writes
            // it from the body's size hint.
            Response::from_parts(rparts, rbody.boxed())
        }
        Err(e) => {
            c.upstream_up.store(0, std::sync::atomic::Ordering::Relaxed);
            Counters::add(&c.upstream_errors, 1);
            warn!(listener = %ctx.cfg.name, upstream = %ctx.cfg.upstream, error = %e,
                  "upstream request failed");
            plain(StatusCode::BAD_GATEWAY, "upstream unavailable".into())
        }
    }
}

/// Output is handed upstream once this much is waiting.
const STREAM_CHUNK: usize = 64 << 10;
/// Chunks in flight between redaction and the upstream connection.
const STREAM_DEPTH: usize = 4;

/// A streamed body: redacted while the upstream request is under way.
async fn stream(
    ctx: &Ctx,
    s: &mut Scratch,
    body: Incoming,
    up: Request<()>,
    format: Format,
    coding: Coding,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Refusal> {
    let (tx, rx) = ChannelBody::channel(STREAM_DEPTH);
    let up = up.map(|()| rx.map_err(BoxError::from).boxed());
    let (outcome, resp) = tokio::join!(
        produce(ctx, s, body, format, coding, tx, peer),
        ctx.client.request(up)
    );
    match outcome {
        Ok(sent) => Ok(relay(ctx, resp, sent)),
        // It answered (relayed as it is) or failed (502) before taking it all.
        Err(Refusal::UpstreamGone) => Ok(relay(ctx, resp, 0)),
        Err(refused) => Err(refused),
    }
}

/// Reads, redacts and sends a streamed body; `tx` gets [`Chunk::End`] only
/// when all of it went through. Returns the bytes sent.
async fn produce(
    ctx: &Ctx,
    s: &mut Scratch,
    body: Incoming,
    format: Format,
    coding: Coding,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    peer: SocketAddr,
) -> Result<u64, Refusal> {
    let c = &ctx.counters;
    let parts = s.take_parts();
    let before = parts.red.stats().bytes_redacted;
    let mut st =
        match StreamRedactor::new(parts, format, coding, ctx.cfg.max_body, ctx.cfg.max_line) {
            Ok(st) => st,
            Err(parts) => {
                s.parts = Some(*parts);
                return Err(Refusal::Refused(
                    Refused::Internal,
                    "cannot stream this body".into(),
                ));
            }
        };
    let mut feed = Feed {
        ctx,
        peer,
        tx: &tx,
        sent: 0,
        busy: Duration::ZERO,
        findings: Vec::new(),
    };
    let failure = feed.frames(&mut st, body).await.err();
    let t = tokio::time::Instant::now();
    let (rest, parts) = st.finish(&mut feed.findings);
    feed.busy += t.elapsed();
    c.report(Some(peer), &feed.findings);
    if let Some(p) = &parts {
        Counters::add(
            &c.bytes_redacted,
            p.red.stats().bytes_redacted.saturating_sub(before),
        );
    }
    s.parts = parts;
    c.processing.observe(feed.busy);
    if let Some(f) = failure {
        // Dropping `tx` without `End` aborts the upstream request.
        return Err(f);
    }
    feed.send(rest?).await?;
    tx.send(Chunk::End)
        .await
        .map_err(|_| Refusal::UpstreamGone)?;
    Ok(feed.sent)
}

/// One streamed body on its way: where its output goes, and its tallies.
struct Feed<'a> {
    ctx: &'a Ctx,
    peer: SocketAddr,
    tx: &'a tokio::sync::mpsc::Sender<Chunk>,
    /// Bytes handed upstream.
    sent: u64,
    /// Time spent redacting.
    busy: Duration,
    findings: Vec<Finding>,
}

impl Feed<'_> {
    /// Feeds every frame of `body` through `st`, handing output upstream
    /// as it accumulates. Each frame is dropped once fed (it pins hyper's
    /// read buffer while held).
    async fn frames(&mut self, st: &mut StreamRedactor, mut body: Incoming) -> Result<(), Refusal> {
        let c = &self.ctx.counters;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(unreadable)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: not forwarded
            };
            Counters::add(&c.bytes_in, data.len() as u64);
            // A frame can be large, and a compressed piece expands: output
            // is handed on after every piece, so what waits stays bounded.
            for piece in data.chunks(PIECE) {
                let t = tokio::time::Instant::now();
                let r = st.write(piece);
                self.busy += t.elapsed();
                st.take_findings(&mut self.findings);
                c.report(Some(self.peer), &self.findings);
                self.findings.clear();
                r?;
                if st.output_len() >= STREAM_CHUNK {
                    self.send(st.take_output()).await?;
                }
            }
        }
        Ok(())
    }

    /// Hands `out` upstream (nothing when empty).
    async fn send(&mut self, out: Vec<u8>) -> Result<(), Refusal> {
        if out.is_empty() {
            return Ok(());
        }
        let n = out.len() as u64;
        self.tx
            .send(Chunk::Data(Bytes::from(out)))
            .await
            .map_err(|_| Refusal::UpstreamGone)?;
        self.sent += n;
        Ok(())
    }
}

/// Answers a refused request: counted by reason, logged at info (at most
/// [`LOG_BURST`] lines per [`LOG_WINDOW`] per listener; the next line says
/// how many went unlogged).
fn refuse(ctx: &Ctx, peer: SocketAddr, reason: Refused, msg: String) -> Response<ProxyBody> {
    let c = &ctx.counters;
    c.http_refused.add(reason);
    Counters::add(&c.dropped_too_large, u64::from(reason == Refused::TooLarge));
    let status = refusal_status(reason);
    if let Some(unlogged) = ctx.refusal_log.admit(tokio::time::Instant::now()) {
        info!(listener = %ctx.cfg.name, %peer, status = status.as_u16(),
              reason = reason.label(), why = %msg, unlogged, "request refused");
    }
    let mut resp = plain(status, msg);
    if reason == Refused::Busy {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Refused requests are logged at most this many times per window.
const LOG_BURST: u32 = 5;
/// See [`LOG_BURST`].
const LOG_WINDOW: Duration = Duration::from_secs(10);

/// Past this body size, a connection's body scratch is made anew after use.
const KEEP_SCRATCH: usize = 1 << 20;

fn redact_body(
    ctx: &Ctx,
    s: &mut Scratch,
    coding: Coding,
    format: Format,
    wire: &[u8],
    peer: SocketAddr,
    lease: &mut Lease,
) -> Result<Bytes, Refusal> {
    let decoded = decode(coding, wire, ctx.cfg.max_body)?;
    // The wire body, the decoded one (when it is a copy) and the redacted
    // copy.
    let copied = match &decoded {
        std::borrow::Cow::Owned(d) => d.len(),
        std::borrow::Cow::Borrowed(_) => 0,
    };
    covered(lease, wire.len() + copied + decoded.len())?;
    let start = tokio::time::Instant::now();
    let Parts { red, body } = s.parts();
    let before = red.stats().bytes_redacted;
    let mut out = Vec::with_capacity(decoded.len() + 64);
    let mut findings = Vec::new();
    body.redact(
        red,
        format,
        &decoded,
        ctx.cfg.max_body,
        &mut out,
        &mut findings,
    )?;
    ctx.counters.report(Some(peer), &findings);
    ctx.counters.processing.observe(start.elapsed());
    Counters::add(
        &ctx.counters.bytes_redacted,
        red.stats().bytes_redacted - before,
    );
    if decoded.len() > KEEP_SCRATCH {
        // A connection keeps its scratch between requests: not the size of
        // its largest body.
        *body = BodyRedactor::new();
    }
    Ok(Bytes::from(encode(coding, out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_lines_are_limited_per_window_and_say_what_went_unlogged() {
        let log = net::LogEvery::new(LOG_BURST, LOG_WINDOW);
        let t0 = tokio::time::Instant::now();
        let admitted = |n, at| (0..n).map(|_| log.admit(at)).collect::<Vec<_>>();
        assert_eq!(admitted(LOG_BURST, t0), vec![Some(0); LOG_BURST as usize]);
        assert_eq!(admitted(7, t0), vec![None; 7]);
        let almost = t0 + LOG_WINDOW - Duration::from_millis(1);
        assert_eq!(log.admit(almost), None);
        assert_eq!(log.admit(t0 + LOG_WINDOW), Some(8));
        assert_eq!(log.admit(t0 + LOG_WINDOW), Some(0));
    }
}

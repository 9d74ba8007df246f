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
//! Bodies are buffered, bounded by `max_body` (decoded bytes; the wire size
//! is bounded by it too): over it the answer is 413, a body that cannot be
//! decoded or parsed gets 400 (415 for an unknown coding), and nothing of
//! such a body is forwarded. An unreachable upstream answers 502.
//! Connections are kept alive both ways; on shutdown, connections finish
//! their current request and close.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::http_body::{decode, encode, BodyRedactor, Coding, Format};
use super::net::{self, Counters, EngineWatch, Shutdown, Stop};
use crate::metrics::RuleCounts;

/// Settings of one HTTP proxy listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener name (logs, metrics).
    pub name: String,
    /// `http://host:port` the requests go to (its path is a prefix).
    pub upstream: Uri,
    /// Largest decoded request body, in bytes.
    pub max_body: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time connections get to finish after shutdown begins.
    pub drain: Duration,
    /// Bound on one upstream connect.
    pub connect_timeout: Duration,
}

impl Config {
    /// Defaults for a listener forwarding to `upstream`.
    pub fn new(name: impl Into<String>, upstream: Uri) -> Config {
        Config {
            name: name.into(),
            upstream,
            max_body: 16 << 20,
            max_connections: 1024,
            drain: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

struct Ctx {
    cfg: Config,
    engine: EngineWatch,
    counters: Arc<Counters>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Serves `listener` until `stop`, then lets connections finish.
pub async fn serve(
    listener: TcpListener,
    cfg: Config,
    engine: EngineWatch,
    counters: Arc<Counters>,
    stop: Stop,
) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(cfg.connect_timeout));
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let (name, max, deadline) = (cfg.name.clone(), cfg.max_connections, cfg.drain);
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
    });
    let serve_one = move |stream: TcpStream, peer: SocketAddr, shutdown: Shutdown| {
        let ctx = Arc::clone(&ctx);
        connection(stream, peer, ctx, shutdown)
    };
    net::accept_loop(listener, &name, max, &counters, stop, deadline, serve_one).await;
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
    let Some(authority) = upstream.authority().map(|a| {
        if a.port().is_some() {
            a.to_string()
        } else {
            format!("{a}:80")
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
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    // Requests on one HTTP/1.1 connection come one after another: one
    // redactor and one set of scratch buffers serve them all (the lock is
    // never contended, and never held across an await).
    let scratch = Arc::new(std::sync::Mutex::new(Scratch::new(&ctx.engine)));
    let service = {
        let ctx = Arc::clone(&ctx);
        service_fn(move |req: Request<Incoming>| {
            let ctx = Arc::clone(&ctx);
            let scratch = Arc::clone(&scratch);
            async move { Ok::<_, Infallible>(proxy(req, &ctx, &scratch, peer).await) }
        })
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
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
    red: crate::engine::Redactor,
    body: BodyRedactor,
}

impl Scratch {
    fn new(engine: &EngineWatch) -> Scratch {
        let mut engine = engine.clone();
        let red = engine.borrow_and_update().redactor();
        Scratch {
            engine,
            red,
            body: BodyRedactor::new(),
        }
    }
}

async fn proxy(
    req: Request<Incoming>,
    ctx: &Ctx,
    scratch: &std::sync::Mutex<Scratch>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    let c = &ctx.counters;
    Counters::add(&c.messages_in, 1);
    let (parts, body) = req.into_parts();
    let header = |n: header::HeaderName| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let Some(coding) = Coding::parse(header(header::CONTENT_ENCODING)) else {
        return refuse(
            ctx,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Encoding".into(),
        );
    };
    let format = Format::classify(parts.uri.path(), header(header::CONTENT_TYPE));
    let max = ctx.cfg.max_body;
    let wire = match Limited::new(body, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return refuse(
                ctx,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body exceeds {max} bytes"),
            );
        }
        Err(e) => {
            return refuse(
                ctx,
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
    };
    Counters::add(&c.bytes_in, wire.len() as u64);
    let body = if wire.is_empty() {
        wire
    } else {
        let mut guard = match scratch.lock() {
            Ok(g) => g,
            // A panic elsewhere poisoned it: start over with fresh scratch.
            Err(p) => p.into_inner(),
        };
        match redact_body(ctx, &mut guard, coding, format, &wire, peer) {
            Ok(b) => b,
            Err((status, msg)) => return refuse(ctx, status, msg),
        }
    };
    let uri = match upstream_uri(&ctx.cfg.upstream, &parts.uri) {
        Ok(u) => u,
        Err(e) => return refuse(ctx, StatusCode::BAD_REQUEST, e),
    };
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    let len = body.len();
    let mut up = Request::new(Full::new(body));
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    if len > 0 || parts.headers.contains_key(header::CONTENT_LENGTH) {
        up.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    match ctx.client.request(up).await {
        Ok(resp) => {
            c.upstream_up.store(1, std::sync::atomic::Ordering::Relaxed);
            Counters::add(&c.messages_out, 1);
            Counters::add(&c.bytes_out, len as u64);
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

fn refuse(ctx: &Ctx, status: StatusCode, msg: String) -> Response<ProxyBody> {
    Counters::add(
        &ctx.counters.dropped_too_large,
        u64::from(status == StatusCode::PAYLOAD_TOO_LARGE),
    );
    debug!(listener = %ctx.cfg.name, status = status.as_u16(), reason = %msg, "request refused");
    plain(status, msg)
}

fn redact_body(
    ctx: &Ctx,
    scratch: &mut Scratch,
    coding: Coding,
    format: Format,
    wire: &[u8],
    peer: SocketAddr,
) -> Result<Bytes, (StatusCode, String)> {
    let fail = |e: super::http_body::BodyError| {
        (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            e.to_string(),
        )
    };
    let decoded = decode(coding, wire, ctx.cfg.max_body).map_err(fail)?;
    let start = tokio::time::Instant::now();
    if let Some(e) = net::reloaded(&mut scratch.engine) {
        scratch.red = e.redactor();
    }
    let before = scratch.red.stats().bytes_redacted;
    let mut out = Vec::with_capacity(decoded.len() + 64);
    let mut findings = Vec::new();
    let Scratch { red, body, .. } = scratch;
    body.redact(
        red,
        format,
        &decoded,
        ctx.cfg.max_body,
        &mut out,
        &mut findings,
    )
    .map_err(fail)?;
    let mut by_rule = RuleCounts::default();
    for f in &findings {
        by_rule.add(&f.rule);
    }
    ctx.counters.count_findings(&by_rule);
    ctx.counters.alert(Some(peer), &findings);
    ctx.counters.processing.observe(start.elapsed());
    Counters::add(
        &ctx.counters.bytes_redacted,
        red.stats().bytes_redacted - before,
    );
    Ok(Bytes::from(encode(coding, &out)))
}

//! `redactd tcp`: a byte-stream proxy in front of any line receiver.
//!
//! Each client gets its own upstream connection, opened first (if it cannot
//! be opened the client is closed and the failure counted), and its own
//! [`Redactor`]. Client bytes go upstream redacted and in order; upstream
//! bytes come back untouched.
//!
//! - **Backpressure**: a client is read only after its previous redacted
//!   bytes were written upstream, so a slow upstream slows the client and
//!   nothing is spooled. Memory per connection is one read buffer (given
//!   back while the client is idle) plus the redactor's window.
//! - **Idle flush**: when the client pauses with bytes held back, they are
//!   released after the flush interval as far as no secret can still be in
//!   progress across them ([`Redactor::flush_idle`]).
//! - **Half-close**: client EOF finishes the redactor and shuts down the
//!   upstream's write side; upstream EOF shuts down the client's write side.
//! - **Readiness**: `upstream_up` is the outcome of the last dial; after a
//!   failed one the upstream is probed with backoff until a dial succeeds,
//!   so `/readyz` recovers without client traffic.
//! - **TLS**: optionally terminated from clients (with client certificates
//!   when a client CA is configured) and originated towards the upstream.
//! - **Shutdown**: the listener stops accepting; connections stop reading,
//!   release what is safe, drop (and count) only bytes where a secret may
//!   still be in progress, half-close the upstream and get the drain
//!   deadline to finish.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::net::{self, Backoff, Counters, Dialer, EngineWatch, Out, Shutdown, Stop};
use super::tls::BoxStream;
use crate::metrics::StatsCursor;

/// Settings of one TCP proxy listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener name (logs, metrics).
    pub name: String,

    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Idle time after which held-back bytes are flushed.
    pub flush: Duration,
    /// Bound on one upstream connect.
    pub connect_timeout: Duration,
    /// Time connections get to finish after shutdown begins.
    pub drain: Duration,
    /// Read buffer size.
    pub read_size: usize,
}

/// Bytes read from a client at once.
pub const READ_SIZE: usize = 64 * 1024;

/// How a listener's connections are secured at each end.
pub struct Ends {
    /// Reaches the upstream (plain or TLS).
    pub upstream: Dialer,
    /// Terminates TLS from clients, when set.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Ends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ends")
            .field("upstream", &self.upstream)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

struct Ctx {
    cfg: Config,
    ends: Ends,
    engine: EngineWatch,
    counters: Arc<Counters>,
}

/// Serves `listener` until `shutdown`, then drains connections for at most
/// the configured deadline.
pub async fn serve(
    listener: TcpListener,
    cfg: Config,
    ends: Ends,
    engine: EngineWatch,
    counters: Arc<Counters>,
    stop: Stop,
) {
    let (name, max, deadline) = (cfg.name.clone(), cfg.max_connections, cfg.drain);
    let ctx = Arc::new(Ctx {
        cfg,
        ends,
        engine,
        counters: Arc::clone(&counters),
    });
    // Not known to be down until a dial fails (see `probe_upstream`).
    counters.upstream_up.store(1, Ordering::Relaxed);
    let probe = tokio::spawn(probe_upstream(Arc::clone(&ctx)));
    let serve_one = move |client: TcpStream, peer: SocketAddr, shutdown: Shutdown| {
        let ctx = Arc::clone(&ctx);
        async move { handle(client, peer, &ctx, shutdown).await }
    };
    net::accept_loop(listener, &name, max, &counters, stop, deadline, serve_one).await;
    probe.abort();
}

/// After a dial failed (`upstream_up` is 0), dials the upstream with
/// backoff until one succeeds, so readiness comes back without waiting for
/// a client. While the upstream is up nothing is dialed: each client's own
/// dial keeps `upstream_up` current, and an upstream is never sent empty
/// probe connections while it works.
async fn probe_upstream(ctx: Arc<Ctx>) {
    let mut backoff = Backoff::new();
    loop {
        if ctx.counters.upstream_is_up() {
            backoff.reset();
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tokio::time::sleep(backoff.next_delay()).await;
        if ctx.counters.upstream_is_up() {
            continue;
        }
        match ctx.ends.upstream.dial().await {
            Ok(mut s) => {
                ctx.counters.upstream_up.store(1, Ordering::Relaxed);
                let _ = s.shutdown().await;
            }
            Err(e) => {
                Counters::add(&ctx.counters.upstream_errors, 1);
                debug!(listener = %ctx.cfg.name, error = %e, "upstream still unreachable");
            }
        }
    }
}

/// The client's read side. A plain connection waits for data before it
/// takes a read buffer, so an idle one holds none; a TLS session keeps
/// rustls' buffers anyway.
enum ClientRead {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<BoxStream>),
}

impl ClientRead {
    /// Reads into `buf` (allocated to `size` when empty). Cancel safe.
    async fn read_some(&mut self, buf: &mut Vec<u8>, size: usize) -> io::Result<usize> {
        match self {
            ClientRead::Plain(r) => loop {
                r.readable().await?;
                if buf.is_empty() {
                    buf.resize(size, 0);
                }
                match r.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            },
            ClientRead::Tls(r) => {
                if buf.is_empty() {
                    buf.resize(size, 0);
                }
                r.read(buf).await
            }
        }
    }
}

enum Event {
    Data(usize),
    Idle,
    Shutdown,
}

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    ctx: &Ctx,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let (mut cr, mut cw): (ClientRead, Writer) = match &ctx.ends.tls {
        None => {
            let (r, w) = client.into_split();
            (ClientRead::Plain(r), Box::new(w))
        }
        Some(acceptor) => {
            let (c, name, t) = (&ctx.counters, &ctx.cfg.name, ctx.cfg.connect_timeout);
            let Some(s) = net::accept_tls(acceptor, client, t, c, name, peer).await else {
                return Ok(());
            };
            let (r, w) = tokio::io::split(Box::new(s) as BoxStream);
            (ClientRead::Tls(r), Box::new(w))
        }
    };
    let upstream = match ctx.ends.upstream.dial().await {
        Ok(s) => s,
        Err(e) => {
            Counters::add(&ctx.counters.upstream_errors, 1);
            ctx.counters.upstream_up.store(0, Ordering::Relaxed);
            warn!(listener = %ctx.cfg.name, %peer, upstream = %ctx.ends.upstream.addr(), error = %e,
                  "upstream unreachable; closing client");
            return Ok(());
        }
    };
    Counters::add(&ctx.counters.upstream_connects, 1);
    ctx.counters.upstream_up.store(1, Ordering::Relaxed);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    // Upstream to client, untouched. Ends at upstream EOF or error.
    let back = tokio::spawn(async move {
        let r = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
        r
    });

    let mut engine = ctx.engine.clone();
    let mut red = engine.borrow_and_update().redactor();
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let counters = &ctx.counters;
    let mut stats = StatsCursor::default();
    let forward = async {
        loop {
            let held = red.pending() > 0;
            let ev = tokio::select! {
                biased;
                _ = shutdown.wait() => Event::Shutdown,
                r = cr.read_some(&mut buf, ctx.cfg.read_size) => Event::Data(r?),
                _ = tokio::time::sleep(ctx.cfg.flush), if held => Event::Idle,
            };
            let start = tokio::time::Instant::now();
            let mut sink = Out::new(&mut out);
            let eof = match ev {
                Event::Data(0) => {
                    red.finish(&mut sink);
                    true
                }
                Event::Data(n) => {
                    Counters::add(&counters.bytes_in, n as u64);
                    // A reload takes effect where nothing is held back.
                    if red.pending() == 0 {
                        if let Some(e) = net::reloaded(&mut engine) {
                            red = e.redactor();
                            stats.restart();
                        }
                    }
                    red.write(&buf[..n], &mut sink);
                    false
                }
                Event::Idle => {
                    red.flush_idle(&mut sink);
                    // An idle client gives its read buffer back.
                    buf = Vec::new();
                    false
                }
                Event::Shutdown => {
                    red.flush_idle(&mut sink);
                    let held = red.pending();
                    if held > 0 {
                        // A secret may be in progress here and the rest of
                        // it will never be read: fail closed.
                        warn!(listener = %ctx.cfg.name, %peer, bytes = held,
                              "shutdown: dropping held bytes where a secret may be in progress");
                    }
                    true
                }
            };
            counters.processing.observe(start.elapsed());
            counters.count_findings(&sink.by_rule);
            counters.alert(Some(peer), &sink.found);
            stats.update(red.stats(), counters);
            if !out.is_empty() {
                uw.write_all(&out).await?;
                Counters::add(&counters.bytes_out, out.len() as u64);
                out.clear();
            }
            if eof {
                uw.shutdown().await?;
                return Ok(());
            }
        }
    };
    let r = forward.await;
    let stats = red.stats();
    if r.is_err() {
        back.abort();
        return r;
    }
    match back.await {
        Ok(Ok(_)) | Err(_) => {}
        Ok(Err(e)) => debug!(listener = %ctx.cfg.name, %peer, error = %e, "upstream to client"),
    }
    debug!(listener = %ctx.cfg.name, %peer, bytes_in = stats.bytes_in, bytes_out = stats.bytes_out,
          "connection closed");
    Ok(())
}

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

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::counters::StatsCursor;
use crate::engine::Redactor;
use crate::net::slots::{Ended, Slot, Slots, Timeouts};
use crate::net::tls::BoxStream;
use crate::net::{self, Backoff, Counters, Dialer, EngineWatch, LogEvery, Out, Shutdown, Stop};

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
    /// Idle and message (line) timeouts of client connections.
    pub timeouts: Timeouts,
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
    /// "Holding clients while the upstream is down", rate limited.
    waiting: LogEvery,
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
        waiting: LogEvery::new(1, Duration::from_secs(10)),
    });
    // Not known to be down until a dial fails (see `probe_upstream`).
    counters.upstream_up.store(1, Ordering::Relaxed);
    let probe = tokio::spawn(probe_upstream(Arc::clone(&ctx)));
    let slots = Slots::new(max, ctx.cfg.timeouts);
    let serve_one = move |client: TcpStream, peer: SocketAddr, shutdown: Shutdown, slot: Slot| {
        let ctx = Arc::clone(&ctx);
        async move { handle(client, peer, &ctx, shutdown, slot).await }
    };
    net::accept_loop(listener, &name, slots, &counters, stop, deadline, serve_one).await;
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
    /// Shutdown began: read on until the client goes quiet.
    Stop,
    /// Shutdown is under way and nothing more arrived (or the time for
    /// reading ran out).
    Quiet,
    /// The slot ended the connection.
    Ended(Ended),
}

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// After shutdown begins, a connection goes on reading what its client had
/// already sent until nothing more arrives for this long.
const QUIET: Duration = Duration::from_millis(200);

async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    ctx: &Ctx,
    mut shutdown: Shutdown,
    slot: Slot,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let Some((cr, mut cw)) = accept(client, peer, ctx).await else {
        return Ok(());
    };
    let Some(upstream) = dial(peer, ctx, &slot, &mut shutdown).await else {
        return Ok(());
    };
    let (mut ur, uw) = tokio::io::split(upstream);
    // Upstream to client, untouched. Ends at upstream EOF or error.
    let back = tokio::spawn(async move {
        let r = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
        r
    });
    let (r, stats) = forward(cr, uw, peer, ctx, shutdown, &slot).await;
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

/// The client's two halves, after its TLS handshake when the listener
/// has TLS; `None` when that failed (counted).
async fn accept(client: TcpStream, peer: SocketAddr, ctx: &Ctx) -> Option<(ClientRead, Writer)> {
    match &ctx.ends.tls {
        None => {
            let (r, w) = client.into_split();
            Some((ClientRead::Plain(r), Box::new(w)))
        }
        Some(acceptor) => {
            let (c, name, t) = (&ctx.counters, &ctx.cfg.name, ctx.cfg.connect_timeout);
            let s = net::accept_tls(acceptor, client, t, c, name, peer).await?;
            let (r, w) = tokio::io::split(Box::new(s) as BoxStream);
            Some((ClientRead::Tls(r), Box::new(w)))
        }
    }
}

/// Connects the client's upstream, retrying with backoff while it is
/// down. The client is not read meanwhile: what it sends waits in its
/// socket (TCP flow control holds it back), so nothing it sent is lost to
/// an upstream restart. `None` when shutdown begins or the slot ends first.
async fn dial(
    peer: SocketAddr,
    ctx: &Ctx,
    slot: &Slot,
    shutdown: &mut Shutdown,
) -> Option<BoxStream> {
    let mut backoff = Backoff::new();
    loop {
        match ctx.ends.upstream.dial().await {
            Ok(s) => {
                Counters::add(&ctx.counters.upstream_connects, 1);
                ctx.counters.upstream_up.store(1, Ordering::Relaxed);
                return Some(s);
            }
            Err(e) => {
                Counters::add(&ctx.counters.upstream_errors, 1);
                ctx.counters.upstream_up.store(0, Ordering::Relaxed);
                ctx.waiting.log(|n| {
                    warn!(listener = %ctx.cfg.name, %peer, upstream = %ctx.ends.upstream.addr(),
                          error = %e, unlogged = n,
                          "upstream unreachable; clients wait (unread) until it is back")
                });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = shutdown.wait() => return None,
            e = slot.ended() => {
                if e != Ended::Evicted {
                    Counters::add(&ctx.counters.connections_timed_out, 1);
                }
                return None;
            }
        }
    }
}

/// Client to upstream, redacted, until the client's EOF, the end of
/// shutdown's reading, or the slot's end. Returns the engine's final
/// stats with the outcome.
async fn forward(
    mut cr: ClientRead,
    mut uw: WriteHalf<BoxStream>,
    peer: SocketAddr,
    ctx: &Ctx,
    mut shutdown: Shutdown,
    slot: &Slot,
) -> (io::Result<()>, crate::engine::Stats) {
    let mut engine = ctx.engine.clone();
    let red = engine.borrow_and_update().redactor();
    let mut s = Scrub {
        ctx,
        peer,
        engine,
        red,
        stats: StatsCursor::default(),
        buf: Vec::new(),
        out: Vec::new(),
    };
    let mut draining: Option<Instant> = None;
    let r = async {
        loop {
            let held = s.red.pending() > 0;
            let quiet_at = draining.map(|_| Instant::now() + QUIET);
            let ev = tokio::select! {
                biased;
                _ = shutdown.wait(), if draining.is_none() => Event::Stop,
                // The time for reading after shutdown is over.
                _ = sleep_until(draining), if draining.is_some() => Event::Quiet,
                // Bytes before silence: under load the task may be polled
                // late, and what is readable must win over the quiet timer.
                r = slot.read(cr.read_some(&mut s.buf, ctx.cfg.read_size)) => match r {
                    Ok(r) => Event::Data(r?),
                    Err(e) => Event::Ended(e),
                },
                _ = sleep_until(quiet_at), if draining.is_some() => Event::Quiet,
                _ = tokio::time::sleep(ctx.cfg.flush), if held => Event::Idle,
            };
            if let Event::Stop = ev {
                draining = Some(Instant::now() + ctx.cfg.drain / 2);
                continue;
            }
            let eof = s.redact(&ev, slot);
            if !s.out.is_empty() {
                uw.write_all(&s.out).await?;
                Counters::add(&ctx.counters.bytes_out, s.out.len() as u64);
                s.out.clear();
            }
            if eof {
                uw.shutdown().await?;
                return Ok(());
            }
            // Redaction is CPU work with no await inside: let other
            // connections run between reads.
            tokio::task::consume_budget().await;
        }
    }
    .await;
    (r, s.red.stats().clone())
}

/// One connection's redaction: its redactor, the engine it follows, its
/// read buffer and the output waiting to be written.
struct Scrub<'a> {
    ctx: &'a Ctx,
    peer: SocketAddr,
    engine: EngineWatch,
    red: Redactor,
    stats: StatsCursor,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Scrub<'_> {
    /// Redacts what `ev` brought into `out`; whether the stream ends.
    fn redact(&mut self, ev: &Event, slot: &Slot) -> bool {
        let counters = &self.ctx.counters;
        let start = Instant::now();
        let mut sink = Out::new(&mut self.out);
        let eof = match *ev {
            Event::Data(0) => {
                self.red.finish(&mut sink);
                true
            }
            Event::Data(n) => {
                Counters::add(&counters.bytes_in, n as u64);
                // A reload takes effect where nothing is held back.
                if self.red.pending() == 0 {
                    if let Some(e) = net::reloaded(&mut self.engine) {
                        self.red = e.redactor();
                        self.stats.restart();
                    }
                }
                self.red.write(&self.buf[..n], &mut sink);
                // A line in progress is a message in progress.
                slot.between_messages(self.buf[n - 1] == b'\n');
                false
            }
            Event::Idle => {
                self.red.flush_idle(&mut sink);
                // An idle client gives its read buffer back.
                self.buf = Vec::new();
                false
            }
            Event::Quiet | Event::Ended(_) => {
                end_early(&mut self.red, &mut sink, ev, self.peer, self.ctx);
                true
            }
            Event::Stop => false,
        };
        counters.processing.observe(start.elapsed());
        counters.count_findings(&sink.by_rule);
        counters.alert(Some(self.peer), &sink.found);
        self.stats.update(self.red.stats(), counters);
        eof
    }
}

/// The connection ends before its client did (shutdown, eviction, a
/// timeout): what is safe is released; bytes where a secret may still be in
/// progress are dropped, and counted.
fn end_early(red: &mut Redactor, sink: &mut Out<'_>, ev: &Event, peer: SocketAddr, ctx: &Ctx) {
    red.flush_idle(sink);
    let c = &ctx.counters;
    if let Event::Ended(e) = ev {
        if *e != Ended::Evicted {
            Counters::add(&c.connections_timed_out, 1);
        }
        debug!(listener = %ctx.cfg.name, %peer, reason = %e, "closing");
    }
    let held = red.pending();
    if held > 0 {
        // The rest of it will never be read: fail closed.
        let counter = match ev {
            Event::Quiet => &c.dropped_shutdown,
            _ => &c.dropped_incomplete,
        };
        Counters::add(counter, 1);
        warn!(listener = %ctx.cfg.name, %peer, bytes = held,
              "dropping held bytes where a secret may be in progress");
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

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
//! - **Shutdown**: the listener stops accepting; connections stop reading,
//!   release what is safe, drop (and count) only bytes where a secret may
//!   still be in progress, half-close the upstream and get the drain
//!   deadline to finish.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::net::{self, Counters, Out, Shutdown};
use crate::engine::{Options, Redactor};
use crate::rules::RuleSet;

/// Settings of one TCP proxy listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener name (logs, metrics).
    pub name: String,
    /// `host:port` to forward to.
    pub upstream: String,
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

impl Config {
    /// Defaults for a listener forwarding to `upstream`.
    pub fn new(name: impl Into<String>, upstream: impl Into<String>) -> Config {
        Config {
            name: name.into(),
            upstream: upstream.into(),
            max_connections: 1024,
            flush: Duration::from_millis(20),
            connect_timeout: Duration::from_secs(5),
            drain: Duration::from_secs(5),
            read_size: 64 * 1024,
        }
    }
}

struct Ctx {
    cfg: Config,
    rules: Arc<RuleSet>,
    opts: Options,
    counters: Arc<Counters>,
}

/// Serves `listener` until `shutdown`, then drains connections for at most
/// the configured deadline.
pub async fn serve(
    listener: TcpListener,
    cfg: Config,
    rules: Arc<RuleSet>,
    opts: Options,
    counters: Arc<Counters>,
    mut shutdown: Shutdown,
) {
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
    let drain = cfg.drain;
    let ctx = Arc::new(Ctx {
        cfg,
        rules,
        opts,
        counters,
    });
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (client, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off briefly, keep serving.
                        warn!(listener = %ctx.cfg.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                    Counters::add(&ctx.counters.connections_rejected, 1);
                    debug!(listener = %ctx.cfg.name, %peer, "connection limit reached; closed");
                    continue;
                };
                let ctx = Arc::clone(&ctx);
                let shutdown = shutdown.clone();
                conns.spawn(async move {
                    Counters::add(&ctx.counters.connections_accepted, 1);
                    Counters::add(&ctx.counters.connections_active, 1);
                    if let Err(e) = handle(client, peer, &ctx, shutdown).await {
                        debug!(listener = %ctx.cfg.name, %peer, error = %e, "connection ended");
                    }
                    ctx.counters.connections_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        warn!(listener = %ctx.cfg.name, open = conns.len(), "drain deadline passed; closing connections");
        conns.shutdown().await;
    }
}

enum Event {
    Readable,
    Idle,
    Shutdown,
}

async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    ctx: &Ctx,
    mut shutdown: Shutdown,
) -> io::Result<()> {
    let upstream = match net::connect(&ctx.cfg.upstream, ctx.cfg.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            Counters::add(&ctx.counters.upstream_errors, 1);
            warn!(listener = %ctx.cfg.name, %peer, upstream = %ctx.cfg.upstream, error = %e,
                  "upstream unreachable; closing client");
            return Ok(());
        }
    };
    Counters::add(&ctx.counters.upstream_connects, 1);
    client.set_nodelay(true)?;
    let (cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    // Upstream to client, untouched. Ends at upstream EOF or error.
    let back = tokio::spawn(async move {
        let r = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
        r
    });

    let mut red = Redactor::new(Arc::clone(&ctx.rules), ctx.opts.clone());
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let counters = &ctx.counters;
    let forward = async {
        loop {
            let held = red.pending() > 0;
            let ev = tokio::select! {
                biased;
                _ = shutdown.wait() => Event::Shutdown,
                r = cr.readable() => { r?; Event::Readable }
                _ = tokio::time::sleep(ctx.cfg.flush), if held => Event::Idle,
            };
            let mut sink = Out::new(&mut out);
            let eof = match ev {
                Event::Readable => {
                    if buf.is_empty() {
                        buf.resize(ctx.cfg.read_size, 0);
                    }
                    match cr.try_read(&mut buf) {
                        Ok(0) => {
                            red.finish(&mut sink);
                            true
                        }
                        Ok(n) => {
                            Counters::add(&counters.bytes_in, n as u64);
                            red.write(&buf[..n], &mut sink);
                            false
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
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
            Counters::add(&counters.findings, sink.findings);
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
    Counters::add(&counters.bytes_redacted, stats.bytes_redacted);
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

//! What the network modes share, below them: accepting connections into
//! [`slots`] (limits, eviction, timeouts), the memory [`budget`] for
//! incomplete messages, [`tls`] on either side, dialing upstreams with
//! backoff, the shutdown signal, the engine watch, rate-limited logs and
//! the ready file. Tallies are [`crate::counters`]'.

pub mod budget;
pub mod slots;
pub mod tls;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

use self::slots::{Admission, Slot, Slots};
use self::tls::{BoxStream, ClientTls, TlsError};

pub use crate::counters::{Counters, Out, Tally};
use crate::engine::{Options, Redactor};
use crate::rules::RuleSet;

/// What redacts: the rules and options in force. Modes hold an
/// [`EngineWatch`] and pick up a reloaded engine at a safe point (between
/// syslog messages; in a stream, when nothing is held back).
#[derive(Debug, Clone)]
pub struct Engine {
    /// The compiled rules.
    pub rules: Arc<RuleSet>,
    /// Style and fingerprint key.
    pub opts: Options,
}

impl Engine {
    /// A fresh redactor with this engine.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(Arc::clone(&self.rules), self.opts.clone())
    }
}

/// The current engine, replaced on reload.
pub type EngineWatch = watch::Receiver<Engine>;

/// An engine that never changes (the single-mode commands).
pub fn fixed_engine(rules: Arc<RuleSet>, opts: Options) -> EngineWatch {
    // The sender goes at once: receivers keep the value and never see a
    // change.
    watch::channel(Engine { rules, opts }).1
}

/// Takes the newest engine if it changed since this receiver last looked.
pub fn reloaded(engine: &mut EngineWatch) -> Option<Engine> {
    match engine.has_changed() {
        Ok(true) => Some(engine.borrow_and_update().clone()),
        _ => None,
    }
}

/// When a listener stops: `accept` ends its accept loop (reload replaced or
/// removed it: its connections go on until they end), `drain` is the
/// process shutting down (connections stop reading, drain within the
/// deadline).
#[derive(Debug, Clone)]
pub struct Stop {
    /// Stop accepting new connections.
    pub accept: Shutdown,
    /// Stop everything.
    pub drain: Shutdown,
}

impl Stop {
    /// Both signals from one trigger (the single-mode commands).
    pub fn single(s: &Shutdown) -> Stop {
        Stop {
            accept: s.clone(),
            drain: s.clone(),
        }
    }
}

/// A TCP listener's accept loop, shared by the modes: connections admitted
/// by `slots` (a full listener evicts its stalest connection for a
/// newcomer, or refuses the newcomer when every connection is making
/// progress: see [`slots`]; both counted and logged, rate limited),
/// accept errors (EMFILE and friends) backed off, each connection counted
/// while it runs. `handle` serves one connection; it gets the drain signal
/// and the connection's [`Slot`], which it holds to the end. When
/// `stop.accept` or `stop.drain` fires the listener closes, and connections
/// are waited for as [`drain_connections`] does.
#[allow(clippy::too_many_arguments)]
pub async fn accept_loop<F, Fut>(
    listener: tokio::net::TcpListener,
    name: &str,
    slots: Arc<Slots>,
    counters: &Arc<Counters>,
    stop: Stop,
    deadline: Duration,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr, Shutdown, Slot) -> Fut,
    Fut: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    let Stop {
        mut accept,
        mut drain,
    } = stop;
    let refusals = LogEvery::new(5, Duration::from_secs(10));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = accept.wait() => break,
            _ = drain.wait() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (client, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(listener = name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let slot = match slots.admit() {
                    Admission::Admitted(slot) => slot,
                    Admission::Evicted(slot) => {
                        Counters::add(&counters.connections_evicted, 1);
                        refusals.log(|n| tracing::info!(listener = name, %peer, unlogged = n,
                            "listener full: the stalest connection gave its slot to a new one"));
                        slot
                    }
                    Admission::Full => {
                        Counters::add(&counters.connections_rejected, 1);
                        refusals.log(|n| tracing::info!(listener = name, %peer, unlogged = n,
                            "listener full and every connection making progress: refused"));
                        continue;
                    }
                };
                Counters::add(&counters.connections_accepted, 1);
                Counters::add(&counters.connections_active, 1);
                let conn = handle(client, peer, drain.clone(), slot);
                let counters = Arc::clone(counters);
                let name = name.to_string();
                conns.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(listener = %name, %peer, error = %e, "connection ended");
                    }
                    counters.connections_active.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
    }
    drop(listener);
    drain_connections(&mut conns, &mut drain, deadline, name).await;
}

/// A rate limit for the log lines of a repeated event: at most `burst`
/// lines per `window`; a line then says how many occurrences went unlogged
/// before it.
#[derive(Debug)]
pub struct LogEvery {
    burst: u32,
    window: Duration,
    state: std::sync::Mutex<LogWindow>,
}

#[derive(Debug, Default)]
struct LogWindow {
    /// When the current window began.
    start: Option<tokio::time::Instant>,
    /// Lines logged in it.
    lines: u32,
    /// Occurrences not logged since the last line.
    unlogged: u64,
}

impl LogEvery {
    /// At most `burst` lines per `window`.
    pub fn new(burst: u32, window: Duration) -> LogEvery {
        LogEvery {
            burst,
            window,
            state: std::sync::Mutex::new(LogWindow::default()),
        }
    }

    /// Whether to log an occurrence seen at `now`; if so, how many went
    /// unlogged before it.
    pub fn admit(&self, now: tokio::time::Instant) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if w.start.is_none_or(|t| now.duration_since(t) >= self.window) {
            w.start = Some(now);
            w.lines = 0;
        }
        if w.lines < self.burst {
            w.lines += 1;
            Some(std::mem::take(&mut w.unlogged))
        } else {
            w.unlogged += 1;
            None
        }
    }

    /// Counts an occurrence now; calls `log` with the number unlogged
    /// before it when a line is due.
    pub fn log(&self, log: impl FnOnce(u64)) {
        if let Some(unlogged) = self.admit(tokio::time::Instant::now()) {
            log(unlogged);
        }
    }
}

/// Waits for a listener's connection tasks: until they all end on their
/// own, or, once draining began, at most `deadline` more.
pub async fn drain_connections(
    conns: &mut tokio::task::JoinSet<()>,
    drain: &mut Shutdown,
    deadline: Duration,
    listener: &str,
) {
    let done = {
        let all = async { while conns.join_next().await.is_some() {} };
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => true,
            _ = drain.wait() => tokio::time::timeout(deadline, all).await.is_ok(),
        }
    };
    if !done {
        tracing::warn!(
            listener,
            open = conns.len(),
            "drain deadline passed; closing connections"
        );
        conns.shutdown().await;
    }
}

/// Tells tasks to stop: listeners stop accepting, readers stop reading and
/// drain what they hold.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The sending half of [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl Shutdown {
    /// A trigger and its signal.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown begins (at once if it has).
    pub async fn wait(&mut self) {
        // An error means the trigger is gone: treat it as a shutdown.
        let _ = self.0.wait_for(|&v| v).await;
    }
}

impl ShutdownTrigger {
    /// Begins shutdown.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// Exponential backoff between connection attempts: 50 ms doubling to 5 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    /// Starts at the first delay.
    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Connects once, bounded by `timeout`.
pub async fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(r) => {
            let s = r?;
            s.set_nodelay(true)?;
            Ok(s)
        }
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// How a mode reaches a TCP upstream: plain, or TLS with a verified
/// server name.
pub struct Dialer {
    addr: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl Dialer {
    /// A dialer for `addr` (`host:port`); with `tls`, the connector is
    /// built now, so unusable TLS settings fail here, not per connection.
    pub fn new(addr: &str, tls: Option<&ClientTls>, timeout: Duration) -> Result<Dialer, TlsError> {
        Ok(Dialer {
            addr: addr.to_string(),
            tls: tls.map(tls::connector).transpose()?,
            timeout,
        })
    }

    /// The upstream address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Connects, and completes the TLS handshake when there is one, within
    /// the timeout for each.
    pub async fn dial(&self) -> io::Result<BoxStream> {
        let tcp = connect(&self.addr, self.timeout).await?;
        let Some((connector, name)) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        match tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp)).await {
            Ok(Ok(tls)) => Ok(Box::new(tls)),
            Ok(Err(e)) => Err(io::Error::new(e.kind(), format!("TLS handshake: {e}"))),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }
}

/// Completes a client's TLS handshake on a listener within `timeout`. A
/// failed or timed-out handshake is counted and logged (the peer and the
/// reason, never key material) and gives `None`.
pub async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    client: TcpStream,
    timeout: Duration,
    counters: &Counters,
    listener: &str,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(client)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            Counters::add(&counters.tls_handshake_errors, 1);
            tracing::warn!(listener, %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            Counters::add(&counters.tls_handshake_errors, 1);
            tracing::warn!(listener, %peer, "TLS handshake timed out");
            None
        }
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Writes `name addr` lines for the bound listeners to `path` atomically
/// (a temporary file renamed into place), so a supervisor or test that
/// asked for port 0 learns the ports once every listener is up.
pub fn write_ready_file(path: &Path, listeners: &[(String, SocketAddr)]) -> io::Result<()> {
    let mut text = String::new();
    for (name, addr) in listeners {
        text.push_str(&format!("{name} {addr}\n"));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let d: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(d, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(50));
    }
}

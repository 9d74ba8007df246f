//! Pieces the network modes share: upstream addresses, connecting with
//! backoff, the shutdown signal, the ready file, and the counters every
//! mode keeps (the metrics endpoint exports them).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::engine::{Finding, Sink};

/// Where a mode forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `tcp://host:port`
    Tcp(String),
    /// `udp://host:port`
    Udp(String),
}

impl Upstream {
    /// Parses `tcp://host:port` or `udp://host:port` (a bare `host:port`
    /// means TCP).
    pub fn parse(s: &str) -> Result<Upstream, String> {
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (scheme, rest),
            None => ("tcp", s),
        };
        if rest.is_empty() || !rest.contains(':') || rest.contains('/') {
            return Err(format!("upstream {s:?}: expected SCHEME://HOST:PORT"));
        }
        match scheme {
            "tcp" => Ok(Upstream::Tcp(rest.to_string())),
            "udp" => Ok(Upstream::Udp(rest.to_string())),
            "tls" => Err(format!(
                "upstream {s:?}: TLS upstreams are not supported yet (use tcp:// or udp://)"
            )),
            other => Err(format!(
                "upstream {s:?}: unknown scheme {other:?} (tcp or udp)"
            )),
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Tcp(a) => write!(f, "tcp://{a}"),
            Upstream::Udp(a) => write!(f, "udp://{a}"),
        }
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

/// Counters a network mode keeps; the metrics endpoint exports them.
/// Monotonic except `connections_active`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_active: AtomicU64,
    /// Connections refused at the per-listener limit.
    pub connections_rejected: AtomicU64,
    /// Bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Bytes sent upstream.
    pub bytes_out: AtomicU64,
    /// Records (syslog messages) received.
    pub messages_in: AtomicU64,
    /// Records sent upstream.
    pub messages_out: AtomicU64,
    /// Records dropped because the upstream queue was full (UDP only: TCP
    /// clients get backpressure instead).
    pub dropped_queue_full: AtomicU64,
    /// Records dropped because redaction made them larger than the
    /// upstream allows (UDP datagrams) and they could not be truncated.
    pub dropped_too_large: AtomicU64,
    /// Records still queued when the shutdown deadline passed.
    pub dropped_shutdown: AtomicU64,
    /// Records cut to fit the upstream's datagram limit.
    pub truncated: AtomicU64,
    /// TCP streams closed on a framing error.
    pub framing_errors: AtomicU64,
    /// Successful upstream connections.
    pub upstream_connects: AtomicU64,
    /// Failed upstream connects and writes.
    pub upstream_errors: AtomicU64,
    /// Secrets found.
    pub findings: AtomicU64,
    /// Input bytes inside redacted spans.
    pub bytes_redacted: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// A one-line summary for the log (counts only, never payload).
    pub fn summary(&self) -> String {
        let g = Self::get;
        format!(
            "connections={} rejected={} bytes_in={} bytes_out={} messages_in={} messages_out={} \
             findings={} dropped_queue_full={} dropped_too_large={} dropped_shutdown={} \
             truncated={} framing_errors={} upstream_connects={} upstream_errors={}",
            g(&self.connections_accepted),
            g(&self.connections_rejected),
            g(&self.bytes_in),
            g(&self.bytes_out),
            g(&self.messages_in),
            g(&self.messages_out),
            g(&self.findings),
            g(&self.dropped_queue_full),
            g(&self.dropped_too_large),
            g(&self.dropped_shutdown),
            g(&self.truncated),
            g(&self.framing_errors),
            g(&self.upstream_connects),
            g(&self.upstream_errors),
        )
    }
}

/// A redactor sink appending output to a buffer and counting findings.
#[derive(Debug)]
pub struct Out<'a> {
    /// Redacted bytes.
    pub buf: &'a mut Vec<u8>,
    /// Findings seen.
    pub findings: u64,
}

impl<'a> Out<'a> {
    /// Appends to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Out<'a> {
        Out { buf, findings: 0 }
    }
}

impl Sink for Out<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    fn finding(&mut self, _finding: Finding) {
        self.findings += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        assert_eq!(
            Upstream::parse("tcp://127.0.0.1:514"),
            Ok(Upstream::Tcp("127.0.0.1:514".into()))
        );
        assert_eq!(
            Upstream::parse("udp://[::1]:514"),
            Ok(Upstream::Udp("[::1]:514".into()))
        );
        assert_eq!(
            Upstream::parse("localhost:9000"),
            Ok(Upstream::Tcp("localhost:9000".into()))
        );
        assert!(Upstream::parse("http://x:1").is_err());
        assert!(Upstream::parse("tcp://nohost").is_err());
        assert!(Upstream::parse("tls://x:6514")
            .unwrap_err()
            .contains("not supported yet"));
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let d: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(d, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(50));
    }
}

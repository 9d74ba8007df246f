//! `redactd syslog`: a relay in front of rsyslog or syslog-ng.
//!
//! TCP listeners take both RFC 6587 framings, detected per frame; UDP
//! listeners take one message per datagram. Each message is scanned
//! ([`crate::framing::syslog::scan`]): the PRI and header pass byte for byte,
//! SD-PARAM values and MSG are redacted (values re-escaped), and the message
//! goes to the one upstream every listener shares.
//!
//! # Upstream and backpressure
//!
//! Messages wait for the upstream in a queue bounded in bytes
//! (`queue_bytes`). A TCP client that finds it full waits, so it is not
//! read: backpressure reaches the sender. A UDP datagram that finds it full
//! is dropped and counted (UDP has no backpressure). The writer connects
//! with exponential backoff, coalesces queued messages into large writes,
//! and watches the connection for EOF so that a restarted upstream is
//! noticed before the next write. A write that fails is retried whole on the
//! next connection (at-least-once for that batch); frames the kernel had
//! accepted for a peer that then died are beyond what TCP can report (RELP
//! exists for that), so the reconnects are counted.
//!
//! # Framing towards the upstream
//!
//! By default each message keeps the framing it arrived with: octet
//! counting with a recomputed count (a trailing LF the sender counted stays
//! inside the count), or LF. Datagrams sent to a TCP upstream are octet
//! counted, which holds any byte. `--upstream-framing octet` or `lf` forces
//! one framing; `lf` drops one trailing LF from a message so it is not
//! doubled, and writes every other LF as `#012` (rsyslog's own escape for
//! control characters), so an LF inside a counted frame or a datagram can
//! never end the message early and forge another. To a UDP upstream every
//! message is one datagram, cut at `max_datagram` (counted as truncated)
//! before a replacement that would straddle the limit, never inside one.
//!
//! An empty message (no bytes, or only an LF) is dropped: as a frame it
//! would read `0 ` or a blank line, which rsyslog takes for a framing error
//! and which carries nothing. It shows as `messages_in` without
//! `messages_out`.
//!
//! # Oversized messages
//!
//! A TCP frame over `max_message_size` is cut, as rsyslog's imtcp does,
//! and the connection kept: the decoder holds its first `max_message_size`
//! bytes plus a lookahead and discards the rest
//! ([`Oversize`]); the whole held part is
//! redacted, and only what precedes the cut is sent, minus any replacement
//! reaching past it ([`redact_message_with`]): no byte of a secret
//! straddling the cut is sent. Each one is counted as truncated and logged
//! with its real length, never its payload.
//!
//! # Errors
//!
//! A framing error (a count with a leading zero, more than 10 digits or not
//! followed by one space; an LF frame over TLS) closes that client's
//! connection and is counted; no payload is logged and nothing of the
//! broken frame is forwarded. Frames without a valid PRI are redacted as
//! text and forwarded.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use tokio_rustls::TlsAcceptor;

use crate::config::{Framing as OutFraming, Scheme, Upstream};
use crate::counters::{RuleCounts, StatsCursor};
use crate::engine::{Finding, Redactor, Sink};
use crate::framing::fields::FieldRedactor;
use crate::framing::syslog::{
    escape_sd_value, lf_frame, octet_count_prefix, scan, Decoder, Format, Framing, Oversize, Parts,
};
use crate::net::budget::Budget;
use crate::net::slots::{Ended, Slot, Slots, Timeouts};
use crate::net::tls::{BoxStream, ClientTls, TlsError};
use crate::net::{self, Backoff, Counters, Dialer, EngineWatch, Shutdown, Stop};

/// Settings of the relay.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where messages go.
    pub upstream: Upstream,
    /// Framing towards a TCP upstream.
    pub framing: OutFraming,
    /// Largest message taken over TCP; a longer frame is cut to it.
    pub max_message_size: usize,
    /// TCP connections served at once per listener.
    pub max_connections: usize,
    /// Bytes of messages waiting for the upstream, at most.
    pub queue_bytes: usize,
    /// Largest datagram sent to a UDP upstream.
    pub max_datagram: usize,
    /// Time to finish after shutdown begins.
    pub drain: Duration,
    /// Bound on one upstream connect (TLS handshake included).
    pub connect_timeout: Duration,
    /// TLS towards a `tls://` upstream.
    pub upstream_tls: Option<ClientTls>,
    /// Idle and message timeouts of TCP connections.
    pub timeouts: Timeouts,
}

/// One redacted message on its way upstream. Holds its share of the queue
/// budget until written.
#[derive(Debug)]
struct Message {
    body: Vec<u8>,
    /// How it arrived; `None` for a datagram.
    framing: Option<Framing>,
    _budget: OwnedSemaphorePermit,
}

/// Per-message bookkeeping charged to the queue budget on top of the body.
const MESSAGE_OVERHEAD: usize = 64;

/// Most messages a queue holds whatever their size (tiny messages are
/// bounded by this, large ones by the byte budget).
const QUEUE_MESSAGES: usize = 1 << 16;

/// The shared parts every listener hands messages to.
#[derive(Clone)]
pub struct Relay {
    cfg: Arc<Config>,
    engine: EngineWatch,
    counters: Arc<Counters>,
    budget: Arc<Semaphore>,
    /// Memory for partial frames, shared with every listener.
    buffers: Budget,
    tx: mpsc::Sender<Message>,
}

/// Starts the upstream writer. Returns the relay handle listeners use and
/// the writer's task, which ends once every handle is dropped and the queue
/// is empty. Fails only when the upstream's TLS settings are unusable.
pub fn start(
    mut cfg: Config,
    engine: EngineWatch,
    counters: Arc<Counters>,
    buffers: Budget,
) -> Result<(Relay, tokio::task::JoinHandle<()>), TlsError> {
    let addr = cfg.upstream.authority();
    let dialer = match cfg.upstream.scheme {
        Scheme::Udp => None,
        Scheme::Tls => {
            let tls = cfg.upstream_tls.as_ref().ok_or_else(|| {
                TlsError::Config(format!("upstream tls://{addr} needs a CA file"))
            })?;
            // RFC 5425: syslog over TLS is always octet counted.
            cfg.framing = OutFraming::Octet;
            Some(Dialer::new(&addr, Some(tls), cfg.connect_timeout)?)
        }
        // Validation gives syslog only tcp://, udp:// and tls://.
        _ => Some(Dialer::new(&addr, None, cfg.connect_timeout)?),
    };
    let cfg = Arc::new(cfg);
    let (tx, rx) = mpsc::channel(QUEUE_MESSAGES);
    let budget = Arc::new(Semaphore::new(cfg.queue_bytes.min(Semaphore::MAX_PERMITS)));
    let writer = {
        let cfg = Arc::clone(&cfg);
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            match dialer {
                Some(d) => tcp_writer(d, cfg.clone(), rx, counters).await,
                None => udp_writer(addr, rx, counters).await,
            }
        })
    };
    Ok((
        Relay {
            cfg,
            engine,
            counters,
            budget,
            buffers,
            tx,
        },
        writer,
    ))
}

impl Relay {
    /// The engine watch for one connection, and a redactor with its
    /// current engine.
    fn redactor(&self) -> (EngineWatch, Redactor) {
        let mut engine = self.engine.clone();
        let red = engine.borrow_and_update().redactor();
        (engine, red)
    }

    /// Redacts one message, counting its findings (by rule), the engine's
    /// stats and the time it took, and fits it to a UDP upstream. An
    /// oversized one is cut (see [`redact_message_with`]), keeping the LF
    /// its sender counted at its end. `None` when there is nothing to send:
    /// an empty message (nothing but an optional LF), which no receiver can
    /// take as a frame (rsyslog reads an octet count of `0` as a framing
    /// error), is dropped; one that could only fit a datagram as nothing is
    /// counted as too large.
    fn prepare(
        &self,
        red: &mut Redactor,
        stats: &mut StatsCursor,
        msg: &[u8],
        oversize: Option<Oversize>,
        peer: Option<SocketAddr>,
    ) -> Option<Vec<u8>> {
        let start = tokio::time::Instant::now();
        let cut = oversize.map(|o| o.kept);
        let mut out = Vec::with_capacity(msg.len().min(cut.unwrap_or(usize::MAX)) + 32);
        let mut r = Redacted::default();
        redact_message_with(red, msg, cut, &mut out, &mut r);
        if oversize.is_some_and(|o| o.ends_with_lf) {
            out.push(b'\n');
        }
        self.counters.processing.observe(start.elapsed());
        let mut by_rule = RuleCounts::default();
        for f in &r.found {
            by_rule.add(&f.rule);
        }
        self.counters.count_findings(&by_rule);
        self.counters.alert(peer, &r.found);
        stats.update(red.stats(), &self.counters);
        if is_empty_message(&out) {
            Counters::add(&self.counters.dropped_empty, 1);
            debug!(?peer, "empty syslog message dropped");
            return None;
        }
        if self.cfg.upstream.scheme == Scheme::Udp && out.len() > self.cfg.max_datagram {
            cut_outside(&mut out, &r.replaced, self.cfg.max_datagram);
            if is_empty_message(&out) {
                Counters::add(&self.counters.dropped_too_large, 1);
                return None;
            }
            Counters::add(&self.counters.truncated, 1);
        }
        Some(out)
    }

    fn charge(&self, body: &[u8]) -> u32 {
        (body.len() + MESSAGE_OVERHEAD).min(self.cfg.queue_bytes) as u32
    }

    /// Queues a message, waiting for room (TCP: backpressure).
    async fn send(&self, body: Vec<u8>, framing: Option<Framing>) -> bool {
        let n = self.charge(&body);
        let Ok(permit) = Arc::clone(&self.budget).acquire_many_owned(n).await else {
            return false;
        };
        let m = Message {
            body,
            framing,
            _budget: permit,
        };
        self.tx.send(m).await.is_ok()
    }

    /// Queues a message if there is room; otherwise drops and counts it.
    fn try_send(&self, body: Vec<u8>, framing: Option<Framing>) {
        let n = self.charge(&body);
        let sent = Arc::clone(&self.budget)
            .try_acquire_many_owned(n)
            .ok()
            .map(|permit| {
                self.tx.try_send(Message {
                    body,
                    framing,
                    _budget: permit,
                })
            });
        if !matches!(sent, Some(Ok(()))) {
            Counters::add(&self.counters.dropped_queue_full, 1);
        }
    }
}

/// Redacts one SYSLOG-MSG into `out`: header bytes copied, each SD-PARAM
/// value redacted and re-escaped, the text part redacted. Returns the
/// number of findings ([`redact_message_by_rule`] counts them by rule).
///
/// A value is scanned together with its parameter name, as `NAME=VALUE`, so
/// that rules keyed on the name (`password="..."`) see their context. If a
/// match reaches into the name, the whole value is replaced (fail closed:
/// the name itself is never rewritten).
pub fn redact_message(red: &mut Redactor, msg: &[u8], out: &mut Vec<u8>) -> u64 {
    redact_message_by_rule(red, msg, out, &mut RuleCounts::default())
}

/// [`redact_message`], adding the findings by rule to `by_rule`.
pub fn redact_message_by_rule(
    red: &mut Redactor,
    msg: &[u8],
    out: &mut Vec<u8>,
    by_rule: &mut RuleCounts,
) -> u64 {
    let mut r = Redacted::default();
    redact_message_with(red, msg, None, out, &mut r);
    for f in &r.found {
        by_rule.add(&f.rule);
    }
    r.found.len() as u64
}

/// What redacting one message found, and where its output may be cut.
#[derive(Debug, Default)]
pub struct Redacted {
    /// The findings (fingerprints, never secret bytes), in order; offsets
    /// are within the SD value or the text part they were found in.
    pub found: Vec<Finding>,
    /// Output ranges that hold a replacement (a whole SD value when it
    /// changed), in order: a cut never falls inside one.
    pub replaced: Vec<Range<usize>>,
}

/// [`redact_message`], with the findings and replaced ranges in `r`.
///
/// With `cut`, only the message's first `cut` bytes are kept, and `msg`
/// may run past them (an oversized frame's lookahead,
/// [`CUT_LOOKAHEAD`](crate::framing::syslog::CUT_LOOKAHEAD)): everything is
/// scanned, so a secret straddling the cut is found whole, and the output
/// stops where the input did. A replacement reaching past the cut is
/// dropped with all that follows it (fail closed: no byte of that secret is
/// sent), one before it is kept whole, and untouched bytes before the cut
/// are kept as they were. A cut inside the header or structured data scans
/// the whole message as text. Findings past the cut are not reported: their
/// bytes are discarded unsent, like the rest of the frame.
pub fn redact_message_with(
    red: &mut Redactor,
    msg: &[u8],
    cut: Option<usize>,
    out: &mut Vec<u8>,
    r: &mut Redacted,
) {
    let mut parts = scan(msg);
    if cut.is_some_and(|c| c < parts.text.start) {
        parts = Parts {
            format: Format::Opaque,
            sd_values: Vec::new(),
            text: 0..msg.len(),
        };
    }
    let mut at = 0;
    let mut fields = FieldRedactor::new();
    let mut value = Vec::new();
    for v in &parts.sd_values {
        out.extend_from_slice(&msg[at..v.start]);
        // The scanner checked `SP NAME="` precedes every value; the name is
        // the value's context, as a JSON key is.
        let eq = v.start - 2;
        let name = &msg[msg[..eq]
            .iter()
            .rposition(|&b| b == b' ')
            .map_or(0, |i| i + 1)..eq];
        value.clear();
        if fields.redact_into(red, Some(name), &msg[v.clone()], &mut value, &mut r.found) {
            // Replacements may hold `]` and may have cut an escape pair:
            // re-escaping is the identity on what was valid.
            let start = out.len();
            escape_sd_value(&value, out);
            r.replaced.push(start..out.len());
        } else {
            out.extend_from_slice(&msg[v.clone()]);
        }
        at = v.end;
    }
    out.extend_from_slice(&msg[at..parts.text.start]);
    let cut = cut.map_or(u64::MAX, |c| (c - parts.text.start) as u64);
    let mut sink = TextSink {
        out,
        r,
        cut,
        pos: 0,
        open: None,
        done: false,
    };
    red.reset();
    red.write(&msg[parts.text], &mut sink);
    red.finish(&mut sink);
}

/// The sink for a message's text part: appends the redacted text to `out`,
/// records each replacement's output range, and keeps only what lies
/// before input offset `cut` (see [`redact_message_with`]).
struct TextSink<'a> {
    out: &'a mut Vec<u8>,
    r: &'a mut Redacted,
    /// Text offset past which nothing is kept (`u64::MAX`: no cut).
    cut: u64,
    /// Text offset of the next untouched byte.
    pos: u64,
    /// Where the open replacement began in `out`.
    open: Option<usize>,
    /// The cut was reached: nothing more is written.
    done: bool,
}

impl Sink for TextSink<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        if self.done {
            return;
        }
        if self.open.is_some() {
            self.out.extend_from_slice(bytes);
            return;
        }
        let room = (self.cut - self.pos).min(bytes.len() as u64) as usize;
        self.out.extend_from_slice(&bytes[..room]);
        self.pos += room as u64;
        self.done = room < bytes.len();
    }

    fn finding(&mut self, finding: Finding) {
        if finding.offset < self.cut {
            self.r.found.push(finding);
        }
    }

    fn span_start(&mut self, at: u64) {
        if self.done || at >= self.cut {
            self.done = true;
            return;
        }
        self.open = Some(self.out.len());
    }

    fn span_end(&mut self, at: u64) {
        let Some(start) = self.open.take() else {
            return;
        };
        if at > self.cut {
            // The secret straddles the cut: drop its replacement whole.
            self.out.truncate(start);
            self.done = true;
        } else {
            self.r.replaced.push(start..self.out.len());
            self.pos = at;
        }
    }
}

/// An empty message: nothing, or only the LF a sender may have counted.
/// Sent on it would be an empty frame (`0 `, or a blank line).
fn is_empty_message(body: &[u8]) -> bool {
    body.strip_suffix(b"\n").unwrap_or(body).is_empty()
}

/// Cuts a redacted message to at most `max` bytes, never inside a
/// replacement: one that would straddle the cut is dropped with everything
/// after it. The bytes before the cut are kept as they were.
fn cut_outside(body: &mut Vec<u8>, replaced: &[Range<usize>], max: usize) {
    let mut cut = max.min(body.len());
    if let Some(r) = replaced.iter().find(|r| r.start < cut && cut < r.end) {
        cut = r.start;
    }
    body.truncate(cut);
}

/// Serves one TCP listener until shutdown, then lets its connections drain.
/// With `tls`, each connection is a TLS session and must use octet
/// counting (RFC 5425).
pub async fn serve_tcp(
    listener: TcpListener,
    name: String,
    tls: Option<TlsAcceptor>,
    relay: Relay,
    stop: Stop,
) {
    let cfg = Arc::clone(&relay.cfg);
    let counters = Arc::clone(&relay.counters);
    let listener_name = name.clone();
    let handle = move |client: TcpStream, peer: SocketAddr, shutdown: Shutdown, slot: Slot| {
        let relay = relay.clone();
        let name = name.clone();
        let tls = tls.clone();
        async move {
            let client = match tls {
                None => Client::Plain(client),
                Some(acceptor) => {
                    let (c, t) = (&relay.counters, relay.cfg.connect_timeout);
                    match net::accept_tls(&acceptor, client, t, c, &name, peer).await {
                        Some(s) => Client::Tls(Box::new(s)),
                        None => return Ok(()),
                    }
                }
            };
            let conn = Conn {
                peer,
                name: &name,
                relay: &relay,
                slot,
            };
            conn.serve(client, shutdown).await
        }
    };
    let slots = Slots::new(cfg.max_connections, cfg.timeouts);
    net::accept_loop(
        listener,
        &listener_name,
        slots,
        &counters,
        stop,
        cfg.drain,
        handle,
    )
    .await;
}

/// A client connection, plain or TLS.
enum Client {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Bytes asked of a client per read.
const READ: usize = 16 * 1024;

impl Client {
    /// Reads more bytes into `buf`. A plain connection waits for data
    /// before it takes buffer space, so an idle one holds none. Cancel
    /// safe: nothing is lost when the future is dropped.
    async fn read_more(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Client::Plain(s) => loop {
                s.readable().await?;
                buf.reserve(READ);
                match s.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            },
            Client::Tls(s) => {
                buf.reserve(READ);
                s.read_buf(buf).await
            }
        }
    }
}

/// The most `buf` can grow to in one [`Client::read_more`]: reserving
/// may double its capacity.
fn next_capacity(buf: &BytesMut) -> usize {
    if buf.capacity() - buf.len() >= READ {
        buf.capacity()
    } else {
        (buf.capacity() * 2).max(buf.len() + READ)
    }
}

/// After shutdown begins, a connection goes on reading what its client had
/// already sent until nothing more arrives for this long.
const QUIET: Duration = Duration::from_millis(200);

/// What ended a wait on the client.
enum Event {
    /// Bytes arrived.
    Bytes,
    /// The client closed its side.
    Eof,
    /// Shutdown began: read on until the client goes quiet.
    Stop,
    /// Shutdown is under way and nothing more arrived (or the drain time
    /// for reading ran out).
    Quiet,
    /// The slot ended the connection.
    Ended(Ended),
}

/// A connection's redactor, the engine it follows, and what it reported.
struct Scrub {
    engine: EngineWatch,
    red: Redactor,
    stats: StatsCursor,
}

/// One client connection of a TCP listener.
struct Conn<'a> {
    peer: SocketAddr,
    name: &'a str,
    relay: &'a Relay,
    slot: Slot,
}

impl Conn<'_> {
    async fn serve(&self, mut client: Client, mut shutdown: Shutdown) -> io::Result<()> {
        let max = self.relay.cfg.max_message_size;
        let mut decoder = match client {
            Client::Plain(_) => Decoder::new(max),
            Client::Tls(_) => Decoder::octet_only(max),
        };
        let mut buf = BytesMut::new();
        let mut lease = self.relay.buffers.lease();
        let (engine, red) = self.relay.redactor();
        let mut scrub = Scrub {
            engine,
            red,
            stats: StatsCursor::default(),
        };
        let counters = &self.relay.counters;
        // Set once shutdown begins: when to stop reading at the latest.
        let mut draining: Option<tokio::time::Instant> = None;
        loop {
            // Room for the next read within the memory budget: waiting for
            // it reads nothing and is no progress, so the slot's timeouts
            // and eviction still apply.
            let want = next_capacity(&buf) + decoder.held();
            let read = async {
                lease.cover(want).await;
                client.read_more(&mut buf).await
            };
            let quiet_at = draining.map(|_| tokio::time::Instant::now() + QUIET);
            let ev = tokio::select! {
                biased;
                _ = shutdown.wait(), if draining.is_none() => Event::Stop,
                // The time for reading after shutdown is over.
                _ = sleep_until(draining), if draining.is_some() => Event::Quiet,
                // Bytes before silence: under load the task may be polled
                // late, and what is readable must win over the quiet timer.
                r = self.slot.read(read) => match r {
                    Err(ended) => Event::Ended(ended),
                    Ok(r) => match r? {
                        0 => Event::Eof,
                        n => {
                            Counters::add(&counters.bytes_in, n as u64);
                            Event::Bytes
                        }
                    },
                },
                _ = sleep_until(quiet_at), if draining.is_some() => Event::Quiet,
            };
            match ev {
                Event::Stop => {
                    draining = Some(tokio::time::Instant::now() + self.relay.cfg.drain / 2);
                    continue;
                }
                Event::Quiet => {
                    self.closing(&decoder, &buf, true);
                    return Ok(());
                }
                Event::Ended(e) => {
                    if e != Ended::Evicted {
                        Counters::add(&counters.connections_timed_out, 1);
                    }
                    debug!(listener = %self.name, peer = %self.peer, reason = %e, "closing");
                    self.closing(&decoder, &buf, false);
                    return Ok(());
                }
                Event::Bytes | Event::Eof => {}
            }
            let eof = matches!(ev, Event::Eof);
            if !self
                .relay_frames(&mut decoder, &mut buf, eof, &mut scrub)
                .await
            {
                return Ok(());
            }
            if eof {
                return Ok(());
            }
            self.slot.between_messages(decoder.at_boundary(&buf));
            if buf.is_empty() {
                // An idle connection holds no buffer, and no budget.
                buf = BytesMut::new();
                lease.try_cover(decoder.held());
            }
        }
    }

    /// Redacts and queues every whole frame in `buf` (all of them at
    /// `eof`). `false` when the connection must close: a framing error, or
    /// the relay is gone.
    async fn relay_frames(
        &self,
        decoder: &mut Decoder,
        buf: &mut BytesMut,
        eof: bool,
        scrub: &mut Scrub,
    ) -> bool {
        let counters = &self.relay.counters;
        loop {
            let frame = if eof {
                decoder.decode_eof(buf)
            } else {
                decoder.decode(buf)
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => return true,
                Err(e) => {
                    Counters::add(&counters.framing_errors, 1);
                    warn!(listener = %self.name, peer = %self.peer, error = %e, kind = e.kind(),
                          "syslog framing error; closing the connection");
                    return false;
                }
            };
            Counters::add(&counters.messages_in, 1);
            if let Some(e) = net::reloaded(&mut scrub.engine) {
                scrub.red = e.redactor();
                scrub.stats.restart();
            }
            if let Some(o) = frame.oversize {
                Counters::add(&counters.truncated, 1);
                warn!(listener = %self.name, peer = %self.peer, len = o.len, max = o.kept,
                      "syslog {o}");
            }
            let (msg, over, peer) = (&frame.body, frame.oversize, Some(self.peer));
            let Some(out) = self
                .relay
                .prepare(&mut scrub.red, &mut scrub.stats, msg, over, peer)
            else {
                continue;
            };
            if !self.relay.send(out, Some(frame.framing)).await {
                return false;
            }
            // Redaction is CPU work with no await inside: let other
            // connections run between messages.
            tokio::task::consume_budget().await;
        }
    }

    /// The connection closes before its client finished: a partial message
    /// may hold a partial secret, so it is dropped and counted (as lost to
    /// shutdown, or as incomplete).
    fn closing(&self, decoder: &Decoder, buf: &BytesMut, shutdown: bool) {
        if decoder.at_boundary(buf) {
            return;
        }
        let c = &self.relay.counters;
        let (counter, why) = if shutdown {
            (&c.dropped_shutdown, "shutdown")
        } else {
            (&c.dropped_incomplete, "incomplete")
        };
        Counters::add(counter, 1);
        warn!(listener = %self.name, peer = %self.peer, reason = why,
              "dropping a partially received message");
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Serves one UDP socket until shutdown: one message per datagram.
pub async fn serve_udp(socket: UdpSocket, name: String, relay: Relay, stop: Stop) {
    let Stop {
        mut accept,
        mut drain,
    } = stop;
    let mut buf = vec![0u8; 65_536];
    let (mut engine, mut red) = relay.redactor();
    let mut stats = StatsCursor::default();
    let counters = Arc::clone(&relay.counters);
    loop {
        let r = tokio::select! {
            _ = accept.wait() => break,
            _ = drain.wait() => break,
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, peer) = match r {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors surface here on some systems; keep serving.
                debug!(listener = %name, error = %e, "udp receive");
                continue;
            }
        };
        Counters::add(&counters.bytes_in, n as u64);
        Counters::add(&counters.messages_in, 1);
        if let Some(e) = net::reloaded(&mut engine) {
            red = e.redactor();
            stats.restart();
        }
        if let Some(out) = relay.prepare(&mut red, &mut stats, &buf[..n], None, Some(peer)) {
            relay.try_send(out, None);
        }
    }
}

/// Appends `m` to `batch` in the upstream's framing.
fn frame_into(batch: &mut Vec<u8>, m: &Message, framing: OutFraming) {
    let octet = match framing {
        OutFraming::Octet => true,
        OutFraming::Lf => false,
        OutFraming::Preserve => m.framing != Some(Framing::NonTransparent),
    };
    if octet {
        octet_count_prefix(m.body.len(), batch);
        batch.extend_from_slice(&m.body);
    } else {
        lf_frame(&m.body, batch);
    }
}

async fn tcp_writer(
    dialer: Dialer,
    cfg: Arc<Config>,
    mut rx: mpsc::Receiver<Message>,
    counters: Arc<Counters>,
) {
    let addr = dialer.addr().to_string();
    let mut conn: Option<BoxStream> = None;
    let mut backoff = Backoff::new();
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH);
    let mut held: Vec<Message> = Vec::new();
    let mut scratch = [0u8; 512];
    loop {
        if held.is_empty() {
            let m = match conn.as_mut() {
                // Read first: an upstream that went away is noticed before
                // a message is written into its dead socket.
                Some(c) => tokio::select! {
                    biased;
                    r = c.read(&mut scratch) => {
                        // Syslog receivers send nothing; EOF or an error
                        // means the upstream went away.
                        if !matches!(r, Ok(n) if n > 0) {
                            info!(upstream = %addr, "upstream closed the connection");
                            conn = None;
                            upstream_down(&counters);
                        }
                        continue;
                    }
                    m = rx.recv() => m,
                },
                // Connect before the first message arrives, so the
                // upstream is known good (or known down) early.
                None => tokio::select! {
                    m = rx.recv() => m,
                    c = connect_with_backoff(&dialer, &counters, &mut backoff) => {
                        conn = Some(c);
                        continue;
                    }
                },
            };
            let Some(m) = m else { break };
            fill_batch(m, &mut rx, &mut held, &mut batch, cfg.framing);
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(connect_with_backoff(&dialer, &counters, &mut backoff).await),
        };
        match c.write_all(&batch).await {
            Ok(()) => {
                Counters::add(&counters.bytes_out, batch.len() as u64);
                Counters::add(&counters.messages_out, held.len() as u64);
                held.clear();
            }
            Err(e) => {
                Counters::add(&counters.upstream_errors, 1);
                warn!(upstream = %addr, error = %e, "upstream write failed; reconnecting");
                conn = None;
                upstream_down(&counters);
            }
        }
    }
    if let Some(mut c) = conn {
        upstream_down(&counters);
        let _ = c.shutdown().await;
    }
}

/// Bytes of messages written upstream in one write, at most (one larger
/// message goes alone).
const BATCH: usize = 256 * 1024;

/// Takes `first` and whatever else is queued, up to [`BATCH`] bytes, into
/// `held`, framed into `batch`.
fn fill_batch(
    first: Message,
    rx: &mut mpsc::Receiver<Message>,
    held: &mut Vec<Message>,
    batch: &mut Vec<u8>,
    framing: OutFraming,
) {
    let mut size = first.body.len();
    held.push(first);
    while size < BATCH {
        match rx.try_recv() {
            Ok(m) => {
                size += m.body.len();
                held.push(m);
            }
            Err(_) => break,
        }
    }
    batch.clear();
    for m in held.iter() {
        frame_into(batch, m, framing);
    }
}

/// One writer's connection went away (see [`Counters::upstream_up`]).
fn upstream_down(counters: &Counters) {
    counters.upstream_up.fetch_sub(1, Ordering::Relaxed);
}

/// Connects to a TCP upstream, retrying with backoff until it succeeds.
async fn connect_with_backoff(
    dialer: &Dialer,
    counters: &Counters,
    backoff: &mut Backoff,
) -> BoxStream {
    let addr = dialer.addr();
    loop {
        match dialer.dial().await {
            Ok(c) => {
                // Counted up here, with no await before the return, so a
                // caller's select that drops this future never loses it.
                Counters::add(&counters.upstream_up, 1);
                Counters::add(&counters.upstream_connects, 1);
                backoff.reset();
                info!(upstream = %addr, tls = dialer.is_tls(), "connected to upstream");
                return c;
            }
            Err(e) => {
                Counters::add(&counters.upstream_errors, 1);
                let d = backoff.next_delay();
                warn!(upstream = %addr, error = %e, retry_in_ms = d.as_millis() as u64,
                      "upstream connect failed");
                tokio::time::sleep(d).await;
            }
        }
    }
}

async fn udp_writer(addr: String, mut rx: mpsc::Receiver<Message>, counters: Arc<Counters>) {
    let mut backoff = Backoff::new();
    let socket = loop {
        let bound = async {
            let s = UdpSocket::bind(if addr.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .await?;
            s.connect(&addr).await?;
            Ok::<_, io::Error>(s)
        };
        match bound.await {
            Ok(s) => break s,
            Err(e) => {
                Counters::add(&counters.upstream_errors, 1);
                let d = backoff.next_delay();
                warn!(upstream = %addr, error = %e, "udp upstream unusable; retrying");
                tokio::time::sleep(d).await;
            }
        }
    };
    // A UDP upstream is up once its socket is: there is nothing to connect.
    Counters::add(&counters.upstream_up, 1);
    // Messages were fitted to `max_datagram` when they were redacted.
    while let Some(m) = rx.recv().await {
        match socket.send(&m.body).await {
            Ok(n) => {
                Counters::add(&counters.bytes_out, n as u64);
                Counters::add(&counters.messages_out, 1);
            }
            // ECONNREFUSED from an earlier datagram's ICMP: counted, and
            // this datagram is lost like any UDP datagram.
            Err(e) => {
                Counters::add(&counters.upstream_errors, 1);
                debug!(upstream = %addr, error = %e, "udp send");
            }
        }
    }
    upstream_down(&counters);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fingerprint::Fingerprinter;
    use crate::engine::{Options, Style};
    use crate::rules::RuleSetBuilder;

    fn redactor() -> Redactor {
        let set = crate::check::load(&RuleSetBuilder::builtin()).unwrap();
        Redactor::new(
            set,
            Options {
                style: Style::Label,
                fingerprinter: Arc::new(Fingerprinter::new(b"syslog-unit-test-key", "t").unwrap()),
            },
        )
    }

    fn redact(msg: &[u8]) -> (String, u64) {
        let (out, n) = redact_bytes(msg);
        (String::from_utf8(out).unwrap(), n)
    }

    fn redact_bytes(msg: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let n = redact_message(&mut redactor(), msg, &mut out);
        (out, n)
    }

    #[test]
    fn header_passes_msg_and_sd_values_are_redacted() {
        let key = format!("AKIA{}", "Q7ZX3MWRT2PLN4VB");
        let msg = format!(
            r#"<13>1 2026-11-25T19:04:59Z vm app - ID47 [meta@32473 password="hunter2-very-secret" k="{key}"] password=hunter2-very-secret and {key}"#
        );
        let (out, n) = redact(msg.as_bytes());
        assert_eq!(n, 4, "{out}");
        assert!(
            out.contains(r#"password="[REDACTED:generic.password\]""#),
            "{out}"
        );
        assert!(out.starts_with("<13>1 2026-11-25T19:04:59Z vm app - ID47 [meta@32473 "));
        assert!(!out.contains("hunter2") && !out.contains(&key), "{out}");
        assert!(
            out.contains(r#"k="[REDACTED:aws.access-key-id\]""#),
            "{out}"
        );
        // The output still parses, with the same SD layout.
        let p = scan(out.as_bytes());
        assert_eq!(p.sd_values.len(), 2);
    }

    #[test]
    fn a_message_without_a_secret_is_byte_identical() {
        for m in [
            &br#"<13>1 - h a - - [x@1 a="b\]c"] hello"#[..],
            b"<14>Nov  5 19:04:59 host app[1]: hello\r",
            b"no pri at all \xff\x00",
            b"<165>1 - - - - - -\n",
        ] {
            assert_eq!(redact_bytes(m).0, m);
        }
    }

    #[test]
    fn octet_framing_counts_the_rewritten_body_and_lf_never_doubles() {
        let permit = || Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let m = Message {
            body: b"<13>x [REDACTED:a.b]\n".to_vec(),
            framing: Some(Framing::OctetCounted),
            _budget: permit(),
        };
        let mut b = Vec::new();
        frame_into(&mut b, &m, OutFraming::Preserve);
        assert_eq!(b, b"21 <13>x [REDACTED:a.b]\n");
        b.clear();
        frame_into(&mut b, &m, OutFraming::Lf);
        assert_eq!(b, b"<13>x [REDACTED:a.b]\n");
        let d = Message {
            body: b"<13>dgram".to_vec(),
            framing: None,
            _budget: permit(),
        };
        b.clear();
        frame_into(&mut b, &d, OutFraming::Preserve);
        assert_eq!(b, b"9 <13>dgram");
    }

    fn redactor_with(style: Style) -> Redactor {
        let mut r = redactor();
        if style != Style::Label {
            let set = Arc::clone(r.rules());
            let fingerprinter = Arc::new(Fingerprinter::new(b"syslog-unit-test-key", "t").unwrap());
            r = Redactor::new(
                set,
                Options {
                    style,
                    fingerprinter,
                },
            );
        }
        r
    }

    /// A message whose MSG holds an AWS key id at `key` (a range), after
    /// an untouched `[REDACTED:` look-alike, and its redaction.
    fn message_with_key(style: Style) -> (Vec<u8>, std::ops::Range<usize>, Vec<u8>, Redacted) {
        let key = format!("AKIA{}", "Q7ZX3MWRT2PLN4VB");
        let msg = format!("<13>1 - h app - - - sent [REDACTED:x] then id {key} end").into_bytes();
        let s = msg.len() - key.len() - 4;
        let mut out = Vec::new();
        let mut r = Redacted::default();
        redact_message_with(&mut redactor_with(style), &msg, None, &mut out, &mut r);
        (msg, s..s + key.len(), out, r)
    }

    #[test]
    fn a_datagram_cut_never_falls_inside_a_replacement() {
        // Issue 12 item 6: `--max-datagram 1000` produced `...[REDACTE`.
        for style in [Style::Label, Style::Hmac, Style::Partial, Style::Mask] {
            let (msg, key, full, r) = message_with_key(style);
            assert_eq!(r.replaced.len(), 1, "{style:?}");
            let label = r.replaced[0].clone();
            assert_eq!(label.start, key.start);
            for max in 0..full.len() + 2 {
                let mut b = full.clone();
                cut_outside(&mut b, &r.replaced, max);
                let want = if label.start < max && max < label.end {
                    label.start
                } else {
                    max.min(full.len())
                };
                assert_eq!(b, &full[..want], "{style:?} max {max}");
                // Untouched bytes (the look-alike included) as they were.
                let kept = want.min(key.start);
                assert_eq!(&b[..kept], &msg[..kept]);
            }
        }
    }

    #[test]
    fn a_cut_message_drops_a_straddling_secret_whole_and_keeps_the_rest() {
        let (msg, key, full, _) = message_with_key(Style::Label);
        let label = b"[REDACTED:aws.access-key-id]";
        let mut red = redactor();
        for cut in key.start - 3..msg.len() {
            let mut out = Vec::new();
            let mut r = Redacted::default();
            redact_message_with(&mut red, &msg, Some(cut), &mut out, &mut r);
            let mut want = msg[..cut.min(key.start)].to_vec();
            if cut >= key.end {
                want.extend_from_slice(label);
                want.extend_from_slice(&msg[key.end..cut]);
            }
            assert_eq!(out, want, "cut at {cut}");
            assert_eq!(r.found.len(), usize::from(cut > key.start), "cut {cut}");
            assert!(full.starts_with(&out));
        }
    }

    #[test]
    fn a_secret_cut_at_the_edge_is_recognised_through_the_lookahead() {
        // 20 bytes of a GitHub token before the cut would not match its rule
        // alone; with the lookahead it is found, and none of it is kept.
        let token = crate::rules::template::expand_one("seed-1234", "ghp_{{crc62:36}}").unwrap();
        let msg = format!("<13>1 - h app - - - token {token} and more").into_bytes();
        let at = msg.len() - token.len() - 9;
        let mut red = redactor();
        for cut in at + 1..at + token.len() {
            let mut out = Vec::new();
            let mut r = Redacted::default();
            redact_message_with(&mut red, &msg, Some(cut), &mut out, &mut r);
            assert_eq!(out, &msg[..at], "cut at {cut}");
            assert_eq!(r.found.len(), 1);
        }
    }

    #[test]
    fn a_cut_inside_the_header_scans_the_whole_message_as_text() {
        let msg = br#"<13>1 - h app - - [m@1 password="hunter2-very-secret"] tail"#;
        let mut out = Vec::new();
        let mut r = Redacted::default();
        let mut red = redactor();
        redact_message_with(&mut red, msg, Some(15), &mut out, &mut r);
        assert_eq!(out, &msg[..15]);
        // Inside the SD value: the value is not parsed as one, but a rule
        // still finds it in the text, and drops it whole.
        let value = msg.len() - 26;
        for cut in [40, msg.len() - 8] {
            out.clear();
            redact_message_with(&mut red, msg, Some(cut), &mut out, &mut r);
            assert_eq!(out, &msg[..value], "cut at {cut}");
        }
    }

    #[test]
    fn lf_framing_escapes_embedded_lfs_as_rsyslog_does() {
        // Issue 12 item 14: an LF inside a counted frame forged a message.
        let mut b = Vec::new();
        lf_frame(b"<13>a\n<13>forged\r\n", &mut b);
        assert_eq!(b, b"<13>a#012<13>forged\r\n");
        b.clear();
        lf_frame(b"x\n\ny", &mut b);
        assert_eq!(b, b"x#012#012y\n");
    }

    #[test]
    fn empty_messages_are_recognised() {
        for m in [&b""[..], b"\n"] {
            assert!(is_empty_message(m));
        }
        for m in [&b"\r"[..], b"\n\n", b"x", b"<13>"] {
            assert!(!is_empty_message(m));
        }
    }
}

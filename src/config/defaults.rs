//! Every numeric setting's default and bounds, defined once.
//!
//! The config file's validation ([`super::validate`]) and the command
//! line's flags ([`super::cli`], through clap's `default_value_t`) both read
//! these, so a setting cannot have one default in a file and another on the
//! command line, and a bad value is refused by the same check with the
//! same message either way.

/// A whole-number setting: its default and inclusive bounds, in the unit
/// its key names (`_ms`, bytes, a count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num {
    /// Used when the key (or flag) is absent.
    pub default: u64,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value (`u64::MAX`: no upper bound).
    pub max: u64,
}

impl Num {
    const fn new(default: u64, min: u64, max: u64) -> Num {
        Num { default, min, max }
    }

    /// `default` as a `usize` (every default fits).
    pub const fn default_usize(&self) -> usize {
        self.default as usize
    }
}

/// Any number of milliseconds from `min` up.
const fn millis(default: u64, min: u64) -> Num {
    Num::new(default, min, u64::MAX)
}

// === [runtime] ===

/// `threads`: worker threads; 0 means one per core.
pub const THREADS: Num = Num::new(0, 0, 4096);
/// `drain_ms`: time connections get to finish after SIGTERM/SIGINT.
pub const DRAIN_MS: Num = millis(5000, 0);
/// `log`: the log filter.
pub const LOG: &str = "info";
/// `buffer_bytes`: bytes of incomplete messages (partial syslog frames,
/// buffered HTTP bodies) all connections together may hold beyond the
/// first 64 KiB each: 16 messages of the default 4 MiB at once.
pub const BUFFER_BYTES: Num = Num::new(64 << 20, 1 << 20, 1 << 40);

// === [redact] ===

/// `hmac_key_id`: the key's id, shown in fingerprints.
pub const HMAC_KEY_ID: &str = "k1";
/// Shortest HMAC key accepted, in bytes (after trimming whitespace).
pub const MIN_HMAC_KEY_LEN: usize = 16;
/// `learned_values`: values a stream learns from its own findings at most
/// (least recently seen evicted; see [`crate::engine::learned`]); 0 turns
/// learning off.
pub const LEARNED_VALUES: Num = Num::new(16, 0, crate::engine::learned::MAX_CAP as u64);

// === [metrics] ===

/// `listen` of the metrics endpoint.
pub const METRICS_LISTEN: &str = "127.0.0.1:9464";

// === [alerts] ===

/// `window_ms`: dedup window per (rule, fingerprint).
pub const ALERT_WINDOW_MS: Num = millis(300_000, 0);
/// `queue`: alerts queued at most per sink.
pub const ALERT_QUEUE: Num = Num::new(1024, 1, 1 << 20);
/// `rate_per_second`: deliveries per second per sink (a decimal number
/// above 0 and at most this).
pub const ALERT_RATE: f64 = 10.0;
/// Largest `rate_per_second`.
pub const ALERT_RATE_MAX: f64 = 1_000_000.0;
/// `burst`: token bucket size per sink.
pub const ALERT_BURST: Num = Num::new(20, 1, 1_000_000);
/// `timeout_ms`: bound on one HTTP delivery.
pub const ALERT_TIMEOUT_MS: Num = millis(5000, 1);
/// `max_attempts`: delivery attempts per alert and sink at most: a cap
/// within `retry_ms` (by default it does not bind: `retry_ms` ends retries
/// after about 35 attempts).
pub const ALERT_MAX_ATTEMPTS: Num = Num::new(100, 1, 10_000);
/// `retry_ms`: how long after it was queued a failed alert delivery is
/// still retried (rides out a sink's restart, as Prometheus' notifier does).
pub const ALERT_RETRY_MS: Num = Num::new(300_000, 0, 86_400_000);
/// `drain_ms`: time queued alerts get to be delivered at exit.
pub const ALERT_DRAIN_MS: Num = millis(5000, 0);

// === [[listener]], every mode ===

/// `max_connections`: TCP connections served at once per listener.
pub const MAX_CONNECTIONS: Num = Num::new(1024, 1, 1 << 20);
/// `connect_timeout_ms`: bound on one upstream connect.
pub const CONNECT_TIMEOUT_MS: Num = millis(5000, 1);
/// `idle_timeout_ms`: a connection with nothing in progress is closed
/// after this long without a byte; 0: never.
pub const IDLE_TIMEOUT_MS: Num = millis(600_000, 0);
/// `message_timeout_ms`: time a message (syslog frame, line, HTTP request)
/// may take from its first byte to its last.
pub const MESSAGE_TIMEOUT_MS: Num = millis(60_000, 1);

// === mode = "syslog" ===

/// Smallest `max_message_size` and `max_datagram`: the size every syslog
/// receiver must accept (RFC 5424 section 6.1).
pub const MIN_MESSAGE_SIZE: u64 = 480;
/// `max_message_size`: largest message relayed from TCP (longer ones are
/// cut to it).
pub const MAX_MESSAGE_SIZE: Num = Num::new(4 << 20, MIN_MESSAGE_SIZE, 64 << 20);
/// `queue_bytes`: bytes of messages waiting for the upstream, at most (and
/// at least `max_message_size`, checked beside it).
pub const QUEUE_BYTES: Num = Num::new(32 << 20, MIN_MESSAGE_SIZE, 1 << 40);
/// `max_datagram`: largest datagram sent to a UDP upstream (default and
/// most: the largest UDP payload over IPv4).
pub const MAX_DATAGRAM: Num = Num::new(65_507, MIN_MESSAGE_SIZE, 65_507);

// === mode = "tcp" ===

/// `flush_ms`: idle time after which held-back bytes are released.
pub const FLUSH_MS: Num = millis(20, 1);

// === mode = "http" ===

/// Largest `max_body`, `stream_above` and `max_line`.
const BODY_MAX: u64 = 1 << 30;
/// `max_body`: largest request body after decoding.
pub const MAX_BODY: Num = Num::new(16 << 20, 1, BODY_MAX);
/// `stream_above`: NDJSON and text bodies longer than this are streamed
/// (0: every one).
pub const STREAM_ABOVE: Num = Num::new(1 << 20, 0, BODY_MAX);
/// `max_line`: longest NDJSON line held while streaming.
pub const MAX_LINE: Num = Num::new(1 << 20, 1024, BODY_MAX);
/// `header_timeout_ms`: time a client gets to send a request's headers.
pub const HEADER_TIMEOUT_MS: Num = millis(30_000, 1);

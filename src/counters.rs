//! The tallies every mode keeps, below the modes and the exporter.
//!
//! # Design: atomics on the data path, read at scrape time
//!
//! The modes count into the plain atomics of [`Counters`] (one per
//! listener; a relaxed `fetch_add` per event, no label lookup, no lock) and
//! keep counting whether or not anyone scrapes; [`crate::metrics`] reads
//! them at scrape time, and the exit summary reads the same numbers
//! ([`Counters::TALLIES`] lists every plain count once). So:
//!
//! - the data path pays nothing for Prometheus: no `with_label_values`
//!   hashing per message, no registry lock;
//! - a listener replaced on reload keeps its `Arc<Counters>` (serve keys them
//!   by name), so its counters stay monotonic across reloads.
//!
//! The exceptions are kept bounded and cheap too: findings by rule are
//! collected per message in a small vector ([`RuleCounts`]) and merged under
//! a mutex only when a message had findings; the processing-time histogram
//! is fixed buckets of atomics ([`Histogram`]).
//!
//! This module uses the engine's and the alert pipeline's types and no
//! async runtime; the modes and the exporter use it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::engine::{Finding, Sink, Stats};
use crate::rules::RuleId;

/// Upper bounds of the processing-time buckets, in nanoseconds: 5 µs to
/// 1 s (a syslog message takes microseconds; a 64 KiB read of a stream,
/// up to a millisecond or so).
pub const BUCKETS_NS: [u64; 14] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    100_000_000,
    1_000_000_000,
];

/// A fixed-bucket histogram of durations, in atomics: `observe` is two
/// relaxed adds and a short scan of the bounds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per-bucket counts (not cumulative); the last one is `+Inf`.
    counts: [AtomicU64; BUCKETS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BUCKETS_NS.partition_point(|&b| b < ns);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Cumulative counts per bound, the total count and the sum in seconds.
    /// The count is the sum of the buckets read, so the two agree even
    /// while observations go on.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut cumulative = Vec::with_capacity(BUCKETS_NS.len());
        let mut total = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            if i < BUCKETS_NS.len() {
                cumulative.push(total);
            }
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, total, sum)
    }
}

/// Findings of one message (or one read) by rule: a few entries, merged
/// into a listener's [`FindingsByRule`] once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuleCounts(Vec<(RuleId, u64)>);

impl RuleCounts {
    /// Counts one finding of `rule`.
    pub fn add(&mut self, rule: &RuleId) {
        match self.0.iter_mut().find(|(r, _)| r == rule) {
            Some((_, n)) => *n += 1,
            None => self.0.push((rule.clone(), 1)),
        }
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &RuleCounts) {
        for (rule, n) in &other.0 {
            match self.0.iter_mut().find(|(r, _)| r == rule) {
                Some((_, m)) => *m += n,
                None => self.0.push((rule.clone(), *n)),
            }
        }
    }

    /// No findings.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All findings.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    /// Forgets the counts, keeping the allocation.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A listener's findings by rule id. Bounded by the rule ids ever loaded
/// (a reload may add some); a rule that never hit has no entry.
#[derive(Debug, Default)]
pub struct FindingsByRule(Mutex<BTreeMap<RuleId, u64>>);

impl FindingsByRule {
    /// Adds one message's counts (locks only when there are some).
    pub fn add(&self, counts: &RuleCounts) {
        if counts.is_empty() {
            return;
        }
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (rule, n) in &counts.0 {
            *m.entry(rule.clone()).or_insert(0) += n;
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Vec<(RuleId, u64)> {
        let m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.iter().map(|(r, n)| (r.clone(), *n)).collect()
    }
}

/// Why redactd itself answered an HTTP request with an error instead of
/// forwarding it (the label of `redactd_http_requests_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// 413: the body (or a streamed NDJSON line) is over its limit.
    TooLarge,
    /// 415: a `Content-Encoding` redactd does not decode.
    UnsupportedEncoding,
    /// 415: a `Content-Type` (or protobuf message) it cannot read.
    UnsupportedType,
    /// 400: the body does not decode or parse (not JSON, corrupt gzip...).
    InvalidBody,
    /// 400: the request itself (its path, a body cut off mid-way).
    BadRequest,
    /// 500: redactd could not handle it.
    Internal,
    /// 503: the memory budget for request bodies is spent for now (a
    /// `Retry-After` asks the client to come back).
    Busy,
}

impl Refused {
    /// Every reason, in exposition order.
    pub const ALL: [Refused; 7] = [
        Refused::TooLarge,
        Refused::UnsupportedEncoding,
        Refused::UnsupportedType,
        Refused::InvalidBody,
        Refused::BadRequest,
        Refused::Internal,
        Refused::Busy,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refused::TooLarge => "too_large",
            Refused::UnsupportedEncoding => "unsupported_encoding",
            Refused::UnsupportedType => "unsupported_type",
            Refused::InvalidBody => "invalid_body",
            Refused::BadRequest => "bad_request",
            Refused::Internal => "internal",
            Refused::Busy => "busy",
        }
    }
}

/// A listener's refused HTTP requests, by [`Refused`] reason.
#[derive(Debug, Default)]
pub struct RefusalCounts([AtomicU64; Refused::ALL.len()]);

impl RefusalCounts {
    /// Counts one refusal.
    pub fn add(&self, reason: Refused) {
        self.0[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals for `reason` so far.
    pub fn get(&self, reason: Refused) -> u64 {
        self.0[reason as usize].load(Ordering::Relaxed)
    }
}

/// Carries a redactor's cumulative [`Stats`] into a listener's counters as
/// deltas, so long-lived connections show up at once, not when they close.
#[derive(Debug, Default)]
pub struct StatsCursor {
    last: Stats,
}

impl StatsCursor {
    /// Adds what changed since the last call.
    pub fn update(&mut self, now: &Stats, c: &Counters) {
        let d = |now: u64, last: u64| now.saturating_sub(last);
        Counters::add(
            &c.bytes_redacted,
            d(now.bytes_redacted, self.last.bytes_redacted),
        );
        Counters::add(
            &c.hits_verified,
            d(now.hits_verified, self.last.hits_verified),
        );
        Counters::add(
            &c.blocks_capped,
            d(now.blocks_capped, self.last.blocks_capped),
        );
        Counters::add(&c.runs_capped, d(now.runs_capped, self.last.runs_capped));
        self.last = now.clone();
    }

    /// A new redactor starts from zero.
    pub fn restart(&mut self) {
        self.last = Stats::default();
    }
}

/// Counters a network mode keeps; the metrics endpoint exports them.
/// Monotonic except `connections_active`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_active: AtomicU64,
    /// Connections refused at the per-listener limit (every slot held by
    /// a connection making progress).
    pub connections_rejected: AtomicU64,
    /// Connections that gave their slot to a newcomer (stalled or idle
    /// while the listener was full).
    pub connections_evicted: AtomicU64,
    /// Connections closed by the idle or message timeout.
    pub connections_timed_out: AtomicU64,
    /// Messages in progress dropped when their connection was evicted or
    /// timed out (they may hold part of a secret, so they are not sent).
    pub dropped_incomplete: AtomicU64,
    /// Empty messages (nothing but an optional LF) dropped: no receiver
    /// can take one as a frame.
    pub dropped_empty: AtomicU64,
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
    /// Records cut: a syslog TCP message over `max_message_size`, or one
    /// cut to fit the upstream's datagram limit.
    pub truncated: AtomicU64,
    /// TCP streams closed on a framing error.
    pub framing_errors: AtomicU64,
    /// HTTP requests refused (answered by redactd, not forwarded), by
    /// reason.
    pub http_refused: RefusalCounts,
    /// TLS handshakes with clients that failed (bad or missing
    /// certificate, wrong protocol).
    pub tls_handshake_errors: AtomicU64,
    /// Successful upstream connections.
    pub upstream_connects: AtomicU64,
    /// Failed upstream connects and writes.
    pub upstream_errors: AtomicU64,
    /// Secrets found.
    pub findings: AtomicU64,
    /// Input bytes inside redacted spans.
    pub bytes_redacted: AtomicU64,
    /// Keyword hits the engine verified.
    pub hits_verified: AtomicU64,
    /// Multi-line blocks that stopped at their size cap.
    pub blocks_capped: AtomicU64,
    /// Lines whose rest a rule's dense findings redacted (failing closed).
    pub runs_capped: AtomicU64,
    /// Secrets found, by rule id.
    pub findings_by_rule: FindingsByRule,
    /// Time spent redacting one message (syslog) or one read (tcp).
    pub processing: Histogram,
    /// Whether the upstream is up. The syslog writers count their live
    /// connections (after a reload an old and a new writer may share a
    /// listener's counters); the tcp proxy stores 1 or 0 after each dial.
    /// Read it with [`Counters::upstream_is_up`].
    pub upstream_up: AtomicU64,
    /// Where this listener's findings are reported as alerts (disabled by
    /// default).
    pub alerts: crate::alert::Tap,
}

impl Counters {
    /// Whether the upstream is up (see `upstream_up`).
    pub fn upstream_is_up(&self) -> bool {
        self.upstream_up.load(Ordering::Relaxed) > 0
    }

    /// Counts one message's (or read's) findings, in total and by rule.
    pub fn count_findings(&self, by_rule: &RuleCounts) {
        if !by_rule.is_empty() {
            Self::add(&self.findings, by_rule.total());
            self.findings_by_rule.add(by_rule);
        }
    }

    /// Counts `findings` by rule and raises their alerts: [`count_findings`]
    /// and [`alert`] for a batch of findings collected by a mode.
    ///
    /// [`count_findings`]: Self::count_findings
    /// [`alert`]: Self::alert
    pub fn report(&self, peer: Option<SocketAddr>, findings: &[Finding]) {
        if findings.is_empty() {
            return;
        }
        let mut by_rule = RuleCounts::default();
        for f in findings {
            by_rule.add(&f.rule);
        }
        self.count_findings(&by_rule);
        self.alert(peer, findings);
    }

    /// Reports findings seen from `peer` as alerts (when enabled). Never
    /// waits.
    pub fn alert(&self, peer: Option<SocketAddr>, findings: &[Finding]) {
        self.alerts.report(peer, None, findings);
    }

    /// Adds `n` to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Every monotonic count, with its name in the summary line: the one
    /// list [`summary`](Self::summary) and [`add_all`](Self::add_all) walk.
    pub const TALLIES: &'static [(&'static str, Tally)] = &[
        ("connections", |c| &c.connections_accepted),
        ("rejected", |c| &c.connections_rejected),
        ("evicted", |c| &c.connections_evicted),
        ("timed_out", |c| &c.connections_timed_out),
        ("bytes_in", |c| &c.bytes_in),
        ("bytes_out", |c| &c.bytes_out),
        ("messages_in", |c| &c.messages_in),
        ("messages_out", |c| &c.messages_out),
        ("findings", |c| &c.findings),
        ("bytes_redacted", |c| &c.bytes_redacted),
        ("hits_verified", |c| &c.hits_verified),
        ("blocks_capped", |c| &c.blocks_capped),
        ("runs_capped", |c| &c.runs_capped),
        ("dropped_queue_full", |c| &c.dropped_queue_full),
        ("dropped_too_large", |c| &c.dropped_too_large),
        ("dropped_shutdown", |c| &c.dropped_shutdown),
        ("dropped_incomplete", |c| &c.dropped_incomplete),
        ("dropped_empty", |c| &c.dropped_empty),
        ("truncated", |c| &c.truncated),
        ("framing_errors", |c| &c.framing_errors),
        ("tls_handshake_errors", |c| &c.tls_handshake_errors),
        ("upstream_connects", |c| &c.upstream_connects),
        ("upstream_errors", |c| &c.upstream_errors),
    ];

    /// A one-line summary for the log (counts only, never payload).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = Self::TALLIES
            .iter()
            .map(|(name, f)| format!("{name}={}", Self::get(f(self))))
            .collect();
        parts.join(" ")
    }

    /// Adds every count of `other` to this one's (an exit summary over
    /// several listeners).
    pub fn add_all(&self, other: &Counters) {
        for (_, f) in Self::TALLIES {
            Self::add(f(self), Self::get(f(other)));
        }
    }
}

/// Where one count lives in [`Counters`].
pub type Tally = fn(&Counters) -> &AtomicU64;

/// A redactor sink appending output to a buffer and counting findings.
#[derive(Debug)]
pub struct Out<'a> {
    /// Redacted bytes.
    pub buf: &'a mut Vec<u8>,
    /// Findings seen.
    pub findings: u64,
    /// Findings seen, by rule.
    pub by_rule: RuleCounts,
    /// The findings themselves (fingerprints, never secret bytes), for
    /// alerts.
    pub found: Vec<Finding>,
}

impl<'a> Out<'a> {
    /// Appends to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Out<'a> {
        Out {
            buf,
            findings: 0,
            by_rule: RuleCounts::default(),
            found: Vec::new(),
        }
    }
}

impl Sink for Out<'_> {
    type Error = Infallible;
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
    fn finding(&mut self, finding: Finding) -> Result<(), Infallible> {
        self.findings += 1;
        self.by_rule.add(&finding.rule);
        self.found.push(finding);
        Ok(())
    }
}

/// Counters of the serve loop itself: reloads by result.
#[derive(Debug, Default)]
pub struct Reloads {
    /// Reloads that took effect.
    pub reloads_ok: AtomicU64,
    /// Reloads refused (bad file, unreadable key, a listener that could not
    /// start).
    pub reloads_failed: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_agree_with_the_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(3));
        h.observe(Duration::from_micros(5));
        h.observe(Duration::from_micros(7));
        h.observe(Duration::from_secs(5));
        let (cum, count, sum) = h.snapshot();
        assert_eq!(count, 4);
        assert_eq!(cum[0], 2, "5 µs is inside the first bucket (le)");
        assert_eq!(cum[1], 3);
        assert_eq!(*cum.last().unwrap(), 3, "5 s is only in +Inf");
        assert!((sum - 5.000015).abs() < 1e-9);
    }
}

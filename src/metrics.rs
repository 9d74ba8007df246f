//! Prometheus metrics and the admin endpoint: `GET /metrics` (text format
//! 0.0.4), `/healthz` and `/readyz`.
//!
//! # Design: atomics on the data path, read at scrape time
//!
//! The modes count into the plain atomics of [`Counters`] (one per
//! listener; a relaxed `fetch_add` per event, no label lookup, no lock), as
//! they did before there was an endpoint, and keep counting whether or not
//! anyone scrapes. This module owns one [`Registry`] with one custom
//! [`Collector`] registered once; at scrape time it walks the listeners it
//! was told about ([`Sources`]) and turns their counters into metric
//! families. So:
//!
//! - the data path pays nothing for Prometheus: no `with_label_values`
//!   hashing per message, no registry lock;
//! - a listener replaced on reload keeps its `Arc<Counters>` (serve keys them
//!   by name), so its counters stay monotonic across reloads without any
//!   re-registration; families are described once, at start;
//! - the exit summary line and the endpoint read the same numbers.
//!
//! The exceptions are kept bounded and cheap too: findings by rule are
//! collected per message in a small vector ([`RuleCounts`]) and merged under
//! a mutex only when a message had findings; the processing-time histogram
//! is fixed buckets of atomics ([`Histogram`]).
//!
//! # Labels
//!
//! `listener` (the listener's name: `syslog` and `tcp-0` for the
//! single-mode commands, the config's `name` under `serve`), `rule` (a rule
//! id; a series only for rules that hit), `reason`, `result`, `version`.
//! Never matched text, fingerprints, peers or hosts.
//!
//! # Readiness
//!
//! `/readyz` is 200 when every running listener's upstream is up: the
//! syslog relay's writer holds a connection (a UDP upstream: its socket is
//! open); the tcp proxy's last dial succeeded (a probe dials while it is
//! down, so readiness comes back without client traffic). Otherwise 503,
//! with the names of the listeners that are not ready. Once shutdown begins
//! it is 503 too. `/healthz` is 200 while the process serves HTTP.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::engine::Stats;
use crate::modes::net::{Counters, EngineWatch};
use crate::rules::RuleId;
use crate::serve::ServeCounters;

/// `Content-Type` of `/metrics`: text format 0.0.4.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the processing-time buckets, in nanoseconds: 5 µs to
/// 1 s (a syslog message takes microseconds; a 64 KiB read of a stream,
/// up to a millisecond or so).
const BUCKETS_NS: [u64; 14] = [
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
    fn snapshot(&self) -> (Vec<u64>, u64, f64) {
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
        self.last = now.clone();
    }

    /// A new redactor starts from zero.
    pub fn restart(&mut self) {
        self.last = Stats::default();
    }
}

/// What the endpoint reports on: the listeners (counters and whether they
/// are running), the engine, the reload counters. Modes and `serve` update
/// it; scrapes read it.
#[derive(Debug, Default)]
pub struct Sources {
    listeners: Mutex<BTreeMap<String, Source>>,
    engine: Mutex<Option<EngineWatch>>,
    reloads: Mutex<Option<Arc<ServeCounters>>>,
    alerts: Mutex<Option<crate::alert::Alerts>>,
    stopping: AtomicBool,
}

#[derive(Debug, Clone)]
struct Source {
    counters: Arc<Counters>,
    /// Running (counted for readiness). A listener removed by a reload
    /// keeps its counters in the output.
    live: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sources {
    /// Nothing registered yet.
    pub fn new() -> Arc<Sources> {
        Arc::new(Sources::default())
    }

    /// A running listener and its counters (replacing an entry of the same
    /// name).
    pub fn listener(&self, name: &str, counters: Arc<Counters>) {
        lock(&self.listeners).insert(
            name.to_string(),
            Source {
                counters,
                live: true,
            },
        );
    }

    /// Marks exactly `names` as running; the others keep their counters in
    /// the output but no longer count for readiness.
    pub fn running<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let names: Vec<&str> = names.into_iter().collect();
        for (name, s) in lock(&self.listeners).iter_mut() {
            s.live = names.contains(&name.as_str());
        }
    }

    /// The engine in force (for `redactd_rules_loaded`).
    pub fn engine(&self, engine: EngineWatch) {
        *lock(&self.engine) = Some(engine);
    }

    /// The reload counters (`serve` only).
    pub fn reloads(&self, reloads: Arc<ServeCounters>) {
        *lock(&self.reloads) = Some(reloads);
    }

    /// The alert pipeline (for `redactd_alerts_total` and
    /// `redactd_alerts_queued`).
    pub fn alerts(&self, alerts: crate::alert::Alerts) {
        *lock(&self.alerts) = Some(alerts);
    }

    /// Shutdown began: not ready any more.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// `Ok` when every running listener's upstream is up; otherwise why
    /// not (listener names only).
    pub fn readiness(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err("shutting down".into());
        }
        let down: Vec<String> = lock(&self.listeners)
            .iter()
            .filter(|(_, s)| s.live && !s.counters.upstream_is_up())
            .map(|(n, _)| n.clone())
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("upstream not connected: {}", down.join(" ")))
        }
    }

    fn snapshot(&self) -> Vec<(String, Arc<Counters>)> {
        lock(&self.listeners)
            .iter()
            .map(|(n, s)| (n.clone(), Arc::clone(&s.counters)))
            .collect()
    }
}

/// One family: name, help, type and label names.
struct Spec {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const fn spec(
    name: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
    help: &'static str,
) -> Spec {
    Spec {
        name,
        help,
        kind,
        labels,
    }
}

use MetricType::{COUNTER, GAUGE, HISTOGRAM};

const L: &[&str] = &["listener"];

/// Every family redactd exports, in the order of [`Exporter::collect`].
const FAMILIES: &[Spec] = &[
    spec("redactd_build_info", GAUGE, &["version"], "Build information; the value is 1."),
    spec("redactd_rules_loaded", GAUGE, &[], "Rules in the engine in force."),
    spec("redactd_config_reloads_total", COUNTER, &["result"], "Configuration reloads (SIGHUP) by result: ok, error."),
    spec("redactd_input_bytes_total", COUNTER, L, "Bytes received from clients."),
    spec("redactd_output_bytes_total", COUNTER, L, "Bytes sent upstream."),
    spec("redactd_redacted_bytes_total", COUNTER, L, "Input bytes inside redacted spans."),
    spec("redactd_messages_received_total", COUNTER, L, "Records (syslog messages) received."),
    spec("redactd_messages_sent_total", COUNTER, L, "Records sent upstream."),
    spec("redactd_messages_dropped_total", COUNTER, &["listener", "reason"], "Records dropped, by reason: queue_full (UDP beyond the queue), too_large, shutdown (partial or still queued at the drain deadline), incomplete (in progress when its connection was evicted or timed out), empty (nothing to send)."),
    spec("redactd_messages_truncated_total", COUNTER, L, "Records cut: a TCP message over max_message_size, or one cut to fit the upstream's datagram size."),
    spec("redactd_http_requests_refused_total", COUNTER, &["listener", "reason"], "HTTP requests answered with an error by redactd and not forwarded, by reason: too_large (413), unsupported_encoding, unsupported_type (415), invalid_body, bad_request (400), internal (500), busy (503: the buffer budget spent)."),
    spec("redactd_findings_total", COUNTER, &["listener", "rule"], "Secrets found and redacted, by rule id."),
    spec("redactd_connections_active", GAUGE, L, "Client connections open now."),
    spec("redactd_connections_total", COUNTER, &["listener", "result"], "Client connections by result: accepted; rejected (the listener full, every connection making progress); evicted (a stalled or idle connection that gave its slot to a new one); timed_out (idle or message timeout)."),
    spec("redactd_framing_errors_total", COUNTER, L, "Client streams closed on a framing error."),
    spec("redactd_tls_handshake_errors_total", COUNTER, L, "Failed TLS handshakes with clients."),
    spec("redactd_upstream_connects_total", COUNTER, L, "Successful upstream connections."),
    spec("redactd_upstream_errors_total", COUNTER, L, "Failed upstream connects and writes."),
    spec("redactd_upstream_up", GAUGE, L, "1 when the upstream is connected (syslog) or its last dial succeeded (tcp), else 0."),
    spec("redactd_processing_seconds", HISTOGRAM, L, "Time spent redacting one syslog message or one stream read."),
    spec("redactd_hits_verified_total", COUNTER, L, "Keyword hits the engine verified with a rule's regex."),
    spec("redactd_blocks_capped_total", COUNTER, L, "Multi-line secrets (blocks) that reached their size cap."),
    spec("redactd_alerts_total", COUNTER, &["sink", "result"], "Alerts by sink and result: sent, failed (after every retry), dropped (queue full), deduplicated (folded into an earlier alert)."),
    spec("redactd_alerts_queued", GAUGE, &[], "Alerts waiting in the alert queues or being retried."),
];

/// The one collector: reads [`Sources`] at scrape time.
struct Exporter {
    sources: Arc<Sources>,
    descs: Vec<Desc>,
}

fn family(s: &Spec) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(s.name.to_string());
    f.set_help(s.help.to_string());
    f.set_field_type(s.kind);
    f
}

fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut p = proto::LabelPair::default();
            p.set_name(k.to_string());
            p.set_value(v.to_string());
            p
        })
        .collect()
}

fn sample(kind: MetricType, pairs: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut m = proto::Metric::from_label(labels(pairs));
    if kind == GAUGE {
        let mut g = proto::Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    } else {
        let mut c = proto::Counter::default();
        c.set_value(value);
        m.set_counter(c);
    }
    m
}

/// `redactd_http_requests_refused_total`: every reason of every listener.
fn refusals(listeners: &[(String, Arc<Counters>)]) -> Vec<proto::Metric> {
    let mut out = Vec::new();
    for (name, c) in listeners {
        for reason in Refused::ALL {
            let labels = [("listener", name.as_str()), ("reason", reason.label())];
            out.push(sample(COUNTER, &labels, c.http_refused.get(reason) as f64));
        }
    }
    out
}

fn histogram(pairs: &[(&str, &str)], h: &Histogram) -> proto::Metric {
    let (cumulative, count, sum) = h.snapshot();
    let mut p = proto::Histogram::default();
    p.set_sample_count(count);
    p.set_sample_sum(sum);
    p.set_bucket(
        cumulative
            .iter()
            .zip(BUCKETS_NS)
            .map(|(&c, ns)| {
                let mut b = proto::Bucket::default();
                b.set_cumulative_count(c);
                b.set_upper_bound(ns as f64 / 1e9);
                b
            })
            .collect(),
    );
    let mut m = proto::Metric::from_label(labels(pairs));
    m.set_histogram(p);
    m
}

impl Collector for Exporter {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let listeners = self.sources.snapshot();
        let rules = lock(&self.sources.engine)
            .as_ref()
            .map(|e| e.borrow().rules.rules().len());
        let reloads = lock(&self.sources.reloads).clone();
        let alerts = lock(&self.sources.alerts).clone();
        let g = Counters::get;
        FAMILIES
            .iter()
            .map(|s| {
                let mut f = family(s);
                let out = f.mut_metric();
                let mut per_listener = |value: &dyn Fn(&Counters) -> u64| {
                    for (name, c) in &listeners {
                        out.push(sample(s.kind, &[("listener", name)], value(c) as f64));
                    }
                };
                match s.name {
                    "redactd_build_info" => out.push(sample(
                        GAUGE,
                        &[("version", env!("CARGO_PKG_VERSION"))],
                        1.0,
                    )),
                    "redactd_rules_loaded" => {
                        if let Some(n) = rules {
                            out.push(sample(GAUGE, &[], n as f64));
                        }
                    }
                    "redactd_config_reloads_total" => {
                        if let Some(r) = &reloads {
                            out.push(sample(
                                COUNTER,
                                &[("result", "ok")],
                                g(&r.reloads_ok) as f64,
                            ));
                            out.push(sample(
                                COUNTER,
                                &[("result", "error")],
                                g(&r.reloads_failed) as f64,
                            ));
                        }
                    }
                    "redactd_alerts_total" => {
                        for (sink, st) in alerts.iter().flat_map(|a| a.stats()) {
                            for (result, v) in st.results() {
                                out.push(sample(
                                    COUNTER,
                                    &[("sink", sink), ("result", result)],
                                    v as f64,
                                ));
                            }
                        }
                    }
                    "redactd_alerts_queued" => {
                        if let Some(a) = alerts.as_ref().filter(|a| a.is_enabled()) {
                            out.push(sample(GAUGE, &[], a.queue_depth() as f64));
                        }
                    }
                    "redactd_input_bytes_total" => per_listener(&|c| g(&c.bytes_in)),
                    "redactd_output_bytes_total" => per_listener(&|c| g(&c.bytes_out)),
                    "redactd_redacted_bytes_total" => per_listener(&|c| g(&c.bytes_redacted)),
                    "redactd_messages_received_total" => per_listener(&|c| g(&c.messages_in)),
                    "redactd_messages_sent_total" => per_listener(&|c| g(&c.messages_out)),
                    "redactd_messages_truncated_total" => per_listener(&|c| g(&c.truncated)),
                    "redactd_connections_active" => per_listener(&|c| g(&c.connections_active)),
                    "redactd_framing_errors_total" => per_listener(&|c| g(&c.framing_errors)),
                    "redactd_tls_handshake_errors_total" => {
                        per_listener(&|c| g(&c.tls_handshake_errors))
                    }
                    "redactd_upstream_connects_total" => per_listener(&|c| g(&c.upstream_connects)),
                    "redactd_upstream_errors_total" => per_listener(&|c| g(&c.upstream_errors)),
                    "redactd_upstream_up" => per_listener(&|c| u64::from(c.upstream_is_up())),
                    "redactd_hits_verified_total" => per_listener(&|c| g(&c.hits_verified)),
                    "redactd_blocks_capped_total" => per_listener(&|c| g(&c.blocks_capped)),
                    "redactd_messages_dropped_total" => {
                        for (name, c) in &listeners {
                            for (reason, v) in [
                                ("queue_full", &c.dropped_queue_full),
                                ("too_large", &c.dropped_too_large),
                                ("shutdown", &c.dropped_shutdown),
                                ("incomplete", &c.dropped_incomplete),
                                ("empty", &c.dropped_empty),
                            ] {
                                out.push(sample(
                                    COUNTER,
                                    &[("listener", name), ("reason", reason)],
                                    g(v) as f64,
                                ));
                            }
                        }
                    }
                    "redactd_http_requests_refused_total" => out.extend(refusals(&listeners)),
                    "redactd_connections_total" => {
                        for (name, c) in &listeners {
                            for (result, v) in [
                                ("accepted", &c.connections_accepted),
                                ("rejected", &c.connections_rejected),
                                ("evicted", &c.connections_evicted),
                                ("timed_out", &c.connections_timed_out),
                            ] {
                                out.push(sample(
                                    COUNTER,
                                    &[("listener", name), ("result", result)],
                                    g(v) as f64,
                                ));
                            }
                        }
                    }
                    "redactd_findings_total" => {
                        for (name, c) in &listeners {
                            for (rule, n) in c.findings_by_rule.snapshot() {
                                out.push(sample(
                                    COUNTER,
                                    &[("listener", name), ("rule", rule.as_str())],
                                    n as f64,
                                ));
                            }
                        }
                    }
                    "redactd_processing_seconds" => {
                        for (name, c) in &listeners {
                            out.push(histogram(&[("listener", name)], &c.processing));
                        }
                    }
                    other => unreachable!("family {other} has no collector"),
                }
                f
            })
            .collect()
    }
}

/// The registry with every family registered once, and what it reads.
pub struct Metrics {
    registry: Registry,
    sources: Arc<Sources>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("sources", &self.sources)
            .finish()
    }
}

impl Metrics {
    /// Registers every family, reading `sources` at each scrape.
    pub fn new(sources: Arc<Sources>) -> Metrics {
        let descs = FAMILIES
            .iter()
            .map(|s| {
                Desc::new(
                    s.name.to_string(),
                    s.help.to_string(),
                    s.labels.iter().map(|l| l.to_string()).collect(),
                    Default::default(),
                )
                .expect("valid metric description")
            })
            .collect();
        let registry = Registry::new();
        registry
            .register(Box::new(Exporter {
                sources: Arc::clone(&sources),
                descs,
            }))
            .expect("families registered once");
        Metrics { registry, sources }
    }

    /// What it reports on.
    pub fn sources(&self) -> &Arc<Sources> {
        &self.sources
    }

    /// The text exposition (format 0.0.4).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(8 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding into memory");
        buf
    }

    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let text = |status: StatusCode, body: String| {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = status;
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n".into());
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match req.uri().path() {
            "/metrics" => {
                let mut r = Response::new(Full::new(Bytes::from(self.encode())));
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
                r
            }
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            "/readyz" => match self.sources.readiness() {
                Ok(()) => text(StatusCode::OK, "ready\n".into()),
                Err(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                ),
            },
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        }
    }
}

/// Admin connections served at once; more are closed at accept.
const MAX_CONNECTIONS: usize = 64;

/// Binds the admin endpoint on `addr` and serves it in a background task
/// (until the runtime ends). Returns the bound address (for the ready
/// file: `addr` may have port 0).
pub async fn start(addr: SocketAddr, sources: &Arc<Sources>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new(Arc::clone(sources)));
    tokio::spawn(serve(listener, metrics));
    tracing::info!(addr = %bound, "metrics endpoint listening");
    Ok(bound)
}

/// Parses `--metrics`: `HOST:PORT`, or a bare `PORT` on 127.0.0.1.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("{s:?}: expected HOST:PORT or PORT (127.0.0.1)"))
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` (HTTP/1.1)
/// until the task is dropped: it keeps answering while the process drains,
/// so `/readyz` can say 503 then.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let r = metrics.respond(&req);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics endpoint: connection");
            }
            drop(permit);
        });
    }
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

    #[test]
    fn every_family_is_described_and_collected() {
        let sources = Sources::new();
        let c = Arc::new(Counters::default());
        let mut rc = RuleCounts::default();
        let rule = crate::check::load(&crate::rules::RuleSetBuilder::builtin())
            .unwrap()
            .rules()[0]
            .id
            .clone();
        rc.add(&rule);
        rc.add(&rule);
        c.findings_by_rule.add(&rc);
        sources.listener("a", Arc::clone(&c));
        sources.reloads(Arc::new(ServeCounters::default()));
        let m = Metrics::new(Arc::clone(&sources));
        let text = String::from_utf8(m.encode()).unwrap();
        for s in FAMILIES {
            if s.name == "redactd_rules_loaded" || s.name.starts_with("redactd_alerts_") {
                continue; // no engine or alert pipeline given (tests/integration/alerts.rs scrapes those)
            }
            assert!(
                text.contains(&format!("# TYPE {} ", s.name)),
                "{}\n{text}",
                s.name
            );
        }
        assert!(
            text.contains(&format!(
                "redactd_findings_total{{listener=\"a\",rule=\"{rule}\"}} 2"
            )),
            "{text}"
        );
        assert!(
            text.contains("redactd_processing_seconds_bucket{listener=\"a\",le=\"0.000005\"} 0")
        );
        assert_eq!(sources.readiness(), Err("upstream not connected: a".into()));
        c.upstream_up.fetch_add(1, Ordering::Relaxed);
        assert_eq!(sources.readiness(), Ok(()));
        sources.running([]);
        assert_eq!(
            sources.readiness(),
            Ok(()),
            "a retired listener does not count"
        );
        sources.stopping();
        assert!(sources.readiness().is_err());
    }
}

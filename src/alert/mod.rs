//! Alerts on findings: every finding becomes an [`Alert`] record (rule id,
//! severity, remediation, source, offset, keyed fingerprint, first and last
//! seen, count; never secret bytes), deduplicated by (rule, fingerprint)
//! within a window, queued on a bounded channel and delivered by one task
//! per sink (JSON-lines audit file, CloudEvents webhook, Alertmanager v2),
//! each rate limited by a token bucket and retrying with capped
//! exponential backoff.
//!
//! The data path calls [`Alerts::report`], which never waits: it takes a
//! short lock for the dedup table and `try_send`s; a full queue drops the
//! alert and counts it (`dropped`).
//!
//! # Dedup
//!
//! Alerts are keyed by [`AlertKey`] (rule id and keyed fingerprint, typed).
//! The first occurrence of a key is sent at once with `count` 1. Repeats
//! within the window only update `count` and `last_seen`; when the window
//! closes a record with the total count is sent (at most one per window),
//! and the next window starts. A window with no repeats forgets the key.
//!
//! # Retries
//!
//! A failed delivery is retried, backing off from `backoff_initial` doubling
//! to `backoff_max`, until `retry` has passed since the alert was queued
//! (so a sink restarting for a minute or two loses nothing, as Prometheus'
//! notifier rides out an Alertmanager restart) or `max_attempts` attempts
//! were made, whichever comes first; then it is counted `failed`. Every
//! alert gets at least one attempt. While one alert is retried the ones
//! behind it wait in the sink's bounded queue, whose overflow is counted
//! `dropped` as ever: the data path never waits. At exit, alerts still
//! queued or being retried when the drain time ends are counted `dropped`.

pub mod sinks;
mod time;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::fingerprint::Fingerprint;
use crate::engine::Finding;
use crate::rules::{RuleId, RuleSet};

pub use time::rfc3339;

/// CloudEvents `type` of an alert.
pub const EVENT_TYPE: &str = "dev.redactd.secret.detected";

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Dedup window per (rule, fingerprint).
    pub window: Duration,
    /// Capacity of the queue from the data path (and of each sink's).
    pub queue: usize,
    /// Sustained deliveries per second per sink.
    pub rate_per_second: f64,
    /// Token bucket size per sink.
    pub burst: u32,
    /// Delivery attempts per alert and sink at most (first try included).
    pub max_attempts: u32,
    /// How long after it was queued a failed alert is still retried.
    pub retry: Duration,
    /// First retry delay; doubles per attempt.
    pub backoff_initial: Duration,
    /// Cap on the retry delay.
    pub backoff_max: Duration,
    /// Bound on one HTTP delivery.
    pub timeout: Duration,
    /// Keys tracked for dedup at most; beyond, alerts are sent undeduplicated.
    pub max_tracked: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: Duration::from_secs(300),
            queue: 1024,
            rate_per_second: 10.0,
            burst: 20,
            max_attempts: 100,
            retry: Duration::from_secs(300),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_tracked: 100_000,
        }
    }
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// Append one JSON line per alert.
    Audit(PathBuf),
    /// POST a CloudEvents 1.0 structured JSON event; bearer token read from
    /// a file.
    Webhook {
        /// `http://HOST:PORT/PATH`.
        url: String,
        /// File holding the bearer token.
        token_file: Option<PathBuf>,
    },
    /// POST to Alertmanager's `/api/v2/alerts` (base URL given).
    Alertmanager {
        /// `http://HOST:PORT` (a path prefix is kept).
        url: String,
    },
}

impl SinkSpec {
    /// The `sink` metric label.
    pub fn label(&self) -> &'static str {
        match self {
            SinkSpec::Audit(_) => "audit",
            SinkSpec::Webhook { .. } => "webhook",
            SinkSpec::Alertmanager { .. } => "alertmanager",
        }
    }
}

/// Where a finding was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertSource {
    /// `filter`, `tcp`, `syslog`, `http`.
    pub mode: String,
    /// Listener name (network modes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Client address (network modes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Input file (`-` for stdin) in `filter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// One alert record. Holds no secret bytes: only the keyed fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Unique per record.
    pub id: String,
    /// Rule id.
    pub rule: String,
    /// Rule severity.
    pub severity: String,
    /// What to rotate and where.
    pub remediation: String,
    /// Where it was found (first occurrence).
    pub source: AlertSource,
    /// Stream offset of the first occurrence.
    pub offset: u64,
    /// Line of the first occurrence.
    pub line: u64,
    /// `keyid:hex` HMAC-SHA256 fingerprint.
    pub fingerprint: String,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    /// Occurrences since `first_seen`.
    pub count: u64,
}

/// Per-sink counters.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Delivered.
    pub sent: AtomicU64,
    /// Given up on after every attempt.
    pub failed: AtomicU64,
    /// Dropped on a full queue (or at shutdown).
    pub dropped: AtomicU64,
    /// Folded into an earlier alert by dedup.
    pub deduplicated: AtomicU64,
    /// Queued for this sink, or being delivered or retried: not yet sent,
    /// failed or dropped.
    pub waiting: AtomicU64,
}

impl SinkStats {
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `(result, value)` for each result label.
    pub fn results(&self) -> [(&'static str, u64); 4] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("sent", g(&self.sent)),
            ("failed", g(&self.failed)),
            ("dropped", g(&self.dropped)),
            ("deduplicated", g(&self.deduplicated)),
        ]
    }
}

/// What dedup tells alerts apart by: one secret (by its keyed
/// fingerprint) found by one rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlertKey {
    /// The rule that found it.
    pub rule: RuleId,
    /// The secret's keyed fingerprint (never the secret).
    pub fingerprint: Fingerprint,
}

impl AlertKey {
    /// The key of `f`.
    pub fn of(f: &Finding) -> AlertKey {
        AlertKey {
            rule: f.rule.clone(),
            fingerprint: f.fingerprint.clone(),
        }
    }
}

struct Entry {
    alert: Alert,
    window_start: Instant,
    pending: u64,
}

/// An alert on its way to one sink, with when it was queued (its retry
/// period counts from there).
struct Queued {
    alert: Arc<Alert>,
    at: Instant,
}

struct Inner {
    settings: Settings,
    /// The data path's queue; taken (closed) by [`Alerts::close`], which
    /// ends the fan-out task and then the sink workers.
    tx: Mutex<Option<mpsc::Sender<Alert>>>,
    /// Alerts in `tx`'s queue (each sink counts its own in
    /// [`SinkStats::waiting`]).
    waiting: Arc<AtomicU64>,
    stats: Vec<(&'static str, Arc<SinkStats>)>,
    dedup: Mutex<HashMap<AlertKey, Entry>>,
    remediation: HashMap<RuleId, String>,
    id_prefix: String,
    seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pipeline's handle (cheap to clone). With no sinks it is disabled
/// and [`Alerts::report`] does nothing.
#[derive(Clone)]
pub struct Alerts(Option<Arc<Inner>>);

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("sinks", &self.sink_names())
            .finish()
    }
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts::disabled()
    }
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sink's settings are wrong.
    #[error("alert sink {sink}: {msg}")]
    Sink {
        /// The sink.
        sink: &'static str,
        /// What is wrong (never a token).
        msg: String,
    },
}

/// An alert pipeline for a command that runs no async runtime of its own
/// (`filter`): one worker thread delivers while the command works.
#[derive(Debug)]
pub struct Standalone {
    /// Dropped last: the pipeline's tasks run on it.
    rt: Option<tokio::runtime::Runtime>,
    alerts: Alerts,
    running: Running,
    /// Time queued alerts get to be delivered at [`finish`](Self::finish).
    drain: Duration,
}

impl Standalone {
    /// No pipeline: findings are not alerted.
    pub fn disabled() -> Standalone {
        Standalone {
            rt: None,
            alerts: Alerts::disabled(),
            running: Running::idle(),
            drain: Duration::ZERO,
        }
    }

    /// Starts the pipeline on a runtime of its own.
    pub fn start(
        settings: Settings,
        specs: &[SinkSpec],
        rules: &RuleSet,
        drain: Duration,
    ) -> Result<Standalone, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Sink {
                sink: "runtime",
                msg: e.to_string(),
            })?;
        let (alerts, running) = {
            let _enter = rt.enter();
            Alerts::start(settings, specs, rules)?
        };
        Ok(Standalone {
            rt: Some(rt),
            alerts,
            running,
            drain,
        })
    }

    /// The pipeline, for [`Tap`]s.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// Closes the queue and delivers what is in it within the drain time.
    /// Returns whether any alert failed or was dropped, and the summary
    /// (empty when disabled).
    pub fn finish(self) -> (bool, String) {
        let Some(rt) = &self.rt else {
            return (false, String::new());
        };
        rt.block_on(async {
            self.alerts.close();
            self.running.drain(&self.alerts, self.drain).await;
        });
        let problems =
            self.alerts.stats().iter().any(|(_, s)| {
                s.failed.load(Ordering::Relaxed) + s.dropped.load(Ordering::Relaxed) > 0
            });
        (problems, self.alerts.summary())
    }
}

/// Waits for the pipeline to deliver what is queued.
#[derive(Debug)]
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl Running {
    /// Nothing running (a disabled pipeline).
    pub fn idle() -> Running {
        Running {
            tasks: Vec::new(),
            ticker: None,
        }
    }

    /// Waits until the queues are empty (after [`Alerts::close`]) or
    /// `deadline` passes; alerts still queued or being retried then are
    /// counted as dropped.
    pub async fn drain(mut self, alerts: &Alerts, deadline: Duration) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        let mut pending: VecDeque<JoinHandle<()>> = self.tasks.drain(..).collect();
        let all = async {
            while let Some(t) = pending.front_mut() {
                let _ = t.await;
                pending.pop_front();
            }
        };
        if tokio::time::timeout(deadline, all).await.is_ok() {
            return;
        }
        for t in &pending {
            t.abort();
        }
        // Cancelled at their next await: after this the counts stand still.
        for t in pending {
            let _ = t.await;
        }
        if let Some(inner) = &alerts.0 {
            let upstream = inner.waiting.swap(0, Ordering::Relaxed);
            for (_, s) in &inner.stats {
                let left = upstream + s.waiting.swap(0, Ordering::Relaxed);
                s.dropped.fetch_add(left, Ordering::Relaxed);
            }
        }
    }
}

impl Alerts {
    /// A pipeline that does nothing.
    pub fn disabled() -> Alerts {
        Alerts(None)
    }

    /// Whether alerts are delivered anywhere.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Starts the pipeline (in a tokio runtime). `rules` supplies each
    /// rule's remediation text. Token files are read here.
    pub fn start(
        settings: Settings,
        specs: &[SinkSpec],
        rules: &RuleSet,
    ) -> Result<(Alerts, Running), Error> {
        if specs.is_empty() {
            return Ok((Alerts::disabled(), Running::idle()));
        }
        let built = specs
            .iter()
            .map(|s| sinks::Sink::new(s, &settings))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel::<Alert>(settings.queue.max(1));
        let mut tasks = Vec::new();
        let mut stats = Vec::new();
        let mut outs = Vec::new();
        for sink in built {
            let st = Arc::new(SinkStats::default());
            let (stx, srx) = mpsc::channel::<Queued>(settings.queue.max(1));
            stats.push((sink.label(), Arc::clone(&st)));
            outs.push((stx, Arc::clone(&st)));
            tasks.push(tokio::spawn(sink_worker(sink, srx, st, settings.clone())));
        }
        let waiting = Arc::new(AtomicU64::new(0));
        tasks.push(tokio::spawn(fan_out(rx, outs, Arc::clone(&waiting))));
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let inner = Arc::new(Inner {
            settings,
            tx: Mutex::new(Some(tx)),
            waiting,
            stats,
            dedup: Mutex::new(HashMap::new()),
            remediation: rules
                .rules()
                .iter()
                .map(|r| (r.id.clone(), r.remediation.clone()))
                .collect(),
            id_prefix: format!("{:x}-{:x}", std::process::id(), nanos),
            seq: AtomicU64::new(0),
        });
        let ticker = tokio::spawn(tick(Arc::downgrade(&inner)));
        let running = Running {
            tasks,
            ticker: Some(ticker),
        };
        Ok((Alerts(Some(inner)), running))
    }

    /// The sinks' metric labels.
    pub fn sink_names(&self) -> Vec<&'static str> {
        self.0
            .as_ref()
            .map(|i| i.stats.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default()
    }

    /// Counters per sink.
    pub fn stats(&self) -> Vec<(&'static str, Arc<SinkStats>)> {
        self.0.as_ref().map(|i| i.stats.clone()).unwrap_or_default()
    }

    /// Alerts waiting now: queued, or being delivered or retried.
    pub fn queue_depth(&self) -> u64 {
        let Some(inner) = &self.0 else { return 0 };
        let sinks: u64 = inner
            .stats
            .iter()
            .map(|(_, s)| s.waiting.load(Ordering::Relaxed))
            .sum();
        inner.waiting.load(Ordering::Relaxed) + sinks
    }

    /// A one-line summary for logs (counts only).
    pub fn summary(&self) -> String {
        self.stats()
            .iter()
            .map(|(name, s)| {
                let counts: Vec<String> = s
                    .results()
                    .iter()
                    .map(|(result, n)| format!("{result}={n}"))
                    .collect();
                format!("alerts sink={name} {}", counts.join(" "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Reports one finding. Never waits.
    pub fn report(&self, source: &AlertSource, f: &Finding) {
        let Some(inner) = &self.0 else { return };
        let now = Instant::now();
        let wall = rfc3339(SystemTime::now());
        let key = AlertKey::of(f);
        let send = {
            let mut d = lock(&inner.dedup);
            match d.get_mut(&key) {
                Some(e) => {
                    e.alert.count += 1;
                    e.alert.last_seen = wall;
                    if now.duration_since(e.window_start) < inner.settings.window {
                        e.pending += 1;
                        for (_, s) in &inner.stats {
                            SinkStats::add(&s.deduplicated);
                        }
                        None
                    } else {
                        e.window_start = now;
                        e.pending = 0;
                        Some(e.alert.clone())
                    }
                }
                None => {
                    let alert = inner.first_alert(&key, source, f, wall);
                    if d.len() < inner.settings.max_tracked {
                        let entry = Entry {
                            alert: alert.clone(),
                            window_start: now,
                            pending: 0,
                        };
                        d.insert(key, entry);
                    }
                    Some(alert)
                }
            }
        };
        if let Some(a) = send {
            self.enqueue(a);
        }
    }

    fn enqueue(&self, mut a: Alert) {
        let Some(inner) = &self.0 else { return };
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        a.id = format!("{}-{seq}", inner.id_prefix);
        // Counted before it can be taken, so the count never goes below 0.
        inner.waiting.fetch_add(1, Ordering::Relaxed);
        let ok = match lock(&inner.tx).as_ref() {
            Some(tx) => tx.try_send(a).is_ok(),
            None => false,
        };
        if !ok {
            inner.waiting.fetch_sub(1, Ordering::Relaxed);
            for (_, s) in &inner.stats {
                SinkStats::add(&s.dropped);
            }
        }
    }

    /// Sends the counts of windows that closed (all of them when `all`),
    /// and forgets keys whose window closed without repeats.
    fn close_windows(&self, all: bool) {
        let Some(inner) = &self.0 else { return };
        let now = Instant::now();
        let mut out = Vec::new();
        lock(&inner.dedup).retain(|_, e| {
            if !all && now.duration_since(e.window_start) < inner.settings.window {
                return true;
            }
            if e.pending == 0 {
                return false;
            }
            e.pending = 0;
            e.window_start = now;
            out.push(e.alert.clone());
            !all
        });
        for a in out {
            self.enqueue(a);
        }
    }

    /// Sends pending repeat counts and closes the queue: the sink tasks end
    /// once they have delivered what is queued (see [`Running::drain`]).
    pub fn close(&self) {
        self.close_windows(true);
        if let Some(inner) = &self.0 {
            lock(&inner.tx).take();
        }
    }
}

impl Inner {
    /// The record of the first occurrence of `key`.
    fn first_alert(
        &self,
        key: &AlertKey,
        source: &AlertSource,
        f: &Finding,
        wall: String,
    ) -> Alert {
        Alert {
            id: String::new(),
            rule: key.rule.to_string(),
            severity: f.severity.as_str().to_string(),
            remediation: self
                .remediation
                .get(&key.rule)
                .cloned()
                .unwrap_or_else(|| "rotate the secret where it was issued".into()),
            source: source.clone(),
            offset: f.offset,
            line: f.line,
            fingerprint: key.fingerprint.to_string(),
            first_seen: wall.clone(),
            last_seen: wall,
            count: 1,
        }
    }
}

/// Closes dedup windows as they end, until the pipeline is closed or gone.
async fn tick(weak: std::sync::Weak<Inner>) {
    let Some(window) = weak.upgrade().map(|i| i.settings.window) else {
        return;
    };
    let period = (window / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        if lock(&inner.tx).is_none() {
            return;
        }
        Alerts(Some(inner)).close_windows(false);
    }
}

/// Hands each alert from the data path's queue to every sink's queue; a
/// full sink queue drops it for that sink (counted). `waiting` counts the
/// alerts in the data path's queue.
async fn fan_out(
    mut rx: mpsc::Receiver<Alert>,
    outs: Vec<(mpsc::Sender<Queued>, Arc<SinkStats>)>,
    waiting: Arc<AtomicU64>,
) {
    while let Some(a) = rx.recv().await {
        let alert = Arc::new(a);
        let at = Instant::now();
        for (tx, st) in &outs {
            st.waiting.fetch_add(1, Ordering::Relaxed);
            let q = Queued {
                alert: Arc::clone(&alert),
                at,
            };
            if tx.try_send(q).is_err() {
                st.waiting.fetch_sub(1, Ordering::Relaxed);
                SinkStats::add(&st.dropped);
            }
        }
        waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A token bucket: `rate` per second, up to `burst` at once.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: u32) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket {
            rate: rate.max(0.001),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    async fn take(&mut self) {
        loop {
            let now = Instant::now();
            self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
                .min(self.burst);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - self.tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

/// Capped exponential backoff delay before retry `attempt` (1-based).
pub fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    settings
        .backoff_initial
        .saturating_mul(factor)
        .min(settings.backoff_max)
}

async fn sink_worker(
    mut sink: sinks::Sink,
    mut rx: mpsc::Receiver<Queued>,
    stats: Arc<SinkStats>,
    settings: Settings,
) {
    let mut bucket = Bucket::new(settings.rate_per_second, settings.burst);
    while let Some(q) = rx.recv().await {
        bucket.take().await;
        let delivered = deliver(&mut sink, &q, &settings).await;
        SinkStats::add(if delivered {
            &stats.sent
        } else {
            &stats.failed
        });
        stats.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Delivers one alert, retrying until its retry period (counted from when
/// it was queued) has passed or `max_attempts` were made; whether it was
/// delivered.
async fn deliver(sink: &mut sinks::Sink, q: &Queued, settings: &Settings) -> bool {
    let deadline = q.at + settings.retry;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match sink.deliver(&q.alert).await {
            Ok(()) => return true,
            Err(e) => e,
        };
        let now = Instant::now();
        if attempt >= settings.max_attempts.max(1) || now >= deadline {
            tracing::warn!(sink = sink.label(), rule = %q.alert.rule, %error,
                           attempts = attempt, "alert delivery failed; given up");
            return false;
        }
        tracing::debug!(sink = sink.label(), %error, attempt, "alert delivery failed; retrying");
        tokio::time::sleep(backoff(settings, attempt).min(deadline - now)).await;
    }
}

/// Reports findings from one place (a listener, or a file) to the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Tap {
    alerts: Alerts,
    mode: String,
    listener: Option<String>,
}

impl Tap {
    /// Findings of `mode`'s listener `listener` go to `alerts`.
    pub fn new(alerts: Alerts, mode: &str, listener: Option<&str>) -> Tap {
        Tap {
            alerts,
            mode: mode.to_string(),
            listener: listener.map(str::to_string),
        }
    }

    /// Whether reporting does anything.
    pub fn is_enabled(&self) -> bool {
        self.alerts.is_enabled()
    }

    /// The pipeline.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// Reports `findings` seen from `peer` (or in `file`).
    pub fn report(&self, peer: Option<SocketAddr>, file: Option<&str>, findings: &[Finding]) {
        if findings.is_empty() || !self.alerts.is_enabled() {
            return;
        }
        let source = AlertSource {
            mode: self.mode.clone(),
            listener: self.listener.clone(),
            peer: peer.map(|p| p.to_string()),
            file: file.map(str::to_string),
        };
        for f in findings {
            self.alerts.report(&source, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let s = Settings {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..Settings::default()
        };
        let d: Vec<u128> = (1..6).map(|a| backoff(&s, a).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
    }

    /// A finding of the first built-in rule, and the rules.
    fn finding() -> (Finding, Arc<RuleSet>) {
        let rules = crate::check::load(&crate::rules::RuleSetBuilder::builtin()).unwrap();
        let fp = crate::engine::fingerprint::Fingerprinter::new(b"0123456789abcdef", "k1")
            .unwrap()
            .fingerprint(b"not a real secret");
        let r = &rules.rules()[0];
        let f = Finding {
            rule_index: 0,
            rule: r.id.clone(),
            severity: r.severity,
            offset: 0,
            len: 1,
            line: 1,
            fingerprint: fp,
        };
        (f, rules)
    }

    #[tokio::test]
    async fn an_alert_still_being_retried_at_the_drain_deadline_is_counted_dropped() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sink = SinkSpec::Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
        };
        let settings = Settings {
            retry: Duration::from_secs(60),
            ..Settings::default()
        };
        let (f, rules) = finding();
        let (alerts, running) = Alerts::start(settings, &[sink], &rules).unwrap();
        alerts.report(&AlertSource::default(), &f);
        let mut queued = 0;
        for _ in 0..200 {
            queued = alerts.queue_depth();
            if queued == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(queued, 1, "queued or being retried");
        alerts.close();
        running.drain(&alerts, Duration::from_millis(300)).await;
        assert_eq!(
            alerts.summary(),
            "alerts sink=alertmanager sent=0 failed=0 dropped=1 deduplicated=0"
        );
        assert_eq!(alerts.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_failed_delivery_says_why_as_a_typed_error() {
        use sinks::DeliveryError;
        // A receiver that answers every request 503.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut c, _)) = l.accept().await {
                let mut buf = vec![0; 64 << 10];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let alert = Alert {
            id: "1".into(),
            rule: "t.tok".into(),
            severity: "high".into(),
            remediation: "rotate".into(),
            source: AlertSource::default(),
            offset: 0,
            line: 1,
            fingerprint: "k1:00".into(),
            first_seen: "2026-01-01T00:00:00Z".into(),
            last_seen: "2026-01-01T00:00:00Z".into(),
            count: 1,
        };
        let spec = SinkSpec::Alertmanager { url };
        let mut sink = sinks::Sink::new(&spec, &Settings::default()).unwrap();
        let e = sink.deliver(&alert).await.unwrap_err();
        assert!(matches!(e, DeliveryError::Status(503)), "{e}");
        assert_eq!(e.to_string(), "HTTP status 503");
    }

    #[test]
    fn alerts_are_keyed_by_rule_and_fingerprint() {
        let (f, _) = finding();
        let mut g = f.clone();
        assert_eq!(AlertKey::of(&f), AlertKey::of(&g));
        g.fingerprint.digest[0] ^= 1;
        assert_ne!(AlertKey::of(&f), AlertKey::of(&g));
    }

    #[tokio::test]
    async fn bucket_limits_the_rate() {
        let mut b = Bucket::new(100.0, 2);
        let t0 = Instant::now();
        for _ in 0..12 {
            b.take().await;
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(95), "{took:?}");
    }
}

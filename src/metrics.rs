//! Prometheus metrics and the admin endpoint: `GET /metrics` (text format
//! 0.0.4), `/healthz` and `/readyz`.
//!
//! # Design
//!
//! The modes count into [`crate::counters`] (plain atomics, nothing
//! Prometheus on the data path). This module owns one [`Registry`] with one
//! custom [`Collector`] registered once; at scrape time it reads what it was
//! told about ([`Sources`]) into the families of [`FAMILIES`], each declared
//! once with its help, labels and how its samples are read. A family added
//! there is exported, described and listed by [`families`]; nothing
//! dispatches on its name.
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
use std::sync::atomic::{AtomicBool, Ordering};
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

use crate::counters::{Counters, Histogram, Refused, Reloads, BUCKETS_NS};

/// `Content-Type` of `/metrics`: text format 0.0.4.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint reports on: the listeners (counters and whether they
/// are running), the rule count, the reload counters, the alert pipeline. Modes and `serve` update
/// it; scrapes read it.
#[derive(Debug, Default)]
pub struct Sources {
    listeners: Mutex<BTreeMap<String, Source>>,
    /// The rule set in force; `None` until told.
    rules_loaded: Mutex<Option<Arc<crate::rules::RuleSet>>>,
    reloads: Mutex<Option<Arc<Reloads>>>,
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

    /// The rule set in force (for `redactd_rules_loaded` and its compiled
    /// regexes' budget): at start and after each reload.
    pub fn rules_loaded(&self, rules: &Arc<crate::rules::RuleSet>) {
        *lock(&self.rules_loaded) = Some(Arc::clone(rules));
    }

    /// The reload counters (`serve` only).
    pub fn reloads(&self, reloads: Arc<Reloads>) {
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

/// What one scrape reads, taken once for every family.
struct Scrape {
    listeners: Vec<(String, Arc<Counters>)>,
    rules: Option<RulesScrape>,
    reloads: Option<Arc<Reloads>>,
    alerts: Option<crate::alert::Alerts>,
}

/// What a scrape reads of the rule set in force.
#[derive(Debug, Clone, Copy)]
struct RulesScrape {
    loaded: usize,
    regex_bytes: usize,
    regex_evictions: u64,
}

/// One family: name, help, type, label names, and how its samples are
/// read from a scrape. Declared once, in [`FAMILIES`].
struct Spec {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
    collect: fn(&Spec, &Scrape) -> Vec<proto::Metric>,
}

use MetricType::{COUNTER, GAUGE, HISTOGRAM};

const L: &[&str] = &["listener"];

/// A family with one sample per listener, read from its counters.
macro_rules! per_listener {
    ($name:literal, $kind:ident, $help:literal, |$c:ident| $value:expr) => {
        Spec {
            name: $name,
            help: $help,
            kind: $kind,
            labels: L,
            collect: |s, scrape| {
                scrape
                    .listeners
                    .iter()
                    .map(|(name, $c)| sample(s.kind, &[("listener", name)], ($value) as f64))
                    .collect()
            },
        }
    };
}

/// A family with one sample per listener and label value.
macro_rules! per_listener_by {
    ($name:literal, $label:literal, $help:literal, |$c:ident| $values:expr) => {
        Spec {
            name: $name,
            help: $help,
            kind: COUNTER,
            labels: &["listener", $label],
            collect: |s, scrape| {
                let mut out = Vec::new();
                for (name, $c) in &scrape.listeners {
                    for (value, n) in $values {
                        let labels = [("listener", name.as_str()), ($label, value)];
                        out.push(sample(s.kind, &labels, n as f64));
                    }
                }
                out
            },
        }
    };
}

fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
    Counters::get(c)
}

/// Every family redactd exports, in exposition order.
const FAMILIES: &[Spec] = &[
    Spec {
        name: "redactd_build_info",
        help: "Build information; the value is 1.",
        kind: GAUGE,
        labels: &["version"],
        collect: |_, _| vec![sample(GAUGE, &[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
    },
    Spec {
        name: "redactd_rules_loaded",
        help: "Rules in the engine in force.",
        kind: GAUGE,
        labels: &[],
        collect: |_, s| s.rules.iter().map(|r| sample(GAUGE, &[], r.loaded as f64)).collect(),
    },
    Spec {
        name: "redactd_rule_regex_bytes",
        help: "Bytes of the rules' regexes compiled now (each is compiled at its rule's first hit, within a budget).",
        kind: GAUGE,
        labels: &[],
        collect: |_, s| s.rules.iter().map(|r| sample(GAUGE, &[], r.regex_bytes as f64)).collect(),
    },
    Spec {
        name: "redactd_rule_regex_evictions_total",
        help: "Compiled regexes dropped to stay within the budget, since the rules in force were loaded.",
        kind: COUNTER,
        labels: &[],
        collect: |_, s| {
            s.rules
                .iter()
                .map(|r| sample(COUNTER, &[], r.regex_evictions as f64))
                .collect()
        },
    },
    Spec {
        name: "redactd_config_reloads_total",
        help: "Configuration reloads (SIGHUP) by result: ok, error.",
        kind: COUNTER,
        labels: &["result"],
        collect: |_, s| {
            let Some(r) = &s.reloads else { return Vec::new() };
            vec![
                sample(COUNTER, &[("result", "ok")], get(&r.reloads_ok) as f64),
                sample(COUNTER, &[("result", "error")], get(&r.reloads_failed) as f64),
            ]
        },
    },
    per_listener!("redactd_input_bytes_total", COUNTER, "Bytes received from clients.", |c| get(&c.bytes_in)),
    per_listener!("redactd_output_bytes_total", COUNTER, "Bytes sent upstream.", |c| get(&c.bytes_out)),
    per_listener!("redactd_redacted_bytes_total", COUNTER, "Input bytes inside redacted spans.", |c| get(&c.bytes_redacted)),
    per_listener!("redactd_messages_received_total", COUNTER, "Records (syslog messages) received.", |c| get(&c.messages_in)),
    per_listener!("redactd_messages_sent_total", COUNTER, "Records sent upstream.", |c| get(&c.messages_out)),
    per_listener_by!("redactd_messages_dropped_total", "reason", "Records dropped, by reason: queue_full (UDP beyond the queue), too_large, shutdown (partial or still queued at the drain deadline), incomplete (in progress when its connection was evicted or timed out), empty (nothing to send).", |c| [
        ("queue_full", get(&c.dropped_queue_full)),
        ("too_large", get(&c.dropped_too_large)),
        ("shutdown", get(&c.dropped_shutdown)),
        ("incomplete", get(&c.dropped_incomplete)),
        ("empty", get(&c.dropped_empty)),
    ]),
    per_listener!("redactd_messages_truncated_total", COUNTER, "Records cut: a TCP message over max_message_size, or one cut to fit the upstream's datagram size.", |c| get(&c.truncated)),
    per_listener_by!("redactd_http_requests_refused_total", "reason", "HTTP requests answered with an error by redactd and not forwarded, by reason: too_large (413), unsupported_encoding, unsupported_type (415), invalid_body, bad_request (400), internal (500), busy (503: the buffer budget spent).", |c| Refused::ALL.map(|r| (r.label(), c.http_refused.get(r)))),
    Spec {
        name: "redactd_findings_total",
        help: "Secrets found and redacted, by rule id.",
        kind: COUNTER,
        labels: &["listener", "rule"],
        collect: |_, s| {
            let mut out = Vec::new();
            for (name, c) in &s.listeners {
                for (rule, n) in c.findings_by_rule.snapshot() {
                    let labels = [("listener", name.as_str()), ("rule", rule.as_str())];
                    out.push(sample(COUNTER, &labels, n as f64));
                }
            }
            out
        },
    },
    per_listener!("redactd_connections_active", GAUGE, "Client connections open now.", |c| get(&c.connections_active)),
    per_listener_by!("redactd_connections_total", "result", "Client connections by result: accepted; rejected (the listener full, every connection making progress); evicted (a stalled or idle connection that gave its slot to a new one); timed_out (idle or message timeout).", |c| [
        ("accepted", get(&c.connections_accepted)),
        ("rejected", get(&c.connections_rejected)),
        ("evicted", get(&c.connections_evicted)),
        ("timed_out", get(&c.connections_timed_out)),
    ]),
    per_listener!("redactd_framing_errors_total", COUNTER, "Client streams closed on a framing error.", |c| get(&c.framing_errors)),
    per_listener!("redactd_tls_handshake_errors_total", COUNTER, "Failed TLS handshakes with clients.", |c| get(&c.tls_handshake_errors)),
    per_listener!("redactd_upstream_connects_total", COUNTER, "Successful upstream connections.", |c| get(&c.upstream_connects)),
    per_listener!("redactd_upstream_errors_total", COUNTER, "Failed upstream connects and writes.", |c| get(&c.upstream_errors)),
    per_listener!("redactd_upstream_up", GAUGE, "1 when the upstream is connected (syslog) or its last dial succeeded (tcp), else 0.", |c| u64::from(c.upstream_is_up())),
    Spec {
        name: "redactd_processing_seconds",
        help: "Time spent redacting one syslog message or one stream read.",
        kind: HISTOGRAM,
        labels: L,
        collect: |_, s| {
            s.listeners
                .iter()
                .map(|(name, c)| histogram(&[("listener", name)], &c.processing))
                .collect()
        },
    },
    per_listener!("redactd_hits_verified_total", COUNTER, "Keyword hits the engine verified with a rule's regex.", |c| get(&c.hits_verified)),
    per_listener!("redactd_blocks_capped_total", COUNTER, "Multi-line secrets (blocks) that reached their size cap.", |c| get(&c.blocks_capped)),
    per_listener!("redactd_runs_capped_total", COUNTER, "Lines whose rest was redacted whole because one rule's findings on it came too close together (failing closed).", |c| get(&c.runs_capped)),
    Spec {
        name: "redactd_alerts_total",
        help: "Alerts by sink and result: sent, failed (after every retry), dropped (queue full), deduplicated (folded into an earlier alert).",
        kind: COUNTER,
        labels: &["sink", "result"],
        collect: |_, s| {
            let mut out = Vec::new();
            for (sink, st) in s.alerts.iter().flat_map(|a| a.stats()) {
                for (result, v) in st.results() {
                    out.push(sample(COUNTER, &[("sink", sink), ("result", result)], v as f64));
                }
            }
            out
        },
    },
    Spec {
        name: "redactd_alerts_queued",
        help: "Alerts waiting in the alert queues or being retried.",
        kind: GAUGE,
        labels: &[],
        collect: |_, s| {
            s.alerts
                .iter()
                .filter(|a| a.is_enabled())
                .map(|a| sample(GAUGE, &[], a.queue_depth() as f64))
                .collect()
        },
    },
];

/// Every family's name and label names, in exposition order (for checks
/// of dashboards and alert rules against what is exported).
pub fn families() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    FAMILIES.iter().map(|s| (s.name, s.labels))
}

/// The one collector: reads [`Sources`] at scrape time.
struct Exporter {
    sources: Arc<Sources>,
    descs: Vec<Desc>,
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
        let scrape = Scrape {
            listeners: self.sources.snapshot(),
            rules: lock(&self.sources.rules_loaded)
                .as_ref()
                .map(|r| RulesScrape {
                    loaded: r.rules().len(),
                    regex_bytes: r.regex_budget().bytes(),
                    regex_evictions: r.regex_budget().evictions(),
                }),
            reloads: lock(&self.sources.reloads).clone(),
            alerts: lock(&self.sources.alerts).clone(),
        };
        FAMILIES
            .iter()
            .map(|s| {
                let mut f = MetricFamily::default();
                f.set_name(s.name.to_string());
                f.set_help(s.help.to_string());
                f.set_field_type(s.kind);
                f.set_metric((s.collect)(s, &scrape));
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
    use crate::counters::RuleCounts;

    #[test]
    fn every_family_is_described_and_collected() {
        let sources = Sources::new();
        let c = Arc::new(Counters::default());
        let mut rc = RuleCounts::default();
        let set = crate::check::load(&crate::rules::RuleSetBuilder::builtin()).unwrap();
        let rule = set.rules()[0].id.clone();
        rc.add(&rule);
        rc.add(&rule);
        c.findings_by_rule.add(&rc);
        sources.listener("a", Arc::clone(&c));
        sources.reloads(Arc::new(Reloads::default()));
        sources.rules_loaded(&set);
        let m = Metrics::new(Arc::clone(&sources));
        let text = String::from_utf8(m.encode()).unwrap();
        for s in FAMILIES {
            if s.name.starts_with("redactd_alerts_") {
                continue; // no alert pipeline given (tests/integration/alerts.rs scrapes those)
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
        let n = set.rules().len();
        assert!(
            text.contains(&format!("redactd_rules_loaded {n}")),
            "{text}"
        );
        assert!(text.contains("redactd_rule_regex_bytes 0"), "{text}");
        set.compile_all();
        let text = String::from_utf8(m.encode()).unwrap();
        let held = set.regex_budget().bytes();
        assert!(held > 1 << 20);
        assert!(
            text.contains(&format!("redactd_rule_regex_bytes {held}")),
            "{text}"
        );
        assert!(
            !text.contains("redactd_rule_regex_evictions_total 0"),
            "{text}"
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

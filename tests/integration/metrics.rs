//! The metrics endpoint (`--metrics`, `[metrics] listen`): `/metrics`
//! scraped over plain HTTP/1.1, checked by `promtool check metrics` and by a
//! real Prometheus 2.42 scraping redactd on 127.0.0.1; findings counters
//! against the secrets injected; no secret in the exposition; `/readyz`
//! following the upstream; label cardinality bounded.
//!
//! Fake secrets are made at test time from a seeded generator; none is in
//! the source.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::binary::{eventually, Redactd};
use crate::common::peers::{free_tcp_port, peer, poll_until, Daemon, TcpRecorder, TempDir, WAIT};
use redactd::rules::template::Rng;

/// One HTTP/1.1 GET over a std socket: (status, headers lowercased, body).
fn get(addr: SocketAddr, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line in {head:?}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, headers, body)
}

/// Decodes a chunked body (Prometheus' Go server chunks larger answers).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    for _ in 0..100_000 {
        let (size, rest) = s.split_once("\r\n").expect("chunk size line");
        let n =
            usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).expect("hex size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    panic!("too many chunks");
}

fn scrape(addr: SocketAddr) -> String {
    let (status, headers, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers.get("content-type").map(String::as_str),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    body
}

/// The value of the sample `series` (`name{labels}` exactly as printed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("sample value"))
}

/// Sample lines (series), comments excluded.
fn series_count(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn aws_key(rng: &mut Rng) -> String {
    format!("AKIA{}", rng.string("upper", 16).unwrap())
}

fn github_token(rng: &mut Rng) -> String {
    redactd::rules::template::expand_one(&rng.string("alnum", 8).unwrap(), "ghp_{{crc62:36}}")
        .unwrap()
}

/// `n` LF-framed syslog messages, each with one fake secret (AWS key ids
/// and GitHub tokens alternating); returns the wire bytes and the secrets.
fn messages(seed: &str, n: usize) -> (Vec<u8>, Vec<String>) {
    let mut rng = Rng::from_seed(seed.as_bytes());
    let mut wire = Vec::new();
    let mut secrets = Vec::new();
    for i in 0..n {
        let secret = if i % 2 == 0 {
            aws_key(&mut rng)
        } else {
            github_token(&mut rng)
        };
        wire.extend_from_slice(
            format!("<13>1 2026-11-25T10:00:00Z web-01 app 42 ID{i} - deploy used {secret} for upload\n")
                .as_bytes(),
        );
        secrets.push(secret);
    }
    (wire, secrets)
}

fn start_syslog(tmp: &TempDir, upstream: &str) -> Redactd {
    Redactd::start(
        tmp,
        "syslog",
        &[
            "--listen-tcp",
            "127.0.0.1:0",
            "--upstream",
            upstream,
            "--metrics",
            "127.0.0.1:0",
            "--drain-ms",
            "1000",
        ],
    )
}

/// Sends `wire` to the relay and waits until the upstream has `n` lines.
fn relay_through(d: &Redactd, rec: &TcpRecorder, wire: &[u8], n: usize) {
    let before = rec.bytes().iter().filter(|&&b| b == b'\n').count();
    let mut c = TcpStream::connect(d.addr("syslog/tcp-0")).unwrap();
    c.write_all(wire).unwrap();
    drop(c);
    rec.wait_until(WAIT, |b| {
        b.iter().filter(|&&b| b == b'\n').count() >= before + n
    });
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} holds a secret");
        // Nor a recognisable piece of one.
        assert!(!text.contains(&s[4..16]), "{what} holds part of a secret");
    }
}

/// `promtool check metrics` on `text`: None when promtool is absent (SKIP).
fn promtool_check(tmp: &TempDir, text: &str) -> Option<(i32, String)> {
    let promtool = peer("promtool")?;
    let path = tmp.join("scrape.txt");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run promtool");
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code().unwrap_or(-1), msg))
}

#[test]
fn findings_by_rule_equal_the_injected_secrets_and_the_exposition_passes_promtool() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("metrics-findings");
    let mut d = start_syslog(&tmp, &format!("tcp://127.0.0.1:{}", rec.port()));
    let m = d.addr("metrics");
    let (wire, secrets) = messages("metrics-findings", 40);
    relay_through(&d, &rec, &wire, secrets.len());

    let text = scrape(m);
    let aws = r#"redactd_findings_total{listener="syslog",rule="aws.access-key-id"}"#;
    let gh = r#"redactd_findings_total{listener="syslog",rule="github.pat"}"#;
    assert_eq!(value(&text, aws), Some(20.0), "{text}");
    assert_eq!(value(&text, gh), Some(20.0), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("redactd_findings_total{"))
            .count(),
        2,
        "a finding outside the injected secrets:\n{text}"
    );
    let l = r#"{listener="syslog"}"#;
    assert_eq!(
        value(&text, &format!("redactd_messages_received_total{l}")),
        Some(40.0)
    );
    assert_eq!(
        value(&text, &format!("redactd_messages_sent_total{l}")),
        Some(40.0)
    );
    assert_eq!(
        value(&text, &format!("redactd_input_bytes_total{l}")),
        Some(wire.len() as f64)
    );
    assert_eq!(
        value(&text, &format!("redactd_output_bytes_total{l}")),
        Some(rec.bytes().len() as f64)
    );
    let redacted: usize = secrets.iter().map(String::len).sum();
    assert_eq!(
        value(&text, &format!("redactd_redacted_bytes_total{l}")),
        Some(redacted as f64)
    );
    assert_eq!(
        value(&text, &format!("redactd_processing_seconds_count{l}")),
        Some(40.0)
    );
    assert_eq!(value(&text, &format!("redactd_upstream_up{l}")), Some(1.0));
    assert_eq!(
        value(
            &text,
            r#"redactd_connections_total{listener="syslog",result="accepted"}"#
        ),
        Some(1.0)
    );
    assert!(value(&text, "redactd_rules_loaded").is_some_and(|n| n > 10.0));
    // The rules these messages woke are compiled; nothing was evicted.
    assert!(value(&text, "redactd_rule_regex_bytes").is_some_and(|n| n > 1000.0));
    assert_eq!(
        value(&text, "redactd_rule_regex_evictions_total"),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &format!(
                r#"redactd_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    assert_no_secret("/metrics", &text, &secrets);
    assert_no_secret(
        "the upstream's bytes",
        &String::from_utf8_lossy(&rec.bytes()),
        &secrets,
    );

    if let Some((rc, msg)) = promtool_check(&tmp, &text) {
        assert_eq!(rc, 0, "promtool check metrics:\n{msg}\n{text}");
    }

    let summary = d.stop();
    assert_eq!(summary["findings"], 40);
    assert_no_secret("redactd's log", &d.stderr(), &secrets);
}

#[test]
fn readyz_is_503_while_the_upstream_is_down_and_200_once_it_is_up() {
    let port = free_tcp_port();
    let tmp = TempDir::new("metrics-readyz");
    let d = start_syslog(&tmp, &format!("tcp://127.0.0.1:{port}"));
    let m = d.addr("metrics");

    let (status, _, body) = get(m, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = get(m, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("syslog"), "names the listener: {body}");
    assert_eq!(
        value(&scrape(m), r#"redactd_upstream_up{listener="syslog"}"#),
        Some(0.0)
    );

    // The upstream comes up on that port: the writer's backoff finds it.
    let up = TcpListener::bind(("127.0.0.1", port)).expect("rebind the upstream port");
    let accepted = std::thread::spawn(move || up.accept().map(|(s, _)| s));
    eventually("/readyz 200", Duration::from_secs(10), || {
        get(m, "/readyz").0 == 200
    });
    let _upstream = accepted.join().unwrap().expect("the relay connected");
    let text = scrape(m);
    assert_eq!(
        value(&text, r#"redactd_upstream_up{listener="syslog"}"#),
        Some(1.0)
    );
    assert!(value(&text, r#"redactd_upstream_errors_total{listener="syslog"}"#).unwrap() >= 1.0);
    assert_eq!(get(m, "/nope").0, 404);
}

#[test]
fn tcp_proxy_readyz_follows_its_dials() {
    let port = free_tcp_port();
    let tmp = TempDir::new("metrics-tcp-readyz");
    let d = Redactd::start(
        &tmp,
        "tcp",
        &[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("127.0.0.1:{port}"),
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let m = d.addr("metrics");
    // Not known to be down before a dial fails.
    assert_eq!(get(m, "/readyz").0, 200);
    let mut c = TcpStream::connect(d.addr("tcp-0")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let _ = c.read(&mut [0u8; 8]);
    let (status, _, body) = get(m, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("tcp-0"), "{body}");
    // The upstream comes up: the probe notices without a client.
    let up = TcpListener::bind(("127.0.0.1", port)).expect("rebind the upstream port");
    let _accepting = std::thread::spawn(move || {
        let _ = up.accept();
    });
    eventually("/readyz 200", Duration::from_secs(10), || {
        get(m, "/readyz").0 == 200
    });
    assert_eq!(
        value(&scrape(m), r#"redactd_upstream_up{listener="tcp-0"}"#),
        Some(1.0)
    );
}

#[test]
fn series_stay_flat_however_many_distinct_secrets_pass() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("metrics-cardinality");
    let d = start_syslog(&tmp, &format!("tcp://127.0.0.1:{}", rec.port()));
    let m = d.addr("metrics");
    let (wire, _) = messages("card-a", 4);
    relay_through(&d, &rec, &wire, 4);
    let first = scrape(m);
    let (wire, secrets) = messages("card-b", 400);
    relay_through(&d, &rec, &wire, 400);
    let after = scrape(m);
    assert_eq!(series_count(&first), series_count(&after), "{after}");
    assert_eq!(
        value(
            &after,
            r#"redactd_findings_total{listener="syslog",rule="github.pat"}"#
        ),
        Some(202.0)
    );
    assert_no_secret("/metrics", &after, &secrets);
}

#[test]
fn serve_exports_each_listener_by_name_and_counts_reloads() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("metrics-serve");
    let cfg = tmp.join("redactd.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "edge"
mode = "syslog"
listen_tcp = ["127.0.0.1:0"]
upstream = "tcp://127.0.0.1:{}"
"#,
            rec.port()
        ),
    )
    .unwrap();
    let ready = tmp.join("serve.ready");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redactd"));
    cmd.args(["serve", "--config"])
        .arg(&cfg)
        .arg("--ready-file")
        .arg(&ready);
    let mut daemon = Daemon::spawn("redactd-serve", cmd, tmp.path());
    daemon.wait_ready("its ready file", || ready.exists());
    let addrs: BTreeMap<String, SocketAddr> = std::fs::read_to_string(&ready)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, a)| (n.to_string(), a.parse().unwrap()))
        .collect();
    let m = addrs["metrics"];
    assert!(m.ip().is_loopback());

    let (wire, secrets) = messages("serve", 6);
    let mut c = TcpStream::connect(addrs["edge/tcp-0"]).unwrap();
    c.write_all(&wire).unwrap();
    drop(c);
    rec.wait_until(WAIT, |b| b.iter().filter(|&&b| b == b'\n').count() >= 6);
    eventually("/readyz 200", WAIT, || get(m, "/readyz").0 == 200);

    let pid = daemon.pid().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let mut text = String::new();
    assert!(
        poll_until(WAIT, || {
            text = scrape(m);
            value(&text, r#"redactd_config_reloads_total{result="ok"}"#) == Some(1.0)
        }),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"redactd_config_reloads_total{result="error"}"#),
        Some(0.0)
    );
    // Counters survive the reload (the listener was unchanged).
    assert_eq!(
        value(
            &text,
            r#"redactd_findings_total{listener="edge",rule="aws.access-key-id"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        value(&text, r#"redactd_messages_received_total{listener="edge"}"#),
        Some(6.0)
    );
    assert_no_secret("/metrics", &text, &secrets);
    if let Some((rc, msg)) = promtool_check(&tmp, &text) {
        assert_eq!(rc, 0, "promtool check metrics:\n{msg}\n{text}");
    }
    daemon.stop();
}

/// A real Prometheus on 127.0.0.1 scraping redactd every second.
struct Prometheus {
    daemon: Daemon,
    addr: SocketAddr,
}

impl Prometheus {
    fn start(tmp: &TempDir, target: SocketAddr) -> Option<Prometheus> {
        Prometheus::start_with_rules(tmp, target, None)
    }

    /// Also evaluating the alerting rules of `rules` every second.
    fn start_with_rules(
        tmp: &TempDir,
        target: SocketAddr,
        rules: Option<&std::path::Path>,
    ) -> Option<Prometheus> {
        let bin = peer("prometheus")?;
        let yml = tmp.join("prom.yml");
        let rule_files = rules
            .map(|r| format!("rule_files: ['{}']\n", r.display()))
            .unwrap_or_default();
        std::fs::write(
            &yml,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 {rule_files}\
                 scrape_configs:\n  - job_name: redactd\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_tcp_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", yml.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address={addr}"));
        let mut daemon = Daemon::spawn("prometheus", cmd, tmp.path());
        daemon.wait_ready("/-/ready", || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && get(addr, "/-/ready").0 == 200
        });
        Some(Prometheus { daemon, addr })
    }

    fn api(&self, path_and_query: &str) -> serde_json::Value {
        let (status, _, body) = get(self.addr, path_and_query);
        assert_eq!(status, 200, "{path_and_query}: {body}");
        serde_json::from_str(&body).expect("JSON from the Prometheus API")
    }
}

#[test]
fn a_real_prometheus_scrapes_redactd_and_sees_the_findings() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("metrics-prometheus");
    let d = start_syslog(&tmp, &format!("tcp://127.0.0.1:{}", rec.port()));
    let m = d.addr("metrics");
    let Some(prom) = Prometheus::start(&tmp, m) else {
        return;
    };
    let (wire, secrets) = messages("prometheus", 10);
    relay_through(&d, &rec, &wire, 10);

    let mut targets = serde_json::Value::Null;
    let up = poll_until(Duration::from_secs(15), || {
        targets = prom.api("/api/v1/targets");
        targets["data"]["activeTargets"]
            .as_array()
            .and_then(|t| t.first())
            .is_some_and(|t| t["health"] == "up" && t["lastError"] == "")
    });
    assert!(up, "target not up: {targets}\n{}", prom.daemon.report());

    // A query of the injected findings, once a scrape after the messages
    // landed.
    let mut result = serde_json::Value::Null;
    let seen = poll_until(Duration::from_secs(15), || {
        result = prom.api("/api/v1/query?query=sum(redactd_findings_total)");
        result["data"]["result"][0]["value"][1] == "10"
    });
    assert!(seen, "sum(redactd_findings_total): {result}");
    let by_rule = prom.api("/api/v1/query?query=redactd_findings_total");
    let rules: BTreeMap<String, String> = by_rule["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["rule"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        BTreeMap::from([
            ("aws.access-key-id".to_string(), "5".to_string()),
            ("github.pat".to_string(), "5".to_string()),
        ])
    );
    assert_no_secret("Prometheus' answer", &by_rule.to_string(), &secrets);
}

/// The firing `RedactdSecretFound` alerts: rule -> description.
fn secret_alerts(prom: &Prometheus) -> BTreeMap<String, String> {
    prom.api("/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "RedactdSecretFound" && a["state"] == "firing")
        .map(|a| {
            (
                a["labels"]["rule"].as_str().unwrap().to_string(),
                a["annotations"]["description"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// Issue 13 item 3: the shipped RedactdSecretFound rule, evaluated by a real
/// Prometheus scraping a real redactd, fires on the first secret of a rule,
/// whose series appears at 1 (increase() alone sees nothing there).
#[test]
fn the_shipped_secret_alert_fires_on_the_first_secret_of_a_rule() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("metrics-rule");
    let d = start_syslog(&tmp, &format!("tcp://127.0.0.1:{}", rec.port()));
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/prometheus/redactd.rules.yml");
    let Some(prom) = Prometheus::start_with_rules(&tmp, d.addr("metrics"), Some(&rules)) else {
        return;
    };
    // Scraped, and the rules evaluated, before any secret.
    let ready = poll_until(Duration::from_secs(15), || {
        let q = prom.api("/api/v1/query?query=redactd_upstream_up");
        let r = prom.api("/api/v1/rules");
        q["data"]["result"][0]["value"][1] == "1"
            && r["data"]["groups"][0]["rules"][0]["lastEvaluation"]
                .as_str()
                .is_some_and(|t| !t.starts_with("0001"))
    });
    assert!(ready, "no scrape or evaluation\n{}", prom.daemon.report());
    assert_eq!(
        secret_alerts(&prom),
        BTreeMap::new(),
        "fires with no secret"
    );

    // One AWS key id: redactd_findings_total{rule="aws.access-key-id"} is
    // absent, then 1.
    let mut rng = Rng::from_seed(b"first-secret");
    let first = aws_key(&mut rng);
    let line = format!("<13>1 2026-11-25T10:00:00Z web-01 app 42 ID1 - used {first}\n");
    relay_through(&d, &rec, line.as_bytes(), 1);
    let mut alerts = BTreeMap::new();
    let fired = poll_until(Duration::from_secs(20), || {
        alerts = secret_alerts(&prom);
        alerts.contains_key("aws.access-key-id")
    });
    assert!(
        fired,
        "no alert on the first secret: {alerts:?}\n{}",
        prom.daemon.report()
    );
    assert!(
        alerts["aws.access-key-id"]
            .contains("redacted 1 aws.access-key-id finding(s) on listener syslog "),
        "{alerts:?}"
    );
    // What the rule used to be sees nothing here.
    let old = prom.api(
        "/api/v1/query?query=sum%20by%20(listener,rule)%20(increase(redactd_findings_total%5B5m%5D))%20%3E%200",
    );
    assert_eq!(old["data"]["result"], serde_json::json!([]), "{old}");

    // A second one (1 -> 2), and a GitHub token (a second rule): both fire.
    let second = aws_key(&mut rng);
    let token = github_token(&mut rng);
    let lines = format!(
        "<13>1 2026-11-25T10:00:01Z web-01 app 42 ID2 - used {second}\n\
         <13>1 2026-11-25T10:00:02Z web-01 app 42 ID3 - used {token}\n"
    );
    relay_through(&d, &rec, lines.as_bytes(), 2);
    let both = poll_until(Duration::from_secs(20), || {
        alerts = secret_alerts(&prom);
        alerts.contains_key("github.pat") && alerts.contains_key("aws.access-key-id")
    });
    assert!(both, "{alerts:?}");
    let answer = prom.api("/api/v1/alerts").to_string();
    assert_no_secret("Prometheus' alerts", &answer, &[first, second, token]);
}

//! Alerts on findings (`--alert-audit-file`, `--alert-webhook`,
//! `--alertmanager`): records delivered to a JSON-lines audit file, to a
//! webhook receiver in the test (CloudEvents 1.0, bearer token from a file)
//! and to a real Prometheus Alertmanager 0.25 on 127.0.0.1; dedup by
//! (rule, fingerprint); a full queue drops and counts without slowing the
//! data path; and nothing redactd produced holds an injected secret.
//!
//! Fake secrets are made at test time from a seeded generator; none is in
//! the source.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::common::binary::{eventually, Redactd};
use crate::common::peers::{
    free_tcp_port, peer, poll_until, send_tcp, send_udp, Daemon, TcpRecorder, TempDir, WAIT,
};
use redactd::rules::template::{expand_one, Rng};
use serde_json::Value;

/// `n` GitHub tokens (valid checksums) and `n` AWS access key ids.
fn fake_secrets(seed: &str, n: usize) -> Vec<String> {
    let mut rng = Rng::from_seed(seed.as_bytes());
    let mut v = Vec::new();
    for i in 0..n {
        v.push(expand_one(&format!("{seed}-{i}"), "ghp_{{crc62:36}}").expect("template"));
        v.push(format!("AKIA{}", rng.string("upper", 16).unwrap()));
    }
    v
}

/// Fails if any of `outputs` holds any of `secrets` (whole, or its part
/// after a public prefix).
fn assert_no_secret(secrets: &[String], outputs: &[(&str, &[u8])]) {
    for (what, bytes) in outputs {
        let text = String::from_utf8_lossy(bytes);
        for s in secrets {
            let tail = &s[4..];
            assert!(
                !text.contains(tail),
                "{what} holds an injected secret ({} bytes checked)",
                bytes.len()
            );
        }
    }
}

/// One HTTP/1.1 request over a std socket: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(h, b)| {
            if h.to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                dechunk(b)
            } else {
                b.to_string()
            }
        })
        .unwrap_or_default();
    (status, body)
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        b = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `redactd_alerts_total{sink,result}` and the other samples, by line.
fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (status, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn alerts_total(m: &BTreeMap<String, f64>, sink: &str, result: &str) -> f64 {
    m.get(&format!(
        "redactd_alerts_total{{sink=\"{sink}\",result=\"{result}\"}}"
    ))
    .copied()
    .unwrap_or(0.0)
}

/// A request the webhook receiver got.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// How the webhook receiver answers.
#[derive(Clone, Copy)]
enum Reply {
    /// 202 to everything.
    Accept,
    /// Never answers (a stuck sink).
    Never,
    /// 500 to the first N requests, then 202.
    FailFirst(usize),
}

/// A local HTTP/1.1 webhook receiver (keep-alive, Content-Length bodies).
struct Webhook {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Webhook {
    fn start(reply: Reply) -> Webhook {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (Arc::clone(&got), Arc::clone(&stop));
        thread::spawn(move || {
            for s in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(s) = s else { continue };
                let (g, st) = (Arc::clone(&g), Arc::clone(&st));
                thread::spawn(move || serve_webhook(s, reply, &g, &st));
            }
        });
        Webhook { addr, got, stop }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/redactd", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_webhook(s: TcpStream, reply: Reply, got: &Mutex<Vec<Received>>, stop: &AtomicBool) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    while !stop.load(Ordering::SeqCst) {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        let request_line = line.trim_end().to_string();
        if request_line.is_empty() {
            continue;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let n: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; n];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let n = {
            let mut g = got.lock().unwrap();
            g.push(Received {
                request_line,
                headers,
                body,
            });
            g.len()
        };
        let status: &[u8] = match reply {
            Reply::FailFirst(f) if n <= f => b"500 Internal Server Error",
            _ => b"202 Accepted",
        };
        if !matches!(reply, Reply::Never) {
            let resp = [b"HTTP/1.1 ", status, b"\r\nContent-Length: 0\r\n\r\n"].concat();
            if w.write_all(&resp).is_err() {
                return;
            }
        } else {
            // Never answer; hold the connection until the test ends.
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
            }
            return;
        }
    }
}

fn lines_of(p: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s.ends_with('Z')
}

/// Runs `redactd filter ARGS` on `input`: (stdout, stderr, success).
fn filter(args: &[&str], input: &[u8]) -> (Vec<u8>, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redactd"))
        .arg("filter")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redactd");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("redactd");
    feeder.join().unwrap();
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).to_string(),
        out.status.success(),
    )
}

#[test]
fn filter_audit_file_has_one_record_per_secret_and_dedups_repeats() {
    let tmp = TempDir::new("alerts-audit");
    let secrets = fake_secrets("audit", 3);
    let key = tmp.join("hmac.key");
    std::fs::write(&key, "0123456789abcdef-test-key\n").unwrap();
    let audit = tmp.join("audit.jsonl");
    let mut input = Vec::new();
    for s in &secrets {
        writeln!(input, "login ok {s} user=alice").unwrap();
    }
    // The same AWS key 100 times more.
    for i in 0..100 {
        writeln!(input, "retry {i} saw {} again", secrets[1]).unwrap();
    }
    let (out, err, ok) = filter(
        &[
            "--alert-audit-file",
            audit.to_str().unwrap(),
            "--hmac-key-file",
            key.to_str().unwrap(),
            "--hmac-key-id",
            "k7",
            "--stats",
        ],
        &input,
    );
    assert!(ok, "{err}");
    let recs = lines_of(&audit);
    let raw = std::fs::read(&audit).unwrap();
    assert_no_secret(
        &secrets,
        &[
            ("stdout", &out),
            ("stderr", err.as_bytes()),
            ("audit file", &raw),
        ],
    );
    // One record per distinct secret, plus the repeat count of the key
    // seen 101 times (sent when the pipeline closes its windows).
    assert_eq!(recs.len(), secrets.len() + 1, "{recs:#?}");
    for r in &recs {
        for f in [
            "id",
            "rule",
            "severity",
            "remediation",
            "fingerprint",
            "first_seen",
            "last_seen",
        ] {
            assert!(r[f].as_str().is_some_and(|v| !v.is_empty()), "{f} in {r}");
        }
        assert!(r["fingerprint"].as_str().unwrap().starts_with("k7:"), "{r}");
        assert!(is_rfc3339(r["first_seen"].as_str().unwrap()), "{r}");
        assert!(is_rfc3339(r["last_seen"].as_str().unwrap()), "{r}");
        assert_eq!(r["source"]["mode"], "filter");
        assert_eq!(r["source"]["file"], "-");
        assert!(r["offset"].as_u64().is_some() && r["line"].as_u64().is_some());
    }
    let rules: Vec<&str> = recs.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert!(
        rules.contains(&"github.pat") || rules.iter().any(|r| r.starts_with("github")),
        "{rules:?}"
    );
    assert!(rules.iter().any(|r| r.starts_with("aws")), "{rules:?}");
    let fp = recs[1]["fingerprint"].as_str().unwrap();
    let same: Vec<&Value> = recs.iter().filter(|r| r["fingerprint"] == fp).collect();
    assert_eq!(same.len(), 2, "{same:#?}");
    assert_eq!(same[0]["count"], 1);
    assert_eq!(same[1]["count"], 101);
    assert_eq!(same[0]["first_seen"], same[1]["first_seen"]);
    let want = format!(
        "sink=audit sent={} failed=0 dropped=0 deduplicated=100",
        secrets.len() + 1
    );
    assert!(err.contains(&want), "{err}");
}

/// A tcp proxy with alert flags: (redactd, upstream recorder, metrics addr).
fn tcp_proxy(tmp: &TempDir, alert_args: &[&str]) -> (Redactd, TcpRecorder, SocketAddr) {
    let rec = TcpRecorder::start();
    let up = rec.addr().to_string();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--metrics",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(alert_args);
    let r = Redactd::start(tmp, "tcp", &args);
    let m = r.addr("metrics");
    (r, rec, m)
}

#[test]
fn webhook_gets_cloudevents_with_the_bearer_token_and_repeats_are_deduplicated() {
    let tmp = TempDir::new("alerts-webhook");
    let secrets = fake_secrets("webhook", 2);
    let hook = Webhook::start(Reply::Accept);
    let token = format!(
        "tok-{}",
        Rng::from_seed(b"tok").string("alnum", 24).unwrap()
    );
    let token_file = tmp.join("webhook.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let url = hook.url();
    let (mut r, rec, metrics) = tcp_proxy(
        &tmp,
        &[
            "--alert-webhook",
            &url,
            "--alert-webhook-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let mut input = Vec::new();
    for s in &secrets {
        writeln!(input, "deploy with {s}").unwrap();
    }
    for i in 0..99 {
        writeln!(input, "again {i} with {}", secrets[0]).unwrap();
    }
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    let conn = send_tcp(r.port("tcp-0"), &input);
    let out = rec.wait_until(WAIT, |b| b.iter().filter(|&&c| c == b'\n').count() == lines);
    drop(conn);
    eventually("one webhook event per distinct secret", WAIT, || {
        hook.received().len() >= secrets.len()
    });
    eventually("99 deduplicated", WAIT, || {
        alerts_total(&scrape(metrics), "webhook", "deduplicated") == 99.0
    });
    let m = scrape(metrics);
    assert_eq!(alerts_total(&m, "webhook", "sent"), secrets.len() as f64);
    assert_eq!(alerts_total(&m, "webhook", "dropped"), 0.0);
    assert_eq!(
        hook.received().len(),
        secrets.len(),
        "repeats within the window are not sent"
    );
    let metrics_text = http(metrics, "GET", "/metrics").1;
    assert!(metrics_text.contains("redactd_alerts_queued"));
    if let Some(promtool) = peer("promtool") {
        let mut c = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(metrics_text.as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // SIGTERM: the window's repeat count goes out before exit.
    r.stop();
    let got = hook.received();
    assert_eq!(got.len(), secrets.len() + 1, "{got:#?}");
    for g in &got {
        assert!(
            g.request_line.starts_with("POST /hooks/redactd HTTP/1.1"),
            "{g:?}"
        );
        assert_eq!(
            g.headers.get("authorization"),
            Some(&format!("Bearer {token}"))
        );
        assert!(g.headers["content-type"].starts_with("application/cloudevents+json"));
        let ev: Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(ev["specversion"], "1.0");
        assert_eq!(ev["type"], "dev.redactd.secret.detected");
        assert_eq!(ev["datacontenttype"], "application/json");
        assert_eq!(ev["source"], "/redactd/tcp/tcp-0");
        assert!(ev["id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(is_rfc3339(ev["time"].as_str().unwrap()));
        let d = &ev["data"];
        assert_eq!(d["source"]["mode"], "tcp");
        assert_eq!(d["source"]["listener"], "tcp-0");
        assert!(d["source"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
        assert!(d["fingerprint"].as_str().unwrap().contains(':'));
    }
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|g| std::str::from_utf8(&g.body).unwrap())
        .collect();
    assert_eq!(ids.len(), got.len());
    let last: Value = serde_json::from_slice(&got.last().unwrap().body).unwrap();
    assert_eq!(last["data"]["count"], 100);
    let bodies: Vec<u8> = got.iter().flat_map(|g| g.body.clone()).collect();
    let stderr = r.stderr();
    assert!(!stderr.contains(&token), "the token reached the log");
    assert_no_secret(
        &secrets,
        &[
            ("upstream output", &out),
            ("webhook bodies", &bodies),
            ("redactd stderr", stderr.as_bytes()),
            ("metrics", metrics_text.as_bytes()),
        ],
    );
}

/// A real Prometheus Alertmanager 0.25 on 127.0.0.1 (no receivers), which
/// can be stopped and started again on the same port.
struct Alertmanager {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    addr: SocketAddr,
    daemon: Option<Daemon>,
}

impl Alertmanager {
    /// None (after SKIP) when Alertmanager is not installed.
    fn start(tmp: &TempDir) -> Option<Alertmanager> {
        let bin = peer("prometheus-alertmanager")?;
        let dir = tmp.subdir("am");
        std::fs::write(
            dir.join("am.yml"),
            "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
        )
        .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
        let mut am = Alertmanager {
            bin,
            dir,
            addr,
            daemon: None,
        };
        am.resume();
        Some(am)
    }

    /// Starts it (again), and waits until it is ready.
    fn resume(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(format!(
            "--config.file={}",
            self.dir.join("am.yml").display()
        ))
        .arg(format!("--storage.path={}", self.dir.display()))
        .arg(format!("--web.listen-address={}", self.addr))
        .arg("--cluster.listen-address=");
        let mut d = Daemon::spawn("alertmanager", cmd, &self.dir);
        let addr = self.addr;
        d.wait_ready("alertmanager /-/ready", || {
            TcpStream::connect(addr).is_ok() && http(addr, "GET", "/-/ready").0 == 200
        });
        self.daemon = Some(d);
    }

    /// Stops it (SIGTERM); its alerts are gone with it (kept in memory).
    fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop();
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET /api/v2/alerts`: the raw answer and redactd's alerts in it.
    fn secret_alerts(&self) -> (String, Vec<Value>) {
        let raw = http(self.addr, "GET", "/api/v2/alerts").1;
        let v: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        let mine = v
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == "SecretDetected")
            .cloned()
            .collect();
        (raw, mine)
    }

    fn report(&self) -> String {
        self.daemon.as_ref().map(Daemon::report).unwrap_or_default()
    }
}

/// Issue 13 item 5: the keyed fingerprint is a label, so Alertmanager keeps
/// two different secrets of one rule on one listener as two alerts.
#[test]
fn alertmanager_shows_one_alert_per_secret_within_5s() {
    let tmp = TempDir::new("alerts-am");
    let Some(am) = Alertmanager::start(&tmp) else {
        return;
    };
    // Two GitHub tokens: one rule, two secrets.
    let all = fake_secrets("alertmanager", 2);
    let secrets = [all[0].clone(), all[2].clone()];
    let (mut r, rec, metrics) = tcp_proxy(&tmp, &["--alertmanager", &am.url()]);
    let input = format!("startup with {}\nreload with {}\n", secrets[0], secrets[1]);
    let conn = send_tcp(r.port("tcp-0"), input.as_bytes());
    let out = rec.wait_until(WAIT, |b| b.iter().filter(|&&c| c == b'\n').count() == 2);
    drop(conn);
    let t0 = tokio::time::Instant::now();
    let (mut raw, mut alerts) = (String::new(), Vec::new());
    let seen = poll_until(Duration::from_secs(5), || {
        (raw, alerts) = am.secret_alerts();
        alerts.len() >= 2
    });
    assert!(
        seen,
        "not two alerts in Alertmanager within 5 s ({:?}): {raw}\n{}\n{}",
        t0.elapsed(),
        am.report(),
        r.stderr()
    );
    assert_eq!(alerts.len(), 2, "{raw}");
    for a in &alerts {
        assert_eq!(a["labels"]["listener"], "tcp-0");
        assert!(
            a["labels"]["severity"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{a}"
        );
        assert_eq!(a["labels"]["rule"], alerts[0]["labels"]["rule"], "{raw}");
        assert!(
            a["labels"]["rule"].as_str().unwrap().starts_with("github"),
            "{a}"
        );
        assert!(a["labels"]["fingerprint"].as_str().unwrap().contains(':'));
        assert!(!a["annotations"]["remediation"].as_str().unwrap().is_empty());
        assert_eq!(a["status"]["state"], "active");
    }
    assert_ne!(
        alerts[0]["labels"]["fingerprint"], alerts[1]["labels"]["fingerprint"],
        "{raw}"
    );
    assert_eq!(alerts_total(&scrape(metrics), "alertmanager", "sent"), 2.0);
    r.stop();
    let am_stderr = am
        .daemon
        .as_ref()
        .map(Daemon::stderr_text)
        .unwrap_or_default();
    assert_no_secret(
        &secrets,
        &[
            ("upstream output", &out),
            ("alertmanager alerts", raw.as_bytes()),
            ("redactd stderr", r.stderr().as_bytes()),
            ("alertmanager stderr", am_stderr.as_bytes()),
        ],
    );
}

/// Issue 13 item 5: an alert raised while Alertmanager restarts is retried
/// (`--alert-retry-ms`, 5 minutes by default) and arrives once it is back.
#[test]
fn an_alert_raised_while_alertmanager_restarts_arrives_once_it_is_back() {
    let tmp = TempDir::new("alerts-am-restart");
    let Some(mut am) = Alertmanager::start(&tmp) else {
        return;
    };
    let secrets = fake_secrets("am-restart", 1);
    let (mut r, rec, metrics) = tcp_proxy(&tmp, &["--alertmanager", &am.url()]);
    am.stop();
    let input = format!("during the restart {}\n", secrets[0]);
    let conn = send_tcp(r.port("tcp-0"), input.as_bytes());
    let out = rec.wait_until(WAIT, |b| b.ends_with(b"\n"));
    drop(conn);
    // Down for longer than the ~3 s (5 attempts) deliveries used to get.
    thread::sleep(Duration::from_secs(4));
    let m = scrape(metrics);
    assert_eq!(alerts_total(&m, "alertmanager", "failed"), 0.0, "{m:?}");
    assert_eq!(m.get("redactd_alerts_queued").copied(), Some(1.0), "{m:?}");
    am.resume();
    let (mut raw, mut alerts) = (String::new(), Vec::new());
    let arrived = poll_until(Duration::from_secs(30), || {
        (raw, alerts) = am.secret_alerts();
        !alerts.is_empty()
    });
    assert!(arrived, "no alert after the restart: {raw}\n{}", r.stderr());
    assert_eq!(alerts.len(), 1, "{raw}");
    eventually("counted sent", WAIT, || {
        alerts_total(&scrape(metrics), "alertmanager", "sent") == 1.0
    });
    let m = scrape(metrics);
    assert_eq!(alerts_total(&m, "alertmanager", "failed"), 0.0, "{m:?}");
    assert_eq!(m.get("redactd_alerts_queued").copied(), Some(0.0), "{m:?}");
    r.stop();
    assert_no_secret(
        &secrets,
        &[
            ("upstream output", &out),
            ("alertmanager alerts", raw.as_bytes()),
            ("redactd stderr", r.stderr().as_bytes()),
        ],
    );
}

#[test]
fn a_stuck_sink_fills_the_queue_and_drops_are_counted_without_slowing_the_data_path() {
    let tmp = TempDir::new("alerts-stuck");
    let secrets = fake_secrets("stuck", 100);
    let hook = Webhook::start(Reply::Never);
    let url = hook.url();
    let (mut r, rec, metrics) = tcp_proxy(
        &tmp,
        &[
            "--alert-webhook",
            &url,
            "--alert-queue",
            "4",
            "--alert-timeout-ms",
            "60000",
            "--alert-drain-ms",
            "200",
        ],
    );
    let mut input = Vec::new();
    for s in &secrets {
        writeln!(input, "leak {s}").unwrap();
    }
    let t0 = tokio::time::Instant::now();
    let conn = send_tcp(r.port("tcp-0"), &input);
    let out = rec.wait_until(WAIT, |b| {
        b.iter().filter(|&&c| c == b'\n').count() == secrets.len()
    });
    let took = t0.elapsed();
    drop(conn);
    // The sink is stuck on its first delivery, so at most 1 + 4 + 4 alerts
    // are in flight or queued; the rest are dropped and counted.
    assert!(
        took < Duration::from_secs(3),
        "the data path waited: {took:?}"
    );
    let m = scrape(metrics);
    let dropped = alerts_total(&m, "webhook", "dropped");
    assert!(
        dropped >= (secrets.len() - 9) as f64,
        "{dropped} dropped; {m:?}"
    );
    assert_eq!(alerts_total(&m, "webhook", "sent"), 0.0);
    assert!(
        m.get("redactd_alerts_queued").copied().unwrap_or(0.0) >= 1.0,
        "{m:?}"
    );
    r.stop();
    let stderr = r.stderr();
    assert!(stderr.contains("alerts sink=webhook sent=0"), "{stderr}");
    let bodies: Vec<u8> = hook
        .received()
        .iter()
        .flat_map(|g| g.body.clone())
        .collect();
    assert_no_secret(
        &secrets,
        &[
            ("upstream output", &out),
            ("webhook bodies", &bodies),
            ("redactd stderr", stderr.as_bytes()),
        ],
    );
}

#[test]
fn failed_deliveries_are_retried_with_backoff_and_then_counted_as_failed() {
    let secrets = fake_secrets("retry", 1);
    let hook = Webhook::start(Reply::FailFirst(2));
    // Nothing listens here: every attempt fails.
    let closed = format!("http://127.0.0.1:{}", free_tcp_port());
    let url = hook.url();
    let input = format!("first {}\n", secrets[0]);
    let (out, err, ok) = filter(
        &[
            "--alert-webhook",
            &url,
            "--alertmanager",
            &closed,
            "--alert-max-attempts",
            "3",
            "--stats",
        ],
        input.as_bytes(),
    );
    assert!(ok, "{err}");
    // 500, 500, then 202: delivered on the third attempt.
    assert_eq!(hook.received().len(), 3);
    assert!(
        err.contains("sink=webhook sent=1 failed=0 dropped=0"),
        "{err}"
    );
    assert!(
        err.contains("sink=alertmanager sent=0 failed=1 dropped=0"),
        "{err}"
    );
    let bodies: Vec<u8> = hook
        .received()
        .iter()
        .flat_map(|g| g.body.clone())
        .collect();
    assert_no_secret(
        &secrets,
        &[
            ("stdout", &out),
            ("stderr", err.as_bytes()),
            ("webhook bodies", &bodies),
        ],
    );
}

#[test]
fn serve_alerts_table_reports_each_listener_as_the_source() {
    let tmp = TempDir::new("alerts-serve");
    let secrets = fake_secrets("serve", 2);
    let rec = TcpRecorder::start();
    let audit = tmp.join("audit.jsonl");
    let cfg = tmp.join("redactd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[alerts]\naudit_file = {:?}\nwindow_ms = 60000\n\n\
             [[listener]]\nname = \"app-logs\"\nmode = \"tcp\"\nlisten = \"127.0.0.1:0\"\n\
             upstream = \"{}\"\n",
            audit.display().to_string(),
            rec.addr()
        ),
    )
    .unwrap();
    let mut r = Redactd::start(&tmp, "serve", &["--config", cfg.to_str().unwrap()]);
    let mut input = Vec::new();
    for s in &secrets {
        writeln!(input, "shipping {s} now").unwrap();
        writeln!(input, "and again {s}").unwrap();
    }
    let conn = send_tcp(r.port("app-logs"), &input);
    let out = rec.wait_until(WAIT, |b| {
        b.iter().filter(|&&c| c == b'\n').count() == 2 * secrets.len()
    });
    eventually("an audit record per secret", WAIT, || {
        lines_of(&audit).len() >= secrets.len()
    });
    drop(conn);
    r.stop();
    let recs = lines_of(&audit);
    // One record per secret at once, one with the repeat count at exit.
    assert_eq!(recs.len(), 2 * secrets.len(), "{recs:#?}");
    for rec in &recs {
        assert_eq!(rec["source"]["mode"], "tcp");
        assert_eq!(rec["source"]["listener"], "app-logs");
        assert!(rec["source"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
    }
    assert!(
        recs.iter().filter(|r| r["count"] == 2).count() == secrets.len(),
        "{recs:#?}"
    );
    let raw = std::fs::read(&audit).unwrap();
    assert_no_secret(
        &secrets,
        &[
            ("upstream output", &out),
            ("audit file", &raw),
            ("redactd stderr", r.stderr().as_bytes()),
        ],
    );
}

#[test]
fn syslog_relay_reports_findings_with_the_udp_peer() {
    let tmp = TempDir::new("alerts-syslog");
    let secrets = fake_secrets("syslog", 1);
    let rec = TcpRecorder::start();
    let audit = tmp.join("audit.jsonl");
    let up = format!("tcp://{}", rec.addr());
    let mut r = Redactd::start(
        &tmp,
        "syslog",
        &[
            "--listen-udp",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--upstream-framing",
            "lf",
            "--alert-audit-file",
            audit.to_str().unwrap(),
        ],
    );
    let msg = format!(
        "<134>1 2026-01-02T03:04:05Z host app 1 - [ctx key=\"{}\"] deploy with {}",
        secrets[1], secrets[0]
    );
    send_udp(r.port("syslog/udp-0"), msg.as_bytes());
    let out = rec.wait_until(WAIT, |b| b.ends_with(b"\n"));
    eventually("two audit records", WAIT, || lines_of(&audit).len() >= 2);
    r.stop();
    let recs = lines_of(&audit);
    assert_eq!(recs.len(), 2, "{recs:#?}");
    for rec in &recs {
        assert_eq!(rec["source"]["mode"], "syslog");
        assert_eq!(rec["source"]["listener"], "syslog");
        assert!(rec["source"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
    }
    let raw = std::fs::read(&audit).unwrap();
    assert_no_secret(
        &secrets,
        &[
            ("upstream output", &out),
            ("audit file", &raw),
            ("redactd stderr", r.stderr().as_bytes()),
        ],
    );
}

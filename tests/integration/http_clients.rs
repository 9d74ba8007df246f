//! `redactd http` between real client libraries and a reference upstream
//! that decodes with the real format libraries (issue 5).
//!
//! Clients (`tests/support/ingest_clients.py`): the OpenTelemetry Python SDK
//! (`LoggingHandler` + `OTLPLogExporter`, http/protobuf, plain and gzip),
//! python-logging-loki (Loki JSON), Loki `PushRequest`s built with protobuf
//! and raw snappy as Promtail sends them, opensearch-py `helpers.bulk` with
//! `http_compress=True`, curl POSTing OTLP bodies built with
//! opentelemetry-proto (protobuf + zstd, OTLP/JSON + deflate), and msgpack
//! events as Fluent Bit's `http` output sends them. Upstream
//! (`tests/support/ingest_upstream.py`): opentelemetry-proto's
//! `ExportLogsServiceRequest`, Loki's `PushRequest` (descriptor built at run
//! time), python-snappy, zstandard, msgpack; it answers as the real APIs do
//! (OTLP 200 + `ExportLogsServiceResponse` in the request's type, Loki 204,
//! OpenSearch bulk items and `GET /`).
//!
//! Every client sends each request twice: through redactd to one upstream
//! listener and straight to a second one. A test then checks that the body
//! through redactd parses, that it equals the direct one with exactly the
//! fake secrets replaced by `[REDACTED:<rule>]` (every other field and byte
//! unchanged), that the client library saw the upstream's answer, and that
//! no secret is in the upstream's records or redactd's log, with redactd's
//! findings counter equal to the secrets sent. The fake secrets are made
//! here at test time. Python packages: `.ci/run` installs them; without them
//! the tests print SKIP (or fail under REDACTD_REQUIRE_PEERS=1).
//!
//! A redactd bug found here is kept as an ignored test (its `ignore`
//! reason says what breaks) until it is fixed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::binary::Redactd;
use crate::common::peers::{
    peer, poll_until, require_peers, run_bounded, say, Daemon, TempDir, WAIT,
};
use redactd::rules::template::{expand_one, Rng};
use serde_json::{json, Value};

fn support(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// python3 with every library the clients and the upstream import, or None
/// after SKIP (a failure under REDACTD_REQUIRE_PEERS=1).
fn python() -> Option<PathBuf> {
    let py = peer("python3")?;
    let mut cmd = Command::new(&py);
    cmd.arg("-c").arg(
        "import google.protobuf, snappy, zstandard, msgpack, requests, logging_loki, opensearchpy\n\
         import opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter\n\
         import opentelemetry.proto.collector.logs.v1.logs_service_pb2\n",
    );
    let out = run_bounded(cmd, Duration::from_secs(30));
    if out.status.success() {
        return Some(py);
    }
    let why = String::from_utf8_lossy(&out.stderr);
    let why = why.lines().last().unwrap_or("import failed");
    if require_peers() {
        panic!("REDACTD_REQUIRE_PEERS=1 and python3 lacks a client library ({why}); .ci/run installs them");
    }
    say(&format!("SKIP: python client libraries not found ({why})"));
    None
}

/// The reference upstream: listener 0 behind redactd, listener 1 direct.
struct Upstream {
    _daemon: Daemon,
    via_port: u16,
    direct_port: u16,
    out: PathBuf,
    out_direct: PathBuf,
}

impl Upstream {
    fn start(tmp: &TempDir, py: &Path) -> Upstream {
        let port_file = tmp.join("upstream.ports");
        let out = tmp.join("upstream-via.jsonl");
        let out_direct = tmp.join("upstream-direct.jsonl");
        let mut cmd = Command::new(py);
        cmd.arg(support("ingest_upstream.py"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--out")
            .arg(&out)
            .arg("--out-direct")
            .arg(&out_direct);
        let mut daemon = Daemon::spawn("ingest-upstream", cmd, tmp.path());
        daemon.wait_ready("its port file", || port_file.exists());
        let ports: Vec<u16> = std::fs::read_to_string(&port_file)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        Upstream {
            _daemon: daemon,
            via_port: ports[0],
            direct_port: ports[1],
            out,
            out_direct,
        }
    }

    fn read(p: &Path) -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// (through redactd, direct), once both hold `n` requests.
    fn wait(&self, n: usize) -> (Vec<Value>, Vec<Value>) {
        let (mut via, mut direct) = (Vec::new(), Vec::new());
        let done = poll_until(WAIT, || {
            via = Self::read(&self.out);
            direct = Self::read(&self.out_direct);
            via.len() >= n && direct.len() >= n
        });
        assert!(
            done,
            "upstream recorded {} requests through redactd and {} direct, want {n}",
            via.len(),
            direct.len()
        );
        assert_eq!((via.len(), direct.len()), (n, n), "extra requests recorded");
        (via, direct)
    }

    fn via_text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

/// Fake secrets made at test time: a GitHub PAT with a valid checksum and
/// an AWS access key id, with their rule ids.
struct Secrets(Vec<(String, &'static str)>);

impl Secrets {
    fn new(seed: &str) -> Secrets {
        let gh = expand_one(seed, "ghp_{{crc62:36}}").unwrap();
        let aws = format!(
            "AKIA{}",
            Rng::from_seed(seed.as_bytes())
                .string("base32", 16)
                .unwrap()
        );
        Secrets(vec![(gh, "github.pat"), (aws, "aws.access-key-id")])
    }

    fn gh(&self) -> &str {
        &self.0[0].0
    }

    fn aws(&self) -> &str {
        &self.0[1].0
    }

    /// `s` with every secret replaced by its label: what redactd must send.
    fn redact(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (secret, rule) in &self.0 {
            s = s.replace(secret.as_str(), &format!("[REDACTED:{rule}]"));
        }
        s
    }

    /// A JSON value with every string redacted (keys included, where no
    /// secret is).
    fn redact_json(&self, v: &Value) -> Value {
        serde_json::from_str(&self.redact(&v.to_string())).unwrap()
    }

    fn count_in(&self, s: &str) -> usize {
        self.0
            .iter()
            .map(|(x, _)| s.matches(x.as_str()).count())
            .sum()
    }

    /// No secret in `text` (`what` names it in the failure).
    fn assert_absent(&self, text: &str, what: &str) {
        for (secret, rule) in &self.0 {
            assert!(
                !text.contains(secret.as_str()),
                "a {rule} secret is in {what}"
            );
        }
    }
}

/// A running test setup: upstream, redactd in front of listener 0.
struct Setup {
    tmp: TempDir,
    py: PathBuf,
    up: Upstream,
    redactd: Redactd,
}

impl Setup {
    fn start(tag: &str) -> Option<Setup> {
        let tmp = TempDir::new(tag);
        let py = python()?;
        let up = Upstream::start(&tmp, &py);
        let upstream = format!("http://127.0.0.1:{}", up.via_port);
        let redactd = Redactd::start(
            &tmp,
            "http",
            &["--listen", "127.0.0.1:0", "--upstream", &upstream],
        );
        Some(Setup {
            tmp,
            py,
            up,
            redactd,
        })
    }

    /// Runs the client library `kind` on `spec`; returns what it reported.
    fn client(&self, kind: &str, spec: &Value) -> Value {
        let spec_file = self.tmp.join(format!("{kind}.spec.json"));
        std::fs::write(&spec_file, spec.to_string()).unwrap();
        let mut cmd = Command::new(&self.py);
        cmd.arg(support("ingest_clients.py"))
            .arg(kind)
            .arg(format!("http://127.0.0.1:{}", self.redactd.port("http-0")))
            .arg(format!("http://127.0.0.1:{}", self.up.direct_port))
            .arg(&spec_file);
        let out = run_bounded(cmd, Duration::from_secs(30));
        assert!(
            out.status.success(),
            "client {kind}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "client {kind} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Secrets in the bodies the client sent straight to the upstream.
    fn sent(&self, secrets: &Secrets) -> usize {
        Upstream::read(&self.up.out_direct)
            .iter()
            .map(|r| secrets.count_in(r["body"].as_str().unwrap()))
            .sum()
    }

    /// Stops redactd; checks its findings counter and that its log and the
    /// upstream's records behind it hold no secret (while the direct
    /// records do: the client really sent them).
    fn finish(mut self, secrets: &Secrets, findings: usize) {
        secrets.assert_absent(&self.up.via_text(), "the upstream's records behind redactd");
        assert_eq!(
            self.sent(secrets),
            findings,
            "secrets the client sent straight to the upstream"
        );
        let c = self.redactd.stop();
        assert_eq!(c["findings"], findings as u64, "redactd's findings counter");
        secrets.assert_absent(&self.redactd.stderr(), "redactd's stderr");
    }
}

fn h<'a>(rec: &'a Value, name: &str) -> &'a str {
    rec["headers"]
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The request through redactd against the same request sent direct:
/// route, type and coding kept, and the parsed message equal to the direct
/// one with exactly the secrets replaced.
fn assert_same_but_secrets(secrets: &Secrets, via: &Value, direct: &Value) {
    assert_eq!(via["path"], direct["path"]);
    for k in ["content-type", "content-encoding", "user-agent"] {
        assert_eq!(h(via, k), h(direct, k), "header {k}");
    }
    assert_eq!(
        via["parsed"],
        secrets.redact_json(&direct["parsed"]),
        "the parsed body through redactd is the direct one with only the secrets replaced"
    );
}

/// The OTLP records of a recorded request, flattened.
fn log_records(rec: &Value) -> Vec<Value> {
    let mut v = Vec::new();
    for rl in rec["parsed"]["resourceLogs"].as_array().unwrap() {
        for sl in rl["scopeLogs"].as_array().unwrap() {
            v.extend(sl["logRecords"].as_array().unwrap().iter().cloned());
        }
    }
    v
}

fn otel_case(tag: &str, kind: &str, coding: &str) {
    let Some(s) = Setup::start(tag) else { return };
    let secrets = Secrets::new(tag);
    let (gh, aws) = (secrets.gh(), secrets.aws());
    let mut records = Vec::new();
    for i in 0..12 {
        let (level, line, attrs) = match i % 4 {
            0 => (
                "info",
                format!("deploy {i} pushed with token {gh} to origin"),
                json!({"deploy.id": i, "vcs.repository": "org/app"}),
            ),
            1 => (
                "warning",
                format!("s3 upload {i} used key {aws}, rotate it"),
                json!({"aws.key": aws, "retries": 2, "ratio": 0.5}),
            ),
            2 => (
                "error",
                format!("request {i} failed: no secret here, id 0123456789abcdef"),
                json!({"http.route": "/api/v1/orders", "tags": ["deploy", gh, "ci"]}),
            ),
            _ => (
                "debug",
                format!("both {gh} and {aws} in record {i}"),
                json!({"ok": true}),
            ),
        };
        records.push(json!({"level": level, "line": line, "attrs": attrs}));
    }
    let spec = json!({
        "resource": {"service.name": "redactd-test", "deployment.environment": "ci", "host.name": "web-01"},
        "records": records,
        "flush_after": 5,
    });
    let res = s.client(kind, &spec);
    // The exporter saw success both ways, in two batches (5 + 7 records).
    let exports = res["exports"].as_array().unwrap();
    assert_eq!(
        exports,
        &vec![
            json!({"records": 5, "direct": "SUCCESS", "via": "SUCCESS"}),
            json!({"records": 7, "direct": "SUCCESS", "via": "SUCCESS"}),
        ],
        "the OTLP exporter's results"
    );
    let (via, direct) = s.up.wait(2);
    let mut sent_records = Vec::new();
    for (v, d) in via.iter().zip(&direct) {
        assert_eq!(v["path"], "/v1/logs");
        assert_eq!(h(v, "content-type"), "application/x-protobuf");
        assert_eq!(h(v, "content-encoding"), coding);
        assert_eq!(
            v["canonical"], true,
            "the protobuf through redactd is exactly the serialization of what it parses to"
        );
        assert_same_but_secrets(&secrets, v, d);
        sent_records.extend(log_records(d));
    }
    // What went direct is what the SDK was given: bodies, severities,
    // attributes and the active span's ids, record by record.
    assert_eq!(sent_records.len(), records.len());
    for ((r, want), ids) in sent_records
        .iter()
        .zip(&records)
        .zip(res["sent"].as_array().unwrap())
    {
        assert_eq!(r["body"]["stringValue"], want["line"]);
        // The SDK's severity text for Python's WARNING is OTel's WARN.
        let level = match want["level"].as_str().unwrap() {
            "warning" => "WARN".to_string(),
            l => l.to_uppercase(),
        };
        assert_eq!(r["severityText"], level.as_str());
        assert_eq!(r["traceId"], ids["traceId"]);
        assert_eq!(r["spanId"], ids["spanId"]);
        assert!(r["timeUnixNano"].as_str().is_some_and(|t| t.len() >= 19));
        for (k, _) in want["attrs"].as_object().unwrap() {
            assert!(
                r["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["key"] == k.as_str()),
                "attribute {k} sent"
            );
        }
    }
    // Through redactd: a secret in the body, in a string attribute and in
    // an array attribute is gone; resource attributes are unchanged.
    let via_records: Vec<Value> = via.iter().flat_map(log_records).collect();
    assert_eq!(
        via_records[0]["body"]["stringValue"],
        "deploy 0 pushed with token [REDACTED:github.pat] to origin"
    );
    assert_eq!(
        via_records[1]["attributes"][0],
        json!({"key": "aws.key", "value": {"stringValue": "[REDACTED:aws.access-key-id]"}})
    );
    assert_eq!(
        via_records[2]["attributes"][1]["value"]["arrayValue"]["values"][1],
        json!({"stringValue": "[REDACTED:github.pat]"})
    );
    assert_eq!(
        via[0]["parsed"]["resourceLogs"][0]["resource"],
        direct[0]["parsed"]["resourceLogs"][0]["resource"]
    );
    let findings = s.sent(&secrets);
    assert_eq!(findings, 3 + 3 * 2 + 3 + 3 * 2, "secrets sent");
    s.finish(&secrets, findings);
}

#[test]
fn otel_sdk_otlp_http_protobuf() {
    otel_case("otel-plain", "otel", "");
}

#[test]
fn otel_sdk_otlp_http_protobuf_gzip() {
    otel_case("otel-gzip", "otel-gzip", "gzip");
}

#[test]
fn python_logging_loki_json_push() {
    let Some(s) = Setup::start("loki-json") else {
        return;
    };
    let secrets = Secrets::new("loki-json");
    let (gh, aws) = (secrets.gh(), secrets.aws());
    let lines = [
        format!("git push with {gh} done"),
        "healthy, nothing to hide: AKIA-shaped? no.".to_string(),
        format!("aws s3 cp --key {aws} \"quoted\" \\ backslash é"),
        format!("multi\nline {gh}\ttab"),
    ];
    let records: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({"level": if i % 2 == 0 { "info" } else { "error" }, "line": l, "tags": {"request": format!("r{i}")}})
        })
        .collect();
    let spec = json!({"tags": {"app": "redactd-test", "env": "ci"}, "records": records});
    let res = s.client("loki-json", &spec);
    assert_eq!(
        res["failures"],
        json!([]),
        "every push was answered 204 through redactd"
    );
    let (via, direct) = s.up.wait(lines.len());
    for (i, ((v, d), line)) in via.iter().zip(&direct).zip(&lines).enumerate() {
        assert_eq!(v["path"], "/loki/api/v1/push");
        assert_eq!(h(v, "content-type"), "application/json");
        assert_same_but_secrets(&secrets, v, d);
        // Byte for byte: the JSON text requests wrote, only the secrets
        // replaced (escapes, key order and spacing kept).
        assert_eq!(
            v["body"].as_str().unwrap(),
            secrets.redact(d["body"].as_str().unwrap())
        );
        let stream = &v["parsed"]["streams"][0];
        assert_eq!(stream["stream"]["app"], "redactd-test");
        assert_eq!(stream["stream"]["env"], "ci");
        assert_eq!(stream["stream"]["request"], format!("r{i}"));
        assert_eq!(stream["stream"], d["parsed"]["streams"][0]["stream"]);
        assert_eq!(stream["values"][0][0], res["stamps"][i], "timestamp");
        assert_eq!(stream["values"][0][1], secrets.redact(line));
    }
    s.finish(&secrets, 3);
}

fn loki_proto_case(tag: &str, kind: &str) {
    let Some(s) = Setup::start(tag) else { return };
    let secrets = Secrets::new(tag);
    let (gh, aws) = (secrets.gh(), secrets.aws());
    let spec = json!({"streams": [
        {"labels": "{app=\"redactd-test\", env=\"ci\"}", "entries": [
            {"ts": [1_795_000_000, 123_456_789], "line": format!("token {gh} used"),
             "metadata": [["trace_id", "0af7651916cd43dd8448eb211c80319c"], ["key", aws]]},
            {"ts": [1_795_000_001, 0], "line": "plain line, nothing to redact", "metadata": []},
        ]},
        {"labels": "{app=\"worker\"}", "entries": [
            {"ts": [1_795_000_002, 999_999_999], "line": format!("{aws}:{gh} ünïcödé"),
             "metadata": [["pod", "worker-7f9c"]]},
        ]},
    ]});
    let res = s.client(kind, &spec);
    assert_eq!(res["direct"], json!({"status": 204, "body": ""}));
    assert_eq!(
        res["via"],
        json!({"status": 204, "body": ""}),
        "Loki's 204 relayed"
    );
    let (via, direct) = s.up.wait(1);
    let (v, d) = (&via[0], &direct[0]);
    assert_eq!(
        v["canonical"], true,
        "the PushRequest through redactd is exactly the serialization of what it parses to"
    );
    assert_same_but_secrets(&secrets, v, d);
    let streams = &v["parsed"]["streams"];
    assert_eq!(streams[0]["labels"], "{app=\"redactd-test\", env=\"ci\"}");
    assert_eq!(streams[1]["labels"], "{app=\"worker\"}");
    let e0 = &streams[0]["entries"][0];
    assert_eq!(
        e0["timestamp"],
        json!({"seconds": "1795000000", "nanos": 123_456_789})
    );
    assert_eq!(e0["line"], "token [REDACTED:github.pat] used");
    assert_eq!(
        e0["structuredMetadata"],
        json!([{"name": "trace_id", "value": "0af7651916cd43dd8448eb211c80319c"},
               {"name": "key", "value": "[REDACTED:aws.access-key-id]"}])
    );
    assert_eq!(
        streams[0]["entries"][1]["line"],
        "plain line, nothing to redact"
    );
    assert_eq!(
        streams[1]["entries"][0]["line"],
        "[REDACTED:aws.access-key-id]:[REDACTED:github.pat] ünïcödé"
    );
    s.finish(&secrets, 4);
}

/// Promtail's and Alloy's wire shape: protobuf in raw snappy,
/// `Content-Type: application/x-protobuf`.
#[test]
fn loki_protobuf_snappy_push() {
    loki_proto_case("loki-proto", "loki-proto");
}

/// Loki reads a push without a Content-Type as protobuf
/// (pkg/loghttp/push: the default branch), so a sidecar must too.
#[test]
fn loki_protobuf_snappy_push_without_content_type() {
    loki_proto_case("loki-proto-untyped", "loki-proto-untyped");
}

/// A secret whose first bytes already occurred in the stream: snappy
/// encodes it as a back-reference plus a literal, so it is never visible as
/// plain bytes in the compressed body.
fn loki_split_case(tag: &str, kind: &str) {
    let Some(s) = Setup::start(tag) else { return };
    let secrets = Secrets::new(tag);
    let aws = secrets.aws();
    let spec = json!({"streams": [
        {"labels": "{app=\"redactd-test\"}", "entries": [
            // A decoy: the key's first 15 bytes, not a key.
            {"ts": [1_795_000_000, 0], "line": format!("user {} logged in", &aws[..15])},
            {"ts": [1_795_000_001, 0], "line": format!("uploading with {aws} done")},
        ]},
    ]});
    let res = s.client(kind, &spec);
    assert_eq!(res["via"], json!({"status": 204, "body": ""}));
    let (via, direct) = s.up.wait(1);
    assert_same_but_secrets(&secrets, &via[0], &direct[0]);
    assert_eq!(
        via[0]["parsed"]["streams"][0]["entries"][1]["line"],
        "uploading with [REDACTED:aws.access-key-id] done"
    );
    s.finish(&secrets, 1);
}

#[test]
fn loki_protobuf_snappy_push_secret_split_by_compression() {
    loki_split_case("loki-split", "loki-proto");
}

/// As above without a Content-Type: the body is scanned as text, the key is
/// not there in plain bytes, and it reaches the upstream (Loki accepts it).
#[test]
fn loki_protobuf_snappy_push_without_content_type_secret_split_by_compression() {
    loki_split_case("loki-split-untyped", "loki-proto-untyped");
}

#[test]
fn opensearch_py_bulk_with_gzip() {
    let Some(s) = Setup::start("opensearch") else {
        return;
    };
    let secrets = Secrets::new("opensearch");
    let (gh, aws) = (secrets.gh(), secrets.aws());
    let mut actions = Vec::new();
    for i in 0..30 {
        let msg = match i % 3 {
            0 => format!("deploy {i} with {gh}"),
            1 => format!("key={aws} \"quoted\" / slash"),
            _ => format!("request {i} fine"),
        };
        actions.push(json!({
            "_index": "logs-redactd",
            "_id": format!("doc-{i}"),
            "_source": {"@timestamp": format!("2026-11-26T00:00:{:02}Z", i), "message": msg,
                        "service": {"name": "api", "token_ref": "vault:kv/app"}, "n": i, "f": 1.5},
        }));
    }
    let spec = json!({"actions": actions, "chunk_size": 10});
    let res = s.client("opensearch", &spec);
    for side in ["direct", "via"] {
        assert_eq!(
            res[side],
            json!({"ok": 30, "errors": [], "distribution": "opensearch"}),
            "{side}: opensearch-py's info() and helpers.bulk results"
        );
    }
    // Three chunks of ten documents each way.
    let (via, direct) = s.up.wait(3);
    for (v, d) in via.iter().zip(&direct) {
        assert_eq!(v["path"], "/_bulk");
        assert_eq!(h(v, "content-encoding"), "gzip");
        assert_same_but_secrets(&secrets, v, d);
        let (vb, db) = (v["body"].as_str().unwrap(), d["body"].as_str().unwrap());
        assert_eq!(
            vb,
            secrets.redact(db),
            "NDJSON byte for byte but the secrets"
        );
        for (vl, dl) in vb.lines().zip(db.lines()).step_by(2) {
            assert_eq!(vl, dl, "action line unchanged");
        }
    }
    s.finish(&secrets, 20);
}

/// curl POSTing `file` to `url` with `headers`; (status, headers, body).
fn curl_post(tmp: &TempDir, url: &str, file: &Path, headers: &[String]) -> (u16, String, Vec<u8>) {
    let Some(curl) = peer("curl") else {
        unreachable!("checked by the caller")
    };
    let resp = tmp.join("curl.body");
    let _ = std::fs::remove_file(&resp);
    let mut cmd = Command::new(curl);
    cmd.args([
        "-sS",
        "-D",
        "-",
        "--max-time",
        "10",
        "-X",
        "POST",
        url,
        "-o",
    ])
    .arg(&resp)
    .arg("--data-binary")
    .arg(format!("@{}", file.display()));
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = run_bounded(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        crate::common::status_of(&head),
        head,
        std::fs::read(&resp).unwrap_or_default(),
    )
}

fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// OTLP/HTTP bodies built with opentelemetry-proto (every AnyValue kind
/// nested, bytes, IDs, event name, an unknown field 99), sent by curl as
/// protobuf with zstd and as OTLP/JSON with deflate; the upstream answers
/// with a `partial_success`, which must come back byte for byte.
#[test]
fn otlp_bodies_from_opentelemetry_proto_via_curl() {
    let Some(_) = peer("curl") else { return };
    let Some(s) = Setup::start("otlp-curl") else {
        return;
    };
    let secrets = Secrets::new("otlp-curl");
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let span = "b7ad6b7169203331";
    let via_url = format!("http://127.0.0.1:{}/v1/logs", s.redactd.port("http-0"));
    let direct_url = format!("http://127.0.0.1:{}/v1/logs", s.up.direct_port);
    let cases = [
        ("proto", "zstd", "application/x-protobuf"),
        ("json", "deflate", "application/json"),
    ];
    for (i, (format, coding, ctype)) in cases.iter().enumerate() {
        let file = s.tmp.join(format!("otlp-{format}.{coding}"));
        s.client(
            "otlp-body",
            &json!({"format": format, "coding": coding, "out": file, "gh": secrets.gh(),
                    "aws": secrets.aws(), "trace_id": trace, "span_id": span}),
        );
        let headers = [
            format!("Content-Type: {ctype}"),
            format!("Content-Encoding: {coding}"),
            "X-Test-Partial-Success: 2".to_string(),
        ];
        let (ds, dh, db) = curl_post(&s.tmp, &direct_url, &file, &headers);
        let (vs, vh, vb) = curl_post(&s.tmp, &via_url, &file, &headers);
        assert_eq!((ds, vs), (200, 200), "{format}: {vh}");
        assert_eq!(header_value(&dh, "content-type").as_deref(), Some(*ctype));
        assert_eq!(
            header_value(&vh, "content-type"),
            header_value(&dh, "content-type"),
            "{format}: the reply's type relayed"
        );
        assert!(!db.is_empty(), "the upstream answered a partial_success");
        assert_eq!(
            vb, db,
            "{format}: the ExportLogsServiceResponse relayed byte for byte"
        );
        let (via, direct) = s.up.wait(i + 1);
        let (v, d) = (&via[i], &direct[i]);
        assert_eq!(h(v, "content-encoding"), *coding);
        assert_same_but_secrets(&secrets, v, d);
        let rec = &v["parsed"]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        let kv = &rec["body"]["kvlistValue"]["values"];
        assert_eq!(
            kv[0]["value"]["stringValue"],
            "login with token [REDACTED:github.pat] failed"
        );
        assert_eq!(
            kv[1]["value"]["kvlistValue"]["values"][1]["value"]["arrayValue"]["values"][0]
                ["stringValue"],
            "[REDACTED:aws.access-key-id]"
        );
        assert_eq!(
            rec["attributes"][2]["value"]["arrayValue"]["values"][0]["kvlistValue"]["values"][0]
                ["value"]["stringValue"],
            "[REDACTED:aws.access-key-id]"
        );
        assert_eq!(rec["eventName"], "payment.failed");
        let body = v["body"].as_str().unwrap();
        if *format == "proto" {
            assert_eq!(v["canonical"], true);
            assert!(
                body.contains("unknown-field-99-kept"),
                "the unknown field 99 is kept"
            );
            // The bytes AnyValue: the key inside it redacted, the other
            // bytes (NUL, 0xff) kept.
            assert!(body.contains("key=[REDACTED:aws.access-key-id]\u{0}\u{ff}"));
        } else {
            // OTLP/JSON byte for byte but the secrets: hex IDs, integer
            // enums and int64 strings untouched.
            assert_eq!(body, secrets.redact(d["body"].as_str().unwrap()));
            assert!(body.contains(&format!("\"traceId\": \"{trace}\"")));
            assert!(body.contains("\"severityNumber\": 17"));
        }
    }
    // Protobuf: 5 (the bytes value's key included); JSON: 4.
    s.finish(&secrets, 9);
}

/// Fluent Bit's `http` output with `format msgpack` (PROTOCOLS.md section
/// 4): events built with the msgpack library, EventTime as ext 0. The str
/// holding a secret must get its new length in its header.
#[test]
fn fluent_bit_msgpack_events() {
    let Some(s) = Setup::start("msgpack") else {
        return;
    };
    let secrets = Secrets::new("msgpack");
    let (gh, aws) = (secrets.gh(), secrets.aws());
    let spec = json!({"uri": "/ingest", "events": [
        {"ts": [1_795_000_000, 5], "record": {"log": format!("uploading with {aws} done"), "stream": "stdout"}},
        {"ts": [1_795_000_001, 0], "record": {"log": "nothing here", "kubernetes": {"pod": "api-0", "token": gh}}},
    ]});
    let res = s.client("fluentbit-msgpack", &spec);
    assert_eq!(res["direct"]["status"], 201);
    assert_eq!(res["via"]["status"], 201, "{}", res["via"]);
    let (via, direct) = s.up.wait(1);
    assert_same_but_secrets(&secrets, &via[0], &direct[0]);
    assert_eq!(
        via[0]["parsed"][0][0],
        json!({"ext": 0, "data": "j\u{fd}\u{86}\u{c0}\u{0}\u{0}\u{0}\u{5}"}),
        "EventTime kept"
    );
    // The token under the key `token` is found by github.pat and, with its
    // key as context, by generic.token: the same bytes, one redacted span,
    // one finding (under github.pat, as the label shows).
    s.finish(&secrets, 2);
}

/// Fluent Bit >= 2.1's `[[time, metadata], record]` events, typed
/// `application/x-msgpack` and gzip-compressed, with secrets in a str that
/// grows past fixstr (an AWS key's label is longer than the key), in a bin
/// value, in the metadata and in a nested array.
#[test]
fn fluent_bit_msgpack_events_with_metadata_gzip() {
    let Some(s) = Setup::start("msgpack-meta") else {
        return;
    };
    let secrets = Secrets::new("msgpack-meta");
    let (gh, aws) = (secrets.gh(), secrets.aws());
    let spec = json!({
        "uri": "/fluent",
        "content_type": "application/x-msgpack",
        "coding": "gzip",
        "events": [
            {"ts": [1_795_000_002, 999_999_999], "meta": {"otlp": {"trace": gh}},
             "record": {"log": format!("uploading {aws}"), "date": 1_795_000_002.5, "n": -7, "ok": true, "none": null}},
            {"ts": [1_795_000_003, 1], "meta": {},
             "record": {"raw": {"$bin": format!("key={aws}\n")}, "list": [1, [format!("x {gh}")]]}},
        ]
    });
    let res = s.client("fluentbit-msgpack", &spec);
    assert_eq!(res["direct"]["status"], 201);
    assert_eq!(res["via"]["status"], 201, "{}", res["via"]);
    let (via, direct) = s.up.wait(1);
    assert_same_but_secrets(&secrets, &via[0], &direct[0]);
    assert_eq!(h(&via[0], "content-type"), "application/x-msgpack");
    assert_eq!(h(&via[0], "content-encoding"), "gzip");
    for (i, data) in [
        "j\u{fd}\u{86}\u{c2};\u{9a}\u{c9}\u{ff}",
        "j\u{fd}\u{86}\u{c3}\u{0}\u{0}\u{0}\u{1}",
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            via[0]["parsed"][i][0][0],
            json!({"ext": 0, "data": data}),
            "EventTime {i} kept"
        );
    }
    assert_eq!(
        via[0]["parsed"][1][1]["raw"],
        json!({"bin": "key=[REDACTED:aws.access-key-id]\n"}),
        "the bin value is redacted and stays bin"
    );
    s.finish(&secrets, 4);
}

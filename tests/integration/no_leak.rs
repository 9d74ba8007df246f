//! The whole-run leak check: a generated corpus with secrets of every rule
//! goes through the syslog relay (metrics and an alert audit file on), and
//! through `filter --findings` and `scan` in every format; then every byte
//! redactd produced (upstream output, its logs, `/metrics`, the audit file,
//! the findings file, the scan reports) is searched for every secret the
//! engine found, and none may appear. The relay's findings counter must
//! equal the number of findings the library reports for the same messages.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::process::Command;

use crate::common::binary::Redactd;
use crate::common::peers::{peer, TcpRecorder, TempDir, WAIT};
use crate::common::*;
use redactd::engine::{Redactor, Style};
use redactd::scrub::syslog::redact_message;

#[test]
fn nothing_redactd_writes_holds_a_secret() {
    let Some(curl) = peer("curl") else { return };
    let set = builtin();
    let (corpus_text, _) = corpus(&set, "no-leak", 3000, 8);
    let lines: Vec<&[u8]> = corpus_text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();

    // The secrets: every span the engine reports, read off the input.
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut expected_findings = 0u64;
    let mut red = Redactor::new(set.clone(), opts(Style::Label));
    for line in &lines {
        let msg = [b"<13>1 - web-01 app - - - ".as_slice(), line].concat();
        let mut out = Vec::new();
        expected_findings += redact_message(&mut red, &msg, &mut out);
        let whole = whole(&set, Style::Label, line);
        for f in &whole.findings {
            let s = &line[f.offset as usize..(f.offset + f.len).min(line.len() as u64) as usize];
            if s.len() >= 8 && !secrets.iter().any(|x| x == s) {
                secrets.push(s.to_vec());
            }
        }
    }
    assert!(secrets.len() > 100, "the corpus should carry many secrets");

    let tmp = TempDir::new("no-leak");
    let audit = tmp.join("alerts.jsonl");
    let rec = TcpRecorder::start();
    let up = format!("tcp://127.0.0.1:{}", rec.port());
    let mut d = Redactd::start(
        &tmp,
        "syslog",
        &[
            "--listen-tcp",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--metrics",
            "127.0.0.1:0",
            "--alert-audit-file",
            audit.to_str().unwrap(),
        ],
    );
    let mut c = TcpStream::connect(d.addr("syslog/tcp-0")).unwrap();
    for line in &lines {
        c.write_all(b"<13>1 - web-01 app - - - ").unwrap();
        c.write_all(line).unwrap();
        c.write_all(b"\n").unwrap();
    }
    c.shutdown(Shutdown::Write).unwrap();
    let upstream = rec.wait_until(WAIT, |b| {
        b.split(|&x| x == b'\n').filter(|l| !l.is_empty()).count() >= lines.len()
    });
    let metrics_addr = d.addr("metrics");
    let scrape = Command::new(&curl)
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://{metrics_addr}/metrics"))
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&scrape.stdout).into_owned();
    let found: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("redactd_findings_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64;
    assert_eq!(found, expected_findings, "findings counter vs the library");
    let summary = d.stop();
    assert_eq!(summary["findings"], expected_findings);
    let relay_log = d.stderr();

    // filter --findings and scan in every format over the same corpus.
    let file = tmp.join("corpus.log");
    std::fs::write(&file, &corpus_text).unwrap();
    let findings = tmp.join("findings.jsonl");
    let filter = Command::new(env!("CARGO_BIN_EXE_redactd"))
        .args(["filter", "--findings"])
        .arg(&findings)
        .arg(&file)
        .output()
        .unwrap();
    assert!(filter.status.success());
    let mut produced: Vec<(String, Vec<u8>)> = vec![
        ("upstream output".into(), upstream),
        ("relay log".into(), relay_log.into_bytes()),
        ("metrics".into(), metrics.into_bytes()),
        ("alert audit file".into(), std::fs::read(&audit).unwrap()),
        ("filter output".into(), filter.stdout),
        ("filter log".into(), filter.stderr),
        ("findings file".into(), std::fs::read(&findings).unwrap()),
    ];
    for format in ["table", "json", "sarif"] {
        let scan = Command::new(env!("CARGO_BIN_EXE_redactd"))
            .args(["scan", "--format", format])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(scan.status.code(), Some(1), "scan finds the secrets");
        produced.push((format!("scan {format} report"), scan.stdout));
        produced.push((format!("scan {format} log"), scan.stderr));
    }
    for (what, bytes) in &produced {
        assert!(
            !bytes.is_empty() || what.ends_with("log"),
            "{what} is empty"
        );
        for s in &secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_slice()),
                "a secret ({} bytes) reached the {what}",
                s.len()
            );
        }
    }
}

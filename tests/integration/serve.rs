//! `redactd serve --config` and `redactd check-config` end to end: several
//! listeners from one file, SIGHUP reloads that swap rules under an open
//! connection, a bad file that keeps the old configuration (its errors
//! logged with key paths, never with the secret it held), and a changed
//! listener restarted while an old connection finishes.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;

use crate::common::peers::{poll_until, Daemon, TcpRecorder, TempDir, POLL_STEP, POLL_TRIES, WAIT};
use redactd::rules::template::Rng;

const RULE: &str = r#"
[[rule]]
id = "acme.token"
name = "ACME test token"
regex = '''\bacme_[a-z0-9]{20}\b'''
keywords = ["acme_"]
severity = "high"
remediation = "Rotate the ACME token in the ACME console"
examples = [{ input = "t=acme_{{lowerdigit:20}}", output = "t=[REDACTED:acme.token]" }]
negative_examples = ["acme_short"]
"#;

fn config(rules_dir: &Path, enable: &str, syslog_up: u16, tcp_up: u16, flush_ms: u32) -> String {
    format!(
        r#"
[rules]
dirs = ["{dir}"]
enable = [{enable}]

[runtime]
drain_ms = 2000

[[listener]]
name = "sys"
mode = "syslog"
listen_tcp = ["127.0.0.1:0"]
upstream = "tcp://127.0.0.1:{syslog_up}"
upstream_framing = "lf"

[[listener]]
name = "raw"
mode = "tcp"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{tcp_up}"
flush_ms = {flush_ms}
"#,
        dir = rules_dir.display()
    )
}

struct Serve {
    daemon: Daemon,
    ready: std::path::PathBuf,
}

impl Serve {
    fn start(tmp: &TempDir, cfg: &Path) -> Serve {
        let ready = tmp.join("serve.ready");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_redactd"));
        cmd.args(["serve", "--config"])
            .arg(cfg)
            .arg("--ready-file")
            .arg(&ready)
            .env("RUST_LOG", "info");
        let mut daemon = Daemon::spawn("redactd-serve", cmd, tmp.path());
        daemon.wait_ready("its ready file", || ready.exists());
        Serve { daemon, ready }
    }

    fn port(&self, name: &str) -> u16 {
        let text = std::fs::read_to_string(&self.ready).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn hup_and_wait(&mut self, outcome: &str) {
        let before = self.daemon.stderr_text().matches(outcome).count();
        let pid = self.daemon.pid().unwrap();
        assert!(Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
        let daemon = &self.daemon;
        // A reload compiles the rule library again, as start-up does: the
        // same bound as the readiness wait.
        assert!(
            poll_until(POLL_STEP * POLL_TRIES, || daemon
                .stderr_text()
                .matches(outcome)
                .count()
                > before),
            "no {outcome:?} after SIGHUP\n{}",
            self.daemon.report()
        );
    }
}

#[test]
fn reload_swaps_rules_under_open_connections_and_a_bad_file_changes_nothing() {
    let tmp = TempDir::new("serve");
    let rules = tmp.subdir("rules");
    std::fs::write(rules.join("acme.toml"), RULE).unwrap();
    let sys_up = TcpRecorder::start();
    let raw_up = TcpRecorder::start();
    let cfg = tmp.join("redactd.toml");
    std::fs::write(&cfg, config(&rules, "", sys_up.port(), raw_up.port(), 20)).unwrap();
    let mut s = Serve::start(&tmp, &cfg);
    let (sys, raw) = (s.port("sys/tcp-0"), s.port("raw"));

    let mut rng = Rng::from_seed(b"serve");
    let token = format!("acme_{}", rng.string("lowerdigit", 20).unwrap());
    let mut a = TcpStream::connect(("127.0.0.1", sys)).unwrap();
    let mut b = TcpStream::connect(("127.0.0.1", raw)).unwrap();
    // The custom rule is not enabled yet: the token passes.
    a.write_all(format!("<13>1 - h app - - - before {token}\n").as_bytes())
        .unwrap();
    b.write_all(format!("before {token}\n").as_bytes()).unwrap();
    sys_up.wait_until(WAIT, |x| x.ends_with(b"\n"));
    raw_up.wait_until(WAIT, |x| x.ends_with(b"\n"));

    // Enable it and reload: the same connections now redact it.
    std::fs::write(
        &cfg,
        config(&rules, "\"acme.token\"", sys_up.port(), raw_up.port(), 20),
    )
    .unwrap();
    s.hup_and_wait("reload done");
    assert_eq!(
        s.port("sys/tcp-0"),
        sys,
        "an unchanged listener keeps its socket"
    );
    a.write_all(format!("<13>1 - h app - - - after {token}\n").as_bytes())
        .unwrap();
    b.write_all(format!("after {token}\n").as_bytes()).unwrap();
    let got = sys_up.wait_until(WAIT, |x| x.ends_with(b"[REDACTED:acme.token]\n"));
    assert!(String::from_utf8_lossy(&got).contains(&format!("before {token}\n")));
    raw_up.wait_until(WAIT, |x| x.ends_with(b"after [REDACTED:acme.token]\n"));

    // A bad file: an inline secret under a key that does not exist. Nothing
    // changes, and
    // the log names the key path but not the secret.
    let inline = format!("AKIA{}", rng.string("upper", 16).unwrap());
    let mut bad = config(&rules, "\"acme.token\"", sys_up.port(), raw_up.port(), 20);
    bad.push_str(&format!("\n[redact]\nhmac_key = \"{inline}\"\n"));
    std::fs::write(&cfg, &bad).unwrap();
    s.hup_and_wait("reload failed");
    let err = s.daemon.stderr_text();
    assert!(err.contains("redact.hmac_key"), "{err}");
    assert!(
        err.contains("aws.access-key-id"),
        "the scan names the rule: {err}"
    );
    assert!(!err.contains(&inline), "the inline secret reached the log");
    // The failure says why, on its own line (ReloadError::Invalid).
    assert!(
        err.lines()
            .any(|l| l.contains("reload failed") && l.contains("2 problem(s) in")),
        "{err}"
    );
    a.write_all(format!("<13>1 - h app - - - still {token}\n").as_bytes())
        .unwrap();
    sys_up.wait_until(WAIT, |x| x.ends_with(b"still [REDACTED:acme.token]\n"));

    // A changed listener restarts on a new socket; its old connection
    // finishes with the old settings.
    std::fs::write(
        &cfg,
        config(&rules, "\"acme.token\"", sys_up.port(), raw_up.port(), 50),
    )
    .unwrap();
    s.hup_and_wait("reload done");
    let raw2 = s.port("raw");
    b.write_all(b"old connection still open\n").unwrap();
    raw_up.wait_until(WAIT, |x| x.ends_with(b"old connection still open\n"));
    let mut c = TcpStream::connect(("127.0.0.1", raw2)).unwrap();
    c.write_all(format!("new listener {token}\n").as_bytes())
        .unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    raw_up.wait_until(WAIT, |x| {
        String::from_utf8_lossy(x).contains("new listener [REDACTED:acme.token]\n")
    });

    drop((a, b, c));
    let status = s.daemon.stop();
    assert!(
        status.is_some_and(|st| st.success()),
        "{}",
        s.daemon.report()
    );
    let err = s.daemon.stderr_text();
    let summary = err
        .lines()
        .rev()
        .find(|l| l.contains("reloads_ok="))
        .unwrap();
    assert!(
        summary.contains("reloads_ok=2 reloads_failed=1"),
        "{summary}"
    );
    assert!(!err.contains(&token), "a token reached the log");
}

#[test]
fn check_config_reports_every_problem_with_its_key_path() {
    let tmp = TempDir::new("check-config");
    let rules = tmp.subdir("rules");
    std::fs::write(rules.join("acme.toml"), RULE).unwrap();
    let good = tmp.join("good.toml");
    std::fs::write(&good, config(&rules, "", 5514, 6000, 20)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_redactd"))
        .args(["check-config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (2 listener(s)"));

    let bad = tmp.join("bad.toml");
    let text = config(&rules, "", 5514, 6000, 20)
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:6000\"")
        .replace(
            "upstream_framing = \"lf\"",
            "upstream_framing = \"lf\"\nflush_ms = 5",
        );
    std::fs::write(&bad, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_redactd"))
        .args(["check-config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listener[0].flush_ms"), "{err}");
    assert!(err.contains("listener[1].listen"), "{err}");
}

#[test]
fn known_values_are_re_read_on_reload() {
    let tmp = TempDir::new("serve-known");
    let vol = tmp.subdir("secrets");
    let mut rng = Rng::from_seed(b"serve-known");
    let old = rng.string("alnum", 20).unwrap();
    let new = rng.string("alnum", 20).unwrap();
    std::fs::write(vol.join("db_password"), &old).unwrap();
    let up = TcpRecorder::start();
    let cfg = tmp.join("redactd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rules]\nknown_secrets = [\"{}\"]\n\n[[listener]]\nname = \"raw\"\nmode = \"tcp\"\n\
             listen = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:{}\"\n",
            vol.display(),
            up.port()
        ),
    )
    .unwrap();
    let mut s = Serve::start(&tmp, &cfg);
    let mut c = TcpStream::connect(("127.0.0.1", s.port("raw"))).unwrap();
    c.write_all(format!("one {old}\n").as_bytes()).unwrap();
    up.wait_until(WAIT, |x| x.ends_with(b"one [REDACTED:known.db_password]\n"));
    // The secret is rotated: the file changes, SIGHUP re-reads it.
    std::fs::write(vol.join("db_password"), &new).unwrap();
    s.hup_and_wait("reload done");
    c.write_all(format!("two {new}\n").as_bytes()).unwrap();
    up.wait_until(WAIT, |x| x.ends_with(b"two [REDACTED:known.db_password]\n"));
    drop(c);
    assert!(s.daemon.stop().is_some_and(|st| st.success()));
    let err = s.daemon.stderr_text();
    assert!(
        !err.contains(&old) && !err.contains(&new),
        "a value reached the log"
    );
}

//! The redactd binary as a daemon in tests: started with a ready file on
//! port 0, its listeners' addresses read back, stopped with SIGTERM so it
//! drains and prints its counter summary, which tests parse.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use super::peers::{poll_until, Daemon, TempDir};

/// A running `redactd` process.
pub struct Redactd {
    pub daemon: Daemon,
    addrs: BTreeMap<String, SocketAddr>,
}

impl Redactd {
    /// Runs `redactd MODE ARGS... --ready-file F` in `tmp` and waits for
    /// its listeners.
    pub fn start(tmp: &TempDir, mode: &str, args: &[&str]) -> Redactd {
        let ready = tmp.join(format!("redactd-{mode}.ready"));
        let _ = std::fs::remove_file(&ready);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_redactd"));
        cmd.arg(mode)
            .args(args)
            .arg("--ready-file")
            .arg(&ready)
            .env("RUST_LOG", "info");
        let mut daemon = Daemon::spawn(&format!("redactd-{mode}"), cmd, tmp.path());
        daemon.wait_ready("its ready file", || ready.exists());
        let text = std::fs::read_to_string(&ready).expect("ready file");
        let addrs = text
            .lines()
            .map(|l| {
                let (name, addr) = l.split_once(' ').expect("NAME ADDR");
                (name.to_string(), addr.parse().expect("socket address"))
            })
            .collect();
        Redactd { daemon, addrs }
    }

    /// The bound address of a listener (`syslog/tcp-0`, `tcp-0`, ...).
    pub fn addr(&self, name: &str) -> SocketAddr {
        *self
            .addrs
            .get(name)
            .unwrap_or_else(|| panic!("no listener {name} in {:?}", self.addrs))
    }

    pub fn port(&self, name: &str) -> u16 {
        self.addr(name).port()
    }

    /// Resident and peak resident memory, in KiB, from /proc.
    pub fn rss_kib(&self) -> (u64, u64) {
        let pid = self.daemon.pid().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, wait for a clean exit, and return the counters of its
    /// final summary line.
    pub fn stop(&mut self) -> BTreeMap<String, u64> {
        let status = self.daemon.stop();
        assert!(
            status.is_some_and(|s| s.success()),
            "redactd did not exit cleanly: {status:?}\n{}",
            self.daemon.report()
        );
        let err = self.daemon.stderr_text();
        let line = err
            .lines()
            .rev()
            .find(|l| l.contains("messages_in="))
            .unwrap_or_else(|| panic!("no summary line\n{err}"));
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()
    }

    pub fn stderr(&self) -> String {
        self.daemon.stderr_text()
    }
}

/// Waits (bounded) until `f` holds, panicking with `what` otherwise.
pub fn eventually(what: &str, timeout: Duration, f: impl FnMut() -> bool) {
    assert!(poll_until(timeout, f), "timed out waiting for {what}");
}

//! Real-peer harness: rsyslog, syslog-ng, `logger` and `loggen` run from the
//! tests on 127.0.0.1, each daemon in the foreground with its own config,
//! pid, state and output files in a [`TempDir`] (PROTOCOLS.md section 7).
//!
//! - [`peer`] finds a binary; when it is absent the test prints
//!   `SKIP: <name> not found` and returns, unless `REDACTD_REQUIRE_PEERS=1`
//!   (set by `.ci/run`), which makes it panic instead.
//! - [`Daemon`] owns a child process: stdout/stderr go to files in the temp
//!   dir, readiness is bounded polling (never a fixed sleep) and a failure
//!   panics with the daemon's stderr attached; Drop kills it by PID and waits.
//! - [`Rsyslog`] and [`SyslogNg`] build receivers (writing the `dbg` template
//!   of PROTOCOLS.md section 2 and the raw message to files) and senders
//!   (a local input forwarded to a target).
//! - [`TcpRecorder`] / [`UdpRecorder`] capture the exact bytes a sender emits.
//!
//! std only: no tempfile, no libc.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Readiness polling: at most `POLL_TRIES` checks, `POLL_STEP` apart (20 s).
/// A debug build compiles the whole rule library before it is ready: 1.7 s
/// of CPU for 788 rules, several times that on a loaded machine.
pub const POLL_TRIES: u32 = 800;
pub const POLL_STEP: Duration = Duration::from_millis(25);
/// Default bound for waiting on output (lines in a file, bytes at a recorder).
pub const WAIT: Duration = Duration::from_secs(10);

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

// ---------------------------------------------------------------- peers ---

/// `REDACTD_REQUIRE_PEERS=1`: a missing peer is a failure, not a skip.
pub fn require_peers() -> bool {
    env::var("REDACTD_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Prints to the real stderr, bypassing libtest's capture, so SKIP lines
/// show in a plain `cargo test` run.
pub fn say(msg: &str) {
    let _ = writeln!(io::stderr(), "{msg}");
}

/// Root of an extracted syslog-ng tree (`<root>/usr/sbin/syslog-ng`):
/// `$SYSLOGNG_PREFIX/..` when set, else `/opt/syslog-ng` (what `.ci/run`
/// extracts into, since syslog-ng-core conflicts with rsyslog in Debian).
fn syslog_ng_usr_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = env::var_os("SYSLOGNG_PREFIX") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("/opt/syslog-ng/usr"));
    v
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Looks for `name` without skipping or panicking.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    // An explicit extracted tree wins over whatever else is installed.
    if let Some(p) = env::var_os("SYSLOGNG_PREFIX") {
        let p = PathBuf::from(p);
        dirs.push(p.join("sbin"));
        dirs.push(p.join("bin"));
    }
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    for u in syslog_ng_usr_dirs() {
        dirs.push(u.join("sbin"));
        dirs.push(u.join("bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// Finds a peer binary. Absent: prints `SKIP: <name> not found` and returns
/// None, or panics when `REDACTD_REQUIRE_PEERS=1`.
///
/// `REDACTD_SKIP_PEERS=name,name` makes the named peers count as absent (to
/// try the skip paths, or to run without a slow peer locally).
pub fn peer(name: &str) -> Option<PathBuf> {
    let hidden =
        env::var("REDACTD_SKIP_PEERS").is_ok_and(|v| v.split(',').any(|n| n.trim() == name));
    if let Some(p) = find_binary(name).filter(|_| !hidden) {
        return Some(p);
    }
    if require_peers() {
        panic!(
            "REDACTD_REQUIRE_PEERS=1 and the peer `{name}` was not found (searched \
             $SYSLOGNG_PREFIX/{{sbin,bin}}, PATH, /usr/sbin, /sbin, /opt/syslog-ng/usr/{{sbin,bin}}) or it is listed in REDACTD_SKIP_PEERS; \
             .ci/run installs it"
        );
    }
    say(&format!("SKIP: {name} not found"));
    None
}

/// All of `names`, or None (after printing SKIP for the first one missing).
pub fn peers<const N: usize>(names: [&str; N]) -> Option<[PathBuf; N]> {
    let mut out: Vec<PathBuf> = Vec::with_capacity(N);
    for n in names {
        out.push(peer(n)?);
    }
    out.try_into().ok()
}

/// For a syslog-ng binary from an extracted tree (`<root>/usr/{s,}bin/x`
/// with `<root>/usr/lib/syslog-ng` beside it and not the system one), sets
/// `SYSLOGNG_PREFIX=<root>/usr` (module path, include path, loggen plugins)
/// and `LD_LIBRARY_PATH=<root>/usr/lib/syslog-ng` (the binaries' RUNPATH
/// is `/usr/lib/syslog-ng`). A system install is left alone.
pub fn syslog_ng_env(cmd: &mut Command, bin: &Path) {
    let Some(usr) = bin.parent().and_then(Path::parent) else {
        return;
    };
    let lib = usr.join("lib/syslog-ng");
    if usr == Path::new("/usr") || !lib.is_dir() {
        return;
    }
    cmd.env("SYSLOGNG_PREFIX", usr);
    let mut ld = lib.into_os_string();
    if let Some(old) = env::var_os("LD_LIBRARY_PATH") {
        ld.push(":");
        ld.push(old);
    }
    cmd.env("LD_LIBRARY_PATH", ld);
}

// ------------------------------------------------------------- temp dir ---

/// A fresh directory under `env::temp_dir()` named `redactd-<tag>-<pid>-<n>`,
/// removed on Drop. Kept (and its path printed) when the test is panicking
/// or `REDACTD_KEEP_TMP=1`, so daemon logs can be read after a failure.
pub struct TempDir {
    path: PathBuf,
}

static TMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for _ in 0..1000 {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = env::temp_dir().join(format!("redactd-{tag}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("create {}: {e}", path.display()),
            }
        }
        panic!("no free temp dir name for {tag}");
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }

    /// A new uniquely named subdirectory (`<prefix>-<n>`).
    pub fn subdir(&self, prefix: &str) -> PathBuf {
        for _ in 0..1000 {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let p = self.path.join(format!("{prefix}-{n}"));
            if fs::create_dir(&p).is_ok() {
                return p;
            }
        }
        panic!("no free subdir name under {}", self.path.display());
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() || env::var("REDACTD_KEEP_TMP").is_ok_and(|v| v == "1") {
            say(&format!("kept temp dir {}", self.path.display()));
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ------------------------------------------------------------- polling ---

/// Polls `f` every [`POLL_STEP`] until it returns true or `timeout` passes
/// (at least one try, at most `timeout / POLL_STEP + 1`). Returns whether it did.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let tries = (timeout.as_millis() / POLL_STEP.as_millis()).max(1) as u32 + 1;
    for i in 0..tries {
        if f() {
            return true;
        }
        if i + 1 < tries {
            thread::sleep(POLL_STEP);
        }
    }
    false
}

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Complete (LF-terminated) lines of a file; a partial last line is not counted.
pub fn file_lines(p: &Path) -> Vec<String> {
    let text = read_lossy(p);
    let mut v: Vec<String> = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| l[..l.len() - 1].to_owned())
        .collect();
    v.shrink_to_fit();
    v
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut at = s.len() - max;
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}

// ---------------------------------------------------------------- ports ---

pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((LOCALHOST, port))
}

/// A TCP port that was free a moment ago (bind 127.0.0.1:0, drop). Racy:
/// the daemons below retry with a new port when the bind fails.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind((LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// As [`free_tcp_port`] for UDP.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind((LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .expect("bind udp 127.0.0.1:0")
        .port()
}

/// A TCP connect to 127.0.0.1:port succeeds (the connection is closed at once).
pub fn tcp_connectable(port: u16) -> bool {
    TcpStream::connect_timeout(&localhost(port), Duration::from_millis(200)).is_ok()
}

/// Opens a TCP connection, writes `bytes` (one write), and half-closes.
/// The stream is returned so the caller decides when it closes.
pub fn send_tcp(port: u16, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&localhost(port), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes)
        .unwrap_or_else(|e| panic!("write to 127.0.0.1:{port}: {e}"));
    let _ = s.shutdown(Shutdown::Write);
    s
}

/// One datagram to 127.0.0.1:port.
pub fn send_udp(port: u16, datagram: &[u8]) {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.send_to(datagram, localhost(port))
        .unwrap_or_else(|e| panic!("send to udp 127.0.0.1:{port}: {e}"));
}

/// RFC 6587 octet-counted frame: `LEN SP body`, LEN = body.len().
pub fn octet_frame(body: &[u8]) -> Vec<u8> {
    let mut v = format!("{} ", body.len()).into_bytes();
    v.extend_from_slice(body);
    v
}

// --------------------------------------------------------------- daemon ---

/// A child process owned by a test. stdout/stderr are appended to
/// `<dir>/<name>.stdout|.stderr` (so a restart keeps the history);
/// Drop kills it by PID and waits.
pub struct Daemon {
    name: String,
    dir: PathBuf,
    cmdline: String,
    stdout: PathBuf,
    stderr: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

impl Daemon {
    /// Spawns `cmd` (stdin null, stdout/stderr to files in `dir`).
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Daemon {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
        };
        let cmdline = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(open(&stdout))
            .stderr(open(&stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({cmdline}): {e}"));
        Daemon {
            name: name.to_owned(),
            dir: dir.to_owned(),
            cmdline,
            stdout,
            stderr,
            child: Some(child),
            exit: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PID of the running child (None once killed or reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    pub fn stderr_text(&self) -> String {
        read_lossy(&self.stderr)
    }

    pub fn stdout_text(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// Still running? (reaps it if it exited)
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(st))) => {
                self.exit = Some(st);
                self.child = None;
                false
            }
            Some(Err(_)) | None => false,
        }
    }

    /// Name, command line, exit status and the tails of stderr/stdout plus
    /// `extra` files (e.g. a daemon's own log), for panic messages.
    pub fn report_with(&self, extra: &[&Path]) -> String {
        let mut s = format!("--- {} ({})\n", self.name, self.cmdline);
        if let Some(st) = self.exit {
            let _ = writeln!(s, "exited: {st}");
        }
        let _ = writeln!(
            s,
            "--- stderr ({}):\n{}",
            self.stderr.display(),
            tail(&self.stderr_text(), 8000)
        );
        let out = self.stdout_text();
        if !out.is_empty() {
            let _ = writeln!(s, "--- stdout:\n{}", tail(&out, 4000));
        }
        for p in extra {
            let _ = writeln!(s, "--- {}:\n{}", p.display(), tail(&read_lossy(p), 8000));
        }
        s
    }

    pub fn report(&self) -> String {
        self.report_with(&[])
    }

    /// Bounded readiness wait ([`POLL_TRIES`] × [`POLL_STEP`]); Err with the
    /// report when the child exits first or time runs out.
    pub fn try_wait_ready(
        &mut self,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        for i in 0..POLL_TRIES {
            if ready() {
                return Ok(());
            }
            if !self.is_running() {
                // One last look: it may have written the signal and exited.
                if ready() {
                    return Ok(());
                }
                return Err(format!(
                    "{} exited before {what}\n{}",
                    self.name,
                    self.report()
                ));
            }
            if i + 1 < POLL_TRIES {
                thread::sleep(POLL_STEP);
            }
        }
        Err(format!(
            "{} not ready ({what}) after {} ms\n{}",
            self.name,
            POLL_TRIES * POLL_STEP.as_millis() as u32,
            self.report()
        ))
    }

    /// As [`Daemon::try_wait_ready`], panicking with the daemon's stderr.
    pub fn wait_ready(&mut self, what: &str, ready: impl FnMut() -> bool) {
        if let Err(e) = self.try_wait_ready(what, ready) {
            panic!("{e}");
        }
    }

    /// SIGKILL and wait (idempotent).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            if let Ok(st) = c.wait() {
                self.exit = Some(st);
            }
        }
    }

    /// SIGTERM (via `kill -TERM <pid>`), a bounded wait for a clean exit
    /// (flushes), then SIGKILL. Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
            poll_until(Duration::from_secs(5), || !self.is_running());
        }
        self.kill();
        self.exit
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() && self.child.is_some() {
            say(&self.report());
        }
        self.kill();
    }
}

/// Runs a short-lived command with a deadline (killed after `timeout`).
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    // Drain pipes on threads so a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let to = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let te = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut status = None;
    poll_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let st = child.wait().expect("wait");
            let e = String::from_utf8_lossy(&te.join().unwrap_or_default()).into_owned();
            panic!("{desc} still running after {timeout:?}; killed ({st}); stderr:\n{e}");
        }
    };
    Output {
        status,
        stdout: to.join().unwrap_or_default(),
        stderr: te.join().unwrap_or_default(),
    }
}

fn ok_output(out: Output, what: &str) -> Output {
    if !out.status.success() {
        panic!(
            "{what} failed: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

// ------------------------------------------------------- logger, loggen ---

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Runs util-linux `logger -n 127.0.0.1 -P <port> (-T|-d) <args...>`;
/// `args` carries the rest: `--octet-count`, `--rfc3164`, `--sd-id X`,
/// `--sd-param 'k="v"'`, `--msgid ID`, `-t TAG`, `-p user.notice`, and the
/// message last. Without `--rfc3164` remote logging is RFC 5424. Over TCP
/// logger appends LF unless `--octet-count` (then no LF, none counted).
/// Panics when logger fails; None (SKIP) when logger is absent.
pub fn logger(args: &[&str], port: u16, proto: Proto) -> Option<Output> {
    let bin = peer("logger")?;
    let mut cmd = Command::new(bin);
    cmd.args(["-n", "127.0.0.1", "-P", &port.to_string()]);
    cmd.arg(match proto {
        Proto::Tcp => "-T",
        Proto::Udp => "-d",
    });
    cmd.args(args);
    Some(ok_output(
        run_bounded(cmd, Duration::from_secs(10)),
        &format!("logger {args:?}"),
    ))
}

/// The `loggen` binary (syslog-ng-core); SKIP/panic as [`peer`].
pub fn loggen() -> Option<PathBuf> {
    peer("loggen")
}

/// A `loggen` command with `SYSLOGNG_PREFIX`/`LD_LIBRARY_PATH` set for an
/// extracted tree (without them it finds no socket plugin).
pub fn loggen_cmd() -> Option<Command> {
    let bin = loggen()?;
    let mut cmd = Command::new(&bin);
    syslog_ng_env(&mut cmd, &bin);
    Some(cmd)
}

/// `loggen <args> 127.0.0.1 <port>`, bounded by `timeout`; panics on failure.
/// Bound the run in `args` too (`-n N`, `-I secs`). Note: with `-P`, `-s`
/// below 140 makes loggen send a *stale* octet count (it pads to 140 bytes
/// but counts the requested size); use `-s` >= 140.
pub fn run_loggen(args: &[&str], port: u16, timeout: Duration) -> Option<Output> {
    let mut cmd = loggen_cmd()?;
    cmd.args(args).arg("127.0.0.1").arg(port.to_string());
    Some(ok_output(
        run_bounded(cmd, timeout),
        &format!("loggen {args:?}"),
    ))
}

/// The `count=N` loggen prints on stderr (how many it says it sent).
pub fn loggen_count(out: &Output) -> Option<u64> {
    let text = String::from_utf8_lossy(&out.stderr);
    let at = text.rfind("count=")? + "count=".len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

// ---------------------------------------------------- output file waits ---

/// Waits (bounded by `timeout`) until `path` holds at least `n` complete
/// lines; returns them all, or panics with `report()` and what was there.
fn wait_file_lines(
    path: &Path,
    n: usize,
    timeout: Duration,
    report: impl Fn() -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    if poll_until(timeout, || {
        lines = file_lines(path);
        lines.len() >= n
    }) {
        return lines;
    }
    panic!(
        "{}: {} of {n} lines after {timeout:?}:\n{}\n{}",
        path.display(),
        lines.len(),
        tail(&lines.join("\n"), 4000),
        report()
    );
}

/// Waits until some complete line of `path` contains `needle`.
fn wait_file_contains(
    path: &Path,
    needle: &str,
    timeout: Duration,
    report: impl Fn() -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    if poll_until(timeout, || {
        lines = file_lines(path);
        lines.iter().any(|l| l.contains(needle))
    }) {
        return lines;
    }
    panic!(
        "{}: no line containing {needle:?} after {timeout:?}:\n{}\n{}",
        path.display(),
        tail(&lines.join("\n"), 4000),
        report()
    );
}

// -------------------------------------------------------------- rsyslog ---

/// The `dbg` template of PROTOCOLS.md section 2, shared by both daemons'
/// receivers (syslog-ng's field names differ; the rendering is the same).
pub const DBG_TEMPLATE_RSYSLOG: &str =
    r#"PRI=%PRI% HOST=%HOSTNAME% APP=%APP-NAME% MSGID=%MSGID% SD=%STRUCTURED-DATA% MSG=[%msg%]\n"#;
pub const RAW_TEMPLATE_RSYSLOG: &str = r#"%rawmsg%\n"#;

/// How a sender forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP, non-transparent framing (LF).
    TcpLf,
    /// TCP, RFC 6587 octet counting.
    TcpOctet,
    Udp,
}

/// Options for an rsyslog receiver.
#[derive(Clone, Debug)]
pub struct RsyslogRecvOpts {
    /// Fixed port (0: pick one).
    pub port: u16,
    /// `global(maxMessageSize)`, bytes (default 2 MiB so 1 MiB messages fit).
    pub max_message_size: usize,
    /// `parser.dropTrailingLFOnReception="off"`: a trailing LF that is part
    /// of the message (inside an octet count, or the LF syslog-ng appends to
    /// UDP datagrams) stays in `%msg%`/`%rawmsg%` and shows as `#012`
    /// (control characters are escaped on reception). Default false (rsyslog's
    /// default: the LF is dropped and invisible).
    pub keep_trailing_lf: bool,
}

impl Default for RsyslogRecvOpts {
    fn default() -> Self {
        RsyslogRecvOpts {
            port: 0,
            max_message_size: 2 << 20,
            keep_trailing_lf: false,
        }
    }
}

/// Options for an rsyslog sender.
#[derive(Clone, Debug)]
pub struct RsyslogSendOpts {
    /// The (built-in) template omfwd renders with (default
    /// `RSYSLOG_SyslogProtocol23Format`).
    pub template: &'static str,
    /// `global(maxMessageSize)`, bytes (default 2 MiB), which also bounds
    /// what its imtcp input takes.
    pub max_message_size: usize,
}

impl Default for RsyslogSendOpts {
    fn default() -> Self {
        RsyslogSendOpts {
            template: "RSYSLOG_SyslogProtocol23Format",
            max_message_size: 2 << 20,
        }
    }
}

/// An rsyslogd in the foreground (`-n -f conf -i pid`), its work dir in a
/// subdirectory of the test's [`TempDir`]. Its internal messages (framing
/// errors, "start") go to `internal.log` (`processInternalMessages="on"`)
/// and, with `-n`, also to its stderr.
pub struct Rsyslog {
    daemon: Daemon,
    dir: PathBuf,
    conf: PathBuf,
    port: u16,
    proto: Proto,
    bin: PathBuf,
}

impl Rsyslog {
    /// A receiver: `imtcp` (port via `listenPortFileName`) or `imudp`
    /// (port from [`free_udp_port`], retried), bound to 127.0.0.1, writing
    /// the `dbg` template to `dbg.log` and `%rawmsg%` to `raw.log`.
    pub fn receiver(tmp: &TempDir, proto: Proto) -> Option<Rsyslog> {
        Rsyslog::receiver_with(tmp, proto, RsyslogRecvOpts::default())
    }

    pub fn receiver_with(tmp: &TempDir, proto: Proto, opts: RsyslogRecvOpts) -> Option<Rsyslog> {
        let bin = peer("rsyslogd")?;
        let dir = tmp.subdir("rsyslog-recv");
        let dbg = dir.join("dbg.log");
        let raw = dir.join("raw.log");
        let body = format!(
            "template(name=\"dbg\" type=\"string\" string=\"{DBG_TEMPLATE_RSYSLOG}\")\n\
             template(name=\"raw\" type=\"string\" string=\"{RAW_TEMPLATE_RSYSLOG}\")\n\
             ruleset(name=\"recv\") {{\n  action(type=\"omfile\" file=\"{}\" template=\"dbg\")\n  action(type=\"omfile\" file=\"{}\" template=\"raw\")\n}}\n",
            dbg.display(),
            raw.display()
        );
        let extra_global = if opts.keep_trailing_lf {
            " parser.dropTrailingLFOnReception=\"off\""
        } else {
            ""
        };
        Some(Rsyslog::start(
            bin,
            dir,
            proto,
            opts.port,
            opts.max_message_size,
            extra_global,
            &body,
            "recv",
        ))
    }

    /// A sender: receives on an `imtcp` port (`input_port`, 0 = pick; feed
    /// it with [`logger`] or [`send_tcp`]) and forwards every message with
    /// `omfwd` to `target` as RFC 5424 (`RSYSLOG_SyslogProtocol23Format`,
    /// which ends in LF) over `transport`: `TcpOctet` is
    /// `TCP_Framing="octet-counted"` (the LF inside the count), `TcpLf` the
    /// default framing, `Udp` one datagram per message. The action retries
    /// every second while the target is down.
    pub fn sender(
        tmp: &TempDir,
        input_port: u16,
        target: SocketAddr,
        transport: Transport,
    ) -> Option<Rsyslog> {
        Rsyslog::sender_with(
            tmp,
            input_port,
            target,
            transport,
            RsyslogSendOpts::default(),
        )
    }

    /// As [`Rsyslog::sender`] with other options: another (built-in)
    /// template, e.g. `RSYSLOG_TraditionalForwardFormat` (3164 shape,
    /// omfwd's default), or a larger `maxMessageSize`.
    pub fn sender_with(
        tmp: &TempDir,
        input_port: u16,
        target: SocketAddr,
        transport: Transport,
        opts: RsyslogSendOpts,
    ) -> Option<Rsyslog> {
        let bin = peer("rsyslogd")?;
        let dir = tmp.subdir("rsyslog-send");
        let (protocol, framing) = match transport {
            Transport::TcpLf => ("tcp", " TCP_Framing=\"traditional\""),
            Transport::TcpOctet => ("tcp", " TCP_Framing=\"octet-counted\""),
            Transport::Udp => ("udp", ""),
        };
        let body = format!(
            "ruleset(name=\"fwd\") {{\n  action(type=\"omfwd\" target=\"{}\" port=\"{}\" protocol=\"{protocol}\"{framing} \
             template=\"{}\" action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")\n}}\n",
            target.ip(),
            target.port(),
            opts.template
        );
        Some(Rsyslog::start(
            bin,
            dir,
            Proto::Tcp,
            input_port,
            opts.max_message_size,
            "",
            &body,
            "fwd",
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        bin: PathBuf,
        dir: PathBuf,
        proto: Proto,
        port: u16,
        max_message_size: usize,
        extra_global: &str,
        body: &str,
        ruleset: &str,
    ) -> Rsyslog {
        let conf = dir.join("rsyslog.conf");
        let mut last_err = String::new();
        // UDP ports are picked before rsyslog binds: retry on a lost race.
        for _attempt in 0..3 {
            let port_now = match (proto, port) {
                (Proto::Udp, 0) => free_udp_port(),
                _ => port,
            };
            let input = match proto {
                Proto::Tcp => format!(
                    "module(load=\"imtcp\" maxSessions=\"4000\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port_now}\" \
                     listenPortFileName=\"{}\" ruleset=\"{ruleset}\")\n",
                    dir.join("port").display()
                ),
                Proto::Udp => format!(
                    "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{port_now}\" ruleset=\"{ruleset}\")\n"
                ),
            };
            let text = format!(
                "# generated by tests/common/peers.rs\n\
                 global(workDirectory=\"{dir}\" processInternalMessages=\"on\" maxMessageSize=\"{max_message_size}\"{extra_global})\n\
                 {body}{input}\
                 # internal messages (processInternalMessages=on) reach the default ruleset only\n\
                 *.* action(type=\"omfile\" file=\"{internal}\")\n",
                dir = dir.display(),
                internal = dir.join("internal.log").display(),
            );
            fs::write(&conf, text).unwrap();
            let _ = fs::remove_file(dir.join("port"));
            let mut r = Rsyslog {
                daemon: Rsyslog::spawn_daemon(&bin, &dir, &conf),
                dir: dir.clone(),
                conf: conf.clone(),
                port: port_now,
                proto,
                bin: bin.clone(),
            };
            match r.ready() {
                Ok(()) => return r,
                Err(e) if proto == Proto::Udp && port == 0 && e.contains("in use") => {
                    last_err = e;
                    r.daemon.kill();
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("rsyslog: no UDP port after 3 tries\n{last_err}");
    }

    fn spawn_daemon(bin: &Path, dir: &Path, conf: &Path) -> Daemon {
        let mut cmd = Command::new(bin);
        cmd.arg("-n")
            .arg("-f")
            .arg(conf)
            .arg("-i")
            .arg(dir.join("rsyslog.pid"));
        Daemon::spawn("rsyslogd", cmd, dir)
    }

    /// Ready: the `start` internal message is in internal.log (logged after
    /// the inputs are active), and for TCP the port file is written and the
    /// port accepts connections.
    fn ready(&mut self) -> Result<(), String> {
        let internal = self.dir.join("internal.log");
        let portfile = self.dir.join("port");
        let proto = self.proto;
        let mut port = self.port;
        let res = self
            .daemon
            .try_wait_ready("rsyslog start message / port", || {
                if !read_lossy(&internal).contains("] start") {
                    return false;
                }
                if proto == Proto::Udp {
                    return true;
                }
                if port == 0 {
                    // imtcp writes the port it picked (port="0") to listenPortFileName.
                    let Ok(p) = read_lossy(&portfile).trim().parse::<u16>() else {
                        return false;
                    };
                    port = p;
                }
                port != 0 && tcp_connectable(port)
            });
        self.port = port;
        res.map_err(|e| format!("{e}\n--- internal.log:\n{}", read_lossy(&internal)))
    }

    /// The input port (receiver: where to send; sender: where to feed it).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }

    pub fn dbg_path(&self) -> PathBuf {
        self.dir.join("dbg.log")
    }

    pub fn raw_path(&self) -> PathBuf {
        self.dir.join("raw.log")
    }

    pub fn internal_path(&self) -> PathBuf {
        self.dir.join("internal.log")
    }

    /// rsyslogd's stderr (internal messages are copied there under `-n`).
    pub fn stderr_text(&self) -> String {
        self.daemon.stderr_text()
    }

    /// internal.log (rsyslog's own messages, with timestamps).
    pub fn internal_text(&self) -> String {
        read_lossy(&self.internal_path())
    }

    /// Config, stderr and internal.log, for panic messages.
    pub fn report(&self) -> String {
        self.daemon
            .report_with(&[&self.conf, &self.internal_path()])
    }

    /// Lines in dbg.log now (receiver).
    pub fn lines(&self) -> Vec<String> {
        file_lines(&self.dbg_path())
    }

    /// Lines in raw.log now (receiver).
    pub fn raw_lines(&self) -> Vec<String> {
        file_lines(&self.raw_path())
    }

    /// Waits (bounded) for dbg.log to hold at least `n` lines; returns all
    /// of them; panics with rsyslog's stderr and internal log otherwise.
    pub fn wait_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_file_lines(&self.dbg_path(), n, timeout, || self.report())
    }

    pub fn wait_raw_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_file_lines(&self.raw_path(), n, timeout, || self.report())
    }

    /// Waits for a dbg.log line containing `needle` (e.g. a marker message
    /// sent last: once it is there, everything sent before it on the same
    /// connection has been processed, and any framing error logged).
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Vec<String> {
        wait_file_contains(&self.dbg_path(), needle, timeout, || self.report())
    }

    /// How many `Framing Error` reports rsyslog wrote to its stderr (written
    /// synchronously by the imtcp thread, before later frames are processed).
    /// Text: `imtcp imtcp: Framing Error in received TCP message from peer:
    /// (hostname) localhost, (ip) localhost: delimiter is not SP but has
    /// ASCII value 10.` (also in internal.log, with a header).
    pub fn framing_errors(&self) -> usize {
        self.stderr_text().matches("Framing Error").count()
    }

    /// Kills rsyslog (SIGKILL) and starts it again on the same port with the
    /// same config (output files are appended). For upstream-restart tests.
    pub fn restart(&mut self) {
        self.daemon.kill();
        let text = fs::read_to_string(&self.conf).unwrap();
        // Pin the port: imtcp port="0" would pick a new one.
        let fixed = pin_port(&text, self.port);
        fs::write(&self.conf, fixed).unwrap();
        let _ = fs::remove_file(self.dir.join("port"));
        // The old `start` line is still in internal.log: wait for a new one.
        let before = read_lossy(&self.internal_path()).matches("] start").count();
        self.daemon = Rsyslog::spawn_daemon(&self.bin, &self.dir, &self.conf);
        let internal = self.internal_path();
        let port = self.port;
        let proto = self.proto;
        self.daemon.wait_ready("rsyslog restart", || {
            read_lossy(&internal).matches("] start").count() > before
                && (proto == Proto::Udp || tcp_connectable(port))
        });
    }

    /// Kills it (SIGKILL) without restarting; see [`Rsyslog::restart`].
    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

fn pin_port(conf: &str, port: u16) -> String {
    conf.lines()
        .map(|l| {
            if l.starts_with("input(") {
                let at = l.find(" port=\"").expect("port in input line") + " port=\"".len();
                let end = at + l[at..].find('"').unwrap();
                format!("{}{port}{}\n", &l[..at], &l[end..])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

// ------------------------------------------------------------ syslog-ng ---

/// What a syslog-ng source speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SngSource {
    /// `syslog()`: RFC 5424; over TCP octet-counted frames only.
    Syslog,
    /// `network()`: RFC 3164 parsing, LF framing (mis-parses 5424).
    Network,
    /// `network(flags(syslog-protocol))`: RFC 5424, LF framing.
    NetworkProto,
}

/// What a syslog-ng sender's destination writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SngDest {
    /// `syslog()`: RFC 5424, octet-counted over TCP (LF inside the count),
    /// length prefix and body in separate writes.
    Syslog,
    /// `network()`: RFC 3164, LF framing.
    Network,
    /// `network(flags(syslog-protocol))`: RFC 5424, LF framing.
    NetworkProto,
}

/// syslog-ng's rendering of the `dbg` fields (`PROCID` added; syslog-ng
/// calls APP-NAME `${PROGRAM}` and SD `${SDATA}`; nil fields render empty).
pub const DBG_TEMPLATE_SYSLOG_NG: &str =
    "PRI=${PRI} HOST=${HOST} APP=${PROGRAM} PROCID=${PID} MSGID=${MSGID} SD=${SDATA} MSG=[${MSG}]\\n";

/// A syslog-ng in the foreground (`-F -e -f conf -R persist -p pid -c ctl`,
/// internal messages on stderr), its files in a subdirectory of the
/// test's [`TempDir`].
pub struct SyslogNg {
    daemon: Daemon,
    dir: PathBuf,
    conf: PathBuf,
    port: u16,
    proto: Proto,
    bin: PathBuf,
}

impl SyslogNg {
    /// A receiver: one `source` on 127.0.0.1 (TCP or UDP), writing the dbg
    /// template to `dbg.log` and `${RAWMSG}` (`flags(store-raw-message)`)
    /// to `raw.log`. `keep-hostname(yes)`, so HOST is the message's.
    pub fn receiver(tmp: &TempDir, source: SngSource, proto: Proto) -> Option<SyslogNg> {
        let bin = peer("syslog-ng")?;
        let dir = tmp.subdir("syslog-ng-recv");
        let body = format!(
            "destination d_dbg {{ file(\"{}\" template(\"{DBG_TEMPLATE_SYSLOG_NG}\")); }};\n\
             destination d_raw {{ file(\"{}\" template(\"${{RAWMSG}}\\n\")); }};\n\
             log {{ source(s_in); destination(d_dbg); destination(d_raw); }};\n",
            dir.join("dbg.log").display(),
            dir.join("raw.log").display()
        );
        Some(SyslogNg::start(bin, dir, source, proto, 0, &body))
    }

    /// A sender: a `source` of kind `input` on a TCP port of its own
    /// (`input_port`, 0 = pick; feed it with [`logger`]: `NetworkProto`
    /// takes `logger -T` 5424 lines, `Network` `--rfc3164`, `Syslog`
    /// `--octet-count`), forwarding to `target` with `dest` over `transport`
    /// (`TcpLf`/`TcpOctet` both mean TCP; the framing follows `dest`).
    /// `time-reopen(1)`: a down target is retried every second.
    pub fn sender(
        tmp: &TempDir,
        input: SngSource,
        input_port: u16,
        target: SocketAddr,
        dest: SngDest,
        transport: Transport,
    ) -> Option<SyslogNg> {
        let bin = peer("syslog-ng")?;
        let dir = tmp.subdir("syslog-ng-send");
        let t = match transport {
            Transport::Udp => "udp",
            Transport::TcpLf | Transport::TcpOctet => "tcp",
        };
        let d = match dest {
            SngDest::Syslog => format!(
                "syslog(\"{}\" port({}) transport(\"{t}\"))",
                target.ip(),
                target.port()
            ),
            SngDest::Network => format!(
                "network(\"{}\" port({}) transport(\"{t}\"))",
                target.ip(),
                target.port()
            ),
            SngDest::NetworkProto => format!(
                "network(\"{}\" port({}) transport(\"{t}\") flags(syslog-protocol))",
                target.ip(),
                target.port()
            ),
        };
        let body = format!(
            "destination d_out {{ {d}; }};\nlog {{ source(s_in); destination(d_out); }};\n"
        );
        Some(SyslogNg::start(
            bin,
            dir,
            input,
            Proto::Tcp,
            input_port,
            &body,
        ))
    }

    fn start(
        bin: PathBuf,
        dir: PathBuf,
        source: SngSource,
        proto: Proto,
        port: u16,
        body: &str,
    ) -> SyslogNg {
        let conf = dir.join("syslog-ng.conf");
        let mut last_err = String::new();
        // syslog-ng can't report a port it picked: pick one, retry on a lost race.
        for _attempt in 0..3 {
            let port_now = match (port, proto) {
                (0, Proto::Tcp) => free_tcp_port(),
                (0, Proto::Udp) => free_udp_port(),
                (p, _) => p,
            };
            let t = match proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            };
            let common = format!(
                "ip(\"127.0.0.1\") port({port_now}) transport(\"{t}\") max-connections(2000) log-iw-size(200000) log-msg-size(2097152)"
            );
            let src = match source {
                SngSource::Syslog => format!("syslog({common} flags(store-raw-message))"),
                SngSource::Network => format!("network({common} flags(store-raw-message))"),
                SngSource::NetworkProto => {
                    format!("network({common} flags(syslog-protocol, store-raw-message))")
                }
            };
            let text = format!(
                "@version: 3.38\n# generated by tests/common/peers.rs\n\
                 options {{ stats-freq(0); keep-hostname(yes); chain-hostnames(no); time-reopen(1); log-msg-size(2097152); log-fifo-size(200000); }};\n\
                 source s_in {{ {src}; }};\n{body}"
            );
            fs::write(&conf, text).unwrap();
            let mut s = SyslogNg {
                daemon: SyslogNg::spawn_daemon(&bin, &dir, &conf),
                dir: dir.clone(),
                conf: conf.clone(),
                port: port_now,
                proto,
                bin: bin.clone(),
            };
            match s.ready() {
                Ok(()) => return s,
                Err(e) if port == 0 && (e.contains("in use") || e.contains("Error binding")) => {
                    last_err = e;
                    s.daemon.kill();
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("syslog-ng: no free port after 3 tries\n{last_err}");
    }

    /// syslog-ng with a config of your own: `config` (starting with
    /// `@version: 3.38`; `{dir}` is replaced by its work directory) is
    /// written and run like the others. Ready on `syslog-ng starting up`
    /// and, for `Some(port)`, that TCP port accepting connections. For the
    /// SCL (e.g. `elasticsearch-http()`), put `@include "scl/*/*.conf"`
    /// (after `@module appmodel`) in it: the include path follows
    /// `SYSLOGNG_PREFIX`, `@include "scl.conf"` would look in /etc.
    pub fn custom(tmp: &TempDir, config: &str, tcp_port: Option<u16>) -> Option<SyslogNg> {
        let bin = peer("syslog-ng")?;
        let dir = tmp.subdir("syslog-ng-custom");
        let conf = dir.join("syslog-ng.conf");
        fs::write(&conf, config.replace("{dir}", &dir.display().to_string())).unwrap();
        let mut s = SyslogNg {
            daemon: SyslogNg::spawn_daemon(&bin, &dir, &conf),
            dir,
            conf,
            port: tcp_port.unwrap_or(0),
            proto: if tcp_port.is_some() {
                Proto::Tcp
            } else {
                Proto::Udp
            },
            bin,
        };
        if let Err(e) = s.ready() {
            panic!("{e}");
        }
        Some(s)
    }

    fn spawn_daemon(bin: &Path, dir: &Path, conf: &Path) -> Daemon {
        let mut cmd = Command::new(bin);
        cmd.arg("-F")
            .arg("-e")
            .arg("-f")
            .arg(conf)
            .arg("-R")
            .arg(dir.join("syslog-ng.persist"))
            .arg("-p")
            .arg(dir.join("syslog-ng.pid"))
            .arg("-c")
            .arg(dir.join("syslog-ng.ctl"));
        syslog_ng_env(&mut cmd, bin);
        Daemon::spawn("syslog-ng", cmd, dir)
    }

    /// Ready: `syslog-ng starting up` on stderr (after the listeners are
    /// bound) and, for TCP, the port accepts connections.
    fn ready(&mut self) -> Result<(), String> {
        self.wait_started(1)
    }

    fn wait_started(&mut self, nth: usize) -> Result<(), String> {
        let stderr = self.daemon.stderr_path().to_owned();
        let (port, proto) = (self.port, self.proto);
        self.daemon.try_wait_ready("syslog-ng starting up", || {
            read_lossy(&stderr).matches("syslog-ng starting up").count() >= nth
                && (proto == Proto::Udp || tcp_connectable(port))
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }

    pub fn dbg_path(&self) -> PathBuf {
        self.dir.join("dbg.log")
    }

    pub fn raw_path(&self) -> PathBuf {
        self.dir.join("raw.log")
    }

    pub fn stderr_text(&self) -> String {
        self.daemon.stderr_text()
    }

    pub fn report(&self) -> String {
        self.daemon.report_with(&[&self.conf])
    }

    pub fn lines(&self) -> Vec<String> {
        file_lines(&self.dbg_path())
    }

    pub fn raw_lines(&self) -> Vec<String> {
        file_lines(&self.raw_path())
    }

    pub fn wait_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_file_lines(&self.dbg_path(), n, timeout, || self.report())
    }

    pub fn wait_raw_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_file_lines(&self.raw_path(), n, timeout, || self.report())
    }

    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Vec<String> {
        wait_file_contains(&self.dbg_path(), needle, timeout, || self.report())
    }

    /// Kills (SIGKILL) and starts again on the same port and config.
    pub fn restart(&mut self) {
        self.daemon.kill();
        let before = self.stderr_text().matches("syslog-ng starting up").count();
        self.daemon = SyslogNg::spawn_daemon(&self.bin, &self.dir, &self.conf);
        if let Err(e) = self.wait_started(before + 1) {
            panic!("{e}");
        }
    }

    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

// ------------------------------------------------------------ recorders ---

/// A raw TCP receiver on 127.0.0.1: records every byte of every
/// connection (in accept order), to see exactly what a sender emits.
pub struct TcpRecorder {
    port: u16,
    conns: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpRecorder {
    pub fn start() -> TcpRecorder {
        Self::start_on(0)
    }

    /// A recorder on a given port (an upstream coming back where it was).
    pub fn start_on(port: u16) -> TcpRecorder {
        let listener = TcpListener::bind((LOCALHOST, port)).expect("bind recorder");
        let port = listener.local_addr().unwrap().port();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let (c2, s2, r2) = (conns.clone(), stop.clone(), readers.clone());
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let idx = {
                    let mut g = c2.lock().unwrap();
                    g.push(Vec::new());
                    g.len() - 1
                };
                let (c3, s3) = (c2.clone(), s2.clone());
                let h = thread::spawn(move || {
                    stream
                        .set_read_timeout(Some(Duration::from_millis(100)))
                        .unwrap();
                    let mut buf = vec![0u8; 64 * 1024];
                    while !s3.load(Ordering::SeqCst) {
                        match stream.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => c3.lock().unwrap()[idx].extend_from_slice(&buf[..n]),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                    }
                });
                r2.lock().unwrap().push(h);
            }
        });
        TcpRecorder {
            port,
            conns,
            stop,
            accept: Some(accept),
            readers,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// Bytes per connection so far.
    pub fn connections(&self) -> Vec<Vec<u8>> {
        self.conns.lock().unwrap().clone()
    }

    /// All bytes so far, connections concatenated in accept order.
    pub fn bytes(&self) -> Vec<u8> {
        self.conns.lock().unwrap().concat()
    }

    /// Waits (bounded) until `pred(all bytes)` holds; returns the bytes.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
        let mut b = Vec::new();
        if poll_until(timeout, || {
            b = self.bytes();
            pred(&b)
        }) {
            return b;
        }
        panic!(
            "TcpRecorder :{}: condition not met after {timeout:?}; got {} bytes:\n{}",
            self.port,
            b.len(),
            String::from_utf8_lossy(tail_bytes(&b, 4000))
        );
    }
}

fn tail_bytes(b: &[u8], n: usize) -> &[u8] {
    &b[b.len().saturating_sub(n)..]
}

impl Drop for TcpRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&localhost(self.port), Duration::from_millis(500));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for h in self.readers.lock().unwrap().drain(..) {
            let _ = h.join();
        }
    }
}

/// A raw UDP receiver on 127.0.0.1 recording each datagram (64 KiB buffer).
pub struct UdpRecorder {
    port: u16,
    grams: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl UdpRecorder {
    pub fn start() -> UdpRecorder {
        let sock = UdpSocket::bind((LOCALHOST, 0)).expect("bind udp recorder");
        let port = sock.local_addr().unwrap().port();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let grams = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g2, s2) = (grams.clone(), stop.clone());
        let handle = thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s2.load(Ordering::SeqCst) {
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    g2.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        });
        UdpRecorder {
            port,
            grams,
            stop,
            handle: Some(handle),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.grams.lock().unwrap().clone()
    }

    /// Waits (bounded) for at least `n` datagrams; returns them all.
    pub fn wait_datagrams(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let mut g = Vec::new();
        if poll_until(timeout, || {
            g = self.datagrams();
            g.len() >= n
        }) {
            return g;
        }
        panic!(
            "UdpRecorder :{}: {} of {n} datagrams after {timeout:?}",
            self.port,
            g.len()
        );
    }
}

impl Drop for UdpRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// -------------------------------------------------------------- parsing ---

/// Splits a `dbg` line (`KEY=value KEY=value ... MSG=[...]`) into fields.
/// Values can't hold `' KEY='` for the known keys; MSG is everything
/// between `MSG=[` and the final `]`.
pub fn dbg_fields(line: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let (head, msg) = match line.find(" MSG=[") {
        Some(at) => (&line[..at], Some(&line[at + " MSG=[".len()..])),
        None => (line, None),
    };
    if let Some(msg) = msg {
        m.insert(
            "MSG".to_owned(),
            msg.strip_suffix(']').unwrap_or(msg).to_owned(),
        );
    }
    // SD may contain spaces: cut at the known keys instead of at spaces.
    let keys = ["PRI", "HOST", "APP", "PROCID", "MSGID", "SD"];
    let mut starts: Vec<(usize, &str)> = keys
        .iter()
        .filter_map(|k| {
            let pat = format!("{k}=");
            let at = if head.starts_with(&pat) {
                Some(0)
            } else {
                head.find(&format!(" {pat}")).map(|i| i + 1)
            };
            at.map(|i| (i, *k))
        })
        .collect();
    starts.sort();
    for (i, &(at, k)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(head.len(), |&(n, _)| n - 1);
        m.insert(k.to_owned(), head[at + k.len() + 1..end].to_owned());
    }
    m
}

/// This machine's hostname as logger sends it in RFC 5424 (gethostname).
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// `true` when `haystack` contains `needle` as bytes.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A unique marker for "send this last, wait for it" (pid, counter, time).
pub fn marker(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "marker-{tag}-{}-{}-{t}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Splits an RFC 6587 octet-counted byte stream into frame bodies (the
/// bytes after `LEN SP`); Err on a malformed or truncated frame.
pub fn octet_frames(mut b: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 10 || b[0] == b'0' || b.get(digits) != Some(&b' ') {
            return Err(format!(
                "bad frame header at {:?}",
                String::from_utf8_lossy(&b[..b.len().min(40)])
            ));
        }
        let n: usize = std::str::from_utf8(&b[..digits]).unwrap().parse().unwrap();
        let body = &b[digits + 1..];
        if body.len() < n {
            return Err(format!(
                "truncated frame: count {n}, {} bytes left",
                body.len()
            ));
        }
        out.push(&body[..n]);
        b = &body[n..];
    }
    Ok(out)
}

/// A field of a parsed `dbg` line; panics naming the field when absent.
pub fn field<'a>(f: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    f.get(k)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {k} in {f:?}"))
}

/// The one line containing `needle` (panics unless there is exactly one).
pub fn line_with<'a>(lines: &'a [String], needle: &str) -> &'a str {
    let hits: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
    assert_eq!(hits.len(), 1, "lines containing {needle:?}: {lines:#?}");
    hits[0]
}

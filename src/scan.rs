//! `redactd scan`: find where secrets already sit in files.
//!
//! Walks files and directories, feeds each regular file through its own
//! [`Redactor`] (gzip is decompressed on the fly, anything else is scanned as
//! raw bytes, binary or not) and collects the findings into a [`Report`],
//! which renders as a table, one JSON document or SARIF 2.1.0.
//!
//! # What is walked
//!
//! - Paths named on the command line are followed when they are symlinks;
//!   inside directories, symlinks are skipped unless [`Config::follow`].
//! - Every directory and file is visited once, by device and inode, so a
//!   symlink loop (or a second link to the same file) is skipped, not
//!   rescanned.
//! - Only directories and regular files are opened: FIFOs, sockets and
//!   devices are skipped and counted, so a walk never blocks on a pipe or
//!   reads a device without end.
//! - Entries are visited in byte order of their names, so reports are
//!   stable from run to run.
//! - Exclude patterns ([`Pattern`]) prune files and whole directories.
//!
//! # What a report holds
//!
//! Findings carry the path, rule, severity, line, offset, length and keyed
//! fingerprint — never matched bytes; the redacted output itself is thrown
//! away. One finding per secret, as the engine reports it: rules matching
//! the same (or overlapping) bytes are one redacted span, reported once
//! under the rule its label names (see [`crate::engine`]). In a gzip file,
//! offsets and lines count the decompressed bytes.
//! Problems (unreadable paths, corrupt gzip) carry the path and the I/O
//! error, which holds no file content. Findings read before a problem in the
//! same file are kept.
//!
//! Memory per file is the redactor's window; the report grows with the
//! number of findings, not with the bytes scanned.
//!
//! # Threads
//!
//! With [`Config::threads`] above 1, files are scanned on that many worker
//! threads while the walk goes on; their results (and the walk's own
//! problems) are taken into the report in walk order, so the report is the
//! one a single thread makes. At most twice as many files as threads are
//! out at once. A file of `BIG_FILE` (16 MiB) or more is cut into pieces
//! for all the threads instead ([`crate::modes::pieces`], with the same
//! findings as one thread's).

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::engine::{Finding, Options, Redactor, Sink};
use crate::rules::{RuleSet, Severity};

/// Size of each read.
pub const READ_SIZE: usize = 256 * 1024;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned `path:line  rule  severity  fingerprint` rows and a summary.
    #[default]
    Table,
    /// One JSON document (see [`render_json`]).
    Json,
    /// SARIF 2.1.0 (see [`render_sarif`]).
    Sarif,
}

/// How a scan walks.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Paths matching any of these are neither scanned nor descended into.
    pub exclude: Vec<Pattern>,
    /// Follow symlinks found inside directories (default: skip them).
    pub follow: bool,
    /// Files scanned at once, each on a thread of its own (1 or less: all
    /// on the calling thread). The report is the same either way.
    pub threads: usize,
}

/// A simple glob: `*` matches any run of bytes, `?` one byte, anything else
/// itself. A pattern without `/` is matched against an entry's file name
/// (`*.png`, `.git`); one with `/` against the whole path as reported
/// (`build/*/cache`), where `*` also matches `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pattern: Vec<u8>,
    whole_path: bool,
}

impl Pattern {
    /// Parses a pattern (every string is one).
    pub fn new(pattern: &str) -> Pattern {
        Pattern {
            pattern: pattern.as_bytes().to_vec(),
            whole_path: pattern.contains('/'),
        }
    }

    /// Whether `path` is excluded.
    pub fn matches(&self, path: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let subject = if self.whole_path {
            path.as_os_str().as_bytes()
        } else {
            match path.file_name() {
                Some(name) => name.as_bytes(),
                None => return false,
            }
        };
        glob(&self.pattern, subject)
    }
}

/// Iterative glob matching with single-star backtracking: linear in
/// practice, quadratic at worst, never exponential.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A finding and the file it is in.
#[derive(Debug, Clone)]
pub struct Located {
    /// The path as reached from the command line.
    pub path: PathBuf,
    /// Whether the file was gzip (offsets and lines are then in the
    /// decompressed bytes).
    pub compressed: bool,
    /// The finding.
    pub finding: Finding,
}

/// What went wrong with one path. The scan goes on with the others.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", .path.display())]
pub struct Problem {
    /// The path.
    pub path: PathBuf,
    /// What failed: `cannot open`, `cannot read`, `cannot list`, ...
    pub what: &'static str,
    /// The cause (an OS or decompression error; never file content).
    #[source]
    pub source: io::Error,
}

/// Running totals, also passed to the progress callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Files scanned (opened and read, wholly or until an error).
    pub files: u64,
    /// Bytes scanned (decompressed bytes for gzip files).
    pub bytes: u64,
    /// Entries skipped: not regular files or directories, symlinks not
    /// followed, excluded, or already visited.
    pub skipped: u64,
}

/// Everything a scan found.
#[derive(Debug, Default)]
pub struct Report {
    /// Findings, by file in walk order, then by offset.
    pub findings: Vec<Located>,
    /// Problems, in walk order.
    pub problems: Vec<Problem>,
    /// Totals.
    pub totals: Totals,
}

impl Report {
    /// Findings per rule id.
    pub fn by_rule(&self) -> BTreeMap<&str, u64> {
        let mut m = BTreeMap::new();
        for l in &self.findings {
            *m.entry(l.finding.rule.as_str()).or_default() += 1;
        }
        m
    }

    /// Findings per file, in walk order.
    pub fn by_file(&self) -> Vec<(&Path, u64)> {
        let mut v: Vec<(&Path, u64)> = Vec::new();
        for l in &self.findings {
            match v.last_mut() {
                Some((p, n)) if *p == l.path.as_path() => *n += 1,
                _ => v.push((&l.path, 1)),
            }
        }
        v
    }

    /// The exit status: 1 when anything was found (whatever else happened),
    /// otherwise 2 when a path could not be scanned, otherwise 0.
    pub fn exit_code(&self) -> u8 {
        if !self.findings.is_empty() {
            1
        } else if !self.problems.is_empty() {
            2
        } else {
            0
        }
    }
}

/// Collects findings; the redacted bytes are not needed.
struct FindingSink<'a> {
    path: &'a Path,
    compressed: bool,
    out: &'a mut Vec<Located>,
}

impl Sink for FindingSink<'_> {
    type Error = Infallible;
    fn bytes(&mut self, _bytes: &[u8]) -> Result<(), Infallible> {
        Ok(())
    }

    fn finding(&mut self, finding: Finding) -> Result<(), Infallible> {
        self.out.push(Located {
            path: self.path.to_path_buf(),
            compressed: self.compressed,
            finding,
        });
        Ok(())
    }
}

/// One scan: the rules, the walk and the report being built.
struct Walk<'a> {
    set: &'a Arc<RuleSet>,
    opts: &'a Options,
    config: &'a Config,
    progress: &'a mut dyn FnMut(&Totals),
    /// (device, inode) of every directory and file visited.
    seen: HashSet<(u64, u64)>,
    buf: Vec<u8>,
    report: Report,
    /// Worker threads scanning files, when more than one thread is asked.
    pool: Option<Pool>,
}

/// Scans `paths` (files or directories). `progress` is called after every
/// read with the totals so far. `ignore` lists files never to scan (the
/// report file itself, say).
pub fn scan(
    set: &Arc<RuleSet>,
    opts: &Options,
    config: &Config,
    paths: &[PathBuf],
    ignore: &[&Path],
    progress: &mut dyn FnMut(&Totals),
) -> Report {
    let mut walk = Walk {
        set,
        opts,
        config,
        progress,
        seen: HashSet::new(),
        buf: vec![0; READ_SIZE],
        report: Report::default(),
        pool: None,
    };
    if config.threads > 1 {
        walk.pool = Pool::start(set, opts, config.threads);
    }
    for p in ignore {
        if let Ok(m) = fs::metadata(p) {
            walk.seen.insert((m.dev(), m.ino()));
        }
    }
    for root in paths {
        // Named paths are followed and never excluded: the user asked.
        match fs::metadata(root) {
            Ok(m) => walk.visit(root.clone(), &m),
            Err(e) => walk.problem(root.clone(), "cannot open", e),
        }
    }
    walk.merge(true);
    walk.report
}

// === impl Walk ===

impl Walk<'_> {
    fn problem(&mut self, path: PathBuf, what: &'static str, source: io::Error) {
        let problem = Problem { path, what, source };
        match self.pool.as_mut() {
            // In walk order, after the files sent before it.
            Some(pool) => pool.note(problem),
            None => self.report.problems.push(problem),
        }
    }

    /// Scans a file or walks a directory (depth first, names in order),
    /// with an explicit stack so deep trees cannot overflow ours.
    fn visit(&mut self, root: PathBuf, meta: &Metadata) {
        let mut stack = vec![(root, meta.clone())];
        while let Some((path, meta)) = stack.pop() {
            if !self.seen.insert((meta.dev(), meta.ino())) {
                self.report.totals.skipped += 1;
                continue;
            }
            if meta.is_file() {
                self.scan_file(&path, meta.len());
                continue;
            }
            if !meta.is_dir() {
                self.report.totals.skipped += 1;
                continue;
            }
            let entries = match fs::read_dir(&path) {
                Ok(rd) => rd,
                Err(e) => {
                    self.problem(path, "cannot list", e);
                    continue;
                }
            };
            let mut children = Vec::new();
            for entry in entries {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        self.problem(path.clone(), "cannot list", e);
                        break;
                    }
                };
                let child = entry.path();
                if self.config.exclude.iter().any(|p| p.matches(&child)) {
                    self.report.totals.skipped += 1;
                    continue;
                }
                let meta = match entry.file_type() {
                    Ok(t) if t.is_symlink() && !self.config.follow => {
                        self.report.totals.skipped += 1;
                        continue;
                    }
                    Ok(t) if t.is_symlink() => match fs::metadata(&child) {
                        Ok(m) => m,
                        // A dangling link is nothing to scan.
                        Err(_) => {
                            self.report.totals.skipped += 1;
                            continue;
                        }
                    },
                    Ok(_) => match entry.metadata() {
                        Ok(m) => m,
                        Err(e) => {
                            self.problem(child, "cannot stat", e);
                            continue;
                        }
                    },
                    Err(e) => {
                        self.problem(child, "cannot stat", e);
                        continue;
                    }
                };
                children.push((child, meta));
            }
            children.sort_by(|a, b| b.0.cmp(&a.0));
            stack.extend(children);
        }
    }

    fn scan_file(&mut self, path: &Path, len: u64) {
        if let Some(pool) = self.pool.as_mut() {
            if len >= BIG_FILE {
                // A big file is cut into pieces for every thread (while the
                // pool finishes what it has).
                let done = scan_pieces(self.set, self.opts, path, self.config.threads);
                self.report.totals.bytes += done.1;
                (self.progress)(&self.report.totals);
                pool.done_here(done.0);
            } else {
                pool.send(path.to_path_buf());
            }
            self.merge(false);
            return;
        }
        let (totals, progress) = (&mut self.report.totals, &mut self.progress);
        let done = scan_one(self.set, self.opts, path, &mut self.buf, &mut |n| {
            totals.bytes += n;
            progress(totals);
        });
        self.add(done);
    }

    /// Takes one file's result into the report.
    fn add(&mut self, done: Scanned) {
        self.report.totals.files += u64::from(done.opened);
        self.report.findings.extend(done.findings);
        self.report.problems.extend(done.problem);
    }

    /// Takes what the pool's workers have done, in walk order, into the
    /// report; with `all`, waits for every file sent.
    fn merge(&mut self, all: bool) {
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let mut ready = Vec::new();
        pool.collect(
            all,
            &mut self.report.totals,
            &mut *self.progress,
            &mut ready,
        );
        for done in ready {
            self.add(done);
        }
    }
}

/// What scanning one file gave.
#[derive(Default)]
struct Scanned {
    /// It was opened (it counts as a file scanned).
    opened: bool,
    findings: Vec<Located>,
    problem: Option<Problem>,
}

/// Scans the file at `path` with its own redactor, reading into `buf`;
/// `read` is told the bytes of every read.
fn scan_one(
    set: &Arc<RuleSet>,
    opts: &Options,
    path: &Path,
    buf: &mut [u8],
    read: &mut dyn FnMut(u64),
) -> Scanned {
    let problem = |what, source| Problem {
        path: path.to_path_buf(),
        what,
        source,
    };
    let mut done = Scanned::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            done.problem = Some(problem("cannot open", e));
            return done;
        }
    };
    done.opened = true;
    let (mut reader, compressed) = match crate::modes::input::open(file) {
        Ok(r) => r,
        Err(e) => {
            done.problem = Some(problem("cannot read", e));
            return done;
        }
    };
    let mut redactor = Redactor::new(Arc::clone(set), opts.clone());
    let mut sink = FindingSink {
        path,
        compressed,
        out: &mut done.findings,
    };
    let mut error = None;
    loop {
        match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                redactor.write(&buf[..n], &mut sink);
                read(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    // What was read is still decided: a secret cut off by a read error
    // is reported as far as it got.
    redactor.finish(&mut sink);
    if let Some(e) = error {
        let what = if compressed {
            "cannot decompress"
        } else {
            "cannot read"
        };
        done.problem = Some(problem(what, e));
    }
    done
}

/// Files at least this long are scanned in pieces on every thread (see
/// [`crate::modes::pieces`]) rather than each on one.
const BIG_FILE: u64 = 16 << 20;

/// Scans the file at `path` in pieces on `threads` threads: what one
/// thread finds there, and the bytes read.
fn scan_pieces(set: &Arc<RuleSet>, opts: &Options, path: &Path, threads: usize) -> (Scanned, u64) {
    let mut done = Scanned::default();
    let mut sink = FindingSink {
        path,
        compressed: false,
        out: &mut done.findings,
    };
    let source = crate::modes::filter::Source::File(path.to_path_buf());
    let piece = crate::modes::pieces::PIECE;
    let mut nothing = |_: &mut FindingSink<'_>| Ok(());
    let Ok(outcome) = crate::modes::pieces::run(
        set,
        opts,
        &source,
        (threads, piece),
        &mut sink,
        &mut nothing,
    );
    let problem = |what, source| Problem {
        path: path.to_path_buf(),
        what,
        source,
    };
    let o = match outcome {
        Ok(o) => o,
        Err(e) => {
            done.problem = Some(problem("cannot open", e));
            return (done, 0);
        }
    };
    done.opened = true;
    for f in &mut done.findings {
        f.compressed = o.gzip;
    }
    if let Some((e, ..)) = o.failed {
        let what = if o.gzip {
            "cannot decompress"
        } else {
            "cannot read"
        };
        done.problem = Some(problem(what, e));
    }
    (done, o.work.bytes_in)
}

/// Files scanned on worker threads, their results taken back in the order
/// they were sent (the walk's), at most `2 N` files sent and not taken back.
struct Pool {
    jobs: Option<SyncSender<(u64, PathBuf)>>,
    results: Receiver<Event>,
    sent: u64,
    taken: u64,
    waiting: BTreeMap<u64, Scanned>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// What a worker tells the walk.
enum Event {
    /// Bytes read (for the progress totals).
    Read(u64),
    /// The file sent as number `seq` is done.
    Done(u64, Scanned),
}

impl Pool {
    /// `threads` workers, or none if they cannot be started (the walk then
    /// scans on its own thread).
    fn start(set: &Arc<RuleSet>, opts: &Options, threads: usize) -> Option<Pool> {
        let (jobs, queue) = mpsc::sync_channel::<(u64, PathBuf)>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let (tell, results) = mpsc::channel();
        let mut workers = Vec::new();
        for _ in 0..threads {
            let (set, opts) = (Arc::clone(set), opts.clone());
            let (queue, tell) = (Arc::clone(&queue), tell.clone());
            let w = std::thread::Builder::new()
                .name("redactd-scan".into())
                .spawn(move || {
                    let mut buf = vec![0; READ_SIZE];
                    loop {
                        let job = queue.lock().map(|q| q.recv());
                        let Ok(Ok((seq, path))) = job else { return };
                        let done = scan_one(&set, &opts, &path, &mut buf, &mut |n| {
                            let _ = tell.send(Event::Read(n));
                        });
                        if tell.send(Event::Done(seq, done)).is_err() {
                            return;
                        }
                    }
                });
            match w {
                Ok(w) => workers.push(w),
                Err(_) => return None,
            }
        }
        Some(Pool {
            jobs: Some(jobs),
            results,
            sent: 0,
            taken: 0,
            waiting: BTreeMap::new(),
            workers,
        })
    }

    /// A problem of the walk's own, to be taken after the files sent before.
    fn note(&mut self, problem: Problem) {
        self.done_here(Scanned {
            problem: Some(problem),
            ..Scanned::default()
        });
    }

    /// What the walk did itself, to be taken after the files sent before.
    fn done_here(&mut self, done: Scanned) {
        let seq = self.sent;
        self.sent += 1;
        self.waiting.insert(seq, done);
    }

    /// Sends a file to the workers, once fewer than `2 N` are out.
    fn send(&mut self, path: PathBuf) {
        let seq = self.sent;
        self.sent += 1;
        if let Some(jobs) = &self.jobs {
            // The workers stop only when this sender is dropped.
            let _ = jobs.send((seq, path));
        }
    }

    /// Takes the results that are ready (with `all`: every one sent) into
    /// `ready`, in the order sent; counts the bytes read into `totals`.
    fn collect(
        &mut self,
        all: bool,
        totals: &mut Totals,
        progress: &mut dyn FnMut(&Totals),
        ready: &mut Vec<Scanned>,
    ) {
        if all {
            self.jobs = None;
        }
        let limit = 2 * self.workers.len() as u64;
        loop {
            while let Some(done) = self.waiting.remove(&self.taken) {
                self.taken += 1;
                ready.push(done);
            }
            let out = self.sent - self.taken;
            let event = if out == 0 {
                break;
            } else if all || out >= limit {
                match self.results.recv() {
                    Ok(e) => e,
                    Err(_) => break,
                }
            } else {
                match self.results.try_recv() {
                    Ok(e) => e,
                    Err(_) => break,
                }
            };
            match event {
                Event::Read(n) => {
                    totals.bytes += n;
                    progress(totals);
                }
                Event::Done(seq, done) => {
                    self.waiting.insert(seq, done);
                }
            }
        }
        if all {
            for w in self.workers.drain(..) {
                let _ = w.join();
            }
        }
    }
}

// === Rendering ===

/// The SARIF level for a severity.
pub fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning's `security-severity` (0–10) for a severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// A path for a terminal: control characters (a crafted file name could
/// hold escape sequences) become `?`.
fn display_path(p: &Path) -> String {
    p.to_string_lossy()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A SARIF `artifactLocation.uri`: relative paths as relative references
/// (leading `./` dropped), absolute ones as `file://` URLs; bytes outside
/// the unreserved set and `/` are percent-encoded.
pub fn artifact_uri(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = p.as_os_str().as_bytes();
    while let Some(rest) = bytes.strip_prefix(b"./") {
        bytes = rest;
    }
    let mut s = String::new();
    if bytes.starts_with(b"/") {
        s.push_str("file://");
    }
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Table: one row per finding (`path:line  rule  severity  fingerprint`),
/// then totals, findings per rule (with what to do) and per file.
pub fn render_table(report: &Report, set: &RuleSet, w: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<[String; 4]> = report
        .findings
        .iter()
        .map(|l| {
            [
                format!("{}:{}", display_path(&l.path), l.finding.line),
                l.finding.rule.to_string(),
                l.finding.severity.as_str().to_string(),
                l.finding.fingerprint.to_string(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [a, b, c, d] in &rows {
        writeln!(w, "{a:<w0$}  {b:<w1$}  {c:<w2$}  {d}")?;
    }
    if !rows.is_empty() {
        writeln!(w)?;
    }
    let files_hit = report.by_file().len();
    let t = &report.totals;
    writeln!(
        w,
        "{} finding(s) in {} of {} file(s) scanned ({} bytes); {} skipped, {} problem(s)",
        report.findings.len(),
        files_hit,
        t.files,
        t.bytes,
        t.skipped,
        report.problems.len()
    )?;
    let by_rule = report.by_rule();
    if !by_rule.is_empty() {
        writeln!(w, "\nby rule:")?;
        let rw = by_rule.keys().map(|k| k.len()).max().unwrap_or(0);
        for (id, n) in &by_rule {
            let rule = set.get(id);
            let sev = rule.map_or("", |r| r.severity.as_str());
            writeln!(w, "  {id:<rw$}  {n:>6}  {sev}")?;
            if let Some(r) = rule.filter(|r| !r.remediation.is_empty()) {
                writeln!(w, "  {:<rw$}          {}", "", r.remediation.trim())?;
            }
        }
        writeln!(w, "\nby file:")?;
        for (path, n) in report.by_file() {
            writeln!(w, "  {n:>6}  {}", display_path(path))?;
        }
    }
    Ok(())
}

/// JSON: one document,
/// `{"tool", "version", "files_scanned", "bytes_scanned", "skipped",
/// "findings": [{"path", "line", "offset", "len", "rule", "severity",
/// "remediation", "fingerprint", "compressed"}], "by_rule": {id: n},
/// "errors": [{"path", "error"}]}`. Fingerprints read `keyid:hex`.
pub fn render_json(report: &Report, set: &RuleSet, w: &mut dyn Write) -> io::Result<()> {
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|l| {
            let f = &l.finding;
            let remediation = set.rules().get(f.rule_index).map(|r| r.remediation.trim());
            json!({
                "path": l.path.to_string_lossy(),
                "line": f.line,
                "offset": f.offset,
                "len": f.len,
                "rule": f.rule.as_str(),
                "severity": f.severity.as_str(),
                "remediation": remediation,
                "fingerprint": f.fingerprint.to_string(),
                "compressed": l.compressed,
            })
        })
        .collect();
    let doc = json!({
        "tool": "redactd",
        "version": env!("CARGO_PKG_VERSION"),
        "files_scanned": report.totals.files,
        "bytes_scanned": report.totals.bytes,
        "skipped": report.totals.skipped,
        "findings": findings,
        "by_rule": report.by_rule(),
        "errors": problems_json(report),
    });
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

fn problems_json(report: &Report) -> Vec<Value> {
    report
        .problems
        .iter()
        .map(|p| {
            json!({
                "path": p.path.to_string_lossy(),
                "error": format!("{}: {}", p.what, p.source),
            })
        })
        .collect()
}

/// SARIF 2.1.0: one run; `tool.driver.rules` lists every enabled rule (so
/// `ruleIndex` is the rule's index in the set), each result has the rule,
/// level, a message naming rule and fingerprint, the file and start line
/// (and, for uncompressed files, the byte region), and the fingerprint under
/// `partialFingerprints["secretHmac/v1"]`. Unreadable paths are
/// `toolExecutionNotifications` and make `executionSuccessful` false.
pub fn render_sarif(report: &Report, set: &RuleSet, w: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = set.rules().iter().map(sarif_rule).collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|l| sarif_result(l, set))
        .collect();
    let notifications: Vec<Value> = report
        .problems
        .iter()
        .map(|p| {
            json!({
                "level": "error",
                "message": { "text": format!("{}: {}", p, p.source) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": artifact_uri(&p.path) },
                    },
                }],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "redactd",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "invocations": [{
                "executionSuccessful": report.problems.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

/// One rule as a SARIF `reportingDescriptor`.
fn sarif_rule(r: &crate::rules::Rule) -> Value {
    let remediation = r.remediation.trim();
    json!({
        "id": r.id.as_str(),
        "name": r.id.as_str(),
        "shortDescription": { "text": r.name },
        "fullDescription": { "text": format!("{}. {}", r.name, remediation) },
        "help": { "text": remediation },
        "defaultConfiguration": { "level": sarif_level(r.severity) },
        "properties": {
            "tags": r.tags,
            "severity": r.severity.as_str(),
            "security-severity": security_severity(r.severity),
        },
    })
}

/// One finding as a SARIF `result`: where, which rule, the fingerprint.
fn sarif_result(l: &Located, set: &RuleSet) -> Value {
    let f = &l.finding;
    let name = set
        .rules()
        .get(f.rule_index)
        .map_or("", |r| r.name.as_str());
    let mut region = json!({ "startLine": f.line });
    if !l.compressed {
        region["byteOffset"] = json!(f.offset);
        region["byteLength"] = json!(f.len);
    }
    json!({
        "ruleId": f.rule.as_str(),
        "ruleIndex": f.rule_index,
        "level": sarif_level(f.severity),
        "message": {
            "text": format!("{name} ({}); fingerprint {}", f.rule, f.fingerprint),
        },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": artifact_uri(&l.path) },
                "region": region,
            },
        }],
        "partialFingerprints": { "secretHmac/v1": f.fingerprint.to_string() },
        "properties": { "compressed": l.compressed },
    })
}

/// Renders `report` in `format`.
pub fn render(report: &Report, set: &RuleSet, format: Format, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => render_table(report, set, w),
        Format::Json => render_json(report, set, w),
        Format::Sarif => render_sarif(report, set, w),
    }
}

/// A one-line progress display on a terminal: files and bytes so far,
/// redrawn at most ten times a second, erased by [`clear`](Self::clear).
/// Never shows paths or content.
#[derive(Debug)]
pub struct Progress<W: Write> {
    out: W,
    #[allow(clippy::disallowed_types)] // wall-clock redraw throttle only
    last: Option<std::time::Instant>,
    drawn: bool,
}

impl<W: Write> Progress<W> {
    /// Progress drawn on `out` (a terminal).
    pub fn new(out: W) -> Progress<W> {
        Progress {
            out,
            last: None,
            drawn: false,
        }
    }

    /// Redraws, unless the last redraw was under 100 ms ago.
    pub fn update(&mut self, t: &Totals) {
        #[allow(clippy::disallowed_types)] // wall-clock redraw throttle only
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l).as_millis() < 100)
        {
            return;
        }
        self.last = Some(now);
        self.drawn = true;
        let _ = write!(
            self.out,
            "\r\x1b[2Kscanning: {} files, {:.1} MiB",
            t.files,
            t.bytes as f64 / (1024.0 * 1024.0)
        );
        let _ = self.out.flush();
    }

    /// Erases the line, if anything was drawn.
    pub fn clear(&mut self) {
        if self.drawn {
            let _ = write!(self.out, "\r\x1b[2K");
            let _ = self.out.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fingerprint::Fingerprinter;
    use crate::engine::testing::{builtin_rules, github_token};
    use crate::engine::Style;

    /// A big file is scanned in pieces on several threads with the findings
    /// (offsets, lines, order) and problems of one thread's scan, plain or
    /// gzip, whole or cut short.
    #[test]
    fn a_file_in_pieces_is_scanned_as_by_one_thread() {
        let set = builtin_rules();
        let opts = Options {
            style: Style::Label,
            fingerprinter: Arc::new(Fingerprinter::new(b"scan-pieces-test-key", "t").unwrap()),
            learned_values: 16,
        };
        let dir = std::env::temp_dir().join(format!("redactd-scan-pieces-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for i in 0..12_000 {
            text.push_str(&format!("2026-12-05 line {i} GET /items?page={i} ok\n"));
            if i % 1500 == 7 {
                let tok = github_token(&format!("scan-pieces-{i}"));
                text.push_str(&format!("token={tok}\nagain {tok}\n"));
            }
        }
        let plain = dir.join("big.log");
        std::fs::write(&plain, &text).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let whole = dir.join("big.log.gz");
        std::fs::write(&whole, &gz).unwrap();
        let cut = dir.join("cut.log.gz");
        std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
        for path in [&plain, &whole, &cut] {
            let mut buf = vec![0; READ_SIZE];
            let one = scan_one(&set, &opts, path, &mut buf, &mut |_| {});
            let (many, _) = scan_pieces(&set, &opts, path, 3);
            let show = |s: &Scanned| {
                let found: Vec<_> = s
                    .findings
                    .iter()
                    .map(|l| (l.compressed, l.finding.clone()))
                    .collect();
                let problem = s.problem.as_ref().map(|p| (p.what, p.source.kind()));
                (s.opened, found, problem)
            };
            assert!(one.findings.len() >= 8, "{}", path.display());
            assert_eq!(show(&many), show(&one), "{}", path.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn glob_matches() {
        assert!(glob(b"*.png", b"a.png"));
        assert!(glob(b"*.png", b".png"));
        assert!(!glob(b"*.png", b"a.png.txt"));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a*b*c", b"aXXbYYbc"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        assert!(glob(b".git", b".git"));
        let p = Pattern::new("*.log");
        assert!(p.matches(Path::new("dir/x.log")));
        assert!(!p.matches(Path::new("x.log/y")));
        let p = Pattern::new("build/*/cache");
        assert!(p.matches(Path::new("build/a/b/cache")));
        assert!(!p.matches(Path::new("src/build/a/cache")));
    }

    #[test]
    fn uris_are_relative_or_file_urls_and_encoded() {
        assert_eq!(artifact_uri(Path::new("./a/b c.log")), "a/b%20c.log");
        assert_eq!(
            artifact_uri(Path::new("/var/log/x#1")),
            "file:///var/log/x%231"
        );
        assert_eq!(artifact_uri(Path::new("ü")), "%C3%BC");
    }

    #[test]
    fn levels_and_exit_codes() {
        assert_eq!(sarif_level(Severity::Critical), "error");
        assert_eq!(sarif_level(Severity::Medium), "warning");
        assert_eq!(sarif_level(Severity::Low), "note");
        let mut r = Report::default();
        assert_eq!(r.exit_code(), 0);
        r.problems.push(Problem {
            path: "x".into(),
            what: "cannot open",
            source: io::Error::from(io::ErrorKind::NotFound),
        });
        assert_eq!(r.exit_code(), 2);
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        assert_eq!(display_path(Path::new("a\x1b[31mb\n")), "a?[31mb?");
    }
}

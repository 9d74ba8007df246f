//! `redactd filter`: files or stdin in, redacted bytes on stdout, like `cat`.
//!
//! Each input is its own stream (its own [`Redactor`], line numbers and
//! offsets), and the outputs are concatenated in order. Output is written
//! after every read, so a held-open pipe sees each finished line before
//! EOF. A closed stdout (`| head`) ends the run quietly; an unreadable input
//! is reported and the remaining inputs are still processed.
//!
//! An input (a file or stdin) that starts with the gzip magic bytes is
//! decompressed as it is read, every member in turn ([`super::input`]), and
//! redacted like any other; offsets and lines count decompressed bytes.
//!
//! # An input that fails part-way
//!
//! A read error, or a gzip stream that turns out corrupt or truncated, ends
//! that input with an [`InputError`]. What was read before it is released
//! as far as no secret can be in progress there
//! ([`Redactor::flush_idle`]); the bytes after that point, where a secret
//! may have been cut by the error, are withheld (their findings are still
//! reported), so nothing undecided is written past the error point.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::input;
use super::pieces::{self, Outcome, Work};
use crate::alert::Tap;
use crate::engine::{Finding, Options, Redactor, Sink};
use crate::rules::RuleSet;

/// Size of each read.
pub const READ_SIZE: usize = 64 * 1024;

/// Where input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (also written `-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// The input a command-line argument names: `-` is stdin.
    pub fn from_arg(arg: &Path) -> Source {
        if arg.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(arg.to_path_buf())
        }
    }

    /// The name used in messages and findings (`-` for stdin).
    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "-".into(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// Errors that end a filter run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reader of our output went away (`| head`): not a failure.
    #[error("output closed")]
    OutputClosed,
    /// Writing redacted output failed.
    #[error("cannot write output")]
    Output(#[source] io::Error),
    /// Writing the findings file failed.
    #[error("cannot write findings")]
    Findings(#[source] io::Error),
}

/// Why one input could not be (completely) processed; the others still
/// are. Messages name the input and never show its bytes.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening or reading failed.
    #[error("cannot read {name}{}", withheld_note(*.withheld))]
    Read {
        /// The input (`-` for stdin).
        name: String,
        /// Input bytes withheld at the error (see the module docs).
        withheld: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The input is gzip (by its magic bytes) and does not decompress: it
    /// is corrupt or truncated, or is followed by bytes that are not gzip.
    #[error("cannot decompress {name} (gzip){}", withheld_note(*.withheld))]
    Gzip {
        /// The input (`-` for stdin).
        name: String,
        /// Input bytes withheld at the error (see the module docs).
        withheld: u64,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
}

fn withheld_note(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(" ({n} bytes before the error not written: a secret may be cut there)"),
    }
}

impl InputError {
    /// The error that ended input `name` (`gzip`: whether it was
    /// decompressed), `withheld` bytes before it not written.
    pub fn new(name: String, gzip: bool, withheld: u64, source: io::Error) -> InputError {
        if gzip && input::is_decode_error(&source) {
            InputError::Gzip {
                name,
                withheld,
                source,
            }
        } else {
            InputError::Read {
                name,
                withheld,
                source,
            }
        }
    }

    /// The underlying I/O or decoder error.
    pub fn cause(&self) -> &io::Error {
        match self {
            InputError::Read { source, .. } | InputError::Gzip { source, .. } => source,
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Input bytes read.
    pub bytes_in: u64,
    /// Output bytes written.
    pub bytes_out: u64,
    /// Bytes inside redacted spans.
    pub bytes_redacted: u64,
    /// Findings per rule id.
    pub findings: BTreeMap<String, u64>,
    /// Inputs that could not be read, or not to their end.
    pub unreadable: Vec<InputError>,
    /// Inputs that were gzip (decompressed; the byte counts are of the
    /// decompressed bytes).
    pub gzip_inputs: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The engine's verification work: keyword hits verified, bytes its
    /// screens walked and bytes its regexes searched (see
    /// [`crate::engine::Stats`]).
    pub work: (u64, u64, u64),
    /// The rules' compiled regexes at the end: bytes (as the regex engine
    /// counts them), and how many were evicted to stay within the budget.
    pub regexes: (usize, u64),
    /// With several threads: pieces written as a worker redacted them, and
    /// pieces redacted again in order (see [`super::pieces`]).
    pub pieces: (u64, u64),
}

impl Summary {
    /// Total findings.
    pub fn total_findings(&self) -> u64 {
        self.findings.values().sum()
    }

    /// The `--stats` report.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "redactd: {} bytes in, {} bytes out, {} bytes redacted, {} findings in {:.3}s ({:.1} MB/s)\n",
            self.bytes_in,
            self.bytes_out,
            self.bytes_redacted,
            self.total_findings(),
            secs,
            self.bytes_in as f64 / 1e6 / secs
        );
        if self.gzip_inputs > 0 {
            s.push_str(&format!(
                "redactd:   {} gzip input(s) decompressed\n",
                self.gzip_inputs
            ));
        }
        let (hits, screened, searched) = self.work;
        s.push_str(&format!(
            "redactd:   {hits} keyword hits verified, {screened} bytes screened, {searched} bytes searched\n"
        ));
        if self.pieces != (0, 0) {
            s.push_str(&format!(
                "redactd:   {} pieces redacted by workers, {} again in order\n",
                self.pieces.0, self.pieces.1
            ));
        }
        let (bytes, evicted) = self.regexes;
        s.push_str(&format!(
            "redactd:   compiled regexes {bytes} bytes, {evicted} evicted\n"
        ));
        for (rule, n) in &self.findings {
            s.push_str(&format!("redactd:   {rule}: {n}\n"));
        }
        s
    }
}

/// The redactor's sink for one input: output straight into the (buffered)
/// output, findings counted, alerted and written as they come. The first
/// write that fails stops the redactor with it.
struct FilterSink<'a> {
    out: &'a mut dyn Write,
    source: &'a str,
    findings: Option<&'a mut dyn Write>,
    counts: &'a mut BTreeMap<String, u64>,
    alerts: &'a Tap,
}

impl Sink for FilterSink<'_> {
    type Error = Error;

    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.out.write_all(bytes).map_err(output_error)
    }

    fn finding(&mut self, f: Finding) -> Result<(), Error> {
        *self.counts.entry(f.rule.to_string()).or_default() += 1;
        self.alerts
            .report(None, Some(self.source), std::slice::from_ref(&f));
        if let Some(w) = self.findings.as_mut() {
            let line = serde_json::json!({
                "rule": f.rule.as_str(),
                "severity": f.severity.as_str(),
                "source": self.source,
                "line": f.line,
                "offset": f.offset,
                "len": f.len,
                "fingerprint": f.fingerprint.to_string(),
            });
            writeln!(w, "{line}").map_err(Error::Findings)?;
        }
        Ok(())
    }
}

/// Redacts `sources` in order into `out` on one thread; findings go to
/// `findings` as JSON lines when given.
pub fn run(
    set: &Arc<RuleSet>,
    opts: &Options,
    sources: &[Source],
    out: &mut dyn Write,
    findings: Option<&mut dyn Write>,
) -> Result<Summary, Error> {
    run_alerting(set, opts, sources, 1, out, findings, &Tap::default())
}

/// [`run`] on `threads` threads (1: the calling thread only; more: each
/// input in pieces, see [`super::pieces`], with the same output), also
/// reporting every finding to `alerts` (source: the input's name).
/// Reporting never blocks.
pub fn run_alerting(
    set: &Arc<RuleSet>,
    opts: &Options,
    sources: &[Source],
    threads: usize,
    out: &mut dyn Write,
    mut findings: Option<&mut dyn Write>,
    alerts: &Tap,
) -> Result<Summary, Error> {
    #[allow(clippy::disallowed_types)] // wall-clock throughput for --stats only
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    let stdin = [Source::Stdin];
    let sources = if sources.is_empty() {
        &stdin[..]
    } else {
        sources
    };
    let mut buf = vec![0u8; READ_SIZE];
    let mut out = io::BufWriter::with_capacity(READ_SIZE, out);
    for source in sources {
        let name = source.name();
        let mut sink = FilterSink {
            out: &mut out,
            source: &name,
            findings: findings.as_mut().map(|w| &mut **w as &mut dyn Write),
            counts: &mut summary.findings,
            alerts,
        };
        let outcome = if threads > 1 {
            let mut flush = |s: &mut FilterSink<'_>| s.out.flush().map_err(output_error);
            pieces::run(
                set,
                opts,
                source,
                (threads, pieces::PIECE),
                &mut sink,
                &mut flush,
            )?
        } else {
            one_thread(set, opts, source, &mut buf, &mut sink)?
        };
        sink.out.flush().map_err(output_error)?;
        let o = match outcome {
            Ok(o) => o,
            Err(e) => {
                summary.unreadable.push(InputError::new(name, false, 0, e));
                continue;
            }
        };
        summary.gzip_inputs += u64::from(o.gzip);
        summary.bytes_in += o.work.bytes_in;
        summary.bytes_out += o.work.bytes_out;
        summary.bytes_redacted += o.work.bytes_redacted;
        summary.work.0 += o.work.hits;
        summary.work.1 += o.work.screened;
        summary.work.2 += o.work.searched;
        summary.pieces.0 += o.pieces.0;
        summary.pieces.1 += o.pieces.1;
        if let Some((e, withheld, _)) = o.failed {
            summary
                .unreadable
                .push(InputError::new(name, o.gzip, withheld, e));
        }
    }
    if let Some(w) = findings.as_mut() {
        w.flush().map_err(Error::Findings)?;
    }
    summary.elapsed = started.elapsed();
    summary.regexes = (set.regex_budget().bytes(), set.regex_budget().evictions());
    Ok(summary)
}

/// Redacts one input on the calling thread: `Ok(Err(..))` when it cannot
/// be opened.
fn one_thread(
    set: &Arc<RuleSet>,
    opts: &Options,
    source: &Source,
    buf: &mut [u8],
    sink: &mut FilterSink<'_>,
) -> Result<io::Result<Outcome>, Error> {
    let (mut reader, gzip) = match open(source) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut redactor = Redactor::new(Arc::clone(set), opts.clone());
    let failed = pump(&mut *reader, buf, &mut redactor, sink)?;
    let withheld = match failed {
        None => {
            redactor.try_finish(sink)?;
            (0, 0)
        }
        Some(_) => end_at_error(&mut redactor, sink)?,
    };
    let mut work = Work::of(redactor.stats());
    work.bytes_out = work.bytes_out.saturating_sub(withheld.1);
    Ok(Ok(Outcome {
        gzip,
        work,
        failed: failed.map(|e| (e, withheld.0, withheld.1)),
        pieces: (0, 0),
    }))
}

/// Opens `source`, decompressing it when it is gzip; whether it is.
pub(super) fn open(source: &Source) -> io::Result<(Box<dyn Read>, bool)> {
    match source {
        Source::Stdin => input::open(io::stdin().lock()),
        Source::File(p) => input::open(File::open(p)?),
    }
}

/// Feeds `reader` through the redactor into the sink until EOF (`None`) or
/// a read error (returned; what was read before it is fed). The output is
/// flushed after every read, so a held-open pipe sees each line released.
fn pump(
    reader: &mut dyn Read,
    buf: &mut [u8],
    redactor: &mut Redactor,
    sink: &mut FilterSink<'_>,
) -> Result<Option<io::Error>, Error> {
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Some(e)),
        };
        redactor.try_write(&buf[..n], sink)?;
        sink.out.flush().map_err(output_error)?;
    }
}

/// Ends a stream cut by an input error: releases what cannot hold a secret
/// in progress, then decides the rest (its findings are reported) without
/// writing it. Returns (input bytes withheld, output bytes withheld).
pub(super) fn end_at_error<S: Sink>(
    redactor: &mut Redactor,
    sink: &mut S,
) -> Result<(u64, u64), S::Error> {
    let held = redactor.try_flush_idle(sink)?;
    let mut withhold = Withhold {
        inner: sink,
        out: 0,
    };
    redactor.try_finish(&mut withhold)?;
    Ok((held, withhold.out))
}

/// A sink that passes findings on and drops the bytes, counting them.
struct Withhold<'s, S> {
    inner: &'s mut S,
    out: u64,
}

impl<S: Sink> Sink for Withhold<'_, S> {
    type Error = S::Error;

    fn bytes(&mut self, bytes: &[u8]) -> Result<(), S::Error> {
        self.out += bytes.len() as u64;
        Ok(())
    }

    fn finding(&mut self, f: Finding) -> Result<(), S::Error> {
        self.inner.finding(f)
    }
}

/// A failed write of redacted output; a closed pipe is not a failure.
fn output_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::BrokenPipe => Error::OutputClosed,
        _ => Error::Output(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fingerprint::Fingerprinter;
    use crate::engine::testing::{builtin_rules, github_token};
    use crate::engine::Style;

    /// A findings file on a full disk.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _b: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_findings_file_that_fails_stops_the_output_at_that_finding() {
        let dir = std::env::temp_dir().join(format!("redactd-filter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.log");
        let tok = github_token("filter-full");
        std::fs::write(&path, format!("a\n{tok}\nb\n{tok}\nc\n")).unwrap();
        let opts = Options {
            style: Style::Label,
            fingerprinter: Arc::new(Fingerprinter::new(b"filter-unit-test-key", "t").unwrap()),
            learned_values: crate::config::defaults::LEARNED_VALUES.default_usize(),
        };
        let mut out = Vec::new();
        let r = run(
            &builtin_rules(),
            &opts,
            &[Source::File(path)],
            &mut out,
            Some(&mut Full),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(r, Err(Error::Findings(_))), "{r:?}");
        // Output stops where the finding could not be written: the bytes
        // after it were never released (they were, staged per read).
        assert_eq!(out, b"a\n[REDACTED:github.pat]");
    }
}

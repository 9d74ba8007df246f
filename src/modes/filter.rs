//! `redactd filter`: files or stdin in, redacted bytes on stdout, like `cat`.
//!
//! Each input is its own stream (its own [`Redactor`], line numbers and
//! offsets), and the outputs are concatenated in order. Output is written
//! after every read, so a held-open pipe sees each finished line before
//! EOF. A closed stdout (`| head`) ends the run quietly; an unreadable input
//! is reported and the remaining inputs are still processed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Inputs that could not be read, with the reason.
    pub unreadable: Vec<(String, io::Error)>,
    /// Wall time of the run.
    pub elapsed: Duration,
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
        for (rule, n) in &self.findings {
            s.push_str(&format!("redactd:   {rule}: {n}\n"));
        }
        s
    }
}

struct FilterSink<'a> {
    out: Vec<u8>,
    source: &'a str,
    findings: Option<&'a mut dyn Write>,
    findings_error: Option<io::Error>,
    counts: &'a mut BTreeMap<String, u64>,
    alerts: &'a Tap,
}

impl Sink for FilterSink<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn finding(&mut self, f: Finding) {
        *self.counts.entry(f.rule.to_string()).or_default() += 1;
        self.alerts
            .report(None, Some(self.source), std::slice::from_ref(&f));
        if let (Some(w), None) = (self.findings.as_mut(), &self.findings_error) {
            let line = serde_json::json!({
                "rule": f.rule.as_str(),
                "severity": f.severity.as_str(),
                "source": self.source,
                "line": f.line,
                "offset": f.offset,
                "len": f.len,
                "fingerprint": f.fingerprint.to_string(),
            });
            if let Err(e) = writeln!(w, "{line}") {
                self.findings_error = Some(e);
            }
        }
    }
}

/// Redacts `sources` in order into `out`; findings go to `findings` as JSON
/// lines when given.
pub fn run(
    set: &Arc<RuleSet>,
    opts: &Options,
    sources: &[Source],
    out: &mut dyn Write,
    findings: Option<&mut dyn Write>,
) -> Result<Summary, Error> {
    run_alerting(set, opts, sources, out, findings, &Tap::default())
}

/// [`run`], also reporting every finding to `alerts` (source: the input's
/// name). Reporting never blocks.
pub fn run_alerting(
    set: &Arc<RuleSet>,
    opts: &Options,
    sources: &[Source],
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
    for source in sources {
        let name = source.name();
        let mut reader: Box<dyn Read> = match source {
            Source::Stdin => Box::new(io::stdin().lock()),
            Source::File(p) => match File::open(p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    summary.unreadable.push((name, e));
                    continue;
                }
            },
        };
        let mut redactor = Redactor::new(Arc::clone(set), opts.clone());
        let mut sink = FilterSink {
            out: Vec::with_capacity(READ_SIZE + 4096),
            source: &name,
            findings: findings.as_mut().map(|w| &mut **w as &mut dyn Write),
            findings_error: None,
            counts: &mut summary.findings,
            alerts,
        };
        let mut read_error = None;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Whatever was read is still redacted and written out.
                    read_error = Some(e);
                    break;
                }
            };
            redactor.write(&buf[..n], &mut sink);
            flush(out, &mut sink.out)?;
            if let Some(e) = sink.findings_error.take() {
                return Err(Error::Findings(e));
            }
        }
        redactor.finish(&mut sink);
        flush(out, &mut sink.out)?;
        if let Some(e) = sink.findings_error.take() {
            return Err(Error::Findings(e));
        }
        let st = redactor.stats();
        summary.bytes_in += st.bytes_in;
        summary.bytes_out += st.bytes_out;
        summary.bytes_redacted += st.bytes_redacted;
        if let Some(e) = read_error {
            summary.unreadable.push((name, e));
        }
    }
    if let Some(w) = findings.as_mut() {
        w.flush().map_err(Error::Findings)?;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn flush(out: &mut dyn Write, pending: &mut Vec<u8>) -> Result<(), Error> {
    let result = out.write_all(pending).and_then(|()| out.flush());
    pending.clear();
    result.map_err(|e| match e.kind() {
        io::ErrorKind::BrokenPipe => Error::OutputClosed,
        _ => Error::Output(e),
    })
}

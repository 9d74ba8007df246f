//! Criterion benchmarks for the streaming engine.
//!
//! Everything is driven through [`Redactor`] directly, the way a mode would:
//! one redactor per stream, input fed in reads of a fixed size, output and
//! findings pushed into a sink. The sink here only counts (and `black_box`es)
//! what it receives, so the figures are the engine's cost, not a `Vec`'s.
//!
//! # Corpus
//!
//! 1. `REDACTD_BENCH_CORPUS=FILE`: the first 64 MiB of FILE (cut at a line).
//! 2. Otherwise, when `python3` and `../shared/bench/make_corpus.py` exist, a
//!    16 MB corpus generated once into `$CARGO_TARGET_DIR/bench-corpus.log`
//!    (default `target/`) and reused by later runs.
//! 3. Otherwise a synthetic corpus made here: nginx and JSON lines with the
//!    built-in rule examples sprinkled in at about one per 2,000 lines.
//!
//! Rule compilation, corpus loading and building each [`Redactor`] stay out
//! of the timing (`iter_batched`). Each redactor starts cold, as a new stream
//! would, so the lazy DFA caches warm up inside every iteration.
//!
//! # Benchmarks (group `redactd::engine::Redactor`)
//!
//! - `corpus/label/write=256KiB`: the default built-in rules, `label` style.
//! - `corpus/hmac/write=256KiB`: the same with the `hmac` style.
//! - `corpus/label/write=4KiB`: small reads (more steps, more held-back tails).
//! - `long_line/label/4MiB`: one 4 MiB line without `\n`, dense in keywords;
//!   line-local rules cannot release at line ends, so this is the worst case
//!   for the carry-over window and for verification.
//! - `new`: creating one redactor (per-stream setup), in redactors/s.
//! - `rules/N`: the corpus with the first 1 and 10 default rules, all default
//!   rules, and every built-in rule (`--all`), to show how cost scales with
//!   the rule count.
//!
//! `cargo bench --bench engine -- --quick` gives rough figures fast.

use std::convert::Infallible;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};

use redactd::engine::fingerprint::Fingerprinter;
use redactd::engine::{Finding, Options, Redactor, Sink, Style};
use redactd::rules::{RuleSet, RuleSetBuilder};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Cap on a corpus named by `REDACTD_BENCH_CORPUS`.
const MAX_CORPUS: usize = 64 * MIB;
/// Size handed to `make_corpus.py` (decimal, as the script reads it).
const GENERATED_SIZE: &str = "16M";
/// Size of the Rust-made fallback corpus.
const SYNTHETIC_SIZE: usize = 16_000_000;
const LONG_LINE: usize = 4 * MIB;

/// Counts what the redactor emits.
#[derive(Debug, Default)]
struct Count {
    bytes: u64,
    findings: u64,
}

impl Sink for Count {
    type Error = Infallible;
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.bytes += black_box(bytes).len() as u64;
        Ok(())
    }
    fn finding(&mut self, finding: Finding) -> Result<(), Infallible> {
        black_box(&finding);
        self.findings += 1;
        Ok(())
    }
}

fn options(style: Style) -> Options {
    Options {
        style,
        fingerprinter: Arc::new(
            Fingerprinter::new(b"0123456789abcdef-bench", "k1").expect("valid bench key"),
        ),
        learned_values: redactd::config::defaults::LEARNED_VALUES.default_usize(),
    }
}

/// Feeds `input` in `write`-byte reads, then finishes.
fn redact(mut r: Redactor, input: &[u8], write: usize) -> Count {
    let mut sink = Count::default();
    for piece in input.chunks(write) {
        r.write(piece, &mut sink);
    }
    r.finish(&mut sink);
    sink
}

// === rules ===

/// The default built-in rules, examples checked. While the built-in patterns
/// are being edited their examples may fail; the set is then benchmarked
/// unchecked rather than not at all.
fn default_rules() -> Arc<RuleSet> {
    let builder = RuleSetBuilder::builtin();
    match redactd::check::load(&builder) {
        Ok(set) => set,
        Err(e) => {
            eprintln!(
                "warning: built-in rules fail their checks; benchmarking them unchecked:\n{e}"
            );
            Arc::new(builder.build().expect("built-in rules compile"))
        }
    }
}

/// Every built-in rule, whatever its tags.
fn every_rule() -> Arc<RuleSet> {
    let mut b = RuleSetBuilder::builtin();
    b.all(true);
    Arc::new(b.build().expect("built-in rules compile"))
}

// === corpus ===

struct Corpus {
    text: Vec<u8>,
    source: String,
}

fn corpus(rules: &RuleSet) -> Corpus {
    if let Some(path) = std::env::var_os("REDACTD_BENCH_CORPUS") {
        let path = PathBuf::from(path);
        let mut text = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_CORPUS as u64).read_to_end(&mut text))
            .unwrap_or_else(|e| panic!("REDACTD_BENCH_CORPUS={}: {e}", path.display()));
        if text.len() == MAX_CORPUS {
            // Cut at a line so no record is half there.
            if let Some(i) = text.iter().rposition(|&b| b == b'\n') {
                text.truncate(i + 1);
            }
        }
        return Corpus {
            text,
            source: path.display().to_string(),
        };
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("../shared/bench/make_corpus.py");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), PathBuf::from);
    let cached = target.join("bench-corpus.log");
    if let Ok(text) = std::fs::read(&cached) {
        return Corpus {
            text,
            source: format!("{} (cached)", cached.display()),
        };
    }
    if script.is_file() && has_python() {
        match generate(&script, &cached) {
            Ok(text) => {
                return Corpus {
                    text,
                    source: format!("{} (generated)", cached.display()),
                }
            }
            Err(e) => eprintln!("warning: make_corpus.py failed ({e}); using the synthetic corpus"),
        }
    }
    Corpus {
        text: synthetic_corpus(rules, SYNTHETIC_SIZE),
        source: "synthetic (benches/engine.rs)".into(),
    }
}

fn has_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `make_corpus.py` into a temporary name and renames it into place, so
/// an interrupted run never leaves a truncated cache behind.
fn generate(script: &Path, out: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(out.parent().expect("corpus path has a parent"))
        .map_err(|e| e.to_string())?;
    let tmp = out.with_extension("log.tmp");
    let sidecar = out.with_extension("secrets.jsonl");
    eprintln!(
        "generating {GENERATED_SIZE} bench corpus into {} ...",
        out.display()
    );
    let status = Command::new("python3")
        .arg(script)
        .arg(GENERATED_SIZE)
        .arg(&tmp)
        .arg("--sidecar")
        .arg(&sidecar)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("exit status {status}"));
    }
    std::fs::rename(&tmp, out).map_err(|e| e.to_string())?;
    std::fs::read(out).map_err(|e| e.to_string())
}

/// A small deterministic generator (xorshift64*); benches need no `rand`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len())]
    }
    fn push_from(&mut self, out: &mut Vec<u8>, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            out.push(alphabet[self.below(alphabet.len())]);
        }
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// nginx access lines and JSON application lines, with one rule example
/// input in about every 2,000 lines.
fn synthetic_corpus(rules: &RuleSet, size: usize) -> Vec<u8> {
    let examples: Vec<&str> = rules
        .rules()
        .iter()
        .flat_map(|r| r.examples.iter().map(|e| e.input.as_str()))
        .collect();
    let paths = [
        "/api/v1/orders",
        "/static/js/app.js",
        "/health",
        "/users/42/profile",
        "/cart?page=2&limit=20",
    ];
    let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
    let agents = [
        "curl/8.5.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "kube-probe/1.30",
    ];
    let services = ["checkout", "payments", "search", "auth", "gateway"];
    let msgs = [
        "request completed",
        "cache miss",
        "retrying upstream call",
        "user logged in",
        "config reloaded",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(size + 4 * KIB);
    let mut line = 0u64;
    while out.len() < size {
        line += 1;
        if !examples.is_empty() && rng.below(2000) == 0 {
            out.extend_from_slice(rng.pick(&examples).as_bytes());
        } else if rng.below(2) == 0 {
            let ip = rng.next();
            out.extend_from_slice(
                format!(
                    "{}.{}.{}.{} - - [21/Aug/2026:00:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\" rt={}.{:03}",
                    ip & 0xff,
                    (ip >> 8) & 0xff,
                    (ip >> 16) & 0xff,
                    (ip >> 24) & 0xff,
                    (line / 60) % 60,
                    line % 60,
                    rng.pick(&methods),
                    rng.pick(&paths),
                    [200, 200, 200, 304, 404, 500][rng.below(6)],
                    rng.below(60_000),
                    rng.pick(&agents),
                    rng.below(2),
                    rng.below(1000),
                )
                .as_bytes(),
            );
        } else {
            out.extend_from_slice(
                b"{\"ts\":\"2026-08-21T00:00:00.000Z\",\"level\":\"info\",\"service\":\"",
            );
            out.extend_from_slice(rng.pick(&services).as_bytes());
            out.extend_from_slice(b"\",\"trace_id\":\"");
            rng.push_from(&mut out, HEX, 32);
            out.extend_from_slice(b"\",\"order_id\":\"ord_");
            rng.push_from(&mut out, ALNUM, 14);
            out.extend_from_slice(b"\",\"msg\":\"");
            out.extend_from_slice(rng.pick(&msgs).as_bytes());
            out.extend_from_slice(format!("\",\"duration_ms\":{}}}", rng.below(2500)).as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// One line of `len` bytes, no `\n`: words, token-shaped runs and, about
/// every third word, a keyword (the usual suspects plus every keyword of
/// `rules`), so verification runs constantly and nothing ends a line.
fn long_line(rules: &RuleSet, len: usize) -> Vec<u8> {
    let mut keywords: Vec<&str> = vec![
        "token",
        "password",
        "secret",
        "Bearer",
        "eyJ",
        "-----BEGIN",
        "api_key=",
    ];
    keywords.extend(
        rules
            .rules()
            .iter()
            .flat_map(|r| r.keywords.iter().map(String::as_str)),
    );
    let words = [
        "the", "request", "failed", "for", "user", "with", "status", "=", ":", "\"", "retry", "\t",
        "\r",
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut out = Vec::with_capacity(len + 256);
    while out.len() < len {
        match rng.below(6) {
            0 | 1 => out.extend_from_slice(rng.pick(&keywords).as_bytes()),
            2 => {
                let n = 4 + rng.below(40);
                rng.push_from(&mut out, ALNUM, n);
            }
            _ => out.extend_from_slice(rng.pick(&words).as_bytes()),
        }
        out.push(if rng.below(4) == 0 { b'=' } else { b' ' });
    }
    out.truncate(len);
    out
}

// === benchmarks ===

fn bench_engine(c: &mut Criterion) {
    let rules = default_rules();
    let corpus = corpus(&rules);
    let text = &corpus.text;
    let once = redact(
        Redactor::new(rules.clone(), options(Style::Label)),
        text,
        256 * KIB,
    );
    eprintln!(
        "corpus: {} — {} bytes, {} lines; {} default rules find {} secrets",
        corpus.source,
        text.len(),
        text.iter().filter(|&&b| b == b'\n').count(),
        rules.rules().len(),
        once.findings,
    );

    let mut g = c.benchmark_group("redactd::engine::Redactor");
    // Each iteration takes milliseconds to seconds: equal-size samples keep
    // the total time bounded.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(text.len() as u64));
    for (name, style, write) in [
        ("corpus/label/write=256KiB", Style::Label, 256 * KIB),
        ("corpus/hmac/write=256KiB", Style::Hmac, 256 * KIB),
        ("corpus/label/write=4KiB", Style::Label, 4 * KIB),
    ] {
        let opts = options(style);
        g.bench_function(name, |b| {
            b.iter_batched(
                || Redactor::new(rules.clone(), opts.clone()),
                |r| redact(r, text, write),
                BatchSize::PerIteration,
            )
        });
    }

    let line = long_line(&every_rule(), LONG_LINE);
    let opts = options(Style::Label);
    g.throughput(Throughput::Bytes(line.len() as u64));
    g.bench_function("long_line/label/4MiB", |b| {
        b.iter_batched(
            || Redactor::new(rules.clone(), opts.clone()),
            |r| redact(r, &line, 256 * KIB),
            BatchSize::PerIteration,
        )
    });

    // A new stream's fixed cost (labels and per-rule state; regex caches
    // are pooled per thread by each rule's regex), in
    // redactors per second.
    g.throughput(Throughput::Elements(1));
    g.bench_function("new", |b| {
        b.iter_with_large_drop(|| Redactor::new(rules.clone(), opts.clone()))
    });

    // Rule-count scaling over the same corpus.
    let all = every_rule();
    let mut sets: Vec<(String, Arc<RuleSet>)> = Vec::new();
    for n in [1, 10] {
        if n < rules.rules().len() {
            sets.push((
                n.to_string(),
                Arc::new(RuleSet::from_rules(rules.rules()[..n].to_vec())),
            ));
        }
    }
    sets.push((format!("{}-default", rules.rules().len()), rules.clone()));
    if all.rules().len() > rules.rules().len() {
        sets.push((format!("{}-every", all.rules().len()), all));
    }
    g.throughput(Throughput::Bytes(text.len() as u64));
    for (name, set) in &sets {
        g.bench_with_input(BenchmarkId::new("rules", name), set, |b, set| {
            b.iter_batched(
                || Redactor::new(set.clone(), opts.clone()),
                |r| redact(r, text, 256 * KIB),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bench_engine
}
criterion_main!(benches);

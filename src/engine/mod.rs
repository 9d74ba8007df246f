//! The streaming redaction engine: bytes in, redacted bytes and findings out.
//!
//! [`Redactor`] is a synchronous, I/O-free state machine over one stream. It
//! owns its scratch (the carry-over window, the hit queue, the output
//! state); the compiled [`RuleSet`] is shared behind an `Arc`, and each
//! rule's regex pools its caches per thread. Modes feed it reads of
//! any size and pass what it emits on; benches and fuzz targets drive it
//! directly.
//!
//! # What a match is
//!
//! For each rule, matches are the rule regex's leftmost-first,
//! non-overlapping matches over the *whole* stream, each continuing through
//! its `extend` class or its `block` when the rule has one; a match failing
//! the rule's entropy, stop-word or validator check is dropped (and the
//! search goes on after it). Each accepted match contributes the span of its
//! `secret` group. Overlapping spans of any rules are unioned; each union is
//! replaced as a whole, labelled by the span that starts first (ties: a
//! specific rule before a `generic` one, then file order). Every byte outside
//! the unions is copied unchanged, and inside a union every `\r` and `\n` is
//! kept, so a redacted stream has the same line count.
//!
//! Each union is one [`Finding`], reported once it is written out: its
//! offset, length and line are the union's, its rule is the winning span's
//! (the rule the label names), and its fingerprint is the winning span's
//! secret as matched (the whole block for a block rule), which is what an
//! allowlist fingerprint is compared with. The other rules that matched
//! inside the union are not reported: several rules claiming the same bytes
//! are one secret, counted and alerted once. [`oracle`] computes all of this
//! on a whole buffer, slowly, for tests.
//!
//! Besides the rules' spans, the stream's learned values add spans: every
//! later copy, raw or encoded, of a secret a rule accepted is one, under
//! that rule. [`learned`] defines exactly which, in stream order; they are
//! unioned and reported like the others.
//!
//! # How it streams
//!
//! - **Prefilter.** New bytes are searched for every rule keyword at once,
//!   in one automaton pass; see
//!   [`crate::rules::Prefilter`]. A keyword
//!   hit at `k` wakes its rules. A position is only searched once every
//!   keyword that could start there is fully buffered, so hits do not depend
//!   on read boundaries.
//! - **Verification.** A hit is verified once the bytes up to `k + max_len`
//!   (or up to the next `\n`: no rule match holds a line break) are buffered:
//!   the rule's own regex searches from `max(next, k - keyword_offset)`, and
//!   a match starting at or before `k` is exactly the one a whole-buffer
//!   search would find. Rules whose keyword starts every match run an
//!   anchored search at `k`.
//!   Rules match decoded text: where the window holds JSON-escaped forms
//!   (`\/`, `\u002b`), the search sees them decoded, and lengths and keyword
//!   offsets are bounds in raw bytes (see [`crate::rules::escape`]).
//! - **Release.** Bytes are released up to the earliest position a match not
//!   yet found could start: the first unverified hit minus its rule's
//!   keyword offset, the first unsearched position minus the largest keyword
//!   offset (but not before the start of its line), and the frontier
//!   of any open `extend`/`block` span, and the first position the
//!   learned-value scan has not decided ([`learned`]: it decides positions
//!   before that limit, applying the values learned up to each). A finished
//!   line is released at once.
//! - **Memory.** The window holds the unreleased bytes, at most one read
//!   chunk plus the longest rule and the block lookahead (and the longest
//!   form of a learned value); learned values are bounded by
//!   [`Options::learned_values`]. Reads larger than
//!   [`CHUNK`] are processed in pieces, and their keywords are enumerated
//!   and verified a slice at a time, so the hit queue holds a slice's hits
//!   (a line of keywords has one at every byte) plus those waiting for input.

pub mod armor;
/// Keyed fingerprints live below the rules (the allowlist matches them);
/// the engine computes them.
pub use crate::fingerprint;
pub mod learned;
mod marks;
pub mod oracle;
#[cfg(test)]
pub(crate) mod testing;
mod verify;
pub mod yaml;
pub use verify::{DENSE_GAP, DENSE_RUN};

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use regex_automata::util::primitives::NonMaxUsize;

use crate::rules::{Block, Rule, RuleId, RuleSet, Severity};
use armor::{Armor, Step};
use fingerprint::{Fingerprint, Fingerprinter, Hasher};
use marks::Marks;
use yaml::K8sMap;

/// Largest piece of input processed at once; bounds the window.
pub const CHUNK: usize = 64 * 1024;

/// Keywords are looked for in slices of this many bytes, each slice's hits
/// verified before the next: bounds the hit queue.
const SCAN_SLICE: u64 = 8 * 1024;

/// Bytes kept before the first unreleased one: the character before a
/// match start, which look-behind (`\b`, `^`) examines, may be an escaped
/// form that rules see decoded (see [`crate::rules::escape`]).
const LOOK_BEHIND: u64 = crate::rules::escape::MAX_FORM_LEN as u64;

/// How a redacted span is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// `[REDACTED:rule.id]`.
    #[default]
    Label,
    /// One `*` per byte (line breaks kept).
    Mask,
    /// The rule's public prefix, `****`, and at most `min(4, n/4)` trailing
    /// bytes of an `n`-byte secret (none if the span crosses a line).
    Partial,
    /// `[rule.id:hmac:KEYID:8hex]`, keyed HMAC-SHA256 of the span.
    Hmac,
}

impl Style {
    /// Parses `label`, `mask`, `partial` or `hmac`.
    pub fn parse(s: &str) -> Option<Style> {
        Some(match s {
            "label" => Style::Label,
            "mask" => Style::Mask,
            "partial" => Style::Partial,
            "hmac" => Style::Hmac,
            _ => return None,
        })
    }
}

/// Per-stream settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Replacement style.
    pub style: Style,
    /// Key for finding fingerprints and `hmac` replacements.
    pub fingerprinter: Arc<Fingerprinter>,
    /// Values a stream learns at most (see [`learned`]); 0 turns learning
    /// off.
    pub learned_values: usize,
}

/// One detected secret: one redacted span (a union of overlapping matches,
/// see the module docs). Carries no secret bytes: only where it was and a
/// keyed fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Index of the winning rule (the one the label names) in its set.
    pub rule_index: usize,
    /// The winning rule's id.
    pub rule: RuleId,
    /// The rule's severity.
    pub severity: Severity,
    /// Stream offset of the redacted span's first byte.
    pub offset: u64,
    /// Length of the redacted span in bytes (blocks and `extend` runs
    /// count whole).
    pub len: u64,
    /// 1-based line number of the span's first byte.
    pub line: u64,
    /// Keyed fingerprint of the winning rule's secret (its `secret` group as
    /// matched, or its whole block): what an allowlist fingerprint matches.
    pub fingerprint: Fingerprint,
}

/// Where the redactor puts its output. `bytes` receives the redacted stream
/// in order; `finding` each finding, in order of offset, right after its
/// span's replacement (and [`span_end`](Sink::span_end)).
///
/// A sink may fail (a closed pipe, a full disk): the redactor then stops at
/// once, forgets the stream ([`Redactor::reset`]: no byte it held back, which
/// may be part of a secret, is ever released) and its `try_` method returns
/// the error. What is written after that starts a new stream. Sinks in memory say
/// `type Error = Infallible` and use the plain methods
/// ([`Redactor::write`], [`Redactor::finish`], [`Redactor::flush_idle`]).
pub trait Sink {
    /// Why the sink failed; [`Infallible`] when it cannot.
    type Error;
    /// Redacted output bytes.
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
    /// A finding. The default ignores it.
    fn finding(&mut self, _finding: Finding) -> Result<(), Self::Error> {
        Ok(())
    }
    /// A redacted span begins at input offset `at`: the bytes passed to
    /// [`bytes`](Sink::bytes) from now until [`span_end`](Sink::span_end)
    /// are its replacement. Framings that must re-encode replacements (JSON
    /// strings, SD values) use this pair; the default ignores it.
    fn span_start(&mut self, _at: u64) -> Result<(), Self::Error> {
        Ok(())
    }
    /// The redacted span that began at the last [`span_start`](Sink::span_start)
    /// ends at input offset `at` (exclusive).
    fn span_end(&mut self, _at: u64) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl Sink for Vec<u8> {
    type Error = Infallible;
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// A sink that collects both output and findings.
#[derive(Debug, Default)]
pub struct Collect {
    /// Output bytes.
    pub out: Vec<u8>,
    /// Findings, in order.
    pub findings: Vec<Finding>,
}

impl Sink for Collect {
    type Error = Infallible;
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }
    fn finding(&mut self, finding: Finding) -> Result<(), Infallible> {
        self.findings.push(finding);
        Ok(())
    }
}

/// Counters a mode may export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input bytes accepted.
    pub bytes_in: u64,
    /// Output bytes emitted.
    pub bytes_out: u64,
    /// Input bytes inside redacted spans.
    pub bytes_redacted: u64,
    /// Keyword hits verified.
    pub hits_verified: u64,
    /// Blocks that stopped at their size cap.
    pub blocks_capped: u64,
    /// Lines whose rest a rule's dense findings redacted (failing closed,
    /// see [`DENSE_RUN`]).
    pub runs_capped: u64,
    /// Bytes the rules' screens walked to verify hits.
    pub screened_bytes: u64,
    /// Bytes of the spans the rules' regexes searched to verify hits.
    /// With `screened_bytes`, the verification work done: it stays within
    /// a small multiple of `bytes_in` whatever the input.
    pub searched_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    pos: u64,
    rule: u32,
}

#[derive(Debug)]
enum ExtKind {
    Class,
    /// To the end of the line: a rule's dense findings failed closed (see
    /// [`verify::DENSE_RUN`]).
    Line,
    /// A rule's block, and its fingerprint so far (a block's finding is
    /// known when it closes).
    Block(BlockState, Box<Hasher>),
}

/// The state of an open block, of either kind.
#[derive(Debug)]
enum BlockState {
    Armor(Armor),
    K8s(K8sMap),
}

impl BlockState {
    fn step(&mut self, rest: &[u8], eof: bool) -> Step {
        match self {
            BlockState::Armor(a) => a.step(rest, eof),
            BlockState::K8s(m) => m.step(rest, eof),
        }
    }

    fn capped(&self) -> bool {
        match self {
            BlockState::Armor(a) => a.capped(),
            BlockState::K8s(m) => m.capped(),
        }
    }
}

/// An open `extend` or `block` continuation. At most one per rule.
#[derive(Debug)]
struct Extender {
    rule: u32,
    /// Span start (for locating the span and its finding).
    start: u64,
    /// Next byte to examine; the span covers everything before it.
    pos: u64,
    kind: ExtKind,
    /// No span yet: a block that may take nothing (see
    /// [`yaml::K8sMap`]), whose span starts at its first taken byte.
    pending: bool,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
    rule: u32,
    open: bool,
}

/// A union of spans being written out: one redacted span, one finding.
#[derive(Debug)]
struct Interval {
    /// First byte (the winning span's start).
    start: u64,
    /// 1-based line number of `start`.
    line: u64,
    end: u64,
    /// The winning rule: its label, its finding.
    rule: u32,
    /// Rules whose open spans belong to this interval.
    open: Vec<u32>,
    /// Bytes of the interval released so far.
    len: u64,
    /// Last up-to-4 non-line-break bytes (partial style).
    tail: [u8; 4],
    tail_len: usize,
    crossed_line: bool,
    hasher: Option<Hasher>,
}

/// The fingerprint of an accepted span, kept until its union is written
/// out; only the winning span's is reported. `None` while a block is open.
#[derive(Debug)]
struct SpanPrint {
    start: u64,
    rule: u32,
    fingerprint: Option<Fingerprint>,
    /// A learned occurrence's: after a rule span's with the same start and
    /// rule, whose print is the one reported.
    learned: bool,
}

/// Streaming redaction state for one stream. See the module docs.
#[derive(Debug)]
pub struct Redactor {
    set: Arc<RuleSet>,
    opts: Options,
    /// Stream bytes `[base, base + buf.len())`. Holds every unreleased byte
    /// plus [`LOOK_BEHIND`] bytes of look-behind context.
    buf: Vec<u8>,
    base: u64,
    eof: bool,
    /// Every keyword hit starting before this position has been enumerated.
    scanned: u64,
    /// Scratch: the prefilter's hits.
    found: Vec<(usize, u32)>,
    /// Enumerated hits not yet verified, in stream order.
    hits: VecDeque<Hit>,
    /// Per rule: no unconsumed match of the rule starts before this.
    next: Vec<u64>,
    /// The rules whose `next` is not 0, for [`reset`](Self::reset).
    touched: Vec<u32>,
    /// Where each screened rule's walk stands; forgotten once the stream
    /// is idle (walks times every idle connection). Only speed depends on
    /// walks, never output.
    walks: verify::Walks,
    /// Rules whose findings follow each other closely on one line (see
    /// [`DENSE_RUN`]), and the line number at a stream position, moved as
    /// findings ask (`(position, line)`; the position is in the window).
    runs: Vec<verify::Run>,
    run_line: (u64, u64),
    /// Line breaks and escaped forms around the hit being verified.
    newlines: Marks,
    escapes: Marks,
    slots: Vec<Option<NonMaxUsize>>,
    extenders: Vec<Extender>,
    /// Known spans not yet taken into an interval, by (start, generic,
    /// rule): the rules' and the learned occurrences' apart, each in order
    /// (see [`Queues`]).
    spans: Queues<Span>,
    current: Option<Interval>,
    /// Output has been emitted for every byte before this.
    released: u64,
    /// `line_no` is the 1-based line number at stream position `line_pos`.
    line_pos: u64,
    line_no: u64,
    /// Fingerprints of spans not yet written out, by (start, rule,
    /// learned), apart as `spans` are.
    prints: Queues<SpanPrint>,
    /// Stream-learned values (hooks marked "learned values").
    learned: learned::Learned,
    stats: Stats,
}

impl Redactor {
    /// A redactor for one stream.
    pub fn new(set: Arc<RuleSet>, opts: Options) -> Redactor {
        let n = set.rules().len();
        let max_groups = set
            .rules()
            .iter()
            .map(|r| r.secret_group.unwrap_or(0) + 1)
            .max()
            .unwrap_or(1);
        let learned = learned::Learned::new(opts.learned_values, Arc::clone(&opts.fingerprinter));
        Redactor {
            learned,
            next: vec![0; n],
            touched: Vec::new(),
            walks: verify::Walks::default(),
            runs: Vec::new(),
            run_line: (0, 1),
            newlines: Marks::new(marks::Kind::LineBreak),
            escapes: Marks::new(marks::Kind::Escape),
            slots: vec![None; 2 * max_groups],
            set,
            opts,
            buf: Vec::new(),
            base: 0,
            eof: false,
            scanned: 0,
            found: Vec::new(),
            hits: VecDeque::new(),
            extenders: Vec::new(),
            spans: Queues::default(),
            current: None,
            released: 0,
            line_pos: 0,
            line_no: 1,
            prints: Queues::default(),
            stats: Stats::default(),
        }
    }

    /// The rules this redactor applies.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Heap bytes held by this stream's window, scratch buffers and learned
    /// values. Regex caches are not per stream: each rule's regex pools
    /// them per thread.
    pub fn buffer_memory(&self) -> usize {
        self.buf.capacity() + self.learned.memory()
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes accepted but not yet released (held back while a secret may be
    /// in progress).
    pub fn pending(&self) -> u64 {
        self.end() - self.released
    }

    /// Feeds the next bytes of the stream. Whatever can be released is
    /// passed to `sink` before this returns.
    pub fn write<S: Sink<Error = Infallible>>(&mut self, input: &[u8], sink: &mut S) {
        let Ok(()) = self.try_write(input, sink);
    }

    /// [`write`](Self::write) to a sink that may fail: stops at its first
    /// error and returns it (see [`Sink`]).
    pub fn try_write<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<(), S::Error> {
        assert!(!self.eof, "write after finish");
        for piece in input.chunks(CHUNK) {
            self.compact();
            self.buf.extend_from_slice(piece);
            self.stats.bytes_in += piece.len() as u64;
            self.step(sink).map_err(|e| self.sink_failed(e))?;
        }
        Ok(())
    }

    /// After a sink error the stream is cut in the middle of a step: it is
    /// forgotten, so nothing held back comes out later (see [`Sink`]).
    fn sink_failed<E>(&mut self, e: E) -> E {
        self.reset();
        e
    }

    /// Ends the stream: everything left is decided and released.
    pub fn finish<S: Sink<Error = Infallible>>(&mut self, sink: &mut S) {
        let Ok(()) = self.try_finish(sink);
    }

    /// [`finish`](Self::finish) to a sink that may fail: stops at its first
    /// error and returns it (see [`Sink`]).
    pub fn try_finish<S: Sink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        if self.eof {
            return Ok(());
        }
        self.eof = true;
        self.step(sink).map_err(|e| self.sink_failed(e))?;
        debug_assert_eq!(self.released, self.end());
        debug_assert!(self.prints.is_empty() && self.current.is_none());
        Ok(())
    }

    /// Releases the held-back bytes at which no rule can have a match
    /// starting, complete or still in progress, as if the stream were idle
    /// (see [`Viability`](crate::rules::Viability)). Bytes where a secret may be in progress stay held.
    /// Calling it never changes the output, only when bytes come out.
    /// Returns the number of bytes still held.
    pub fn flush_idle<S: Sink<Error = Infallible>>(&mut self, sink: &mut S) -> u64 {
        let Ok(held) = self.try_flush_idle(sink);
        held
    }

    /// [`flush_idle`](Self::flush_idle) to a sink that may fail: stops at
    /// its first error and returns it (see [`Sink`]).
    pub fn try_flush_idle<S: Sink>(&mut self, sink: &mut S) -> Result<u64, S::Error> {
        if self.eof || self.released == self.end() {
            self.shrink();
            return Ok(self.pending());
        }
        let mut limit = self.end();
        for e in &self.extenders {
            limit = limit.min(e.pos);
        }
        if let Some(v) = self.set.viability() {
            // Look-behind before `released` is in the window.
            let ctx = self.released.saturating_sub(LOOK_BEHIND).max(self.base);
            let hay = &self.buf[self.at(ctx)..];
            let live = v.first_live(hay, (self.released - ctx) as usize);
            limit = limit.min(ctx + live as u64);
        } else {
            limit = self.released;
        }
        let limit = limit.max(self.release_limit());
        // Learned values: release only what their scan decided.
        let limit = self.scan_learned(limit, true);
        self.release(limit, sink).map_err(|e| self.sink_failed(e))?;
        // No match starts before `released`: keywords found there could
        // wake nothing, so they need not be looked for or verified.
        self.scanned = self.scanned.max(self.released);
        while self.hits.front().is_some_and(|h| h.pos < self.released) {
            self.hits.pop_front();
        }
        if self.released == self.end() {
            self.shrink();
        }
        Ok(self.pending())
    }

    /// Gives back window memory once nothing is held (idle streams).
    fn shrink(&mut self) {
        const KEEP: usize = 4096;
        if self.buf.capacity() > KEEP {
            self.compact();
            self.buf.shrink_to(KEEP);
        }
        self.walks = verify::Walks::default();
    }

    /// Forgets the stream and starts a new one at offset 0, keeping the
    /// allocations: for modes that redact many short records (syslog
    /// messages) with one redactor. Unreleased bytes are discarded, so call
    /// [`finish`](Self::finish) first. Counters keep accumulating.
    pub fn reset(&mut self) {
        // Learned values stay in force: a record is part of its stream.
        self.learned.next_record(self.end());
        self.buf.clear();
        self.base = 0;
        self.eof = false;
        self.scanned = 0;
        self.hits.clear();
        for r in self.touched.drain(..) {
            self.next[r as usize] = 0;
        }
        self.walks.clear();
        self.runs.clear();
        self.run_line = (0, 1);
        self.newlines = Marks::new(marks::Kind::LineBreak);
        self.escapes = Marks::new(marks::Kind::Escape);
        self.extenders.clear();
        self.spans = Queues::default();
        self.current = None;
        self.released = 0;
        self.line_pos = 0;
        self.line_no = 1;
        self.prints = Queues::default();
    }

    /// Rule `r`'s next match starts at `to` or later.
    fn raise_next(&mut self, r: usize, to: u64) {
        let next = &mut self.next[r];
        if *next == 0 && to > 0 {
            self.touched.push(r as u32);
        }
        *next = (*next).max(to);
    }

    /// Whether nothing is held or waiting: every byte fed is released, no
    /// block or continuation is open, and no learned value is pending.
    /// A redactor settled after a line break goes on exactly as a new one
    /// holding its [`carried`](Self::carried) values would.
    pub fn settled(&self) -> bool {
        self.released == self.end()
            && self.current.is_none()
            && self.extenders.is_empty()
            && self.learned.settled(self.end())
    }

    /// The learned values held now, oldest first (see [`learned::Carried`]).
    pub fn carried(&self) -> learned::Carried {
        self.learned.carried()
    }

    /// Holds `c`'s learned values, as if this new stream went on from
    /// where they were held. Call it before the first byte.
    pub fn seed_learned(&mut self, c: &learned::Carried) {
        self.learned.seed(c);
    }

    /// Forgets the learned values (see [`learned`]): the next bytes begin a
    /// stream of their own as far as learning goes (an HTTP request body,
    /// a datagram). Call it between streams, after [`finish`](Self::finish)
    /// and [`reset`](Self::reset).
    pub fn forget_learned(&mut self) {
        self.learned.forget();
    }

    /// Redacts a whole buffer (a convenience for tests and small inputs).
    pub fn redact_all(set: Arc<RuleSet>, opts: Options, input: &[u8]) -> Collect {
        let mut r = Redactor::new(set, opts);
        let mut c = Collect::default();
        r.write(input, &mut c);
        r.finish(&mut c);
        c
    }

    #[inline]
    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    #[inline]
    fn at(&self, pos: u64) -> usize {
        debug_assert!(
            pos >= self.base && pos <= self.end(),
            "{pos} outside window"
        );
        (pos - self.base) as usize
    }

    fn rule(&self, r: u32) -> &Rule {
        &self.set.rules()[r as usize]
    }

    fn step<S: Sink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        // Keywords are enumerated a slice at a time and their hits verified
        // before the next slice, so the hit queue holds at most a slice's
        // worth (plus the hits still waiting for input near the end), not a
        // whole read's: a read made of keywords has a hit at every byte.
        let limit = self.scan_limit();
        loop {
            let to = limit.min(self.scanned + SCAN_SLICE);
            self.scan_hits(to);
            while self.advance_extenders() | self.process_hits() {}
            // Released slice by slice, so that the spans and prints waiting
            // for release stay a slice's worth too; learned values release
            // only what their scan decided.
            let release = self.release_limit();
            let release = self.scan_learned(release, false);
            self.release(release, sink)?;
            if to >= limit {
                break;
            }
        }
        Ok(())
    }

    /// Drops released bytes from the window, keeping [`LOOK_BEHIND`] bytes
    /// of context.
    fn compact(&mut self) {
        let keep_from = self.released.saturating_sub(LOOK_BEHIND).max(self.base);
        if keep_from == self.base {
            return;
        }
        if self.line_pos < keep_from {
            let (a, b) = (self.at(self.line_pos), self.at(keep_from));
            self.line_no += count_newlines(&self.buf[a..b]);
            self.line_pos = keep_from;
        }
        let n = self.at(keep_from);
        self.buf.drain(..n);
        self.base = keep_from;
    }

    // === prefilter ===

    /// How far keywords can be looked for: every keyword starting before
    /// this is whole in the window.
    fn scan_limit(&self) -> u64 {
        let end = self.end();
        if self.eof {
            return end;
        }
        let pf = self.set.prefilter();
        let whole = end.saturating_sub(pf.max_keyword_len.saturating_sub(1) as u64);
        // Keywords hold no '\n': every keyword starting before the last
        // line break is already whole.
        let from = self.at(self.scanned.max(self.base));
        match memchr::memrchr(b'\n', &self.buf[from..]) {
            Some(i) => whole.max(self.scanned.max(self.base) + i as u64 + 1),
            None => whole,
        }
    }

    /// Enumerates the keyword hits that start before `limit`.
    fn scan_hits(&mut self, limit: u64) {
        if limit <= self.scanned {
            return;
        }
        let pf = self.set.prefilter();
        let from = self.at(self.scanned);
        self.found.clear();
        pf.find_hits(
            &self.buf[from..],
            (limit - self.scanned) as usize,
            &mut self.found,
        );
        let scanned = self.scanned;
        self.hits.extend(self.found.iter().map(|&(pos, rule)| Hit {
            pos: scanned + pos as u64,
            rule,
        }));
        self.scanned = limit;
    }

    /// Records an accepted secret `[start, end)`; opens its continuation if
    /// the rule has one. Returns whether it did.
    /// `to_line_end` continues the span to the end of its line instead.
    fn open_span(&mut self, rule_idx: u32, start: u64, end: u64, to_line_end: bool) -> bool {
        let set = Arc::clone(&self.set);
        let rule = &set.rules()[rule_idx as usize];
        let secret = &self.buf[self.at(start)..self.at(end)];
        let kind = match (rule.block, &rule.extend) {
            _ if to_line_end => Some(ExtKind::Line),
            (Some(block), _) => {
                let state = match block {
                    Block::Armor { max_bytes } => BlockState::Armor(Armor::new(max_bytes)),
                    // Opened by `open_map`, not here: its match has no secret.
                    Block::K8sSecretMap { .. } => return false,
                };
                let mut h = self.opts.fingerprinter.start();
                h.update(secret);
                Some(ExtKind::Block(state, Box::new(h)))
            }
            (None, Some(_)) => Some(ExtKind::Class),
            (None, None) => None,
        };
        let fingerprint = match kind {
            Some(ExtKind::Block(..)) => None,
            _ => Some(self.opts.fingerprinter.fingerprint(secret)),
        };
        let open = kind.is_some();
        let span = Span {
            start,
            end,
            rule: rule_idx,
            open,
        };
        let print = SpanPrint {
            start,
            rule: rule_idx,
            fingerprint,
            learned: false,
        };
        self.insert_span(span, print);
        if let Some(kind) = kind {
            self.extenders.push(Extender {
                rule: rule_idx,
                start,
                pos: end,
                kind,
                pending: false,
            });
        }
        open
    }

    /// Opens the block after a Kubernetes Secret map's header `[ms, me)`:
    /// no span until the block takes its first byte, none if it takes none.
    fn open_map(&mut self, rule_idx: u32, ms: u64, me: u64, max_bytes: usize) -> bool {
        let header = &self.buf[self.at(ms)..self.at(me)];
        let state = BlockState::K8s(K8sMap::new(header, max_bytes));
        let h = self.opts.fingerprinter.start();
        self.extenders.push(Extender {
            rule: rule_idx,
            start: me,
            pos: me,
            kind: ExtKind::Block(state, Box::new(h)),
            pending: true,
        });
        true
    }

    /// Adds a known span, and its print, each in its order.
    fn insert_span(&mut self, span: Span, print: SpanPrint) {
        let learned = print.learned;
        self.spans.insert(learned, span, span_order(&self.set));
        self.prints
            .insert(learned, print, |p| (p.start, p.rule, p.learned));
    }

    /// The span that comes first of both queues, and whether it is a
    /// learned occurrence's.
    fn front_span(&self) -> Option<(Span, bool)> {
        let (s, learned) = self.spans.front(span_order(&self.set))?;
        Some((*s, learned))
    }

    /// Takes [`front_span`](Self::front_span) off its queue.
    fn pop_span(&mut self) -> Option<Span> {
        let (_, learned) = self.front_span()?;
        self.spans.pop(learned)
    }

    // === learned values (see `learned`) ===

    /// Finds the learned-value occurrences that start before `limit` and
    /// adds their spans; returns how far bytes may be released.
    fn scan_learned(&mut self, limit: u64, idle: bool) -> u64 {
        let w = learned::Window {
            bytes: &self.buf,
            base: self.base,
            eof: self.eof,
        };
        self.learned.scan(&w, limit, idle);
        while let Some(f) = self.learned.pop_found() {
            let span = Span {
                start: f.start,
                end: f.end,
                rule: f.rule,
                open: false,
            };
            let print = SpanPrint {
                start: f.start,
                rule: f.rule,
                fingerprint: Some(f.fingerprint),
                learned: true,
            };
            self.insert_span(span, print);
        }
        debug_assert!(self.learned.frontier() >= self.released);
        limit.min(self.learned.frontier())
    }

    // === continuations ===

    fn advance_extenders(&mut self) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < self.extenders.len() {
            let end = self.end();
            let eof = self.eof;
            let mut e = self.extenders.swap_remove(i);
            let before = e.pos;
            let closed = match &mut e.kind {
                ExtKind::Class => {
                    let class = self.set.rules()[e.rule as usize]
                        .extend
                        .as_ref()
                        .expect("class rule");
                    let from = self.at(e.pos);
                    let (n, ended) = class.run(&self.buf[from..], eof);
                    // Learned values: the run is part of the secret.
                    self.learned.run_grew(e.rule, &self.buf[from..from + n]);
                    e.pos += n as u64;
                    ended
                }
                ExtKind::Line => {
                    let rest = &self.buf[self.at(e.pos)..];
                    let (n, ended) = match memchr::memchr(b'\n', rest) {
                        Some(i) => (i, true),
                        None => (rest.len(), eof),
                    };
                    // Learned values: the rest of the line is the secret's.
                    self.learned.run_grew(e.rule, &rest[..n]);
                    e.pos += n as u64;
                    ended
                }
                ExtKind::Block(a, h) => loop {
                    let from = self.at(e.pos);
                    match a.step(&self.buf[from..], eof) {
                        Step::Skip(n) => {
                            debug_assert!(e.pending);
                            e.pos += n as u64;
                            e.start = e.pos;
                        }
                        Step::Take(n) => {
                            if e.pending {
                                e.pending = false;
                                self.open_pending(e.rule, e.pos);
                            }
                            h.update(&self.buf[from..from + n]);
                            e.pos += n as u64;
                        }
                        Step::End => {
                            if a.capped() {
                                self.stats.blocks_capped += 1;
                            }
                            break true;
                        }
                        Step::NeedMore => break e.pos >= end && eof,
                    }
                },
            };
            if e.pending {
                changed |= e.pos != before || closed;
            } else if e.pos != before || closed {
                changed = true;
                self.update_span(e.rule, e.pos, !closed);
            }
            if closed {
                self.raise_next(e.rule as usize, e.pos);
                // Learned values: a closed run teaches its whole span.
                self.learned.run_closed(e.rule, e.pos);
                if let ExtKind::Block(_, h) = e.kind {
                    if let Some(f) = self
                        .prints
                        .rules
                        .iter_mut()
                        .rev()
                        .find(|f| f.rule == e.rule && f.start == e.start)
                    {
                        f.fingerprint = Some(h.finish());
                    }
                }
            } else {
                self.extenders.push(e);
                let last = self.extenders.len() - 1;
                self.extenders.swap(i, last);
                i += 1;
            }
        }
        changed
    }

    /// Records the open span of a pending block at its first byte.
    fn open_pending(&mut self, rule: u32, start: u64) {
        let span = Span {
            start,
            end: start,
            rule,
            open: true,
        };
        let print = SpanPrint {
            start,
            rule,
            fingerprint: None,
            learned: false,
        };
        self.insert_span(span, print);
    }

    fn update_span(&mut self, rule: u32, end: u64, open: bool) {
        if let Some(cur) = self.current.as_mut() {
            if let Some(j) = cur.open.iter().position(|&r| r == rule) {
                cur.end = cur.end.max(end);
                if !open {
                    cur.open.swap_remove(j);
                }
                return;
            }
        }
        // The open span is among the rules' latest: search from the back (a
        // run of findings leaves many closed spans before it until release).
        let s = self
            .spans
            .rules
            .iter_mut()
            .rev()
            .find(|s| s.rule == rule && s.open)
            .expect("open span of an extender");
        s.end = end;
        s.open = open;
    }

    // === release ===

    /// The earliest position a match not yet found could still cover.
    fn release_limit(&self) -> u64 {
        let set = &self.set;
        let mut limit = self.end();
        if !self.eof {
            // A keyword not yet found starts at or after `scanned`; its match
            // starts at most `max_keyword_offset` before it, and not before
            // the start of its line.
            let s = self.scanned;
            let floor = s
                .saturating_sub(set.max_keyword_offset as u64)
                .max(self.base);
            let line_floor = match memchr::memrchr(b'\n', &self.buf[self.at(floor)..self.at(s)]) {
                Some(i) => floor + i as u64 + 1,
                None => floor,
            };
            limit = limit.min(line_floor);
        }
        for h in &self.hits {
            let off = self.rule(h.rule).analysis.keyword_offset as u64;
            limit = limit.min(self.next[h.rule as usize].max(h.pos.saturating_sub(off)));
        }
        for e in &self.extenders {
            limit = limit.min(e.pos);
        }
        limit.max(self.released)
    }

    fn release<S: Sink>(&mut self, limit: u64, sink: &mut S) -> Result<(), S::Error> {
        loop {
            if let Some(mut cur) = self.current.take() {
                while let Some((sp, _)) = self.front_span() {
                    if sp.start >= cur.end {
                        break;
                    }
                    self.pop_span();
                    cur.end = cur.end.max(sp.end);
                    if sp.open {
                        cur.open.push(sp.rule);
                    }
                }
                let stop = cur.end.min(limit);
                if self.released < stop {
                    self.emit_interval(&mut cur, stop, sink)?;
                }
                if self.released == cur.end && cur.open.is_empty() {
                    self.finish_interval(cur, sink)?;
                    continue;
                }
                self.current = Some(cur);
                return Ok(());
            }
            let next_start = self.front_span().map_or(u64::MAX, |(s, _)| s.start);
            let stop = next_start.min(limit);
            if self.released < stop {
                let (a, b) = (self.at(self.released), self.at(stop));
                sink.bytes(&self.buf[a..b])?;
                self.stats.bytes_out += (b - a) as u64;
                self.released = stop;
            }
            // Open an interval only once no span still unknown can start at
            // the same place (its label depends on every span starting there).
            if self.released == next_start && next_start < limit {
                self.open_interval(sink)?;
                continue;
            }
            return Ok(());
        }
    }

    /// Starts writing out the union that begins with the front span (at
    /// `released`): that span wins the label and the finding.
    fn open_interval<S: Sink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        let sp = self.pop_span().expect("front span");
        debug_assert_eq!(sp.start, self.released);
        let (a, b) = (self.at(self.line_pos), self.at(sp.start));
        self.line_no += count_newlines(&self.buf[a..b]);
        self.line_pos = sp.start;
        let hasher = (self.opts.style == Style::Hmac).then(|| self.opts.fingerprinter.start());
        sink.span_start(sp.start)?;
        self.current = Some(Interval {
            start: sp.start,
            line: self.line_no,
            end: sp.end,
            rule: sp.rule,
            open: if sp.open { vec![sp.rule] } else { Vec::new() },
            len: 0,
            tail: [0; 4],
            tail_len: 0,
            crossed_line: false,
            hasher,
        });
        Ok(())
    }

    fn emit_interval<S: Sink>(
        &mut self,
        cur: &mut Interval,
        stop: u64,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let (a, b) = (self.at(self.released), self.at(stop));
        let bytes = &self.buf[a..b];
        let first = cur.len == 0;
        self.stats.bytes_redacted += bytes.len() as u64;
        let mut out = |x: &[u8], n: &mut u64| {
            *n += x.len() as u64;
            sink.bytes(x)
        };
        let mut nout = 0;
        match self.opts.style {
            Style::Label => {
                if first {
                    out(self.set.label(cur.rule as usize), &mut nout)?;
                }
                for &c in bytes {
                    if c == b'\n' || c == b'\r' {
                        out(&[c], &mut nout)?;
                    }
                }
            }
            Style::Mask => {
                let masked: Vec<u8> = bytes
                    .iter()
                    .map(|&c| if c == b'\n' || c == b'\r' { c } else { b'*' })
                    .collect();
                out(&masked, &mut nout)?;
            }
            Style::Partial => {
                let prefix = self.set.rules()[cur.rule as usize].public_prefix as u64;
                for (i, &c) in bytes.iter().enumerate() {
                    let at = cur.len + i as u64;
                    if c == b'\n' || c == b'\r' {
                        cur.crossed_line = true;
                        out(&[c], &mut nout)?;
                    } else if at < prefix && !cur.crossed_line {
                        out(&[c], &mut nout)?;
                    } else {
                        cur.tail.rotate_left(1);
                        cur.tail[3] = c;
                        cur.tail_len = (cur.tail_len + 1).min(4);
                    }
                }
            }
            Style::Hmac => {
                cur.hasher
                    .as_mut()
                    .expect("hmac style has a hasher")
                    .update(bytes);
                for &c in bytes {
                    if c == b'\n' || c == b'\r' {
                        out(&[c], &mut nout)?;
                    }
                }
            }
        }
        cur.len += bytes.len() as u64;
        self.stats.bytes_out += nout;
        self.released = stop;
        Ok(())
    }

    fn finish_interval<S: Sink>(
        &mut self,
        mut cur: Interval,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut tail = Vec::new();
        match self.opts.style {
            Style::Label | Style::Mask => {}
            Style::Partial => {
                let prefix = self.set.rules()[cur.rule as usize].public_prefix as u64;
                let secret = cur.len.saturating_sub(prefix);
                let show = if cur.crossed_line {
                    0
                } else {
                    (secret / 4).min(4) as usize
                };
                let show = show.min(cur.tail_len);
                tail.extend_from_slice(b"****");
                tail.extend_from_slice(&cur.tail[4 - show..]);
            }
            Style::Hmac => {
                let fp = cur.hasher.take().expect("hmac style has a hasher").finish();
                tail = format!(
                    "[{}:hmac:{}:{}]",
                    self.rule(cur.rule).id,
                    fp.key_id,
                    fp.short()
                )
                .into_bytes();
            }
        }
        if !tail.is_empty() {
            sink.bytes(&tail)?;
            self.stats.bytes_out += tail.len() as u64;
        }
        sink.span_end(cur.end)?;
        self.report_interval(&cur, sink)
    }

    /// Reports the union `cur` as one finding: its extent, the winning
    /// rule, and that rule's fingerprint. Drops the other spans' prints.
    fn report_interval<S: Sink>(&mut self, cur: &Interval, sink: &mut S) -> Result<(), S::Error> {
        let mut fingerprint = None;
        // The first: a rule span's before a learned occurrence's.
        for learned in [false, true] {
            let q = self.prints.queue(learned);
            while q.front().is_some_and(|p| p.start < cur.end) {
                let p = q.pop_front().expect("front print");
                if p.start == cur.start && p.rule == cur.rule {
                    fingerprint = fingerprint.or(p.fingerprint);
                }
            }
        }
        let rule = &self.set.rules()[cur.rule as usize];
        sink.finding(Finding {
            rule_index: cur.rule as usize,
            rule: rule.id.clone(),
            severity: rule.severity,
            offset: cur.start,
            len: cur.end - cur.start,
            line: cur.line,
            fingerprint: fingerprint.expect("the winning span is closed, so fingerprinted"),
        })
    }
}

/// The order spans are written out in: by start, then specific rules
/// before `generic` ones (the first span of a union labels it), then rule.
fn span_order(set: &RuleSet) -> impl Fn(&Span) -> (u64, bool, u32) + '_ {
    |s| (s.start, set.is_generic(s.rule as usize), s.rule)
}

/// Items waiting for release in two queues, each in its key's order: the
/// rules' and the learned occurrences'. The learned scan finds occurrences
/// a slice ahead of the rules' spans that fall among them, so one queue for
/// both made nearly every rule span an insertion in its middle (a line of
/// one learned value repeated spent a fifth of its time shifting spans).
#[derive(Debug)]
struct Queues<T> {
    rules: VecDeque<T>,
    learned: VecDeque<T>,
}

impl<T> Default for Queues<T> {
    fn default() -> Self {
        Queues {
            rules: VecDeque::new(),
            learned: VecDeque::new(),
        }
    }
}

impl<T> Queues<T> {
    fn queue(&mut self, learned: bool) -> &mut VecDeque<T> {
        if learned {
            &mut self.learned
        } else {
            &mut self.rules
        }
    }

    /// Adds `x` to its queue after every item whose key is not greater
    /// (appended without a search when it comes in order, as nearly all do).
    fn insert<K: Ord>(&mut self, learned: bool, x: T, key: impl Fn(&T) -> K) {
        let q = self.queue(learned);
        let k = key(&x);
        let i = match q.back() {
            Some(b) if key(b) > k => q.partition_point(|y| key(y) <= k),
            _ => q.len(),
        };
        q.insert(i, x);
    }

    /// The item that comes first by `key`, and whether it is a learned
    /// one; on a tie, the rules'.
    fn front<K: Ord>(&self, key: impl Fn(&T) -> K) -> Option<(&T, bool)> {
        match (self.rules.front(), self.learned.front()) {
            (Some(r), Some(l)) if key(l) < key(r) => Some((l, true)),
            (Some(r), _) => Some((r, false)),
            (None, l) => l.map(|l| (l, true)),
        }
    }

    fn pop(&mut self, learned: bool) -> Option<T> {
        self.queue(learned).pop_front()
    }

    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.learned.is_empty()
    }
}

fn count_newlines(b: &[u8]) -> u64 {
    // Counted per 64-byte block in a byte-sized sum (at most 64), which the
    // compiler turns into whole-register byte compares and adds; a count
    // straight into a u64 widens every byte and runs several times slower.
    let mut blocks = b.chunks_exact(64);
    let mut n = 0u64;
    for block in &mut blocks {
        let mut k = 0u8;
        for &c in block {
            k += u8::from(c == b'\n');
        }
        n += u64::from(k);
    }
    n + blocks.remainder().iter().filter(|&&c| c == b'\n').count() as u64
}

#[cfg(test)]
mod tests;

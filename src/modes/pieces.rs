//! `filter --threads N`: one input redacted in pieces on N threads and
//! written in order, byte for byte what one thread writes.
//!
//! # How
//!
//! A reader thread reads the input (decompressing it if need be) and cuts
//! it into *pieces* after a line break: each read of up to [`PIECE`] bytes,
//! up to its last line break (the rest starts the next piece). A piece of a
//! line longer than that ends where the read does: it is *cut*. Workers
//! redact pieces speculatively, each as a stream of its own from a new
//! redactor; the committer (the calling thread) takes them in order and
//! writes a piece's output only if it is what the whole stream's redactor
//! would have written there:
//!
//! - **Where a piece starts.** No rule match holds a line break, so a match
//!   in a piece cannot have begun in the one before. What can carry across
//!   a line break is an open block (a PEM body, a Kubernetes Secret map), a
//!   decision waiting for the next bytes, or learned values. So the piece
//!   before must end *settled* ([`Redactor::settled`] after a line break:
//!   everything released, nothing open or waiting); if it does not, or if
//!   it was cut, the committer redactor carries on through the next piece
//!   itself (the worker's work is not used; the reader does not even hand
//!   a piece after a cut to the workers).
//! - **Learned values** ([`crate::engine::learned`]). The stream's set when
//!   a piece starts, `S`, is carried from piece to piece ([`Carried`]). A
//!   worker starts with none. If no form of a value of `S` occurs in the
//!   piece ([`Checker::occurs`]), the values of `S` are never seen there,
//!   so they stay the oldest held and are evicted before any value the
//!   piece learns: the piece's own values come and go exactly as in the
//!   worker's run, and its output is the same. `S` then becomes `S`
//!   followed by the worker's set, the newest `learned_values` of them
//!   ([`Carried::then`]). If a value of `S` does occur, the committer
//!   redacts the piece again itself from a redactor holding `S`, and has
//!   workers start the next pieces holding `S` (a `Seed`): a token on
//!   every line would otherwise have every piece redone. A piece started
//!   from exactly the set the stream holds there is the stream's; one
//!   started from another set (the stream learned a value meanwhile) is
//!   redone, and if no carried value occurs in it, workers start from
//!   none again.
//! - Findings carry offsets and line numbers of their piece: the committer
//!   adds the piece's start.
//!
//! So the output, the findings and their order are those of one thread for
//! every input, whatever the piece boundaries (tested with pieces of a few
//! bytes); what differs is only how much work is done twice (a redone
//! piece), which the [`Work`] counters count once, as one thread would.
//!
//! # Memory
//!
//! At most `2 N + 2` pieces are read and not yet written: each holds its
//! input and its output (`PIECE` bytes each, more only by a line's carry),
//! and each worker holds one redactor's window. A line longer than a
//! piece goes through the committer's redactor in cut pieces, in the same
//! bounded window as one thread.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use super::filter::{end_at_error, open, Source};
use crate::engine::learned::{Carried, Checker};
use crate::engine::{Finding, Options, Redactor, Sink, Stats};
use crate::rules::RuleSet;

/// Bytes read at a time: a piece is one read, up to its last line break.
pub const PIECE: usize = 128 * 1024;

/// The counters of the engine's work that a filter run reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// Input bytes.
    pub bytes_in: u64,
    /// Output bytes.
    pub bytes_out: u64,
    /// Input bytes inside redacted spans.
    pub bytes_redacted: u64,
    /// Keyword hits verified.
    pub hits: u64,
    /// Bytes the screens walked.
    pub screened: u64,
    /// Bytes the regexes searched.
    pub searched: u64,
}

impl Work {
    /// A redactor's counters.
    pub fn of(s: &Stats) -> Work {
        Work {
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            bytes_redacted: s.bytes_redacted,
            hits: s.hits_verified,
            screened: s.screened_bytes,
            searched: s.searched_bytes,
        }
    }

    /// What was counted since `earlier`.
    fn since(self, earlier: Work) -> Work {
        Work {
            bytes_in: self.bytes_in - earlier.bytes_in,
            bytes_out: self.bytes_out - earlier.bytes_out,
            bytes_redacted: self.bytes_redacted - earlier.bytes_redacted,
            hits: self.hits - earlier.hits,
            screened: self.screened - earlier.screened,
            searched: self.searched - earlier.searched,
        }
    }

    /// Adds `other`.
    pub fn add(&mut self, other: Work) {
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.bytes_redacted += other.bytes_redacted;
        self.hits += other.hits;
        self.screened += other.screened;
        self.searched += other.searched;
    }
}

/// How an input went.
#[derive(Debug)]
pub struct Outcome {
    /// Whether it was gzip.
    pub gzip: bool,
    /// The engine's work on it.
    pub work: Work,
    /// The read error that ended it, with the input bytes and output bytes
    /// withheld at it (see [`super::filter`]).
    pub failed: Option<(io::Error, u64, u64)>,
    /// Pieces whose worker output was written, and pieces the committer
    /// redacted itself (after a cut, an unsettled end or a carried value
    /// met; on one thread, none of either).
    pub pieces: (u64, u64),
}

/// One piece of the input.
/// (No `Debug`: its bytes are input, which may hold secrets.)
struct Piece {
    seq: u64,
    /// Its bytes are `buf[..len]` (the rest is stale).
    buf: Vec<u8>,
    len: usize,
    /// Stream offset of its first byte.
    offset: u64,
    /// It does not end after a line break (and is not the last).
    cut: bool,
    /// The piece before it was cut.
    follows_cut: bool,
    /// The input ends with it.
    last: bool,
    /// An empty buffer (with room) for the worker's output.
    spare: Vec<u8>,
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Line breaks in it.
    fn lines(&self) -> u64 {
        memchr::memchr_iter(b'\n', self.bytes()).count() as u64
    }
}

/// A worker's redaction of a piece as a stream of its own.
struct Spec {
    /// Line breaks in the piece (counted here, on a worker).
    lines: u64,
    out: Vec<u8>,
    recs: Vec<Rec>,
    settled: bool,
    carried: Carried,
    work: Work,
    /// The learned values the worker started with (see [`Seed`]).
    seed: Option<Arc<Carried>>,
}

/// The learned values workers start pieces with, if any: the stream's set
/// as last written, published by the committer while carried values keep
/// occurring in pieces (a token repeated on every line), when a worker that
/// starts with none would have its work redone every time. A piece started
/// with the set the stream turns out to hold there is exactly the stream's.
type Seed = Arc<Mutex<Option<Arc<Carried>>>>;

/// What a sink was given, in order (the bytes themselves in `Spec::out`).
enum Rec {
    Bytes(usize),
    Finding(Finding),
    SpanStart(u64),
    SpanEnd(u64),
}

/// A sink that records, for replay by the committer.
#[derive(Default)]
struct Recorder {
    out: Vec<u8>,
    recs: Vec<Rec>,
}

impl Sink for Recorder {
    type Error = std::convert::Infallible;

    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Self::Error> {
        self.out.extend_from_slice(bytes);
        match self.recs.last_mut() {
            Some(Rec::Bytes(n)) => *n += bytes.len(),
            _ => self.recs.push(Rec::Bytes(bytes.len())),
        }
        Ok(())
    }

    fn finding(&mut self, f: Finding) -> Result<(), Self::Error> {
        self.recs.push(Rec::Finding(f));
        Ok(())
    }

    fn span_start(&mut self, at: u64) -> Result<(), Self::Error> {
        self.recs.push(Rec::SpanStart(at));
        Ok(())
    }

    fn span_end(&mut self, at: u64) -> Result<(), Self::Error> {
        self.recs.push(Rec::SpanEnd(at));
        Ok(())
    }
}

/// A sink seen from a stream that starts `offset` bytes and `line` line
/// breaks into the real one.
struct Shifted<'a, S> {
    inner: &'a mut S,
    offset: u64,
    line: u64,
}

impl<S: Sink> Sink for Shifted<'_, S> {
    type Error = S::Error;

    fn bytes(&mut self, bytes: &[u8]) -> Result<(), S::Error> {
        self.inner.bytes(bytes)
    }

    fn finding(&mut self, mut f: Finding) -> Result<(), S::Error> {
        f.offset += self.offset;
        f.line += self.line;
        self.inner.finding(f)
    }

    fn span_start(&mut self, at: u64) -> Result<(), S::Error> {
        self.inner.span_start(at + self.offset)
    }

    fn span_end(&mut self, at: u64) -> Result<(), S::Error> {
        self.inner.span_end(at + self.offset)
    }
}

/// What the committer receives.
enum Msg {
    /// The input opened (whether it is gzip), or did not.
    Opened(io::Result<bool>),
    /// A piece, and a worker's redaction of it (none for a piece the
    /// committer must redact itself).
    Piece(Box<(Piece, Option<Spec>)>),
    /// The input ended after the pieces before `seq`, by a read error.
    Failed(u64, io::Error),
}

/// Redacts `source` into `sink` on `threads` worker threads, in pieces of
/// up to `piece` bytes, calling `written` after each piece's output. `Err`
/// is the sink's; an input that cannot be opened is `Ok(Err(..))`.
pub fn run<S: Sink>(
    set: &Arc<RuleSet>,
    opts: &Options,
    source: &Source,
    (threads, piece): (usize, usize),
    sink: &mut S,
    written: &mut dyn FnMut(&mut S) -> Result<(), S::Error>,
) -> Result<io::Result<Outcome>, S::Error> {
    let in_flight = 2 * threads + 2;
    let (tokens_tx, tokens_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = tokens_tx.send(());
    }
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Piece>(in_flight);
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let (done_tx, done_rx) = mpsc::channel::<Msg>();
    let seed: Seed = Arc::default();
    let workers = (0..threads)
        .map(|_| {
            let (set, opts) = (Arc::clone(set), opts.clone());
            let (jobs, done) = (Arc::clone(&jobs_rx), done_tx.clone());
            let seed = Arc::clone(&seed);
            std::thread::Builder::new()
                .name("redactd-piece".into())
                .spawn(move || work(set, opts, &jobs, &seed, &done))
        })
        .collect::<io::Result<Vec<_>>>();
    drop(jobs_rx);
    let workers = match workers {
        Ok(w) => w,
        Err(e) => return Ok(Err(io::Error::other(format!("cannot start a thread: {e}")))),
    };
    let (recycle, recycled) = mpsc::channel();
    let reader = Reader {
        tokens: tokens_rx,
        jobs: jobs_tx,
        done: done_tx,
        piece: piece.max(1),
        recycled,
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    let source = source.clone();
    // Not joined: it may be blocked reading a held-open stdin when the
    // output fails; it ends at its next read.
    let reading = std::thread::Builder::new()
        .name("redactd-read".into())
        .spawn(move || reader.run(&source));
    if let Err(e) = reading {
        return Ok(Err(io::Error::other(format!("cannot start a thread: {e}"))));
    }
    let mut c = Committer {
        set: Arc::clone(set),
        opts: opts.clone(),
        carried: Carried::default(),
        checker: Checker::new(opts.learned_values, Arc::clone(&opts.fingerprinter)),
        live: None,
        work: Work::default(),
        pieces: (0, 0),
        lines: 0,
        recycle,
        seed,
        checker_stale: false,
    };
    let result = c.run(&done_rx, &tokens_tx, sink, written);
    drop(done_rx);
    drop(tokens_tx);
    if result.is_ok() {
        for w in workers {
            let _ = w.join();
        }
    }
    result
}

/// A worker: redacts the pieces it is handed, each as a stream of its own.
fn work(
    set: Arc<RuleSet>,
    opts: Options,
    jobs: &Mutex<Receiver<Piece>>,
    seed: &Seed,
    done: &Sender<Msg>,
) {
    let mut r = Redactor::new(set, opts);
    loop {
        let next = jobs.lock().map(|rx| rx.recv());
        let Ok(Ok(p)) = next else { return };
        let (p, spec) = speculate(&mut r, p, seed);
        if done.send(Msg::Piece(Box::new((p, Some(spec))))).is_err() {
            return;
        }
    }
}

/// Redacts piece `p` with `r` as a stream of its own (holding the
/// published [`Seed`] values, if any).
fn speculate(r: &mut Redactor, mut p: Piece, seed: &Seed) -> (Piece, Spec) {
    r.reset();
    r.forget_learned();
    let seed = seed.lock().ok().and_then(|s| s.clone());
    if let Some(s) = &seed {
        r.seed_learned(s);
    }
    let before = Work::of(r.stats());
    let mut rec = Recorder {
        out: std::mem::take(&mut p.spare),
        recs: Vec::new(),
    };
    rec.out.reserve(p.len);
    r.write(p.bytes(), &mut rec);
    if p.last {
        r.finish(&mut rec);
    } else {
        r.flush_idle(&mut rec);
    }
    let spec = Spec {
        out: rec.out,
        recs: rec.recs,
        settled: r.settled(),
        carried: r.carried(),
        work: Work::of(r.stats()).since(before),
        lines: p.lines(),
        seed,
    };
    (p, spec)
}

/// The reader thread's ends of the channels.
struct Reader {
    tokens: Receiver<()>,
    jobs: SyncSender<Piece>,
    done: Sender<Msg>,
    piece: usize,
    /// Buffers written pieces leave (their input, their output), for
    /// reuse: pieces are larger than what `malloc` keeps for reuse, so a
    /// new one every time is a fresh mapping, page faults and zeroing.
    recycled: Receiver<(Vec<u8>, Vec<u8>)>,
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
}

/// Where the reader is in the stream.
#[derive(Default)]
struct Cursor {
    seq: u64,
    offset: u64,
    follows_cut: bool,
}

impl Reader {
    fn run(mut self, source: &Source) {
        let (mut input, gzip) = match open(source) {
            Ok(x) => x,
            Err(e) => {
                let _ = self.done.send(Msg::Opened(Err(e)));
                return;
            }
        };
        if self.done.send(Msg::Opened(Ok(gzip))).is_err() {
            return;
        }
        let mut at = Cursor::default();
        // The piece being read: the rest of the last read's line, then
        // this read, in `buf[..have]` (bytes past it are stale: a buffer
        // given back keeps its length, so it is not zeroed again).
        let mut buf = self.buffer();
        let mut have = 0;
        loop {
            if buf.len() < have + self.piece {
                buf.resize(have + self.piece, 0);
            }
            let n = loop {
                match input.read(&mut buf[have..have + self.piece]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            let sent = match n {
                Ok(0) => {
                    let _ = self.dispatch(&mut at, (buf, have), false, true);
                    return;
                }
                Ok(n) => {
                    let end = have + n;
                    match memchr::memrchr(b'\n', &buf[have..end]) {
                        Some(i) => {
                            let cut = have + i + 1;
                            let mut next = self.buffer();
                            have = end - cut;
                            if next.len() < have {
                                next.resize(have, 0);
                            }
                            next[..have].copy_from_slice(&buf[cut..end]);
                            let full = std::mem::replace(&mut buf, next);
                            self.dispatch(&mut at, (full, cut), false, false)
                        }
                        None if end >= self.piece => {
                            let full = std::mem::replace(&mut buf, self.buffer());
                            have = 0;
                            self.dispatch(&mut at, (full, end), true, false)
                        }
                        None => {
                            have = end;
                            true
                        }
                    }
                }
                Err(e) => {
                    if have > 0 && !self.dispatch(&mut at, (buf, have), true, false) {
                        return;
                    }
                    let _ = self.done.send(Msg::Failed(at.seq, e));
                    return;
                }
            };
            if !sent {
                return;
            }
        }
    }

    /// A buffer to read into, one the committer gave back if there is one.
    fn buffer(&mut self) -> Vec<u8> {
        self.take_back();
        self.inputs.pop().unwrap_or_default()
    }

    /// Takes the buffers the committer gave back into the pools.
    fn take_back(&mut self) {
        while let Ok((input, output)) = self.recycled.try_recv() {
            self.inputs.push(input);
            self.outputs.push(output);
        }
    }

    /// Hands a piece on, once fewer than the limit are in flight; false
    /// when the committer has stopped.
    fn dispatch(&mut self, at: &mut Cursor, data: (Vec<u8>, usize), cut: bool, last: bool) -> bool {
        if self.tokens.recv().is_err() {
            return false;
        }
        self.take_back();
        let mut spare = self.outputs.pop().unwrap_or_default();
        spare.clear();
        let p = Piece {
            seq: at.seq,
            offset: at.offset,
            cut: cut && !last,
            follows_cut: at.follows_cut,
            last,
            buf: data.0,
            len: data.1,
            spare,
        };
        at.seq += 1;
        at.offset += p.len as u64;
        at.follows_cut = p.cut;
        if p.cut || p.follows_cut {
            self.done.send(Msg::Piece(Box::new((p, None)))).is_ok()
        } else {
            self.jobs.send(p).is_ok()
        }
    }
}

/// The committer's redactor while it carries the stream itself (after a
/// piece that did not settle, was cut, or met a carried value), with where
/// its stream starts.
struct Live {
    r: Redactor,
    offset: u64,
    line: u64,
}

struct Committer {
    set: Arc<RuleSet>,
    opts: Options,
    /// The stream's learned values where the next piece starts (while no
    /// redactor is live).
    carried: Carried,
    /// The same values, indexed to look for in a piece.
    checker: Checker,
    live: Option<Live>,
    work: Work,
    /// Pieces taken from workers, and redacted by the committer.
    pieces: (u64, u64),
    /// Line breaks before the next piece.
    lines: u64,
    /// Where written pieces' buffers go back to the reader.
    recycle: Sender<(Vec<u8>, Vec<u8>)>,
    /// What workers start pieces with, and whether `checker` lags behind
    /// `carried` (it is brought up to date only when an unseeded piece
    /// needs it).
    seed: Seed,
    checker_stale: bool,
}

/// A piece or the input's end, in stream order.
enum Item {
    Piece(Box<(Piece, Option<Spec>)>),
    Failed(io::Error),
}

impl Committer {
    fn run<S: Sink>(
        &mut self,
        done: &Receiver<Msg>,
        tokens: &SyncSender<()>,
        sink: &mut S,
        written: &mut dyn FnMut(&mut S) -> Result<(), S::Error>,
    ) -> Result<io::Result<Outcome>, S::Error> {
        let gzip = match done.recv() {
            Ok(Msg::Opened(Ok(gzip))) => gzip,
            Ok(Msg::Opened(Err(e))) => return Ok(Err(e)),
            _ => return Ok(Err(io::Error::other("the input's reader stopped"))),
        };
        let mut waiting: BTreeMap<u64, Item> = BTreeMap::new();
        let mut next = 0;
        loop {
            let item = match waiting.remove(&next) {
                Some(item) => item,
                None => {
                    match done.recv() {
                        Ok(Msg::Piece(item)) => {
                            waiting.insert(item.0.seq, Item::Piece(item));
                        }
                        Ok(Msg::Failed(seq, e)) => {
                            waiting.insert(seq, Item::Failed(e));
                        }
                        Ok(Msg::Opened(_)) => {}
                        Err(_) => {
                            let e = io::Error::other("the input's reader stopped");
                            waiting.insert(next, Item::Failed(e));
                        }
                    }
                    continue;
                }
            };
            next += 1;
            match item {
                Item::Piece(item) => {
                    let (p, spec) = *item;
                    let last = p.last;
                    self.commit(p, spec, sink)?;
                    written(sink)?;
                    let _ = tokens.send(());
                    if last {
                        return Ok(Ok(self.outcome(gzip, None)));
                    }
                }
                Item::Failed(e) => {
                    let withheld = self.end_at_read_error(sink)?;
                    written(sink)?;
                    return Ok(Ok(self.outcome(gzip, Some((e, withheld.0, withheld.1)))));
                }
            }
        }
    }

    /// Whether the worker's redaction `s` of `piece` is the stream's, as
    /// far as learned values go: it started from the stream's set, or from
    /// none and no value of the stream's set occurs in the piece.
    fn holds(&mut self, s: &Spec, piece: &[u8]) -> bool {
        match &s.seed {
            Some(seed) => **seed == self.carried,
            None => !self.occurs(piece),
        }
    }

    /// Whether a value of the stream's set occurs in `piece`.
    fn occurs(&mut self, piece: &[u8]) -> bool {
        if self.checker_stale {
            self.checker.set_to(&self.carried);
            self.checker_stale = false;
        }
        self.checker.occurs(piece)
    }

    /// Has workers start pieces with the stream's current set (`on`), or
    /// with none.
    fn publish(&self, on: bool) {
        if let Ok(mut seed) = self.seed.lock() {
            *seed = on.then(|| Arc::new(self.carried.clone()));
        }
    }

    fn outcome(&mut self, gzip: bool, failed: Option<(io::Error, u64, u64)>) -> Outcome {
        Outcome {
            gzip,
            work: self.work,
            failed,
            pieces: self.pieces,
        }
    }

    /// Writes piece `p`: the worker's output if it is the stream's,
    /// otherwise the piece redacted again by a live redactor.
    fn commit<S: Sink>(
        &mut self,
        p: Piece,
        spec: Option<Spec>,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut spare = Vec::new();
        if self.live.is_none() {
            match spec {
                Some(s) if s.settled && self.holds(&s, p.bytes()) => {
                    let mut to = Shifted {
                        inner: sink,
                        offset: p.offset,
                        line: self.lines,
                    };
                    self.lines += s.lines;
                    replay(&s.out, s.recs, &mut to)?;
                    self.pieces.0 += 1;
                    self.work.add(s.work);
                    if s.seed.is_some() {
                        // The worker started from the stream's set: its
                        // set is the stream's now.
                        self.carried = s.carried;
                        self.checker_stale = true;
                        self.publish(true);
                    } else {
                        self.checker.extend(&s.carried);
                        self.carried.then(s.carried, self.opts.learned_values);
                    }
                    let _ = self.recycle.send((p.buf, s.out));
                    return Ok(());
                }
                Some(s) => {
                    // Seed workers while carried values occur in pieces (a
                    // settled unseeded piece was refused for that; a seeded
                    // one refused may have started from an older set).
                    let occurs = s.settled && (s.seed.is_none() || self.occurs(p.bytes()));
                    self.publish(occurs);
                    spare = s.out;
                }
                None => {}
            }
            let line = self.lines;
            let mut r = Redactor::new(Arc::clone(&self.set), self.opts.clone());
            r.seed_learned(&self.carried);
            self.live = Some(Live {
                r,
                offset: p.offset,
                line,
            });
        }
        self.lines += p.lines();
        self.pieces.1 += 1;
        let l = self.live.as_mut().expect("a live redactor");
        let mut to = Shifted {
            inner: sink,
            offset: l.offset,
            line: l.line,
        };
        l.r.try_write(p.bytes(), &mut to)?;
        if p.last {
            l.r.try_finish(&mut to)?;
        } else {
            l.r.try_flush_idle(&mut to)?;
        }
        if p.last || (!p.cut && l.r.settled()) {
            let l = self.live.take().expect("a live redactor");
            self.carried = l.r.carried();
            self.checker_stale = true;
            if self.seed.lock().is_ok_and(|s| s.is_some()) {
                self.publish(true);
            }
            self.work.add(Work::of(l.r.stats()));
        }
        let _ = self.recycle.send((p.buf, spare));
        Ok(())
    }

    /// Ends a stream cut by a read error as one thread does
    /// ([`end_at_error`]): nothing is held unless a redactor is live.
    /// Returns (input bytes withheld, output bytes withheld).
    fn end_at_read_error<S: Sink>(&mut self, sink: &mut S) -> Result<(u64, u64), S::Error> {
        let Some(mut l) = self.live.take() else {
            return Ok((0, 0));
        };
        let mut to = Shifted {
            inner: sink,
            offset: l.offset,
            line: l.line,
        };
        let (held, withheld) = end_at_error(&mut l.r, &mut to)?;
        let mut work = Work::of(l.r.stats());
        work.bytes_out -= withheld;
        self.work.add(work);
        Ok((held, withheld))
    }
}

/// Gives `sink` what a worker's redactor gave its recorder.
fn replay<S: Sink>(out: &[u8], recs: Vec<Rec>, sink: &mut Shifted<'_, S>) -> Result<(), S::Error> {
    let mut at = 0;
    for rec in recs {
        match rec {
            Rec::Bytes(n) => {
                sink.bytes(&out[at..at + n])?;
                at += n;
            }
            Rec::Finding(f) => sink.finding(f)?,
            Rec::SpanStart(x) => sink.span_start(x)?,
            Rec::SpanEnd(x) => sink.span_end(x)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fingerprint::Fingerprinter;
    use crate::engine::testing::{builtin_rules, github_token};
    use crate::engine::{Collect, Style};

    fn opts(learned: usize) -> Options {
        Options {
            style: Style::Label,
            fingerprinter: Arc::new(Fingerprinter::new(b"pieces-unit-test-key", "t").unwrap()),
            learned_values: learned,
        }
    }

    /// `input` through the pipeline with pieces of `piece` bytes.
    fn piecewise(
        set: &Arc<RuleSet>,
        o: &Options,
        input: &[u8],
        threads: usize,
        piece: usize,
    ) -> (Collect, Outcome) {
        let dir = std::env::temp_dir().join(format!(
            "redactd-pieces-{}-{threads}-{piece}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.log");
        std::fs::write(&path, input).unwrap();
        let mut c = Collect::default();
        let source = Source::File(path);
        let mut nothing = |_: &mut Collect| Ok(());
        let outcome = run(set, o, &source, (threads, piece), &mut c, &mut nothing)
            .unwrap()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (c, outcome)
    }

    /// `input` through the pipeline: asserts it writes what one thread
    /// writes, findings included, and returns how it went.
    fn same_as_one_thread(
        set: &Arc<RuleSet>,
        o: &Options,
        input: &[u8],
        (threads, piece): (usize, usize),
    ) -> Outcome {
        let want = Redactor::redact_all(Arc::clone(set), o.clone(), input);
        let (got, outcome) = piecewise(set, o, input, threads, piece);
        let what = format!("pieces of {piece}, {threads} threads");
        assert_eq!(
            String::from_utf8_lossy(&got.out),
            String::from_utf8_lossy(&want.out),
            "{what}"
        );
        assert_eq!(got.findings, want.findings, "{what}");
        outcome
    }

    /// A stream with what carries across line breaks: PEM bodies and a
    /// Secret map over several lines, learned values met again lines
    /// later (raw and JSON-escaped), CRLF, a line longer than the small
    /// pieces, and no final line break.
    fn tricky() -> Vec<u8> {
        let (a, b, c) = (github_token("p1"), github_token("p2"), github_token("p3"));
        let long = format!("token={} {}", github_token("p4"), "x".repeat(300));
        format!(
            "start ok\ntoken = '{a}' here\nplain line\nsaw {a} again\n\
             key: -----BEGIN RSA PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n\
             WVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n-----END RSA PRIVATE KEY-----\nafter\r\n\
             b={b}\r\n{{\"msg\":\"{b}\"}}\r\ndata:\n  password: aHVudGVyMlNlY3JldA==\n  \
             user: YWRtaW4=\nkind: Secret\n{long}\nc={c}\nx\ny\nz\n{c}\n{a}\n\
             password=Zq8vT3mW9kP2xR7n\nq\nr\nsaw Zq8vT3mW9kP2xR7n\npassword=Kd4sN8bV2cX6zL1m\n\
             s\nt\nu\n{{\"v\":\"Zq8vT3mW9kP2xR7n Kd4sN8bV2cX6zL1m\"}}\nend {b}"
        )
        .into_bytes()
    }

    #[test]
    fn every_piece_size_writes_what_one_thread_writes() {
        let set = builtin_rules();
        for learned in [0, 1, 2, 16] {
            let o = opts(learned);
            let input = tricky();
            let want = Redactor::redact_all(Arc::clone(&set), o.clone(), &input);
            assert!(want.findings.len() >= 8, "{}", want.findings.len());
            for piece in (1..=48).chain([61, 97, 200, 4096]) {
                for threads in [2, 3] {
                    let outcome = same_as_one_thread(&set, &o, &input, (threads, piece));
                    let what = format!("learned {learned}, pieces of {piece}, {threads} threads");
                    assert_eq!(outcome.work.bytes_in, input.len() as u64, "{what}");
                    assert_eq!(outcome.work.bytes_out, want.out.len() as u64, "{what}");
                    if piece >= 61 {
                        assert!(outcome.pieces.0 > 0, "{what}: no worker's piece used");
                    }
                }
            }
        }
    }

    #[test]
    fn workers_do_the_work_unless_a_carried_value_recurs() {
        let set = builtin_rules();
        let o = opts(16);
        // Distinct tokens, each once: every piece after a line break is a
        // worker's.
        let mut input = String::new();
        for i in 0..200 {
            input.push_str(&format!(
                "line {i} token={}\nok\n",
                github_token(&format!("w{i}"))
            ));
        }
        let outcome = same_as_one_thread(&set, &o, input.as_bytes(), (2, 256));
        let (used, redone) = outcome.pieces;
        assert!(used > 30 && redone == 0, "{used} used, {redone} redone");
        // A token still held met again in a later piece: that piece is
        // redone, its copy redacted as the stream's learned value.
        let again = format!(
            "{input}{}\nbare {}\n",
            "x\n".repeat(300),
            github_token("w199")
        );
        let outcome = same_as_one_thread(&set, &o, again.as_bytes(), (2, 256));
        assert!(outcome.pieces.1 >= 1, "{:?}", outcome.pieces);
    }

    #[test]
    fn a_value_on_every_line_is_carried_into_the_workers() {
        let set = builtin_rules();
        for learned in [1, 16] {
            let o = opts(learned);
            // The same learned value on every line (and a second one now
            // and then): workers start from the stream's set once the
            // committer sees the value keeps coming back.
            let mut input = String::new();
            for i in 0..6000 {
                input.push_str(&format!("login password=Zq8vT3mW9kP2xR7n from {i}\n"));
                if i % 2000 == 0 {
                    input.push_str(&format!("token={}\n", github_token(&format!("e{i}"))));
                }
            }
            let outcome = same_as_one_thread(&set, &o, input.as_bytes(), (2, 4096));
            let (used, redone) = outcome.pieces;
            // Each new value costs the pieces already started (at most
            // 2 N + 2) and the one that meets it first.
            assert!(
                used > 2 * redone,
                "learned {learned}: {used} used, {redone} redone"
            );
        }
    }

    #[test]
    fn a_line_longer_than_a_piece_goes_through_in_order() {
        let set = builtin_rules();
        let o = opts(16);
        let tok = github_token("long");
        let line = format!("{} password={tok} {}", "a".repeat(5000), "b".repeat(5000));
        let input = format!("{line}\n{line}\nshort {tok}\n");
        let outcome = same_as_one_thread(&set, &o, input.as_bytes(), (2, 1000));
        assert!(outcome.pieces.1 >= 10, "{:?}", outcome.pieces);
    }

    #[test]
    fn an_input_that_cannot_be_opened_is_an_error_of_its_own() {
        let set = builtin_rules();
        let mut c = Collect::default();
        let source = Source::File("/nonexistent/redactd-pieces".into());
        let mut nothing = |_: &mut Collect| Ok(());
        let r = run(&set, &opts(16), &source, (2, 64), &mut c, &mut nothing).unwrap();
        assert!(r.is_err());
        assert!(c.out.is_empty());
    }
}

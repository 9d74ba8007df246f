//! Screens: a cheap test that no match of a rule can start near a keyword
//! hit, before the rule's own regex runs.
//!
//! A rule's regex resolves capture groups and bounded repetitions exactly,
//! which is what makes it costly: a lazy DFA over `[A-Za-z0-9_-]{8,1024}`
//! needs a state per count, so on hostile input its cache thrashes and the
//! search falls back to the PikeVM, and every keyword hit re-runs it over the
//! same window. A screen is a lazy DFA over a *relaxed* form of the regex:
//! capture groups dropped and every repetition with an upper bound above
//! [`RELAX_ABOVE`] made unbounded (`x{8,1024}` becomes `x{8,}`). Its language
//! contains the regex's, so "no screen match here" proves "no rule match
//! here"; a screen match only means the regex must run. Its DFA stays small
//! (no counters), so it neither thrashes nor gives up on any input seen.
//!
//! **Escaped forms.** Rules match decoded text where a window holds JSON
//! escapes (see [`super::escape`]), but a screen walks raw bytes. So each
//! rule has two screens: the plain one, for windows without escaped forms,
//! and an escaped one whose language also takes every escaped form of `/`,
//! `+` and `=` wherever the regex takes the byte, and which drops word
//! boundaries (the raw byte before a position, the `f` of `\u002f`, is not
//! the character the regex sees there). Both are built on first use
//! ([`Screens`]): most rules never need the second, and a rule set loads no
//! faster for screens it never walks.
//!
//! **One walk per rule and stream.** A [`Walk`] runs the screen unanchored
//! over a rule's keyword hits in stream order and keeps its state between
//! hits, so overlapping windows of a dense run of hits (`eyJeyJeyJ…`) are
//! walked once, not once per hit. A walk stops early once every thread that
//! began at or before the hit has died, which the DFA shows by returning to
//! a start state, or to the state a walk begun one byte before would have
//! (a screen whose threads can re-enter those states never stops early: see
//! [`Ages`]); while threads
//! live it walks on past the hit's window, up to the end of the line or of
//! what is buffered, so that one walk can clear the hits after it too
//! ([`Probe::Clear`]).
//!
//! **Memory.** Each screen keeps a lazy DFA cache per thread that walks it,
//! of at most [`SCREEN_CACHE`] bytes, made on the first walk; all of them
//! together, in the process, are capped at [`SCREEN_CACHES_TOTAL`] (a cache
//! that finds the total over the cap after a walk is dropped; the screen's
//! next walk starts a fresh one). The cap costs speed, never a match.

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::nfa::thompson::{self, WhichCaptures, NFA};
use regex_automata::util::pool::Pool;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::{Hir, HirKind, Look, Repetition};

use super::analyze::can_match;
use super::escape;

/// Repetitions with an upper bound above this become unbounded in a screen.
pub const RELAX_ABOVE: u32 = 8;

/// Cap on one screen's lazy DFA cache, per thread. Most screens hold a few
/// dozen states, but a line of every keyword takes the generic rules'
/// screens past 64 KiB, and a cache cleared on every such line spent a
/// third of the time determinizing (8 MB of it: 0.65 s at 64 KiB, 0.36 s
/// at this cap). All screens' caches together stay within
/// [`SCREEN_CACHES_TOTAL`].
const SCREEN_CACHE: usize = 256 << 10;

/// Cap on the heap bytes of every screen's lazy DFA caches together, in the
/// process (every rule set, every thread), as the caches count them: a
/// cache that finds the total over the cap after a walk is dropped, and the
/// screen's next walk starts on a fresh one (slower, never wrong). With the
/// built-in rules every input measured stays under 2 MiB; without the cap,
/// a cache per screen, two screens per rule and [`SCREEN_CACHE`] each could
/// reach about 100 MiB per thread with the default rules.
pub const SCREEN_CACHES_TOTAL: usize = 4 << 20;

/// Heap bytes of every screen's caches, as last counted (see
/// [`SCREEN_CACHES_TOTAL`]).
static CACHED: AtomicUsize = AtomicUsize::new(0);

/// Heap bytes of every screen's lazy DFA caches in the process, as last
/// counted (at most [`SCREEN_CACHES_TOTAL`] and one cache's growth per
/// thread walking).
pub fn caches_total() -> usize {
    CACHED.load(Ordering::Relaxed)
}

/// A rule's screens, each built on first use from the rule's regex as
/// written (parsed as rules are, so from the very HIR its regex is compiled
/// from: a screen built from anything else could miss matches).
pub struct Screens {
    pattern: Box<str>,
    plain: OnceLock<Option<Screen>>,
    escaped: OnceLock<Option<Screen>>,
}

impl std::fmt::Debug for Screens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screens")
            .field("plain", &self.plain.get())
            .field("escaped", &self.escaped.get())
            .finish_non_exhaustive()
    }
}

impl Screens {
    /// The screens of the rule whose regex is `pattern`; nothing is built
    /// yet.
    pub fn new(pattern: &str) -> Screens {
        Screens {
            pattern: pattern.into(),
            plain: OnceLock::new(),
            escaped: OnceLock::new(),
        }
    }

    /// The screen for windows with escaped forms (`escaped`) or without,
    /// built now if it was not yet; `None` if it cannot be built (the
    /// engine then runs the regex at every hit).
    pub fn get(&self, escaped: bool) -> Option<&Screen> {
        let cell = if escaped { &self.escaped } else { &self.plain };
        cell.get_or_init(|| {
            let hir = super::compile::parse(&self.pattern).ok()?;
            Screen::new(&hir, escaped)
        })
        .as_ref()
    }

    /// Heap bytes of the screens built so far (caches not counted).
    pub fn memory_usage(&self) -> usize {
        [&self.plain, &self.escaped]
            .into_iter()
            .filter_map(|c| c.get().and_then(Option::as_ref))
            .map(|s| s.memory)
            .sum()
    }
}

/// A thread's cache of one screen, with an id unique in the process so a
/// walk can tell whether it is still on the cache its state came from.
struct Scratch {
    id: u64,
    cache: Cache,
    /// The cache's clear count when its start states were last made.
    primed: Option<usize>,
    /// The bytes of this cache counted in [`CACHED`]: the most it has held
    /// (a cleared cache keeps its allocations).
    counted: usize,
}

impl Scratch {
    fn new(dfa: &DFA) -> Scratch {
        Scratch {
            id: NEXT_SCRATCH.fetch_add(1, Ordering::Relaxed),
            cache: dfa.create_cache(),
            primed: None,
            counted: 0,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        CACHED.fetch_sub(self.counted, Ordering::Relaxed);
    }
}

/// A thread's slot for a screen's cache: empty until a walk needs it, and
/// again once the cache was dropped to keep within [`SCREEN_CACHES_TOTAL`].
type Slot = Option<Scratch>;

type CacheFn = Box<dyn Fn() -> Slot + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Ids of scratch caches; 0 is never one, so a fresh [`Walk`] matches none.
static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(1);

/// One screen of one rule: see the module docs.
pub struct Screen {
    dfa: DFA,
    caches: Pool<Slot, CacheFn>,
    /// What a walk's state shows about the age of its threads.
    ages: Ages,
    /// Heap bytes of the NFA.
    memory: usize,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen")
            .field("ages", &self.ages)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

/// What a probe is asked, in stream offsets: whether a match of the rule
/// may start in `s..=k` and end by `w`.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// Earliest start that counts.
    pub s: u64,
    /// Latest start that counts (the hit).
    pub k: u64,
    /// A match that counts ends at or before this.
    pub w: u64,
    /// The walk may go on up to and including the byte at this offset
    /// (at least `w`) while threads live, to clear later hits.
    pub ahead: u64,
    /// The walk goes on to here even where every thread has died, to clear
    /// the later hits of a dense run in bulk; past it, and past `k`, it
    /// stops once the threads begun by `k` have died.
    pub keep_to: u64,
    /// The rule's shortest match.
    pub min_len: usize,
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// No match of the rule starts in `s..=k` and ends by `w`; no screen
    /// match that starts at or after `s` ends before `walked`; and every
    /// thread begun before `dead` has died. So no rule match starts in
    /// `s..dead`, in `s..walked - max_len`, nor before a line break the
    /// walk passed.
    Clear {
        /// Every byte before this was walked.
        walked: u64,
        /// Every thread begun before this (and at or after `s`) died.
        dead: u64,
    },
    /// The screen matched: the rule's regex must decide.
    Maybe,
}

impl Screen {
    /// The screen of the rule whose regex parsed to `hir`, for windows
    /// without escaped forms or (`escaped`) with them. `None` if the relaxed
    /// regex cannot be built as a lazy DFA.
    pub fn new(hir: &Hir, escaped: bool) -> Option<Screen> {
        let relaxed = relax(hir, escaped);
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .utf8(false)
                    .shrink(true),
            )
            .build_from_hir(&relaxed)
            .ok()?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .specialize_start_states(true)
                    .cache_capacity(SCREEN_CACHE)
                    .skip_cache_capacity_check(true)
                    .minimum_cache_clear_count(None),
            )
            .build_from_nfa(nfa.clone())
            .ok()?;
        let create: CacheFn = Box::new(|| None);
        Some(Screen {
            ages: ages(&nfa),
            memory: nfa.memory_usage(),
            caches: Pool::new(create),
            dfa,
        })
    }

    /// Whether a walk of this screen can never stop before the end of its
    /// window (see [`Ages`]).
    pub fn reentrant(&self) -> bool {
        self.ages.reentrant
    }

    /// Whether a walk of this screen stops where the threads begun a byte
    /// before have died, not only where every thread has (see [`Ages`]).
    pub fn young(&self) -> bool {
        self.ages.young
    }

    /// Heap bytes of the compiled screen (caches not counted).
    pub fn memory_usage(&self) -> usize {
        self.memory
    }

    /// Heap bytes of this thread's cache of the screen, and how often it
    /// was cleared.
    pub fn cache_usage(&self) -> (usize, usize) {
        let g = self.caches.get();
        g.as_ref()
            .map_or((0, 0), |s| (s.cache.memory_usage(), s.cache.clear_count()))
    }
}

/// The relaxed form of `hir`: no capture groups, and repetitions bounded
/// above [`RELAX_ABOVE`] unbounded; for windows with escaped forms
/// (`escaped`), also every escaped form of a byte in [`escape::ESCAPED`]
/// wherever `hir` takes the byte, and no word boundaries. Its language
/// contains `hir`'s (in raw bytes, where the rule matches decoded text).
pub fn relax(hir: &Hir, escaped: bool) -> Hir {
    let go = |h: &Hir| relax(h, escaped);
    match hir.kind() {
        HirKind::Empty => hir.clone(),
        HirKind::Look(look) if escaped && !line_look(*look) => Hir::empty(),
        HirKind::Look(_) => hir.clone(),
        HirKind::Literal(lit) if escaped => Hir::concat(
            lit.0
                .iter()
                .map(|&b| with_forms(Hir::literal([b])))
                .collect(),
        ),
        HirKind::Class(_) if escaped => with_forms(hir.clone()),
        HirKind::Literal(_) | HirKind::Class(_) => hir.clone(),
        HirKind::Capture(c) => go(&c.sub),
        HirKind::Concat(v) => Hir::concat(v.iter().map(go).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(go).collect()),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min.min(RELAX_ABOVE),
            max: r.max.filter(|&m| m <= RELAX_ABOVE),
            greedy: true,
            sub: Box::new(go(&r.sub)),
        }),
    }
}

/// Whether `look` asserts a line or text boundary (kept in an escaped
/// screen: escaped forms hold no line break), not a word boundary.
fn line_look(look: Look) -> bool {
    matches!(
        look,
        Look::Start | Look::End | Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF
    )
}

/// `atom` (one byte or a class), or any escaped form of a byte of
/// [`escape::ESCAPED`] it takes.
fn with_forms(atom: Hir) -> Hir {
    let forms: Vec<Hir> = escape::ESCAPED
        .iter()
        .filter(|&&b| can_match(&atom, b))
        .flat_map(|&b| escape::forms(b))
        .map(Hir::literal)
        .collect();
    if forms.is_empty() {
        return atom;
    }
    Hir::alternation(std::iter::once(atom).chain(forms).collect())
}

/// What a walk's state tells about the age of its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ages {
    /// A thread that has consumed bytes can be in a state of a start
    /// state's set, so a return to a start state is no proof that older
    /// threads died.
    reentrant: bool,
    /// Not reentrant, and no thread that has consumed two bytes or more can
    /// be in a state one that consumed a single byte can be in: a walk whose
    /// state is what a walk begun one byte ago would have holds no older
    /// thread. Rules that begin with a byte of context (`(?:^|[^a-z])`)
    /// never return to a start state (a thread has always just consumed
    /// that byte), but return to that one.
    young: bool,
}

/// The [`Ages`] of a screen's NFA. Conservative: states are followed
/// through epsilon moves and every look-around, except that in a start
/// state's set line-start assertions are not passed (a thread that consumed
/// a byte never stands at a line start, since no rule matches `\r` or
/// `\n`).
fn ages(nfa: &NFA) -> Ages {
    use regex_automata::util::look::Look;
    use regex_automata::util::primitives::StateID;
    use thompson::State;
    let n = nfa.states().len();
    // Every state reachable from `from`: through epsilon moves only (line
    // starts passed if `line_starts`), or through any transition.
    let reach = |from: &[StateID], line_starts: bool, bytes: bool| {
        let mut seen = vec![false; n];
        let mut stack = from.to_vec();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.as_usize()], true) {
                continue;
            }
            match nfa.state(id) {
                State::Look { look, next } => {
                    let line_start = matches!(look, Look::Start | Look::StartLF | Look::StartCRLF);
                    if !line_start || line_starts || bytes {
                        stack.push(*next);
                    }
                }
                State::Capture { next, .. } => stack.push(*next),
                State::Union { alternates } => stack.extend(alternates.iter().copied()),
                State::BinaryUnion { alt1, alt2 } => stack.extend([*alt1, *alt2]),
                _ if bytes => stack.extend(byte_targets(nfa, id)),
                _ => {}
            }
        }
        seen
    };
    // The targets of the byte transitions of the states in `set`.
    let step = |set: &[bool]| -> Vec<StateID> {
        (0..n)
            .filter(|&i| set[i])
            .flat_map(|i| byte_targets(nfa, StateID::must(i)))
            .collect()
    };
    let meet = |a: &[bool], b: &[bool]| a.iter().zip(b).any(|(&x, &y)| x && y);
    let start = nfa.start_anchored();
    let d0 = reach(&[start], false, false);
    let first = step(&reach(&[start], true, false));
    let after1 = reach(&first, true, true);
    let after2 = reach(&step(&reach(&first, true, false)), true, true);
    // A young state is only looked for after a byte that is not a line
    // break: the young thread did not begin at a line start (older ones
    // may have).
    let d1 = reach(&step(&d0), true, false);
    let reentrant = meet(&d0, &after1);
    Ages {
        reentrant,
        young: !reentrant && !meet(&d1, &after2),
    }
}

/// Where the byte transitions of NFA state `id` lead.
fn byte_targets(
    nfa: &NFA,
    id: regex_automata::util::primitives::StateID,
) -> Vec<regex_automata::util::primitives::StateID> {
    use thompson::State;
    match nfa.state(id) {
        State::ByteRange { trans } => vec![trans.next],
        State::Sparse(st) => st.transitions.iter().map(|t| t.next).collect(),
        State::Dense(d) => d.transitions.to_vec(),
        _ => Vec::new(),
    }
}

/// Where one rule's screen walk over a stream stands, kept by the stream
/// between hits so that no byte is walked twice. Positions are stream
/// offsets. A walk is only resumed on the cache it was made with, if that
/// cache has not been cleared since, and for hits whose earliest start is
/// at or after where it began; otherwise it starts over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Walk {
    /// The cache the state belongs to, and its clear count then.
    cache: u64,
    clears: usize,
    /// Where the walk began: it holds threads begun at every position
    /// from here to `pos`.
    origin: u64,
    /// Next stream position to feed, when `sid` is set.
    pos: u64,
    /// Every thread begun before this has died, having ended no match that
    /// counted (the walk stood in a start state just before it).
    dead: u64,
    /// The walk's state; `None` before it starts.
    sid: Option<LazyStateID>,
    /// End of the last screen match the walk passed.
    last_match: Option<u64>,
    /// Where the rule's hits are dense (see [`Walk::dense`]): the last hit
    /// asked about, the first hit of its run, and the furthest byte any of
    /// the rule's walks, anchored or not, reached. Kept when the walk starts
    /// over.
    hits: Hits,
}

/// See [`Walk::hits`].
#[derive(Debug, Clone, Copy, Default)]
struct Hits {
    last: Option<u64>,
    run: u64,
    reach: u64,
    /// Hits of the run so far, asked about or passed ([`Walk::passed`]).
    count: u64,
}

/// Hits of one rule at most this far apart are dense (see
/// [`Walk::dense`]).
pub const DENSE: u64 = 64;

impl Walk {
    /// Whether the hit at `k` is dense, and if so how far past its window
    /// to walk on; records `k`. A hit is dense when it follows the rule's
    /// last one within [`DENSE`] bytes, or lies where an earlier walk or
    /// anchored try of the rule already reached or within [`DENSE`] bytes
    /// after (the hits a walk cleared in bulk were never asked about, so the
    /// last one asked about may lie far behind): one walk that goes on then
    /// beats tries that each cover the same bytes again. Walking on past
    /// a window pays off only where more hits follow, so a walk goes on as
    /// far past it as the run of dense hits has lasted, and only while the
    /// run's hits average at most [`DENSE`] bytes apart: a line where the
    /// rule's keyword comes back every few hundred bytes (a soup of every
    /// keyword) is probed hit by hit, each walk stopping where its threads
    /// die, instead of walked whole once per rule.
    pub fn dense(&mut self, k: u64) -> Option<u64> {
        let h = &mut self.hits;
        let near = h.last.is_some_and(|l| k - l <= DENSE) || k < h.reach + DENSE;
        h.last = Some(k);
        h.count += 1;
        if !near || k - h.run > h.count * DENSE {
            h.run = k;
            h.count = 0;
            return None;
        }
        Some(k - h.run)
    }

    /// Records a hit of the rule that an earlier walk cleared, so it was
    /// never asked about: it still counts in the run's density.
    pub fn passed(&mut self) {
        self.hits.count += 1;
    }
}

/// A haystack: the stream's bytes `[base, base + bytes.len())`.
#[derive(Debug, Clone, Copy)]
pub struct Window<'h> {
    /// The bytes.
    pub bytes: &'h [u8],
    /// Stream offset of `bytes[0]`.
    pub base: u64,
    /// Whether the bytes end the stream.
    pub eof: bool,
}

impl Window<'_> {
    fn at(&self, pos: u64) -> usize {
        (pos - self.base) as usize
    }

    fn end(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }
}

impl Screen {
    /// Answers `ask` (see [`Ask`] and [`Probe`]), resuming `walk` where it
    /// can. The window holds the byte before `ask.s` (context; absent only
    /// at the stream's start) and every byte up to `ask.ahead`, and a
    /// counting match must end at or before its end. Calls with one `walk`
    /// must come in stream order of hits. Adds the bytes walked to `fed`.
    pub fn probe(&self, walk: &mut Walk, win: Window<'_>, ask: Ask, fed: &mut u64) -> Probe {
        let mut guard = self.caches.get();
        let scratch = guard.get_or_insert_with(|| Scratch::new(&self.dfa));
        let found = self.probe_on(scratch, walk, win, ask, fed);
        settle(&mut guard);
        found
    }

    /// [`probe`](Self::probe) on this thread's `scratch`.
    fn probe_on(
        &self,
        scratch: &mut Scratch,
        walk: &mut Walk,
        win: Window<'_>,
        ask: Ask,
        fed: &mut u64,
    ) -> Probe {
        debug_assert!(ask.s <= ask.k && ask.k <= ask.w && ask.w <= ask.ahead.max(ask.w));
        let relevant = |end: u64| end >= ask.s + ask.min_len as u64;
        self.prime(scratch);
        let resume = walk.sid.filter(|_| {
            walk.origin <= ask.s
                && walk.pos >= ask.s
                && walk.cache == scratch.id
                && walk.clears == scratch.cache.clear_count()
        });
        if resume.is_some() {
            // Ends the walk passed and found irrelevant for an earlier hit
            // are irrelevant for this one; a relevant one stopped it.
            if let Some(e) = walk.last_match.filter(|&e| relevant(e)) {
                return if e <= ask.w {
                    Probe::Maybe
                } else {
                    Probe::Clear {
                        walked: e,
                        dead: walk.dead,
                    }
                };
            }
        }
        let cache = &mut scratch.cache;
        let sid = match resume {
            Some(sid) => sid,
            None => {
                let behind = (ask.s > win.base).then(|| win.bytes[win.at(ask.s) - 1]);
                debug_assert!(
                    ask.s == 0 || behind.is_some(),
                    "no context before {}",
                    ask.s
                );
                let cfg = start::Config::new()
                    .anchored(Anchored::No)
                    .look_behind(behind);
                *walk = Walk {
                    cache: scratch.id,
                    origin: ask.s,
                    pos: ask.s,
                    dead: ask.s,
                    hits: walk.hits,
                    ..Walk::default()
                };
                match self.dfa.start_state(cache, &cfg) {
                    Ok(sid) => sid,
                    Err(_) => return give_up(walk),
                }
            }
        };
        let before = walk.pos;
        let found = self.walk_on(walk, sid, cache, win, ask);
        *fed += walk.pos - before;
        found
    }

    /// Makes every unanchored start state in a fresh (or cleared) cache
    /// before any other state. A walk whose threads have all died stands in
    /// the start state for the byte it stands after, and the cache tags a
    /// state as a start state only if it was made as one; one first reached
    /// by a transition would not be, and the walk would not stop.
    fn prime(&self, scratch: &mut Scratch) {
        let clears = scratch.cache.clear_count();
        if scratch.primed == Some(clears) {
            return;
        }
        for behind in [None, Some(b'\n'), Some(b'\r'), Some(b'a'), Some(b' ')] {
            let cfg = start::Config::new()
                .anchored(Anchored::No)
                .look_behind(behind);
            // A start state that cannot be made is made at the walk's
            // start, or the walk gives up there.
            let _ = self.dfa.start_state(&mut scratch.cache, &cfg);
        }
        scratch.primed = Some(clears);
    }

    /// Feeds bytes from `walk.pos` on (see [`probe`](Self::probe)).
    fn walk_on(
        &self,
        walk: &mut Walk,
        mut sid: LazyStateID,
        cache: &mut Cache,
        win: Window<'_>,
        ask: Ask,
    ) -> Probe {
        let hay = win.bytes;
        let stop = (win.at(ask.ahead.max(ask.w)) + 1).min(hay.len());
        let mut at = win.at(walk.pos);
        // From the byte after `k` (and `keep_to`) on, a young state shows
        // that the threads begun by the byte before it have died.
        let early = win.at(ask.k.max(ask.keep_to)) + 2;
        let mut young = Young::new(self, cache);
        let found = loop {
            if at >= stop {
                break None;
            }
            sid = match self.dfa.next_state(cache, sid, hay[at]) {
                Ok(sid) => sid,
                Err(_) => return give_up(walk),
            };
            at += 1;
            if at >= early && !sid.is_tagged() {
                match young.is(self, cache, sid, &hay[at - 2..at]) {
                    Some(false) => {}
                    Some(true) => {
                        let p = win.base + at as u64 - 1;
                        walk.dead = p;
                        break Some(Probe::Clear {
                            walked: p + 1,
                            dead: p,
                        });
                    }
                    // The cache was cleared under the walk's state.
                    None => return give_up(walk),
                }
            }
            if !sid.is_tagged() {
                continue;
            }
            // The byte just fed is at stream offset `p`.
            let p = win.base + at as u64 - 1;
            if let Some(found) = self.tagged(walk, sid, p, ask) {
                break Some(found);
            }
        };
        walk.pos = win.base + at as u64;
        walk.hits.reach = walk.hits.reach.max(walk.pos);
        walk.sid = Some(sid);
        walk.clears = cache.clear_count();
        if let Some(found) = found {
            return found;
        }
        if win.eof && at == hay.len() {
            return self.at_eoi(walk, sid, cache, win, ask);
        }
        Probe::Clear {
            walked: walk.pos,
            dead: walk.dead,
        }
    }

    /// What the walk learns from the tagged state `sid` it reached with the
    /// byte at `p`: a match ending there, or that every thread begun by `p`
    /// died; `Some` when that answers the probe.
    fn tagged(&self, walk: &mut Walk, sid: LazyStateID, p: u64, ask: Ask) -> Option<Probe> {
        let relevant = |end: u64| end >= ask.s + ask.min_len as u64;
        if sid.is_match() {
            // A match ends at `p` (matches show one byte late).
            walk.last_match = Some(p);
            if relevant(p) {
                return Some(if p <= ask.w {
                    Probe::Maybe
                } else {
                    Probe::Clear {
                        walked: p,
                        dead: walk.dead,
                    }
                });
            }
        } else if sid.is_dead() || (sid.is_start() && !self.ages.reentrant) {
            // Every thread that began at or before `p` has died.
            walk.dead = p + 1;
            if p >= ask.k.max(ask.keep_to) {
                return Some(Probe::Clear {
                    walked: p + 1,
                    dead: p + 1,
                });
            }
        }
        None
    }

    /// The walk, in state `sid`, has fed every byte of the stream: a match
    /// may end at its end.
    fn at_eoi(
        &self,
        walk: &mut Walk,
        sid: LazyStateID,
        cache: &mut Cache,
        win: Window<'_>,
        ask: Ask,
    ) -> Probe {
        let end = win.end();
        match self.dfa.next_eoi_state(cache, sid) {
            Ok(eoi) if eoi.is_match() => {
                walk.last_match = Some(end);
                if end >= ask.s + ask.min_len as u64 && end <= ask.w {
                    return Probe::Maybe;
                }
            }
            Ok(_) => {}
            Err(_) => return give_up(walk),
        }
        Probe::Clear {
            walked: walk.pos,
            dead: walk.dead,
        }
    }

    /// The end of the longest screen match starting exactly at `p` and
    /// ending at or before `w`, or `None` if there is none: a bound on where
    /// any rule match starting at `p` can end. `Some(w)` when the screen
    /// cannot tell. The window holds context as for [`probe`](Self::probe).
    /// Adds the bytes walked to `fed`, and notes how far it went in `walk`
    /// (see [`Walk::dense`]).
    pub fn anchored_end(
        &self,
        walk: &mut Walk,
        win: Window<'_>,
        p: u64,
        w: u64,
        fed: &mut u64,
    ) -> Option<u64> {
        let mut end = None;
        self.anchored_ends(walk, win, (p, p, w), fed, |_, e| {
            end = Some(e);
            true
        });
        end
    }

    /// For each start `p` in `first..=last` (`at`, with `w`) in turn, the
    /// [`anchored_end`](Self::anchored_end) from `p`, passed to `each` when
    /// there is one, until `each` says to stop; whether it did. One cache
    /// and its start states serve every try.
    pub fn anchored_ends(
        &self,
        walk: &mut Walk,
        win: Window<'_>,
        at: (u64, u64, u64),
        fed: &mut u64,
        each: impl FnMut(u64, u64) -> bool,
    ) -> bool {
        let mut guard = self.caches.get();
        let scratch = guard.get_or_insert_with(|| Scratch::new(&self.dfa));
        let stopped = self.anchored_on(&mut scratch.cache, walk, win, at, fed, each);
        settle(&mut guard);
        stopped
    }

    /// [`anchored_ends`](Self::anchored_ends) on this thread's `cache`.
    fn anchored_on(
        &self,
        cache: &mut Cache,
        walk: &mut Walk,
        win: Window<'_>,
        at: (u64, u64, u64),
        fed: &mut u64,
        mut each: impl FnMut(u64, u64) -> bool,
    ) -> bool {
        let (first, last, w) = at;
        let mut starts: [Option<LazyStateID>; 5] = [None; 5];
        for p in first..=last {
            let behind = (p > win.base).then(|| win.bytes[win.at(p) - 1]);
            let kind = match behind {
                None => 0,
                Some(b'\n') => 1,
                Some(b'\r') => 2,
                Some(b) if b.is_ascii_alphanumeric() || b == b'_' => 3,
                Some(_) => 4,
            };
            let clears = cache.clear_count();
            let start = match starts[kind] {
                Some(s) => Ok(s),
                None => {
                    let cfg = start::Config::new()
                        .anchored(Anchored::Yes)
                        .look_behind(behind);
                    self.dfa.start_state(cache, &cfg)
                }
            };
            let end = match start {
                Ok(sid) => self.end_from(cache, sid, win, p, w, fed),
                Err(_) => Some(w),
            };
            // Start states made before a clear are stale after it.
            starts = match cache.clear_count() == clears {
                true => starts,
                false => [None; 5],
            };
            if let (Ok(sid), true) = (start, cache.clear_count() == clears) {
                starts[kind] = Some(sid);
            }
            walk.hits.reach = walk.hits.reach.max(p);
            if let Some(e) = end {
                walk.hits.reach = walk.hits.reach.max(e);
                if each(p, e) {
                    return true;
                }
            }
        }
        false
    }

    /// The anchored walk of [`anchored_end`](Self::anchored_end) from start
    /// state `sid` at `p`.
    fn end_from(
        &self,
        cache: &mut Cache,
        mut sid: LazyStateID,
        win: Window<'_>,
        p: u64,
        w: u64,
        fed: &mut u64,
    ) -> Option<u64> {
        let hay = win.bytes;
        let (from, end) = (win.at(p), (win.at(w) + 1).min(hay.len()));
        let mut at = from;
        let mut last = None;
        let mut dead = sid.is_dead();
        while at < end && !dead {
            let Ok(next) = self.dfa.next_state(cache, sid, hay[at]) else {
                return Some(w);
            };
            sid = next;
            at += 1;
            if sid.is_match() {
                // A match ends at the byte just fed (matches show one late).
                last = Some(win.base + at as u64 - 1);
            }
            dead = sid.is_dead();
        }
        *fed += (at - from) as u64;
        if !dead && win.eof && at == hay.len() {
            match self.dfa.next_eoi_state(cache, sid) {
                Ok(eoi) if eoi.is_match() => last = Some(win.end()),
                Ok(_) => {}
                Err(_) => return Some(w),
            }
        }
        last
    }
}

/// The states of walks begun one byte before, for [`Ages::young`]
/// screens: the start state after a word byte and after another byte (not
/// a line break), by the cache's clear count (a cleared cache makes new
/// ones).
struct Young {
    on: bool,
    clears: usize,
    starts: [Option<LazyStateID>; 2],
}

impl Young {
    fn new(screen: &Screen, cache: &Cache) -> Young {
        Young {
            on: screen.ages.young,
            clears: cache.clear_count(),
            starts: [None; 2],
        }
    }

    /// Whether `sid`, after `pair` (the byte before the last fed, and the
    /// last), is the state of a walk begun at the last byte: if so every
    /// thread begun before it has died. `None` if finding out cleared the
    /// cache, which leaves `sid` stale.
    fn is(
        &mut self,
        screen: &Screen,
        cache: &mut Cache,
        sid: LazyStateID,
        pair: &[u8],
    ) -> Option<bool> {
        if !self.on {
            return Some(false);
        }
        if cache.clear_count() != self.clears {
            *self = Young::new(screen, cache);
        }
        let (before, last) = (pair[0], pair[1]);
        let kind = match before {
            // See `ages`: never at a line start (where every thread died
            // anyway).
            b'\n' | b'\r' => return Some(false),
            b if b.is_ascii_alphanumeric() || b == b'_' => 0,
            _ => 1,
        };
        let start = match self.starts[kind] {
            Some(s) => s,
            None => {
                let cfg = start::Config::new()
                    .anchored(Anchored::No)
                    .look_behind(Some(before));
                let s = screen.dfa.start_state(cache, &cfg).ok()?;
                self.starts[kind] = Some(s);
                s
            }
        };
        let y = screen.dfa.next_state(cache, start, last).ok()?;
        (cache.clear_count() == self.clears).then_some(y == sid)
    }
}

/// Counts the growth of the cache in `slot` into [`CACHED`], and drops the
/// cache if the total is then over [`SCREEN_CACHES_TOTAL`]: the screen's
/// next walk on this thread makes a fresh one, with a new id, so walks made
/// on this one start over (see [`Walk`]).
fn settle(slot: &mut Slot) {
    let Some(scratch) = slot else { return };
    let now = scratch.cache.memory_usage();
    if now <= scratch.counted {
        return;
    }
    let grew = now - scratch.counted;
    scratch.counted = now;
    if CACHED.fetch_add(grew, Ordering::Relaxed) + grew > SCREEN_CACHES_TOTAL {
        // Its count goes with it.
        *slot = None;
    }
}

/// The screen could not run (its cache gave out): everything is a
/// candidate, and the walk starts over at the next probe.
fn give_up(walk: &mut Walk) -> Probe {
    walk.sid = None;
    Probe::Maybe
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Matcher, RuleSetBuilder};

    fn screen(pattern: &str, escaped: bool) -> Screen {
        let hir = crate::rules::compile::parse(pattern).expect("pattern parses");
        Screen::new(&hir, escaped).expect("screen builds")
    }

    fn window(hay: &[u8]) -> Window<'_> {
        Window {
            bytes: hay,
            base: 0,
            eof: true,
        }
    }

    /// Probes a fresh walk for a hit at `k` whose matches start in `s..=k`
    /// and end by `w`, walking no further.
    fn probe(sc: &Screen, hay: &[u8], s: u64, k: u64, w: u64) -> Probe {
        let ask = Ask {
            s,
            k,
            w,
            ahead: w,
            keep_to: k,
            min_len: 1,
        };
        sc.probe(&mut Walk::default(), window(hay), ask, &mut 0)
    }

    fn clear(p: Probe) -> bool {
        matches!(p, Probe::Clear { .. })
    }

    /// Every match of every built-in rule's regex, in its examples and
    /// negative examples (with and without their `/`, `+` and `=`
    /// escaped), is a screen match: anchored at its start, the screen
    /// reaches at least its end, and a probe of its start says `Maybe`. A
    /// screen that missed one would make the engine skip a secret.
    #[test]
    fn screens_contain_their_rules() {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        let set = b.build().expect("built-in rules");
        for rule in set.rules() {
            // Derived `-truncated` rules match without a regex.
            if !matches!(rule.matcher, Matcher::Regex(_)) {
                assert!(rule.screens.is_none());
                continue;
            }
            let screens = rule
                .screens
                .as_deref()
                .expect("a rule with a regex has screens");
            let inputs = rule
                .examples
                .iter()
                .map(|e| e.input.clone())
                .chain(rule.negative_examples.iter().cloned());
            for text in inputs {
                let escaped = escape_all(&text);
                for (hay, esc) in [(text.as_bytes(), false), (escaped.as_bytes(), true)] {
                    let sc = screens.get(esc).expect("screen builds");
                    for_each_match(rule, hay, |p, e| {
                        let win = window(hay);
                        let (p, w) = (p as u64, hay.len() as u64);
                        let end = sc.anchored_end(&mut Walk::default(), win, p, w, &mut 0);
                        assert!(
                            end.is_some_and(|end| end >= e as u64),
                            "{}: screen misses the match at {p}..{e} in {hay:?}",
                            rule.id,
                        );
                        let ask = Ask {
                            s: p,
                            k: p,
                            w,
                            ahead: w,
                            keep_to: p,
                            min_len: rule.analysis.min_len,
                        };
                        let pr = sc.probe(&mut Walk::default(), win, ask, &mut 0);
                        assert_eq!(pr, Probe::Maybe, "{}: probe at {p} in {hay:?}", rule.id);
                    });
                }
            }
        }
    }

    /// Every screen of every built-in rule, both kinds, walked over its
    /// rule's examples and 2 KB of base64 (and all of it escaped): without
    /// the cap their caches held 6.3 MB (the test failed); they keep within
    /// [`SCREEN_CACHES_TOTAL`] (a cache whose growth passes it is dropped
    /// once the walk is done), and still find every match
    /// (`screens_contain_their_rules` runs under the same cap).
    #[test]
    fn screen_caches_stay_within_their_total() {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        let set = b.build().expect("built-in rules");
        let screens: Vec<&Screen> = set
            .rules()
            .iter()
            .filter_map(|r| r.screens.as_deref().map(|s| (r, s)))
            .flat_map(|(rule, screens)| {
                let mut text: String = rule.examples.iter().map(|e| e.input.as_str()).collect();
                // Then text in the rule's own alphabet, where its threads
                // live longest.
                let mut rng =
                    crate::rules::template::Rng::from_seed(rule.id.to_string().as_bytes());
                text += &rng.string("b64", 2048).unwrap_or_default();
                let hay = [text.as_bytes(), escape_all(&text).as_bytes()].concat();
                [false, true].into_iter().filter_map(move |esc| {
                    let sc = screens.get(esc)?;
                    let n = hay.len() as u64;
                    let ask = Ask {
                        s: 0,
                        k: 0,
                        w: n,
                        ahead: n,
                        keep_to: n,
                        min_len: usize::MAX / 2,
                    };
                    sc.probe(&mut Walk::default(), window(&hay), ask, &mut 0);
                    sc.anchored_end(&mut Walk::default(), window(&hay), 0, n, &mut 0);
                    Some(sc)
                })
            })
            .collect();
        let held: usize = screens.iter().map(|sc| sc.cache_usage().0).sum();
        assert!(screens.len() > 300, "{} screens", screens.len());
        assert!(
            held <= SCREEN_CACHES_TOTAL + SCREEN_CACHE,
            "{} screens hold {held} bytes of caches",
            screens.len()
        );
    }

    /// `text` with every `/`, `+` and `=` written as an escaped form (each
    /// form in turn).
    fn escape_all(text: &str) -> String {
        let mut n = 0;
        let mut out = String::new();
        for c in text.chars() {
            let forms = u8::try_from(c).map(escape::forms).unwrap_or_default();
            match forms.get(n % forms.len().max(1)) {
                Some(f) => {
                    out.push_str(std::str::from_utf8(f).expect("ASCII form"));
                    n += 1;
                }
                None => out.push(c),
            }
        }
        out
    }

    /// Calls `f(start, end)` (raw offsets) for the match of the rule's
    /// regex, in decoded text, anchored at each character start.
    fn for_each_match(rule: &crate::rules::Rule, hay: &[u8], mut f: impl FnMut(usize, usize)) {
        let mut slots = vec![None; 2 * (rule.secret_group.unwrap_or(0) + 1)];
        for p in 0..hay.len() {
            let input = regex_automata::Input::new(hay)
                .range(p..)
                .anchored(Anchored::Yes);
            if rule.search_slots(&input, &mut slots).is_some() {
                let get = |i: usize| {
                    slots[i].map(|v: regex_automata::util::primitives::NonMaxUsize| v.get())
                };
                f(get(0).expect("start"), get(1).expect("end"));
            }
        }
    }

    #[test]
    fn relaxing_drops_groups_and_wide_bounds_only() {
        let sc = screen(r"ab(?P<s>[0-9]{2,4})x{3,300}", false);
        // Four digits at most stays; 300 becomes unbounded.
        assert_eq!(probe(&sc, b"ab12xxx", 0, 0, 7), Probe::Maybe);
        let long = [b"ab12".as_slice(), &[b'x'; 500]].concat();
        assert_eq!(probe(&sc, &long, 0, 0, 504), Probe::Maybe);
        assert!(clear(probe(&sc, b"ab12345xxx", 0, 0, 10)));
        assert!(clear(probe(&sc, b"ab1xxx", 0, 0, 6)));
    }

    /// The escaped screen takes escaped forms where the regex takes the
    /// byte, and looks past word boundaries; the plain one does neither.
    #[test]
    fn escaped_screens_take_escaped_forms() {
        let hay = br"\bkey=a\/b\u002Bc";
        let plain = screen(r"\bkey=[a-z/+]{5}\b", false);
        let esc = screen(r"\bkey=[a-z/+]{5}\b", true);
        assert!(clear(probe(&plain, hay, 2, 2, hay.len() as u64)));
        assert_eq!(probe(&esc, hay, 2, 2, hay.len() as u64), Probe::Maybe);
        let hay = br"x\u003dkey";
        let esc = screen(r"\bkey", true);
        assert_eq!(probe(&esc, hay, 7, 7, hay.len() as u64), Probe::Maybe);
    }

    /// `x*yz`: a thread that consumed an `x` stands where a fresh start
    /// stands, so a walk back in a start state proves nothing; the walk
    /// must go on and find the match that began at 0.
    #[test]
    fn a_reentrant_screen_walks_on() {
        let sc = screen("x*yz", false);
        assert!(sc.reentrant());
        assert_eq!(probe(&sc, b"xxxxyz", 0, 0, 6), Probe::Maybe);
        let sc = screen(r"\btok_[a-z]{4}", false);
        assert!(!sc.reentrant());
        // The walk for a hit at 0 stops once the thread from 0 dies, so a
        // match starting later is not this hit's.
        assert!(clear(probe(&sc, b"tok_ab tok_abcd", 0, 0, 6)));
        assert_eq!(probe(&sc, b"tok_abcd", 0, 0, 8), Probe::Maybe);
    }

    /// A walk stops once the threads that began by the hit have died, even
    /// when it began after a word byte and stands after a non-word one
    /// (every start state is known to the cache before the walk, so the one
    /// it returns to is tagged), and when the rule begins with a byte of
    /// context, so that a thread has always just consumed one (the walk
    /// stands where one begun a byte before would: see `Ages::young`).
    #[test]
    fn walks_stop_once_the_hit_s_threads_die() {
        for pattern in [r"\btok_[a-z]{4}\b", r"(?:^|[^a-z])tok_[a-z]{4}"] {
            let sc = screen(pattern, false);
            assert!(!sc.ages.reentrant && sc.ages.young, "{pattern}");
            let mut hay = b"-tok_ab1".to_vec();
            for _ in 0..100 {
                hay.extend_from_slice(b"q1q q-q");
            }
            let n = hay.len() as u64;
            let ask = Ask {
                s: 0,
                k: 1,
                w: n,
                ahead: n,
                keep_to: 1,
                min_len: 8,
            };
            let mut fed = 0;
            let got = sc.probe(&mut Walk::default(), window(&hay), ask, &mut fed);
            assert!(clear(got), "{pattern}");
            assert!(fed < 16, "{pattern}: walked {fed} bytes");
        }
        // Threads that loop back to where a young one stands: no early stop.
        let sc = screen(r"(?:^|[^a-z])(?:tok_)+x", false);
        assert!(!sc.ages.young);
    }

    /// A walk resumed for the next hit gives what a fresh walk gives, or
    /// `Maybe` where the fresh one proves more (it still holds older
    /// threads), never the reverse; and once it has walked to the line's
    /// end without a match, it clears the whole line.
    #[test]
    fn resumed_walks_agree_with_fresh_ones() {
        let sc = screen(r"\beyJ[A-Za-z0-9_-]{8,1024}\.eyJ[A-Za-z0-9_-]{4,32}", false);
        let mut hay = b"-eyJ".repeat(200);
        hay.extend_from_slice(b".eyJabcdefgh eyJ\n");
        let mut hay2 = b"-eyJ".repeat(300);
        hay2.push(b'\n');
        for hay in [hay, hay2] {
            let mut walk = Walk::default();
            let n = hay.len() as u64 - 1;
            for k in (1..n - 3).step_by(4) {
                let w = (k + 1100).min(n);
                let ask = Ask {
                    s: k,
                    k,
                    w,
                    ahead: n,
                    keep_to: k,
                    min_len: 17,
                };
                let resumed = sc.probe(&mut walk, window(&hay), ask, &mut 0);
                let fresh = sc.probe(&mut Walk::default(), window(&hay), ask, &mut 0);
                assert!(clear(fresh) || resumed == Probe::Maybe, "hit {k}");
                if let Probe::Clear { walked, .. } = resumed {
                    if hay.len() == 1201 {
                        assert_eq!(walked, n + 1, "the walk passed the line break");
                    }
                }
            }
        }
    }

    #[test]
    fn a_run_is_dense_while_its_hits_average_at_most_dense_bytes_apart() {
        // Close hits: a run that grows with them.
        let mut w = Walk::default();
        assert_eq!(w.dense(1000), None);
        assert_eq!(w.dense(1010), Some(10));
        assert_eq!(w.dense(1020), Some(20));
        // A hit a walk reached but far from the last one asked about: dense
        // while the hits passed on the way keep the average down.
        w.hits.reach = 2000;
        (0..14).for_each(|_| w.passed());
        assert_eq!(w.dense(1990), Some(990));
        // Hits a few hundred bytes apart (a soup's keyword): each one alone.
        let mut w = Walk::default();
        w.hits.reach = 100_000;
        assert_eq!(w.dense(1000), None);
        assert_eq!(w.dense(1050), Some(50));
        assert_eq!(w.dense(1400), None, "3 hits over 400 bytes");
        assert_eq!(w.dense(1450), Some(50), "a new run begins");
    }
}

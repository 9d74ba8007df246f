//! Screens: a cheap, exact-enough test that no match of a rule can start
//! near a keyword hit, before the rule's own regex runs.
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
//! **One walk per rule and batch.** A [`Walker`] runs the screen unanchored
//! over a rule's keyword hits in stream order and keeps its state between
//! hits, so overlapping windows of a dense run of hits (`eyJeyJeyJ…`) are
//! walked once, not once per hit. A walk stops early once every thread that
//! began at or before the hit has died, which the DFA shows by returning to
//! a start state (a screen whose threads can re-enter a start state after
//! consuming a byte never stops early: see [`Screen::new`]).

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::nfa::thompson::{self, WhichCaptures, NFA};
use regex_automata::util::pool::Pool;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::{Hir, HirKind, Repetition};

/// Repetitions with an upper bound above this become unbounded in a screen.
pub const RELAX_ABOVE: u32 = 8;

/// Hits of one rule closer together than this are walked (see
/// [`Walk::warm`]).
pub const DENSE: u64 = 8;

/// Anchored tries may walk this many bytes more than the hits advance
/// before a rule's hits are walked instead (see [`Walk::warm`]).
pub const MAX_DEBT: u64 = 256;

/// Cap on one screen's lazy DFA cache, per thread. Screens are small: the
/// largest built-in one holds a few dozen states on any input measured.
const SCREEN_CACHE: usize = 128 << 10;

/// A thread's cache of one screen, with an id unique in the process so a
/// walk can tell whether it is still on the cache its state came from.
struct Scratch {
    id: u64,
    cache: Cache,
}

type CacheFn = Box<dyn Fn() -> Scratch + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Ids of scratch caches; 0 is never one, so a fresh [`Walk`] matches none.
static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(1);

/// The screen of one rule: see the module docs.
pub struct Screen {
    dfa: DFA,
    caches: Pool<Scratch, CacheFn>,
    /// A thread that has consumed bytes can be in a state that a fresh start
    /// is in, so returning to a start state does not prove older threads
    /// dead.
    reentrant: bool,
    /// Heap bytes of the NFA.
    memory: usize,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen")
            .field("reentrant", &self.reentrant)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// No match of the rule starts in the probed range and ends in its
    /// window.
    Clear,
    /// The screen matched: the rule's regex must decide.
    Maybe,
}

impl Screen {
    /// The screen of the rule whose regex parsed to `hir` (the same HIR the
    /// rule's regex is built from: a screen built from anything else could
    /// miss matches). `None` if the relaxed regex cannot be built as a lazy
    /// DFA; the engine then runs the regex at every hit.
    pub fn new(hir: &Hir) -> Option<Screen> {
        let relaxed = relax(hir);
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
        let for_pool = dfa.clone();
        let create: CacheFn = Box::new(move || Scratch {
            id: NEXT_SCRATCH.fetch_add(1, Ordering::Relaxed),
            cache: for_pool.create_cache(),
        });
        Some(Screen {
            reentrant: reentrant(&nfa),
            memory: nfa.memory_usage(),
            caches: Pool::new(create),
            dfa,
        })
    }

    /// Whether a walk of this screen can never stop before the end of its
    /// window (see [`reentrant`]).
    pub fn reentrant(&self) -> bool {
        self.reentrant
    }

    /// Heap bytes of the compiled screen (caches not counted).
    pub fn memory_usage(&self) -> usize {
        self.memory
    }

    /// Heap bytes of this thread's cache of the screen, and how often it
    /// was cleared.
    pub fn cache_usage(&self) -> (usize, usize) {
        let g = self.caches.get();
        (g.cache.memory_usage(), g.cache.clear_count())
    }
}

/// The relaxed form of `hir`: no capture groups, and repetitions bounded
/// above [`RELAX_ABOVE`] unbounded. Its language contains `hir`'s.
pub fn relax(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => hir.clone(),
        HirKind::Capture(c) => relax(&c.sub),
        HirKind::Concat(v) => Hir::concat(v.iter().map(relax).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(relax).collect()),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min.min(RELAX_ABOVE),
            max: r.max.filter(|&m| m <= RELAX_ABOVE),
            greedy: true,
            sub: Box::new(relax(&r.sub)),
        }),
    }
}

/// Whether a thread that has consumed a byte can be in a state of a start
/// state's set, which would make a return to a start state no proof that
/// older threads died. Conservative: every byte transition of the regex (not
/// of the unanchored prefix) is followed through its epsilon moves, and the
/// target checked against the anchored start's epsilon closure. In that
/// closure, line-start assertions are not passed: a thread that consumed a
/// byte never stands at a line start, since no rule matches `\r` or `\n`.
fn reentrant(nfa: &NFA) -> bool {
    use regex_automata::util::look::Look;
    use regex_automata::util::primitives::StateID;
    use thompson::State;
    let n = nfa.states().len();
    #[derive(Clone, Copy, PartialEq)]
    enum Via {
        /// Epsilon moves only, line-start assertions passed or not.
        Epsilon { line_starts: bool },
        /// Any transition.
        All,
    }
    let reach = |from: StateID, via: Via| {
        let mut seen = vec![false; n];
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.as_usize()], true) {
                continue;
            }
            match nfa.state(id) {
                State::Look { look, next } => {
                    let line_start = matches!(look, Look::Start | Look::StartLF | Look::StartCRLF);
                    if !line_start || via != (Via::Epsilon { line_starts: false }) {
                        stack.push(*next);
                    }
                }
                State::Capture { next, .. } => stack.push(*next),
                State::Union { alternates } => stack.extend(alternates.iter().copied()),
                State::BinaryUnion { alt1, alt2 } => stack.extend([*alt1, *alt2]),
                State::ByteRange { trans } if via == Via::All => stack.push(trans.next),
                State::Sparse(st) if via == Via::All => {
                    stack.extend(st.transitions.iter().map(|t| t.next))
                }
                State::Dense(d) if via == Via::All => stack.extend(d.transitions.iter().copied()),
                _ => {}
            }
        }
        seen
    };
    let start = reach(nfa.start_anchored(), Via::Epsilon { line_starts: false });
    let enters_start = |t: StateID| {
        reach(t, Via::Epsilon { line_starts: true })
            .iter()
            .zip(&start)
            .any(|(&a, &b)| a && b)
    };
    let regex = reach(nfa.start_anchored(), Via::All);
    let mut states = nfa.states().iter().enumerate().filter(|&(i, _)| regex[i]);
    states.any(|(_, s)| match s {
        State::ByteRange { trans } => enters_start(trans.next),
        State::Sparse(st) => st.transitions.iter().any(|t| enters_start(t.next)),
        State::Dense(d) => d.transitions.iter().any(|&t| enters_start(t)),
        _ => false,
    })
}

/// Where one rule's screen walk over a stream stands, kept by the stream
/// between hits so that no byte is walked twice. Positions are stream
/// offsets. A walk is only resumed on the cache it was made with and only
/// if that cache has not been cleared since; otherwise it starts over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Walk {
    /// The cache the state belongs to, and its clear count then.
    cache: u64,
    clears: usize,
    /// Next stream position to feed, when `sid` is set.
    pos: u64,
    /// The walk's state; `None` before it starts.
    sid: Option<LazyStateID>,
    /// End of the last screen match the walk passed.
    last_match: Option<u64>,
    /// The last hit [`warm`](Walk::warm) was asked about.
    last_hit: Option<u64>,
    /// Bytes walked by anchored tries, less the distance the hits advanced
    /// meanwhile (see [`warm`](Walk::warm)).
    debt: u64,
}

impl Walk {
    /// Whether to walk for a hit at `k` whose candidate starts begin at
    /// `s`, rather than leave it to anchored tries at each candidate start
    /// ([`Screen::anchored_end`]), which die within a few bytes on most
    /// text. Walk when the walk can resume where it stopped, when hits come
    /// closer together than [`DENSE`], or when the anchored tries have
    /// lately walked more than [`MAX_DEBT`] bytes beyond the ground the hits
    /// covered: a walk visits each byte once however many hits it serves,
    /// so the tries' work stays within the stream's length plus
    /// [`MAX_DEBT`] per rule. Records `k`.
    pub fn warm(&mut self, s: u64, k: u64) -> bool {
        let gap = self.last_hit.map_or(u64::MAX, |h| k - h);
        self.last_hit = Some(k);
        self.debt = self.debt.saturating_sub(gap);
        let resumes = self.sid.is_some() && self.pos >= s;
        resumes || gap <= DENSE || self.debt > MAX_DEBT
    }

    /// Charges `bytes` of work done for a hit without walking (the rule's
    /// regex searched them) to the walk, as anchored tries are charged.
    pub fn charge(&mut self, bytes: u64) {
        self.debt += bytes;
    }

    /// Forgets the walk (a new stream).
    pub fn reset(&mut self) {
        *self = Walk::default();
    }
}

/// A haystack: the stream's bytes `[base, base + bytes.len())`.
#[derive(Debug, Clone, Copy)]
pub struct Window<'h> {
    /// The bytes.
    pub bytes: &'h [u8],
    /// Stream offset of `bytes[0]`.
    pub base: u64,
}

impl Window<'_> {
    fn at(&self, pos: u64) -> usize {
        (pos - self.base) as usize
    }
}

impl Screen {
    /// Whether a match of the rule may start in `s..=k` and end at or
    /// before `w` (the hit's window end). The window holds the byte before
    /// `s` (context; absent only at the stream's start) and the byte at `w`
    /// (look-ahead), or ends at `w` at the end of the stream. `min_len` is
    /// the rule's shortest match. Calls with one `walk` must come with
    /// non-decreasing `s`, `k` and `w`. Adds the bytes walked to `fed`.
    #[allow(clippy::too_many_arguments)]
    pub fn probe(
        &self,
        walk: &mut Walk,
        win: Window<'_>,
        s: u64,
        k: u64,
        w: u64,
        min_len: usize,
        fed: &mut u64,
    ) -> Probe {
        debug_assert!(s <= k && k <= w && win.at(w) <= win.bytes.len());
        let relevant = |end: u64| end >= s + min_len as u64;
        if walk.last_match.is_some_and(relevant) {
            return Probe::Maybe;
        }
        let mut guard = self.caches.get();
        let scratch = &mut *guard;
        let resume = walk.sid.filter(|_| {
            walk.pos >= s && walk.cache == scratch.id && walk.clears == scratch.cache.clear_count()
        });
        let cache = &mut scratch.cache;
        let mut sid = match resume {
            Some(sid) => sid,
            None => {
                let behind = (s > win.base).then(|| win.bytes[win.at(s) - 1]);
                debug_assert!(s == 0 || behind.is_some(), "no context before {s}");
                let cfg = start::Config::new()
                    .anchored(Anchored::No)
                    .look_behind(behind);
                walk.pos = s;
                walk.cache = scratch.id;
                match self.dfa.start_state(cache, &cfg) {
                    Ok(sid) => sid,
                    Err(_) => return give_up(walk),
                }
            }
        };
        let hay = win.bytes;
        let end = (win.at(w) + 1).min(hay.len());
        let mut at = win.at(walk.pos);
        let result = loop {
            if at >= end {
                break None;
            }
            sid = match self.dfa.next_state(cache, sid, hay[at]) {
                Ok(sid) => sid,
                Err(_) => return give_up(walk),
            };
            at += 1;
            if !sid.is_tagged() {
                continue;
            }
            // The byte just fed is at stream offset `p`.
            let p = win.base + at as u64 - 1;
            if sid.is_match() {
                // A match ends at `p` (matches show one byte late).
                walk.last_match = Some(p);
                if relevant(p) {
                    break Some(Probe::Maybe);
                }
            } else if sid.is_dead() || (sid.is_start() && p >= k && !self.reentrant) {
                // Every thread that began at or before `p` has died.
                break Some(Probe::Clear);
            }
        };
        *fed += (win.base + at as u64) - walk.pos;
        walk.pos = win.base + at as u64;
        walk.sid = Some(sid);
        walk.clears = cache.clear_count();
        if let Some(found) = result {
            return found;
        }
        if win.at(w) == hay.len() {
            // The end of the stream: a match may end there.
            match self.dfa.next_eoi_state(cache, sid) {
                Ok(eoi) if eoi.is_match() => {
                    walk.last_match = Some(w);
                    if relevant(w) {
                        return Probe::Maybe;
                    }
                }
                Ok(_) => {}
                Err(_) => return give_up(walk),
            }
        }
        Probe::Clear
    }

    /// The end of the longest screen match starting exactly at `p` and
    /// ending at or before `w`, or `None` if there is none: a bound on where
    /// any rule match starting at `p` can end. `Some(w)` when the screen
    /// cannot tell. The window holds context as for [`probe`](Self::probe).
    /// Adds the bytes walked to `fed`, and charges them to `walk` (see
    /// [`Walk::warm`]).
    pub fn anchored_end(
        &self,
        walk: &mut Walk,
        win: Window<'_>,
        p: u64,
        w: u64,
        fed: &mut u64,
    ) -> Option<u64> {
        let mut guard = self.caches.get();
        let cache = &mut guard.cache;
        let hay = win.bytes;
        let behind = (p > win.base).then(|| hay[win.at(p) - 1]);
        let cfg = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(behind);
        let Ok(mut sid) = self.dfa.start_state(cache, &cfg) else {
            return Some(w);
        };
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
        let walked = (at - from) as u64;
        *fed += walked;
        walk.debt += walked;
        if !dead && win.at(w) == hay.len() {
            match self.dfa.next_eoi_state(cache, sid) {
                Ok(eoi) if eoi.is_match() => last = Some(w),
                Ok(_) => {}
                Err(_) => return Some(w),
            }
        }
        last
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
    use crate::rules::RuleSetBuilder;

    fn screen(pattern: &str) -> Screen {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .multi_line(true)
            .build()
            .parse(pattern)
            .expect("pattern parses");
        Screen::new(&hir).expect("screen builds")
    }

    fn probe(sc: &Screen, hay: &[u8], s: u64, k: u64, w: u64) -> Probe {
        let win = Window {
            bytes: hay,
            base: 0,
        };
        sc.probe(&mut Walk::default(), win, s, k, w, 1, &mut 0)
    }

    /// Every match of every built-in rule's regex (raw bytes), in its examples and
    /// negative examples, is a screen match: anchored at its start, the
    /// screen reaches at least its end, and a probe of its start says
    /// `Maybe`. A screen that missed one would make the engine skip a
    /// secret.
    #[test]
    fn screens_contain_their_rules() {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        let set = b.build().expect("built-in rules");
        for rule in set.rules() {
            // Derived `-truncated` rules match without a regex.
            let crate::rules::Matcher::Regex(regex) = &rule.matcher else {
                assert!(rule.screen.is_none());
                continue;
            };
            let sc = rule
                .screen
                .as_deref()
                .expect("every built-in rule with a regex has a screen");
            let inputs = rule
                .examples
                .iter()
                .map(|e| e.input.as_str())
                .chain(rule.negative_examples.iter().map(String::as_str));
            for text in inputs {
                let hay = text.as_bytes();
                let win = Window {
                    bytes: hay,
                    base: 0,
                };
                for p in 0..hay.len() {
                    let input = regex_automata::Input::new(hay)
                        .range(p..)
                        .anchored(Anchored::Yes);
                    let Some(m) = regex.search(&input) else {
                        continue;
                    };
                    let w = hay.len() as u64;
                    let end = sc.anchored_end(&mut Walk::default(), win, p as u64, w, &mut 0);
                    assert!(
                        end.is_some_and(|e| e >= m.end() as u64),
                        "{}: screen misses the match at {p}..{} in {text:?}",
                        rule.id,
                        m.end()
                    );
                    let walk = &mut Walk::default();
                    let min = rule.analysis.min_len;
                    let pr = sc.probe(walk, win, p as u64, p as u64, w, min, &mut 0);
                    assert_eq!(pr, Probe::Maybe, "{}: probe at {p} in {text:?}", rule.id);
                }
            }
        }
    }

    #[test]
    fn relaxing_drops_groups_and_wide_bounds_only() {
        let sc = screen(r"ab(?P<s>[0-9]{2,4})x{3,300}");
        // Four digits at most stays; 300 becomes unbounded.
        assert_eq!(probe(&sc, b"ab12xxx", 0, 0, 7), Probe::Maybe);
        assert_eq!(
            probe(&sc, &[b"ab12".as_slice(), &[b'x'; 500]].concat(), 0, 0, 504),
            Probe::Maybe
        );
        assert_eq!(probe(&sc, b"ab12345xxx", 0, 0, 10), Probe::Clear);
        assert_eq!(probe(&sc, b"ab1xxx", 0, 0, 6), Probe::Clear);
    }

    /// `x*yz`: a thread that consumed an `x` stands where a fresh start
    /// stands, so a walk back in a start state proves nothing; the walk
    /// must go on and find the match that began at 0.
    #[test]
    fn a_reentrant_screen_walks_on() {
        let sc = screen("x*yz");
        assert!(sc.reentrant());
        assert_eq!(probe(&sc, b"xxxxyz", 0, 0, 6), Probe::Maybe);
        let sc = screen(r"\btok_[a-z]{4}");
        assert!(!sc.reentrant());
        // The walk for a hit at 0 stops once the thread from 0 dies, so a
        // match starting later is not this hit's.
        assert_eq!(probe(&sc, b"tok_ab tok_abcd", 0, 0, 6), Probe::Clear);
        assert_eq!(probe(&sc, b"tok_abcd", 0, 0, 8), Probe::Maybe);
    }

    /// A walk resumed for the next hit gives what a fresh walk gives.
    #[test]
    fn resumed_walks_agree_with_fresh_ones() {
        let sc = screen(r"\beyJ[A-Za-z0-9_-]{8,1024}\.eyJ[A-Za-z0-9_-]{4,32}");
        let mut hay = b"eyJ".repeat(200);
        hay.extend_from_slice(b".eyJabcdefgh eyJ");
        let win = Window {
            bytes: &hay,
            base: 0,
        };
        let mut walk = Walk::default();
        let n = hay.len() as u64;
        for k in (0..n - 3).step_by(3) {
            let w = (k + 1100).min(n);
            let resumed = sc.probe(&mut walk, win, k, k, w, 17, &mut 0);
            let fresh = sc.probe(&mut Walk::default(), win, k, k, w, 17, &mut 0);
            // A resumed walk may answer `Maybe` where a fresh one proves
            // more (it still holds older threads), never the reverse.
            assert!(fresh == Probe::Clear || resumed == Probe::Maybe, "hit {k}");
        }
    }
}

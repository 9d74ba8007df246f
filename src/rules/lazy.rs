//! Regexes compiled on their first search.
//!
//! A compiled `meta::Regex` costs some 6-10 KB however small (strategy,
//! NFAs, the bounded backtracker's and PikeVM's tables), and a rule set of
//! 800 rules would hold 7-8 MB of them, while a day of ordinary logs wakes a
//! few dozen rules: the rest wait for a keyword that never comes. So each
//! rule's regex (and its `allow_values` regex) is kept as its pattern and
//! compiled by the first search that needs it, once per rule set, shared by
//! every thread after ([`OnceLock`]).
//!
//! **What is bounded.** The compiled regexes of one rule set share a
//! budget ([`MAX_COMPILED`], 4 MiB): compiling one more past it evicts the
//! least recently used of a random sample ([`Budget`]), which its next hit
//! compiles again. Ordinary logs
//! wake a few dozen rules and never evict; input that hits every rule in
//! turn (or a library of thousands) costs recompiles, not memory. Each
//! regex's per-thread caches have their own caps ([`super::compile`]) and
//! go with it. Their search caches are not the regexes' own: each thread
//! keeps those of the regexes it searched most recently, up to
//! [`CACHES_PER_THREAD`] bytes ([`Caches`]); a regex whose cache was
//! dropped makes a new one at its next search. `redactd rules check` prints what all regexes would take
//! compiled at once ([`RuleSet::memory_if_all_compiled`](
//! super::RuleSet::memory_if_all_compiled)).
//!
//! **Errors come at load time.** Loading a rule parses its pattern and
//! builds its forward NFA under the limits the compiled regex uses
//! ([`check`]): the one part of a build that can fail on a valid pattern.
//! Should a full build still fail when a search needs it, the regex is
//! built again without lazy or full DFAs, which needs nothing but that
//! forward NFA; and if even that fails the search **fails closed**: a rule
//! whose regex is missing matches its whole search span (redacted), an
//! `allow_values` regex that is missing allows nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};

use regex_automata::nfa::thompson;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::util::syntax as re_syntax;
use regex_automata::{meta, Input, PatternID};
use regex_syntax::hir::Hir;

/// A rule's forward NFA ([`forward_nfa`]).
pub type Nfa = thompson::NFA;

/// The size limit of a compiled NFA (`meta::Regex`'s default).
const NFA_SIZE_LIMIT: usize = 10 << 20;

/// How a pattern is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// A rule's regex ([`super::compile::parse`] syntax), searched anchored
    /// only (`anchored`: no full DFA, no literal prefilter) or also
    /// unanchored; `words` says it is a generic rule woken by plain words
    /// (a lazy DFA with a larger cache, see [`super::compile::build_search`]).
    Rule {
        /// Searched anchored only.
        anchored: bool,
        /// A generic rule woken by plain words.
        words: bool,
    },
    /// A whole-secret regex (`allow_values`), matched only against accepted
    /// candidates: no lazy DFA.
    Whole,
}

/// Compiled regexes drawn per eviction, the oldest of them evicted.
const SAMPLE: usize = 8;

/// What one thread's search caches of compiled regexes may hold, in
/// [`meta::Cache::memory_usage`] bytes: past it, the least recently used
/// are dropped. Held by each regex for each thread that searched it, as
/// `meta::Regex` does, they grew with the rules hit: 1.35 MB for the
/// built-ins on ordinary logs, about 13 MB with 1,000 more rules, whatever
/// the compiled regexes' own budget.
pub const CACHES_PER_THREAD: usize = 1 << 20;

/// Ids of compiled regexes, for their search caches ([`Caches`]): unique
/// in the process, so a cache is never used with another regex (a
/// recompiled one included).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What the compiled regexes of one rule set may take together, in
/// [`meta::Regex::memory_usage`] bytes: past it, compiling one more evicts
/// the least recently used of a sample. The built-in rules hold 2.4 MB on the benchmark
/// corpus (94 of 830 compiled), so ordinary logs never evict; a rule set
/// whose every rule is hit (all 830 take 7.6 MB, 1,000 more synthetic ones
/// 10 MB more) recompiles the coldest on their next hit instead of growing.
pub const MAX_COMPILED: usize = 4 << 20;

/// A rule's compiled state.
#[derive(Debug)]
enum Slot {
    /// Not compiled (never needed, or evicted).
    Empty,
    /// Compiled: the bytes its budget counts for it, and its id.
    Built(meta::Regex, usize, u64),
    /// Could not be built (see the module docs): fail closed.
    Failed,
}

/// A regex compiled by its first search.
#[derive(Debug)]
pub struct LazyRegex {
    pattern: Box<str>,
    build: Build,
    /// Built without lazy or full DFAs (copies for checks: cheaper to
    /// build, the same answers).
    plain: bool,
    /// Searched with a cache made for the search, not the thread's
    /// ([`Caches`]): copies for checks, dropped after, leave no cache
    /// behind.
    own_caches: bool,
    slot: RwLock<Slot>,
    /// The budget's clock at its last use.
    used: AtomicU64,
    /// The rule set's budget, once the set is made ([`Budget::join`]);
    /// none for copies made for checks, which are dropped after.
    budget: OnceLock<Arc<Budget>>,
}

impl LazyRegex {
    /// Checks that `pattern` parses and that its forward NFA builds, and
    /// keeps the pattern to compile on first use. The error is the parser's
    /// or the compiler's message, on one line.
    pub fn new(pattern: &str, build: Build) -> Result<LazyRegex, String> {
        Self::parsed(pattern, &parse(pattern, build)?, build)
    }

    /// As [`new`](Self::new), for a caller that has parsed `pattern`
    /// (as [`Build`] says) into `hir` already.
    pub fn parsed(pattern: &str, hir: &Hir, build: Build) -> Result<LazyRegex, String> {
        forward_nfa(hir)?;
        Ok(Self::checked(pattern, build))
    }

    /// As [`parsed`](Self::parsed), for a caller that has built the
    /// pattern's [`forward_nfa`] already (or knows it builds: a built-in
    /// rule proven ahead of time, [`super::precomputed`]).
    pub fn checked(pattern: &str, build: Build) -> LazyRegex {
        Self::uncompiled(pattern.into(), build, false, false)
    }

    fn uncompiled(pattern: Box<str>, build: Build, plain: bool, own_caches: bool) -> LazyRegex {
        LazyRegex {
            pattern,
            build,
            plain,
            own_caches,
            slot: RwLock::new(Slot::Empty),
            used: AtomicU64::new(0),
            budget: OnceLock::new(),
        }
    }

    /// Runs `f` with the compiled regex, compiling it now if it is not
    /// (first use, or evicted); `None` only if it cannot be built (see the
    /// module docs).
    pub fn with<R>(&self, f: impl FnOnce(Option<&meta::Regex>) -> R) -> R {
        self.with_id(|r| f(r.map(|(r, _)| r)))
    }

    /// [`with`](Self::with), also passing the compiled regex's id.
    fn with_id<R>(&self, f: impl FnOnce(Option<(&meta::Regex, u64)>) -> R) -> R {
        // A regex just compiled keeps the stamp its compile gave it.
        let mut filled = false;
        loop {
            {
                let slot = self.slot.read().unwrap_or_else(PoisonError::into_inner);
                match &*slot {
                    Slot::Built(r, _, id) => {
                        if let Some(b) = self.budget.get().filter(|_| !filled) {
                            self.used.store(b.now(), Ordering::Relaxed);
                        }
                        return f(Some((r, *id)));
                    }
                    Slot::Failed => return f(None),
                    Slot::Empty => {}
                }
            }
            self.fill();
            filled = true;
        }
    }

    /// Compiles it (outside any lock), has the budget make room, and
    /// stores it unless another thread did first. Ends with the slot not
    /// empty, unless the budget evicted it meanwhile (the caller retries).
    fn fill(&self) {
        let built = self.compile();
        let bytes = built.as_ref().map_or(0, meta::Regex::memory_usage);
        let budget = self.budget.get();
        if let Some(b) = budget {
            b.admit(self, bytes);
        }
        // Lock order: a budget's lock, then a slot's (admit reads and
        // evicts slots under the budget's lock), never the reverse, so the
        // slot's guard is gone before the budget is told.
        let lost = {
            let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
            let empty = matches!(*slot, Slot::Empty);
            if empty {
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                *slot = built.map_or(Slot::Failed, |r| Slot::Built(r, bytes, id));
            }
            !empty
        };
        if let Some(b) = budget.filter(|_| lost) {
            b.release(bytes);
        }
    }

    /// An uncompiled copy, compiled by its own first search, with caches of
    /// its own and outside any budget: for checks at load time that should
    /// leave neither this regex compiled nor caches behind. It is built
    /// without DFAs (a third of the build time; the same answers, and the
    /// few searches of a check need no speed).
    pub fn detached(&self) -> LazyRegex {
        Self::uncompiled(self.pattern.clone(), self.build, true, true)
    }

    /// As [`detached`](Self::detached), built as this one is (DFAs
    /// included): for measuring what it takes.
    pub fn detached_as_built(&self) -> LazyRegex {
        Self::uncompiled(self.pattern.clone(), self.build, self.plain, true)
    }

    /// Whether it is compiled now.
    pub fn is_compiled(&self) -> bool {
        matches!(
            *self.slot.read().unwrap_or_else(PoisonError::into_inner),
            Slot::Built(..)
        )
    }

    /// Heap bytes of the compiled regex (0 when not compiled; caches not
    /// counted).
    pub fn memory_usage(&self) -> usize {
        match *self.slot.read().unwrap_or_else(PoisonError::into_inner) {
            Slot::Built(_, n, _) => n,
            _ => 0,
        }
    }

    /// Drops the compiled regex, if any, and says how many bytes it held.
    fn evict(&self) -> usize {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *slot, Slot::Empty) {
            Slot::Built(_, n, _) => n,
            other => {
                *slot = other;
                0
            }
        }
    }

    /// As [`meta::Regex::search_slots`]; a regex that cannot be built
    /// matches the whole span, with every slot pair on it (fail closed).
    pub fn search_slots(
        &self,
        input: &Input<'_>,
        slots: &mut [Option<NonMaxUsize>],
    ) -> Option<PatternID> {
        let found = self.with_id(|r| {
            r.map(|(r, id)| self.with_cache(r, id, |c| r.search_slots_with(c, input, slots)))
        });
        if let Some(found) = found {
            return found;
        }
        let span = input.get_span();
        if span.is_empty() {
            return None;
        }
        for pair in slots.chunks_mut(2) {
            pair[0] = NonMaxUsize::new(span.start);
            if let Some(end) = pair.get_mut(1) {
                *end = NonMaxUsize::new(span.end);
            }
        }
        Some(PatternID::ZERO)
    }

    /// As [`meta::Regex::is_match`], except that a regex that cannot be
    /// built matches nothing: an allow list then allows nothing, and a
    /// parent regex shadows nothing of its derived rule (fail closed both).
    pub fn is_match<'h, I: Into<Input<'h>>>(&self, input: I) -> bool {
        let input = input.into().earliest(true);
        self.with_id(|r| {
            r.is_some_and(|(r, id)| {
                self.with_cache(r, id, |c| r.search_half_with(c, &input).is_some())
            })
        })
    }

    /// Runs `f` with a search cache for `re`, compiled with id `id`.
    fn with_cache<R>(&self, re: &meta::Regex, id: u64, f: impl FnOnce(&mut meta::Cache) -> R) -> R {
        if self.own_caches {
            return f(&mut re.create_cache());
        }
        Caches::with(re, id, f)
    }

    fn compile(&self) -> Option<meta::Regex> {
        let hir = parse(&self.pattern, self.build).ok()?;
        let full = meta::Regex::builder()
            .configure(config(self.build, self.plain))
            .build_from_hir(&hir);
        match full {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "a rule's regex did not build with DFAs; built without");
                let plain = config(self.build, true);
                let built = meta::Regex::builder().configure(plain).build_from_hir(&hir);
                built
                    .map_err(|e| tracing::error!(error = %e, "a rule's regex did not build: its hits are redacted whole"))
                    .ok()
            }
        }
    }
}

/// The compiled regexes of one rule set, held to a cap
/// ([`MAX_COMPILED`]) by evicting the least recently used of a random
/// sample ([`Budget::victim`]).
///
/// Recency is a clock that ticks once per compile: a search stamps its
/// regex with the clock (a relaxed store, no shared write on the hot path),
/// and eviction takes the lowest stamp, so "least recently used" is to the
/// resolution of one compile. The
/// bytes held are at most the cap plus one regex (one larger than the cap
/// is let in alone; the loader keeps each under 512 KiB).
#[derive(Debug)]
pub struct Budget {
    cap: usize,
    clock: AtomicU64,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    bytes: usize,
    members: Vec<Weak<LazyRegex>>,
    evictions: u64,
}

impl Budget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> Arc<Budget> {
        Arc::new(Budget {
            cap,
            clock: AtomicU64::new(1),
            held: Mutex::new(Held::default()),
        })
    }

    /// Puts `re` under this budget, unless it is under one already (a rule
    /// shared with another set, as checks do, stays under its first).
    pub fn join(self: &Arc<Self>, re: &Arc<LazyRegex>) {
        if re.budget.set(Arc::clone(self)).is_ok() {
            self.lock().members.push(Arc::downgrade(re));
        }
    }

    /// Bytes of the regexes compiled now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Regexes evicted so far.
    pub fn evictions(&self) -> u64 {
        self.lock().evictions
    }

    fn now(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `bytes` more for `new`, evicting other regexes
    /// ([`victim`](Self::victim)) until the total fits the cap (or none is
    /// left).
    fn admit(&self, new: &LazyRegex, bytes: usize) {
        // `new` gets a stamp between the clock before and after, so uses
        // after this compile (stamped with the clock) count as later.
        let tick = self.clock.fetch_add(2, Ordering::Relaxed) + 1;
        new.used.store(tick, Ordering::Relaxed);
        let mut held = self.lock();
        held.bytes += bytes;
        held.members.retain(|w| w.strong_count() > 0);
        // The draws' seed: never 0 (xorshift's fixed point).
        let mut seed = tick.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        while held.bytes > self.cap {
            let Some(victim) = Self::victim(&held.members, new, &mut seed) else {
                break;
            };
            held.bytes -= victim.evict().min(held.bytes);
            held.evictions += 1;
        }
    }

    /// The least recently used of [`SAMPLE`] compiled members other than
    /// `new`, drawn at random (`seed` steps a xorshift); of all of them if
    /// the draws find none. Exact LRU is the worst policy for input that
    /// cycles through more rules than the budget holds (every hit a
    /// recompile); the oldest of a sample keeps about as many hits as the
    /// budget has room for, and is LRU's choice in a small set.
    fn victim(
        members: &[Weak<LazyRegex>],
        new: &LazyRegex,
        seed: &mut u64,
    ) -> Option<Arc<LazyRegex>> {
        let usable = |m: &Arc<LazyRegex>| !std::ptr::eq(&**m, new) && m.is_compiled();
        let used = |m: &Arc<LazyRegex>| m.used.load(Ordering::Relaxed);
        let mut best: Option<Arc<LazyRegex>> = None;
        let mut drawn = 0;
        for _ in 0..SAMPLE * 8 {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let i = (*seed % members.len().max(1) as u64) as usize;
            let Some(m) = members.get(i).and_then(Weak::upgrade).filter(usable) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| used(&m) < used(b)) {
                best = Some(m);
            }
            drawn += 1;
            if drawn == SAMPLE {
                break;
            }
        }
        best.or_else(|| {
            members
                .iter()
                .filter_map(Weak::upgrade)
                .filter(usable)
                .min_by_key(used)
        })
    }

    /// Stops counting `bytes` (a compile another thread's won).
    fn release(&self, bytes: usize) {
        let mut held = self.lock();
        held.bytes = held.bytes.saturating_sub(bytes);
    }
}

/// One thread's search caches of compiled regexes, by regex id, held to
/// [`CACHES_PER_THREAD`] bytes by dropping the least recently used.
#[derive(Default)]
struct Caches {
    clock: u64,
    /// Bytes of `held`, as last measured.
    bytes: usize,
    /// Each cache: its regex's id, its last use and its bytes then.
    held: Vec<(u64, u64, usize, meta::Cache)>,
}

thread_local! {
    static CACHES: std::cell::RefCell<Caches> = std::cell::RefCell::default();
}

impl Caches {
    /// Runs `f` with this thread's cache for `re` (compiled with id `id`),
    /// made now if there is none, then drops the least recently used
    /// others while the caches are over [`CACHES_PER_THREAD`].
    fn with<R>(re: &meta::Regex, id: u64, f: impl FnOnce(&mut meta::Cache) -> R) -> R {
        let mut f = Some(f);
        let held = CACHES.try_with(|c| {
            // Never nested (a search calls no other); if it were, or at
            // thread exit, a cache of its own.
            let mut c = c.try_borrow_mut().ok()?;
            Some(c.run(re, id, f.take()?))
        });
        match (held, f) {
            (Ok(Some(found)), _) => found,
            (_, f) => f.expect("not run: out of the thread's reach")(&mut re.create_cache()),
        }
    }

    fn run<R>(&mut self, re: &meta::Regex, id: u64, f: impl FnOnce(&mut meta::Cache) -> R) -> R {
        self.clock += 1;
        let i = match self.held.iter().position(|e| e.0 == id) {
            Some(i) => i,
            None => {
                self.held.push((id, 0, 0, re.create_cache()));
                self.held.len() - 1
            }
        };
        let e = &mut self.held[i];
        e.1 = self.clock;
        let found = f(&mut e.3);
        let now = e.3.memory_usage();
        self.bytes = (self.bytes + now).saturating_sub(e.2);
        e.2 = now;
        while self.bytes > CACHES_PER_THREAD {
            let oldest = (0..self.held.len())
                .filter(|&j| self.held[j].0 != id)
                .min_by_key(|&j| self.held[j].1);
            let Some(j) = oldest else { break };
            let gone = self.held.swap_remove(j);
            self.bytes = self.bytes.saturating_sub(gone.2);
        }
        found
    }
}

/// Parses `pattern` as `build` says.
fn parse(pattern: &str, build: Build) -> Result<Hir, String> {
    match build {
        Build::Rule { .. } => super::compile::parse(pattern),
        Build::Whole => regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .map_err(|e| super::one_line(&e.to_string())),
    }
}

/// The configuration a regex is compiled with (see
/// [`super::compile::build_search`] for why); `plain` leaves out the lazy
/// and full DFAs and literal prefilters, which need nothing but the
/// forward NFA.
fn config(build: Build, plain: bool) -> meta::Config {
    if plain {
        return config(build, false)
            .hybrid(false)
            .dfa(false)
            .auto_prefilter(false);
    }
    let base = meta::Regex::config()
        .utf8_empty(false)
        .onepass(false)
        .nfa_size_limit(Some(NFA_SIZE_LIMIT));
    match build {
        Build::Rule { anchored, words } => base
            .hybrid(!anchored || words)
            .dfa(!anchored)
            .hybrid_cache_capacity(if words { 256 << 10 } else { 64 << 10 })
            .auto_prefilter(!anchored),
        Build::Whole => base.hybrid(false).dfa(false),
    }
}

/// Builds the forward NFA of `hir` as [`meta::Regex`] does with
/// [`config`]'s limits: whether the regex can be built.
pub fn forward_nfa(hir: &Hir) -> Result<Nfa, String> {
    thompson::Compiler::new()
        .syntax(re_syntax::Config::new().unicode(false).utf8(false))
        .configure(
            thompson::Config::new()
                .utf8(false)
                .shrink(false)
                .nfa_size_limit(Some(NFA_SIZE_LIMIT)),
        )
        .build_from_hir(hir)
        .map_err(|e| super::one_line(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Build = Build::Rule {
        anchored: true,
        words: false,
    };

    #[test]
    fn compiled_by_the_first_search_only() {
        let re = LazyRegex::new(r"tok_(?P<secret>[a-z0-9]{8})", RULE).unwrap();
        assert!(!re.is_compiled());
        assert_eq!(re.memory_usage(), 0);
        let detached = re.detached();
        assert!(detached.is_match(b"tok_abcd1234"));
        assert!(detached.is_compiled());
        assert!(!re.is_compiled(), "a detached copy leaves it uncompiled");
        let mut slots = vec![None; 4];
        let hit = re.search_slots(&Input::new(b"x tok_abcd1234 y"), &mut slots);
        assert_eq!(hit, Some(PatternID::ZERO));
        assert_eq!(slots[2].map(|v| v.get()), Some(6));
        assert!(re.is_compiled());
        assert!(re.memory_usage() > 0);
    }

    /// This thread's search caches: how many, and their bytes.
    fn thread_caches() -> (usize, usize) {
        CACHES.with(|c| {
            let c = c.borrow();
            (c.held.len(), c.bytes)
        })
    }

    #[test]
    fn a_threads_search_caches_stay_within_their_cap() {
        // Regexes of several shapes (a lazy DFA and a literal prefilter
        // for some): each answers with the thread's cache as with its own,
        // and past the cap the least recently used caches are dropped.
        let words = Build::Rule {
            anchored: false,
            words: true,
        };
        let res: Vec<LazyRegex> = (0..400)
            .map(|i| {
                let build = if i % 2 == 0 { RULE } else { words };
                let p = format!(r"k{i:03}_(?P<secret>[a-z0-9]{{8,64}})|(?i:word{i:03})=[^ ]{{4,}}");
                LazyRegex::new(&p, build).unwrap()
            })
            .collect();
        let text = |i: usize| format!("pad pad k{i:03}_abcd1234efgh pad WORD{i:03}=xyzw end");
        let mut grown = 0;
        for round in 0..2 {
            for (i, re) in res.iter().enumerate() {
                let t = text(i);
                let own = re.detached_as_built();
                let mut a = vec![None; 4];
                let mut b = vec![None; 4];
                let input = Input::new(t.as_bytes());
                assert_eq!(
                    re.search_slots(&input, &mut a),
                    own.search_slots(&input, &mut b)
                );
                assert_eq!(a, b, "regex {i}, round {round}");
                assert_eq!(a[2].map(|v| v.get()), Some(13));
                assert!(re.is_match(&t.as_bytes()[8..]), "regex {i}");
                assert!(!re.is_match(&b"k000 word"[..]), "regex {i}");
                let (n, bytes) = thread_caches();
                assert!(bytes <= CACHES_PER_THREAD, "{bytes} bytes in {n} caches");
                grown = grown.max(n);
            }
        }
        assert!(grown < res.len(), "{grown} caches held: none was dropped");
    }

    #[test]
    fn a_copy_for_checks_leaves_no_cache_in_the_thread() {
        let re = LazyRegex::new(r"tok_(?P<secret>[a-z0-9]{8})", RULE).unwrap();
        let before = thread_caches();
        let copy = re.detached();
        assert!(copy.is_match(b"tok_abcd1234"));
        let mut slots = vec![None; 4];
        assert!(copy
            .search_slots(&Input::new(b"tok_abcd1234"), &mut slots)
            .is_some());
        assert_eq!(thread_caches().0, before.0);
        assert!(re.is_match(b"tok_abcd1234"));
        assert_eq!(thread_caches().0, before.0 + 1);
    }

    #[test]
    fn errors_come_at_load_time() {
        let e = LazyRegex::new("(", RULE).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        // Valid syntax whose NFA is over the limit.
        let e = LazyRegex::new(r"(?:[a-z]{1000}){1000}", RULE).unwrap_err();
        assert!(e.contains("exceeded limit"), "{e}");
        assert!(LazyRegex::new(r"\A(?:a+)\z", Build::Whole).is_ok());
    }

    #[test]
    fn whole_regexes_match_whole_values() {
        let re = LazyRegex::new(r"\A(?:tok_0+)\z", Build::Whole).unwrap();
        assert!(re.is_match(b"tok_000"));
        assert!(!re.is_match(b"tok_0001"));
    }

    /// Past the cap the least recently used regex goes, and comes back
    /// by its next search, with the same answers.
    #[test]
    fn a_budget_evicts_the_least_recently_used() {
        let res: Vec<Arc<LazyRegex>> = ["aaa_[a-z]{8}", "bbb_[a-z]{8}", "ccc_[a-z]{8}"]
            .iter()
            .map(|p| Arc::new(LazyRegex::new(p, RULE).unwrap()))
            .collect();
        let one = res[0].detached();
        one.with(|_| ());
        // Room for two of them, not three.
        let budget = Budget::new(one.memory_usage() * 5 / 2);
        for re in &res {
            budget.join(re);
        }
        assert!(res[0].is_match(&b"aaa_abcdefgh"[..]));
        assert!(res[1].is_match(&b"bbb_abcdefgh"[..]));
        assert_eq!(budget.evictions(), 0);
        assert!(
            res[0].is_match(&b"aaa_abcdefgh"[..]),
            "a is now the most recent"
        );
        assert!(res[2].is_match(&b"ccc_abcdefgh"[..]));
        assert_eq!(budget.evictions(), 1);
        assert!(!res[1].is_compiled(), "b was the least recently used");
        assert!(res[0].is_compiled() && res[2].is_compiled());
        assert_eq!(
            budget.bytes(),
            res[0].memory_usage() + res[2].memory_usage()
        );
        assert!(budget.bytes() <= budget.cap);
        assert!(res[1].is_match(&b"bbb_abcdefgh"[..]), "compiled again");
        assert!(!res[1].is_match(&b"bbb_ABCDEFGH"[..]));
        assert_eq!(budget.evictions(), 2);
    }

    /// Many threads searching regexes that evict each other all get the
    /// right answers, and the budget's count matches what is compiled.
    #[test]
    fn threads_share_a_thrashing_budget() {
        let res: Arc<Vec<Arc<LazyRegex>>> = Arc::new(
            (0..12)
                .map(|i| Arc::new(LazyRegex::new(&format!("k{i:02}_[a-z]{{8}}"), RULE).unwrap()))
                .collect(),
        );
        let probe = res[0].detached();
        probe.with(|_| ());
        let budget = Budget::new(probe.memory_usage() * 3);
        for re in res.iter() {
            budget.join(re);
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let res = Arc::clone(&res);
                std::thread::spawn(move || {
                    for n in 0..300 {
                        let i = (n * 7 + t * 5) % res.len();
                        let hay = format!("x k{i:02}_abcdefgh y");
                        assert!(res[i].is_match(hay.as_bytes()));
                        assert!(!res[(i + 1) % res.len()].is_match(hay.as_bytes()));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let compiled: usize = res.iter().map(|r| r.memory_usage()).sum();
        assert_eq!(budget.bytes(), compiled);
        assert!(budget.bytes() <= budget.cap + probe.memory_usage() * 2);
        assert!(budget.evictions() > 0);
    }

    #[test]
    fn a_regex_that_cannot_be_built_fails_closed() {
        // Built around the load-time check, as if a build failed later.
        let re = LazyRegex::uncompiled("(".into(), RULE, false, false);
        let mut slots = vec![None; 4];
        let input = Input::new(b"abc tok_x def").range(4..9);
        assert_eq!(re.search_slots(&input, &mut slots), Some(PatternID::ZERO));
        let got: Vec<_> = slots.iter().map(|s| s.map(|v| v.get())).collect();
        assert_eq!(got, [Some(4), Some(9), Some(4), Some(9)]);
        assert!(
            !re.is_match(b"anything"),
            "an allow list that cannot be built allows nothing"
        );
    }
}

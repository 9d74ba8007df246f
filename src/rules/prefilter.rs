//! The keyword prefilter shared by every rule of a set.
//!
//! A hit of a rule keyword wakes the rule; only woken rules run their regex.
//! So the prefilter decides most of the engine's speed, and its cost per
//! byte must not grow with the rule library.
//!
//! **One automaton.** Every keyword, lowercased, goes into one Aho-Corasick
//! DFA that matches ASCII case-insensitively and reports overlapping matches
//! (every keyword ending at every position). The DFA is copied into a
//! compact table of transitions over byte classes, rows of a power-of-two
//! stride, with the match states numbered last: the inner loop is a class
//! lookup, a shift, a transition lookup and one comparison per byte,
//! whatever the number of keywords. No lowercased copy of the input is made.
//!
//! **A narrow table.** The built-in keywords make about 7,000 states of 64
//! classes. A line of keywords walks all of them, and the table then
//! competes with the screens' caches for the core's cache: so transitions
//! are `u16` state numbers (half the bytes of `u32`) while the states fit,
//! `u32` beyond. The stride is a compile-time constant of the walk (64, 128
//! or 256 classes): a shift by a variable count cost normal logs 3%.
//!
//! **Exact and folded.** Where the loader proved that a rule's keywords occur
//! in every match exactly as written (`AKIA`, `ghp_`), a case-insensitive hit
//! wakes the rule only if the bytes equal the keyword exactly; keywords of
//! case-insensitive rules (`password`) wake theirs at any case.
//!
//! **Interleaving.** One DFA walk is bound by the latency of its dependent
//! loads. So a long haystack is cut into [`WAYS`] segments of start
//! positions, each walked by its own DFA state in the same loop; the CPU
//! overlaps the independent walks. A segment's walk runs `max_keyword_len -
//! 1` bytes into the next segment, so a keyword starting near its end is
//! still whole, and keeps only the matches that start inside the segment.
//!
//! **Chunking independence.** A walk started at position `s` finds exactly
//! the keyword occurrences starting at `s` or later (an automaton started
//! fresh cannot report a match that began before it). So the hits are every
//! `(position, rule)` with a keyword of the rule occurring at that position,
//! sorted and deduplicated: they depend only on the bytes, never on where
//! reads or segments were cut, as long as the caller only accepts hits whose
//! every possible keyword is fully buffered (see the engine).

use std::collections::HashMap;
use std::fmt;

use super::follow::Follow;

/// Interleaved DFA walks per search of a long haystack (the walk's lockstep
/// loop is written for four).
pub const WAYS: usize = 4;
const _: () = assert!(WAYS == 4);
/// Haystacks shorter than this are walked in one piece. The proxies feed
/// the engine a string or a message at a time, mostly a few hundred bytes:
/// interleaving those too (at 4,096 it did not) took an HTTP `_bulk`
/// request of 11 KB from 71 to 63 µs of CPU. Below 256 it gained nothing
/// more.
const MIN_INTERLEAVED: usize = 256;

/// A rule a keyword wakes, and the index in [`Prefilter::follows`] of the
/// bytes that may follow the keyword where it does (0: any).
type Wakes = (u32, u16);

/// An exact spelling of a keyword and the rules it wakes.
type Exact = (Box<[u8]>, Box<[Wakes]>);

/// Rules a keyword wakes, each with what may follow it (`None`: any).
type Follows = Vec<(u32, Option<Follow>)>;

/// The distinct follows of a prefilter, by index (0: anything).
struct FollowTable {
    follows: Vec<Follow>,
    ids: HashMap<Follow, u16>,
}

impl Default for FollowTable {
    fn default() -> Self {
        FollowTable {
            follows: vec![Follow::default()],
            ids: HashMap::new(),
        }
    }
}

impl FollowTable {
    /// The rules of `v` sorted, each once, with the index of its follow. A
    /// rule woken twice by one spelling (two keywords alike but for case)
    /// with different follows is woken by anything; past `u16::MAX`
    /// follows, so is every rule.
    fn wakes(&mut self, mut v: Follows) -> Box<[Wakes]> {
        v.sort_unstable_by_key(|w| w.0);
        let mut merged: Follows = Vec::with_capacity(v.len());
        for (r, f) in v {
            match merged.last_mut() {
                Some(last) if last.0 == r => {
                    if last.1 != f {
                        last.1 = None;
                    }
                }
                _ => merged.push((r, f)),
            }
        }
        merged
            .into_iter()
            .map(|(r, f)| (r, f.and_then(|f| self.id(f)).unwrap_or(0)))
            .collect()
    }

    fn id(&mut self, f: Follow) -> Option<u16> {
        if let Some(&id) = self.ids.get(&f) {
            return Some(id);
        }
        let id = u16::try_from(self.follows.len()).ok()?;
        self.follows.push(f.clone());
        self.ids.insert(f, id);
        Some(id)
    }
}

/// What one keyword (lowercased) wakes.
#[derive(Debug, Clone)]
struct Pattern {
    /// Rules woken at any case.
    folded: Box<[Wakes]>,
    /// Exact spellings and the rules each wakes.
    exact: Box<[Exact]>,
}

/// The compiled keyword search of a rule set.
#[derive(Clone)]
pub struct Prefilter {
    /// Byte to equivalence class.
    classes: [u8; 256],
    /// `trans[(state << shift) + class]`.
    trans: Trans,
    /// 6, 7 or 8 (see [`STRIDES`]).
    shift: u32,
    start: u32,
    /// States at or above this one are match states.
    first_match: u32,
    /// Per match state (`state - first_match`): its range in
    /// `match_patterns`.
    match_ranges: Box<[(u32, u32)]>,
    /// Patterns ending at each match state.
    match_patterns: Box<[u32]>,
    /// Length of each pattern.
    pattern_len: Box<[u32]>,
    patterns: Box<[Pattern]>,
    /// What may follow a keyword where it wakes a rule
    /// ([`super::follow`]); index 0 is unused (anything).
    follows: Box<[Follow]>,
    /// Longest keyword, in bytes.
    pub max_keyword_len: usize,
    /// Number of distinct search patterns (keywords, lowercased).
    pub keywords: usize,
}

impl fmt::Debug for Prefilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefilter")
            .field("keywords", &self.keywords)
            .field("max_keyword_len", &self.max_keyword_len)
            .field("states", &(self.trans.len() >> self.shift))
            .field("narrow", &matches!(self.trans, Trans::Narrow(_)))
            .field("memory", &self.memory_usage())
            .finish()
    }
}

/// No transition (in [`trie`]), no keyword ending (its `own`).
const NONE: u32 = u32::MAX;

/// The prefilter's transitions: state numbers, `u16` while they fit.
#[derive(Clone)]
enum Trans {
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
}

impl Trans {
    fn len(&self) -> usize {
        match self {
            Trans::Narrow(t) => t.len(),
            Trans::Wide(t) => t.len(),
        }
    }

    fn memory_usage(&self) -> usize {
        match self {
            Trans::Narrow(t) => t.len() * 2,
            Trans::Wide(t) => t.len() * 4,
        }
    }
}

/// The row shifts a prefilter's walk is compiled for: rows of 64 classes
/// at least (a smaller row saves little, and each shift is another copy of
/// the walk).
const STRIDES: [u32; 3] = [6, 7, 8];

/// The trie of `keys` over byte `classes`: `next[s * stride + c]`, NONE
/// where no keyword goes on, and for each state the keyword ending there
/// (NONE if none). At most one state per keyword byte: reserved once, and
/// pages never written are never resident.
fn trie(keys: &[Vec<u8>], classes: &[u8; 256], stride: usize) -> (Vec<u32>, Vec<u32>) {
    let most = 1 + keys.iter().map(Vec::len).sum::<usize>();
    let mut next = Vec::with_capacity(most * stride);
    next.resize(stride, NONE);
    let mut own = vec![NONE];
    for (p, k) in keys.iter().enumerate() {
        let mut s = 0;
        for &b in k {
            let at = s * stride + usize::from(classes[usize::from(b)]);
            if next[at] == NONE {
                next[at] = own.len() as u32;
                next.resize(next.len() + stride, NONE);
                own.push(NONE);
            }
            s = next[at] as usize;
        }
        own[s] = p as u32;
    }
    (next, own)
}

/// Breadth first over the trie `next` (`count` classes used of each
/// `stride`): each state's failure state, its full row (the transitions it
/// lacks copied from its failure state's row, complete already: that state
/// is shallower), and its patterns (its own, then its failure state's:
/// every keyword that ends there), as ranges `found[s]` of the returned
/// list.
fn complete(
    next: &mut [u32],
    own: &[u32],
    stride: usize,
    count: usize,
) -> (Vec<(u32, u32)>, Vec<u32>) {
    let states = own.len();
    let mut fail = vec![0u32; states];
    let mut order = Vec::with_capacity(states);
    let mut found: Vec<(u32, u32)> = vec![(0, 0); states];
    let mut pats: Vec<u32> = Vec::new();
    order.push(0u32);
    let mut i = 0;
    while i < order.len() {
        let s = order[i] as usize;
        i += 1;
        let from = pats.len() as u32;
        if own[s] != NONE {
            pats.push(own[s]);
        }
        if s != 0 {
            let (a, b) = found[fail[s] as usize];
            pats.extend_from_within(a as usize..b as usize);
        }
        found[s] = (from, pats.len() as u32);
        let f = fail[s] as usize;
        for c in 0..count {
            let t = next[s * stride + c];
            if t == NONE {
                next[s * stride + c] = if s == 0 { 0 } else { next[f * stride + c] };
            } else {
                fail[t as usize] = if s == 0 { 0 } else { next[f * stride + c] };
                order.push(t);
            }
        }
    }
    (found, pats)
}

impl Prefilter {
    /// Builds the prefilter from each rule's keywords (already validated:
    /// ASCII, non-empty) and whether they hold exactly as written.
    pub fn new<'a>(rule_keywords: impl IntoIterator<Item = (&'a [String], bool)>) -> Prefilter {
        Self::with_follows(rule_keywords.into_iter().map(|(k, e)| (k, e, &[][..])))
    }

    /// As [`new`](Self::new), with the bytes that may follow each keyword
    /// where it wakes its rule ([`super::follow`]; missing entries: any):
    /// a hit followed by another byte wakes nothing.
    pub fn with_follows<'a>(
        rule_keywords: impl IntoIterator<Item = (&'a [String], bool, &'a [Option<Follow>])>,
    ) -> Prefilter {
        // lowercased keyword -> (folded rules, exact spellings -> rules),
        // each rule with what may follow (`None`: any byte).
        type Owners = (Follows, Vec<(Vec<u8>, Follows)>);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut owners: HashMap<Vec<u8>, Owners> = HashMap::new();
        for (i, (kws, exact, follows)) in rule_keywords.into_iter().enumerate() {
            let rule = i as u32;
            for (j, k) in kws.iter().enumerate() {
                let key = k.as_bytes().to_ascii_lowercase();
                let o = owners.entry(key.clone()).or_insert_with(|| {
                    keys.push(key);
                    Default::default()
                });
                let wake = (rule, follows.get(j).cloned().flatten());
                if exact {
                    match o.1.iter_mut().find(|(b, _)| b == k.as_bytes()) {
                        Some((_, rules)) => rules.push(wake),
                        None => o.1.push((k.as_bytes().to_vec(), vec![wake])),
                    }
                } else {
                    o.0.push(wake);
                }
            }
        }
        let mut table = FollowTable::default();
        let mut sorted = |v: Follows| table.wakes(v);
        let patterns: Vec<Pattern> = keys
            .iter()
            .map(|k| {
                let (folded, exact) = owners.remove(k).expect("every key has owners");
                Pattern {
                    folded: sorted(folded),
                    exact: exact
                        .into_iter()
                        .map(|(b, r)| (b.into_boxed_slice(), sorted(r)))
                        .collect(),
                }
            })
            .collect();
        let max_keyword_len = keys.iter().map(Vec::len).max().unwrap_or(0);
        let mut pf = Prefilter {
            classes: [0; 256],
            trans: Trans::Wide(vec![0; 1 << STRIDES[0]].into_boxed_slice()),
            shift: STRIDES[0],
            start: 0,
            first_match: u32::MAX,
            match_ranges: Box::new([]),
            match_patterns: Box::new([]),
            pattern_len: keys.iter().map(|k| k.len() as u32).collect(),
            patterns: patterns.into_boxed_slice(),
            follows: table.follows.into_boxed_slice(),
            max_keyword_len,
            keywords: keys.len(),
        };
        if !keys.is_empty() {
            pf.compile(&keys);
        }
        pf
    }

    /// Builds the automaton straight into the compact table: a trie of the
    /// keywords over byte classes, then, breadth first, each state's failure
    /// state and the transitions it lacks, copied from its failure state's
    /// row (complete already: that state is shallower). Linear in the
    /// states times the classes; no intermediate automaton.
    fn compile(&mut self, keys: &[Vec<u8>]) {
        let (classes, count) = byte_classes(keys);
        self.classes = classes;
        let shift = count.next_power_of_two().trailing_zeros().max(STRIDES[0]);
        debug_assert!(STRIDES.contains(&shift));
        let stride = 1usize << shift;
        let (mut next, own) = trie(keys, &classes, stride);
        let (found, pats) = complete(&mut next, &own, stride, usize::from(count));
        let states = own.len();
        // Renumber: non-match states first (breadth-first
        // order within each group), so one comparison finds matches. The
        // trie's rows become the table in place (one table-sized array at
        // a time: this is start-up's peak memory).
        let is_match = |s: usize| found[s].0 < found[s].1;
        let mut by_new: Vec<usize> = (0..states).filter(|&s| !is_match(s)).collect();
        let first_match = by_new.len();
        by_new.extend((0..states).filter(|&s| is_match(s)));
        let mut new_of = vec![0u32; states];
        for (n, &s) in by_new.iter().enumerate() {
            new_of[s] = n as u32;
        }
        for row in next.chunks_exact_mut(stride) {
            let (used, unused) = row.split_at_mut(usize::from(count));
            used.iter_mut().for_each(|t| *t = new_of[*t as usize]);
            unused.fill(0);
        }
        permute_rows(&mut next, stride, &by_new);
        self.trans = match u16::try_from(states - 1) {
            Ok(_) => Trans::Narrow(next.iter().map(|&t| t as u16).collect()),
            Err(_) => Trans::Wide(next.into_boxed_slice()),
        };
        let mut ranges = Vec::with_capacity(states - first_match);
        let mut patterns = Vec::new();
        for &s in &by_new[first_match..] {
            let (a, b) = found[s];
            let from = patterns.len() as u32;
            patterns.extend_from_slice(&pats[a as usize..b as usize]);
            ranges.push((from, patterns.len() as u32));
        }
        self.shift = shift;
        self.start = new_of[0];
        self.first_match = first_match as u32;
        self.match_ranges = ranges.into_boxed_slice();
        self.match_patterns = patterns.into_boxed_slice();
    }

    /// Heap bytes of the automaton and its tables.
    pub fn memory_usage(&self) -> usize {
        self.trans.memory_usage()
            + self.match_ranges.len() * 8
            + self.match_patterns.len() * 4
            + self.pattern_len.len() * 4
            + self
                .follows
                .iter()
                .map(|f| 64 + f.memory_usage())
                .sum::<usize>()
            + self
                .patterns
                .iter()
                .map(|p| {
                    p.folded.len() * 8
                        + p.exact
                            .iter()
                            .map(|(b, r)| b.len() + r.len() * 8 + 32)
                            .sum::<usize>()
                        + 48
                })
                .sum::<usize>()
    }

    /// Appends to `out` every `(position, rule)` hit in `hay` with a position
    /// below `limit`, sorted and deduplicated: each position where a keyword
    /// of the rule occurs (ASCII case-insensitively, or exactly for rules
    /// with exact keywords). Keywords must end within `hay`.
    pub fn find_hits(&self, hay: &[u8], limit: usize, out: &mut Vec<(usize, u32)>) {
        let limit = limit.min(hay.len());
        if limit == 0 || self.keywords == 0 {
            return;
        }
        let start = out.len();
        // Raw (position, pattern) matches first, then what they wake.
        let scan_end = hay
            .len()
            .min(limit.saturating_add(self.max_keyword_len - 1));
        macro_rules! walk {
            ($t:expr) => {
                match self.shift {
                    6 => self.raw_matches::<_, 6>($t, hay, limit, scan_end, out),
                    7 => self.raw_matches::<_, 7>($t, hay, limit, scan_end, out),
                    _ => self.raw_matches::<_, 8>($t, hay, limit, scan_end, out),
                }
            };
        }
        match &self.trans {
            Trans::Narrow(t) => walk!(t),
            Trans::Wide(t) => walk!(t),
        }
        // Usually in order already (one keyword repeated): check first.
        if out[start..].windows(2).all(|p| p[0] < p[1]) {
            return;
        }
        out[start..].sort_unstable();
        let mut w = start;
        for i in start..out.len() {
            if w == start || out[w - 1] != out[i] {
                out[w] = out[i];
                w += 1;
            }
        }
        out.truncate(w);
    }

    /// Appends to `out` the rules the keyword match `(pos, p)` wakes: those
    /// the two bytes after it (if buffered) may follow it in, and for exact
    /// spellings only where the bytes are the spelling.
    #[inline]
    fn wake(&self, hay: &[u8], (pos, p): (usize, u32), out: &mut Vec<(usize, u32)>) {
        let pat = &self.patterns[p as usize];
        let end = pos + self.pattern_len[p as usize] as usize;
        let (b1, b2) = (hay.get(end).copied(), hay.get(end + 1).copied());
        let follows = |&&(_, f): &&Wakes| f == 0 || self.follows[usize::from(f)].allows(b1, b2);
        out.extend(pat.folded.iter().filter(follows).map(|&(r, _)| (pos, r)));
        for (bytes, rules) in pat.exact.iter() {
            if hay[pos..pos + bytes.len()] == bytes[..] {
                out.extend(rules.iter().filter(follows).map(|&(r, _)| (pos, r)));
            }
        }
    }

    /// Appends to `out` the hits of the keyword matches starting below
    /// `limit` (and ending by `scan_end`), walking `trans` (rows of `1 <<
    /// S`): unsorted.
    fn raw_matches<T: Copy + Into<u32>, const S: u32>(
        &self,
        trans: &[T],
        hay: &[u8],
        limit: usize,
        scan_end: usize,
        out: &mut Vec<(usize, u32)>,
    ) {
        debug_assert_eq!(S, self.shift);
        if limit >= MIN_INTERLEAVED {
            // Each walk's matches in a vector of its own: the walks' segments
            // are in order, and so (nearly) are each walk's matches.
            let mut ways: [Vec<(usize, u32)>; WAYS] = Default::default();
            self.walk_interleaved::<T, S>(trans, hay, limit, scan_end, &mut ways);
            for raw in &ways {
                for &m in raw {
                    self.wake(hay, m, out);
                }
            }
        } else {
            let start = out.len();
            let mut sid = self.start;
            for (at, &b) in hay[..scan_end].iter().enumerate() {
                sid = self.step::<T, S>(trans, sid, b);
                if sid >= self.first_match {
                    self.on_match(sid, at, 0, limit, out);
                }
            }
            let raw = out.len();
            for i in start..raw {
                self.wake(hay, out[i], out);
            }
            out.drain(start..raw);
        }
    }

    #[inline(always)]
    fn step<T: Copy + Into<u32>, const S: u32>(&self, trans: &[T], sid: u32, b: u8) -> u32 {
        let class = u32::from(self.classes[usize::from(b)]);
        // `class` is below the stride.
        trans[((sid << S) + class) as usize].into()
    }

    /// Records the patterns of match state `sid`, ending at byte `at`, that
    /// start in `lo..hi`.
    #[inline(never)]
    fn on_match(&self, sid: u32, at: usize, lo: usize, hi: usize, out: &mut Vec<(usize, u32)>) {
        let m = (sid - self.first_match) as usize;
        let (a, b) = self.match_ranges[m];
        for &p in &self.match_patterns[a as usize..b as usize] {
            let s = at + 1 - self.pattern_len[p as usize] as usize;
            if lo <= s && s < hi {
                out.push((s, p));
            }
        }
    }

    /// [`WAYS`] walks over as many segments of start positions
    /// `[0, limit)`, the last one ending at `scan_end`.
    fn walk_interleaved<T: Copy + Into<u32>, const S: u32>(
        &self,
        trans: &[T],
        hay: &[u8],
        limit: usize,
        scan_end: usize,
        out: &mut [Vec<(usize, u32)>; WAYS],
    ) {
        const W: usize = WAYS;
        let overlap = self.max_keyword_len - 1;
        let lo: [usize; W] = std::array::from_fn(|w| limit * w / W);
        let hi: [usize; W] = std::array::from_fn(|w| limit * (w + 1) / W);
        let end: [usize; W] = std::array::from_fn(|w| (hi[w] + overlap).min(scan_end));
        let common = (0..W).map(|w| end[w] - lo[w]).min().unwrap_or(0);
        let fm = self.first_match;
        let mut sid = [self.start; W];
        // The walks in lockstep over their common length: zipped slices (no
        // index checks), and one test of the largest state for a match in
        // any walk (matches are rare; match states sort last).
        let seg = |w: usize| &hay[lo[w]..lo[w] + common];
        let lockstep = seg(0).iter().zip(seg(1)).zip(seg(2)).zip(seg(3));
        for (i, (((&b0, &b1), &b2), &b3)) in lockstep.enumerate() {
            sid = [
                self.step::<T, S>(trans, sid[0], b0),
                self.step::<T, S>(trans, sid[1], b1),
                self.step::<T, S>(trans, sid[2], b2),
                self.step::<T, S>(trans, sid[3], b3),
            ];
            if sid[0].max(sid[1]).max(sid[2].max(sid[3])) >= fm {
                for w in 0..W {
                    if sid[w] >= fm {
                        self.on_match(sid[w], lo[w] + i, lo[w], hi[w], &mut out[w]);
                    }
                }
            }
        }
        for w in 0..W {
            let from = lo[w] + common;
            for (at, &b) in hay[from..end[w]]
                .iter()
                .enumerate()
                .map(|(i, b)| (from + i, b))
            {
                sid[w] = self.step::<T, S>(trans, sid[w], b);
                if sid[w] >= fm {
                    self.on_match(sid[w], at, lo[w], hi[w], &mut out[w]);
                }
            }
        }
    }
}

/// Reorders the rows of `table` (each `stride` long) so that row `n` is the
/// old row `perm[n]`, in place, one cycle of the permutation at a time.
fn permute_rows(table: &mut [u32], stride: usize, perm: &[usize]) {
    let mut done = vec![false; perm.len()];
    let mut saved = vec![0u32; stride];
    for first in 0..perm.len() {
        if done[first] {
            continue;
        }
        saved.copy_from_slice(&table[first * stride..][..stride]);
        let mut n = first;
        loop {
            done[n] = true;
            let from = perm[n];
            if from == first {
                table[n * stride..][..stride].copy_from_slice(&saved);
                break;
            }
            table.copy_within(from * stride..(from + 1) * stride, n * stride);
            n = from;
        }
    }
}

/// Each byte's class, and the number of classes: class 0 for the bytes no
/// keyword holds, one class for each other byte, ASCII case folded (both
/// cases of a letter share one). Bytes in different classes lead somewhere
/// different from some state, so the partition is the coarsest there is.
fn byte_classes(keys: &[Vec<u8>]) -> ([u8; 256], u16) {
    let mut of_folded = [0u8; 256];
    let mut count: u16 = 1;
    for &b in keys.iter().flatten() {
        let f = usize::from(b.to_ascii_lowercase());
        if of_folded[f] == 0 {
            // At most 230 folded bytes (26 letters fold away): fits a u8.
            of_folded[f] = count as u8;
            count += 1;
        }
    }
    let classes = std::array::from_fn(|b| of_folded[usize::from((b as u8).to_ascii_lowercase())]);
    (classes, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf(rules: &[(&[&str], bool)]) -> Prefilter {
        let owned: Vec<(Vec<String>, bool)> = rules
            .iter()
            .map(|(r, e)| (r.iter().map(|s| s.to_string()).collect(), *e))
            .collect();
        Prefilter::new(owned.iter().map(|(v, e)| (v.as_slice(), *e)))
    }

    fn hits(p: &Prefilter, hay: &[u8], limit: usize) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        p.find_hits(hay, limit, &mut out);
        out
    }

    /// `p` with its transitions as `u32`, as a prefilter of more than
    /// 65,536 states has them.
    fn widened(p: &Prefilter) -> Prefilter {
        let mut w = p.clone();
        if let Trans::Narrow(t) = &p.trans {
            w.trans = Trans::Wide(t.iter().map(|&s| u32::from(s)).collect());
        }
        w
    }

    #[test]
    fn prefixes_wake_their_rules_and_every_position_is_reported() {
        let p = pf(&[(&["tok_"], true), (&["tok_live_"], true), (&["ok_l"], true)]);
        assert_eq!(hits(&p, b"x tok_live_ y", 13), vec![(2, 0), (2, 1), (3, 2)]);
        assert_eq!(
            hits(&p, b"x TOK_live_ y", 13),
            vec![],
            "exact keywords are case-sensitive"
        );
    }

    #[test]
    fn folded_keywords_match_any_case_and_exact_ones_only_as_written() {
        let p = pf(&[(&["Password"], false), (&["AKIA"], true), (&["akia"], true)]);
        assert_eq!(hits(&p, b"PASSWORD password", 17), vec![(0, 0), (9, 0)]);
        assert_eq!(hits(&p, b"AKIA akia Akia", 14), vec![(0, 1), (5, 2)]);
        assert_eq!(hits(&p, b"AKIA", 0), vec![]);
        assert_eq!(pf(&[]).keywords, 0);
        assert_eq!(hits(&pf(&[]), b"anything", 8), vec![]);
    }

    #[test]
    fn a_hit_wakes_only_rules_its_next_byte_may_follow_in() {
        // Rule 0 may follow `tok_` with a digit, rule 1 with anything, and
        // so may rule 2: two keywords alike but for case, folded, with
        // different follows.
        let digit = {
            let hir = crate::rules::compile::parse("tok_[0-9]{4}").unwrap();
            let nfa = crate::rules::lazy::forward_nfa(&hir).unwrap();
            crate::rules::follow::after(&nfa, b"tok_", false)
        };
        let x = {
            let hir = crate::rules::compile::parse("(?i)tok_x").unwrap();
            let nfa = crate::rules::lazy::forward_nfa(&hir).unwrap();
            crate::rules::follow::after(&nfa, b"tok_", true)
        };
        let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (a, b, c) = (kw(&["tok_"]), kw(&["tok_"]), kw(&["tok_", "TOK_"]));
        let (fa, fc) = ([digit.clone()], [digit, x]);
        let p = Prefilter::with_follows([
            (a.as_slice(), true, &fa[..]),
            (b.as_slice(), true, &[][..]),
            (c.as_slice(), false, &fc[..]),
        ]);
        assert_eq!(hits(&p, b"tok_1", 5), vec![(0, 0), (0, 1), (0, 2)]);
        assert_eq!(hits(&p, b"tok_x", 5), vec![(0, 1), (0, 2)]);
        assert_eq!(hits(&p, b"tok_ ", 5), vec![(0, 1), (0, 2)]);
        // `\` may start an escaped form of any byte.
        assert_eq!(hits(&p, b"tok_\\", 5), vec![(0, 0), (0, 1), (0, 2)]);
        // The next byte is not buffered yet: every rule is woken.
        assert_eq!(hits(&p, b"tok_", 4), vec![(0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn many_keywords_merge_sorted_and_deduplicated() {
        // 200 distinct keywords, one rule owning two keywords that start at
        // the same place.
        let kws: Vec<String> = (0..200).map(|i| format!("kw{i:03}x")).collect();
        let mut rules: Vec<Vec<String>> = kws.iter().map(|k| vec![k.clone()]).collect();
        rules.push(vec!["kw0".into(), "kw007x".into()]);
        let p = Prefilter::new(rules.iter().map(|v| (v.as_slice(), false)));
        let hay = b"..kw007x..KW199X";
        assert_eq!(hits(&p, hay, hay.len()), vec![(2, 7), (2, 200), (10, 199)]);
        assert_eq!(hits(&p, hay, 10), vec![(2, 7), (2, 200)]);
    }

    /// Every keyword occurrence, by brute force.
    fn naive(rules: &[(Vec<String>, bool)], hay: &[u8], limit: usize) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        for pos in 0..limit.min(hay.len()) {
            for (r, (kws, exact)) in rules.iter().enumerate() {
                let hit = kws.iter().any(|k| {
                    let k = k.as_bytes();
                    hay.len() - pos >= k.len()
                        && if *exact {
                            &hay[pos..pos + k.len()] == k
                        } else {
                            hay[pos..pos + k.len()].eq_ignore_ascii_case(k)
                        }
                });
                if hit {
                    out.push((pos, r as u32));
                }
            }
        }
        out
    }

    #[test]
    fn interleaved_walks_find_what_brute_force_finds() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        // Every printable byte takes the rows past 64 classes.
        let printable: Vec<u8> = (b' '..=b'~').collect();
        let mut rows_of_128 = 0;
        for round in 0..40 {
            let alphabet: &[u8] = if round % 4 == 3 {
                &printable
            } else {
                b"abAB_-:/xyz"
            };
            let rules: Vec<(Vec<String>, bool)> = (0..1 + rnd(30))
                .map(|_| {
                    let kws = (0..1 + rnd(3))
                        .map(|_| {
                            (0..2 + rnd(6))
                                .map(|_| char::from(alphabet[rnd(alphabet.len())]))
                                .collect()
                        })
                        .collect();
                    (kws, rnd(2) == 0)
                })
                .collect();
            let p = Prefilter::new(rules.iter().map(|(v, e)| (v.as_slice(), *e)));
            let wide = widened(&p);
            rows_of_128 += usize::from(p.shift == 7);
            let len = if round % 2 == 0 {
                5000 + rnd(20000)
            } else {
                rnd(300)
            };
            let hay: Vec<u8> = (0..len).map(|_| alphabet[rnd(alphabet.len())]).collect();
            for limit in [
                len,
                len.saturating_sub(p.max_keyword_len),
                len / 2,
                MIN_INTERLEAVED - 1,
                MIN_INTERLEAVED,
                MIN_INTERLEAVED + 3,
            ] {
                let limit = limit.min(len);
                // Keywords starting below `limit` must be whole in the hay.
                let hay = &hay[..(limit + p.max_keyword_len).min(len)];
                let want = naive(&rules, hay, limit);
                assert_eq!(hits(&p, hay, limit), want, "round {round} limit {limit}");
                assert_eq!(hits(&wide, hay, limit), want, "u32, round {round}");
            }
        }
        assert!(rows_of_128 > 0, "no round took rows of 128 classes");
    }

    #[test]
    fn the_built_in_keywords_fit_a_narrow_table_of_64_classes() {
        let p = crate::engine::testing::builtin_rules().prefilter().clone();
        assert!(matches!(p.trans, Trans::Narrow(_)), "{p:?}");
        assert_eq!(p.shift, 6, "{p:?}");
    }

    #[test]
    fn a_table_of_more_than_65536_states_is_wide() {
        // 20,000 keywords of 10 bytes, scattered: past 5 bytes each has
        // states of its own, about 100,000 in all.
        let kws: Vec<Vec<String>> = (0..20_000u64)
            .map(|i| vec![format!("k{:09}", i * 2_654_435_761 % 1_000_000_000)])
            .collect();
        let p = Prefilter::new(kws.iter().map(|v| (v.as_slice(), false)));
        assert!(matches!(p.trans, Trans::Wide(_)), "{p:?}");
        let hay = format!("xx {} yy {}", kws[7][0], kws[19_999][0].to_uppercase());
        assert_eq!(
            hits(&p, hay.as_bytes(), hay.len()),
            vec![(3, 7), (17, 19_999)]
        );
    }
}

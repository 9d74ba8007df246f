//! What may follow a keyword at the start of a match: a filter on keyword
//! hits that costs the prefilter one table lookup per hit.
//!
//! A rule whose every match starts with a keyword (its keyword offset is
//! 0: `ghp_…`, `sk_live_…`, `AKIA…`) is verified, for a hit of keyword `kw`
//! at `k`, only for matches starting at `k`, and such a match begins with
//! the bytes of the hit. The bytes that may come right after them in a
//! match are a fixed set, read off the rule's forward NFA ([`after`]): the
//! states its anchored start reaches on the keyword's bytes (in any ASCII
//! case where the rule is woken in any case), and the bytes those states
//! have a transition on. A rule whose matches start up to `n` bytes before
//! the keyword (`(?:^|[^/])password…`: 1) is verified for matches starting
//! in `k - n..=k`, whose bytes from `k` on are the hit's too: its walk
//! starts from the states any `0..=n` bytes lead to ([`Afters::new`]). Where the byte after a hit is not in the set, no
//! match of the rule starts at the hit, and the prefilter drops the hit
//! without waking the rule ([`super::prefilter`]). A line of nothing but
//! keywords (`ghp_ sk_live_ xoxb- …`), which woke every rule it named, then
//! wakes only the rules whose keyword may be followed by a space.
//!
//! The same goes for the byte after that: each first byte's NFA states
//! give the bytes that may come second, and first bytes with the same
//! second ones are grouped ([`Follow`]). A keyword followed by a space
//! (`secret ` in prose or a soup) is dropped by rules that want an `=` or
//! `:` after the space.
//!
//! The sets over-approximate, so dropping is sound, and the output is the
//! same as without it (only which rules verify what changes):
//! - look-around assertions count as passed;
//! - a match that may end within or right after the keyword's bytes gives
//!   no set (the byte after does not decide it), and one that may end
//!   after the first byte no second set;
//! - `\`, which starts every escaped form the rules see through
//!   ([`super::escape`]), is always in the set;
//! - only keywords searched as plain bytes get one (not the escaped
//!   spellings [`super::escape::search_keywords`] adds);
//! - a hit whose next bytes are not buffered yet is kept.

use regex_automata::nfa::thompson::{State, NFA};
use regex_automata::util::primitives::StateID;

use super::ByteSet;

/// What may follow a keyword where a match starts with it: the first byte
/// after it, and for each first byte, the second (see [`after`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Follow {
    /// The bytes that may come first.
    pub first: ByteSet,
    /// Groups of first bytes, each with the bytes that may come after any
    /// of them; a first byte in no group may be followed by anything.
    second: Box<[(ByteSet, ByteSet)]>,
}

/// At most this many groups of first bytes with their second bytes; past
/// it, the first byte alone is checked.
const MAX_GROUPS: usize = 8;

impl Follow {
    /// Whether a match may go on with `b1`, then `b2` (`None`: not
    /// buffered yet, so anything may).
    #[inline]
    pub fn allows(&self, b1: Option<u8>, b2: Option<u8>) -> bool {
        let Some(b1) = b1 else { return true };
        if !self.first.contains(b1) {
            return false;
        }
        let Some(b2) = b2 else { return true };
        self.second
            .iter()
            .find(|(group, _)| group.contains(b1))
            .is_none_or(|(_, next)| next.contains(b2))
    }

    /// Heap bytes.
    pub fn memory_usage(&self) -> usize {
        self.second.len() * 64
    }

    /// The first bytes, and the groups of first bytes with their second
    /// bytes (to write the follow down, [`super::precomputed`]).
    pub fn parts(&self) -> (ByteSet, &[(ByteSet, ByteSet)]) {
        (self.first, &self.second)
    }

    /// The follow of these [`parts`](Self::parts), as written down.
    pub fn from_parts(first: ByteSet, second: Vec<(ByteSet, ByteSet)>) -> Follow {
        Follow {
            first,
            second: second.into_boxed_slice(),
        }
    }
}

/// What may follow `kw` in a match of `nfa` that begins with `kw` (with
/// any ASCII case of its letters if `fold`), or `None` when there is
/// nothing to check: a match may end within `kw` or right after it, or any
/// byte may follow. An empty first set means no match begins with `kw`.
/// See the module docs. For several keywords of one rule, [`Afters`].
pub fn after(nfa: &NFA, kw: &[u8], fold: bool) -> Option<Follow> {
    Afters::new(nfa, 0).after(kw, fold)
}

/// [`after`] for the keywords of one rule: keywords that leave the NFA in
/// the same states (`api_key`, `api-key`, `apikey`) share the work.
pub struct Afters<'a> {
    walk: Walk<'a>,
    /// Where a keyword may begin: the states after up to the keyword
    /// offset's worth of any bytes; `None` if a match may end there.
    starts: Option<Vec<StateID>>,
    done: Vec<(Vec<StateID>, Option<Follow>)>,
}

impl<'a> Afters<'a> {
    /// For the rule whose forward NFA is `nfa` and whose matches start at
    /// most `offset` bytes before their keyword: the keyword may follow any
    /// `0..=offset` bytes at a match's start.
    pub fn new(nfa: &'a NFA, offset: usize) -> Afters<'a> {
        let mut walk = Walk {
            nfa,
            seen: vec![false; nfa.states().len()],
            marked: Vec::new(),
            stack: Vec::new(),
        };
        let starts = walk.start().and_then(|mut now| {
            let mut all = now.clone();
            for _ in 0..offset {
                match walk.step_any(&now) {
                    Step::Live(next) if next.is_empty() => break,
                    Step::Live(next) => {
                        all.extend_from_slice(&next);
                        now = next;
                    }
                    Step::Matched => return None,
                }
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        });
        Afters {
            walk,
            starts,
            done: Vec::new(),
        }
    }

    /// See [`after`]. `None` for a keyword holding `\\`: an escaped
    /// spelling ([`super::escape::search_keywords`]), whose raw bytes are
    /// not what the regex sees.
    pub fn after(&mut self, kw: &[u8], fold: bool) -> Option<Follow> {
        if kw.contains(&b'\\') {
            return None;
        }
        let walk = &mut self.walk;
        let mut now = self.starts.clone()?;
        for &b in kw {
            let cases = if fold {
                [b.to_ascii_lowercase(), b.to_ascii_uppercase()]
            } else {
                [b, b]
            };
            match walk.step(&now, &cases) {
                Step::Live(next) => now = next,
                Step::Matched => return None,
            }
        }
        now.sort_unstable();
        if let Some((_, f)) = self.done.iter().find(|(states, _)| *states == now) {
            return f.clone();
        }
        let f = follow(walk, &now);
        self.done.push((now, f.clone()));
        f
    }
}

/// What may follow in the states `now` (see [`after`]).
fn follow(walk: &mut Walk<'_>, now: &[StateID]) -> Option<Follow> {
    let first = walk.bytes(now)?;
    Some(Follow::grouped(first, |b1| match walk.step(now, &[b1]) {
        Step::Live(states) => walk.bytes(&states),
        Step::Matched => None,
    }))
}

/// What may follow a keyword where a match goes on after it with a byte
/// of one of the `pairs`' first set, then one of its second: for a rule
/// matched by fixed sequences of byte classes (a `-truncated` rule's
/// shapes). `\\` may come first or second, as ever.
pub fn from_pairs(pairs: &[(ByteSet, ByteSet)]) -> Option<Follow> {
    let mut first = ByteSet::default();
    first.insert(b'\\');
    for (a, _) in pairs {
        first.union(a);
    }
    if first.is_full() {
        return None;
    }
    Some(Follow::grouped(first, |b1| {
        let mut next = ByteSet::default();
        next.insert(b'\\');
        for (_, b) in pairs.iter().filter(|(a, _)| a.contains(b1)) {
            next.union(b);
        }
        (!next.is_full()).then_some(next)
    }))
}

impl Follow {
    /// The follow of `first`, each first byte but `\\` (which may start an
    /// escaped form, so anything may follow it) with the second bytes
    /// `second` gives it (`None`: any), first bytes with the same seconds
    /// grouped.
    fn grouped(first: ByteSet, mut second: impl FnMut(u8) -> Option<ByteSet>) -> Follow {
        let mut groups: Vec<(ByteSet, ByteSet)> = Vec::new();
        for b1 in (0..=255u8).filter(|&b| first.contains(b) && b != b'\\') {
            let Some(next) = second(b1) else { continue };
            match groups.iter_mut().find(|(_, n)| *n == next) {
                Some((group, _)) => group.insert(b1),
                None => {
                    let mut group = ByteSet::default();
                    group.insert(b1);
                    groups.push((group, next));
                }
            }
        }
        if groups.len() > MAX_GROUPS {
            groups.clear();
        }
        Follow {
            first,
            second: groups.into_boxed_slice(),
        }
    }
}

/// Where a step of the NFA went.
enum Step {
    /// These byte-consuming states.
    Live(Vec<StateID>),
    /// A match may end here.
    Matched,
}

/// Where a byte-consuming state goes on `b`.
fn step(state: &State, b: u8) -> Option<StateID> {
    match state {
        State::ByteRange { trans } => trans.matches_byte(b).then_some(trans.next),
        State::Sparse(s) => s.matches_byte(b),
        State::Dense(d) => d.matches_byte(b),
        _ => None,
    }
}

struct Walk<'a> {
    nfa: &'a NFA,
    seen: Vec<bool>,
    /// The states `seen` marks (cleared per step without a pass over all).
    marked: Vec<StateID>,
    stack: Vec<StateID>,
}

impl Walk<'_> {
    /// The states of the anchored start, closed; `None` if a match may be
    /// empty.
    fn start(&mut self) -> Option<Vec<StateID>> {
        self.unmark();
        let mut now = Vec::new();
        let start = self.nfa.start_anchored();
        (!self.close(&[start], &mut now)).then_some(now)
    }

    /// The states `now` goes to on any byte, closed.
    fn step_any(&mut self, now: &[StateID]) -> Step {
        let mut next = Vec::new();
        for &id in now {
            match self.nfa.state(id) {
                State::ByteRange { trans } => next.push(trans.next),
                State::Sparse(s) => next.extend(s.transitions.iter().map(|t| t.next)),
                State::Dense(d) => {
                    next.extend(d.transitions.iter().filter(|&&to| to != StateID::ZERO))
                }
                _ => {}
            }
        }
        self.close_all(&next)
    }

    /// The states `now` goes to on any of `bytes`, closed.
    fn step(&mut self, now: &[StateID], bytes: &[u8]) -> Step {
        let mut next = Vec::new();
        for &id in now {
            for &b in bytes {
                if let Some(to) = step(self.nfa.state(id), b) {
                    next.push(to);
                }
            }
        }
        self.close_all(&next)
    }

    fn close_all(&mut self, next: &[StateID]) -> Step {
        self.unmark();
        let mut closed = Vec::new();
        if self.close(next, &mut closed) {
            return Step::Matched;
        }
        Step::Live(closed)
    }

    fn unmark(&mut self) {
        for id in self.marked.drain(..) {
            self.seen[id.as_usize()] = false;
        }
    }

    /// The bytes the states have a transition on, and `\\`; `None` if that
    /// is every byte.
    fn bytes(&self, states: &[StateID]) -> Option<ByteSet> {
        let mut set = ByteSet::default();
        for &id in states {
            match self.nfa.state(id) {
                State::ByteRange { trans } => set.insert_range(trans.start, trans.end),
                State::Sparse(s) => {
                    for t in s.transitions.iter() {
                        set.insert_range(t.start, t.end);
                    }
                }
                State::Dense(d) => {
                    for b in 0..=255u8 {
                        if d.matches_byte(b).is_some() {
                            set.insert(b);
                        }
                    }
                }
                _ => {}
            }
        }
        set.insert(b'\\');
        (!set.is_full()).then_some(set)
    }

    /// Adds to `out` the byte-consuming states reachable from `from`
    /// without consuming a byte, every assertion taken as passed. Returns
    /// whether a match state is among them.
    fn close(&mut self, from: &[StateID], out: &mut Vec<StateID>) -> bool {
        let mut matched = false;
        self.stack.extend_from_slice(from);
        while let Some(id) = self.stack.pop() {
            if std::mem::replace(&mut self.seen[id.as_usize()], true) {
                continue;
            }
            self.marked.push(id);
            match self.nfa.state(id) {
                State::ByteRange { .. } | State::Sparse(_) | State::Dense(_) => out.push(id),
                State::Look { next, .. } | State::Capture { next, .. } => self.stack.push(*next),
                State::Union { alternates } => self.stack.extend_from_slice(alternates),
                State::BinaryUnion { alt1, alt2 } => self.stack.extend([*alt1, *alt2]),
                State::Fail => {}
                State::Match { .. } => matched = true,
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(pattern: &str, kw: &str, fold: bool) -> Option<Follow> {
        let hir = super::super::compile::parse(pattern).unwrap();
        let nfa = super::super::lazy::forward_nfa(&hir).unwrap();
        after(&nfa, kw.as_bytes(), fold)
    }

    fn set_after(pattern: &str, kw: &str, fold: bool) -> Option<ByteSet> {
        follow(pattern, kw, fold).map(|f| f.first)
    }

    fn bytes(s: &ByteSet) -> Vec<u8> {
        (0..=255u8).filter(|&b| s.contains(b)).collect()
    }

    #[test]
    fn the_set_is_what_the_regex_allows_after_the_keyword_and_backslash() {
        let s = set_after(r"\bghp_[A-Za-z0-9]{36}\b", "ghp_", false).unwrap();
        let mut want: Vec<u8> = (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .collect();
        want.push(b'\\');
        want.sort_unstable();
        assert_eq!(bytes(&s), want);
        // Alternatives after the keyword, and a keyword that is a prefix
        // of a longer literal.
        let s = set_after(r"xox(?:b|p)-[0-9]{10}", "xox", false).unwrap();
        assert_eq!(bytes(&s), b"\\bp".to_vec());
        let s = set_after(r"sk_(?:live|test)_[0-9a-z]{24}", "sk_", false).unwrap();
        assert_eq!(bytes(&s), b"\\lt".to_vec());
    }

    #[test]
    fn folded_keywords_follow_every_case() {
        // Any case of the keyword: the case-insensitive regex's states for
        // every spelling.
        let s = set_after(r"(?i)token_[a-f0-9]{8}", "TOKEN_", true).unwrap();
        assert!(s.contains(b'a') && s.contains(b'F') && !s.contains(b' '));
        // A case-sensitive regex that a folded hit may wake in another
        // case: no match begins with that spelling, and the set for the
        // spelling that matches is the regex's.
        let s = set_after(r"Key=[0-9]{8}", "key=", true).unwrap();
        assert_eq!(bytes(&s), b"0123456789\\".to_vec());
        let s = set_after(r"Key=[0-9]{8}", "key=", false).unwrap();
        assert_eq!(bytes(&s), b"\\".to_vec(), "no match begins with key=");
    }

    #[test]
    fn the_second_byte_is_what_the_regex_allows_after_the_first() {
        let f = follow(
            r"(?i)secret(?:_key)?[ \t]{0,4}[:=][ \t]{0,4}[a-z0-9]{8}",
            "secret",
            true,
        )
        .unwrap();
        // A space may follow, then only more space or the separator.
        assert!(f.allows(Some(b' '), Some(b'=')) && f.allows(Some(b' '), Some(b'\t')));
        assert!(!f.allows(Some(b' '), Some(b'x')));
        assert!(f.allows(Some(b'_'), Some(b'K')) && !f.allows(Some(b'_'), Some(b'x')));
        assert!(f.allows(Some(b'='), Some(b'x')) && !f.allows(Some(b'='), Some(b'-')));
        assert!(!f.allows(Some(b'x'), None));
        // Not buffered yet, and `\\` (an escaped form may start there):
        // anything may follow.
        assert!(f.allows(None, None) && f.allows(Some(b' '), None));
        assert!(f.allows(Some(b'\\'), Some(b'x')) && f.allows(Some(b' '), Some(b'\\')));
        // An escaped spelling of a keyword: its raw bytes are not what the
        // regex sees, so nothing to check.
        assert_eq!(follow(r"1//0[a-z]{8}", "1/\\u002f0", false), None);
        // A match may end after the first byte: no second check.
        let f = follow(r"ab[0-9]{1,4}", "ab", false).unwrap();
        assert!(f.allows(Some(b'1'), Some(b'x')) && !f.allows(Some(b'x'), Some(b'1')));
    }

    #[test]
    fn a_keyword_after_the_start_follows_any_bytes_before_it() {
        let hir =
            super::super::compile::parse(r#"(?:^|[^/])password[ \t]{0,4}=[ \t]{0,4}"[a-z]{4}""#)
                .unwrap();
        let nfa = super::super::lazy::forward_nfa(&hir).unwrap();
        let f = Afters::new(&nfa, 1).after(b"password", false).unwrap();
        assert!(f.allows(Some(b'='), Some(b'"')) && f.allows(Some(b' '), Some(b'=')));
        assert!(!f.allows(Some(b'='), Some(b'a')) && !f.allows(Some(b'x'), None));
        // A match may end in the bytes before the keyword: nothing to check.
        let hir = super::super::compile::parse(r"x|(?:^|[^/])key=[0-9]").unwrap();
        let nfa = super::super::lazy::forward_nfa(&hir).unwrap();
        assert_eq!(Afters::new(&nfa, 1).after(b"key", false), None);
    }

    #[test]
    fn pairs_of_classes_give_each_first_byte_its_seconds() {
        let set = |s: &[u8]| {
            let mut b = ByteSet::default();
            s.iter().for_each(|&c| b.insert(c));
            b
        };
        // `xoxb-` then digits, or `xoxp-` then letters: after `xox`.
        let f = from_pairs(&[
            (set(b"b"), set(b"-")),
            (set(b"p"), set(b"-")),
            (set(b"a"), set(b"1")),
        ])
        .unwrap();
        assert!(f.allows(Some(b'b'), Some(b'-')) && f.allows(Some(b'a'), Some(b'1')));
        assert!(!f.allows(Some(b'b'), Some(b'1')) && !f.allows(Some(b'c'), None));
        assert!(f.allows(Some(b'\\'), Some(b'z')) && f.allows(Some(b'p'), Some(b'\\')));
        // No alternative begins with the keyword: only an escape may follow.
        let none = from_pairs(&[]).unwrap();
        assert!(!none.allows(Some(b'a'), None) && none.allows(Some(b'\\'), None));
    }

    #[test]
    fn no_set_where_the_byte_after_does_not_decide() {
        // The match may end at the keyword's end, or inside it.
        assert_eq!(follow(r"AKIA(?:[A-Z0-9]{16})?", "AKIA", false), None);
        assert_eq!(follow(r"ab|abcd[0-9]", "abcd", false), None);
        // Anything may follow.
        assert_eq!(follow(r"pw(?-u:[\x00-\xff])x", "pw", false), None);
        // Assertions count as passed: `\b` after the keyword does not
        // empty the set.
        let s = set_after(r"key\b=?[0-9]{4}", "key", false).unwrap();
        assert_eq!(bytes(&s), b"0123456789=\\".to_vec());
    }
}

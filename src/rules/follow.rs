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
//! have a transition on. Where the byte after a hit is not in the set, no
//! match of the rule starts at the hit, and the prefilter drops the hit
//! without waking the rule ([`super::prefilter`]). A line of nothing but
//! keywords (`ghp_ sk_live_ xoxb- …`), which woke every rule it named, then
//! wakes only the rules whose keyword may be followed by a space.
//!
//! The set over-approximates, so dropping is sound, and the output is the
//! same as without it (only which rules verify what changes):
//! - look-around assertions count as passed;
//! - a match that may end within or right after the keyword's bytes gives
//!   no set: the byte after does not decide it;
//! - `\`, which starts every escaped form the rules see through
//!   ([`super::escape`]), is always in the set;
//! - only keywords searched as plain bytes get one (not the escaped
//!   spellings [`super::escape::search_keywords`] adds);
//! - a hit whose next byte is not buffered yet is kept.

use regex_automata::nfa::thompson::{State, NFA};
use regex_automata::util::primitives::StateID;

/// A set of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    /// Whether `b` is in the set.
    #[inline]
    pub fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn insert_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.insert(b);
        }
    }

    /// Adds every byte of `other`.
    pub fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    fn is_full(&self) -> bool {
        self.0 == [u64::MAX; 4]
    }
}

/// The bytes that may come right after `kw` in a match of `nfa` that
/// begins with `kw` (with any ASCII case of its letters if `fold`), or
/// `None` when there is no such set to use: a match may end within `kw` or
/// right after it, or any byte may follow. An empty set means no match
/// begins with `kw`. See the module docs.
pub fn after(nfa: &NFA, kw: &[u8], fold: bool) -> Option<ByteSet> {
    let mut walk = Walk {
        nfa,
        seen: vec![false; nfa.states().len()],
        stack: Vec::new(),
    };
    let mut now = Vec::new();
    if walk.close(&[nfa.start_anchored()], &mut now) {
        return None;
    }
    for &b in kw {
        let cases = if fold {
            [b.to_ascii_lowercase(), b.to_ascii_uppercase()]
        } else {
            [b, b]
        };
        let mut next = Vec::new();
        for &id in &now {
            for c in cases {
                if let Some(to) = step(nfa.state(id), c) {
                    next.push(to);
                }
            }
        }
        walk.seen.iter_mut().for_each(|s| *s = false);
        now.clear();
        if walk.close(&next, &mut now) {
            return None;
        }
    }
    let mut set = ByteSet::default();
    for &id in &now {
        match nfa.state(id) {
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
    stack: Vec<StateID>,
}

impl Walk<'_> {
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

    fn set_after(pattern: &str, kw: &str, fold: bool) -> Option<ByteSet> {
        let hir = super::super::compile::parse(pattern).unwrap();
        let nfa = super::super::lazy::forward_nfa(&hir).unwrap();
        after(&nfa, kw.as_bytes(), fold)
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
    fn no_set_where_the_byte_after_does_not_decide() {
        // The match may end at the keyword's end, or inside it.
        assert_eq!(set_after(r"AKIA(?:[A-Z0-9]{16})?", "AKIA", false), None);
        assert_eq!(set_after(r"ab|abcd[0-9]", "abcd", false), None);
        // Anything may follow.
        assert_eq!(set_after(r"pw(?-u:[\x00-\xff])x", "pw", false), None);
        // Assertions count as passed: `\b` after the keyword does not
        // empty the set.
        let s = set_after(r"key\b=?[0-9]{4}", "key", false).unwrap();
        assert_eq!(bytes(&s), b"0123456789=\\".to_vec());
    }
}

//! Line breaks and escaped forms around the hit being verified.
//!
//! Verifying a hit asks where the next line break after it is, where its
//! line starts, and whether an escaped form (see [`crate::rules::escape`])
//! lies near it. Searching each hit's window anew costs a window per hit,
//! and a line of keywords has a hit every few bytes. Hits are verified in
//! stream order, so [`Marks`] keeps the last mark before the current hit and
//! the first one at or after it, and searches each byte once however dense
//! the hits are.

use crate::rules::escape;

/// What a [`Marks`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A `\n`.
    LineBreak,
    /// An escaped form of a byte in [`escape::ESCAPED`].
    Escape,
}

/// The stream's bytes `[base, base + bytes.len())`, `eof` if they end it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hay<'h> {
    pub bytes: &'h [u8],
    pub base: u64,
    pub eof: bool,
}

impl Hay<'_> {
    fn at(&self, pos: u64) -> usize {
        (pos - self.base) as usize
    }
}

/// Marks `[start, end)` of one kind around a point that only moves forward
/// (the hit being verified). Stream offsets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Marks {
    kind: Kind,
    /// The point the marks are kept around.
    point: u64,
    /// The last mark starting before the point.
    prev: Option<(u64, u64)>,
    /// The first mark starting at or after the point, once found.
    next: Option<(u64, u64)>,
    /// When `next` is unknown: no mark starts in `[point, searched)`, and
    /// every position before `point` was searched.
    searched: u64,
}

/// What a search for a mark found.
enum Found {
    At((u64, u64)),
    /// None in the range searched.
    None,
    /// Whether a mark starts here depends on bytes not yet buffered.
    Undecided(u64),
}

impl Marks {
    /// No marks known, at the start of a stream.
    pub fn new(kind: Kind) -> Marks {
        Marks {
            kind,
            point: 0,
            prev: None,
            next: None,
            searched: 0,
        }
    }

    /// The first mark starting in `[from, to)`; `from` is in the window.
    fn find(&self, hay: Hay<'_>, from: u64, to: u64) -> Found {
        let bytes = &hay.bytes[hay.at(from)..hay.at(to)];
        match self.kind {
            Kind::LineBreak => match memchr::memchr(b'\n', bytes) {
                Some(i) => Found::At((from + i as u64, from + i as u64 + 1)),
                None => Found::None,
            },
            Kind::Escape => {
                for i in memchr::memchr_iter(b'\\', bytes) {
                    let at = from + i as u64;
                    let rest = &hay.bytes[hay.at(at)..];
                    if let Some((_, n)) = escape::escaped_at(rest) {
                        return Found::At((at, at + n as u64));
                    }
                    if !hay.eof && escape::may_become_escape(rest) {
                        return Found::Undecided(at);
                    }
                }
                Found::None
            }
        }
    }

    /// Moves the point to `k`, searching what lies between. Returns whether
    /// every position before `k` is decided (so `prev` is the last mark
    /// before `k`).
    fn seek(&mut self, hay: Hay<'_>, k: u64) -> bool {
        if k < self.point {
            // Hits come in stream order; start over if one did not.
            *self = Marks::new(self.kind);
        }
        self.point = k;
        loop {
            if let Some(n) = self.next {
                if n.0 >= k {
                    return true;
                }
                self.prev = Some(n);
                self.next = None;
                self.searched = n.1;
                continue;
            }
            let from = self.searched.max(hay.base);
            if from >= k {
                return true;
            }
            match self.find(hay, from, k) {
                Found::At(m) => self.next = Some(m),
                Found::None => {
                    self.searched = k;
                    return true;
                }
                Found::Undecided(at) => {
                    self.searched = at;
                    return false;
                }
            }
        }
    }

    /// The first mark starting in `[k, to)`, with `k` at or after the last
    /// point asked about and `to` within the window.
    pub fn first_from(&mut self, hay: Hay<'_>, k: u64, to: u64) -> Option<(u64, u64)> {
        self.seek(hay, k);
        if let Some(n) = self.next {
            return (n.0 < to).then_some(n);
        }
        let from = self.searched.max(k).max(hay.base);
        if from >= to {
            return None;
        }
        match self.find(hay, from, to) {
            Found::At(m) => {
                self.next = Some(m);
                Some(m)
            }
            Found::None => {
                self.searched = to;
                None
            }
            Found::Undecided(at) => {
                self.searched = at;
                None
            }
        }
    }

    /// The start of the last mark before `k` at or after `floor`.
    pub fn last_before(&mut self, hay: Hay<'_>, floor: u64, k: u64) -> Option<u64> {
        if !self.seek(hay, k) {
            return self.scan_back(hay, floor, k);
        }
        self.prev.map(|p| p.0).filter(|&p| p >= floor)
    }

    /// Whether a mark lies wholly within `[a, b)`, with `a <= k <= b`.
    pub fn any_within(&mut self, hay: Hay<'_>, a: u64, k: u64, b: u64) -> bool {
        if !self.seek(hay, k) {
            return self.direct(hay, a, b);
        }
        match self.prev {
            // Marks do not overlap: one before `prev` ends before it.
            Some(p) if p.0 >= a && p.1 <= b => true,
            Some(p) if p.0 >= a => self.direct(hay, a, b),
            // None in `[a, k)`: the first at or after `k` decides.
            _ => self.first_from(hay, k, b).is_some_and(|m| m.1 <= b),
        }
    }

    /// [`any_within`](Self::any_within) by a search of `[a, b)`.
    fn direct(&self, hay: Hay<'_>, a: u64, b: u64) -> bool {
        let bytes = &hay.bytes[hay.at(a)..hay.at(b)];
        match self.kind {
            Kind::LineBreak => memchr::memchr(b'\n', bytes).is_some(),
            Kind::Escape => escape::has_escape(bytes),
        }
    }

    /// [`last_before`](Self::last_before) by a search back from `k`.
    fn scan_back(&self, hay: Hay<'_>, floor: u64, k: u64) -> Option<u64> {
        let bytes = &hay.bytes[hay.at(floor)..hay.at(k)];
        match self.kind {
            Kind::LineBreak => memchr::memrchr(b'\n', bytes).map(|i| floor + i as u64),
            Kind::Escape => memchr::memrchr_iter(b'\\', bytes)
                .find(|&i| escape::escaped_at(&bytes[i..]).is_some())
                .map(|i| floor + i as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hay(bytes: &[u8], eof: bool) -> Hay<'_> {
        Hay {
            bytes,
            base: 0,
            eof,
        }
    }

    /// Walking a point forward answers what direct searches answer.
    #[test]
    fn marks_agree_with_direct_searches() {
        let text = b"ab\\/c\nd\\u002Be\\x\\u003\n\nf\\/\\/g\\u003dh\\";
        let h = hay(text, true);
        let n = text.len() as u64;
        for step in 1..4 {
            let mut nl = Marks::new(Kind::LineBreak);
            let mut esc = Marks::new(Kind::Escape);
            for k in (0..n).step_by(step) {
                for b in k..=n {
                    let want =
                        memchr::memchr(b'\n', &text[k as usize..b as usize]).map(|i| k + i as u64);
                    assert_eq!(nl.first_from(h, k, b).map(|m| m.0), want, "{k}..{b}");
                    for a in k.saturating_sub(7)..=k {
                        let want = escape::has_escape(&text[a as usize..b as usize]);
                        assert_eq!(esc.any_within(h, a, k, b), want, "{a} {k} {b}");
                    }
                }
                let want = memchr::memrchr(b'\n', &text[..k as usize]).map(|i| i as u64);
                assert_eq!(nl.last_before(h, 0, k), want, "before {k}");
            }
        }
    }

    /// A `\` near the end of what is buffered is no mark until the bytes
    /// after it come (or the stream ends).
    #[test]
    fn an_unfinished_form_is_decided_later() {
        let mut esc = Marks::new(Kind::Escape);
        assert!(!esc.any_within(hay(b"ab\\u00", false), 0, 1, 6));
        assert!(esc.any_within(hay(b"ab\\u002fz", false), 0, 2, 8));
        let mut esc = Marks::new(Kind::Escape);
        assert!(!esc.any_within(hay(b"ab\\u00", true), 0, 1, 6));
    }
}

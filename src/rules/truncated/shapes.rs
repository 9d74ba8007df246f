//! A derived rule's matcher: its regex, `LEAD (?P<secret>ALT)` with LEAD
//! look-arounds and ALT an alternation of fixed-length sequences of byte
//! classes, matched directly instead of compiled.
//!
//! A compiled `meta::Regex` costs some 8 KB however small (strategy,
//! cache pool, NFA), and there are dozens of derived rules; these shapes
//! take a few hundred bytes each. The alternatives are kept in the order a
//! leftmost-first regex engine tries them (alternation branches in order,
//! greedy repetitions longest first), so the first one that matches is the
//! match the regex would find: the oracle, which compiles the pattern,
//! checks that.

use std::sync::Arc;

use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, PatternID};
use regex_syntax::hir::{Hir, HirKind, Look};

use crate::rules::follow::{self, Follow};
use crate::rules::lazy::LazyRegex;
use crate::rules::ByteSet;

/// Most alternatives a derived rule's shapes may have.
const MAX_ALTS: usize = 256;

/// A [`Shapes`]'s look-arounds, alternatives and classes.
pub type ShapeParts<'a> = (&'a [Look], &'a [Box<[u8]>], &'a [ByteSet]);

/// The matcher of a derived `-truncated` rule.
#[derive(Debug)]
pub struct Shapes {
    /// Look-arounds at the match start.
    lead: Vec<Look>,
    /// The alternatives, in priority order: a class index per byte.
    alts: Vec<Box<[u8]>>,
    /// The distinct classes.
    classes: Vec<ByteSet>,
    /// The parent rule's regex: where it matches at the same start, the
    /// match is the parent's and has no secret here.
    parent: Arc<LazyRegex>,
}

impl Shapes {
    /// What may follow `kw` (in any ASCII case if `fold`) at the start of a
    /// match: the classes after it in each alternative it begins (see
    /// [`crate::rules::follow`]); `None` if an alternative it begins is too
    /// short to say, or for a keyword holding `\\` (an escaped spelling,
    /// whose raw bytes are not what the shapes see).
    pub fn follow(&self, kw: &[u8], fold: bool) -> Option<Follow> {
        if kw.contains(&b'\\') {
            return None;
        }
        let class = |i: u8| &self.classes[usize::from(i)];
        let mut pairs = Vec::new();
        for alt in &self.alts {
            let begins = kw.len() <= alt.len()
                && kw.iter().zip(alt.iter()).all(|(&b, &c)| {
                    let c = class(c);
                    if fold {
                        c.contains(b.to_ascii_lowercase()) || c.contains(b.to_ascii_uppercase())
                    } else {
                        c.contains(b)
                    }
                });
            if !begins {
                continue;
            }
            let (Some(&c1), Some(&c2)) = (alt.get(kw.len()), alt.get(kw.len() + 1)) else {
                return None;
            };
            pairs.push((*class(c1), *class(c2)));
        }
        follow::from_pairs(&pairs)
    }

    /// The shapes of `lead` (look-arounds only: word boundaries and line
    /// starts) followed by `secret` (literals, classes, alternations,
    /// bounded repetitions); `None` for anything else, or too many
    /// alternatives.
    pub fn new(lead: &[Hir], secret: &Hir, parent: Arc<LazyRegex>) -> Option<Shapes> {
        let lead = lead
            .iter()
            .map(|h| match h.kind() {
                HirKind::Look(l @ (Look::WordAscii | Look::WordAsciiNegate | Look::StartLF)) => {
                    Some(*l)
                }
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let mut classes = Vec::new();
        let alts = sequences(secret)?
            .into_iter()
            .map(|seq| {
                seq.into_iter()
                    .map(|bits| {
                        let i = classes.iter().position(|&c| c == bits).unwrap_or_else(|| {
                            classes.push(bits);
                            classes.len() - 1
                        });
                        u8::try_from(i).ok()
                    })
                    .collect::<Option<Box<[u8]>>>()
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Shapes {
            lead,
            alts,
            classes,
            parent,
        })
    }

    /// The look-arounds, the alternatives (a class index per byte) and the
    /// classes (to write the shapes down, [`crate::rules::precomputed`]).
    pub fn parts(&self) -> ShapeParts<'_> {
        (&self.lead, &self.alts, &self.classes)
    }

    /// The shapes of these [`parts`](Self::parts), as written down; `None`
    /// if a look-around is one shapes never hold or an alternative names a
    /// class there is not.
    pub fn from_parts(
        lead: Vec<Look>,
        alts: Vec<Box<[u8]>>,
        classes: Vec<ByteSet>,
        parent: Arc<LazyRegex>,
    ) -> Option<Shapes> {
        let known = |l: &Look| matches!(l, Look::WordAscii | Look::WordAsciiNegate | Look::StartLF);
        let in_range = |a: &[u8]| a.iter().all(|&c| usize::from(c) < classes.len());
        (lead.iter().all(known) && alts.iter().all(|a| in_range(a))).then(|| Shapes {
            lead,
            alts,
            classes,
            parent,
        })
    }

    /// A copy whose parent regex is an uncompiled copy of this one's
    /// ([`LazyRegex::detached`]).
    pub fn detached(&self) -> Shapes {
        Shapes {
            lead: self.lead.clone(),
            alts: self.alts.clone(),
            classes: self.classes.clone(),
            parent: Arc::new(self.parent.detached()),
        }
    }

    /// Heap bytes (the parent's regex not counted).
    pub fn memory_usage(&self) -> usize {
        self.lead.len() * std::mem::size_of::<Look>()
            + self.alts.iter().map(|a| a.len() + 16).sum::<usize>()
            + self.classes.len() * std::mem::size_of::<ByteSet>()
    }

    /// Where the highest-priority shape matching at `at` ends, if one does
    /// within `hay[..end]` (whether or not the parent shadows it).
    pub fn end_at(&self, hay: &[u8], at: usize, end: usize) -> Option<usize> {
        if !self.lead.iter().all(|&l| holds(l, hay, at)) {
            return None;
        }
        self.alts.iter().find_map(|alt| {
            let bytes = hay
                .get(at..at + alt.len())
                .filter(|_| at + alt.len() <= end)?;
            bytes
                .iter()
                .zip(alt.iter())
                .all(|(&b, &c)| self.classes[usize::from(c)].contains(b))
                .then_some(at + alt.len())
        })
    }

    /// As [`regex_automata::meta::Regex::search_slots`] on the pattern: slots 0 and 1 the
    /// match, 2 and 3 the secret (the whole match), left out where the
    /// parent shadows the match.
    pub fn search_slots(
        &self,
        input: &Input<'_>,
        slots: &mut [Option<NonMaxUsize>],
    ) -> Option<PatternID> {
        let (hay, span) = (input.haystack(), input.get_span());
        let last = match input.get_anchored() {
            Anchored::No => span.end,
            _ => span.start,
        };
        let (start, end) =
            (span.start..=last).find_map(|p| Some((p, self.end_at(hay, p, span.end)?)))?;
        let secret = !self.shadowed(hay, start, span.end);
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = match (i, secret) {
                (0, _) | (2, true) => NonMaxUsize::new(start),
                (1, _) | (3, true) => NonMaxUsize::new(end),
                _ => None,
            };
        }
        Some(PatternID::ZERO)
    }

    /// Whether the parent's regex matches at `at` in `hay[..end]`.
    pub fn shadowed(&self, hay: &[u8], at: usize, end: usize) -> bool {
        self.parent
            .is_match(Input::new(hay).span(at..end).anchored(Anchored::Yes))
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether look-around `l` holds at `at` in `hay`.
fn holds(l: Look, hay: &[u8], at: usize) -> bool {
    let before = at.checked_sub(1).and_then(|i| hay.get(i)).copied();
    let after = hay.get(at).copied();
    match l {
        Look::WordAscii => before.is_some_and(is_word) != after.is_some_and(is_word),
        Look::WordAsciiNegate => before.is_some_and(is_word) == after.is_some_and(is_word),
        Look::StartLF => before.is_none_or(|b| b == b'\n'),
        _ => false,
    }
}

/// The fixed-length sequences of classes `h` stands for, in the order a
/// leftmost-first engine tries them; `None` for unbounded or variable
/// parts it cannot spell out, or past [`MAX_ALTS`].
fn sequences(h: &Hir) -> Option<Vec<Vec<ByteSet>>> {
    let out = match h.kind() {
        HirKind::Empty => vec![Vec::new()],
        HirKind::Look(_) => return None,
        HirKind::Literal(lit) => vec![lit.0.iter().map(|&b| ByteSet::single(b)).collect()],
        HirKind::Class(c) => match ByteSet::of_class(c) {
            (set, true) => vec![vec![set]],
            _ => return None,
        },
        HirKind::Capture(c) => sequences(&c.sub)?,
        HirKind::Concat(xs) => {
            let mut acc = vec![Vec::new()];
            for x in xs {
                acc = product(&acc, &sequences(x)?)?;
            }
            acc
        }
        HirKind::Alternation(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(sequences(x)?);
            }
            all
        }
        HirKind::Repetition(r) => {
            let sub = sequences(&r.sub)?;
            repeat(&sub, r.min, r.max?, r.greedy)?
        }
    };
    (out.len() <= MAX_ALTS).then_some(out)
}

fn product(a: &[Vec<ByteSet>], b: &[Vec<ByteSet>]) -> Option<Vec<Vec<ByteSet>>> {
    if a.len().saturating_mul(b.len()) > MAX_ALTS {
        return None;
    }
    Some(
        a.iter()
            .flat_map(|x| b.iter().map(move |y| [x.as_slice(), y].concat()))
            .collect(),
    )
}

/// `sub` repeated `min..=max` times: another copy before stopping when
/// greedy (every way to go on, in `sub`'s order), stopping first when lazy.
fn repeat(sub: &[Vec<ByteSet>], min: u32, max: u32, greedy: bool) -> Option<Vec<Vec<ByteSet>>> {
    if max == 0 {
        return Some(vec![Vec::new()]);
    }
    let more = product(sub, &repeat(sub, min.saturating_sub(1), max - 1, greedy)?)?;
    let stop = if min == 0 {
        vec![Vec::new()]
    } else {
        Vec::new()
    };
    let out = if greedy {
        [more, stop].concat()
    } else {
        [stop, more].concat()
    };
    (out.len() <= MAX_ALTS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::template::Rng;
    use crate::rules::{Matcher, RuleSetBuilder};
    use regex_automata::meta;

    /// For every derived built-in rule, on its examples and on copies with
    /// random bytes changed, the shapes end a match exactly where the
    /// compiled pattern does, at every start.
    #[test]
    fn shapes_match_where_the_compiled_pattern_does() {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        let set = b.build().unwrap();
        let mut rng = Rng::from_seed(b"shapes-vs-regex");
        let pool = b"aZ09_-./+= \n\\Akx";
        let mut checked = 0;
        for t in set.rules() {
            let Matcher::Truncated(shapes) = &t.matcher else {
                continue;
            };
            let hir = crate::rules::compile::parse(&t.pattern).unwrap();
            let re = meta::Regex::builder().build_from_hir(&hir).unwrap();
            let mut hays: Vec<Vec<u8>> =
                t.examples.iter().map(|e| e.input.clone().into()).collect();
            for base in hays.clone() {
                for _ in 0..20 {
                    let mut h = base.clone();
                    for _ in 0..3 {
                        let i = rng.next_u64() as usize % h.len();
                        h[i] = pool[rng.next_u64() as usize % pool.len()];
                    }
                    hays.push(h);
                }
            }
            for h in &hays {
                for at in 0..=h.len() {
                    let input = Input::new(h).span(at..h.len()).anchored(Anchored::Yes);
                    let want = re.search(&input).map(|m| m.end());
                    assert_eq!(shapes.end_at(h, at, h.len()), want, "{} at {at}", t.id);
                }
            }
            checked += 1;
        }
        assert!(checked >= 50, "{checked} derived rules");
    }
}

//! The first characters of a token, read off its rule's regex: where the
//! prefix ends ([`shape`]), which bytes the rest may hold ([`alphabet`]),
//! and the regex of its first `k` characters in the same shape ([`take`]).

use regex_syntax::hir::{Hir, HirKind, Repetition};

use super::super::{analyze, ByteSet};

/// Bytes a token body may hold for a truncated rule to be derived.
const TOKEN_BYTES: &[u8] = b"_-.+/=~%$:";
/// Most spellings a prefix may have while it is being found.
const MAX_PREFIXES: usize = 4096;
/// Most branches the shape of a body's first characters may take.
const MAX_BRANCHES: usize = 64;

/// A secret's regex split at the end of its prefix.
pub struct Shape<'a> {
    /// Look-arounds before the secret.
    pub lead: Vec<Hir>,
    /// The prefix's parts.
    pub prefix: &'a [Hir],
    /// Every spelling of the prefix.
    pub prefixes: Vec<Vec<u8>>,
    /// The rest of the secret.
    pub body: &'a [Hir],
}

/// The parts of `hir` when its secret starts with a prefix.
pub fn shape(hir: &Hir) -> Option<Shape<'_>> {
    let parts: &[Hir] = match hir.kind() {
        HirKind::Concat(xs) => xs,
        _ => std::slice::from_ref(hir),
    };
    let n_lead = parts
        .iter()
        .take_while(|h| matches!(h.kind(), HirKind::Look(_)))
        .count();
    let lead = parts[..n_lead].to_vec();
    let rest = &parts[n_lead..];
    let secret: &[Hir] = match rest.first().map(Hir::kind) {
        Some(HirKind::Capture(c)) if c.name.as_deref() == Some("secret") => match c.sub.kind() {
            HirKind::Concat(xs) => xs,
            _ => std::slice::from_ref(&*c.sub),
        },
        _ if rest.iter().any(has_capture) => return None,
        _ => rest,
    };
    let mut n = 0;
    while n < secret.len()
        && analyze::strings(&Hir::concat(secret[..=n].to_vec()), MAX_PREFIXES).is_some()
    {
        n += 1;
    }
    let prefixes = analyze::strings(&Hir::concat(secret[..n].to_vec()), MAX_PREFIXES)?;
    let distinctive = |p: &Vec<u8>| {
        p.len() >= 4 || (p.len() == 3 && p.iter().any(|b| !b.is_ascii_alphanumeric()))
    };
    (n > 0 && n < secret.len() && prefixes.iter().all(distinctive)).then_some(Shape {
        lead,
        prefix: &secret[..n],
        prefixes,
        body: &secret[n..],
    })
}

fn has_capture(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Capture(_) => true,
        HirKind::Repetition(r) => has_capture(&r.sub),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().any(has_capture),
        _ => false,
    }
}

/// The bytes the body can hold, if they are all token bytes.
pub fn alphabet(body: &Hir) -> Option<ByteSet> {
    let mut set = ByteSet::default();
    for b in 0..=255u8 {
        if analyze::can_match(body, b) {
            if !(b.is_ascii_alphanumeric() || TOKEN_BYTES.contains(&b)) {
                return None;
            }
            set.insert(b);
        }
    }
    Some(set)
}

/// The strings of `h`'s language that are exactly `j` bytes long, as a
/// regex (look-arounds dropped); `None` when there are none (or the regex
/// would take more than [`MAX_BRANCHES`] branches).
fn exact(h: &Hir, j: usize) -> Option<Hir> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (j == 0).then(Hir::empty),
        HirKind::Literal(lit) => (lit.0.len() == j).then(|| h.clone()),
        HirKind::Class(_) => (j == 1).then(|| h.clone()),
        HirKind::Capture(c) => exact(&c.sub, j),
        HirKind::Alternation(xs) => union(xs.iter().map(|x| exact(x, j))),
        HirKind::Concat(xs) => exact_seq(xs, j),
        HirKind::Repetition(r) => match fixed_width(r) {
            _ if j == 0 => (r.min == 0).then(Hir::empty),
            Some(w) => {
                let n = (j / w) as u32;
                (j.is_multiple_of(w) && r.min <= n && r.max.is_none_or(|m| n <= m))
                    .then(|| repeat(&r.sub, n))
            }
            None => union(copies(r)?.map(|c| exact_seq(&c, j))),
        },
    }
}

/// The first `k` bytes of the strings of `h`'s language that are at least
/// `k` bytes long, as a regex; `None` when there are none.
pub fn take(h: &Hir, k: usize) -> Option<Hir> {
    if k == 0 {
        return Some(Hir::empty());
    }
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(_) => exact(h, k),
        HirKind::Literal(lit) => (k <= lit.0.len()).then(|| Hir::literal(&lit.0[..k])),
        HirKind::Capture(c) => take(&c.sub, k),
        HirKind::Alternation(xs) => union(xs.iter().map(|x| take(x, k))),
        HirKind::Concat(xs) => take_seq(xs, k),
        HirKind::Repetition(r) => match fixed_width(r) {
            Some(w) => {
                let (n, rest) = ((k / w) as u32, k % w);
                let copies = n + u32::from(rest > 0);
                if r.max.is_some_and(|m| copies > m) {
                    return None;
                }
                Some(Hir::concat(vec![repeat(&r.sub, n), take(&r.sub, rest)?]))
            }
            None => union(copies(r)?.map(|c| take_seq(&c, k))),
        },
    }
}

/// The length every string of a repetition's part has, if they all have
/// the same, non-zero one.
fn fixed_width(r: &Repetition) -> Option<usize> {
    let p = r.sub.properties();
    p.maximum_len()
        .filter(|&w| w > 0 && p.minimum_len() == Some(w))
}

fn exact_seq(xs: &[Hir], j: usize) -> Option<Hir> {
    let Some((x, rest)) = xs.split_first() else {
        return (j == 0).then(Hir::empty);
    };
    union((0..=j).map(|i| Some(Hir::concat(vec![exact(x, i)?, exact_seq(rest, j - i)?]))))
}

fn take_seq(xs: &[Hir], k: usize) -> Option<Hir> {
    let Some((x, rest)) = xs.split_first() else {
        return (k == 0).then(Hir::empty);
    };
    let within = take(x, k);
    let across = (0..k).map(|i| Some(Hir::concat(vec![exact(x, i)?, take_seq(rest, k - i)?])));
    union(std::iter::once(within).chain(across))
}

/// The alternation of the regexes given, `None` when none is given or
/// there would be too many branches.
fn union(alts: impl Iterator<Item = Option<Hir>>) -> Option<Hir> {
    let alts: Vec<Hir> = alts.flatten().collect();
    let branches: usize = alts.iter().map(branches).sum();
    (!alts.is_empty() && branches <= MAX_BRANCHES).then(|| Hir::alternation(alts))
}

fn branches(h: &Hir) -> usize {
    match h.kind() {
        HirKind::Alternation(xs) => xs.len(),
        _ => 1,
    }
}

fn repeat(sub: &Hir, n: u32) -> Hir {
    Hir::repetition(Repetition {
        min: n,
        max: Some(n),
        greedy: true,
        sub: Box::new(sub.clone()),
    })
}

/// A short repetition of a variable-length part as the sequences it stands
/// for, one per count of at least one (`x{0,2}` as `x`, `x x`); `None` past
/// four copies.
fn copies(r: &Repetition) -> Option<impl Iterator<Item = Vec<Hir>> + '_> {
    let max = r.max.filter(|&m| m <= 4)?;
    Some((r.min.max(1)..=max).map(|n| vec![(*r.sub).clone(); n as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile;

    fn first_chars(re: &str, k: usize) -> Option<String> {
        let h = compile::parse(re).unwrap();
        take(&h, k).map(|h| h.to_string())
    }

    fn matches(re: &str, hay: &str) -> bool {
        regex_automata::meta::Regex::new(&format!(r"\A(?:{re})\z"))
            .unwrap()
            .is_match(hay)
    }

    #[test]
    fn the_first_characters_keep_the_shape() {
        let re = first_chars(r"[0-9]{1,20}-[A-Za-z0-9-]{8,250}", 6).unwrap();
        for ok in ["123456", "12345-", "1-abcd", "1-----"] {
            assert!(matches(&re, ok), "{ok} in {re}");
        }
        for no in ["abcdef", "-12345", "12345"] {
            assert!(!matches(&re, no), "{no} in {re}");
        }
        // Too short a language has no first 16 characters.
        assert!(first_chars(r"[a-z]{4,8}", 16).is_none());
        let re = first_chars(r"(?:[0-9][A-Za-z]{3,9}|[A-Za-z]{2}[0-9][a-z]{3})", 4).unwrap();
        assert!(matches(&re, "1abc") && matches(&re, "ab1c") && !matches(&re, "abcd"));
    }
}

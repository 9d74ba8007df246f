//! Static analysis of a rule's regex, on its HIR.
//!
//! The streaming engine relies on three facts about every rule, and this
//! module proves each one from the regex rather than trusting the author:
//!
//! - **keyword coverage**: every match contains one of the rule's keywords
//!   (ASCII case-insensitively), at most [`Analysis::keyword_offset`] bytes
//!   after the match start. The prefilter only wakes a rule at keyword hits,
//!   so a match without a keyword would be a silent leak.
//! - **bounded length**: the maximum match length is finite, which bounds the
//!   carry-over window.
//! - **line locality**: no match contains `\r` or `\n`, so the engine can
//!   release a finished line without waiting for more input, and a
//!   replacement never swallows a line break. Multi-line secrets are the job
//!   of a rule's `block`, not of its regex.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// How many strings a finite sub-language may have before the analysis gives
/// up on enumerating it.
const MAX_LANG: usize = 4096;
/// Longest string kept while enumerating a finite sub-language.
const MAX_LANG_LEN: usize = 128;

/// What the engine needs to know about one regex.
///
/// `max_len` and `keyword_offset` bound matches in raw bytes, where JSON
/// escapes of `/`, `+` and `=` make a match longer than the text it decodes
/// to (see [`super::escape`]); `plain_max_len` and `plain_keyword_offset`
/// are the same bounds as written, which hold wherever no escaped form is
/// near.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Analysis {
    /// Longest possible match, in raw bytes.
    pub max_len: usize,
    /// Longest possible match without escaped forms, in bytes.
    pub plain_max_len: usize,
    /// Upper bound on the distance from a match's start to the keyword
    /// occurrence that proves it, without escaped forms.
    pub plain_keyword_offset: usize,
    /// Shortest possible match, in bytes (never 0 for a valid rule).
    pub min_len: usize,
    /// Upper bound on the distance, in raw bytes, from a match's start to
    /// the start of the keyword occurrence that proves it.
    pub keyword_offset: usize,
    /// Whether the keywords occur in every match exactly as written, so a
    /// keyword hit wakes the rule only when its case matches too; otherwise
    /// any ASCII case of a keyword wakes it.
    pub exact_keywords: bool,
    /// A byte that every match contains and that is rare in logs (`@` in
    /// URL credentials): when it is absent from a window, the regex need not
    /// run there.
    pub gate: Option<u8>,
}

/// Why a regex is unfit for streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Matches can be arbitrarily long.
    Unbounded,
    /// The regex can match the empty string.
    EmptyMatch,
    /// Uses `\A`, `\z` (or `^`/`$` outside multi-line mode), which would refer
    /// to read boundaries in a stream.
    StreamAnchor,
    /// Some match does not provably contain any keyword.
    KeywordNotCovered,
    /// Some match can contain a line break.
    CrossesLine,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Problem::Unbounded => "maximum match length is unbounded (use {m,n}, not + or *)",
            Problem::EmptyMatch => "regex can match the empty string",
            Problem::StreamAnchor => {
                "\\A and \\z anchors refer to read boundaries in a stream; use (?m)^ and $"
            }
            Problem::KeywordNotCovered => {
                "cannot prove that every match contains one of the keywords"
            }
            Problem::CrossesLine => {
                "matches can contain \\r or \\n (write [^\\s\"] rather than [^\"], [ \\t] rather than \\s); multi-line secrets need `block`"
            }
        })
    }
}

/// Analyses `hir` against its rule's `keywords` (as written).
pub fn analyze(hir: &Hir, keywords: &[Vec<u8>]) -> Result<Analysis, Problem> {
    let props = hir.properties();
    let max_len = props.maximum_len().ok_or(Problem::Unbounded)?;
    let min_len = props.minimum_len().unwrap_or(0);
    if min_len == 0 {
        return Err(Problem::EmptyMatch);
    }
    let looks = props.look_set();
    if looks.contains(Look::Start) || looks.contains(Look::End) {
        return Err(Problem::StreamAnchor);
    }
    if can_match(hir, b'\n') || can_match(hir, b'\r') {
        return Err(Problem::CrossesLine);
    }
    // Exact-case keywords are far more selective on log text (`AKIA`,
    // `ghp_`), so prove them first; fall back to case-folded ones.
    let gate = gate(hir, keywords);
    // A match without any keyword as written rules out exact keywords at
    // once: `(?i)` rules would otherwise enumerate every case variant.
    let mut w = Vec::new();
    witness(hir, &mut w);
    let exact_possible = first_keyword(&w, keywords).is_some();
    if let Some(keyword_offset) = exact_possible
        .then(|| covered(hir, keywords, false))
        .flatten()
    {
        return Ok(Analysis {
            max_len,
            plain_max_len: max_len,
            plain_keyword_offset: keyword_offset,
            min_len,
            keyword_offset,
            exact_keywords: true,
            gate,
        });
    }
    let folded: Vec<Vec<u8>> = keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
    let keyword_offset = covered(hir, &folded, true).ok_or(Problem::KeywordNotCovered)?;
    Ok(Analysis {
        max_len,
        plain_max_len: max_len,
        plain_keyword_offset: keyword_offset,
        min_len,
        keyword_offset,
        exact_keywords: false,
        gate,
    })
}

/// Appends to `out` one string of `hir`'s language, shortest repetitions,
/// first branches, and uppercase letters where a class allows both cases.
/// Look-arounds are ignored, so it may not be a real match; it only decides
/// whether proving exact-case keywords is worth trying.
fn witness(hir: &Hir, out: &mut Vec<u8>) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(lit) => out.extend_from_slice(&lit.0),
        HirKind::Class(c) => {
            let mut first = None;
            let mut upper = None;
            let mut see = |lo: u32, hi: u32| {
                first.get_or_insert(lo);
                let (a, z) = (lo.max(u32::from(b'A')), hi.min(u32::from(b'Z')));
                if a <= z && upper.is_none() {
                    upper = Some(a);
                }
            };
            super::class_ranges(c, &mut see);
            if let Some(b) = upper.or(first).filter(|&b| b < 256) {
                out.push(b as u8);
            }
        }
        HirKind::Capture(c) => witness(&c.sub, out),
        HirKind::Repetition(r) => {
            for _ in 0..r.min.min(MAX_LANG_LEN as u32) {
                witness(&r.sub, out);
            }
        }
        HirKind::Concat(xs) => xs.iter().for_each(|x| witness(x, out)),
        HirKind::Alternation(xs) => witness(&xs[0], out),
    }
}

/// Bytes every match of `hir` contains (case-sensitively).
fn required_bytes(hir: &Hir) -> [bool; 256] {
    let mut set = [false; 256];
    match hir.kind() {
        HirKind::Literal(lit) => lit.0.iter().for_each(|&b| set[usize::from(b)] = true),
        HirKind::Class(c) => {
            if let Some([b]) = class_bytes(c, 1, false).as_deref() {
                set[usize::from(*b)] = true;
            }
        }
        HirKind::Capture(c) => set = required_bytes(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => set = required_bytes(&r.sub),
        HirKind::Concat(xs) => {
            for x in xs {
                let sub = required_bytes(x);
                (0..256).for_each(|i| set[i] |= sub[i]);
            }
        }
        HirKind::Alternation(xs) => {
            set = [true; 256];
            for x in xs {
                let sub = required_bytes(x);
                (0..256).for_each(|i| set[i] &= sub[i]);
            }
        }
        _ => {}
    }
    set
}

/// A gate byte for `hir`: required in every match, rare in log text, and
/// not already part of every keyword (a keyword hit proves those present).
fn gate(hir: &Hir, keywords: &[Vec<u8>]) -> Option<u8> {
    const RARE: &[u8] = b"@~|^`$!";
    let required = required_bytes(hir);
    RARE.iter()
        .copied()
        .find(|&b| required[usize::from(b)] && !keywords.iter().all(|k| k.contains(&b)))
}

/// Whether some match of `hir` can contain byte `b`.
pub fn can_match(hir: &Hir, b: u8) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b),
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().iter().any(|r| r.start() <= b && b <= r.end())
        }
        HirKind::Class(Class::Unicode(c)) => {
            let ch = char::from(b);
            c.ranges().iter().any(|r| r.start() <= ch && ch <= r.end())
        }
        HirKind::Repetition(r) => r.max != Some(0) && can_match(&r.sub, b),
        HirKind::Capture(c) => can_match(&c.sub, b),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().any(|x| can_match(x, b)),
    }
}

/// The bytes a class matches, lowercased and deduplicated, when there are at
/// most `limit` of them.
fn class_bytes(class: &Class, limit: usize, fold: bool) -> Option<Vec<u8>> {
    let mut set = [false; 256];
    let mut add = |lo: u32, hi: u32| -> Option<()> {
        if hi > 255 || hi - lo > 64 {
            return None;
        }
        for b in lo..=hi {
            let b = b as u8;
            set[usize::from(if fold { b.to_ascii_lowercase() } else { b })] = true;
        }
        Some(())
    };
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                add(u32::from(r.start()), u32::from(r.end()))?;
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                add(u32::from(r.start()), u32::from(r.end()))?;
            }
        }
    }
    let out: Vec<u8> = (0..=255u8).filter(|&b| set[usize::from(b)]).collect();
    (out.len() <= limit).then_some(out)
}

/// A finite set of byte strings, stored flat: the enumeration builds
/// thousands of short strings, one allocation each would dominate.
#[derive(Debug, Clone, Default)]
struct Lang {
    bytes: Vec<u8>,
    /// End of each string in `bytes`.
    ends: Vec<u32>,
}

impl Lang {
    fn one(s: &[u8]) -> Lang {
        Lang {
            bytes: s.to_vec(),
            ends: vec![s.len() as u32],
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let from = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[from..self.ends[i] as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    fn push(&mut self, parts: &[&[u8]]) {
        for p in parts {
            self.bytes.extend_from_slice(p);
        }
        self.ends.push(self.bytes.len() as u32);
    }

    /// Whether every string has the same length.
    fn uniform_len(&self) -> bool {
        let first = self.ends.first().copied().unwrap_or(0);
        self.ends
            .iter()
            .enumerate()
            .all(|(i, &e)| e as usize == (i + 1) * first as usize)
    }

    fn extend(&mut self, other: &Lang) {
        for s in other.iter() {
            self.push(&[s]);
        }
    }
}

/// Finite languages already computed during one [`covered`] search, by
/// node (the HIR outlives the search, so its addresses are stable).
type Memo = HashMap<*const Hir, Option<Rc<Lang>>>;

/// Every string `hir` matches (as written, look-arounds ignored), if there
/// are at most `limit` of them, each at most 128 bytes long.
pub fn strings(hir: &Hir, limit: usize) -> Option<Vec<Vec<u8>>> {
    let l = lang(hir, false, &mut Memo::new())?;
    (l.len() <= limit).then(|| l.iter().map(<[u8]>::to_vec).collect())
}

/// The finite language of `hir`, lowercased, if it is small. Memoized per
/// node: the coverage search asks for the same sub-languages many times.
fn lang(hir: &Hir, fold: bool, memo: &mut Memo) -> Option<Rc<Lang>> {
    let key = hir as *const Hir;
    if let Some(l) = memo.get(&key) {
        return l.clone();
    }
    let l = lang_uncached(hir, fold, memo).map(Rc::new);
    memo.insert(key, l.clone());
    l
}

fn lang_uncached(hir: &Hir, fold: bool, memo: &mut Memo) -> Option<Lang> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(Lang::one(b"")),
        HirKind::Literal(lit) if fold => Some(Lang::one(&lit.0.to_ascii_lowercase())),
        HirKind::Literal(lit) => Some(Lang::one(&lit.0)),
        // Up to 64 bytes, so `@[a-z0-9]` proves the 36 keywords `@a`..`@9`
        // (regex-syntax lifts a shared literal out of an alternation, so
        // the class cannot be split to stay small); products stay bounded
        // by MAX_LANG.
        HirKind::Class(c) => {
            let mut l = Lang::default();
            for b in class_bytes(c, 64, fold)? {
                l.push(&[&[b]]);
            }
            Some(l)
        }
        HirKind::Capture(c) => lang(&c.sub, fold, memo).map(|l| (*l).clone()),
        HirKind::Repetition(r) => {
            let max = r.max?;
            if max > 8 {
                return None;
            }
            let sub = lang(&r.sub, fold, memo)?;
            let mut all = Lang::default();
            let mut cur = Lang::one(b"");
            for n in 0..=max {
                if n >= r.min {
                    all.extend(&cur);
                }
                if n < max {
                    cur = product(&cur, &sub)?;
                }
            }
            // With every string of `sub` `k > 0` bytes long, `n` repetitions
            // are `n * k` bytes long: the counts cannot collide.
            if sub.uniform_len() && sub.ends.first().is_some_and(|&k| k > 0) {
                (all.len() <= MAX_LANG).then_some(all)
            } else {
                dedup(all)
            }
        }
        HirKind::Concat(xs) => {
            let mut acc = Lang::one(b"");
            for x in xs {
                acc = product(&acc, &*lang(x, fold, memo)?)?;
            }
            Some(acc)
        }
        HirKind::Alternation(xs) => {
            let mut all = Lang::default();
            for x in xs {
                all.extend(&*lang(x, fold, memo)?);
            }
            dedup(all)
        }
    }
}

fn product(a: &Lang, b: &Lang) -> Option<Lang> {
    if a.len().saturating_mul(b.len()) > MAX_LANG {
        return None;
    }
    let mut out = Lang {
        bytes: Vec::with_capacity(a.bytes.len() * b.len() + b.bytes.len() * a.len()),
        ends: Vec::with_capacity(a.len() * b.len()),
    };
    for x in a.iter() {
        for y in b.iter() {
            if x.len() + y.len() > MAX_LANG_LEN {
                return None;
            }
            out.push(&[x, y]);
        }
    }
    // Both sides are duplicate-free (every `Lang` here is), so when all
    // strings of one side have the same length, `x + y` determines `x` and
    // `y`: no duplicates, and no sort (which is most of the analysis time).
    if a.uniform_len() || b.uniform_len() {
        Some(out)
    } else {
        dedup(out)
    }
}

/// Deduplicated (first occurrences kept, in order), if at most
/// [`MAX_LANG`] strings remain.
fn dedup(v: Lang) -> Option<Lang> {
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(v.len());
    let mut out = Lang {
        bytes: Vec::with_capacity(v.bytes.len()),
        ends: Vec::with_capacity(v.len()),
    };
    for s in v.iter() {
        if seen.insert(s) {
            if seen.len() > MAX_LANG {
                return None;
            }
            out.push(&[s]);
        }
    }
    Some(out)
}

/// Offset of the first keyword in `s`, if any.
fn first_keyword(s: &[u8], keywords: &[Vec<u8>]) -> Option<usize> {
    keywords
        .iter()
        .filter_map(|k| memchr::memmem::find(s, k))
        .min()
}

/// The worst-case offset of a keyword over a finite language, if every
/// string holds one.
fn lang_offset(strings: &Lang, keywords: &[Vec<u8>]) -> Option<usize> {
    strings
        .iter()
        .try_fold(0, |acc, s| Some(acc.max(first_keyword(s, keywords)?)))
}

/// If every match of `hir` contains a keyword, an upper bound on the offset
/// of one such keyword from the match start.
fn covered(hir: &Hir, keywords: &[Vec<u8>], fold: bool) -> Option<usize> {
    covered_in(hir, keywords, fold, &mut Memo::new())
}

fn covered_in(hir: &Hir, keywords: &[Vec<u8>], fold: bool, memo: &mut Memo) -> Option<usize> {
    if let Some(strings) = lang(hir, fold, memo) {
        if let Some(off) = lang_offset(&strings, keywords) {
            return Some(off);
        }
    }
    match hir.kind() {
        HirKind::Capture(c) => covered_in(&c.sub, keywords, fold, memo),
        HirKind::Repetition(r) if r.min >= 1 => covered_in(&r.sub, keywords, fold, memo),
        HirKind::Alternation(xs) => xs.iter().try_fold(0, |acc, x| {
            Some(acc.max(covered_in(x, keywords, fold, memo)?))
        }),
        HirKind::Concat(xs) => {
            let mut best: Option<usize> = None;
            let mut prefix_max = 0usize; // longest possible text before xs[i]
            for i in 0..xs.len() {
                // A keyword found at or after xs[i] is at least `prefix_max`
                // bytes in: it cannot beat a bound already found.
                if best.is_some_and(|b| b <= prefix_max) {
                    break;
                }
                // A keyword inside one child...
                if let Some(off) = covered_in(&xs[i], keywords, fold, memo) {
                    best = Some(best.map_or(prefix_max + off, |b| b.min(prefix_max + off)));
                }
                // ...or spanning a run of finite children xs[i..j].
                let mut acc = Lang::one(b"");
                for x in &xs[i..] {
                    match lang(x, fold, memo).and_then(|l| product(&acc, &l)) {
                        Some(next) => acc = next,
                        None => break,
                    }
                    if let Some(off) = lang_offset(&acc, keywords) {
                        best = Some(best.map_or(prefix_max + off, |b| b.min(prefix_max + off)));
                        break;
                    }
                }
                prefix_max = prefix_max.saturating_add(xs[i].properties().maximum_len()?);
            }
            best
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hir(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .multi_line(true)
            .build()
            .parse(re)
            .unwrap()
    }

    fn kws(k: &[&str]) -> Vec<Vec<u8>> {
        k.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn prefix_keywords_have_offset_zero() {
        let a = analyze(&hir(r"\bghp_[A-Za-z0-9]{36}\b"), &kws(&["ghp_"])).unwrap();
        assert_eq!(a.keyword_offset, 0);
        assert_eq!(a.max_len, 40);
    }

    #[test]
    fn keywords_across_children_and_case() {
        let a = analyze(
            &hir(r"xox[baprs]-[0-9]{8,13}"),
            &kws(&["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"]),
        );
        assert_eq!(a.unwrap().keyword_offset, 0);
        let a = analyze(
            &hir(r"(?i)(?:api[_-]?key)[ \t]{0,3}[:=][ \t]{0,3}[a-z0-9]{16,64}"),
            &kws(&["apikey", "api_key", "api-key"]),
        );
        assert_eq!(a.unwrap().keyword_offset, 0);
        let a = analyze(&hir(r"[0-9a-f]{32}-us[0-9]{1,2}"), &kws(&["-us"]));
        assert_eq!(a.unwrap().keyword_offset, 32);
    }

    #[test]
    fn gates_are_rare_required_bytes() {
        let a = analyze(
            &hir(r"[a-z]{2,8}://[^:@/\s]{1,64}:(?P<secret>[^@/\s]{1,64})@"),
            &kws(&["://"]),
        )
        .unwrap();
        assert_eq!(a.gate, Some(b'@'));
        let a = analyze(&hir(r"ghp_[a-z]{4}(?:@x|y)"), &kws(&["ghp_"])).unwrap();
        assert_eq!(a.gate, None, "not every match holds '@'");
        let a = analyze(&hir(r"Q~[a-z]{4}"), &kws(&["Q~"])).unwrap();
        assert_eq!(a.gate, None, "the keyword already proves '~'");
    }

    #[test]
    fn problems_are_found() {
        assert_eq!(
            analyze(&hir(r"ghp_[a-z]+"), &kws(&["ghp_"])),
            Err(Problem::Unbounded)
        );
        assert_eq!(
            analyze(&hir(r"(ghp_)?"), &kws(&["ghp_"])),
            Err(Problem::EmptyMatch)
        );
        assert_eq!(
            analyze(&hir(r"\Aghp_"), &kws(&["ghp_"])),
            Err(Problem::StreamAnchor)
        );
        assert_eq!(
            analyze(&hir(r"(ghp_|gho_)[a-z]{4}"), &kws(&["ghp_"])),
            Err(Problem::KeywordNotCovered)
        );
        assert_eq!(
            analyze(&hir(r"tok[^\x22]{4}"), &kws(&["tok"])),
            Err(Problem::CrossesLine)
        );
        assert_eq!(
            analyze(&hir(r"tok\s{1,4}x"), &kws(&["tok"])),
            Err(Problem::CrossesLine)
        );
    }
}

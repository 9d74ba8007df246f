//! Turning a rule's regex into what the engine searches with: the regex,
//! compiled on first use ([`super::lazy`]), the keywords the prefilter looks for (cut before, or with
//! the JSON-escaped spellings of, a `/`, `+` or `=`: [`super::escape`]) and
//! the facts proven about matches ([`super::analyze`]), with their bounds in
//! raw bytes, where escaped forms make matches longer.

use regex_syntax::hir::{Hir, HirKind};

use super::follow::{self, Follow};
use super::lazy::{self, Build, LazyRegex};
use super::{analyze, escape, Analysis, ANCHORED_VERIFY_MAX, MAX_RULE_LEN};

/// A rule's regex as the engine searches it.
#[derive(Debug)]
pub struct Search {
    /// The regex, compiled by its first search.
    pub regex: LazyRegex,
    /// Capture group index of `secret`, if the regex names one.
    pub secret_group: Option<usize>,
    /// Facts proven about it.
    pub analysis: Analysis,
    /// What the prefilter searches for ([`search_keywords`]).
    pub keywords: Vec<String>,
    /// For each of `keywords`, the bytes that may follow it at a match's
    /// start, where that filters hits ([`follow`]).
    pub follows: Vec<Option<Follow>>,
}

/// Parses `pattern` as rules are parsed (Unicode and UTF-8 mode off,
/// multi-line mode on); the error is the parser's message, on one line.
pub fn parse(pattern: &str) -> Result<Hir, String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .multi_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| super::one_line(&e.to_string()))
}

/// What the prefilter searches for a rule's keywords: each keyword's
/// [`escape::search_keywords`], without repeats.
pub fn search_keywords(keywords: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keywords {
        for f in escape::search_keywords(k) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// Analyses a rule's `written` HIR against its `keywords` (as written).
///
/// Matches are found in decoded text ([`super::Rule::search_slots`]), but
/// the engine waits for and releases raw bytes, so the analysis also gives
/// bounds in raw bytes ([`Analysis`]). [`MAX_RULE_LEN`] bounds the match
/// length as written; with escapes a match can be up to
/// [`escape::MAX_FORM_LEN`] times longer.
pub fn analysis(written: &Hir, keywords: &[String]) -> Result<Analysis, String> {
    if let Some(n) = written.properties().maximum_len() {
        if n > MAX_RULE_LEN {
            return Err(format!("maximum match length {n} exceeds {MAX_RULE_LEN}"));
        }
    }
    let bytes: Vec<Vec<u8>> = keywords.iter().map(|k| k.as_bytes().to_vec()).collect();
    let mut analysis = analyze::analyze(written, &bytes).map_err(|p| p.to_string())?;
    // Bounds in raw bytes. A keyword occurrence `o` characters into a match
    // lies at most 6 `o` raw bytes in (each character an escaped form at
    // worst), and in raw text some spelling of it holds what the prefilter
    // searches for (escape::search_keywords), at the same place.
    if escape::ESCAPED
        .iter()
        .any(|&b| analyze::can_match(written, b))
    {
        analysis.max_len = escape::raw_max_len(written).unwrap_or(analysis.max_len);
        analysis.keyword_offset *= escape::MAX_FORM_LEN;
    }
    Ok(analysis)
}

/// Analyses and compiles a rule's `written` HIR ([`analysis`]). Returns
/// every problem found, as messages. `common_words` says the rule is a
/// `generic` one woken by plain words ([`wakes_on_words`]).
pub fn build_search(
    pattern: &str,
    written: &Hir,
    keywords: &[String],
    common_words: bool,
) -> Result<Search, Vec<String>> {
    let analysis = analysis(written, keywords).map_err(|p| vec![p])?;
    let keywords = search_keywords(keywords);
    // Captures come from the bounded backtracker or the PikeVM either way;
    // the one-pass DFA (a quarter of a compiled regex) bought no measurable
    // speed. Rules whose keyword starts every match (or nearly) are verified
    // by searches anchored at the candidate starts, which the backtracker
    // decides in a few steps; the lazy and full DFAs need a reverse NFA, the
    // largest part of a compiled regex, so only rules searched unanchored
    // get them, and the generic rules woken by plain words (`password`,
    // `token`): those words are common and the NFAs large, so a lazy DFA that
    // rejects a candidate, or bounds the match before the backtracker
    // resolves the groups, saves 17% of all instructions on the benchmark
    // corpus. Generic rules whose keywords hold their separator (`key=`,
    // `-password `, `<entry `) are woken where the shape begins and do
    // without (their lazy DFAs and reverse NFAs took 3 MB of peak RSS).
    // Lazy DFA caches are small (peak RSS has a 16 MiB bar): 256 KiB for
    // the rules woken by words, which hit often, 64 KiB for the rest, which
    // only thrash past that on adversarial input.
    // Rules whose keyword lies at most ANCHORED_VERIFY_MAX bytes into every
    // match are only ever searched anchored: they need no reverse NFA and no
    // literal prefilter (Teddy tables for rules with many literals), which
    // would never run but would take memory.
    match lazy::forward_nfa(written) {
        Ok(nfa) => Ok(Search {
            regex: LazyRegex::checked(pattern, build_of(&analysis, common_words)),
            secret_group: secret_group(written),
            follows: follows(&nfa, &analysis, &keywords),
            analysis,
            keywords,
        }),
        Err(e) => Err(vec![format!("regex does not compile: {e}")]),
    }
}

/// The [`Search`] of a rule whose facts were proven before
/// ([`super::precomputed`]): nothing is parsed or built.
pub fn precomputed_search(
    pattern: &str,
    keywords: &[String],
    common_words: bool,
    facts: &super::precomputed::Facts,
) -> Search {
    Search {
        regex: LazyRegex::checked(pattern, build_of(&facts.analysis, common_words)),
        secret_group: facts.secret_group,
        analysis: facts.analysis.clone(),
        keywords: search_keywords(keywords),
        follows: facts.follows.clone(),
    }
}

/// How a rule's regex is built ([`build_search`] says why).
fn build_of(analysis: &Analysis, common_words: bool) -> Build {
    Build::Rule {
        anchored: analysis.plain_keyword_offset <= ANCHORED_VERIFY_MAX,
        words: common_words,
    }
}

/// [`follow::after`] each of the search `keywords` (for the spellings the
/// prefilter wakes the rule on) where matches start at most
/// [`MAX_FOLLOW_OFFSET`] bytes before their keyword (the escaped spellings
/// get none).
fn follows(nfa: &lazy::Nfa, analysis: &Analysis, keywords: &[String]) -> Vec<Option<Follow>> {
    if analysis.keyword_offset > MAX_FOLLOW_OFFSET {
        return Vec::new();
    }
    let mut afters = follow::Afters::new(nfa, analysis.keyword_offset);
    keywords
        .iter()
        .map(|k| afters.after(k.as_bytes(), !analysis.exact_keywords))
        .collect()
}

/// Rules whose matches may start further than this before their keyword
/// filter no hits by what follows: the bytes before a keyword may be any,
/// and past a few they let nearly anything follow it.
const MAX_FOLLOW_OFFSET: usize = 32;

/// The index of the capture group named `secret` in `hir`, if any (as the
/// compiled regex numbers groups: 1 for the first opened).
pub fn secret_group(hir: &Hir) -> Option<usize> {
    match hir.kind() {
        HirKind::Capture(c) if c.name.as_deref() == Some("secret") => usize::try_from(c.index).ok(),
        HirKind::Capture(c) => secret_group(&c.sub),
        HirKind::Repetition(r) => secret_group(&r.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().find_map(secret_group),
        _ => None,
    }
}

/// Whether a rule in the `generic` pack is woken by plain words: one of its
/// keywords is letters only (`password`, `token`), as opposed to keywords
/// that carry the shape's own punctuation (`key=`, `-password `).
pub fn wakes_on_words(generic: bool, keywords: &[String]) -> bool {
    generic
        && keywords
            .iter()
            .any(|k| k.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// One small regex for a rule's `allow_values`, each anchored at both ends,
/// compiled on first use. Matched only against accepted candidates, so no
/// lazy DFA (its cache would cost more memory than the few bytes it ever
/// sees are worth).
pub fn build_allow_values(allow_values: &[String]) -> Result<LazyRegex, String> {
    LazyRegex::new(&allow_values_pattern(allow_values), Build::Whole)
        .map_err(|e| format!("allow_values do not compile: {e}"))
}

/// [`build_allow_values`] for a built-in rule whose file is unchanged
/// since it was checked ([`super::precomputed`]): nothing is parsed.
pub fn precomputed_allow_values(allow_values: &[String]) -> LazyRegex {
    LazyRegex::checked(&allow_values_pattern(allow_values), Build::Whole)
}

fn allow_values_pattern(allow_values: &[String]) -> String {
    let joined = allow_values
        .iter()
        .map(|a| format!("(?:{a})"))
        .collect::<Vec<_>>()
        .join("|");
    format!(r"\A(?:{joined})\z")
}

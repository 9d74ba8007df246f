//! The keyword prefilter shared by every rule of a set.
//!
//! A hit of a rule keyword wakes the rule; only woken rules run their regex.
//! So the prefilter decides most of the engine's speed, and it has to stay
//! fast as the rule library grows past a hundred keywords.
//!
//! **Exact and folded.** Where the loader proved that a rule's keywords occur
//! in every match exactly as written (`AKIA`, `ghp_`), they are searched in
//! the raw bytes: mixed-case and punctuated literals rarely occur in log
//! text, so the SIMD search seldom stops. Keywords of case-insensitive rules
//! (`password`) are lowercased and searched in a lowercased copy of the
//! input, made only when such rules exist.
//!
//! **Groups.** A packed Teddy searcher is fastest with at most 64 patterns
//! that share a long minimum length (its SIMD fingerprint is the first
//! `min(4, shortest pattern)` bytes). So keywords are sorted by length and
//! cut into groups of at most [`GROUP_SIZE`] with similar lengths; each group
//! gets its own searcher (an Aho-Corasick automaton if Teddy is unavailable
//! on the CPU), and a search runs each group over the input. Short keywords
//! thus cost one cheap pass of their own instead of blunting every pass.
//!
//! **Chunking independence.** Each group searches leftmost-longest and
//! restarts one byte after each hit, so it reports every position where one
//! of its keywords starts, with the longest such keyword; every shorter
//! keyword of the group starting there is a prefix of it, so `triggers` for
//! a pattern lists the rules of all the group's keywords that are prefixes
//! of it. Across groups the hits are merged, sorted by (position, rule) and
//! deduplicated. The result depends only on the bytes, never on where reads
//! were cut, as long as the caller only accepts hits whose every possible
//! keyword is fully buffered (see the engine).

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, MatchKind};

/// Most keywords per searcher.
pub const GROUP_SIZE: usize = 64;
/// Keywords shorter than this are searched in groups of their own.
const SHORT: usize = 4;

#[derive(Debug, Clone)]
enum Searcher {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Searcher {
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        match self {
            Searcher::Packed(s) => s
                .find_in(hay, aho_corasick::Span::from(from..hay.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
            Searcher::Automaton(a) => a
                .find(aho_corasick::Input::new(hay).span(from..hay.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
        }
    }
}

#[derive(Debug, Clone)]
struct Group {
    /// Searches the lowercased copy (else the raw bytes).
    folded: bool,
    searcher: Searcher,
    /// Per pattern of this group, the rules to wake.
    triggers: Vec<Vec<u32>>,
}

/// The compiled keyword search of a rule set.
#[derive(Debug, Clone)]
pub struct Prefilter {
    groups: Vec<Group>,
    /// Longest keyword, in bytes.
    pub max_keyword_len: usize,
    /// Number of distinct search patterns.
    pub keywords: usize,
    /// Whether some group searches the lowercased copy.
    pub needs_folded: bool,
}

impl Prefilter {
    /// Builds the prefilter from each rule's keywords (already validated)
    /// and whether they hold exactly as written.
    pub fn new<'a>(rule_keywords: impl IntoIterator<Item = (&'a [String], bool)>) -> Prefilter {
        // (folded, pattern) -> rules
        let mut owners: Vec<((bool, Vec<u8>), Vec<u32>)> = Vec::new();
        for (i, (kws, exact)) in rule_keywords.into_iter().enumerate() {
            for k in kws {
                let key = if exact {
                    (false, k.as_bytes().to_vec())
                } else {
                    (true, k.as_bytes().to_ascii_lowercase())
                };
                match owners.iter_mut().find(|(p, _)| *p == key) {
                    Some((_, o)) => o.push(i as u32),
                    None => owners.push((key, vec![i as u32])),
                }
            }
        }
        // Exact before folded, then longest first, so each group's shortest
        // keyword is as long as it can be.
        owners
            .sort_by(|a, b| (a.0 .0, b.0 .1.len(), &a.0 .1).cmp(&(b.0 .0, a.0 .1.len(), &b.0 .1)));
        let max_keyword_len = owners.iter().map(|((_, p), _)| p.len()).max().unwrap_or(0);
        let keywords = owners.len();
        let mut groups = Vec::new();
        // Short keywords get groups of their own: a group's fingerprint is
        // as long as its shortest keyword, and a 2-byte fingerprint over
        // dozens of patterns stops on nearly every byte.
        for folded in [false, true] {
            for short in [false, true] {
                let mine: Vec<(Vec<u8>, Vec<u32>)> = owners
                    .iter()
                    .filter(|((f, p), _)| *f == folded && (p.len() < SHORT) == short)
                    .map(|((_, p), o)| (p.clone(), o.clone()))
                    .collect();
                groups.extend(mine.chunks(GROUP_SIZE).map(|c| build_group(c, folded)));
            }
        }
        Prefilter {
            needs_folded: groups.iter().any(|g: &Group| g.folded),
            groups,
            max_keyword_len,
            keywords,
        }
    }

    /// Appends to `out` every `(position, rule)` hit in `raw` with a position
    /// below `limit`, sorted and deduplicated. `folded` is `raw` lowercased
    /// (ignored unless [`Prefilter::needs_folded`]).
    pub fn find_hits(&self, raw: &[u8], folded: &[u8], limit: usize, out: &mut Vec<(usize, u32)>) {
        let start = out.len();
        for g in &self.groups {
            let hay = if g.folded { folded } else { raw };
            let mut at = 0;
            while at < limit {
                let Some((pos, pat)) = g.searcher.find(hay, at) else {
                    break;
                };
                if pos >= limit {
                    break;
                }
                out.extend(g.triggers[pat].iter().map(|&r| (pos, r)));
                at = pos + 1;
            }
        }
        if self.groups.len() > 1 {
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
    }
}

fn build_group(owners: &[(Vec<u8>, Vec<u32>)], folded: bool) -> Group {
    let patterns: Vec<&[u8]> = owners.iter().map(|(p, _)| p.as_slice()).collect();
    let triggers = patterns
        .iter()
        .map(|p| {
            let mut t: Vec<u32> = owners
                .iter()
                .filter(|(q, _)| p.starts_with(q))
                .flat_map(|(_, o)| o.iter().copied())
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let packed = packed::Config::new()
        .match_kind(packed::MatchKind::LeftmostLongest)
        .builder()
        .extend(&patterns)
        .build();
    let searcher = match packed {
        Some(s) => Searcher::Packed(s),
        None => Searcher::Automaton(
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("keywords are short ASCII literals"),
        ),
    };
    Group {
        folded,
        searcher,
        triggers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf(rules: &[&[&str]]) -> Prefilter {
        let owned: Vec<Vec<String>> = rules
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect();
        Prefilter::new(owned.iter().map(|v| (v.as_slice(), true)))
    }

    #[test]
    fn prefixes_wake_their_rules_and_every_position_is_reported() {
        let p = pf(&[&["tok_"], &["tok_live_"], &["ok_l"]]);
        let mut hits = Vec::new();
        p.find_hits(b"x tok_live_ y", b"", 13, &mut hits);
        assert_eq!(hits, vec![(2, 0), (2, 1), (3, 2)]);
        hits.clear();
        p.find_hits(b"x TOK_live_ y", b"", 13, &mut hits);
        assert_eq!(hits, vec![], "exact keywords are case-sensitive");
    }

    #[test]
    fn many_groups_merge_sorted_and_deduplicated() {
        // 200 distinct keywords over several groups, one rule owning two
        // keywords that start at the same place in different groups.
        let kws: Vec<String> = (0..200).map(|i| format!("kw{i:03}x")).collect();
        let mut rules: Vec<Vec<String>> = kws.iter().map(|k| vec![k.clone()]).collect();
        rules.push(vec!["kw0".into(), "kw007x".into()]);
        let p = Prefilter::new(rules.iter().map(|v| (v.as_slice(), false)));
        assert!(p.groups.len() >= 4);
        let mut hits = Vec::new();
        let hay = b"..kw007x..kw199x";
        p.find_hits(b"", hay, hay.len(), &mut hits);
        assert_eq!(hits, vec![(2, 7), (2, 200), (10, 199)]);
        hits.clear();
        p.find_hits(b"", hay, 10, &mut hits);
        assert_eq!(hits, vec![(2, 7), (2, 200)]);
    }
}

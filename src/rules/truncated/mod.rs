//! Truncated prefixed tokens: a rule `<id>-truncated` derived from every
//! rule whose secret is a token with a distinctive prefix (`ghp_`, `xoxb-`,
//! `AKIA`), redacting the token when it is cut short.
//!
//! Logs cut tokens: a UI shows `ghp_` and 30 characters then `...`, a syslog
//! relay truncates a message in the middle of one. The cut token no longer
//! matches its rule (which wants 36 characters), yet what is left is most of
//! the secret. So for each such rule the loader derives one more, from the
//! rule's own regex, that matches the prefix followed by the first
//! [`MIN_CHARS`] characters of any token the rule matches (the same shape:
//! `xoxb-` then digits then `-`, so `STS.AssumeRole` is not an Alibaba STS
//! key), and goes on through the token's alphabet (`extend`) to its end. It
//! is labelled `[REDACTED:<id>-truncated]`.
//!
//! **Where the rule itself matches, the derived rule matches nothing**: it
//! holds its parent's regex ([`Rule::shadow`](super::Rule::shadow)), and a
//! candidate where the parent's regex matches at the same start is left to
//! the parent (which may still reject it as a placeholder or a failed
//! checksum: that decision stands). So a whole token gives one finding, of
//! its own rule, and a cut one gives one `-truncated` finding.
//!
//! **Which rules.** The loader looks at the regex: after leading
//! look-arounds (`\b`), the secret (the `secret` group when it opens there,
//! or the whole match) must start with a finite prefix, every spelling of
//! which is at least 4 bytes long, or 3 with a
//! separator (`sk-`, `hf_`; not `eyJ`, which starts every base64 JSON
//! object, nor `SK`); the rest (the body) must only hold token bytes
//! (letters, digits, `_-.+/=~%$:`). The derived rule's keywords are its
//! parent's when they start the match, else the prefix's spellings (at
//! most 64). Rules in the `generic` pack, rules with
//! a `block`, and fallback rules whose validator is a `*-fails` checksum
//! (their primary rule derives the same) get none.
//!
//! **How many characters.** [`MIN_CHARS`] (16) after the prefix, or one
//! fewer than the rule's longest body when that is shorter, and no rule
//! below [`MIN_CHARS_FLOOR`]: 16 characters of a token alphabet right after a
//! distinctive prefix and a word boundary do not occur in clean logs (an
//! English word after `sk-` is 6 letters, a hyphenated phrase still has to
//! fit the parent's shape and pass its entropy and stop-word checks, which
//! the derived rule keeps), while a random token cut to 16 characters keeps
//! about 95 bits of a 36-character one's 214. Fewer would redact words; more
//! would let a cut token's first part through.
//!
//! **Negative examples decide.** The derived rule must leave every negative
//! example of its parent alone; if 16 characters do not, 20 or 24 may (the
//! shape of more characters excludes more), and past [`MAX_CHARS`] no rule
//! is derived (Alibaba's `STS.` ids, whose required digit may come later,
//! so `STS.AssumeRoleWithWebIdentity` stays). Nor is one that cannot redact
//! one of its own examples (its parent matches every cut token).
//!
//! Derived rules carry the tag `truncated` (so `--disable truncated` turns
//! them all off, `--disable github.pat-truncated` one), their parent's
//! keywords, severity, remediation, entropy and stop words, examples made
//! from the parent's (a token cut one character past the minimum and
//! followed by `...`) and negative examples (cut one character short of
//! it); the parent's negative examples are checked when it is derived.

use std::sync::Arc;

use regex_automata::Input;
use regex_syntax::hir::{Capture, Hir};

use super::lazy::LazyRegex;
use super::{compile, Example, Matcher, Rule, RuleId};

mod first;
mod shapes;

pub use shapes::Shapes;

/// Characters after the prefix that make a truncated token.
pub const MIN_CHARS: usize = 16;
/// No rule is derived when more characters than this would be needed to
/// leave the parent's negative examples alone.
pub const MAX_CHARS: usize = 24;
/// No rule is derived when fewer characters than this would be required
/// (the parent's longest body is shorter than this plus one).
pub const MIN_CHARS_FLOOR: usize = 8;
/// Appended to the parent's id.
pub const ID_SUFFIX: &str = "-truncated";
/// The tag of every derived rule.
pub const TAG: &str = "truncated";

/// Most spellings a prefix may have (they may become keywords).
const MAX_KEYWORDS: usize = 64;

/// The `-truncated` rule derived from `rule`, if it is a prefixed token
/// rule (see the module docs).
pub fn derive(rule: &Rule) -> Option<Rule> {
    let fallback = rule.validator.is_some_and(|v| v.is_fallback());
    let Matcher::Regex(parent) = &rule.matcher else {
        return None;
    };
    if rule.is_generic() || rule.block.is_some() || fallback {
        return None;
    }
    let written = compile::parse(&rule.pattern).ok()?;
    let shape = first::shape(&written)?;
    let body = Hir::concat(shape.body.to_vec());
    let longest = body.properties().maximum_len()?;
    // The prefix is the keyword when the parent's keyword starts its match;
    // otherwise (OpenAI's `T3BlbkFJ` lies further in) its spellings are.
    let keywords = if rule.analysis.plain_keyword_offset == 0 {
        rule.keywords.clone()
    } else if shape.prefixes.len() <= MAX_KEYWORDS {
        shape
            .prefixes
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    } else {
        return None;
    };
    let extend = first::alphabet(&body)?;
    // Checks below run against a copy of the parent's regex, compiled with
    // caches of its own and dropped after: the parent's stays uncompiled
    // until a search needs it (super::lazy), and caches made at load time
    // would stay.
    let probe = Arc::new(parent.detached());
    let mut t = twin(rule, keywords, extend, rule.matcher.clone());
    t.allow_values = rule.allow_values.as_ref().map(|a| Arc::new(a.detached()));
    // The fewest characters that leave the parent's negative examples alone.
    let fewest = [MIN_CHARS, 20, MAX_CHARS]
        .into_iter()
        .map(|c| c.min(longest.saturating_sub(1)))
        .filter(|&c| c >= MIN_CHARS_FLOOR)
        .find(|&chars| {
            shape_rule(&mut t, rule, &shape, &body, chars, &probe).is_some()
                && !rule
                    .negative_examples
                    .iter()
                    .any(|n| redacts(&t, n.as_bytes()))
        })?;
    shape_rule(&mut t, rule, &shape, &body, fewest, &probe)?;
    // A rule that cannot show one cut token it redacts (its parent already
    // matches every cut one, or its checks reject them) is not derived.
    let (examples, negatives) = examples(rule, &t, &probe);
    t.examples = examples;
    t.negative_examples = negatives;
    shape_rule(&mut t, rule, &shape, &body, fewest, parent)?;
    t.keyword_follows = keyword_follows(&t);
    // The checks are done: share the parent's allow list, as the regex.
    t.allow_values.clone_from(&rule.allow_values);
    (!t.examples.is_empty()).then_some(t)
}

/// The `-truncated` rule of `rule` as its parts were written down
/// ([`super::precomputed`]): what [`derive`] found, without the search
/// (nor the examples, which only `rules check` runs).
pub fn from_parts(
    rule: &Rule,
    pattern: String,
    keywords: Vec<String>,
    analysis: super::Analysis,
    extend: super::ByteSet,
    follows: Vec<Option<super::follow::Follow>>,
    shapes: Shapes,
) -> Rule {
    let mut t = twin(rule, keywords, extend, Matcher::Truncated(Arc::new(shapes)));
    t.pattern = pattern;
    t.analysis = analysis;
    t.keyword_follows = follows;
    t
}

/// The derived rule of `rule` with these keywords, alphabet and matcher:
/// the parent's severity, remediation, tags (and [`TAG`]), checks and
/// analysis (the caller gives it its own), its allow list shared.
fn twin(rule: &Rule, keywords: Vec<String>, extend: super::ByteSet, matcher: Matcher) -> Rule {
    Rule {
        id: RuleId(format!("{}{ID_SUFFIX}", rule.id).into()),
        name: format!("{} (truncated)", rule.name),
        pattern: String::new(),
        matcher,
        secret_group: Some(1),
        search_keywords: compile::search_keywords(&keywords),
        keyword_follows: Vec::new(),
        keywords,
        severity: rule.severity,
        remediation: rule.remediation.clone(),
        tags: rule.tags.iter().cloned().chain([TAG.to_string()]).collect(),
        min_entropy: rule.min_entropy,
        stop_words: rule.stop_words.clone(),
        allow_values: rule.allow_values.clone(),
        validator: None,
        public_prefix: rule.public_prefix,
        extend: Some(extend),
        block: None,
        analysis: rule.analysis.clone(),
        // Its shapes are matched without a regex.
        screens: None,
        source: rule.source.clone(),
        examples: Vec::new(),
        negative_examples: Vec::new(),
    }
}

/// Gives `t` the pattern, shapes and analysis of the prefix followed by the
/// first `chars` characters of the body, shadowed by `parent_regex`.
fn shape_rule(
    t: &mut Rule,
    parent: &Rule,
    shape: &first::Shape<'_>,
    body: &Hir,
    chars: usize,
    parent_regex: &Arc<LazyRegex>,
) -> Option<()> {
    let mut secret = shape.prefix.to_vec();
    secret.push(first::take(body, chars)?);
    let secret = Hir::capture(Capture {
        index: 1,
        name: Some("secret".into()),
        sub: Box::new(Hir::concat(secret)),
    });
    let shapes = Shapes::new(&shape.lead, &secret, Arc::clone(parent_regex))?;
    let mut parts = shape.lead.clone();
    parts.push(secret);
    let hir = Hir::concat(parts);
    t.pattern = hir.to_string();
    t.analysis = compile::analysis(&hir, &t.keywords).ok()?;
    // Searched up to where the parent's match could end, so the parent's
    // regex, which decides where this rule matches nothing, sees all of it.
    t.analysis.max_len = t.analysis.max_len.max(parent.analysis.max_len);
    t.analysis.plain_max_len = t.analysis.plain_max_len.max(parent.analysis.plain_max_len);
    t.matcher = Matcher::Truncated(Arc::new(shapes));
    Some(())
}

/// What may follow each of a derived rule's search keywords, read off its
/// shapes when the keywords start its matches (see [`super::follow`]).
fn keyword_follows(t: &Rule) -> Vec<Option<super::follow::Follow>> {
    let (Matcher::Truncated(shapes), 0) = (&t.matcher, t.analysis.keyword_offset) else {
        return Vec::new();
    };
    let fold = !t.analysis.exact_keywords;
    t.search_keywords
        .iter()
        .map(|k| shapes.follow(k.as_bytes(), fold))
        .collect()
}

/// Whether `rule` alone redacts something in `text`: one of its matches
/// has a secret that its checks accept.
fn redacts(rule: &Rule, text: &[u8]) -> bool {
    let mut slots = vec![None; 4];
    let mut at = 0;
    while at <= text.len() {
        let input = Input::new(text).range(at..);
        if rule.search_slots(&input, &mut slots).is_none() {
            return false;
        }
        let end = slots[1].map_or(text.len(), |v| v.get());
        if let (Some(s), Some(e)) = (slots[2], slots[3]) {
            if rule.accept(&text[s.get()..e.get()]).is_ok() {
                return true;
            }
        }
        at = end.max(slots[0].map_or(at, |v| v.get()) + 1);
    }
    false
}

/// Examples for the derived rule `t`, from its parent's: each secret cut one
/// character past the minimum and followed by `...`; and negative examples,
/// cut one character short of it.
fn examples(parent: &Rule, t: &Rule, probe: &LazyRegex) -> (Vec<Example>, Vec<String>) {
    let mut examples = Vec::new();
    let mut negatives = Vec::new();
    let label = format!("[REDACTED:{}]", t.id);
    let extend = t.extend.as_ref().expect("derived rules extend");
    let Matcher::Truncated(shapes) = &t.matcher else {
        return (examples, negatives);
    };
    let parent_secret = |hay: &[u8]| secret_span(probe, parent.secret_group, hay);
    for ex in &parent.examples {
        let input = ex.input.as_bytes();
        let Some((start, end)) = parent_secret(input) else {
            continue;
        };
        let Some(min) = shapes.end_at(input, start, end) else {
            continue;
        };
        for (cut, positive) in [(min + 1, true), (min - 1, false)] {
            if cut >= end {
                continue;
            }
            let mut cut_input = input[..cut].to_vec();
            cut_input.extend_from_slice(b"...");
            cut_input.extend_from_slice(&input[end..]);
            let Ok(text) = String::from_utf8(cut_input.clone()) else {
                continue;
            };
            if !positive {
                // Unless another spelling of the prefix makes it one.
                if !redacts(t, text.as_bytes()) {
                    negatives.push(text);
                }
                continue;
            }
            let shadowed = parent_secret(&cut_input).is_some_and(|s| s.0 == start);
            if shadowed || t.accept(&cut_input[start..min]).is_err() {
                continue;
            }
            let stop = min + extend.run(&cut_input[min..], true).0;
            let mut output = cut_input[..start].to_vec();
            output.extend_from_slice(label.as_bytes());
            output.extend_from_slice(&cut_input[stop..]);
            examples.push(Example {
                input: text,
                output: String::from_utf8_lossy(&output).into_owned(),
            });
        }
        if examples.len() >= 2 {
            break;
        }
    }
    (examples, negatives)
}

/// Where the first match of `regex` in `hay` has its secret (capture group
/// `group`, else the match), whether or not a parent shadows it.
fn secret_span(regex: &LazyRegex, group: Option<usize>, hay: &[u8]) -> Option<(usize, usize)> {
    let g = group.unwrap_or(0);
    let mut slots = vec![None; 2 * (g + 1)];
    regex.search_slots(&Input::new(hay), &mut slots)?;
    Some((slots[2 * g]?.get(), slots[2 * g + 1]?.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefixed token rule with a negative example.
    fn token() -> String {
        crate::rules::tests::GOOD
            .replace("{8}", "{36}")
            .replace(":8}", ":36}")
            + "negative_examples = [\"tok_{{lowerdigit:12}} is short\"]\n"
    }

    fn load(text: &str, disable: &[&str]) -> crate::rules::RuleSet {
        let mut b = crate::rules::RuleSetBuilder::new();
        b.add_source("t.toml", text);
        for d in disable {
            b.disable(*d);
        }
        b.build().unwrap()
    }

    fn secret_of(rule: &Rule, hay: &str) -> Option<(usize, usize)> {
        let mut slots = vec![None; 4];
        rule.search_slots(&Input::new(hay), &mut slots)?;
        Some((slots[2]?.get(), slots[3]?.get()))
    }

    #[test]
    fn a_prefixed_rule_gets_a_truncated_twin_its_own_matches_shadow() {
        let set = load(&token(), &[]);
        let t = set.get("t.tok-truncated").expect("derived");
        assert!(t.tags.iter().any(|x| x == TAG));
        let full = format!("tok_{}", "a1".repeat(18));
        let cut = format!("tok_{}...", "a1".repeat(10));
        assert_eq!(secret_of(t, &full), None, "the whole token is its rule's");
        assert_eq!(secret_of(t, &cut), Some((0, 4 + MIN_CHARS)));
        assert_eq!(secret_of(t, &format!("tok_{}...", "a1".repeat(7))), None);
        // Its examples are cut tokens, its negative example one cut short
        // of the minimum.
        assert!(t.examples[0]
            .output
            .contains("[REDACTED:t.tok-truncated]..."));
        assert_eq!(t.negative_examples.len(), 1);
        assert!(crate::check::check(&set).is_empty());
        for off in ["truncated", "t.tok-truncated"] {
            assert!(
                load(&token(), &[off]).get("t.tok-truncated").is_none(),
                "{off}"
            );
        }
    }

    #[test]
    fn short_or_common_prefixes_and_negative_examples_prevent_a_twin() {
        for (from, to) in [
            ("tok_", "eyJ"),
            (r"\b(?P<secret>", r"(?:key=)(?P<secret>"),
            ("is short", "x tok_0123456789abcdefghij0123456789abc"),
        ] {
            let text = token().replace(from, to);
            let set = load(&text, &[]);
            assert!(set.get("t.tok-truncated").is_none(), "{from} -> {to}");
        }
    }
}

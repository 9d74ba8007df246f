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
//! keywords, severity, remediation, entropy and stop words, and examples
//! made from the parent's: a token cut one character past the minimum and
//! followed by `...`.

use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};

use super::{analyze, compile, ByteSet, Example, Rule, RuleId};

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

/// Bytes a token body may hold for a truncated rule to be derived.
const TOKEN_BYTES: &[u8] = b"_-.+/=~%$:";
/// Most spellings a prefix may have while it is being found.
const MAX_PREFIXES: usize = 4096;
/// Most spellings a prefix may have (they may become keywords).
const MAX_KEYWORDS: usize = 64;
/// Most branches the shape of a body's first characters may take.
const MAX_BRANCHES: usize = 64;

/// A secret's regex split at the end of its prefix.
struct Shape<'a> {
    /// Look-arounds before the secret.
    lead: Vec<Hir>,
    prefix: &'a [Hir],
    /// Every spelling of the prefix.
    prefixes: Vec<Vec<u8>>,
    body: &'a [Hir],
}

/// The parts of `hir` when its secret starts with a prefix.
fn shape(hir: &Hir) -> Option<Shape<'_>> {
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
fn alphabet(body: &Hir) -> Option<ByteSet> {
    let mut set = [false; 256];
    for b in 0..=255u8 {
        if analyze::can_match(body, b) {
            if !(b.is_ascii_alphanumeric() || TOKEN_BYTES.contains(&b)) {
                return None;
            }
            set[usize::from(b)] = true;
        }
    }
    Some(ByteSet(set))
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
        HirKind::Repetition(r) => {
            let fixed = r.sub.properties().minimum_len() == r.sub.properties().maximum_len();
            match r.sub.properties().maximum_len() {
                _ if j == 0 => (r.min == 0).then(Hir::empty),
                Some(w) if fixed && w > 0 => {
                    let n = (j / w) as u32;
                    (j.is_multiple_of(w) && r.min <= n && r.max.is_none_or(|m| n <= m))
                        .then(|| repeat(&r.sub, n))
                }
                _ => union(copies(r)?.map(|c| exact_seq(&c, j))),
            }
        }
    }
}

/// The first `k` bytes of the strings of `h`'s language that are at least
/// `k` bytes long, as a regex; `None` when there are none.
fn take(h: &Hir, k: usize) -> Option<Hir> {
    if k == 0 {
        return Some(Hir::empty());
    }
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(_) => exact(h, k),
        HirKind::Literal(lit) => (k <= lit.0.len()).then(|| Hir::literal(&lit.0[..k])),
        HirKind::Capture(c) => take(&c.sub, k),
        HirKind::Alternation(xs) => union(xs.iter().map(|x| take(x, k))),
        HirKind::Concat(xs) => take_seq(xs, k),
        HirKind::Repetition(r) => {
            let fixed = r.sub.properties().minimum_len() == r.sub.properties().maximum_len();
            match r.sub.properties().maximum_len() {
                Some(w) if fixed && w > 0 => {
                    let (n, rest) = ((k / w) as u32, k % w);
                    let copies = n + u32::from(rest > 0);
                    if r.max.is_some_and(|m| copies > m) {
                        return None;
                    }
                    Some(Hir::concat(vec![repeat(&r.sub, n), take(&r.sub, rest)?]))
                }
                _ => union(copies(r)?.map(|c| take_seq(&c, k))),
            }
        }
    }
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

/// The `-truncated` rule derived from `rule`, if it is a prefixed token
/// rule (see the module docs).
pub fn derive(rule: &Rule) -> Option<Rule> {
    let fallback = rule.validator.is_some_and(|v| v.is_fallback());
    if rule.is_generic() || rule.block.is_some() || fallback {
        return None;
    }
    let written = compile::parse(&rule.pattern).ok()?;
    let shape = shape(&written)?;
    let body = Hir::concat(shape.body.to_vec());
    let longest = body.properties().maximum_len()?;
    // The prefix is the keyword when the parent's keyword starts its match;
    // otherwise (OpenAI's `T3BlbkFJ` lies further in) its spellings are.
    let keywords = if rule.analysis.keyword_offset == 0 {
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
    let mut t = Rule {
        id: RuleId(format!("{}{ID_SUFFIX}", rule.id).into()),
        name: format!("{} (truncated)", rule.name),
        pattern: String::new(),
        regex: rule.regex.clone(),
        secret_group: Some(1),
        keywords,
        search_keywords: Vec::new(),
        severity: rule.severity,
        remediation: rule.remediation.clone(),
        tags: rule.tags.iter().cloned().chain([TAG.to_string()]).collect(),
        min_entropy: rule.min_entropy,
        stop_words: rule.stop_words.clone(),
        allow_values: rule.allow_values.clone(),
        validator: None,
        public_prefix: rule.public_prefix,
        extend: Some(alphabet(&body)?),
        block: None,
        analysis: rule.analysis.clone(),
        source: rule.source.clone(),
        examples: Vec::new(),
        negative_examples: rule.negative_examples.clone(),
        shadow: Some(rule.regex.clone()),
    };
    // The fewest characters that leave the parent's negative examples alone.
    let fewest = [MIN_CHARS, 20, MAX_CHARS]
        .into_iter()
        .map(|c| c.min(longest.saturating_sub(1)))
        .filter(|&c| c >= MIN_CHARS_FLOOR)
        .find(|&chars| {
            set_regex(&mut t, rule, &shape, &body, chars).is_some()
                && !t
                    .negative_examples
                    .iter()
                    .any(|n| redacts(&t, n.as_bytes()))
        })?;
    set_regex(&mut t, rule, &shape, &body, fewest)?;
    // A rule that cannot show one cut token it redacts (its parent already
    // matches every cut one, or its checks reject them) is not derived.
    let (examples, negatives) = examples(rule, &t);
    t.examples = examples;
    t.negative_examples.extend(negatives);
    (!t.examples.is_empty()).then_some(t)
}

/// Gives `t` the regex of the prefix and the first `chars` characters of
/// the body.
fn set_regex(
    t: &mut Rule,
    parent: &Rule,
    shape: &Shape<'_>,
    body: &Hir,
    chars: usize,
) -> Option<()> {
    let mut secret = shape.prefix.to_vec();
    secret.push(take(body, chars)?);
    let mut parts = shape.lead.clone();
    parts.push(Hir::capture(Capture {
        index: 1,
        name: Some("secret".into()),
        sub: Box::new(Hir::concat(secret)),
    }));
    t.pattern = Hir::concat(parts).to_string();
    let search =
        compile::build_search(&compile::parse(&t.pattern).ok()?, &t.keywords, false).ok()?;
    t.regex = search.regex;
    t.search_keywords = search.keywords;
    t.analysis = search.analysis;
    // Searched up to where the parent's match could end, so the parent's
    // regex, which decides where this rule matches nothing, sees all of it.
    t.analysis.max_len = t.analysis.max_len.max(parent.analysis.max_len);
    Some(())
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
fn examples(parent: &Rule, t: &Rule) -> (Vec<Example>, Vec<String>) {
    let mut examples = Vec::new();
    let mut negatives = Vec::new();
    let label = format!("[REDACTED:{}]", t.id);
    let extend = t.extend.as_ref().expect("derived rules extend");
    for ex in &parent.examples {
        let input = ex.input.as_bytes();
        let Some((start, end)) = secret_span(parent, input) else {
            continue;
        };
        let Some(min) = secret_span(t, &input[..end])
            .filter(|s| s.0 == start)
            .map(|s| s.1)
        else {
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
            let shadowed = secret_span(parent, &cut_input).is_some_and(|s| s.0 == start);
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

/// Where the first match of `rule`'s regex in `hay` has its secret
/// (whether or not a parent shadows it).
fn secret_span(rule: &Rule, hay: &[u8]) -> Option<(usize, usize)> {
    let mut slots = vec![None; 2 * (rule.secret_group.unwrap_or(0) + 1)];
    let input = Input::new(hay).anchored(Anchored::No);
    rule.regex.search_slots(&input, &mut slots)?;
    let g = rule.secret_group.unwrap_or(0);
    Some((slots[2 * g]?.get(), slots[2 * g + 1]?.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_chars(re: &str, k: usize) -> Option<String> {
        let h = compile::parse(re).unwrap();
        take(&h, k).map(|h| h.to_string())
    }

    fn matches(re: &str, hay: &str) -> bool {
        regex_automata::meta::Regex::new(&format!(r"\A(?:{re})\z"))
            .unwrap()
            .is_match(hay)
    }

    const TOKEN: &str = r#"
[[rule]]
id = "t.tok"
name = "test token"
regex = '\b(?P<secret>tok_[a-z0-9]{36})\b'
keywords = ["tok_"]
severity = "high"
remediation = "rotate it"
tags = ["default"]
examples = [{ input = "x tok_{{lowerdigit:36}} y", output = "x [REDACTED:t.tok] y" }]
negative_examples = ["tok_{{lowerdigit:12}} is short"]
"#;

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
        let set = load(TOKEN, &[]);
        let t = set.get("t.tok-truncated").expect("derived");
        assert!(t.tags.iter().any(|x| x == TAG));
        let full = format!("tok_{}", "a1".repeat(18));
        let cut = format!("tok_{}...", "a1".repeat(10));
        assert_eq!(secret_of(t, &full), None, "the whole token is its rule's");
        assert_eq!(secret_of(t, &cut), Some((0, 4 + MIN_CHARS)));
        assert_eq!(secret_of(t, &format!("tok_{}...", "a1".repeat(7))), None);
        // Its examples are cut tokens, its negatives its parent's and one
        // cut short of the minimum.
        assert!(t.examples[0]
            .output
            .contains("[REDACTED:t.tok-truncated]..."));
        assert_eq!(t.negative_examples.len(), 2);
        assert!(crate::check::check(&set).is_empty());
        for off in ["truncated", "t.tok-truncated"] {
            assert!(
                load(TOKEN, &[off]).get("t.tok-truncated").is_none(),
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
            let text = TOKEN.replace(from, to);
            let set = load(&text, &[]);
            assert!(set.get("t.tok-truncated").is_none(), "{from} -> {to}");
        }
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

//! Rule self-tests and explanations, shared by `redactd rules check`,
//! `redactd rules explain`, loading, and the unit tests.
//!
//! This sits above [`crate::rules`] and [`crate::engine`] because running a
//! rule's examples needs the engine.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::engine::fingerprint::Fingerprinter;
use crate::engine::{Options, Redactor, Style};
use crate::rules::{self, Problem, Rule, RuleSet, RuleSetBuilder};

/// A fixed key for checks: fingerprints in checks are never shown.
fn check_options() -> Options {
    Options {
        style: Style::Label,
        fingerprinter: Arc::new(
            Fingerprinter::new(b"redactd-rule-check-key", "check").expect("valid key"),
        ),
        // An example shows its rule alone: no learned repeats.
        learned_values: 0,
    }
}

/// Runs every example (exact output, this rule alone) and negative example
/// (no change, this rule alone) of every rule in `set`.
pub fn check(set: &RuleSet) -> Vec<Problem> {
    let mut problems = Vec::new();
    for rule in set.rules() {
        problems.extend(check_rule(rule));
    }
    problems
}

/// Checks one rule's examples.
pub fn check_rule(rule: &Rule) -> Vec<Problem> {
    let single = Arc::new(RuleSet::single(rule));
    let mut problems = Vec::new();
    let mut problem = |m: String| {
        problems.push(Problem {
            file: rule.source.clone(),
            rule: Some(rule.id.to_string()),
            message: m,
        })
    };
    for (i, ex) in rule.examples.iter().enumerate() {
        let got = Redactor::redact_all(Arc::clone(&single), check_options(), ex.input.as_bytes());
        if got.out != ex.output.as_bytes() {
            // Show the expected text and the actual one with secrets masked:
            // both are redacted outputs, so neither holds the example secret
            // unless the rule failed to redact it, which is what we report.
            problem(format!(
                "example {} does not produce its expected output\n      expected: {:?}\n      got:      {:?}",
                i + 1,
                ex.output,
                mask_unredacted(&got.out, &ex.output)
            ));
        }
        if got.findings.is_empty() {
            problem(format!("example {} produces no finding", i + 1));
        }
    }
    for (i, neg) in rule.negative_examples.iter().enumerate() {
        let got = Redactor::redact_all(Arc::clone(&single), check_options(), neg.as_bytes());
        if !got.findings.is_empty() || got.out != neg.as_bytes() {
            problem(format!("negative example {} is redacted", i + 1));
        }
    }
    problems
}

/// For error messages: the actual output, as text, with long runs of
/// token-like bytes that the expected output does not contain shortened.
fn mask_unredacted(got: &[u8], expected: &str) -> String {
    let text = String::from_utf8_lossy(got);
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| !(c.is_ascii_alphanumeric() || "_-+/=.".contains(c)))
    {
        let core =
            word.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || "_-+/=.".contains(c)));
        if core.len() >= 12 && !expected.contains(core) {
            let _ = write!(
                out,
                "{}…({} bytes){}",
                &core[..4],
                core.len(),
                &word[core.len()..]
            );
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Builds the set and runs the examples of every user-supplied rule in it;
/// all problems are reported together.
///
/// Built-in rules are embedded in the binary and their examples are run by
/// the test suite and `redactd rules check`, so startup skips them: that
/// keeps start-up fast and the peak memory of a run low. The set returned
/// holds no examples, and no compiled regex: each is compiled by the first
/// search that needs it ([`rules::lazy`]).
pub fn load(builder: &RuleSetBuilder) -> Result<Arc<RuleSet>, rules::Error> {
    let set = builder.build_to_run()?;
    // Built-in examples are tested by the test suite; known values' rules
    // were checked when they were made, and their examples hold the values
    // themselves, which no message may show.
    let own: Vec<&Rule> = set
        .rules()
        .iter()
        .filter(|r| {
            !r.source.starts_with(rules::BUILTIN_SOURCE_PREFIX)
                && !r.source.starts_with(rules::known::KNOWN_SOURCE_PREFIX)
        })
        .collect();
    // On copies: their examples compile copies of their regexes, dropped
    // after, so a rule's own regex waits for its first hit (rules::lazy).
    let n = own.len();
    let problems: Vec<Problem> =
        rules::par::map(own, n, rules::PAR_MIN_RULES, |r| check_rule(&r.detached()))
            .into_iter()
            .flatten()
            .collect();
    if !problems.is_empty() {
        return Err(rules::Error::Invalid(problems));
    }
    // Every example has served its purpose (built-in ones are run by the
    // test suite and `rules check`, which do not load through here): a
    // long-running process need not hold some 200 KB of them.
    let mut set = set;
    set.forget_examples();
    Ok(Arc::new(set))
}

/// Masks a secret for display: its public prefix, then `*`, and its length.
pub fn mask_secret(secret: &[u8], public_prefix: usize) -> String {
    let keep = public_prefix.min(secret.len() / 2);
    format!(
        "{}{} ({} bytes)",
        String::from_utf8_lossy(&secret[..keep]),
        "*".repeat(8),
        secret.len()
    )
}

/// `rules list`: one line per rule (id, severity, tags, name), or with
/// `packs` one line per tag with how many rules carry it.
pub fn list(set: &RuleSet, packs: bool) -> String {
    let mut out = String::new();
    if packs {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for r in set.rules() {
            if r.tags.is_empty() {
                *counts.entry("(untagged)").or_default() += 1;
            }
            for t in &r.tags {
                *counts.entry(t.as_str()).or_default() += 1;
            }
        }
        for (tag, n) in counts {
            let _ = writeln!(out, "{tag:<18} {n}");
        }
        return out;
    }
    for r in set.rules() {
        let _ = writeln!(
            out,
            "{:<36} {:<8} {:<18} {}",
            r.id.as_str(),
            r.severity.as_str(),
            r.tags.join(","),
            r.name
        );
    }
    out
}

/// `rules explain ID`: everything that decides what the rule redacts.
/// A known value's rule is made of the value, so its pattern and examples
/// are never shown.
pub fn describe(rule: &Rule) -> String {
    let known = rule.source.starts_with(rules::known::KNOWN_SOURCE_PREFIX);
    let mut out = String::new();
    let mut field = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k:<14} {v}");
    };
    field("id", &rule.id);
    field("name", &rule.name);
    field("severity", &rule.severity.as_str());
    field("tags", &rule.tags.join(", "));
    field("source", &rule.source);
    let pattern = if known {
        "(a known value)"
    } else {
        &rule.pattern
    };
    field("regex", &pattern);
    let secret = if rule.secret_group.is_some() {
        "the `secret` group"
    } else {
        "the whole match"
    };
    field("redacts", &secret);
    field("keywords", &rule.keywords.join(", "));
    if let Some(e) = rule.min_entropy {
        field("min_entropy", &format!("{e} bits per byte"));
    }
    if !rule.stop_words.is_empty() {
        let words: Vec<String> = rule
            .stop_words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        field("stop_words", &words.join(", "));
    }
    if rule.allow_values.is_some() {
        field("allow_values", &"yes (whole-secret shapes let through)");
    }
    if let Some(v) = rule.validator {
        field("validator", &v.name());
    }
    if rule.public_prefix > 0 {
        field("public_prefix", &format!("{} bytes", rule.public_prefix));
    }
    match &rule.block {
        Some(rules::Block::Armor { max_bytes }) => {
            field("block", &format!("armored, up to {max_bytes} bytes"));
        }
        Some(rules::Block::K8sSecretMap { max_bytes }) => {
            field(
                "block",
                &format!("Kubernetes Secret map, up to {max_bytes} bytes"),
            );
        }
        None => {}
    }
    field("remediation", &rule.remediation);
    if !known {
        for ex in &rule.examples {
            let _ = writeln!(
                out,
                "example        {}
            -> {}",
                ex.input, ex.output
            );
        }
        for neg in &rule.negative_examples {
            let _ = writeln!(out, "not a secret   {neg}");
        }
    }
    out
}

/// What `rules test` says about one piece of text.
pub fn explain(set: &Arc<RuleSet>, text: &[u8]) -> String {
    let mut out = String::new();
    let mut hits = Vec::new();
    set.prefilter().find_hits(text, text.len(), &mut hits);
    let mut woken = std::collections::BTreeMap::<usize, Vec<usize>>::new();
    for (pos, r) in hits {
        woken.entry(r as usize).or_default().push(pos);
    }
    if woken.is_empty() {
        out.push_str("no keyword of any enabled rule occurs in the text, so no rule was tried\n");
    }
    for (r, positions) in &woken {
        let rule = &set.rules()[*r];
        let _ = writeln!(
            out,
            "{} ({}): keyword at byte {:?}",
            rule.id, rule.name, positions
        );
        let mut any = false;
        for m in rule.matches(text) {
            any = true;
            let Some(secret) = m.secret else {
                let _ = writeln!(
                    out,
                    "  match at {}..{}: secret group did not take part{}",
                    m.span.start,
                    m.span.end,
                    if rule.shadowed(text, m.span.start, text.len()) {
                        " (a whole token, its own rule's)"
                    } else {
                        ""
                    }
                );
                continue;
            };
            let (s, e) = (secret.start, secret.end);
            let shown = mask_secret(&text[s..e], rule.public_prefix);
            match rule.accept(&text[s..e]) {
                Ok(()) => {
                    let _ = writeln!(out, "  REDACT bytes {s}..{e}: {shown}");
                }
                Err(why) => {
                    let _ = writeln!(out, "  suppressed bytes {s}..{e}: {shown}: {why}");
                }
            }
        }
        if !any {
            // A known value's rule is made of the value itself: its pattern
            // is never shown.
            let pattern = if rule.source.starts_with(rules::known::KNOWN_SOURCE_PREFIX) {
                "(a known value)"
            } else {
                rule.pattern.as_str()
            };
            let _ = writeln!(
                out,
                "  the keyword occurs but the regex does not match: {pattern}"
            );
        }
    }
    let got = Redactor::redact_all(Arc::clone(set), check_options(), text);
    let _ = writeln!(out, "output: {}", String::from_utf8_lossy(&got.out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loaded set keeps no examples: they were checked, or are checked by
    /// the test suite, and a long run need not hold them.
    #[test]
    fn a_loaded_set_holds_no_examples() {
        let set = load(&RuleSetBuilder::builtin()).unwrap();
        assert!(set.rules().len() > 100);
        assert!(set
            .rules()
            .iter()
            .all(|r| r.examples.is_empty() && r.negative_examples.is_empty()));
    }

    /// Loading compiles no regex, not even a user rule's whose examples
    /// ran; a search compiles only the rules it needs, once.
    #[test]
    fn regexes_are_compiled_by_the_searches_that_need_them() {
        let mut b = RuleSetBuilder::builtin();
        b.add_source("t.toml", crate::rules::tests::GOOD);
        let set = load(&b).unwrap();
        let early: Vec<&str> = set
            .rules()
            .iter()
            .filter(|r| {
                matches!(&r.matcher, rules::Matcher::Regex(re) if re.is_compiled())
                    || r.allow_values.as_ref().is_some_and(|a| a.is_compiled())
            })
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(early, Vec::<&str>::new(), "compiled at load");
        assert_eq!(set.compiled_memory(), 0);
        let ex =
            crate::rules::template::expand_one("lazy", "key tok_{{lowerdigit:8}} end").unwrap();
        let got = Redactor::redact_all(Arc::clone(&set), check_options(), ex.as_bytes());
        assert_eq!(
            got.findings.len(),
            1,
            "{}",
            String::from_utf8_lossy(&got.out)
        );
        let once = set.compiled_memory();
        assert!(once > 0);
        let compiled = set
            .rules()
            .iter()
            .filter(|r| matches!(&r.matcher, rules::Matcher::Regex(re) if re.is_compiled()))
            .count();
        assert!(compiled < 10, "{compiled} regexes compiled for one line");
        Redactor::redact_all(Arc::clone(&set), check_options(), ex.as_bytes());
        assert_eq!(set.compiled_memory(), once, "compiled once");
        set.compile_all();
        assert!(set.compiled_memory() > 50 * once);
    }

    /// Every built-in rule's examples hold: the unit-test twin of
    /// `redactd rules check`.
    #[test]
    fn builtin_rules_check_clean() {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        let set = b.build().unwrap_or_else(|e| panic!("{e}"));
        let problems = check(&set);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{}", text.join("\n"));
        assert!(
            set.rules().len() >= 40,
            "only {} built-in rules",
            set.rules().len()
        );
    }

    #[test]
    fn mask_secret_shows_prefix_only() {
        assert_eq!(mask_secret(b"ghp_abcdefgh", 4), "ghp_******** (12 bytes)");
        assert_eq!(mask_secret(b"abc", 4), "a******** (3 bytes)");
    }
}

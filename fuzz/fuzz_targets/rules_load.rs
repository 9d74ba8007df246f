//! Any text as a rule file: loading returns rules or an error, never a
//! panic. When it returns rules, checking their examples does not panic,
//! and each of the first few rules, alone, redacts its own examples, its
//! negative examples and the file text itself the same whole and one byte
//! at a time, exactly as the oracle does, within its window.
//!
//! Seed with the built-in files and the dictionary (see `fuzz/README.md`):
//! random text rarely makes a valid rule.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use redactd::engine::oracle::Oracle;
use redactd::engine::{Redactor, Style};
use redactd::rules::{RuleSet, RuleSetBuilder};
use redactd_fuzz::{bytes_literal, first_difference, options, redact_in, save_if_requested};

/// Rules looked at per input (each compiles its own oracle).
const MAX_RULES: usize = 4;
/// Largest haystack redacted per rule.
const MAX_HAY: usize = 2048;

fuzz_target!(|text: &str| {
    save_if_requested(text.as_bytes());
    let mut b = RuleSetBuilder::new();
    b.add_source("fuzz.toml", text).all(true);
    let Ok(set) = b.build() else { return };
    let _ = redactd::check::check(&set);
    for rule in set.rules().iter().take(MAX_RULES) {
        let single = Arc::new(RuleSet::single(rule));
        let learned = redactd::config::defaults::LEARNED_VALUES.default_usize();
        let oracle = Oracle::with_learned(Arc::clone(&single), learned);
        let hays = rule
            .examples
            .iter()
            .map(|e| e.input.as_bytes())
            .chain(rule.negative_examples.iter().map(String::as_bytes))
            .chain([text.as_bytes()])
            .filter(|h| h.len() <= MAX_HAY);
        for hay in hays {
            let repro = || {
                format!(
                    "rule {} over {}\nrule file:\n{text}",
                    rule.id,
                    bytes_literal(hay, 4)
                )
            };
            let whole = Redactor::redact_all(Arc::clone(&single), options(Style::Label), hay);
            let bytewise = redact_in(&single, Style::Label, hay, &vec![1; hay.len()])
                .unwrap_or_else(|m| panic!("{m}\n{}", repro()));
            assert!(
                bytewise.out == whole.out && bytewise.findings == whole.findings,
                "byte-at-a-time differs from whole: {}\n{}",
                first_difference(&bytewise.out, &whole.out),
                repro()
            );
            let want = oracle.redact(hay, Style::Label);
            assert!(
                whole.out == want,
                "output differs from the oracle's (engine first): {}\n{}",
                first_difference(&whole.out, &want),
                repro()
            );
        }
    }
});

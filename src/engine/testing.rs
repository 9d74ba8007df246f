//! Unit-test fixtures shared across the crate: the built-in rules (loaded
//! and checked once per test binary), a `label`-style redactor over them,
//! and a fake GitHub token with a valid checksum made at test time.

use std::sync::{Arc, OnceLock};

use super::fingerprint::Fingerprinter;
use super::{Options, Redactor, Style};
use crate::rules::{RuleSet, RuleSetBuilder};

/// The built-in default rules, examples checked.
pub(crate) fn builtin_rules() -> Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| crate::check::load(&RuleSetBuilder::builtin()).expect("built-in rules"))
        .clone()
}

/// A fresh `label`-style redactor over [`builtin_rules`].
pub(crate) fn label_redactor() -> Redactor {
    Redactor::new(
        builtin_rules(),
        Options {
            style: Style::Label,
            fingerprinter: Arc::new(
                Fingerprinter::new(b"crate-unit-test-key", "t").expect("test key"),
            ),
            learned_values: crate::config::defaults::LEARNED_VALUES.default_usize(),
        },
    )
}

/// A GitHub token with a valid checksum (labelled `github.pat`, not the
/// unverified fallback), different for each seed.
pub(crate) fn github_token(seed: &str) -> String {
    crate::rules::template::expand_one(seed, "ghp_{{crc62:36}}").expect("template")
}

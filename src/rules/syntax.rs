//! The rule-file schema as written in `patterns/*.toml`.
//!
//! These types mirror the file exactly and reject unknown keys, so a misspelt
//! `negative_example` fails loudly instead of silently switching a test off.
//! [`super::compile`] turns them into validated [`super::Rule`]s.

use serde::Deserialize;

use super::{Severity, Validator};

/// One rule file: a list of `[[rule]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileConfig {
    /// The rules in this file, in file order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

/// One `[[rule]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Stable id, `vendor.kind`: lowercase ASCII letters, digits, `.`, `-`, `_`.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// ASCII regex, compiled with Unicode and UTF-8 mode off and `(?m)` on.
    /// A capture group named `secret` narrows what is redacted; without it
    /// the whole match is redacted.
    pub regex: String,
    /// Literals (ASCII, matched case-insensitively by the prefilter) at least
    /// one of which occurs in every match. The loader proves this from the
    /// regex and refuses the rule otherwise.
    pub keywords: Vec<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: Severity,
    /// What to rotate, and where.
    pub remediation: String,
    /// Pack membership: `default`, `generic`, `pii`, ...
    #[serde(default)]
    pub tags: Vec<String>,
    /// Minimum Shannon entropy of the secret, in bits per byte.
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// Case-insensitive substrings that mark a secret as a placeholder
    /// (`EXAMPLE`, `changeme`, `${`): such a match is not a finding.
    #[serde(default)]
    pub stop_words: Vec<String>,
    /// Regexes (same syntax as `regex`) that mark a secret as not a secret
    /// when one matches all of it: a value naming its own field
    /// (`password="password"`), a route or CSS selector under a password
    /// key. Anchored at both ends by the loader.
    #[serde(default)]
    pub allow_values: Vec<String>,
    /// A named offline validator the secret must pass (`luhn`, `jwt`, ...).
    #[serde(default)]
    pub validator: Option<Validator>,
    /// Bytes at the start of the secret that are public (`ghp_` is 4): the
    /// `partial` style may show them.
    #[serde(default)]
    pub public_prefix: usize,
    /// A byte class (`[A-Za-z0-9_.-]`) the secret's token continues in. When
    /// set, redaction keeps going past the regex match while bytes stay in
    /// the class, so a token longer than the regex allows fails closed.
    #[serde(default)]
    pub extend: Option<String>,
    /// Multi-line block that follows the match: `armor` for PEM/PGP style
    /// blocks (base64 body lines, header fields, `\n` escapes, footer).
    #[serde(default)]
    pub block: Option<BlockKind>,
    /// Upper bound on a block's size in bytes (default 65536).
    #[serde(default)]
    pub max_block_bytes: Option<usize>,
    /// Worked examples: input and exact redacted output with the `label` style.
    #[serde(default)]
    pub examples: Vec<ExampleConfig>,
    /// Inputs this rule must leave alone.
    #[serde(default)]
    pub negative_examples: Vec<String>,
}

/// One example: `input` redacted with the full built-in set must equal `output`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleConfig {
    /// Text to redact. `{{class:len}}` placeholders are filled with
    /// deterministic random text at load time (see [`super::template`]).
    pub input: String,
    /// Expected output; `{{N}}` repeats the N-th placeholder of the input.
    pub output: String,
}

/// The kinds of multi-line block a rule may take (`block = "armor"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// PEM, OpenSSH and PGP armor (see [`super::Block::Armor`]).
    Armor,
}

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
    /// blocks (base64 body lines, header fields, `\n` escapes, footer),
    /// `k8s-secret-map` for the map after a Kubernetes Secret's `data:` /
    /// `stringData:` line.
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
    /// A Kubernetes Secret's map in YAML (see [`super::Block::K8sSecretMap`]).
    #[serde(rename = "k8s-secret-map")]
    K8sSecretMap,
}

/// Parses a rule file as [`RuleFileConfig`], one `[[rule]]` table at a
/// time where it can: a TOML parser holds the whole document (every table
/// and key with its spans) before deserializing, some 8 KB a rule, so a
/// 1,000-rule file peaked at 8 MB. The text is cut before each line that is
/// exactly `[[rule]]`; if every piece parses, those were all table headers
/// (a cut inside a multi-line string leaves the piece before it with an
/// unterminated string, which does not parse), and the rules are the
/// pieces' in order. Otherwise the whole file is parsed, so an error names
/// the right line.
pub fn parse_rule_file(text: &str) -> Result<RuleFileConfig, toml::de::Error> {
    let mut rules = Vec::new();
    for piece in rule_pieces(text) {
        match toml::from_str::<RuleFileConfig>(piece) {
            Ok(p) => rules.extend(p.rules),
            Err(_) => return toml::from_str(text),
        }
    }
    Ok(RuleFileConfig { rules })
}

/// `text` cut before each line that is exactly `[[rule]]` (after the
/// first).
fn rule_pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut from = 0;
        let cut = loop {
            match rest[from..].find("\n[[rule]]") {
                None => break rest.len(),
                Some(i) => {
                    let at = from + i + 1;
                    let after = &rest[at + "[[rule]]".len()..];
                    if after.is_empty() || after.starts_with('\n') || after.starts_with("\r\n") {
                        break at;
                    }
                    from = at;
                }
            }
        };
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "[[rule]]\nid = \"a.b\"\nname = \"n\"\nregex = 'x'\nkeywords = [\"x\"]\nseverity = \"high\"\nremediation = \"r\"\ntags = []\n";

    #[test]
    fn pieces_are_rules_in_order() {
        let text = format!("# header\n{RULE}\n{}", RULE.replace("a.b", "c.d"));
        let pieces: Vec<&str> = rule_pieces(&text).collect();
        assert_eq!(pieces.len(), 3, "the comment, then each rule");
        assert!(pieces[1].starts_with("[[rule]]") && pieces[2].starts_with("[[rule]]"));
        assert_eq!(pieces.concat(), text);
        let ids: Vec<String> = parse_rule_file(&text)
            .unwrap()
            .rules
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a.b", "c.d"]);
    }

    /// A line `[[rule]]` inside a multi-line string is not a cut: the piece
    /// before does not parse, and the whole file is read as TOML reads it.
    #[test]
    fn a_header_inside_a_string_is_text() {
        let text = RULE.replace(
            "remediation = \"r\"",
            "remediation = '''\n[[rule]]\nid = \"e.f\"\n'''",
        );
        let parsed = parse_rule_file(&text).unwrap();
        assert_eq!(parsed.rules.len(), 1);
        assert!(parsed.rules[0].remediation.contains("[[rule]]"));
    }

    /// Errors are the whole file's: their line numbers are the file's.
    #[test]
    fn errors_name_the_files_line() {
        let text = format!(
            "{RULE}\n{}",
            RULE.replace("severity = \"high\"", "severity = 3")
        );
        let e = parse_rule_file(&text).unwrap_err().to_string();
        assert!(e.contains("line 15"), "{e}");
    }
}

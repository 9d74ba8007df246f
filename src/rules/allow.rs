//! Allowlists: candidate secrets that are known not to be secrets (a
//! vendor's documented example key, a test fixture, a public value) and so
//! are neither redacted nor reported.
//!
//! - **By regex**: a candidate whose secret bytes match any allow regex
//!   (searched unanchored; anchor with `^...$` to allow exact values).
//! - **By fingerprint**: a file of keyed fingerprints as findings show them
//!   (`keyid:hex`, one per line, `#` comments; at least 16 hex digits, a
//!   prefix of the full fingerprint). Fingerprints only mean something
//!   under the same HMAC key, so this needs a fixed key
//!   (`--hmac-key-file`). It applies to rules whose secret is the match
//!   itself or an `extend`ed token; a multi-line `block` is fingerprinted
//!   only once it is complete, after it was redacted, so blocks are never
//!   allowed by fingerprint.
//!
//! Per-rule placeholder filters (`stop_words`, `min_entropy`) are in the
//! rule files; this is the operator's list on top of them.

use std::fmt;
use std::path::Path;

use regex_automata::meta;
use regex_automata::util::syntax;

use crate::fingerprint::Fingerprint;

/// The operator's allowlist. Empty by default.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    regexes: Vec<meta::Regex>,
    /// (key id, lowercase hex prefix)
    fingerprints: Vec<(String, String)>,
}

/// Why an allowlist entry was refused. Never holds a secret (fingerprints
/// and regexes are not secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowError(pub String);

impl fmt::Display for AllowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AllowError {}

/// Shortest fingerprint prefix accepted, in hex digits (64 bits).
pub const MIN_FINGERPRINT_HEX: usize = 16;

impl Allowlist {
    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty() && self.fingerprints.is_empty()
    }

    /// Whether any fingerprint is listed (the engine then fingerprints
    /// candidates before accepting them).
    pub fn has_fingerprints(&self) -> bool {
        !self.fingerprints.is_empty()
    }

    /// Adds an allow regex (same syntax as rule regexes: bytes, ASCII).
    pub fn add_regex(&mut self, pattern: &str) -> Result<(), AllowError> {
        let re = meta::Regex::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(meta::Regex::config().utf8_empty(false))
            .build(pattern)
            .map_err(|e| AllowError(format!("allow regex {pattern:?}: {e}")))?;
        self.regexes.push(re);
        Ok(())
    }

    /// Adds one fingerprint (`keyid:hex`).
    pub fn add_fingerprint(&mut self, entry: &str) -> Result<(), AllowError> {
        let bad = |why: &str| AllowError(format!("allowed fingerprint {entry:?}: {why}"));
        let (key_id, hex) = entry
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| bad("expected KEYID:HEX as findings show it"))?;
        let hex = hex.to_ascii_lowercase();
        if hex.len() < MIN_FINGERPRINT_HEX || hex.len() > 32 {
            return Err(bad("needs 16 to 32 hex digits"));
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not hex"));
        }
        if key_id.is_empty() {
            return Err(bad("no key id"));
        }
        self.fingerprints.push((key_id.to_string(), hex));
        Ok(())
    }

    /// Reads a fingerprint file: one `keyid:hex` per line, blank lines and
    /// `#` comments ignored.
    pub fn add_fingerprint_file(&mut self, path: &Path) -> Result<(), AllowError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AllowError(format!("{}: {e}", path.display())))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            self.add_fingerprint(line)
                .map_err(|e| AllowError(format!("{} line {}: {e}", path.display(), i + 1)))?;
        }
        Ok(())
    }

    /// Whether `secret` is allowed by regex.
    pub fn allows_bytes(&self, secret: &[u8]) -> bool {
        self.regexes.iter().any(|r| r.is_match(secret))
    }

    /// Whether a fingerprint is allowed.
    pub fn allows_fingerprint(&self, fp: &Fingerprint) -> bool {
        let hex = fp.hex();
        self.fingerprints
            .iter()
            .any(|(k, h)| *k == fp.key_id && hex.starts_with(h.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprinter;

    #[test]
    fn regexes_and_fingerprints() {
        let mut a = Allowlist::default();
        assert!(a.is_empty());
        a.add_regex("^AKIA[A-Z0-9]{9}EXAMPLE$").unwrap();
        // AWS's documented example key id, assembled here.
        let example = format!("AKIA{}EXAMPLE", "IOSFODNN7");
        assert!(a.allows_bytes(example.as_bytes()));
        assert!(!a.allows_bytes(format!("{example}X").as_bytes()));
        assert!(a.add_regex("(").is_err());

        let f = Fingerprinter::new(b"allowlist-unit-test-key", "k9").unwrap();
        let fp = f.fingerprint(b"a public test token");
        let entry = format!("k9:{}", &fp.hex()[..16]);
        a.add_fingerprint(&entry).unwrap();
        assert!(a.allows_fingerprint(&fp));
        assert!(!a.allows_fingerprint(&f.fingerprint(b"another value")));
        let other_key = Fingerprinter::new(b"allowlist-unit-test-key", "k8").unwrap();
        assert!(!a.allows_fingerprint(&other_key.fingerprint(b"a public test token")));
        assert!(a.add_fingerprint("k9:abcd").is_err(), "too short");
        assert!(a.add_fingerprint("abcdef0123456789").is_err(), "no key id");
        assert!(a.add_fingerprint("k9:zzzzzzzzzzzzzzzz").is_err());
    }
}

//! Refusing inline secrets: the config text goes through redactd's own
//! [`Redactor`], and every finding becomes an error naming the line and the
//! key on it, never the secret.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::{ConfigError, ErrorKind};
use crate::engine::fingerprint::Fingerprinter;
use crate::engine::{Options, Redactor, Style};
use crate::rules::RuleSet;

/// Runs `text` (a config file) through a [`Redactor`] with `rules` and
/// returns one [`ErrorKind::InlineSecret`] error per finding, in file order.
///
/// Each error has the finding's line and, where the line shows it, the key
/// path of the value it is in (`listener[0].upstream`), or the table of a
/// comment; the message names the rule. No error holds any byte of the
/// secret, and a key that is itself the secret is not named.
pub fn scan_for_inline_secrets(text: &str, rules: Arc<RuleSet>) -> Vec<ConfigError> {
    scan(text, rules).0
}

/// The errors, and the secrets found (to scrub them from other messages).
pub(super) fn scan(text: &str, rules: Arc<RuleSet>) -> (Vec<ConfigError>, Vec<Vec<u8>>) {
    // The fingerprints are never shown: any fixed key will do.
    let fingerprinter =
        Fingerprinter::new(b"redactd config self-scan key", "cfg").expect("a valid fixed key");
    let opts = Options {
        style: Style::Label,
        fingerprinter: Arc::new(fingerprinter),
        learned_values: super::defaults::LEARNED_VALUES.default_usize(),
    };
    let found = Redactor::redact_all(rules, opts, text.as_bytes());
    let lines = Lines::new(text);
    let mut errors = Vec::new();
    let mut secrets = Vec::new();
    for f in &found.findings {
        let start = (f.offset as usize).min(text.len());
        let end = (start + f.len as usize).min(text.len());
        let secret = start..end;
        if secret.len() >= 4 {
            secrets.push(text.as_bytes()[secret.clone()].to_vec());
        }
        let (line, place) = lines.place(&secret);
        let (path, where_) = match place {
            Place::Key(path) => (path, String::new()),
            Place::Comment(table) => (table, ", in a comment".to_string()),
            Place::Table(table) => (table, String::new()),
        };
        errors.push(ConfigError {
            kind: ErrorKind::InlineSecret,
            path,
            line: Some(line),
            message: format!(
                "holds what looks like a secret (rule {}{where_}): the config must not contain \
                 secrets; put it in a file or environment variable and refer to it with a \
                 *_file or *_env key",
                f.rule.as_str()
            ),
        });
    }
    (errors, secrets)
}

/// Replaces every occurrence of each secret in `s` with `[REDACTED]`.
pub(super) fn scrub(s: &mut String, secrets: &[Vec<u8>]) {
    for secret in secrets {
        if let Ok(secret) = std::str::from_utf8(secret) {
            if s.contains(secret) {
                *s = s.replace(secret, "[REDACTED]");
            }
        }
    }
}

/// Where on its line a finding is.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// In the value of this key (or a continuation line of it).
    Key(String),
    /// In a comment, under this table (`""` before any table).
    Comment(String),
    /// Somewhere not attributable to a key (in a header or a key name):
    /// the enclosing table, or `""`.
    Table(String),
}

/// One line of the file, as far as a line-by-line look can tell.
#[derive(Debug, Clone)]
struct Line {
    range: Range<usize>,
    /// The table the line is in, like `listener[1].tls`.
    table: String,
    /// The key assigned on this line (or whose value this line continues),
    /// and the bytes of the key name when it is on this line.
    key: Option<(String, Option<Range<usize>>)>,
    /// Byte offset where a `#` comment starts (a whole-line comment, or one
    /// after a value on a line whose only `#` ends it).
    comment: Option<usize>,
    header: bool,
}

/// A light, line-based reading of TOML: table headers (with array-of-table
/// indices), `key = value` lines and comments. Good enough to name where a
/// finding is; the real parse is serde's.
struct Lines {
    lines: Vec<Line>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut lines = Vec::new();
        let mut table = String::new();
        let mut arrays: HashMap<String, usize> = HashMap::new();
        let mut last_key: Option<String> = None;
        let mut pos = 0;
        for raw in text.split_inclusive('\n') {
            let range = pos..pos + raw.len();
            pos += raw.len();
            let content = raw.trim_end_matches(['\n', '\r']);
            let indent = content.len() - content.trim_start().len();
            let t = content.trim();
            let mut line = Line {
                range: range.clone(),
                table: table.clone(),
                key: None,
                comment: None,
                header: false,
            };
            if t.is_empty() {
            } else if t.starts_with('#') {
                line.comment = Some(range.start + indent);
            } else if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = normalize_key(name);
                let n = arrays.entry(name.clone()).or_insert(0);
                table = format!("{name}[{n}]");
                *n += 1;
                line.table = table.clone();
                line.header = true;
                last_key = None;
            } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
                table = indexed(&normalize_key(name), &arrays);
                line.table = table.clone();
                line.header = true;
                last_key = None;
            } else if let Some((k, _)) = t.split_once('=').filter(|(k, _)| is_key(k.trim())) {
                let key = normalize_key(k);
                let path = if table.is_empty() {
                    key
                } else {
                    format!("{table}.{key}")
                };
                let start = range.start + indent;
                line.key = Some((path.clone(), Some(start..start + k.trim_end().len())));
                last_key = Some(path);
                // A trailing comment: the last `#` after the last quote.
                let last_quote = content.rfind(['"', '\'']).unwrap_or(0);
                if let Some(h) = content[last_quote..].find('#') {
                    line.comment = Some(range.start + last_quote + h);
                }
            } else if let Some(k) = &last_key {
                line.key = Some((k.clone(), None));
            }
            lines.push(line);
        }
        Lines { lines }
    }

    /// The 1-based line of `secret` and where it is on that line.
    fn place(&self, secret: &Range<usize>) -> (usize, Place) {
        let i = self
            .lines
            .partition_point(|l| l.range.end <= secret.start)
            .min(self.lines.len().saturating_sub(1));
        let Some(line) = self.lines.get(i) else {
            return (1, Place::Table(String::new()));
        };
        let n = i + 1;
        if line.comment.is_some_and(|c| c <= secret.start) {
            return (n, Place::Comment(line.table.clone()));
        }
        if line.header {
            // The secret may be the header's name: name only what precedes.
            return (n, Place::Table(String::new()));
        }
        match &line.key {
            Some((_, Some(k))) if k.start < secret.end && secret.start < k.end => {
                // The key name is (part of) the secret: do not name it.
                (n, Place::Table(line.table.clone()))
            }
            Some((path, _)) => (n, Place::Key(path.clone())),
            None => (n, Place::Table(line.table.clone())),
        }
    }
}

/// A TOML key as written before `=`: bare or quoted parts joined by dots.
fn is_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'"' | b'\'' | b' ')
        })
}

/// `a . "b"` → `a.b`.
fn normalize_key(k: &str) -> String {
    k.split('.')
        .map(|p| p.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

/// `listener.tls` → `listener[1].tls` when `listener` is an array of tables
/// whose latest element is index 1.
fn indexed(name: &str, arrays: &HashMap<String, usize>) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut out = String::new();
    let mut prefix = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
            prefix.push('.');
        }
        out.push_str(p);
        prefix.push_str(p);
        if i + 1 < parts.len() {
            if let Some(n) = arrays.get(&prefix) {
                out.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_keys_tables_and_comments() {
        let text = "# top\n[redact]\nstyle = \"label\" # trailing\n\n[[listener]]\nname = \"a\"\n\
                    [[listener]]\nlisten_tcp = [\n  \"x\",\n]\n[listener.tls]\ncert_file = \"c\"\n";
        let l = Lines::new(text);
        let at = |needle: &str| {
            let s = text.find(needle).unwrap();
            l.place(&(s..s + needle.len()))
        };
        assert_eq!(at("top"), (1, Place::Comment(String::new())));
        assert_eq!(at("label"), (3, Place::Key("redact.style".into())));
        assert_eq!(at("trailing"), (3, Place::Comment("redact".into())));
        assert_eq!(at("\"a\""), (6, Place::Key("listener[0].name".into())));
        assert_eq!(
            at("\"x\""),
            (9, Place::Key("listener[1].listen_tcp".into()))
        );
        assert_eq!(
            at("\"c\""),
            (12, Place::Key("listener[1].tls.cert_file".into()))
        );
        assert_eq!(
            at("cert_file"),
            (12, Place::Table("listener[1].tls".into()))
        );
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        let mut s = "unknown key `abcd1234` at abcd1234".to_string();
        scrub(&mut s, &[b"abcd1234".to_vec()]);
        assert_eq!(s, "unknown key `[REDACTED]` at [REDACTED]");
    }
}

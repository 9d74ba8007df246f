//! Known-value masking, as CI runners mask their secrets: values read from
//! files, a directory of one file per value (Kubernetes secret volumes, Key
//! Vault CSI mounts) or environment variables become rules `known.<name>`
//! that redact the value wherever it appears, and also its encoded forms:
//!
//! - JSON-escaped (`"` `\` control bytes escaped; `/` both as is and as
//!   `\/`), and every byte as a `\u00xx` escape, hex in either case;
//! - percent-encoded, hex digits in either case (or mixed), a space as
//!   `%20` or `+`: every byte outside `A-Za-z0-9-._~`, or every byte;
//! - base64 and base64url at all three alignments: the characters of the
//!   encoding of any buffer holding the value that depend on the value's
//!   bytes alone; and that encoding cut by the line breaks MIME (76
//!   columns) and PEM (64) wrap base64 at, real ones or `\n` / `\r\n`
//!   escapes (a real break leaves a piece of at
//!   most 3 characters alone on its line, see `wrapped`).
//!
//! A value's lines are matched each on its own (a match never holds a line
//! break), so a multi-line value such as a PEM key is masked line by line.
//!
//! The values are secrets: no error, log line or listing ever shows one.
//! Values shorter than [`MIN_LEN`] bytes are refused (they would redact
//! ordinary words), as are non-ASCII values.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::{escape, RuleSetBuilder};

/// Shortest value accepted, in bytes.
pub const MIN_LEN: usize = 8;

/// Source name prefix of the rule file known values become.
pub const KNOWN_SOURCE_PREFIX: &str = "known:";

/// One known value and the name its rule carries.
#[derive(Clone)]
pub struct KnownValue {
    /// Rule id suffix (`known.<name>`), from the file or variable name.
    pub name: String,
    /// Where it came from, for messages.
    pub origin: String,
    value: Vec<u8>,
}

impl fmt::Debug for KnownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnownValue")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

/// Why known values could not be loaded. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownError(pub String);

impl fmt::Display for KnownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KnownError {}

fn rule_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    s = s.trim_matches('-').to_string();
    if s.is_empty() {
        s = "value".into();
    }
    s
}

fn value(raw: &[u8], name: &str, origin: String) -> Result<Option<KnownValue>, KnownError> {
    // A trailing line break is how files end, not part of the value.
    let v = raw.strip_suffix(b"\n").unwrap_or(raw);
    let v = v.strip_suffix(b"\r").unwrap_or(v);
    if v.is_empty() {
        return Ok(None);
    }
    if !v.is_ascii() {
        return Err(KnownError(format!(
            "{origin}: the known value is not ASCII; only ASCII values are supported"
        )));
    }
    if v.len() < MIN_LEN {
        return Err(KnownError(format!(
            "{origin}: the known value is {} bytes; at least {MIN_LEN} are required (shorter \
             values would redact ordinary words)",
            v.len()
        )));
    }
    Ok(Some(KnownValue {
        name: rule_name(name),
        origin,
        value: v.to_vec(),
    }))
}

/// Reads `path`: a file of values, one per line (named after the file and
/// line), or a directory of one file per value (named after the file;
/// entries starting with `.` are skipped, as Kubernetes' `..data` links).
pub fn from_path(path: &Path) -> Result<Vec<KnownValue>, KnownError> {
    let err = |e: std::io::Error| KnownError(format!("{}: {e}", path.display()));
    let meta = fs::metadata(path).map_err(err)?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map_err(err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
            })
            .collect();
        entries.sort();
        for p in entries {
            if !fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
                continue;
            }
            let raw = fs::read(&p).map_err(|e| KnownError(format!("{}: {e}", p.display())))?;
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("value");
            out.extend(value(&raw, name, p.display().to_string())?);
        }
    } else {
        let raw = fs::read(path).map_err(err)?;
        let stem = path.file_stem().and_then(|n| n.to_str()).unwrap_or("value");
        for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
            let origin = format!("{} line {}", path.display(), i + 1);
            out.extend(value(line, &format!("{stem}-{}", i + 1), origin)?);
        }
    }
    Ok(out)
}

/// Reads the environment variables `names` (each must be set).
pub fn from_env(names: &[String]) -> Result<Vec<KnownValue>, KnownError> {
    let mut out = Vec::new();
    for n in names {
        let v = std::env::var_os(n)
            .ok_or_else(|| KnownError(format!("environment variable {n} is not set")))?;
        let bytes = v.into_encoded_bytes();
        out.extend(value(&bytes, n, format!("environment variable {n}"))?);
    }
    Ok(out)
}

fn json_escaped(v: &[u8], slash: bool) -> Vec<u8> {
    let mut o = Vec::with_capacity(v.len() + 8);
    for &b in v {
        match b {
            b'"' => o.extend_from_slice(b"\\\""),
            b'\\' => o.extend_from_slice(b"\\\\"),
            b'/' if slash => o.extend_from_slice(b"\\/"),
            b'\t' => o.extend_from_slice(b"\\t"),
            b'\n' => o.extend_from_slice(b"\\n"),
            b'\r' => o.extend_from_slice(b"\\r"),
            0..=0x1f => o.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => o.push(b),
        }
    }
    o
}

/// How a percent-encoder writes a value.
#[derive(Debug, Clone, Copy)]
struct Percent {
    /// Lowercase hex digits.
    lower: bool,
    /// A space as `+` (forms), not `%20`.
    plus: bool,
    /// Every byte encoded, not only those outside `A-Za-z0-9-._~`.
    full: bool,
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn percent(v: &[u8], how: Percent) -> Vec<u8> {
    let mut o = Vec::with_capacity(v.len() * 3);
    for &b in v {
        match b {
            _ if unreserved(b) && !how.full => o.push(b),
            b' ' if how.plus => o.push(b'+'),
            _ if how.lower => o.extend_from_slice(format!("%{b:02x}").as_bytes()),
            _ => o.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
    o
}

/// Every byte as a JSON `\u00xx` escape.
fn unicode_escaped(v: &[u8], lower: bool) -> Vec<u8> {
    let mut o = Vec::with_capacity(v.len() * 6);
    for &b in v {
        let e = if lower {
            format!("\\u{b:04x}")
        } else {
            format!("\\u{b:04X}")
        };
        o.extend_from_slice(e.as_bytes());
    }
    o
}

fn base64(data: &[u8], url: bool) -> Vec<u8> {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut o = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let chars = c.len() + 1;
        for i in 0..chars {
            o.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    o
}

/// The base64 characters that depend on `v` alone when it sits at offset
/// `k` (mod 3) of a larger encoded buffer.
fn base64_aligned(v: &[u8], k: usize, url: bool) -> Vec<u8> {
    let mut data = vec![0u8; k];
    data.extend_from_slice(v);
    let enc = base64(&data, url);
    let from = (8 * k).div_ceil(6);
    let to = (8 * (k + v.len())) / 6;
    enc[from..to.min(enc.len())].to_vec()
}

/// Every form `v` is redacted in, deduplicated, each at least
/// [`MIN_LEN`] bytes.
pub fn forms(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut add = |f: Vec<u8>| {
        if f.len() >= MIN_LEN && !out.contains(&f) {
            out.push(f);
        }
    };
    for line in v.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        add(line.to_vec());
    }
    add(json_escaped(v, false));
    add(json_escaped(v, true));
    for full in [false, true] {
        for lower in [false, true] {
            for plus in [false, true] {
                add(percent(v, Percent { lower, plus, full }));
            }
        }
    }
    for lower in [false, true] {
        add(unicode_escaped(v, lower));
    }
    for url in [false, true] {
        for k in 0..3 {
            add(base64_aligned(v, k, url));
        }
    }
    out
}

/// One way a value is written: a regex, and a literal every match of it
/// holds (ASCII case-insensitively), for the prefilter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    regex: String,
    keyword: Vec<u8>,
}

/// Longest keyword kept: a prefix of a longer literal is in every match too.
const MAX_KEYWORD: usize = 32;

impl Pattern {
    fn literal(form: &[u8]) -> Pattern {
        Pattern {
            regex: regex_literal(form),
            keyword: form[..form.len().min(MAX_KEYWORD)].to_vec(),
        }
    }
}

/// Every pattern `v` is redacted by: its [`forms`] as literals, except that
/// percent-encoding and `\u00xx` escaping take hex digits in either case
/// (and, percent-encoded, a space as `%20` or `+`), and the pieces of a
/// base64 encoding wrapped across lines ([`wrapped`]).
fn patterns(v: &[u8]) -> Vec<Pattern> {
    let mut out: Vec<Pattern> = Vec::new();
    for line in v.split(|&b| b == b'\n') {
        out.push(Pattern::literal(line.strip_suffix(b"\r").unwrap_or(line)));
    }
    out.push(Pattern::literal(&json_escaped(v, false)));
    out.push(Pattern::literal(&json_escaped(v, true)));
    for url in [false, true] {
        for k in 0..3 {
            out.push(Pattern::literal(&base64_aligned(v, k, url)));
        }
    }
    out.retain(|p| p.keyword.len() >= MIN_LEN.min(MAX_KEYWORD));
    for full in [false, true] {
        out.push(percent_pattern(v, full));
    }
    out.extend(unicode_pattern(v));
    for k in 0..3 {
        out.extend(wrapped(&base64_aligned(v, k, false)));
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let new = !seen.contains(&p.regex);
        seen.push(p.regex.clone());
        new
    });
    out
}

fn cap(literal: &[u8]) -> Vec<u8> {
    literal[..literal.len().min(MAX_KEYWORD)].to_vec()
}

/// Every byte as a `\u00xx` escape, hex in either case. Rules see the
/// escapes of `/`, `+` and `=` decoded ([`super::escape`]), so those bytes
/// are matched as they are; the keyword is the longest run of escapes
/// between them (none for a value of nothing else, whose escapes decode to
/// the value).
fn unicode_pattern(v: &[u8]) -> Option<Pattern> {
    let regex = v
        .iter()
        .map(|&b| match b {
            _ if escape::ESCAPED.contains(&b) => regex_literal(&[b]),
            _ => format!("\\\\u00{}", hex_ci(b)),
        })
        .collect();
    let longest = v
        .split(|b| escape::ESCAPED.contains(b))
        .max_by_key(|run| run.len())
        .filter(|run| !run.is_empty())?;
    Some(Pattern {
        regex,
        keyword: cap(&unicode_escaped(longest, true)),
    })
}

/// The two hex digits of `b` as a regex matching either case.
fn hex_ci(b: u8) -> String {
    format!("{b:02x}")
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                c.to_string()
            } else {
                format!("[{c}{}]", c.to_ascii_uppercase())
            }
        })
        .collect()
}

/// Percent-encoded (every byte when `full`, else those outside
/// `A-Za-z0-9-._~`), hex in either case, a space as `%20` or `+`. The
/// keyword is the longest part between spaces, lowercased; when that is
/// shorter than 4 bytes, a space is `%20` only and the keyword is the
/// whole, so it stays selective.
fn percent_pattern(v: &[u8], full: bool) -> Pattern {
    let strict = |v: &[u8]| {
        let regex = v
            .iter()
            .map(|&b| match b {
                _ if unreserved(b) && !full => regex_literal(&[b]),
                _ => format!("%{}", hex_ci(b)),
            })
            .collect();
        let how = Percent {
            lower: true,
            plus: false,
            full,
        };
        Pattern {
            regex,
            keyword: cap(&percent(v, how)),
        }
    };
    let parts: Vec<Pattern> = v.split(|&b| b == b' ').map(strict).collect();
    let longest = parts.iter().map(|p| p.keyword.clone()).max_by_key(Vec::len);
    match longest {
        Some(keyword) if keyword.len() >= 4 => Pattern {
            regex: parts
                .iter()
                .map(|p| p.regex.as_str())
                .collect::<Vec<_>>()
                .join(r"(?:%20|\+)"),
            keyword,
        },
        _ => strict(v),
    }
}

/// The patterns of an encoding `e` (a value's base64 characters) that a
/// line break cuts: MIME wraps base64 at 76 columns, PEM at 64, with real
/// line breaks or, inside a JSON string, `\n` and `\r\n` escapes. No match
/// holds a real line break, so each side is one pattern: a prefix of `e` of
/// at least 4 characters ending a line, and a suffix of at least 4 starting
/// one (then a base64 character or the line's end, so `2026-...` does not
/// qualify); a piece of 1 to 3 characters alone on its side is not
/// redacted. Escapes stay on the line: `e` with one `\n` or `\r\n` escape
/// anywhere in its second half (keyword: its first 4 characters), or in its
/// first (its last 4).
fn wrapped(e: &[u8]) -> Vec<Pattern> {
    const PIECE: usize = 4;
    if e.len() < 2 * PIECE {
        return Vec::new();
    }
    let (head, tail) = (&e[..PIECE], &e[e.len() - PIECE..]);
    let lit = |c: &u8| regex_literal(std::slice::from_ref(c));
    let prefix = e[PIECE..]
        .iter()
        .rev()
        .fold(String::new(), |inner, c| format!("(?:{}{inner})?", lit(c)));
    let suffix = e[..e.len() - PIECE]
        .iter()
        .fold(String::new(), |inner, c| format!("(?:{inner}{})?", lit(c)));
    let esc = r"(?:(?:\\r)?\\n)?";
    let half = e.len() / 2;
    let second: String = e[half..]
        .iter()
        .map(|c| format!("{esc}{}", lit(c)))
        .collect();
    let first: String = e[..half]
        .iter()
        .map(|c| format!("{}{esc}", lit(c)))
        .collect();
    vec![
        Pattern {
            regex: format!("{}{prefix}(?R:$)", regex_literal(head)),
            keyword: head.to_vec(),
        },
        Pattern {
            regex: format!(
                "(?R:^){suffix}{}(?:[A-Za-z0-9+/=]|(?R:$))",
                regex_literal(tail)
            ),
            keyword: tail.to_vec(),
        },
        Pattern {
            regex: format!("{}{second}", regex_literal(&e[..half])),
            keyword: head.to_vec(),
        },
        Pattern {
            regex: format!("{first}{}", regex_literal(&e[half..])),
            keyword: tail.to_vec(),
        },
    ]
}

fn regex_literal(form: &[u8]) -> String {
    let mut s = String::with_capacity(form.len() * 2);
    for &b in form {
        if b.is_ascii_alphanumeric() || b == b'_' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// A rule file (TOML) with one rule per value. Names are made unique.
pub fn rules_toml(values: &[KnownValue]) -> String {
    let mut text = String::new();
    let mut used: Vec<String> = Vec::new();
    for v in values {
        let mut name = v.name.clone();
        let mut n = 2;
        while used.contains(&name) {
            name = format!("{}-{n}", v.name);
            n += 1;
        }
        used.push(name.clone());
        let patterns = patterns(&v.value);
        let alts: Vec<&str> = patterns.iter().map(|p| p.regex.as_str()).collect();
        let mut keywords: Vec<String> = patterns.iter().map(|p| toml_str(&p.keyword)).collect();
        keywords.dedup();
        let first = toml_str(&forms(&v.value)[0]);
        text.push_str(&format!(
            "[[rule]]\nid = \"known.{name}\"\nname = \"Known value {name}\"\n\
             regex = '''(?:{})'''\nkeywords = [{}]\nseverity = \"critical\"\n\
             remediation = \"A value listed as secret reached the logs: rotate it where it is issued\"\n\
             tags = [\"known\"]\n\
             examples = [{{ input = {first}, output = \"[REDACTED:known.{name}]\" }}]\n\n",
            alts.join("|"),
            keywords.join(", ")
        ));
    }
    text
}

fn toml_str(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\u{c:04x}")),
        }
    }
    s.push('"');
    s
}

/// Adds `values` as a rule source to `builder`, after checking on their own
/// that they compile and that every form is redacted (so a problem is
/// reported here, without the value, instead of by the loader, which
/// quotes rules).
pub fn add_to(builder: &mut RuleSetBuilder, values: &[KnownValue]) -> Result<(), KnownError> {
    if values.is_empty() {
        return Ok(());
    }
    let text = rules_toml(values);
    let mut alone = RuleSetBuilder::new();
    alone.add_source(format!("{KNOWN_SOURCE_PREFIX}values"), text.clone());
    alone.all(true);
    let set = alone.build().map_err(|_| {
        KnownError("known values could not be turned into rules (a value may be too long)".into())
    })?;
    for (rule, v) in set.rules().iter().zip(values) {
        for f in forms(&v.value) {
            for line in f.split(|&b| b == b'\n') {
                let mut slots = [None, None];
                let found = rule.search_slots(&regex_automata::Input::new(line), &mut slots);
                if line.len() >= MIN_LEN && found.is_none() {
                    return Err(KnownError(format!(
                        "{}: a form of the known value is not matched",
                        v.origin
                    )));
                }
            }
        }
    }
    builder.add_source(format!("{KNOWN_SOURCE_PREFIX}values"), text);
    builder.enable("known");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms_match_any_alignment() {
        let v = b"hunter2-super-secret";
        for k in 0..3 {
            for url in [false, true] {
                let form = base64_aligned(v, k, url);
                for pre in 0..6 {
                    let mut data = vec![b'x'; pre];
                    data.extend_from_slice(v);
                    data.extend_from_slice(b"tail!");
                    if pre % 3 == k {
                        let enc = base64(&data, url);
                        assert!(
                            enc.windows(form.len()).any(|w| w == form.as_slice()),
                            "k={k} pre={pre}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn short_and_non_ascii_values_are_refused_without_showing_them() {
        let e = value(b"abc\n", "x", "f".into()).unwrap_err();
        assert!(e.0.contains("3 bytes") && !e.0.contains("abc"));
        let e = value("pässwörd-1234".as_bytes(), "x", "f".into()).unwrap_err();
        assert!(!e.0.contains("pässwörd"));
        assert!(value(b"\n", "x", "f".into()).unwrap().is_none());
    }

    #[test]
    fn forms_cover_json_percent_and_lines() {
        let f = forms(b"p@ss/w0rd \"x\"\nline two here");
        let has = |s: &[u8]| f.iter().any(|x| x.as_slice() == s);
        assert!(has(b"line two here"));
        assert!(has(br#"p@ss\/w0rd \"x\"\nline two here"#));
        assert!(has(b"p%40ss%2Fw0rd%20%22x%22%0Aline%20two%20here"));
        assert!(has(b"p%40ss%2Fw0rd+%22x%22%0Aline+two+here"));
        assert!(
            format!("{:?}", value(b"secretvalue", "k", "o".into()).unwrap()).contains("<11 bytes>")
        );
    }

    /// The rules of `value` as the only known value.
    fn known_set(value: &[u8]) -> std::sync::Arc<crate::rules::RuleSet> {
        let mut b = RuleSetBuilder::new();
        let v = KnownValue {
            name: "v".into(),
            origin: "test".into(),
            value: value.to_vec(),
        };
        add_to(&mut b, &[v]).unwrap();
        std::sync::Arc::new(b.build().unwrap())
    }

    /// Redacts `text` with `set`, `mask` style: which bytes were redacted.
    fn masked(set: &std::sync::Arc<crate::rules::RuleSet>, text: &[u8]) -> Vec<bool> {
        use crate::engine::fingerprint::Fingerprinter;
        use crate::engine::{Options, Redactor, Style};
        let opts = Options {
            style: Style::Mask,
            fingerprinter: std::sync::Arc::new(
                Fingerprinter::new(b"known-test-key-01", "k").unwrap(),
            ),
        };
        let out = Redactor::redact_all(set.clone(), opts, text).out;
        assert_eq!(out.len(), text.len());
        out.iter()
            .zip(text)
            .map(|(&o, &t)| o != t || o == b'*')
            .collect()
    }

    fn all_redacted(set: &std::sync::Arc<crate::rules::RuleSet>, text: &[u8], what: &str) {
        let m = masked(set, text);
        let at = memchr::memmem::find(text, b"<<").map_or(0, |i| i + 2);
        let to = memchr::memmem::find(text, b">>").unwrap_or(text.len());
        assert!(
            m[at..to].iter().all(|&r| r),
            "{what}: {:?} not all redacted",
            String::from_utf8_lossy(text)
        );
    }

    const VALUE: &[u8] = b"p@ss/w0rd with+space=X";

    #[test]
    fn percent_encodings_in_any_hex_case_and_fully_encoded_are_redacted() {
        let enc = |lower: bool, full: bool, plus: bool| {
            let mut o = String::new();
            for &b in VALUE {
                let raw = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
                match b {
                    b' ' if plus && !full => o.push('+'),
                    _ if raw && !full => o.push(b as char),
                    _ if lower => o.push_str(&format!("%{b:02x}")),
                    _ => o.push_str(&format!("%{b:02X}")),
                }
            }
            o
        };
        let set = known_set(VALUE);
        for lower in [false, true] {
            for full in [false, true] {
                for plus in [false, true] {
                    let text = format!("GET /login?p=<<{}>> HTTP/1.1", enc(lower, full, plus));
                    all_redacted(
                        &set,
                        text.as_bytes(),
                        &format!("lower {lower} full {full} plus {plus}"),
                    );
                }
            }
        }
        // Mixed case within one value.
        all_redacted(&set, b"q=<<p%40ss%2fw0rd%20with%2Bspace%3dX>> ok", "mixed");
    }

    #[test]
    fn every_byte_as_a_json_unicode_escape_is_redacted() {
        let set = known_set(VALUE);
        for upper in [false, true] {
            let mut text = String::from(r#"{"v":"<<"#);
            for &b in VALUE {
                text.push_str(&if upper {
                    format!("\\u{b:04X}")
                } else {
                    format!("\\u{b:04x}")
                });
            }
            text.push_str(r#">>"}"#);
            all_redacted(&set, text.as_bytes(), &format!("upper {upper}"));
        }
    }

    /// The value inside a buffer encoded as base64 and wrapped at 76 (MIME)
    /// or 64 (PEM) columns, by real line breaks or by `\n` escapes in a JSON
    /// string, starting at every column: every character of its encoding is
    /// redacted, but for a piece of fewer than 4 characters alone on one side
    /// of a real line break.
    #[test]
    fn base64_wrapped_across_the_value_is_redacted() {
        let value = b"hunter2-super-secret-value";
        let mut rng = crate::rules::template::Rng::from_seed(b"known-wrap");
        let set = known_set(value);
        for width in [76, 64] {
            for brk in ["\n", "\r\n", "\\n", "\\r\\n"] {
                for pre in 0..57 {
                    let mut data: Vec<u8> = (0..pre).map(|_| rng.next_u64() as u8).collect();
                    data.extend_from_slice(value);
                    data.extend((0..40).map(|_| rng.next_u64() as u8));
                    let enc = base64(&data, false);
                    let form = base64_aligned(value, pre % 3, false);
                    let at = (8 * pre).div_ceil(6);
                    assert_eq!(&enc[at..at + form.len()], &form[..]);
                    // Wrap, remembering where each encoded character went.
                    let mut text = b"data: ".to_vec();
                    let mut pos = Vec::new();
                    for (i, &c) in enc.iter().enumerate() {
                        if i > 0 && i % width == 0 {
                            text.extend_from_slice(brk.as_bytes());
                        }
                        pos.push(text.len());
                        text.push(c);
                    }
                    let m = masked(&set, &text);
                    let cut = (at / width + 1) * width;
                    let short = cut > at && cut < at + form.len() && brk.ends_with('\n') && {
                        let (a, b) = (cut - at, at + form.len() - cut);
                        a < 4 || b < 4
                    };
                    for i in at..at + form.len() {
                        let side_short = short
                            && (if i < cut {
                                cut - at
                            } else {
                                at + form.len() - cut
                            }) < 4;
                        assert!(
                            m[pos[i]] || side_short,
                            "width {width} break {brk:?} prefix {pre}: encoded character {} kept",
                            i - at
                        );
                    }
                }
            }
        }
    }
}

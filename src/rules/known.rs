//! Known-value masking, as CI runners mask their secrets: values read from
//! files, a directory of one file per value (Kubernetes secret volumes, Key
//! Vault CSI mounts) or environment variables become rules `known.<name>`
//! that redact the value wherever it appears, and also its encoded forms:
//!
//! - JSON-escaped (`"` `\` control bytes escaped; `/` both as is and as
//!   `\/`);
//! - percent-encoded (every byte outside `A-Za-z0-9-._~`, upper- and
//!   lower-case hex, and with `+` for a space);
//! - base64 and base64url at all three alignments: the characters of the
//!   encoding of any buffer holding the value that depend on the value's
//!   bytes alone.
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

use super::RuleSetBuilder;

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

fn percent(v: &[u8], lower: bool, plus: bool) -> Vec<u8> {
    let mut o = Vec::with_capacity(v.len() * 3);
    for &b in v {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => o.push(b),
            b' ' if plus => o.push(b'+'),
            _ if lower => o.extend_from_slice(format!("%{b:02x}").as_bytes()),
            _ => o.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
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
    for (lower, plus) in [(false, false), (true, false), (false, true)] {
        add(percent(v, lower, plus));
    }
    for url in [false, true] {
        for k in 0..3 {
            add(base64_aligned(v, k, url));
        }
    }
    out
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
        let forms = forms(&v.value);
        let alts: Vec<String> = forms.iter().map(|f| regex_literal(f)).collect();
        let keywords: Vec<String> = forms.iter().map(|f| toml_str(f)).collect();
        let first = toml_str(&forms[0]);
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
                if line.len() >= MIN_LEN && !rule.regex.is_match(line) {
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
}

//! JSON text: secrets are found in the *decoded* value of every string and
//! replaced in its encoded form; every other byte is copied verbatim.
//!
//! Secrets straddle escapes in real traffic (`https:\/\/user:pw@host`,
//! `password=\"hun\\\"ter2\"` from syslog-ng's `elasticsearch-http()`), so a
//! raw-text scan misses them and a decode-then-re-encode pass would rewrite
//! bytes nobody asked to change. [`JsonRedactor`] tokenizes only as far as
//! string boundaries and escape state, decodes each string into scratch with
//! a decoded-to-encoded offset map, runs the [`Redactor`] over it, and
//! replaces exactly the encoded bytes covering each redacted span, widened
//! to whole escapes, with the JSON-escaped replacement. Keys, numbers,
//! whitespace, escapes elsewhere and untouched strings stay byte-identical;
//! no raw line break is ever written inside a string, so NDJSON stays
//! line-framed.
//!
//! **Context.** A string value is scanned after its key, as `KEY":"VALUE`
//! (the shape rules already know from raw JSON), so `"password":"hunter2"`
//! is found although the value alone is not a recognisable secret. Only the
//! value's bytes are ever replaced: a span reaching back into the key is cut
//! at the value's start. Keys are scanned on their own.
//!
//! The input is one complete JSON text, or several concatenated (NDJSON
//! lines, Splunk HEC batches). It is not otherwise validated: numbers and
//! structure pass as they are. Broken string syntax (a bad escape, an
//! unterminated string) is an error, so a body that cannot be decoded is
//! refused rather than forwarded unscanned.

use std::fmt;

use super::fields::SpanSink;
use crate::engine::{Finding, Redactor};

/// Why a JSON text could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// A string is not closed before the end of the input.
    UnterminatedString {
        /// Byte offset of its opening quote.
        at: usize,
    },
    /// An escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`.
    BadEscape {
        /// Byte offset of the backslash.
        at: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::UnterminatedString { at } => {
                write!(f, "JSON string opened at byte {at} is not closed")
            }
            JsonError::BadEscape { at } => write!(f, "invalid JSON escape at byte {at}"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Reusable scratch for redacting JSON texts.
///
/// All strings of a text are decoded into one scan buffer, each after its
/// key context and followed by a line break (no match holds one), and the
/// [`Redactor`] runs over that buffer once: per-call costs are paid once
/// per body, not once per string.
#[derive(Debug, Default)]
pub struct JsonRedactor {
    text: Vec<u8>,
    /// Per string holding an escape, for each decoded byte of its value:
    /// offset (in the string's encoded content) of the escape that produced
    /// it, then one entry for the content's end. Strings without escapes
    /// (nearly all) decode to themselves and have no map.
    starts: Vec<u32>,
    strings: Vec<Str>,
    sink: SpanSink,
    /// Per span: has its replacement been written yet.
    emitted: Vec<bool>,
}

/// One string of the input, as placed in the scan buffer.
#[derive(Debug, Clone, Copy)]
struct Str {
    /// Encoded content range in the input (between the quotes).
    content: (usize, usize),
    /// The decoded value's range in the scan buffer.
    value: (usize, usize),
    /// Where its offset map starts in `starts`; `None` when the content
    /// has no escape, so decoded and encoded offsets are equal.
    base: Option<usize>,
}

/// Counts from one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JsonStats {
    /// Strings scanned.
    pub strings: u64,
    /// Strings changed.
    pub strings_redacted: u64,
    /// Findings.
    pub findings: u64,
}

impl JsonRedactor {
    /// Empty scratch.
    pub fn new() -> JsonRedactor {
        JsonRedactor::default()
    }

    /// Redacts the strings of `input` into `out`. The redactor is reset
    /// for every string; `findings` receives each finding (offsets are
    /// within the decoded string, context included).
    pub fn redact(
        &mut self,
        red: &mut Redactor,
        input: &[u8],
        out: &mut Vec<u8>,
        findings: &mut Vec<Finding>,
    ) -> Result<JsonStats, JsonError> {
        let mut stats = JsonStats::default();
        self.text.clear();
        self.starts.clear();
        self.strings.clear();
        // Pass 1: find every string and its key, decode into the buffer.
        let mut at = 0;
        // The last string's content range, while it may still turn out to
        // be a key (until the next significant byte).
        let mut last_string: Option<(usize, usize)> = None;
        // The key the next value belongs to.
        let mut key: Option<(usize, usize)> = None;
        while let Some(q) = memchr::memchr(b'"', &input[at..]) {
            let q = at + q;
            // Between strings: did the previous string become a key?
            let between = &input[at..q];
            let significant = between.iter().find(|b| !b.is_ascii_whitespace());
            if let Some(s) = last_string.take() {
                if significant == Some(&b':') {
                    key = Some(s);
                }
            }
            // A value string follows `:` directly; anything else clears the
            // key (arrays, nested objects, numbers).
            let value_of_key = key.is_some()
                && between.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
            if !value_of_key {
                key = None;
            }
            let (end, escaped) = string_end(input, q)?;
            let (cs, ce) = (q + 1, end);
            if let Some((ks, ke)) = key.take().filter(|_| value_of_key) {
                decode(&input[ks..ke], ks, &mut self.text, None)?;
                self.text.extend_from_slice(b"\":\"");
            }
            let value_start = self.text.len();
            let base = if escaped {
                let base = self.starts.len();
                decode(&input[cs..ce], cs, &mut self.text, Some(&mut self.starts))?;
                self.starts.push((ce - cs) as u32);
                Some(base)
            } else {
                self.text.extend_from_slice(&input[cs..ce]);
                None
            };
            self.strings.push(Str {
                content: (cs, ce),
                value: (value_start, self.text.len()),
                base,
            });
            self.text.push(b'\n');
            last_string = if value_of_key { None } else { Some((cs, ce)) };
            at = end + 1;
        }
        // Pass 2: one scan.
        self.sink.clear();
        red.reset();
        red.write(&self.text, &mut self.sink);
        red.finish(&mut self.sink);
        stats.findings = self.sink.findings.len() as u64;
        stats.strings = self.strings.len() as u64;
        findings.append(&mut self.sink.findings);
        // Pass 3: copy the input, splicing replacements into the strings.
        let emitted = &mut self.emitted;
        emitted.clear();
        emitted.resize(self.sink.spans.len(), false);
        let mut first = 0; // first span that may still reach a string
        let mut copied = 0; // input bytes written
        for st in &self.strings {
            let (ts, te) = st.value;
            let map = st.base.map(|b| &self.starts[b..b + (te - ts) + 1]);
            let raw = &input[st.content.0..st.content.1];
            let mut done = 0; // encoded bytes of this value written
            let mut changed = false;
            self.sink
                .splice_into(ts..te, &mut first, emitted, |vs, ve, replacement| {
                    let (enc_s, enc_e) = match map {
                        Some(map) => (map[vs] as usize, escape_end(map, ve)),
                        None => (vs, ve),
                    };
                    if enc_s < done {
                        return false;
                    }
                    if !changed {
                        out.extend_from_slice(&input[copied..st.content.0]);
                        copied = st.content.0;
                    }
                    out.extend_from_slice(&raw[done..enc_s]);
                    if let Some(r) = replacement {
                        escape_into(r, out);
                    }
                    done = enc_e;
                    changed = true;
                    true
                });
            if changed {
                out.extend_from_slice(&raw[done..]);
                copied = st.content.1;
                stats.strings_redacted += 1;
            }
        }
        out.extend_from_slice(&input[copied..]);
        Ok(stats)
    }
}

/// The encoded end of the escape that produced decoded byte `ve - 1`.
fn escape_end(starts: &[u32], ve: usize) -> usize {
    let last = starts[ve - 1];
    let mut j = ve;
    while j < starts.len() - 1 && starts[j] == last {
        j += 1;
    }
    starts[j] as usize
}

/// The offset of the quote closing the string opened at `open`, and
/// whether the string holds an escape.
fn string_end(input: &[u8], open: usize) -> Result<(usize, bool), JsonError> {
    let mut i = open + 1;
    let mut escaped = false;
    loop {
        match memchr::memchr2(b'"', b'\\', &input[i..]) {
            None => return Err(JsonError::UnterminatedString { at: open }),
            Some(k) if input[i + k] == b'"' => return Ok((i + k, escaped)),
            Some(k) => {
                i += k + 2;
                escaped = true;
            }
        }
        if i > input.len() {
            return Err(JsonError::UnterminatedString { at: open });
        }
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Decodes a string's content (`base` is its offset in the input, for
/// errors) onto `out`, recording for each decoded byte the offset of the
/// escape that produced it.
fn decode(
    raw: &[u8],
    base: usize,
    out: &mut Vec<u8>,
    mut starts: Option<&mut Vec<u32>>,
) -> Result<(), JsonError> {
    let mut i = 0;
    while i < raw.len() {
        let start = i as u32;
        let mut push = |bytes: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(bytes);
            if let Some(s) = starts.as_deref_mut() {
                s.extend(std::iter::repeat_n(start, bytes.len()));
            }
        };
        if raw[i] != b'\\' {
            let run = memchr::memchr(b'\\', &raw[i..]).unwrap_or(raw.len() - i);
            if let Some(s) = starts.as_deref_mut() {
                s.extend((i..i + run).map(|p| p as u32));
            }
            out.extend_from_slice(&raw[i..i + run]);
            i += run;
            continue;
        }
        let bad = JsonError::BadEscape { at: base + i };
        let c = *raw.get(i + 1).ok_or(bad.clone())?;
        let simple = match c {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return Err(bad),
        };
        if let Some(b) = simple {
            push(&[b], out);
            i += 2;
            continue;
        }
        let hi = hex4(&raw[i + 2..]).ok_or(bad.clone())?;
        let mut len = 6;
        let code = if (0xD800..0xDC00).contains(&hi) && raw.get(i + 6..i + 8) == Some(b"\\u") {
            match hex4(&raw[i + 8..]) {
                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                    len = 12;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                }
                _ => 0xFFFD,
            }
        } else if (0xD800..0xE000).contains(&hi) {
            0xFFFD
        } else {
            hi
        };
        let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        push(ch.encode_utf8(&mut buf).as_bytes(), out);
        i += len;
    }
    Ok(())
}

/// Writes `bytes` as JSON string content: `"`, `\` and control bytes
/// escaped (so no raw line break), everything else as is.
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests;

//! Syslog messages redacted field by field: the PRI and header pass byte
//! for byte, each RFC 5424 SD-PARAM value is scanned after its parameter
//! name and re-escaped, and the text part (MSG) goes through the
//! [`Redactor`] as a stream. What a message's parts are is
//! [`formats::syslog::scan`](crate::formats::syslog::scan)'s to say.
//!
//! A message may be cut (an oversized frame keeps its first bytes and a
//! lookahead): the whole held part is scanned, and no byte of a secret
//! straddling the cut is kept ([`redact_message_with`]).
//!
//! [`Scratch`] is what one connection reuses for every message it relays
//! (the value scanner, the parts of the header, the findings and replaced
//! ranges), as an HTTP connection reuses its body scratch.

use std::convert::Infallible;
use std::ops::Range;

use super::fields::FieldRedactor;
use crate::counters::RuleCounts;
use crate::engine::{Finding, Redactor, Sink};
use crate::formats::syslog::{escape_sd_value, scan_into, Format, Parts};

/// Redacts one SYSLOG-MSG into `out`: header bytes copied, each SD-PARAM
/// value redacted and re-escaped, the text part redacted. Returns the
/// number of findings ([`redact_message_by_rule`] counts them by rule).
///
/// A value is scanned together with its parameter name, as `NAME=VALUE`, so
/// that rules keyed on the name (`password="..."`) see their context. If a
/// match reaches into the name, the whole value is replaced (fail closed:
/// the name itself is never rewritten).
pub fn redact_message(red: &mut Redactor, msg: &[u8], out: &mut Vec<u8>) -> u64 {
    redact_message_by_rule(red, msg, out, &mut RuleCounts::default())
}

/// [`redact_message`], adding the findings by rule to `by_rule`.
pub fn redact_message_by_rule(
    red: &mut Redactor,
    msg: &[u8],
    out: &mut Vec<u8>,
    by_rule: &mut RuleCounts,
) -> u64 {
    let mut r = Redacted::default();
    redact_message_with(red, msg, None, out, &mut r);
    for f in &r.found {
        by_rule.add(&f.rule);
    }
    r.found.len() as u64
}

/// What redacting one message found, and where its output may be cut.
#[derive(Debug, Default)]
pub struct Redacted {
    /// The findings (fingerprints, never secret bytes), in order; offsets
    /// are within the SD value or the text part they were found in.
    pub found: Vec<Finding>,
    /// Output ranges that hold a replacement (a whole SD value when it
    /// changed), in order: a cut never falls inside one.
    pub replaced: Vec<Range<usize>>,
}

/// [`redact_message`], with the findings and replaced ranges in `r`.
///
/// With `cut`, only the message's first `cut` bytes are kept, and `msg`
/// may run past them (an oversized frame's lookahead,
/// [`CUT_LOOKAHEAD`](crate::formats::syslog::CUT_LOOKAHEAD)): everything is
/// scanned, so a secret straddling the cut is found whole, and the output
/// stops where the input did. A replacement reaching past the cut is
/// dropped with all that follows it (fail closed: no byte of that secret is
/// sent), one before it is kept whole, and untouched bytes before the cut
/// are kept as they were. A cut inside the header or structured data scans
/// the whole message as text. Findings past the cut are not reported: their
/// bytes are discarded unsent, like the rest of the frame.
pub fn redact_message_with(
    red: &mut Redactor,
    msg: &[u8],
    cut: Option<usize>,
    out: &mut Vec<u8>,
    r: &mut Redacted,
) {
    Scratch::default().redact_into(red, msg, cut, out, r);
}

/// Scratch one connection reuses for every message: see the module
/// documentation. Allocations grow to the largest message's needs and stay.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The header's parts.
    parts: Parts,
    /// Scans SD-PARAM values.
    fields: FieldRedactor,
    /// One value, redacted, before it is re-escaped.
    value: Vec<u8>,
    /// What the last message gave.
    redacted: Redacted,
}

impl Scratch {
    /// Empty scratch.
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// [`redact_message_with`] (cut at `cut`, if any) onto `out`; what it
    /// found and replaced is what is returned, until the next call.
    pub fn redact(
        &mut self,
        red: &mut Redactor,
        msg: &[u8],
        cut: Option<usize>,
        out: &mut Vec<u8>,
    ) -> &Redacted {
        let mut r = std::mem::take(&mut self.redacted);
        r.found.clear();
        r.replaced.clear();
        self.redact_into(red, msg, cut, out, &mut r);
        self.redacted = r;
        &self.redacted
    }

    /// [`redact_message_with`], with this scratch.
    fn redact_into(
        &mut self,
        red: &mut Redactor,
        msg: &[u8],
        cut: Option<usize>,
        out: &mut Vec<u8>,
        r: &mut Redacted,
    ) {
        scan_into(msg, &mut self.parts);
        if cut.is_some_and(|c| c < self.parts.text.start) {
            self.parts.format = Format::Opaque;
            self.parts.sd_values.clear();
            self.parts.text = 0..msg.len();
        }
        let at = self.sd_values(red, msg, out, r);
        let text = self.parts.text.clone();
        out.extend_from_slice(&msg[at..text.start]);
        let cut = cut.map_or(u64::MAX, |c| (c - text.start) as u64);
        let mut sink = TextSink {
            out,
            r,
            cut,
            pos: 0,
            open: None,
            done: false,
        };
        red.reset();
        red.write(&msg[text], &mut sink);
        red.finish(&mut sink);
    }

    /// Copies the header up to each SD-PARAM value and writes the value
    /// redacted (re-escaped when it changed); returns the offset after the
    /// last value (0 without one).
    fn sd_values(
        &mut self,
        red: &mut Redactor,
        msg: &[u8],
        out: &mut Vec<u8>,
        r: &mut Redacted,
    ) -> usize {
        let mut at = 0;
        for v in &self.parts.sd_values {
            out.extend_from_slice(&msg[at..v.start]);
            // The scanner checked `SP NAME="` precedes every value; the name
            // is the value's context, as a JSON key is.
            let eq = v.start - 2;
            let name = &msg[msg[..eq]
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(0, |i| i + 1)..eq];
            self.value.clear();
            let value = &msg[v.clone()];
            if self
                .fields
                .redact_into(red, Some(name), value, &mut self.value, &mut r.found)
            {
                // Replacements may hold `]` and may have cut an escape pair:
                // re-escaping is the identity on what was valid.
                let start = out.len();
                escape_sd_value(&self.value, out);
                r.replaced.push(start..out.len());
            } else {
                out.extend_from_slice(value);
            }
            at = v.end;
        }
        at
    }
}

/// The sink for a message's text part: appends the redacted text to `out`,
/// records each replacement's output range, and keeps only what lies
/// before input offset `cut` (see [`redact_message_with`]).
struct TextSink<'a> {
    out: &'a mut Vec<u8>,
    r: &'a mut Redacted,
    /// Text offset past which nothing is kept (`u64::MAX`: no cut).
    cut: u64,
    /// Text offset of the next untouched byte.
    pos: u64,
    /// Where the open replacement began in `out`.
    open: Option<usize>,
    /// The cut was reached: nothing more is written.
    done: bool,
}

impl Sink for TextSink<'_> {
    type Error = Infallible;
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        if self.done {
            return Ok(());
        }
        if self.open.is_some() {
            self.out.extend_from_slice(bytes);
            return Ok(());
        }
        let room = (self.cut - self.pos).min(bytes.len() as u64) as usize;
        self.out.extend_from_slice(&bytes[..room]);
        self.pos += room as u64;
        self.done = room < bytes.len();
        Ok(())
    }

    fn finding(&mut self, finding: Finding) -> Result<(), Infallible> {
        if finding.offset < self.cut {
            self.r.found.push(finding);
        }
        Ok(())
    }

    fn span_start(&mut self, at: u64) -> Result<(), Infallible> {
        if self.done || at >= self.cut {
            self.done = true;
            return Ok(());
        }
        self.open = Some(self.out.len());
        Ok(())
    }

    fn span_end(&mut self, at: u64) -> Result<(), Infallible> {
        let Some(start) = self.open.take() else {
            return Ok(());
        };
        if at > self.cut {
            // The secret straddles the cut: drop its replacement whole.
            self.out.truncate(start);
            self.done = true;
        } else {
            self.r.replaced.push(start..self.out.len());
            self.pos = at;
        }
        Ok(())
    }
}

/// Cuts a redacted message to at most `max` bytes, never inside a
/// replacement: one that would straddle the cut is dropped with everything
/// after it. The bytes before the cut are kept as they were.
pub fn cut_outside(body: &mut Vec<u8>, replaced: &[Range<usize>], max: usize) {
    let mut cut = max.min(body.len());
    if let Some(r) = replaced.iter().find(|r| r.start < cut && cut < r.end) {
        cut = r.start;
    }
    body.truncate(cut);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::fingerprint::Fingerprinter;
    use crate::engine::{Options, Style};
    use crate::formats::syslog::scan;
    use crate::rules::RuleSetBuilder;

    fn redactor() -> Redactor {
        let set = crate::check::load(&RuleSetBuilder::builtin()).unwrap();
        Redactor::new(
            set,
            Options {
                style: Style::Label,
                fingerprinter: Arc::new(Fingerprinter::new(b"syslog-unit-test-key", "t").unwrap()),
                learned_values: crate::config::defaults::LEARNED_VALUES.default_usize(),
            },
        )
    }

    fn redact(msg: &[u8]) -> (String, u64) {
        let (out, n) = redact_bytes(msg);
        (String::from_utf8(out).unwrap(), n)
    }

    fn redact_bytes(msg: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let n = redact_message(&mut redactor(), msg, &mut out);
        (out, n)
    }

    #[test]
    fn header_passes_msg_and_sd_values_are_redacted() {
        let key = format!("AKIA{}", "Q7ZX3MWRT2PLN4VB");
        let msg = format!(
            r#"<13>1 2026-11-25T19:04:59Z vm app - ID47 [meta@32473 password="hunter2-very-secret" k="{key}"] password=hunter2-very-secret and {key}"#
        );
        let (out, n) = redact(msg.as_bytes());
        assert_eq!(n, 4, "{out}");
        assert!(
            out.contains(r#"password="[REDACTED:generic.password\]""#),
            "{out}"
        );
        assert!(out.starts_with("<13>1 2026-11-25T19:04:59Z vm app - ID47 [meta@32473 "));
        assert!(!out.contains("hunter2") && !out.contains(&key), "{out}");
        assert!(
            out.contains(r#"k="[REDACTED:aws.access-key-id\]""#),
            "{out}"
        );
        // The output still parses, with the same SD layout.
        let p = scan(out.as_bytes());
        assert_eq!(p.sd_values.len(), 2);
    }

    #[test]
    fn a_message_without_a_secret_is_byte_identical() {
        for m in [
            &br#"<13>1 - h a - - [x@1 a="b\]c"] hello"#[..],
            b"<14>Nov  5 19:04:59 host app[1]: hello\r",
            b"no pri at all \xff\x00",
            b"<165>1 - - - - - -\n",
        ] {
            assert_eq!(redact_bytes(m).0, m);
        }
    }

    fn redactor_with(style: Style) -> Redactor {
        let mut r = redactor();
        if style != Style::Label {
            let set = Arc::clone(r.rules());
            let fingerprinter = Arc::new(Fingerprinter::new(b"syslog-unit-test-key", "t").unwrap());
            r = Redactor::new(
                set,
                Options {
                    style,
                    fingerprinter,
                    learned_values: crate::config::defaults::LEARNED_VALUES.default_usize(),
                },
            );
        }
        r
    }

    /// A message whose MSG holds an AWS key id at `key` (a range), after
    /// an untouched `[REDACTED:` look-alike, and its redaction.
    fn message_with_key(style: Style) -> (Vec<u8>, std::ops::Range<usize>, Vec<u8>, Redacted) {
        let key = format!("AKIA{}", "Q7ZX3MWRT2PLN4VB");
        let msg = format!("<13>1 - h app - - - sent [REDACTED:x] then id {key} end").into_bytes();
        let s = msg.len() - key.len() - 4;
        let mut out = Vec::new();
        let mut r = Redacted::default();
        redact_message_with(&mut redactor_with(style), &msg, None, &mut out, &mut r);
        (msg, s..s + key.len(), out, r)
    }

    #[test]
    fn a_datagram_cut_never_falls_inside_a_replacement() {
        // Issue 12 item 6: `--max-datagram 1000` produced `...[REDACTE`.
        for style in [Style::Label, Style::Hmac, Style::Partial, Style::Mask] {
            let (msg, key, full, r) = message_with_key(style);
            assert_eq!(r.replaced.len(), 1, "{style:?}");
            let label = r.replaced[0].clone();
            assert_eq!(label.start, key.start);
            for max in 0..full.len() + 2 {
                let mut b = full.clone();
                cut_outside(&mut b, &r.replaced, max);
                let want = if label.start < max && max < label.end {
                    label.start
                } else {
                    max.min(full.len())
                };
                assert_eq!(b, &full[..want], "{style:?} max {max}");
                // Untouched bytes (the look-alike included) as they were.
                let kept = want.min(key.start);
                assert_eq!(&b[..kept], &msg[..kept]);
            }
        }
    }

    #[test]
    fn a_cut_message_drops_a_straddling_secret_whole_and_keeps_the_rest() {
        let (msg, key, full, _) = message_with_key(Style::Label);
        let label = b"[REDACTED:aws.access-key-id]";
        let mut red = redactor();
        for cut in key.start - 3..msg.len() {
            let mut out = Vec::new();
            let mut r = Redacted::default();
            redact_message_with(&mut red, &msg, Some(cut), &mut out, &mut r);
            let mut want = msg[..cut.min(key.start)].to_vec();
            if cut >= key.end {
                want.extend_from_slice(label);
                want.extend_from_slice(&msg[key.end..cut]);
            }
            assert_eq!(out, want, "cut at {cut}");
            assert_eq!(r.found.len(), usize::from(cut > key.start), "cut {cut}");
            assert!(full.starts_with(&out));
        }
    }

    #[test]
    fn a_secret_cut_at_the_edge_is_recognised_through_the_lookahead() {
        // 20 bytes of a GitHub token before the cut would not match its rule
        // alone; with the lookahead it is found, and none of it is kept.
        let token = crate::rules::template::expand_one("seed-1234", "ghp_{{crc62:36}}").unwrap();
        let msg = format!("<13>1 - h app - - - token {token} and more").into_bytes();
        let at = msg.len() - token.len() - 9;
        let mut red = redactor();
        for cut in at + 1..at + token.len() {
            let mut out = Vec::new();
            let mut r = Redacted::default();
            redact_message_with(&mut red, &msg, Some(cut), &mut out, &mut r);
            assert_eq!(out, &msg[..at], "cut at {cut}");
            assert_eq!(r.found.len(), 1);
        }
    }

    #[test]
    fn a_cut_inside_the_header_scans_the_whole_message_as_text() {
        let msg = br#"<13>1 - h app - - [m@1 password="hunter2-very-secret"] tail"#;
        let mut out = Vec::new();
        let mut r = Redacted::default();
        let mut red = redactor();
        redact_message_with(&mut red, msg, Some(15), &mut out, &mut r);
        assert_eq!(out, &msg[..15]);
        // Inside the SD value: the value is not parsed as one, but a rule
        // still finds it in the text, and drops it whole.
        let value = msg.len() - 26;
        for cut in [40, msg.len() - 8] {
            out.clear();
            redact_message_with(&mut red, msg, Some(cut), &mut out, &mut r);
            assert_eq!(out, &msg[..value], "cut at {cut}");
        }
    }
}

//! MessagePack buffers (Fluent Bit's `http` output with `format msgpack`)
//! redacted in place: every `str` and `bin` is scanned; every other byte is
//! copied.
//!
//! [`MsgpackRedactor`] has [`Walker`] find the strings of a complete buffer
//! holding one or more concatenated objects and [`Rewriter`] write the ones
//! that changed (headers widened only when a new length needs it; see
//! [`crate::formats::msgpack`]). Everything else passes byte for byte.
//!
//! **What is scanned.** Every `str` and every `bin` (Fluent Bit and Fluentd
//! carry raw log lines as `bin` too), map keys included. A `str` or `bin`
//! that is a map value is scanned after its key, as `KEY":"VALUE`, exactly
//! as [`JsonRedactor`](super::json::JsonRedactor) scans JSON, so a record
//! shipped as msgpack is redacted like the same record shipped as JSON.
//! Keys are scanned on their own, fenced off so that no span from a value
//! reaches them (as in JSON); values nested in arrays or maps get no key
//! context. Ext payloads are opaque and not scanned.
//!
//! **One scan per buffer.** As in JSON, every string is placed in one scan
//! buffer, after its key context and followed by a line break, and the
//! [`Redactor`] runs over it once; replacements are then spliced in.
//!
//! **Errors.** A buffer that cannot be walked ([`MsgpackError`]) is refused
//! rather than forwarded unscanned.

use super::fields::{SpanSink, FENCE};
use crate::engine::{Finding, Redactor};
use crate::formats::msgpack::{MsgpackError, Rewriter, Str, Walker};

/// Counts from one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MsgpackStats {
    /// `str` and `bin` items scanned (keys included).
    pub strings: u64,
    /// Of those, the ones changed.
    pub strings_redacted: u64,
    /// Findings.
    pub findings: u64,
}

/// Reusable scratch for redacting msgpack buffers.
#[derive(Debug, Default)]
pub struct MsgpackRedactor {
    walker: Walker,
    /// The scan buffer: each string after its key context, then `\n`.
    text: Vec<u8>,
    /// Every `str` and `bin` of the input, in input order, with its
    /// content's range in the scan buffer.
    strings: Vec<(Str, (usize, usize))>,
    sink: SpanSink,
    /// One string's new content, while it is built.
    value: Vec<u8>,
}

impl MsgpackRedactor {
    /// Empty scratch.
    pub fn new() -> MsgpackRedactor {
        MsgpackRedactor::default()
    }

    /// Redacts the `str` and `bin` items of `input` (zero or more complete
    /// msgpack objects) into `out`; on error `out` is left as it was.
    /// `findings` receives each finding (offsets are within the scan
    /// buffer, key context included).
    pub fn redact(
        &mut self,
        red: &mut Redactor,
        input: &[u8],
        out: &mut Vec<u8>,
        findings: &mut Vec<Finding>,
    ) -> Result<MsgpackStats, MsgpackError> {
        // Pass 1: walk, and place every string in the scan buffer.
        self.text.clear();
        self.strings.clear();
        let (text, strings) = (&mut self.text, &mut self.strings);
        self.walker
            .walk(input, |st| strings.push((st, place(text, input, &st))))?;
        let mut stats = MsgpackStats {
            strings: self.strings.len() as u64,
            ..MsgpackStats::default()
        };
        if self.strings.is_empty() {
            out.extend_from_slice(input);
            return Ok(stats);
        }
        // Pass 2: one scan.
        self.sink.clear();
        red.reset();
        red.write(&self.text, &mut self.sink);
        red.finish(&mut self.sink);
        stats.findings = self.sink.findings.len() as u64;
        // Pass 3: copy the input, rewriting the strings that changed.
        let mut w = Rewriter::new(input, out);
        let strings = &self.strings;
        // The line breaks the scan buffer put after values.
        let is_sep = |p: u64| {
            strings
                .binary_search_by_key(&p, |(_, v)| v.1 as u64)
                .is_ok()
        };
        for (st, (ts, te)) in strings {
            let raw = &input[st.content.0..st.content.1];
            let value = &mut self.value;
            value.clear();
            let mut done = 0; // content bytes written to `value`
            let mut changed = false;
            let range = *ts as u64..*te as u64;
            self.sink
                .splice_into(&self.text, 0, range, is_sep, |vs, ve, replacement| {
                    value.extend_from_slice(&raw[done..vs.max(done)]);
                    if let Some(r) = replacement {
                        value.extend_from_slice(r);
                    }
                    done = ve.max(done);
                    changed = true;
                });
            if changed {
                value.extend_from_slice(&raw[done..]);
                w.replace(st, value, out)?;
                stats.strings_redacted += 1;
            }
        }
        w.finish(out);
        findings.append(&mut self.sink.findings);
        Ok(stats)
    }
}

/// Puts a string into the scan buffer after its key context; a key is
/// fenced, so no span from a value reaches it. Returns where its content
/// lies in the scan buffer.
fn place(text: &mut Vec<u8>, input: &[u8], st: &Str) -> (usize, usize) {
    if st.is_key {
        text.extend_from_slice(FENCE);
    }
    if let Some((ks, ke)) = st.key {
        text.extend_from_slice(&input[ks..ke]);
        text.extend_from_slice(b"\":\"");
    }
    let vs = text.len();
    text.extend_from_slice(&input[st.content.0..st.content.1]);
    let value = (vs, text.len());
    text.push(b'\n');
    if st.is_key {
        text.extend_from_slice(FENCE);
    }
    value
}

#[cfg(test)]
mod tests;

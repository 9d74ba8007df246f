//! Redacting one field value (a JSON string, a protobuf string) with the
//! name it belongs to as context, and learning exactly which value bytes to
//! replace with what. Container framings (JSON, protobuf) then splice the
//! replacements into their own encoding and leave every other byte alone.

use std::ops::Range;

use crate::engine::{Finding, Redactor, Sink};

/// One redacted span of a value: `value[start..end]` is replaced by
/// [`FieldRedactor::replacement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSpan {
    /// First value byte replaced.
    pub start: usize,
    /// End of the replaced bytes (exclusive).
    pub end: usize,
    replacement: Range<usize>,
}

/// Reusable scratch for scanning field values.
#[derive(Debug, Default)]
pub struct FieldRedactor {
    text: Vec<u8>,
    sink: SpanSink,
    spans: Vec<ValueSpan>,
}

/// A sink recording the output and, for each redacted span, its input
/// range and the output range of its replacement.
#[derive(Debug, Default)]
pub(crate) struct SpanSink {
    /// Redacted output.
    pub out: Vec<u8>,
    /// (input start, input end, output range), in order.
    pub spans: Vec<(u64, u64, Range<usize>)>,
    open: Option<(u64, usize)>,
    /// Findings, in order.
    pub findings: Vec<Finding>,
}

impl SpanSink {
    /// Empty, keeping allocations.
    pub fn clear(&mut self) {
        self.out.clear();
        self.spans.clear();
        self.open = None;
        self.findings.clear();
    }

    /// For the value that was scanned at `value` in the input, calls
    /// `splice(start, end, replacement)` for each redacted span reaching
    /// into it, clipped to it (offsets within the value), in order.
    /// `replacement` is the span's output the first time a splice takes the
    /// span (`splice` returns whether it did), and `None` after: a span
    /// shows its replacement once, in the first value it reaches. Values
    /// are visited in input order, with `first` (a cursor, 0 at the start)
    /// and `emitted` (one flag per span, all false at the start) kept
    /// across them.
    pub fn splice_into(
        &self,
        value: Range<usize>,
        first: &mut usize,
        emitted: &mut [bool],
        mut splice: impl FnMut(usize, usize, Option<&[u8]>) -> bool,
    ) {
        let (ts, te) = (value.start, value.end);
        let spans = &self.spans;
        while *first < spans.len() && spans[*first].1 as usize <= ts {
            *first += 1;
        }
        let mut k = *first;
        while k < spans.len() && (spans[k].0 as usize) < te {
            let (s, e, r) = (&spans[k].0, &spans[k].1, &spans[k].2);
            let (vs, ve) = ((*s as usize).max(ts) - ts, (*e as usize).min(te) - ts);
            if vs < ve {
                let replacement = (!emitted[k]).then(|| &self.out[r.clone()]);
                if splice(vs, ve, replacement) && replacement.is_some() {
                    emitted[k] = true;
                }
            }
            k += 1;
        }
    }
}

impl Sink for SpanSink {
    fn bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn finding(&mut self, f: Finding) {
        self.findings.push(f);
    }
    fn span_start(&mut self, at: u64) {
        self.open = Some((at, self.out.len()));
    }
    fn span_end(&mut self, at: u64) {
        if let Some((start, o)) = self.open.take() {
            self.spans.push((start, at, o..self.out.len()));
        }
    }
}

impl FieldRedactor {
    /// Empty scratch.
    pub fn new() -> FieldRedactor {
        FieldRedactor::default()
    }

    /// Scans `value`, after `name` when there is one (as `NAME":"VALUE`, the
    /// shape rules know from JSON, so `password` keys give their values
    /// context). Afterwards [`spans`](Self::spans) are the spans of `value`
    /// to replace, in order; a span reaching back into the name is cut at
    /// the value's start (the name is never rewritten). Findings are
    /// appended to `findings`.
    pub fn scan(
        &mut self,
        red: &mut Redactor,
        name: Option<&[u8]>,
        value: &[u8],
        findings: &mut Vec<Finding>,
    ) {
        self.text.clear();
        if let Some(n) = name {
            self.text.extend_from_slice(n);
            self.text.extend_from_slice(b"\":\"");
        }
        let prefix = self.text.len();
        self.text.extend_from_slice(value);
        let sink = &mut self.sink;
        sink.clear();
        red.reset();
        red.write(&self.text, sink);
        red.finish(sink);
        findings.append(&mut sink.findings);
        self.spans.clear();
        for (s, e, r) in &sink.spans {
            let (s, e) = (*s as usize, *e as usize);
            if e <= prefix {
                continue;
            }
            self.spans.push(ValueSpan {
                start: s.max(prefix) - prefix,
                end: e - prefix,
                replacement: r.clone(),
            });
        }
    }

    /// The spans found by the last [`scan`](Self::scan).
    pub fn spans(&self) -> &[ValueSpan] {
        &self.spans
    }

    /// The replacement bytes of a span from the last [`scan`](Self::scan).
    pub fn replacement(&self, span: &ValueSpan) -> &[u8] {
        &self.sink.out[span.replacement.clone()]
    }

    /// [`scan`](Self::scan), then writes the value with its spans replaced
    /// onto `out`. Returns whether anything changed.
    pub fn redact_into(
        &mut self,
        red: &mut Redactor,
        name: Option<&[u8]>,
        value: &[u8],
        out: &mut Vec<u8>,
        findings: &mut Vec<Finding>,
    ) -> bool {
        self.scan(red, name, value, findings);
        let mut at = 0;
        for s in &self.spans {
            out.extend_from_slice(&value[at..s.start]);
            out.extend_from_slice(&self.sink.out[s.replacement.clone()]);
            at = s.end;
        }
        out.extend_from_slice(&value[at..]);
        !self.spans.is_empty()
    }
}

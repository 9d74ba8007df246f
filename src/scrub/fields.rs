//! Redacting field values with the names they belong to as context, and
//! learning exactly which value bytes to replace with what. Container
//! framings (JSON, msgpack, protobuf) then splice the replacements into
//! their own encoding and leave every other byte alone.
//!
//! - [`FieldRedactor`] scans one value at a time (protobuf fields, syslog
//!   SD parameters).
//! - `ItemScan` scans every value of a document in one stream (JSON,
//!   msgpack): each value on its own line of a scan text, after its key
//!   context; keys on lines of their own, **fenced** by a line no span
//!   continues through (`FENCE`), so a block that starts in a value (a
//!   PEM private key runs on until its footer) can never reach a key, and
//!   one that starts in a key never leaves it. A block may run on through
//!   the values that follow it (an array of key lines): the first value it
//!   reaches shows its whole replacement, the others lose the bytes it
//!   covers, and the line breaks the scan text put between values are
//!   never written into a value. The text goes to the redactor a window at
//!   a time and values are spliced as soon as every span reaching them is
//!   known, so memory follows the window and the longest open span, not
//!   the document.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::ops::Range;

use crate::engine::{Finding, Redactor, Sink};

/// The line put before and after each key in a scan text: no rule match
/// holds a line break, and a PEM block ends before a line that is neither
/// base64, a header field nor its footer, so no span crosses it.
pub(crate) const FENCE: &[u8] = b"\x01\n";

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

/// A sink recording, for each redacted span, its input range and its
/// replacement (bytes outside spans are not kept).
#[derive(Debug, Default)]
pub(crate) struct SpanSink {
    /// Replacement bytes of the spans below.
    out: Vec<u8>,
    /// Spans in input order, not yet forgotten.
    spans: VecDeque<SpanRec>,
    /// The span being written: its start and where its bytes begin in `out`.
    open: Option<(u64, usize)>,
    /// Findings, in order.
    pub findings: Vec<Finding>,
    /// Spans before this index reach no value still to be spliced.
    first: usize,
}

/// One redacted span.
#[derive(Debug, Clone)]
struct SpanRec {
    start: u64,
    end: u64,
    /// Its replacement, in `SpanSink::out`.
    out: Range<usize>,
    /// Its replacement has been written into a value.
    emitted: bool,
}

impl SpanSink {
    /// Empty, keeping allocations.
    pub fn clear(&mut self) {
        self.out.clear();
        self.spans.clear();
        self.open = None;
        self.findings.clear();
        self.first = 0;
    }

    /// Whether a span reaches into `value` (in stream order: spans ending
    /// before it are passed for good).
    fn reaches(&mut self, value: (u64, u64)) -> bool {
        while self.first < self.spans.len() && self.spans[self.first].end <= value.0 {
            self.first += 1;
        }
        self.spans
            .get(self.first)
            .is_some_and(|s| s.start < value.1 && value.0 < value.1)
    }

    /// Where the span still being written starts, if one is.
    fn open_start(&self) -> Option<u64> {
        self.open.map(|(s, _)| s)
    }

    /// For the value scanned at `value` (offsets in the scanned stream),
    /// calls `splice(start, end, replacement)` for each redacted span
    /// reaching into it, clipped to it (offsets within the value), in
    /// order. `replacement` is the span's replacement the first time the
    /// span reaches a value, and `None` in the values after (a span shows
    /// its replacement once). Values are visited in stream order.
    ///
    /// `text` holds the scanned stream from offset `base` on (at least
    /// every span not yet emitted), and `is_sep(p)` says whether the line
    /// break at `p` is one the framing put after a value: those are left
    /// out of a replacement that crosses them.
    pub fn splice_into(
        &mut self,
        text: &[u8],
        base: u64,
        value: Range<u64>,
        is_sep: impl Fn(u64) -> bool,
        mut splice: impl FnMut(usize, usize, Option<&[u8]>),
    ) {
        let (ts, te) = (value.start, value.end);
        while self.first < self.spans.len() && self.spans[self.first].end <= ts {
            self.first += 1;
        }
        let mut k = self.first;
        while k < self.spans.len() && self.spans[k].start < te {
            let sp = &self.spans[k];
            let (vs, ve) = (sp.start.max(ts) - ts, sp.end.min(te) - ts);
            if vs < ve {
                let emitted = sp.emitted;
                let replacement = (!emitted).then(|| self.replacement(k, text, base, te, &is_sep));
                splice(vs as usize, ve as usize, replacement.as_deref());
                self.spans[k].emitted = true;
            }
            k += 1;
        }
    }

    /// Span `k`'s replacement without the line breaks that stand for
    /// separators after values (`value_end` is the end of the value it
    /// first reaches). Every style keeps each `\r` and `\n` of the span in
    /// its replacement, in order, so the two are walked together.
    fn replacement(
        &self,
        k: usize,
        text: &[u8],
        base: u64,
        value_end: u64,
        is_sep: &impl Fn(u64) -> bool,
    ) -> Cow<'_, [u8]> {
        let sp = &self.spans[k];
        let r = &self.out[sp.out.clone()];
        let in_text = sp.start >= base && ((sp.end - base) as usize) <= text.len();
        if sp.end <= value_end || !in_text {
            return Cow::Borrowed(r);
        }
        let src = &text[(sp.start - base) as usize..(sp.end - base) as usize];
        let mut kept = Vec::with_capacity(r.len());
        let mut ri = 0;
        for p in memchr::memchr2_iter(b'\n', b'\r', src) {
            let Some(q) = memchr::memchr2(b'\n', b'\r', &r[ri..]) else {
                break;
            };
            let q = ri + q;
            let end = if is_sep(sp.start + p as u64) {
                q
            } else {
                q + 1
            };
            kept.extend_from_slice(&r[ri..end]);
            ri = q + 1;
        }
        kept.extend_from_slice(&r[ri..]);
        Cow::Owned(kept)
    }

    /// Forgets the spans that end at or before `pos` (every value before
    /// it has been spliced), and the replacement bytes only they used.
    fn forget_before(&mut self, pos: u64) {
        while self.spans.front().is_some_and(|s| s.end <= pos) {
            self.spans.pop_front();
            self.first = self.first.saturating_sub(1);
        }
        let used = match (self.spans.front(), self.open) {
            (Some(s), _) => s.out.start,
            (None, Some((_, o))) => o,
            (None, None) => self.out.len(),
        };
        // Moved only once it is at least half the buffer: linear overall.
        if used >= 4096 && used * 2 >= self.out.len() {
            self.out.drain(..used);
            for s in &mut self.spans {
                s.out = s.out.start - used..s.out.end - used;
            }
            if let Some((_, o)) = &mut self.open {
                *o -= used;
            }
        } else if used == self.out.len() {
            self.out.clear();
            if let Some((_, o)) = &mut self.open {
                *o = 0;
            }
        }
    }
}

impl Sink for SpanSink {
    type Error = Infallible;
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        if self.open.is_some() {
            self.out.extend_from_slice(bytes);
        }
        Ok(())
    }
    fn finding(&mut self, f: Finding) -> Result<(), Infallible> {
        self.findings.push(f);
        Ok(())
    }
    fn span_start(&mut self, at: u64) -> Result<(), Infallible> {
        self.open = Some((at, self.out.len()));
        Ok(())
    }
    fn span_end(&mut self, at: u64) -> Result<(), Infallible> {
        if let Some((start, o)) = self.open.take() {
            self.spans.push_back(SpanRec {
                start,
                end: at,
                out: o..self.out.len(),
                emitted: false,
            });
        }
        Ok(())
    }
}

/// Scan text handed to the redactor at a time.
pub(crate) const WINDOW: usize = 64 << 10;

/// The scan text of a document's values (see the module documentation),
/// with what the framing needs to splice each one (`T`).
#[derive(Debug)]
pub(crate) struct ItemScan<T> {
    /// The scan text from stream offset `base` on.
    text: Vec<u8>,
    base: u64,
    /// `text[..written]` has been handed to the redactor.
    written: usize,
    /// Values placed and not yet spliced, in order.
    items: VecDeque<Item<T>>,
    sink: SpanSink,
}

/// One value in the scan text.
#[derive(Debug, Clone, Copy)]
struct Item<T> {
    /// Where its line starts (its key context, if any).
    start: u64,
    /// The value's bytes; a separator line break follows at `value.1`.
    value: (u64, u64),
    data: T,
}

impl<T> Default for ItemScan<T> {
    fn default() -> Self {
        ItemScan {
            text: Vec::new(),
            base: 0,
            written: 0,
            items: VecDeque::new(),
            sink: SpanSink::default(),
        }
    }
}

impl<T: Copy> ItemScan<T> {
    /// Starts a document: everything forgotten, `red` reset.
    pub fn start(&mut self, red: &mut Redactor) {
        self.text.clear();
        self.base = 0;
        self.written = 0;
        self.items.clear();
        self.sink.clear();
        red.reset();
    }

    /// The scan text, to append a value's context and bytes to.
    pub fn text(&mut self) -> &mut Vec<u8> {
        &mut self.text
    }

    /// The stream offset the next byte of text gets.
    pub fn mark(&self) -> u64 {
        self.base + self.text.len() as u64
    }

    /// Text not yet handed to the redactor.
    pub fn pending(&self) -> usize {
        self.text.len() - self.written
    }

    /// Places a fence line (before a key).
    pub fn fence(&mut self) {
        self.text.extend_from_slice(FENCE);
    }

    /// Ends the value whose line began at `start` and whose bytes began at
    /// `value_start` (both from [`mark`](Self::mark)); a key (`fenced`)
    /// gets a fence line after it.
    pub fn push(&mut self, start: u64, value_start: u64, data: T, fenced: bool) {
        let end = self.mark();
        self.items.push_back(Item {
            start,
            value: (value_start, end),
            data,
        });
        self.text.push(b'\n');
        if fenced {
            self.fence();
        }
    }

    /// Hands the pending text to the redactor (and ends the stream when
    /// `eof`); returns how many values at the front can be spliced now
    /// (every span reaching them is complete).
    pub fn scan(&mut self, red: &mut Redactor, eof: bool) -> usize {
        red.write(&self.text[self.written..], &mut self.sink);
        self.written = self.text.len();
        if eof {
            red.finish(&mut self.sink);
        }
        let released = self.base + self.written as u64 - red.pending();
        let limit = self.sink.open_start().map_or(released, |s| s.min(released));
        self.items
            .iter()
            .take_while(|it| it.value.1 <= limit)
            .count()
    }

    /// Drops the values at the front, among the `ready` ones, that no span
    /// reaches (they stay as they are); returns how many are still ready.
    pub fn skip_untouched(&mut self, mut ready: usize) -> usize {
        while let Some(it) = self.items.front().filter(|_| ready > 0) {
            if self.sink.reaches(it.value) {
                break;
            }
            self.items.pop_front();
            ready -= 1;
        }
        ready
    }

    /// The data of the next value to splice.
    pub fn front(&self) -> Option<T> {
        self.items.front().map(|it| it.data)
    }

    /// Splices the front value (one [`scan`](Self::scan) said is ready):
    /// `splice` is called as [`SpanSink::splice_into`] calls it.
    pub fn splice_front(&mut self, splice: impl FnMut(usize, usize, Option<&[u8]>)) {
        let Some(it) = self.items.pop_front() else {
            return;
        };
        let items = &self.items;
        let is_sep =
            |p: u64| p == it.value.1 || items.binary_search_by_key(&p, |i| i.value.1).is_ok();
        self.sink.splice_into(
            &self.text,
            self.base,
            it.value.0..it.value.1,
            is_sep,
            splice,
        );
    }

    /// Drops the text and spans no value left needs; moves findings onto
    /// `findings`.
    pub fn compact(&mut self, findings: &mut Vec<Finding>) {
        findings.append(&mut self.sink.findings);
        let keep = self
            .items
            .front()
            .map_or(self.base + self.written as u64, |it| it.start);
        self.sink.forget_before(keep);
        let cut = (keep - self.base) as usize;
        // Moved only once it is at least half the text: linear overall.
        if cut > 0 && cut * 2 >= self.text.len() {
            self.text.drain(..cut);
            self.base = keep;
            self.written -= cut;
        }
    }

    /// Gives back buffers grown past `keep` bytes by a large value.
    pub fn shrink(&mut self, keep: usize) {
        if self.text.capacity() > keep {
            self.text = Vec::new();
        }
        if self.sink.out.capacity() > keep {
            self.sink.out = Vec::new();
        }
        if self.items.capacity() > keep / 16 {
            self.items = VecDeque::new();
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
        for sp in &sink.spans {
            let (s, e) = (sp.start as usize, sp.end as usize);
            if e <= prefix {
                continue;
            }
            self.spans.push(ValueSpan {
                start: s.max(prefix) - prefix,
                end: e - prefix,
                replacement: sp.out.clone(),
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

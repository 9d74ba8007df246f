//! MessagePack buffers (Fluent Bit's `http` output with `format msgpack`):
//! every `str` and `bin` is redacted in place; every other byte is copied.
//!
//! [`MsgpackRedactor`] walks a complete buffer holding one or more
//! concatenated objects (Fluent Bit sends `[time, record]` or
//! `[[time, meta], record]` arrays back to back) without decoding it into
//! values. Integers, floats, nil, booleans, ext values (EventTime is ext 0)
//! and array and map headers pass byte for byte; container element counts
//! never change, since only leaves are rewritten.
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
//! **Headers.** A changed string gets a header for its new length in its
//! original format while the length fits it, else the next format that
//! does (fixstr → str8 → str16 → str32; bin8 → bin16 → bin32): a header is
//! never narrowed, so an encoder's choice of a wide header survives.
//!
//! **One scan per buffer.** As in JSON, every string is placed in one scan
//! buffer, after its key context and followed by a line break, and the
//! [`Redactor`] runs over it once; replacements are then spliced in.
//!
//! **Errors.** A truncated object, a length past the end, the reserved byte
//! `0xc1` and nesting deeper than [`MAX_DEPTH`] are errors, so a body that
//! cannot be walked is refused rather than forwarded unscanned. Messages
//! carry offsets, never input bytes.

use super::fields::{SpanSink, FENCE};
use crate::engine::{Finding, Redactor};

/// Deepest container nesting walked (Fluent Bit records nest a few levels).
pub const MAX_DEPTH: usize = 128;

/// Why a msgpack buffer could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    /// The input ends inside the object (or one of its headers, or its
    /// payload: a length reaching past the end).
    #[error("msgpack object at byte {at} is truncated")]
    Truncated {
        /// Offset of the item whose bytes run past the end (for an
        /// unfinished container, the outermost open one).
        at: usize,
    },
    /// The byte `0xc1`, which msgpack never uses.
    #[error("reserved msgpack byte 0xc1 at byte {at}")]
    Reserved {
        /// Its offset.
        at: usize,
    },
    /// Containers nested deeper than [`MAX_DEPTH`].
    #[error("msgpack nesting deeper than {MAX_DEPTH} at byte {at}")]
    TooDeep {
        /// Offset of the container header that went too deep.
        at: usize,
    },
    /// A redacted string would not fit a 32-bit length.
    #[error("redacted msgpack string at byte {at} exceeds 4 GiB")]
    TooLong {
        /// Offset of the string's header.
        at: usize,
    },
}

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
    /// The scan buffer: each string after its key context, then `\n`.
    text: Vec<u8>,
    /// Every `str` and `bin` of the input, in input order.
    strings: Vec<Str>,
    /// Open containers, outermost first; never longer than [`MAX_DEPTH`].
    stack: Vec<Frame>,
    sink: SpanSink,
    /// One string's new content, while it is built.
    value: Vec<u8>,
}

/// A string family: which headers it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `str`: fixstr, str8, str16, str32.
    Str,
    /// `bin`: bin8, bin16, bin32.
    Bin,
}

/// One `str` or `bin` of the input, as placed in the scan buffer.
#[derive(Debug, Clone, Copy)]
struct Str {
    family: Family,
    /// Header width class: 0 fixstr, 1 8-bit length, 2 16-bit, 3 32-bit.
    class: u8,
    /// Offset of its header byte in the input.
    header: usize,
    /// Its content's range in the input.
    content: (usize, usize),
    /// Its content's range in the scan buffer.
    value: (usize, usize),
}

/// An open array or map.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Offset of its header, for errors.
    start: usize,
    /// Items still to come (a map counts keys and values: 2 per entry).
    left: u64,
    map: bool,
    /// In a map, the content range of the last key when it is a `str`,
    /// until its value has been read.
    key: Option<(usize, usize)>,
}

/// What one header says.
enum Item {
    /// A value of this many bytes in all, header included, copied as is.
    Opaque(usize),
    /// A `str` or `bin`: header width and class, content length.
    Text {
        family: Family,
        class: u8,
        header: usize,
        len: usize,
    },
    /// An array or map header of this width, with this many entries.
    Container { map: bool, header: usize, n: u64 },
}

/// The big-endian unsigned integer of `width` bytes at `at`, or `None`
/// past the end.
fn be(input: &[u8], at: usize, width: usize) -> Option<u64> {
    let b = input.get(at..at.checked_add(width)?)?;
    Some(b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

/// Reads the header at `at` (which is within `input`).
fn item(input: &[u8], at: usize) -> Result<Item, MsgpackError> {
    let truncated = MsgpackError::Truncated { at };
    let len = |width: usize| -> Result<usize, MsgpackError> {
        be(input, at + 1, width)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(truncated.clone())
    };
    let text = |family, class, width: usize| -> Result<Item, MsgpackError> {
        Ok(Item::Text {
            family,
            class,
            header: 1 + width,
            len: len(width)?,
        })
    };
    let container = |map, width: usize| -> Result<Item, MsgpackError> {
        Ok(Item::Container {
            map,
            header: 1 + width,
            n: be(input, at + 1, width).ok_or(truncated.clone())?,
        })
    };
    let ext = |width: usize| -> Result<Item, MsgpackError> {
        // Header, type byte, payload.
        let total = len(width)?
            .checked_add(2 + width)
            .ok_or(truncated.clone())?;
        Ok(Item::Opaque(total))
    };
    let b = input[at];
    Ok(match b {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Item::Opaque(1),
        0x80..=0x8f => Item::Container {
            map: true,
            header: 1,
            n: u64::from(b & 0x0f),
        },
        0x90..=0x9f => Item::Container {
            map: false,
            header: 1,
            n: u64::from(b & 0x0f),
        },
        0xa0..=0xbf => Item::Text {
            family: Family::Str,
            class: 0,
            header: 1,
            len: usize::from(b & 0x1f),
        },
        0xc1 => return Err(MsgpackError::Reserved { at }),
        0xc4 => text(Family::Bin, 1, 1)?,
        0xc5 => text(Family::Bin, 2, 2)?,
        0xc6 => text(Family::Bin, 3, 4)?,
        0xc7 => ext(1)?,
        0xc8 => ext(2)?,
        0xc9 => ext(4)?,
        0xca => Item::Opaque(5),
        0xcb => Item::Opaque(9),
        0xcc | 0xd0 => Item::Opaque(2),
        0xcd | 0xd1 => Item::Opaque(3),
        0xce | 0xd2 => Item::Opaque(5),
        0xcf | 0xd3 => Item::Opaque(9),
        // fixext 1, 2, 4, 8, 16: header, type byte, payload.
        0xd4 => Item::Opaque(3),
        0xd5 => Item::Opaque(4),
        0xd6 => Item::Opaque(6),
        0xd7 => Item::Opaque(10),
        0xd8 => Item::Opaque(18),
        0xd9 => text(Family::Str, 1, 1)?,
        0xda => text(Family::Str, 2, 2)?,
        0xdb => text(Family::Str, 3, 4)?,
        0xdc => container(false, 2)?,
        0xdd => container(false, 4)?,
        0xde => container(true, 2)?,
        0xdf => container(true, 4)?,
    })
}

/// Writes a header for a `family` string of `len` bytes: class `class`
/// if the length fits it, else the smallest wider class that does.
fn put_header(
    family: Family,
    class: u8,
    len: usize,
    at: usize,
    out: &mut Vec<u8>,
) -> Result<(), MsgpackError> {
    let need = match len {
        0..=31 if family == Family::Str => 0,
        0..=0xff => 1,
        0x100..=0xffff => 2,
        _ if u32::try_from(len).is_ok() => 3,
        _ => return Err(MsgpackError::TooLong { at }),
    };
    let (fix, base) = match family {
        Family::Str => (0xa0, 0xd9),
        Family::Bin => (0xc4, 0xc4), // bin has no fix form: class >= 1
    };
    match class.max(need) {
        0 => out.push(fix | len as u8),
        1 => out.extend_from_slice(&[base, len as u8]),
        2 => {
            out.push(base + 1);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(base + 2);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    Ok(())
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
        self.walk(input)?;
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
        let mark = out.len();
        let mut copied = 0; // input bytes written
        let strings = &self.strings;
        // The line breaks the scan buffer put after values.
        let is_sep = |p: u64| {
            strings
                .binary_search_by_key(&p, |s| s.value.1 as u64)
                .is_ok()
        };
        for st in strings {
            let (ts, te) = st.value;
            let raw = &input[st.content.0..st.content.1];
            let value = &mut self.value;
            value.clear();
            let mut done = 0; // content bytes written to `value`
            let mut changed = false;
            let range = ts as u64..te as u64;
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
                out.extend_from_slice(&input[copied..st.header]);
                if let Err(e) = put_header(st.family, st.class, value.len(), st.header, out) {
                    out.truncate(mark);
                    return Err(e);
                }
                out.extend_from_slice(value);
                copied = st.content.1;
                stats.strings_redacted += 1;
            }
        }
        out.extend_from_slice(&input[copied..]);
        findings.append(&mut self.sink.findings);
        Ok(stats)
    }

    /// Puts a string into the scan buffer after its key context `ctx`; a
    /// key is fenced, so no span from a value reaches it.
    fn place(&mut self, input: &[u8], mut st: Str, ctx: Option<(usize, usize)>, is_key: bool) {
        if is_key {
            self.text.extend_from_slice(FENCE);
        }
        if let Some((ks, ke)) = ctx {
            self.text.extend_from_slice(&input[ks..ke]);
            self.text.extend_from_slice(b"\":\"");
        }
        let vs = self.text.len();
        self.text
            .extend_from_slice(&input[st.content.0..st.content.1]);
        st.value = (vs, self.text.len());
        self.strings.push(st);
        self.text.push(b'\n');
        if is_key {
            self.text.extend_from_slice(FENCE);
        }
    }

    /// Pass 1: checks the structure of `input` and fills `strings` and
    /// `text`.
    fn walk(&mut self, input: &[u8]) -> Result<(), MsgpackError> {
        self.text.clear();
        self.strings.clear();
        self.stack.clear();
        let mut at = 0;
        while at < input.len() {
            let start = at;
            // Where this item sits: a map key, a map value (with its key's
            // context), or anything else.
            let (is_key, ctx) = match self.stack.last_mut() {
                Some(f) if f.map && f.left % 2 == 0 => (true, None),
                Some(f) if f.map => (false, f.key.take()),
                _ => (false, None),
            };
            // The enclosing container, counted now (a container this item
            // opens is pushed above it).
            let parent = self.stack.len().checked_sub(1);
            if let Some(f) = self.stack.last_mut() {
                f.left -= 1;
            }
            let mut key = None;
            match item(input, at)? {
                Item::Opaque(n) => {
                    at = at
                        .checked_add(n)
                        .filter(|&e| e <= input.len())
                        .ok_or(MsgpackError::Truncated { at })?;
                }
                Item::Text {
                    family,
                    class,
                    header,
                    len,
                } => {
                    let cs = at + header;
                    let ce = cs
                        .checked_add(len)
                        .filter(|&e| e <= input.len())
                        .ok_or(MsgpackError::Truncated { at })?;
                    let st = Str {
                        family,
                        class,
                        header: at,
                        content: (cs, ce),
                        value: (0, 0),
                    };
                    self.place(input, st, ctx, is_key);
                    if family == Family::Str {
                        key = Some((cs, ce));
                    }
                    at = ce;
                }
                Item::Container { map, header, n } => {
                    if at + header > input.len() {
                        return Err(MsgpackError::Truncated { at });
                    }
                    at += header;
                    if n > 0 {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(MsgpackError::TooDeep { at: start });
                        }
                        self.stack.push(Frame {
                            start,
                            left: if map { n * 2 } else { n },
                            map,
                            key: None,
                        });
                    }
                }
            }
            if let Some(p) = parent.filter(|_| is_key) {
                self.stack[p].key = key;
            }
            while self.stack.last().is_some_and(|f| f.left == 0) {
                self.stack.pop();
            }
        }
        match self.stack.first() {
            Some(f) => Err(MsgpackError::Truncated { at: f.start }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;

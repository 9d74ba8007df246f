//! MessagePack buffers walked without decoding them into values: where
//! every `str` and `bin` item is, whether it is a map key, and which key a
//! map value belongs to; and the header writer that gives a rewritten
//! string a length prefix again. No engine here
//! ([`crate::scrub::msgpack`] redacts what [`Walker`] finds).
//!
//! **What it owns.** [`Walker::walk`] checks the structure of a complete
//! buffer holding zero or more concatenated objects (Fluent Bit sends
//! `[time, record]` arrays back to back) and reports each string item in
//! input order ([`Str`]). Integers, floats, nil, booleans, ext values
//! (EventTime is ext 0) and container headers are checked and skipped.
//! [`Rewriter`] copies a buffer, replacing the content of chosen strings:
//! a changed string gets a header for its new length in its original
//! format while the length fits it, else the next format that does
//! (fixstr → str8 → str16 → str32; bin8 → bin16 → bin32): a header is
//! never narrowed, so an encoder's choice of a wide header survives, and
//! container element counts never change.
//!
//! **Invariant.** A buffer either walks, and then every byte is part of an
//! item the walker read (nothing trails, no length points past the end),
//! or it is a [`MsgpackError`]: a truncated object, a length past the end,
//! the reserved byte `0xc1` or nesting deeper than [`MAX_DEPTH`]. Errors
//! carry offsets, never input bytes. A [`Rewriter`] that replaces nothing
//! copies its input byte for byte.

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

/// A string family: which headers it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `str`: fixstr, str8, str16, str32.
    Str,
    /// `bin`: bin8, bin16, bin32.
    Bin,
}

/// One `str` or `bin` item of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Str {
    /// Its family.
    pub family: Family,
    /// Header width class: 0 fixstr, 1 8-bit length, 2 16-bit, 3 32-bit.
    pub class: u8,
    /// Offset of its header byte in the input.
    pub header: usize,
    /// Its content's range in the input.
    pub content: (usize, usize),
    /// It is a map key.
    pub is_key: bool,
    /// For a map value: the content range of its key, when the key is a
    /// `str`.
    pub key: Option<(usize, usize)>,
}

/// Reusable scratch for walking msgpack buffers.
#[derive(Debug, Default)]
pub struct Walker {
    /// Open containers, outermost first; never longer than [`MAX_DEPTH`].
    stack: Vec<Frame>,
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
/// if the length fits it, else the smallest wider class that does. `at`
/// (the string's offset) is for the error when `len` fits no header.
pub fn put_header(
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

impl Walker {
    /// Empty scratch.
    pub fn new() -> Walker {
        Walker::default()
    }

    /// Checks the structure of `input` (zero or more complete objects) and
    /// calls `each` for every `str` and `bin` item, in input order. On
    /// error, `each` may have been called for items before it.
    pub fn walk(&mut self, input: &[u8], mut each: impl FnMut(Str)) -> Result<(), MsgpackError> {
        self.stack.clear();
        let mut at = 0;
        while at < input.len() {
            at = self.step(input, at, &mut each)?;
        }
        match self.stack.first() {
            Some(f) => Err(MsgpackError::Truncated { at: f.start }),
            None => Ok(()),
        }
    }

    /// Reads the item at `at`; returns the offset after it (after its
    /// header, for a container).
    fn step(
        &mut self,
        input: &[u8],
        mut at: usize,
        each: &mut impl FnMut(Str),
    ) -> Result<usize, MsgpackError> {
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
                each(Str {
                    family,
                    class,
                    header: at,
                    content: (cs, ce),
                    is_key,
                    key: ctx,
                });
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
        Ok(at)
    }
}

/// Copies a msgpack buffer onto an output, replacing the content of the
/// strings it is given (in input order) and copying every other byte.
#[derive(Debug)]
pub struct Rewriter<'a> {
    input: &'a [u8],
    /// Input bytes before this offset are written.
    copied: usize,
    /// The output's length before the first byte written, for errors.
    mark: usize,
}

impl<'a> Rewriter<'a> {
    /// Starts copying `input` onto `out` (which may already hold bytes).
    pub fn new(input: &'a [u8], out: &[u8]) -> Rewriter<'a> {
        Rewriter {
            input,
            copied: 0,
            mark: out.len(),
        }
    }

    /// Writes everything before `s`, then `s` with `content` in place of
    /// its own (see [`put_header`]). Strings must come in input order. On
    /// error `out` is back as it was before [`new`](Self::new).
    pub fn replace(
        &mut self,
        s: &Str,
        content: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), MsgpackError> {
        out.extend_from_slice(&self.input[self.copied..s.header]);
        if let Err(e) = put_header(s.family, s.class, content.len(), s.header, out) {
            out.truncate(self.mark);
            return Err(e);
        }
        out.extend_from_slice(content);
        self.copied = s.content.1;
        Ok(())
    }

    /// Writes the rest of the input.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.input[self.copied..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_writer_covers_every_format() {
        let h = |family, class, len| {
            let mut b = Vec::new();
            put_header(family, class, len, 0, &mut b).unwrap();
            b
        };
        assert_eq!(h(Family::Str, 0, 31), [0xbf]);
        assert_eq!(h(Family::Str, 0, 32), [0xd9, 32]);
        assert_eq!(h(Family::Str, 1, 3), [0xd9, 3]);
        assert_eq!(h(Family::Str, 0, 256), [0xda, 1, 0]);
        assert_eq!(h(Family::Str, 0, 65_536), [0xdb, 0, 1, 0, 0]);
        assert_eq!(h(Family::Str, 3, 0), [0xdb, 0, 0, 0, 0]);
        assert_eq!(h(Family::Bin, 1, 0), [0xc4, 0]);
        assert_eq!(h(Family::Bin, 1, 256), [0xc5, 1, 0]);
        assert_eq!(h(Family::Bin, 2, 1), [0xc5, 0, 1]);
        assert_eq!(h(Family::Bin, 1, 65_536), [0xc6, 0, 1, 0, 0]);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(
            put_header(Family::Str, 0, 1 << 32, 9, &mut Vec::new()),
            Err(MsgpackError::TooLong { at: 9 })
        );
    }
}

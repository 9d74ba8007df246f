//! Stream-learned values: once a rule redacts a secret, every later
//! occurrence of the same value in the same stream is redacted too, under
//! the same rule id, raw and in the encodings known values cover, even
//! where no rule would match it on its own (`token = 'S' … S` leaks no
//! copy of `S`).
//!
//! A stream is one [`Redactor`](super::Redactor): one input of `filter`,
//! one TCP connection of `syslog` and `tcp` (its messages are records of
//! one stream, see [`Redactor::reset`](super::Redactor::reset)), one
//! request body of `http` (the mode calls
//! [`Redactor::forget_learned`](super::Redactor::forget_learned) before
//! each body), one datagram of UDP `syslog`.
//!
//! # The definition
//!
//! The redacted output is the whole-stream result of this walk (the
//! [`oracle`](super::oracle) computes it on a whole buffer, the slow
//! obvious way):
//!
//! - **Events.** Every accepted span `[s, e)` of a rule without a `block`
//!   (`e` after the rule's `extend` run, if it has one) is a learn event at
//!   position `e`, the end of the secret, of the value
//!   `escape::decode(stream[s..e])` under that rule, when the value is
//!   [`MIN_LEN`] to [`MAX_LEN`] bytes, holds no `\r` or `\n`, and has no
//!   4-byte run twice in its first [`REPEAT_SPAN`] bytes. Events at
//!   one position are taken in span order (start, then specific before
//!   `generic`, then rule index).
//! - **The set** holds at most `cap` values ([`Options::learned_values`](
//!   super::Options::learned_values); 0 turns learning off), each with its
//!   rule (of the event that added it), the position it was last seen at,
//!   and the order it was added in.
//! - **Walk.** For each stream position `x` in order: first the events at
//!   `x`: a value already held is seen at `x`; a new one is added, seen at
//!   `x`, after evicting, when `cap` values are held, the one with the
//!   smallest (last seen, order added). Then every form ([`known::forms`](
//!   crate::rules::known::forms): raw, JSON-escaped with and without `\/`,
//!   every byte as `\u00xx` in either hex case, percent-encoded in either
//!   case (reserved bytes or every byte, a space as `%20` or `+`), base64
//!   and base64url at the three alignments) of every held value that
//!   occurs at `x` (`stream[x..x + len] == form`) is a learned span
//!   `[x, x + len)` under the value's rule, and each value with such an
//!   occurrence is seen at `x`.
//! - Learned spans join the rule spans: overlapping spans are unioned and
//!   each union is one finding, labelled by the span that starts first
//!   (see the engine's module docs). A learned span's fingerprint is the
//!   value's; where a rule span of the same rule starts at the same byte,
//!   the rule span's fingerprint is reported.
//!
//! So a value takes effect right after the secret it was learned from (an
//! occurrence starting at the secret's end counts), whatever the chunking:
//! learned spans depend only on the stream's bytes. Positions count from
//! the start of the stream; across [`reset`](super::Redactor::reset)
//! records they keep counting (a value learned in one syslog message is in
//! force from the start of the next), and `forget_learned` empties the set.
//!
//! # How occurrences are found
//!
//! Every form of a held value is at least 8 bytes long, so a 4-byte
//! window ("gram") at one of its first `stride` offsets lies inside every
//! occurrence, where `stride` is the shortest held form's length minus 3,
//! at most [`MAX_STRIDE`]. The scan reads the gram at every position that
//! is a multiple of `stride` (one load, one multiply and a bit test each)
//! and looks closer at the rare ones whose bit is set: an index of
//! `(gram, value, offset)` for each form's first `MAX_STRIDE` offsets,
//! grams ASCII case-folded so both hex cases share entries. Candidates are
//! checked against each form's first 8 bytes, then byte for byte. The gram
//! `\u00`, shared by every `\u00xx` form, is never looked up itself: its
//! entries are keyed by the gram two bytes on, which holds the escaped
//! byte.
//!
//! **Cost.** Per byte, one gram read every `stride` bytes (5 to 16: short
//! held values make it dense) plus the bitset hits. The bitset keeps 24
//! to 32 bits per entry up to its largest size, 2^17 bits (the bits of a
//! key an entry keeps), enough for about 5,400 entries; a value
//! has about 100 (its distinct forms' first 16 offsets, hex cases
//! sharing), so up to about 50 held values (the default is 16) the scan's
//! cost per byte does not grow with the held count. Past that the bitset
//! fills (about half its bits at 1,024 values), and
//! the share of read points that probe the table and check a candidate
//! grows with the held count, up to [`MAX_CAP`]. Learning and eviction
//! update the index entry by entry (about 100 each way): removal shifts
//! the entries after it back (no tombstones), the table is rebuilt from
//! its own entries when it is 5/8 full or under 1/8 full, and the bitset
//! when removals have left more stale bits than twice the live entries
//! (both amortised). An entry's probe runs along the entries of the same
//! key, and the grams of `\u00xx` forms carry little of the value
//! (`u004`, `1\u0`: every held value of letters has entries under them),
//! so that work grows with the held count: measured in release, a new
//! value costs about 10 µs at the default cap (a stream with a new secret
//! on every line runs about 3 times slower than without learning) and
//! about 40 µs at 1,024. The work at a true gram match grows with the
//! values sharing that gram at that offset: values crafted to share a
//! long prefix and a flood of that prefix make every read point a
//! candidate of each, so that worst case is bounded by the cap, not by a
//! constant. A value is not learned when a 4-byte run repeats in its
//! first [`REPEAT_SPAN`] bytes (`aaaaaaaa…`, `abcabcabc…`): each repeat is
//! one more index entry with the same gram, so a flood of such a run
//! would make every read point a candidate several times over; random
//! secrets almost never have one.
//!
//! **Order.** A learn event waits in a queue, ordered as above, until the
//! scan reaches its position: the scan only decides positions before the
//! engine's release limit, where every span ending at or before them is
//! known, and applies the events at a position before looking up
//! occurrences there. Bytes are released only once the scan has decided
//! every position before them; a candidate whose form runs past the
//! buffered bytes waits for more (no form holds a line break, so a
//! finished line is always decided), and an idle flush holds only bytes
//! that begin a form.
//!
//! # Memory and secrecy
//!
//! Per stream: at most `cap` values of at most [`MAX_LEN`] bytes, their
//! index and the queue of events not yet reached (spans inside the
//! engine's window): about 2.1 KB per held value of 36 bytes (34 KB for
//! the default 16), 1.5 to 1.8 MB for [`MAX_CAP`] values of 36 to 256
//! bytes (at most about 5 MB, were every form of every value distinct),
//! nothing before the first value is learned. Values live only here: no
//! log line, metric, error or `Debug` output shows one, and a value's
//! bytes (and its forms' first bytes) are overwritten with zeros when it
//! is evicted, forgotten or dropped. Best effort: its index entries (17
//! bits of each case-folded 4-byte gram, mixed by an odd multiplier) are
//! removed with it and the table's old copies zeroed when it is rebuilt,
//! but the bitset keeps one bit per such key until its next rebuild.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use super::fingerprint::{Fingerprint, Fingerprinter};
use crate::rules::Rule;

/// Shortest value learned, in bytes (as for known values).
pub const MIN_LEN: usize = crate::rules::known::MIN_LEN;

/// Longest value learned, in bytes: longer secrets are not learned.
pub const MAX_LEN: usize = 256;

/// Largest sampling stride: the scan reads one gram every this many
/// bytes when every held form is at least `MAX_STRIDE + 3` bytes long.
pub const MAX_STRIDE: u64 = 16;

/// Most values one stream holds (slots fit the index's 10 bits).
pub const MAX_CAP: usize = 1 << 10;

/// Bytes in a gram.
const GRAM: usize = 4;

/// Bytes of a form its index entries come from: a gram at each of the
/// first [`MAX_STRIDE`] offsets, and the two bytes a shifted key reads
/// past a [`BORING`] one.
const PREFIX: usize = MAX_STRIDE as usize + GRAM - 1 + 2;

/// The gram every `\u00xx` form repeats; looked up by the gram after it.
const BORING: u32 = u32::from_le_bytes(*b"\\u00");

/// Told apart from plain grams in the index: a gram two bytes after a
/// [`BORING`] one.
const SHIFTED: u32 = 0x5bd1_e995;

/// Whether spans of `rule` teach their values: not blocks (PEM keys,
/// which span lines).
pub fn learns_from(rule: &Rule) -> bool {
    rule.block.is_none()
}

/// Longest raw secret whose value may be learned: every byte of the
/// value escaped.
const MAX_RAW: usize = MAX_LEN * crate::rules::escape::MAX_FORM_LEN;

/// Whether `value` (decoded) is learned: [`MIN_LEN`] to [`MAX_LEN`] bytes,
/// on one line, and no 4-byte run twice in its first [`REPEAT_SPAN`]
/// bytes (`aaaaaaaa…`, `abcabcabc…` are not secret-shaped, and each
/// repeat would make every read point of a flood of them a candidate once
/// more).
pub fn learnable(value: &[u8]) -> bool {
    let head = &value[..value.len().min(REPEAT_SPAN)];
    let run = |i: usize| &head[i..i + GRAM];
    let runs = head.len().saturating_sub(GRAM - 1);
    let repeats = (1..runs).any(|i| (0..i).any(|j| run(j) == run(i)));
    (MIN_LEN..=MAX_LEN).contains(&value.len())
        && !value.iter().any(|&b| b == b'\n' || b == b'\r')
        && !repeats
}

/// How far into a value [`learnable`] looks for a repeated 4-byte run:
/// the bytes the index's grams come from.
pub const REPEAT_SPAN: usize = MAX_STRIDE as usize + GRAM - 1;

// === forms ===

/// One way a value is written (the same list as
/// [`known::forms`](crate::rules::known::forms), written byte by byte
/// here so the oracle's use of that list checks this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Raw,
    Json { slash: bool },
    Percent { full: bool, upper: bool, plus: bool },
    Unicode { upper: bool },
    Base64 { align: u8, url: bool },
}

const FORMS: [Form; 19] = [
    Form::Raw,
    Form::Json { slash: false },
    Form::Json { slash: true },
    Form::Percent {
        full: false,
        upper: false,
        plus: false,
    },
    Form::Percent {
        full: false,
        upper: false,
        plus: true,
    },
    Form::Percent {
        full: false,
        upper: true,
        plus: false,
    },
    Form::Percent {
        full: false,
        upper: true,
        plus: true,
    },
    Form::Percent {
        full: true,
        upper: false,
        plus: false,
    },
    Form::Percent {
        full: true,
        upper: false,
        plus: true,
    },
    Form::Percent {
        full: true,
        upper: true,
        plus: false,
    },
    Form::Percent {
        full: true,
        upper: true,
        plus: true,
    },
    Form::Unicode { upper: false },
    Form::Unicode { upper: true },
    Form::Base64 {
        align: 0,
        url: false,
    },
    Form::Base64 {
        align: 1,
        url: false,
    },
    Form::Base64 {
        align: 2,
        url: false,
    },
    Form::Base64 {
        align: 0,
        url: true,
    },
    Form::Base64 {
        align: 1,
        url: true,
    },
    Form::Base64 {
        align: 2,
        url: true,
    },
];

fn hex_digit(n: u8, upper: bool) -> u8 {
    let digits = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    digits[usize::from(n & 15)]
}

/// Where a form's bytes go as they are made: [`put`](Out::put) takes the
/// next few and says whether to go on.
trait Out {
    fn put(&mut self, bytes: &[u8]) -> bool;
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        self.extend_from_slice(bytes);
        true
    }
}

/// Compares a form with text as it is made, stopping at the first
/// difference or where the text ends.
struct Compare<'a> {
    text: &'a [u8],
    at: usize,
    differs: bool,
    ran_out: bool,
}

impl Out for Compare<'_> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        let rest = &self.text[self.at..];
        let n = bytes.len().min(rest.len());
        if bytes[..n] != rest[..n] {
            self.differs = true;
            return false;
        }
        self.at += n;
        self.ran_out = n < bytes.len();
        !self.ran_out
    }
}

/// Keeps the first bytes of a form.
struct Take<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
}

impl Out for Take<'_> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        let n = bytes.len().min(self.left);
        self.out.extend_from_slice(&bytes[..n]);
        self.left -= n;
        self.left > 0
    }
}

/// Whether a base64 encoding uses a character the url alphabet writes
/// differently.
#[derive(Default)]
struct UsesPlusOrSlash(bool);

impl Out for UsesPlusOrSlash {
    fn put(&mut self, bytes: &[u8]) -> bool {
        self.0 |= bytes.iter().any(|&c| c == b'+' || c == b'/');
        !self.0
    }
}

/// Which of [`FORMS`] `v` has, as bits: each variant that differs from
/// the others of its family (no `\/` form without a `/`, no upper-case
/// one without a hex letter, ...). Forms of different families never
/// coincide for a learnable value but in freak cases, where a form is
/// then only indexed twice.
fn variants(v: &[u8]) -> u32 {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let letter = |b: u8| b >> 4 >= 10 || b & 15 >= 10;
    let json = v.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
    let slash = v.contains(&b'/');
    let reserved = v.iter().any(|&b| !unreserved(b));
    let space = v.contains(&b' ');
    let upper_part = v.iter().any(|&b| !unreserved(b) && b != b' ' && letter(b));
    let upper_full = v.iter().any(|&b| b != b' ' && letter(b));
    let upper_unicode = v.iter().any(|&b| letter(b));
    let mut bits = 1u32;
    bits |= u32::from(json) << 1;
    bits |= u32::from(slash) << 2;
    for (i, &form) in FORMS.iter().enumerate().skip(3) {
        let keep = match form {
            Form::Percent { full, upper, plus } => {
                (full || reserved)
                    && (!upper || if full { upper_full } else { upper_part })
                    && (!plus || space)
            }
            Form::Unicode { upper } => !upper || upper_unicode,
            Form::Base64 { align, url } => {
                let mut uses = UsesPlusOrSlash::default();
                base64_aligned(v, usize::from(align), false, &mut uses);
                !url || uses.0
            }
            Form::Raw | Form::Json { .. } => false,
        };
        bits |= u32::from(keep) << i;
    }
    bits
}

/// What comparing a form with the text at a position found.
enum Fit {
    /// The form is there, this long.
    Whole(usize),
    /// The text ends inside a prefix of the form.
    Prefix,
    /// The text differs.
    No,
}

impl Form {
    /// Writes `v` in this form to `out` (cleared first).
    #[cfg(test)]
    fn encode(self, v: &[u8], out: &mut Vec<u8>) {
        out.clear();
        self.emit(v, out);
    }

    /// The first `n` bytes of `v` in this form (all of it when shorter)
    /// into `out` (cleared first).
    fn prefix(self, v: &[u8], n: usize, out: &mut Vec<u8>) {
        out.clear();
        self.emit(v, &mut Take { out, left: n });
    }

    /// The length of `v` in this form.
    fn len(self, v: &[u8]) -> usize {
        match self {
            Form::Raw => v.len(),
            Form::Base64 { align, .. } => {
                let a = usize::from(align);
                8 * (a + v.len()) / 6 - (8 * a).div_ceil(6)
            }
            _ => {
                let mut buf = [0u8; 6];
                v.iter().map(|&b| self.escape(b, &mut buf)).sum()
            }
        }
    }

    /// Compares `v` in this form with the start of `text`, without
    /// writing the form anywhere.
    fn fit(self, v: &[u8], text: &[u8]) -> Fit {
        let mut c = Compare {
            text,
            at: 0,
            differs: false,
            ran_out: false,
        };
        self.emit(v, &mut c);
        match (c.differs, c.ran_out) {
            (true, _) => Fit::No,
            (false, true) => Fit::Prefix,
            (false, false) => Fit::Whole(c.at),
        }
    }

    /// Makes `v` in this form, a few bytes at a time, into `out` until it
    /// says stop.
    fn emit(self, v: &[u8], out: &mut impl Out) {
        match self {
            Form::Raw => {
                out.put(v);
            }
            Form::Base64 { align, url } => base64_aligned(v, usize::from(align), url, out),
            _ => {
                let mut buf = [0u8; 6];
                for &b in v {
                    let n = self.escape(b, &mut buf);
                    if !out.put(&buf[..n]) {
                        return;
                    }
                }
            }
        }
    }

    /// Byte `b` in a byte-wise form, into `buf`; its length.
    fn escape(self, b: u8, buf: &mut [u8; 6]) -> usize {
        let mut put = |bytes: &[u8]| {
            buf[..bytes.len()].copy_from_slice(bytes);
            bytes.len()
        };
        let hex = |upper: bool| [hex_digit(b >> 4, upper), hex_digit(b, upper)];
        match self {
            Form::Json { slash } => match b {
                b'"' => put(b"\\\""),
                b'\\' => put(b"\\\\"),
                b'/' if slash => put(b"\\/"),
                b'\t' => put(b"\\t"),
                b'\n' => put(b"\\n"),
                b'\r' => put(b"\\r"),
                0..=0x1f => {
                    let [h, l] = hex(false);
                    put(&[b'\\', b'u', b'0', b'0', h, l])
                }
                _ => put(&[b]),
            },
            Form::Percent { full, upper, plus } => {
                let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
                match b {
                    _ if unreserved && !full => put(&[b]),
                    b' ' if plus => put(b"+"),
                    _ => {
                        let [h, l] = hex(upper);
                        put(&[b'%', h, l])
                    }
                }
            }
            Form::Unicode { upper } => {
                let [h, l] = hex(upper);
                put(&[b'\\', b'u', b'0', b'0', h, l])
            }
            Form::Raw | Form::Base64 { .. } => put(&[b]),
        }
    }
}

/// The base64 characters that depend on `v` alone when it starts at byte
/// `align` of a group of three: characters `ceil(8·align/6)` up to
/// `floor(8·(align + len)/6)` of the encoding of `align` zero bytes and `v`.
fn base64_aligned(v: &[u8], align: usize, url: bool, out: &mut impl Out) {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let byte = |j: usize| -> u16 {
        match j.checked_sub(align) {
            Some(i) => u16::from(*v.get(i).unwrap_or(&0)),
            None => 0,
        }
    };
    let (from, to) = ((8 * align).div_ceil(6), 8 * (align + v.len()) / 6);
    for c in from..to {
        let (j, r) = (6 * c / 8, 6 * c % 8);
        let pair = (byte(j) << 8) | byte(j + 1);
        if !out.put(&[alphabet[usize::from((pair >> (10 - r)) & 63)]]) {
            return;
        }
    }
}

// === the index ===

/// A gram as the index keys it: ASCII case folded, then mixed (a
/// bijection, so distinct folded grams never share a key).
#[inline]
fn plain(g: u32) -> u32 {
    (g | 0x2020_2020).wrapping_mul(0x9e37_79b1)
}

#[inline]
fn shifted(g: u32) -> u32 {
    plain(g) ^ SHIFTED
}

fn gram(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The key of `form`'s gram at offset `o` (see [`BORING`]).
fn key(form: &[u8], o: usize) -> u32 {
    let g = gram(&form[o..]);
    if g == BORING && o + 6 <= form.len() {
        shifted(gram(&form[o + 2..]))
    } else {
        plain(g)
    }
}

const EMPTY: u32 = 0;

/// Bits of a key an entry keeps; the bitset and the table's homes use no
/// more, so both are rebuilt from the table alone.
const KEY_BITS: u32 = 17;

/// The part of key `h` an entry keeps.
#[inline]
fn kept(h: u32) -> u32 {
    h >> (32 - KEY_BITS)
}

/// An entry: the kept key bits, the value's slot (10 bits) and the offset
/// plus one (5 bits, so an entry is never [`EMPTY`]).
fn pack(h: u32, slot: u16, off: u8) -> u32 {
    (kept(h) << 15) | (u32::from(slot) << 5) | (u32::from(off) + 1)
}

fn unpack(e: u32) -> (u32, u16, u8) {
    (e >> 15, ((e >> 5) & 0x3ff) as u16, ((e & 31) - 1) as u8)
}

/// `(key, slot, offset)` entries in a linear-probing table (removal
/// shifts the entries after back, so chains stay short under churn)
/// behind a bitset of keys: the bitset answers "no" for nearly every gram
/// the scan reads without touching the table (until it fills, see the
/// module docs' cost). Both use only the kept bits
/// of a key ([`KEY_BITS`]), so growing, shrinking or clearing stale bits
/// rebuilds them from the table, without the values.
#[derive(Default)]
struct Index {
    bits: Vec<u64>,
    bit_shift: u32,
    table: Vec<u32>,
    table_shift: u32,
    /// Entries held.
    live: usize,
    /// Entries removed since the bitset was built (their bits stay set).
    stale: usize,
    /// Times the table was rebuilt (tests check it stays logarithmic).
    rebuilds: u32,
}

impl Index {
    #[inline]
    fn may_hold(&self, h: u32) -> bool {
        let i = h >> self.bit_shift;
        (self.bits[(i >> 6) as usize] >> (i & 63)) & 1 != 0
    }

    /// Where kept key bits `k` start probing.
    fn home(&self, k: u32) -> usize {
        (k.wrapping_mul(0x85eb_ca6b) >> self.table_shift) as usize
    }

    /// Adds an entry, growing (and rebuilding) first when the table is
    /// full or the bitset is too dense while it may still grow.
    fn insert(&mut self, h: u32, slot: u16, off: u8) {
        let bits = self.bits.len() * 64;
        let dense = (self.live + 1) * 24 > bits && bits < 1 << KEY_BITS;
        if (self.live + 1) * 8 > self.table.len() * 5 || dense {
            self.rebuild(self.live + 1);
        }
        self.put(pack(h, slot, off));
        self.set_bit(kept(h));
    }

    fn put(&mut self, entry: u32) {
        let mask = self.table.len() - 1;
        let mut i = self.home(entry >> 15);
        while self.table[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.table[i] = entry;
        self.live += 1;
    }

    fn set_bit(&mut self, k: u32) {
        let i = (k << (32 - KEY_BITS)) >> self.bit_shift;
        self.bits[(i >> 6) as usize] |= 1 << (i & 63);
    }

    fn remove(&mut self, h: u32, slot: u16, off: u8) {
        let (mask, entry) = (self.table.len() - 1, pack(h, slot, off));
        let mut hole = self.home(kept(h));
        while self.table[hole] != entry {
            if self.table[hole] == EMPTY {
                return;
            }
            hole = (hole + 1) & mask;
        }
        // Shift back the entries after the hole that may move into it (their
        // home is not cyclically in `(hole, j]`), until an empty cell.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = self.table[j];
            if e == EMPTY {
                break;
            }
            let home = self.home(e >> 15);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.table[hole] = e;
                hole = j;
            }
        }
        self.table[hole] = EMPTY;
        self.live -= 1;
        self.stale += 1;
        if self.table.len() > 256 && self.live * 8 < self.table.len() {
            self.rebuild(self.live);
        } else if self.stale > 2 * self.live.max(256) {
            self.rebuild_bits();
        }
    }

    /// Whether an entry may have key `h` (past the bitset).
    fn holds(&self, h: u32) -> bool {
        let (mask, k) = (self.table.len() - 1, kept(h));
        let mut i = self.home(k);
        while self.table[i] != EMPTY {
            if self.table[i] >> 15 == k {
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// The `(slot, offset)` of every entry that may have key `h`.
    fn candidates(&self, h: u32, out: &mut Vec<(u16, u8)>) {
        if self.table.is_empty() || !self.may_hold(h) {
            return;
        }
        let (mask, k) = (self.table.len() - 1, kept(h));
        let mut i = self.home(k);
        while self.table[i] != EMPTY {
            let e = self.table[i];
            if e >> 15 == k {
                let (_, slot, off) = unpack(e);
                out.push((slot, off));
            }
            i = (i + 1) & mask;
        }
    }

    /// Sizes the table and bitset for `n` entries (with room to grow) and
    /// puts the live entries back.
    fn rebuild(&mut self, n: usize) {
        self.rebuilds += 1;
        let mut old = std::mem::take(&mut self.table);
        let size = (n * 2).next_power_of_two().max(64);
        self.table = vec![EMPTY; size];
        self.table_shift = 32 - size.trailing_zeros();
        self.live = 0;
        for &e in old.iter().filter(|&&e| e != EMPTY) {
            self.put(e);
        }
        wipe_words(&mut old);
        self.rebuild_bits();
    }

    /// The bitset anew from the table, sized for its entries: no stale
    /// bits.
    fn rebuild_bits(&mut self) {
        let bits = (self.live.max(64) * 32)
            .next_power_of_two()
            .clamp(1 << 12, 1 << KEY_BITS);
        self.bits.clear();
        self.bits.resize(bits / 64, 0);
        self.bit_shift = 32 - bits.trailing_zeros();
        self.stale = 0;
        // Every `\u00` point is looked at (see [`BORING`]).
        self.set_bit(kept(plain(BORING)));
        for i in 0..self.table.len() {
            let e = self.table[i];
            if e != EMPTY {
                self.set_bit(e >> 15);
            }
        }
    }

    fn clear(&mut self) {
        wipe_words(&mut self.table);
        *self = Index::default();
    }

    fn memory(&self) -> usize {
        self.bits.capacity() * 8 + self.table.capacity() * 4
    }
}

/// Overwrites `v` with zeros in a way the optimiser keeps.
fn wipe(v: &mut [u8]) {
    v.fill(0);
    std::hint::black_box(&v);
}

fn wipe_words(v: &mut [u32]) {
    v.fill(0);
    std::hint::black_box(&v);
}

// === the set ===

/// A learn event not yet reached by the scan.
struct Event {
    /// Where it takes effect: the end of its secret.
    at: u64,
    /// Order among events at one position: the span's start, generic,
    /// rule index.
    order: (u64, bool, u32),
    value: Vec<u8>,
}

/// The secret of an `extend` rule whose run is still open: its bytes so
/// far (none once too long to be learned).
struct Run {
    rule: u32,
    order: (u64, bool, u32),
    bytes: Vec<u8>,
    too_long: bool,
}

/// A held value.
struct Value {
    bytes: Vec<u8>,
    rule: u32,
    /// Stream position (counted across records) it was last seen at.
    seen: u64,
    /// Order added, breaking ties in `seen`.
    seq: u64,
    /// Which of [`FORMS`] it is indexed and checked in ([`variants`]), as
    /// bits.
    forms: u32,
    /// The distinct forms' first bytes.
    heads: Vec<Head>,
    /// Its shortest form's length.
    min_len: usize,
    hash: u64,
    /// Made at its first occurrence (most values never recur).
    fingerprint: Option<Fingerprint>,
}

/// The start of one form of a value: enough to turn most candidates
/// down, and to tell whether a few bytes may begin the form, without
/// encoding it.
struct Head {
    form: Form,
    len: usize,
    bytes: [u8; HEAD],
}

/// Bytes of a form kept in its [`Head`] (every form is at least this long).
const HEAD: usize = MIN_LEN;

/// A learned occurrence: a span for the engine to add.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The rule the value was learned under.
    pub rule: u32,
    /// The value's fingerprint.
    pub fingerprint: Fingerprint,
}

/// The stream bytes a scan reads: `[base, base + bytes.len())`, and
/// whether the stream has ended.
pub(super) struct Window<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    pub base: u64,
    /// No bytes follow.
    pub eof: bool,
}

impl Window<'_> {
    fn end(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }

    fn from(&self, pos: u64) -> &[u8] {
        &self.bytes[(pos - self.base) as usize..]
    }

    /// Whether no occurrence can cover `pos` and run past the window: the
    /// stream ended, or a line break follows `pos` (no form holds one).
    fn closed_after(&self, pos: u64) -> bool {
        self.eof || memchr::memchr(b'\n', self.from(pos)).is_some()
    }
}

/// What a check of one value at one position found.
enum Verdict {
    /// Its longest form occurring there, this long.
    Match(usize),
    /// None of its forms occurs there, whatever bytes follow.
    None,
    /// A form may occur there once more bytes arrive.
    Open,
}

/// One stream's learned values. See the module docs.
pub(super) struct Learned {
    /// Values held at most; 0: learning is off.
    cap: usize,
    fingerprinter: Arc<Fingerprinter>,
    slots: Vec<Option<Value>>,
    free: Vec<u16>,
    by_hash: HashMap<u64, u16>,
    hasher: RandomState,
    /// Held values by (last seen, order added): the first is evicted next.
    recency: BTreeMap<(u64, u64), u16>,
    next_seq: u64,
    /// Held values by their shortest form's length, for lengths that
    /// bound the stride below [`MAX_STRIDE`].
    short: [u32; MAX_STRIDE as usize + GRAM],
    /// Held forms by first byte, and by first two bytes: whether one or
    /// two bytes at the end of the window may begin a form.
    firsts: [u32; 256],
    pairs: HashMap<u16, u32>,
    index: Index,
    /// Learn events not yet reached, in walk order.
    events: VecDeque<Event>,
    /// Open runs, one per rule at most (as the engine's extenders).
    runs: Vec<Run>,
    /// Every occurrence starting before this has been found (and every
    /// event at or before it applied).
    frontier: u64,
    /// Stream offset of the current record's start, for `seen`.
    record_base: u64,
    scratch: Vec<u8>,
    entries: Vec<(u32, u8)>,
    cands: Vec<(u16, u8)>,
    hits: Vec<(u64, usize, u16)>,
    found: VecDeque<Found>,
    /// Candidates checked (tests bound the work per byte with it).
    checks: u64,
}

impl fmt::Debug for Learned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the values.
        f.debug_struct("Learned")
            .field("cap", &self.cap)
            .field("held", &self.recency.len())
            .field("pending", &self.events.len())
            .field("frontier", &self.frontier)
            .finish_non_exhaustive()
    }
}

impl Drop for Learned {
    fn drop(&mut self) {
        self.forget();
        wipe(&mut self.scratch);
    }
}

impl Learned {
    /// An empty set holding at most `cap` values (0: off), fingerprinting
    /// them with `fingerprinter`.
    pub(super) fn new(cap: usize, fingerprinter: Arc<Fingerprinter>) -> Learned {
        Learned {
            cap: cap.min(MAX_CAP),
            fingerprinter,
            slots: Vec::new(),
            free: Vec::new(),
            by_hash: HashMap::new(),
            hasher: RandomState::new(),
            recency: BTreeMap::new(),
            next_seq: 0,
            short: [0; MAX_STRIDE as usize + GRAM],
            firsts: [0; 256],
            pairs: HashMap::new(),
            index: Index::default(),
            events: VecDeque::new(),
            runs: Vec::new(),
            frontier: 0,
            record_base: 0,
            scratch: Vec::new(),
            entries: Vec::new(),
            cands: Vec::new(),
            hits: Vec::new(),
            found: VecDeque::new(),
            checks: 0,
        }
    }

    /// Every occurrence starting before this is found.
    pub(super) fn frontier(&self) -> u64 {
        self.frontier
    }

    /// Heap bytes held.
    pub(super) fn memory(&self) -> usize {
        let values: usize = self
            .slots
            .iter()
            .flatten()
            .map(|v| v.bytes.capacity() + v.heads.capacity() * std::mem::size_of::<Head>())
            .sum();
        let events: usize = self.events.iter().map(|e| e.value.capacity()).sum();
        let runs: usize = self.runs.iter().map(|r| r.bytes.capacity()).sum();
        values
            + self.slots.capacity() * std::mem::size_of::<Option<Value>>()
            + events
            + runs
            + self.index.memory()
            + self.scratch.capacity()
            + self.entries.capacity() * 8
            + self.cands.capacity() * 4
            + self.hits.capacity() * 24
            + self.found.capacity() * std::mem::size_of::<Found>()
            + (self.by_hash.capacity() + self.pairs.capacity()) * 16
            + self.recency.len() * 32
    }

    /// Records a learn event: the rule `rule.1` (`generic` or not:
    /// `rule.0`) accepted the secret `[start, end)`, whose bytes are `raw`
    /// (escaped forms decoded here). With `open`, the rule's `extend` run
    /// goes on: the event waits for [`run_closed`](Self::run_closed).
    /// Ignored when learning is off or the value is not [`learnable`].
    pub(super) fn learn(
        &mut self,
        start: u64,
        end: u64,
        rule: (bool, u32),
        raw: &[u8],
        open: bool,
    ) {
        if self.cap == 0 {
            return;
        }
        let order = (start, rule.0, rule.1);
        if open {
            let too_long = raw.len() > MAX_RAW;
            let bytes = if too_long { Vec::new() } else { raw.to_vec() };
            self.runs.push(Run {
                rule: rule.1,
                order,
                bytes,
                too_long,
            });
            return;
        }
        self.push_event(end, order, raw);
    }

    /// The open run of `rule` took `more` bytes.
    pub(super) fn run_grew(&mut self, rule: u32, more: &[u8]) {
        if let Some(run) = self.runs.iter_mut().find(|r| r.rule == rule) {
            if !run.too_long && run.bytes.len() + more.len() > MAX_RAW {
                run.too_long = true;
                wipe(&mut run.bytes);
                run.bytes = Vec::new();
            } else if !run.too_long {
                run.bytes.extend_from_slice(more);
            }
        }
    }

    /// The open run of `rule` ended at `end`: its secret is learned there.
    pub(super) fn run_closed(&mut self, rule: u32, end: u64) {
        if let Some(i) = self.runs.iter().position(|r| r.rule == rule) {
            let mut run = self.runs.swap_remove(i);
            if !run.too_long {
                self.push_event(end, run.order, &run.bytes);
            }
            wipe(&mut run.bytes);
        }
    }

    fn push_event(&mut self, at: u64, order: (u64, bool, u32), raw: &[u8]) {
        let value = crate::rules::escape::decode(raw);
        if !learnable(&value) {
            return;
        }
        let e = Event {
            at,
            order,
            value: value.into_owned(),
        };
        let i = self
            .events
            .partition_point(|x| (x.at, x.order) <= (e.at, e.order));
        self.events.insert(i, e);
    }

    /// The next learned occurrence found by [`scan`](Self::scan).
    pub(super) fn pop_found(&mut self) -> Option<Found> {
        self.found.pop_front()
    }

    /// A new record of the same stream starts at offset 0 after `end`
    /// bytes: held values stay in force, positions restart.
    pub(super) fn next_record(&mut self, end: u64) {
        self.record_base += end;
        self.frontier = 0;
        while let Some(mut e) = self.events.pop_front() {
            wipe(&mut e.value);
        }
        for mut run in self.runs.drain(..) {
            wipe(&mut run.bytes);
        }
        self.found.clear();
    }

    /// Forgets every value (a new stream begins on the same redactor).
    pub(super) fn forget(&mut self) {
        if self.slots.is_empty() && self.events.is_empty() && self.runs.is_empty() {
            return;
        }
        for mut run in self.runs.drain(..) {
            wipe(&mut run.bytes);
        }
        for v in self.slots.iter_mut().flatten() {
            wipe(&mut v.bytes);
            v.heads.iter_mut().for_each(|h| wipe(&mut h.bytes));
        }
        while let Some(mut e) = self.events.pop_front() {
            wipe(&mut e.value);
        }
        self.slots = Vec::new();
        self.free = Vec::new();
        self.by_hash = HashMap::new();
        self.recency = BTreeMap::new();
        self.short = [0; MAX_STRIDE as usize + GRAM];
        self.firsts = [0; 256];
        self.pairs = HashMap::new();
        self.index.clear();
        self.found.clear();
    }
}

// === carrying the set across pieces of one stream ===

/// The values a stream holds at a point, oldest first, each with its rule:
/// what a redactor starting there must hold to go on as the stream would
/// (`filter --threads` redacts pieces of one stream on several threads,
/// see `modes::pieces`). Wiped when dropped; never written anywhere.
#[derive(Default)]
pub struct Carried {
    values: Vec<(Vec<u8>, u32)>,
}

impl fmt::Debug for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the values.
        f.debug_struct("Carried")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Drop for Carried {
    fn drop(&mut self) {
        for (v, _) in &mut self.values {
            wipe(v);
        }
    }
}

impl Clone for Carried {
    fn clone(&self) -> Carried {
        Carried {
            values: self.values.clone(),
        }
    }
}

impl PartialEq for Carried {
    fn eq(&self, other: &Carried) -> bool {
        self.values == other.values
    }
}

impl Carried {
    /// Whether no value is carried.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The set after a later stretch of the stream that held `newer` at
    /// its end (starting from an empty set) and met none of these values:
    /// these are older than all of `newer`, so they go first and are
    /// evicted first; at most `cap` stay.
    pub fn then(&mut self, mut newer: Carried, cap: usize) {
        let mut all = std::mem::take(&mut self.values);
        all.append(&mut newer.values);
        let extra = all.len().saturating_sub(cap);
        for (v, _) in all.iter_mut().take(extra) {
            wipe(v);
        }
        self.values = all.split_off(extra);
    }
}

impl Learned {
    /// The held values, oldest first.
    pub(super) fn carried(&self) -> Carried {
        let values = self
            .recency
            .values()
            .map(|&slot| {
                let v = self.value(slot);
                (v.bytes.clone(), v.rule)
            })
            .collect();
        Carried { values }
    }

    /// Holds `c`'s values (a new stream that goes on from where they were
    /// held), before any byte is scanned: they are older than every value
    /// learned from here on.
    pub(super) fn seed(&mut self, c: &Carried) {
        debug_assert!(self.recency.is_empty() && self.events.is_empty());
        let skip = c.values.len().saturating_sub(self.cap);
        for (bytes, rule) in &c.values[skip..] {
            let hash = self.hasher.hash_one(bytes);
            self.add(bytes.clone(), *rule, self.record_base, hash);
        }
    }

    /// Whether nothing is waiting: no event or open run, and every
    /// occurrence starting before `end` is found.
    pub(super) fn settled(&self, end: u64) -> bool {
        self.events.is_empty() && self.runs.is_empty() && self.frontier >= end
    }
}

/// A set kept beside a [`Carried`] one to ask whether its values occur in
/// a stretch of the stream, indexed once rather than at every question.
#[derive(Debug)]
pub struct Checker {
    set: Learned,
    /// The `seen` of the next value added: values added later are newer.
    clock: u64,
}

impl Checker {
    /// An empty set of at most `cap` values.
    pub fn new(cap: usize, fingerprinter: Arc<Fingerprinter>) -> Checker {
        Checker {
            set: Learned::new(cap, fingerprinter),
            clock: 0,
        }
    }

    /// Holds exactly `c`'s values.
    pub fn set_to(&mut self, c: &Carried) {
        self.set.forget();
        self.clock = 0;
        self.extend(c);
    }

    /// Adds `newer`'s values as the newest, evicting the oldest past the
    /// cap: as [`Carried::then`] does.
    pub fn extend(&mut self, newer: &Carried) {
        if self.set.cap == 0 {
            return;
        }
        for (bytes, rule) in &newer.values {
            self.clock += 1;
            if self.set.recency.len() >= self.set.cap {
                if let Some((_, &slot)) = self.set.recency.first_key_value() {
                    self.set.evict(slot);
                }
            }
            let hash = self.set.hasher.hash_one(bytes);
            self.set.add(bytes.clone(), *rule, self.clock, hash);
        }
    }

    /// Whether any form of a held value occurs in `hay` (a whole stretch
    /// of the stream): a redactor holding these values would find a learned
    /// occurrence there.
    pub fn occurs(&mut self, hay: &[u8]) -> bool {
        if self.set.recency.is_empty() {
            return false;
        }
        let l = &mut self.set;
        l.frontier = 0;
        l.record_base = 0;
        let w = Window {
            bytes: hay,
            base: 0,
            eof: true,
        };
        l.scan(&w, hay.len() as u64, true);
        let found = l.pop_found().is_some();
        l.found.clear();
        found
    }
}

// === keeping the set ===

/// Appends the `(key, offset)` of the index entries of one form, from its
/// first [`PREFIX`] bytes (all of it when shorter).
fn form_keys(prefix: &[u8], out: &mut Vec<(u32, u8)>) {
    let offsets = (prefix.len() - (GRAM - 1)).min(MAX_STRIDE as usize);
    out.extend((0..offsets).map(|o| (key(prefix, o), o as u8)));
}

/// `(key, offset)` of every index entry of `bytes`, whose forms are
/// `forms`, into `out`, each once for nearly every value: an upper-case
/// hex form adds nothing (its lower-case twin, always among `forms` with
/// it, has the same case-folded keys), nor does a form whose first
/// [`PREFIX`] bytes are an earlier one's. (A repeat is harmless: it is
/// inserted and removed as often, and checked twice.)
fn entries_of(bytes: &[u8], forms: u32, scratch: &mut Vec<u8>, out: &mut Vec<(u32, u8)>) {
    out.clear();
    let mut seen = [[0u8; PREFIX + 1]; FORMS.len()];
    let mut n = 0;
    for (i, form) in FORMS.iter().enumerate() {
        let upper = matches!(
            form,
            Form::Percent { upper: true, .. } | Form::Unicode { upper: true }
        );
        if forms & (1 << i) == 0 || upper {
            continue;
        }
        form.prefix(bytes, PREFIX, scratch);
        // Its length, then its bytes.
        let mut this = [0u8; PREFIX + 1];
        this[0] = scratch.len() as u8;
        this[1..=scratch.len()].copy_from_slice(scratch);
        if !seen[..n].contains(&this) {
            seen[n] = this;
            n += 1;
            form_keys(scratch, out);
        }
        wipe(&mut this);
    }
    seen.iter_mut().for_each(|s| wipe(s));
    wipe(scratch);
}

impl Learned {
    /// Applies the events at or before the frontier.
    fn apply_events(&mut self) {
        while self.events.front().is_some_and(|e| e.at <= self.frontier) {
            let e = self.events.pop_front().expect("front event");
            self.apply(e);
        }
    }

    fn apply(&mut self, mut e: Event) {
        let at = self.record_base + e.at;
        let hash = self.hasher.hash_one(&e.value);
        if let Some(&slot) = self.by_hash.get(&hash) {
            if self.value(slot).bytes == e.value {
                self.touch(slot, at);
                wipe(&mut e.value);
                return;
            }
        }
        if self.recency.len() >= self.cap {
            if let Some((_, &slot)) = self.recency.first_key_value() {
                self.evict(slot);
            }
        }
        self.add(e.value, e.order.2, at, hash);
    }

    fn value(&self, slot: u16) -> &Value {
        self.slots[usize::from(slot)]
            .as_ref()
            .expect("indexed and listed slots hold a value")
    }

    /// The value in `slot` was seen at `at`.
    fn touch(&mut self, slot: u16, at: u64) {
        let v = self.slots[usize::from(slot)].as_mut().expect("a held slot");
        if at <= v.seen {
            return;
        }
        self.recency.remove(&(v.seen, v.seq));
        v.seen = at;
        self.recency.insert((at, v.seq), slot);
    }

    /// The forms of `bytes` ([`variants`]), as bits, their heads, and
    /// (into `self.entries`) their index entries.
    fn distinct_forms(&mut self, bytes: &[u8]) -> (u32, Vec<Head>) {
        let bits = variants(bytes);
        let mut heads = Vec::new();
        let mut one = Vec::with_capacity(HEAD);
        for (i, &form) in FORMS.iter().enumerate() {
            if bits & (1 << i) != 0 {
                form.prefix(bytes, HEAD, &mut one);
                let mut head = [0; HEAD];
                head.copy_from_slice(&one[..HEAD]);
                heads.push(Head {
                    form,
                    len: form.len(bytes),
                    bytes: head,
                });
            }
        }
        wipe(&mut one);
        entries_of(bytes, bits, &mut self.scratch, &mut self.entries);
        (bits, heads)
    }

    /// Counts (`add`) or uncounts the first bytes of `heads`.
    fn count_starts(&mut self, heads: &[Head], add: bool) {
        for h in heads {
            let (a, b) = (h.bytes[0], h.bytes[1]);
            let pair = u16::from_le_bytes([a, b]);
            let first = &mut self.firsts[usize::from(a)];
            let n = self.pairs.entry(pair).or_insert(0);
            if add {
                *first += 1;
                *n += 1;
            } else {
                *first -= 1;
                *n -= 1;
                if *n == 0 {
                    self.pairs.remove(&pair);
                }
            }
        }
    }

    fn add(&mut self, bytes: Vec<u8>, rule: u32, at: u64, hash: u64) {
        // Also the index entries, into `self.entries`.
        let (forms, heads) = self.distinct_forms(&bytes);
        let min_len = heads.iter().map(|h| h.len).min().unwrap_or(MIN_LEN);
        self.count_starts(&heads, true);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u16
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.recency.insert((at, seq), slot);
        self.by_hash.insert(hash, slot);
        if let Some(n) = self.short.get_mut(min_len) {
            *n += 1;
        }
        self.slots[usize::from(slot)] = Some(Value {
            fingerprint: None,
            bytes,
            rule,
            seen: at,
            seq,
            forms,
            heads,
            min_len,
            hash,
        });
        for &(h, o) in &self.entries {
            self.index.insert(h, slot, o);
        }
    }

    fn evict(&mut self, slot: u16) {
        let mut v = self.slots[usize::from(slot)].take().expect("a held slot");
        self.recency.remove(&(v.seen, v.seq));
        if self.by_hash.get(&v.hash) == Some(&slot) {
            self.by_hash.remove(&v.hash);
        }
        if let Some(n) = self.short.get_mut(v.min_len) {
            *n -= 1;
        }
        entries_of(&v.bytes, v.forms, &mut self.scratch, &mut self.entries);
        for &(h, o) in &self.entries {
            self.index.remove(h, slot, o);
        }
        self.count_starts(&v.heads, false);
        wipe(&mut v.bytes);
        v.heads.iter_mut().for_each(|h| wipe(&mut h.bytes));
        self.free.push(slot);
    }

    /// The sampling stride: no held form is shorter than `stride + 3`.
    fn stride(&self) -> u64 {
        match self.short.iter().position(|&n| n > 0) {
            Some(len) => (len - (GRAM - 1)) as u64,
            None => MAX_STRIDE,
        }
    }
}

// === finding occurrences ===

impl Learned {
    /// Finds the occurrences starting before `limit` (the engine's release
    /// limit: every span ending at or before it is known) as far as the
    /// bytes in `w` decide them, for [`pop_found`](Self::pop_found), and
    /// applies the events on the way. `idle`: no more bytes are coming for
    /// now, so a position is undecided only where its bytes so far begin a
    /// form; otherwise a gram or form running past `w` waits for more.
    pub(super) fn scan(&mut self, w: &Window, limit: u64, idle: bool) {
        if self.cap == 0 {
            self.frontier = self.frontier.max(limit);
            return;
        }
        loop {
            self.apply_events();
            if self.frontier >= limit {
                return;
            }
            let next_event = self.events.front().map_or(u64::MAX, |e| e.at);
            let until = limit.min(next_event);
            if self.recency.is_empty() {
                self.frontier = until;
            } else if !self.scan_until(w, until, idle) {
                return;
            }
        }
    }

    /// Decides the positions in `[frontier, until)` with the set as it is;
    /// false when it had to stop (the frontier then says where).
    fn scan_until(&mut self, w: &Window, until: u64, idle: bool) -> bool {
        let s = self.stride();
        // Points are the multiples of `s`; the one at `p` covers the
        // starts `(p - s, p]`.
        let last = (until - 1).div_ceil(s) * s;
        let mut p = self.frontier.div_ceil(s) * s;
        while self.frontier < until {
            p = self.next_point(w, p, last, s);
            if p > last {
                self.frontier = until;
                break;
            }
            let from = self.frontier.max((p + 1).saturating_sub(s));
            self.frontier = from;
            if !self.point(w, p, from, until.min(p + 1), idle) {
                return false;
            }
            self.frontier = until.min(p + 1);
            p += s;
        }
        true
    }

    /// Whether the point with gram `g` needs a closer look: its key is
    /// indexed, or it is [`BORING`].
    #[inline]
    fn needs_look(&self, g: u32) -> bool {
        g == BORING || {
            let h = plain(g);
            self.index.may_hold(h) && self.index.holds(h)
        }
    }

    /// The first point from `p` (stepping `s`) up to `last` that needs a
    /// closer look ([`needs_look`](Self::needs_look)) or whose gram is not
    /// whole in `w`; past `last` if none. This loop is the whole per-byte
    /// cost of learned values: one load, multiply and bit test per point
    /// (the bit of [`BORING`] is always set).
    #[inline]
    fn next_point(&self, w: &Window, p: u64, last: u64, s: u64) -> u64 {
        // The last position whose gram is whole.
        let Some(stop) = w.end().checked_sub(GRAM as u64) else {
            return p;
        };
        let stop = stop.min(last);
        if p > stop {
            return p;
        }
        let hay = &w.bytes[(p - w.base) as usize..(stop - w.base) as usize + GRAM];
        let (bits, shift, step) = (&self.index.bits[..], self.index.bit_shift, s as usize);
        let mut i = 0;
        while let Some(&[a, b, c, d]) = hay.get(i..i + GRAM) {
            let g = u32::from_le_bytes([a, b, c, d]);
            let h = plain(g) >> shift;
            if (bits[(h >> 6) as usize] >> (h & 63)) & 1 != 0 && self.needs_look(g) {
                return p + i as u64;
            }
            i += step;
        }
        p + i as u64
    }

    /// Decides the starts in `[from, to)` covered by the point `p`; false
    /// (nothing recorded) when they must wait.
    fn point(&mut self, w: &Window, p: u64, from: u64, to: u64, idle: bool) -> bool {
        let end = w.end();
        if p + GRAM as u64 > end {
            return self.past_end(w, from, to, idle);
        }
        let g = gram(w.from(p));
        self.cands.clear();
        self.index.candidates(plain(g), &mut self.cands);
        if g == BORING {
            if p + 6 <= end {
                let after = gram(w.from(p + 2));
                self.index.candidates(shifted(after), &mut self.cands);
            } else if !w.closed_after(p) {
                return idle && self.tail(w, from, to);
            }
        }
        self.hits.clear();
        for i in 0..self.cands.len() {
            let (slot, off) = self.cands[i];
            let Some(q) = p.checked_sub(u64::from(off)) else {
                continue;
            };
            if q < from || q >= to {
                continue;
            }
            self.checks += 1;
            match self.verify(w, slot, q) {
                Verdict::Match(len) => self.hits.push((q, len, slot)),
                Verdict::None => {}
                Verdict::Open => return false,
            }
        }
        self.commit();
        true
    }

    /// Decides the starts in `[from, to)` of occurrences that would cover a
    /// point past the window's whole grams, so run past its end: none at
    /// the end of the stream, none before a line break; the others wait
    /// (or, `idle`, go to [`tail`](Self::tail)).
    fn past_end(&mut self, w: &Window, from: u64, to: u64, idle: bool) -> bool {
        if w.eof {
            return true;
        }
        let open_from = match memchr::memrchr(b'\n', w.from(from)) {
            Some(i) => from + i as u64 + 1,
            None => from,
        };
        if open_from >= to {
            return true;
        }
        self.frontier = open_from;
        idle && self.tail(w, open_from, to)
    }

    /// Decides the starts in `[from, to)`, near the end of the window and
    /// with no more bytes coming for now: true when none may begin a form;
    /// else the frontier stops at the first that may, the occurrences
    /// before it recorded.
    fn tail(&mut self, w: &Window, from: u64, to: u64) -> bool {
        self.hits.clear();
        for q in from..to {
            if self.may_begin_here(w, q) {
                // Only the starts before `q` are decided.
                self.hits.retain(|h| h.0 < q);
                self.commit();
                self.frontier = q;
                return false;
            }
        }
        self.commit();
        true
    }

    /// Whether a held form may begin at `q` (then more bytes decide it);
    /// occurrences found there whole go to `hits`.
    fn may_begin_here(&mut self, w: &Window, q: u64) -> bool {
        let text = w.from(q);
        match text.len() {
            0 => false,
            1 => self.firsts[usize::from(text[0])] > 0,
            2 => self
                .pairs
                .contains_key(&u16::from_le_bytes([text[0], text[1]])),
            n if n < HEAD => {
                let pair = u16::from_le_bytes([text[0], text[1]]);
                self.pairs.contains_key(&pair)
                    && self.recency.values().any(|&slot| {
                        let heads = &self.value(slot).heads;
                        heads.iter().any(|h| h.bytes.starts_with(text))
                    })
            }
            _ => {
                // Every form of a value is indexed at offset 0.
                self.cands.clear();
                let g = gram(text);
                let key = match g {
                    BORING => shifted(gram(&text[2..])),
                    _ => plain(g),
                };
                self.index.candidates(key, &mut self.cands);
                let mut open = false;
                for i in 0..self.cands.len() {
                    let (slot, off) = self.cands[i];
                    if off != 0 {
                        continue;
                    }
                    self.checks += 1;
                    match self.verify(w, slot, q) {
                        Verdict::Match(len) => self.hits.push((q, len, slot)),
                        Verdict::None => {}
                        Verdict::Open => open = true,
                    }
                }
                open
            }
        }
    }

    /// Whether a form of the value in `slot` occurs at `q`.
    fn verify(&self, w: &Window, slot: u16, q: u64) -> Verdict {
        let v = self.value(slot);
        let text = w.from(q);
        let (mut best, mut open) = (0, false);
        for head in &v.heads {
            let n = text.len().min(HEAD);
            if text[..n] != head.bytes[..n] {
                continue;
            }
            match head.form.fit(&v.bytes, text) {
                Fit::Whole(len) => best = best.max(len),
                Fit::Prefix => open |= !w.eof,
                Fit::No => {}
            }
        }
        match (best, open) {
            (_, true) => Verdict::Open,
            (0, false) => Verdict::None,
            (len, false) => Verdict::Match(len),
        }
    }

    /// Records the occurrences in `hits` (one point's, or one tail's): a
    /// span each, and each value seen at its last one.
    fn commit(&mut self) {
        self.hits.sort_unstable();
        self.hits.dedup();
        for i in 0..self.hits.len() {
            let (q, len, slot) = self.hits[i];
            self.touch(slot, self.record_base + q);
            let fingerprinter = &self.fingerprinter;
            let v = self.slots[usize::from(slot)].as_mut().expect("a held slot");
            let fingerprint = v
                .fingerprint
                .get_or_insert_with(|| fingerprinter.fingerprint(&v.bytes))
                .clone();
            self.found.push_back(Found {
                start: q,
                end: q + len as u64,
                rule: v.rule,
                fingerprint,
            });
        }
        self.hits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Collect, Options, Redactor, Style};
    use crate::rules::{RuleSet, RuleSetBuilder};

    const RULES: &str = r#"
[[rule]]
id = "t.pw"
name = "password"
regex = 'password=(?P<secret>[^\s&"]{4,10})'
keywords = ["password="]
# Secrets past 10 bytes come through the `extend` run, as generic ones do.
extend = '[^\s&"]'
severity = "high"
remediation = "rotate"
examples = [{ input = "password=abcd", output = "password=[REDACTED:t.pw]" }]

[[rule]]
id = "t.key"
name = "key"
regex = 'key:(?P<secret>[A-Za-z0-9]{8,40})'
keywords = ["key:"]
severity = "low"
remediation = "rotate"
examples = [{ input = "key:abcd1234", output = "key:[REDACTED:t.key]" }]
"#;

    fn set() -> Arc<RuleSet> {
        let mut b = RuleSetBuilder::new();
        b.add_source("t.toml", RULES).all(true);
        Arc::new(b.build().unwrap_or_else(|e| panic!("{e}")))
    }

    fn opts(cap: usize) -> Options {
        Options {
            style: Style::Label,
            fingerprinter: Arc::new(Fingerprinter::new(b"learned-test-key-0123", "t").unwrap()),
            learned_values: cap,
        }
    }

    fn redact(cap: usize, input: &[u8]) -> Collect {
        Redactor::redact_all(set(), opts(cap), input)
    }

    /// Feeds `input` to `r` as one record and ends it.
    fn record(r: &mut Redactor, input: &[u8]) -> Collect {
        let mut c = Collect::default();
        r.write(input, &mut c);
        r.finish(&mut c);
        c
    }

    fn text(c: &Collect) -> String {
        String::from_utf8_lossy(&c.out).into_owned()
    }

    /// A fake secret of `n` bytes, made at test time.
    fn secret(seed: &str, n: usize) -> String {
        crate::rules::template::expand_one(seed, &format!("{{{{alnum:{n}}}}}")).unwrap()
    }

    fn encode(form: Form, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        form.encode(v, &mut out);
        out
    }

    #[test]
    fn forms_are_the_known_values_forms() {
        let values: [&[u8]; 8] = [
            b"Abcdef12345678",
            b"p@ss/w0rd with+space=X",
            b"quote\"back\\slash\ttab",
            b"100%-pure~._",
            b"\x01ctl\x7f\xc3\xa9byte",
            b"0123456789",
            b"+++//++/?>?>",
            b"~~~---...___",
        ];
        for v in values {
            let mut mine: Vec<Vec<u8>> = Vec::new();
            let mut picked: Vec<Vec<u8>> = Vec::new();
            for (i, f) in FORMS.iter().enumerate() {
                let e = encode(*f, v);
                assert_eq!(e.len(), f.len(v), "{f:?}");
                // A form picked twice (a value of reserved bytes only is
                // the same percent-encoded either way) only costs twice.
                if variants(v) & (1 << i) != 0 && !picked.contains(&e) {
                    picked.push(e.clone());
                }
                if e.len() >= MIN_LEN && !mine.contains(&e) {
                    mine.push(e);
                }
            }
            let mut known = crate::rules::known::forms(v);
            mine.sort();
            picked.sort();
            known.sort();
            assert_eq!(mine, known, "{:?}", String::from_utf8_lossy(v));
            assert_eq!(picked, known, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn a_value_is_redacted_again_later_bare_and_encoded() {
        let s = format!("{}/{}", secret("enc-a", 10), secret("enc-b", 9));
        let v = s.as_bytes();
        let mut input = format!("login password={s} ok\n").into_bytes();
        let mut copies = vec![v.to_vec()];
        for f in FORMS {
            copies.push(encode(f, v));
        }
        for c in &copies {
            input.extend_from_slice(b"later <");
            input.extend_from_slice(c);
            input.extend_from_slice(b"> end\n");
        }
        let got = redact(4, &input);
        let out = text(&got);
        assert_eq!(got.findings.len(), 1 + copies.len(), "{out}");
        for line in out.lines().skip(1) {
            assert_eq!(line, "later <[REDACTED:t.pw]> end");
        }
        assert!(got.findings.iter().all(|f| f.rule.as_str() == "t.pw"));
        // Learning off: every copy leaks, which is what this prevents.
        assert_eq!(redact(0, &input).findings.len(), 1);
    }

    #[test]
    fn base64_copies_are_redacted_at_every_alignment() {
        let s = secret("b64", 12);
        for pre in 0..3 {
            let mut data = vec![b'x'; pre];
            data.extend_from_slice(format!("user:{s}").as_bytes());
            let mut enc = Vec::new();
            base64_aligned(&data, 0, false, &mut enc);
            let input = format!(
                "password={s}\nAuthorization: Basic {}\n",
                String::from_utf8_lossy(&enc)
            );
            let out = text(&redact(4, input.as_bytes()));
            assert!(
                out.contains("Basic ") && out.contains("[REDACTED:t.pw]\n"),
                "{out}"
            );
            let mut aligned = Vec::new();
            base64_aligned(format!("user:{s}").as_bytes(), pre, false, &mut aligned);
            let tail = &aligned[aligned.len() - 8..];
            assert!(!out.contains(std::str::from_utf8(tail).unwrap()), "{out}");
        }
    }

    #[test]
    fn an_earlier_copy_is_not_redacted_and_a_later_one_is_from_its_first_byte() {
        let s = secret("order", 16);
        let pct = encode(
            Form::Percent {
                full: true,
                upper: true,
                plus: false,
            },
            s.as_bytes(),
        );
        let pct = String::from_utf8(pct).unwrap();
        // The rule's class stops before `%`: the encoded copy starts where
        // the value takes effect, the byte after the secret.
        let input = format!("{s} first\nkey:{s}{pct}\n{s} last\n");
        let got = redact(4, input.as_bytes());
        assert_eq!(
            text(&got),
            format!("{s} first\nkey:[REDACTED:t.key][REDACTED:t.key]\n[REDACTED:t.key] last\n")
        );
        assert_eq!(got.findings.len(), 3);
    }

    #[test]
    fn values_shorter_than_8_or_longer_than_256_bytes_are_not_learned() {
        for (n, learned) in [(7, false), (8, true), (256, true), (257, false)] {
            let s = secret(&format!("len-{n}"), n);
            let input = format!("password={s}\nbare {s}\n");
            let got = redact(4, input.as_bytes());
            assert_eq!(got.findings.len(), 1 + usize::from(learned), "{n} bytes");
        }
    }

    #[test]
    fn values_repeating_a_run_near_their_start_are_not_learned() {
        let tail = secret("repeat-tail", 12);
        let cases = [
            (format!("AAAAAAAAAAAA{tail}"), false),
            (format!("abcabcabcabc{tail}"), false),
            (format!("Kq7v{}Kq7v", secret("repeat-mid", 20)), true),
            (format!("{tail}{tail}"), false),
            (format!("{0}{0}", secret("repeat-late", 20)), true),
        ];
        for (v, learned) in cases {
            assert_eq!(learnable(v.as_bytes()), learned, "{v}");
            let got = redact(4, format!("password={v}\nbare {v}\n").as_bytes());
            assert_eq!(got.findings.len(), 1 + usize::from(learned), "{v}");
        }
    }

    #[test]
    fn the_index_grows_a_logarithmic_number_of_times_past_a_full_bitset() {
        // More entries than the bitset's largest size holds at 24 bits
        // each (what a few hundred held values index).
        let n = 12_000u32;
        let entry = |i: u32| {
            let h = i.wrapping_mul(0x9e37_79b9).rotate_left(11);
            (h, (i % MAX_CAP as u32) as u16, (i % 16) as u8)
        };
        let mut index = Index::default();
        for i in 0..n {
            let (h, slot, off) = entry(i);
            index.insert(h, slot, off);
        }
        assert!(index.rebuilds <= 16, "{} rebuilds", index.rebuilds);
        let mut cands = Vec::new();
        for i in 0..n {
            let (h, slot, off) = entry(i);
            cands.clear();
            index.candidates(h, &mut cands);
            assert!(cands.contains(&(slot, off)), "{i}");
        }
        for i in 0..n {
            let (h, slot, off) = entry(i);
            index.remove(h, slot, off);
        }
        assert_eq!(index.live, 0);
        assert!(index.table.iter().all(|&e| e == EMPTY));
    }

    #[test]
    fn a_flood_of_a_learned_values_prefix_costs_a_few_checks_per_point() {
        let v = secret("flood", 40);
        for cut in [4, 9, 16, 39] {
            let line = v[..cut].repeat(250_000 / cut);
            let input = format!("password={v}\n{line}\nbare {v}\n");
            let mut r = Redactor::new(set(), opts(16));
            let mut c = Collect::default();
            for piece in input.as_bytes().chunks(4096) {
                r.write(piece, &mut c);
            }
            r.finish(&mut c);
            assert_eq!(c.findings.len(), 2, "prefix of {cut}");
            assert!(text(&c).ends_with("bare [REDACTED:t.pw]\n"));
            // Read points are 16 bytes apart here; most find nothing to
            // check, a few one candidate (a form whose gram recurs).
            let budget = line.len() as u64 / 8;
            let checks = r.learned.checks;
            assert!(checks <= budget, "prefix of {cut}: {checks} checks");
        }
    }

    #[test]
    fn values_sharing_a_prefix_cost_at_most_one_check_each_per_point() {
        let cap = 64;
        let stem = secret("stem", 24);
        let values: Vec<String> = (0..cap)
            .map(|i| format!("{stem}{}", secret(&format!("leaf-{i}"), 8)))
            .collect();
        let line = stem.repeat(20_000);
        let mut input = String::new();
        for v in &values {
            input.push_str(&format!("password={v}\n"));
        }
        input.push_str(&format!("{line}\nbare {}\n", values[0]));
        let mut r = Redactor::new(set(), opts(cap));
        let mut c = Collect::default();
        r.write(input.as_bytes(), &mut c);
        r.finish(&mut c);
        assert!(text(&c).ends_with("bare [REDACTED:t.pw]\n"));
        // Bounded by the cap, not by a constant: each stem in the flood is
        // a candidate of every value (once: hex cases share entries).
        let per_stem = 2 * cap as u64;
        let checks = r.learned.checks;
        assert!(checks <= 20_000 * per_stem, "{checks} checks");
    }

    #[test]
    fn the_least_recently_seen_value_is_evicted() {
        let [a, b, c] = ["lru-a", "lru-b", "lru-c"].map(|seed| secret(seed, 12));
        // A, then B, learned; A seen again bare; C learned: B goes.
        let input = format!(
            "password={a}\npassword={b}\nbare {a}\npassword={c}\n\
             then {a} and {b} and {c}\n"
        );
        let out = text(&redact(2, input.as_bytes()));
        let last = out.lines().last().unwrap().to_string();
        assert_eq!(
            last,
            format!("then [REDACTED:t.pw] and {b} and [REDACTED:t.pw]")
        );
        // Without the bare sighting, A is the oldest and goes instead.
        let input = format!("password={a}\npassword={b}\npassword={c}\nthen {a} and {b}\n");
        let out = text(&redact(2, input.as_bytes()));
        assert!(
            out.ends_with(&format!("then {a} and [REDACTED:t.pw]\n")),
            "{out}"
        );
    }

    #[test]
    fn records_keep_their_values_and_forgetting_drops_them() {
        let s = secret("records", 14);
        let mut r = Redactor::new(set(), opts(4));
        record(&mut r, format!("password={s}\n").as_bytes());
        r.reset();
        let c = record(&mut r, format!("next message {s}").as_bytes());
        assert_eq!(text(&c), "next message [REDACTED:t.pw]");
        r.reset();
        r.forget_learned();
        let c = record(&mut r, format!("other stream {s}").as_bytes());
        assert_eq!(text(&c), format!("other stream {s}"));
    }

    #[test]
    fn every_split_and_idle_flush_gives_the_whole_output() {
        let [a, b] = ["split-a", "split-b"].map(|seed| secret(seed, 9));
        let input = format!(
            "x password={a} key:{b}\n{a}{b}\n%{a}%\n{}\ntail {b}",
            String::from_utf8_lossy(&encode(Form::Unicode { upper: true }, a.as_bytes()))
        );
        let input = input.as_bytes();
        let want = redact(2, input);
        assert!(want.findings.len() >= 6, "{}", text(&want));
        let oracle = crate::engine::oracle::Oracle::with_learned(set(), 2);
        assert_eq!(want.out, oracle.redact(input, Style::Label));
        for n in 1..=input.len() {
            for flush in [false, true] {
                let mut r = Redactor::new(set(), opts(2));
                let mut c = Collect::default();
                for piece in input.chunks(n) {
                    r.write(piece, &mut c);
                    if flush {
                        r.flush_idle(&mut c);
                    }
                }
                r.finish(&mut c);
                assert_eq!(text(&c), text(&want), "split {n} flush {flush}");
                assert_eq!(c.findings, want.findings, "split {n} flush {flush}");
            }
        }
    }

    #[test]
    fn a_line_is_released_once_decided_and_an_idle_flush_holds_only_a_form_in_progress() {
        let s = secret("idle", 12);
        let mut r = Redactor::new(set(), opts(4));
        let mut out = Vec::new();
        r.write(format!("password={s}\nnext line\n").as_bytes(), &mut out);
        assert_eq!(r.pending(), 0, "finished lines go out at once");
        r.write(format!("tail {}", &s[..5]).as_bytes(), &mut out);
        r.flush_idle(&mut out);
        assert_eq!(r.pending(), 5, "the start of a copy stays");
        r.write(b" no\n", &mut out);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn many_values_churn_through_the_index_and_the_held_ones_are_found() {
        let cap = 40;
        let values: Vec<String> = (0..300)
            .map(|i| secret(&format!("churn-{i}"), 8 + i % 30))
            .collect();
        let mut input = String::new();
        for v in &values {
            input.push_str(&format!("password={v}\n"));
        }
        for v in &values {
            input.push_str(&format!("bare {v} end\n"));
        }
        let got = redact(cap, input.as_bytes());
        let out = text(&got);
        let bare: Vec<&str> = out.lines().skip(values.len()).collect();
        // The bare copies come in learning order: each one seen refreshes
        // its value, but the next learned-or-seen ones are the 40 most
        // recent, so the first 260 are gone and the last 40 are held.
        for (i, line) in bare.iter().enumerate() {
            let held = i >= values.len() - cap;
            assert_eq!(*line == "bare [REDACTED:t.pw] end", held, "{i}: {line}");
        }
        let oracle = crate::engine::oracle::Oracle::with_learned(set(), cap);
        assert_eq!(got.out, oracle.redact(input.as_bytes(), Style::Label));
    }

    #[test]
    fn memory_stays_within_the_cap_and_nothing_shows_a_value() {
        let cap = 16;
        let mut r = Redactor::new(set(), opts(cap));
        let mut out = Vec::new();
        for i in 0..500 {
            let v = secret(&format!("mem-{i}"), 200);
            r.write(format!("password={v}\n").as_bytes(), &mut out);
        }
        let per_value = MAX_LEN + std::mem::size_of::<Value>() + 2048;
        assert!(
            r.learned.memory() <= cap * per_value + 64 * 1024,
            "{}",
            r.learned.memory()
        );
        let v = secret("mem-499", 200);
        assert!(!format!("{r:?}").contains(&v[..20]));
    }
}

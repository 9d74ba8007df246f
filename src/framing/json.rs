//! JSON text: every string and number is scanned, secrets are found in the
//! *decoded* value of a string and replaced in its encoded form; every
//! other byte is copied verbatim. Input that is not JSON is refused.
//!
//! Secrets straddle escapes in real traffic (`https:\/\/user:pw@host`,
//! `password=\"hun\\\"ter2\"` from syslog-ng's `elasticsearch-http()`), so a
//! raw-text scan misses them and a decode-then-re-encode pass would rewrite
//! bytes nobody asked to change. [`JsonRedactor`] checks the grammar as it
//! goes (RFC 8259: strings, numbers, `true`/`false`/`null`, arrays, objects,
//! whitespace), decodes each string into a scan text (`fields::ItemScan`), runs
//! the [`Redactor`] over it, and replaces exactly the encoded bytes covering
//! each redacted span, widened to whole escapes, with the JSON-escaped
//! replacement. Keys, whitespace, escapes elsewhere and untouched values
//! stay byte-identical; no raw line break is ever written inside a string,
//! so NDJSON stays line-framed.
//!
//! **Every byte is accounted for.** A body either parses, and then the only
//! bytes not scanned are structure (`{}[]:,`), whitespace, a leading byte
//! order mark and the literals `true`, `false` and `null`, or it is an
//! error ([`JsonError`]): nothing is ever passed on unscanned because the
//! grammar did not expect it (`[1,password=...]`). Numbers are scanned as
//! text (a card number is digits); a number a rule redacts becomes a JSON
//! string holding its replacement (`4111...` → `"[REDACTED:pii.credit-card]"`),
//! so the output stays valid JSON.
//!
//! **Context.** A member's value is scanned after its key, as
//! `KEY":"VALUE` (the shape rules already know from raw JSON), so
//! `"password":"hunter2"` and `"password":12345678` are found although the
//! value alone is not a recognisable secret. Only the value's bytes are
//! ever replaced: a span reaching back into the key is cut at the value's
//! start. Keys are scanned on their own, fenced so that no span from a
//! value reaches them (a PEM header in one value does not swallow the keys
//! after it).
//!
//! **Layouts.** A body is one JSON text or several concatenated
//! ([`Layout::Concatenated`]: Splunk HEC batches), or NDJSON
//! ([`Layout::Lines`]), where in addition no text may span a line break.
//! Each text is fenced off from the one before (no span runs from one
//! NDJSON document into the next), so a body streamed a run of lines at a
//! time is judged and redacted exactly as it would be whole. Nesting deeper than [`MAX_DEPTH`] is an error. String bytes
//! that are not UTF-8 pass as they are (scanned as bytes); control
//! characters must be escaped, as the grammar says.
//!
//! **Memory.** The scan text goes to the redactor a window at a time and is
//! dropped as values are spliced, so scratch follows the window and the
//! longest value, not the body; errors carry offsets, never input bytes.

use super::fields::{ItemScan, WINDOW};
use crate::engine::{Finding, Redactor};

/// Deepest nesting of arrays and objects accepted (Jackson's default, so
/// what Elasticsearch takes, this takes).
pub const MAX_DEPTH: usize = 1000;

/// Scratch kept between calls; more is given back after a large value.
const KEEP: usize = 4 * WINDOW;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Why a JSON text was refused. Offsets are within the input given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// A string is not closed before the end of the input.
    #[error("JSON string opened at byte {at} is not closed")]
    UnterminatedString {
        /// Byte offset of its opening quote.
        at: usize,
    },
    /// An escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`.
    #[error("invalid JSON escape at byte {at}")]
    BadEscape {
        /// Byte offset of the backslash.
        at: usize,
    },
    /// A control character (below 0x20) written raw inside a string.
    #[error("unescaped control character in a JSON string at byte {at}")]
    ControlCharacter {
        /// Its offset.
        at: usize,
    },
    /// A byte the grammar does not allow where it stands (text that is
    /// not JSON, a malformed number or literal, a misplaced `,` or `:`).
    #[error("invalid JSON at byte {at}")]
    Unexpected {
        /// Its offset.
        at: usize,
    },
    /// The input ends inside a JSON text.
    #[error("JSON text incomplete at the end of the input (byte {at})")]
    Incomplete {
        /// The input's length.
        at: usize,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH} levels at byte {at}")]
    TooDeep {
        /// Offset of the bracket that went too deep.
        at: usize,
    },
    /// NDJSON: a line break inside a JSON text.
    #[error("line break inside a JSON text at byte {at} (each NDJSON line must hold whole texts)")]
    SplitLine {
        /// Offset of the line break.
        at: usize,
    },
}

/// How JSON texts follow each other in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Zero or more texts separated by optional whitespace: one JSON
    /// document, or Splunk HEC's concatenated events.
    Concatenated,
    /// NDJSON: the same, and no text spans a line break.
    Lines,
}

/// Counts from one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JsonStats {
    /// Strings scanned (keys included).
    pub strings: u64,
    /// Strings changed.
    pub strings_redacted: u64,
    /// Numbers scanned.
    pub numbers: u64,
    /// Numbers replaced by a string.
    pub numbers_redacted: u64,
    /// Findings.
    pub findings: u64,
}

/// What a scanned value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Key,
    Str,
    Number,
}

/// A scanned value, as the splicing pass needs it.
#[derive(Debug, Clone, Copy)]
struct Piece {
    kind: Kind,
    /// Encoded content range in the input (between the quotes of a
    /// string; the whole number).
    content: (usize, usize),
    /// The content holds an escape (decoded and encoded offsets differ).
    escaped: bool,
}

/// Reusable scratch for redacting JSON texts.
#[derive(Debug, Default)]
pub struct JsonRedactor {
    scan: ItemScan<Piece>,
    /// Open arrays (`[`) and objects (`{`), outermost first.
    stack: Vec<u8>,
}

/// Output state of one call: the input is copied up to `copied`.
struct Splicer<'a> {
    input: &'a [u8],
    copied: usize,
    stats: JsonStats,
}

impl JsonRedactor {
    /// Empty scratch.
    pub fn new() -> JsonRedactor {
        JsonRedactor::default()
    }

    /// Redacts the JSON texts of `input` into `out`. `findings` receives
    /// each finding (offsets are within the scan text). On error nothing is
    /// added to `out` or `findings`.
    pub fn redact(
        &mut self,
        red: &mut Redactor,
        input: &[u8],
        layout: Layout,
        out: &mut Vec<u8>,
        findings: &mut Vec<Finding>,
    ) -> Result<JsonStats, JsonError> {
        let (mark, found) = (out.len(), findings.len());
        let r = self.run(red, input, layout, (&mut *out, &mut *findings));
        if r.is_err() {
            out.truncate(mark);
            findings.truncate(found);
        }
        self.scan.shrink(KEEP);
        r
    }

    /// [`redact`](Self::redact), leaving what an error cut short.
    fn run(
        &mut self,
        red: &mut Redactor,
        input: &[u8],
        layout: Layout,
        (out, findings): (&mut Vec<u8>, &mut Vec<Finding>),
    ) -> Result<JsonStats, JsonError> {
        self.scan.start(red);
        let found = findings.len();
        let mut lex = Lexer::new(input, layout, &mut self.stack);
        let mut w = Splicer {
            input,
            copied: 0,
            stats: JsonStats::default(),
        };
        while let Some(tok) = lex.next()? {
            place(&mut self.scan, input, tok, &mut w.stats)?;
            if self.scan.pending() >= WINDOW {
                flush(&mut self.scan, red, false, &mut w, out, findings);
            }
        }
        flush(&mut self.scan, red, true, &mut w, out, findings);
        out.extend_from_slice(&input[w.copied..]);
        w.stats.findings = (findings.len() - found) as u64;
        Ok(w.stats)
    }
}

/// Puts a token's value (after its key context) into the scan text.
fn place(
    scan: &mut ItemScan<Piece>,
    input: &[u8],
    tok: Token,
    stats: &mut JsonStats,
) -> Result<(), JsonError> {
    let piece = tok.piece;
    // Nothing crosses from one text to the next (so an NDJSON body is
    // redacted the same whole or a run of lines at a time), nor into or
    // out of a key.
    if piece.kind == Kind::Key || tok.first {
        scan.fence();
    }
    let start = scan.mark();
    if let Some(key) = tok.key {
        decode_into(input, key, scan.text())?;
        scan.text().extend_from_slice(b"\":\"");
    }
    let value_start = scan.mark();
    match piece.kind {
        Kind::Number => stats.numbers += 1,
        Kind::Key | Kind::Str => stats.strings += 1,
    }
    decode_into(input, piece, scan.text())?;
    scan.push(start, value_start, piece, piece.kind == Kind::Key);
    Ok(())
}

/// Decodes a string's content (or copies a number) onto `text`.
fn decode_into(input: &[u8], p: Piece, text: &mut Vec<u8>) -> Result<(), JsonError> {
    let raw = &input[p.content.0..p.content.1];
    if p.escaped {
        decode(raw, p.content.0, text)
    } else {
        text.extend_from_slice(raw);
        Ok(())
    }
}

/// Scans what is pending and splices every value that is ready into `out`.
fn flush(
    scan: &mut ItemScan<Piece>,
    red: &mut Redactor,
    eof: bool,
    w: &mut Splicer<'_>,
    out: &mut Vec<u8>,
    findings: &mut Vec<Finding>,
) {
    let mut ready = scan.scan(red, eof);
    loop {
        ready = scan.skip_untouched(ready);
        let Some(p) = scan.front().filter(|_| ready > 0) else {
            break;
        };
        ready -= 1;
        let raw = &w.input[p.content.0..p.content.1];
        let mut map = p.escaped.then(|| EscapeMap::new(raw));
        let mut done = 0; // encoded bytes of this value written
        let mut changed = false;
        let quote = p.kind == Kind::Number;
        scan.splice_front(|vs, ve, replacement| {
            let (s, e) = match &mut map {
                Some(m) => (m.start_of(vs), m.end_of(ve)),
                None => (vs, ve),
            };
            // Spans widened to whole escapes may meet inside one.
            let (s, e) = (s.max(done), e.max(done));
            if !changed {
                out.extend_from_slice(&w.input[w.copied..p.content.0]);
                if quote {
                    out.push(b'"');
                }
                changed = true;
            }
            out.extend_from_slice(&raw[done..s]);
            if let Some(r) = replacement {
                escape_into(r, out);
            }
            done = e;
        });
        if changed {
            out.extend_from_slice(&raw[done..]);
            if quote {
                out.push(b'"');
                w.stats.numbers_redacted += 1;
            } else {
                w.stats.strings_redacted += 1;
            }
            w.copied = p.content.1;
        }
    }
    scan.compact(findings);
}

/// A value to scan, with the key it belongs to.
#[derive(Debug, Clone, Copy)]
struct Token {
    piece: Piece,
    /// The member's key, for a member's string or number value.
    key: Option<Piece>,
    /// The first value of a new JSON text.
    first: bool,
}

/// What the grammar allows next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Between texts: a value, whitespace or the end.
    Text,
    /// A value (after `:`, or after `,` in an array).
    Value,
    /// A value or `]` (after `[`).
    FirstValue,
    /// A key or `}` (after `{`).
    FirstKey,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the container's close.
    Next,
}

/// Checks the grammar and yields the values to scan, each marked when it
/// is the first of its text.
struct Lexer<'a> {
    input: &'a [u8],
    at: usize,
    lines: bool,
    /// Open containers (`{` or `[`), outermost first.
    stack: &'a mut Vec<u8>,
    expect: Expect,
    /// The last key, until its member's value starts.
    key: Option<Piece>,
    /// A text has begun and yielded no value yet.
    first: bool,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a [u8], layout: Layout, stack: &'a mut Vec<u8>) -> Lexer<'a> {
        stack.clear();
        Lexer {
            input,
            at: 0,
            lines: layout == Layout::Lines,
            stack,
            expect: Expect::Text,
            key: None,
            first: false,
        }
    }

    /// The next value to scan; `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Token>, JsonError> {
        loop {
            let at = self.at;
            let Some(&b) = self.input.get(at) else {
                return match self.expect {
                    Expect::Text => Ok(None),
                    _ => Err(JsonError::Incomplete { at }),
                };
            };
            match b {
                b' ' | b'\t' | b'\r' => self.at += 1,
                b'\n' if self.lines && self.expect != Expect::Text => {
                    return Err(JsonError::SplitLine { at });
                }
                b'\n' => self.at += 1,
                0xef if self.bom_allowed() => self.at += BOM.len(),
                b'"' => return self.string().map(Some),
                b'-' | b'0'..=b'9' => {
                    self.value_start()?;
                    self.at = number_end(self.input, at)?;
                    let piece = Piece {
                        kind: Kind::Number,
                        content: (at, self.at),
                        escaped: false,
                    };
                    return Ok(Some(self.value(piece)));
                }
                b't' | b'f' | b'n' => {
                    self.value_start()?;
                    self.at = literal_end(self.input, at)?;
                    self.key = None;
                    self.after_value();
                }
                b'{' | b'[' => self.open(b)?,
                b'}' | b']' => self.close(b)?,
                b':' if self.expect == Expect::Colon => {
                    self.expect = Expect::Value;
                    self.at += 1;
                }
                b',' if self.expect == Expect::Next => {
                    let in_object = self.stack.last() == Some(&b'{');
                    self.expect = if in_object {
                        Expect::Key
                    } else {
                        Expect::Value
                    };
                    self.at += 1;
                }
                _ => return Err(JsonError::Unexpected { at }),
            }
        }
    }

    /// A byte order mark is allowed where a text may start at the
    /// beginning of the input (NDJSON: of a line).
    fn bom_allowed(&self) -> bool {
        let at = self.at;
        self.expect == Expect::Text
            && self.input[at..].starts_with(BOM)
            && (at == 0 || (self.lines && self.input[at - 1] == b'\n'))
    }

    fn value_start(&mut self) -> Result<(), JsonError> {
        match self.expect {
            Expect::Text => self.first = true,
            Expect::Value | Expect::FirstValue => {}
            _ => return Err(JsonError::Unexpected { at: self.at }),
        }
        Ok(())
    }

    fn token(&mut self, piece: Piece, key: Option<Piece>) -> Token {
        let first = std::mem::take(&mut self.first);
        Token { piece, key, first }
    }

    fn after_value(&mut self) {
        self.expect = if self.stack.is_empty() {
            Expect::Text
        } else {
            Expect::Next
        };
    }

    /// A string or number value: scanned with its member's key.
    fn value(&mut self, piece: Piece) -> Token {
        let key = self.key.take();
        self.after_value();
        self.token(piece, key)
    }

    fn string(&mut self) -> Result<Token, JsonError> {
        let at = self.at;
        if self.expect == Expect::Text {
            self.first = true;
        }
        let (end, escaped) = string_end(self.input, at)?;
        self.at = end + 1;
        let mut piece = Piece {
            kind: Kind::Str,
            content: (at + 1, end),
            escaped,
        };
        match self.expect {
            Expect::FirstKey | Expect::Key => {
                piece.kind = Kind::Key;
                self.key = Some(piece);
                self.expect = Expect::Colon;
                Ok(self.token(piece, None))
            }
            Expect::Text | Expect::Value | Expect::FirstValue => Ok(self.value(piece)),
            _ => Err(JsonError::Unexpected { at }),
        }
    }

    fn open(&mut self, b: u8) -> Result<(), JsonError> {
        self.value_start()?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(JsonError::TooDeep { at: self.at });
        }
        self.stack.push(b);
        self.key = None;
        self.expect = if b == b'{' {
            Expect::FirstKey
        } else {
            Expect::FirstValue
        };
        self.at += 1;
        Ok(())
    }

    fn close(&mut self, b: u8) -> Result<(), JsonError> {
        let open = if b == b'}' { b'{' } else { b'[' };
        let empty = if b == b'}' {
            Expect::FirstKey
        } else {
            Expect::FirstValue
        };
        let fits = self.expect == Expect::Next || self.expect == empty;
        if !fits || self.stack.last() != Some(&open) {
            return Err(JsonError::Unexpected { at: self.at });
        }
        self.stack.pop();
        self.after_value();
        self.at += 1;
        Ok(())
    }
}

/// A byte that would continue a number or literal: one must not follow.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-')
}

/// The end of the number starting at `at`
/// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
fn number_end(input: &[u8], at: usize) -> Result<usize, JsonError> {
    let digits = |i: usize| {
        input[i.min(input.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let bad = |i: usize| JsonError::Unexpected { at: i };
    let mut i = at + usize::from(input[at] == b'-');
    match input.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return Err(bad(i)),
    }
    if input.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return Err(bad(i));
        }
        i += 1 + n;
    }
    if matches!(input.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(input.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return Err(bad(i));
        }
        i += n;
    }
    match input.get(i) {
        Some(&b) if is_word(b) => Err(bad(i)),
        _ => Ok(i),
    }
}

/// The end of the literal (`true`, `false`, `null`) starting at `at`.
fn literal_end(input: &[u8], at: usize) -> Result<usize, JsonError> {
    let rest = &input[at..];
    let Some(word) = [&b"true"[..], b"false", b"null"]
        .into_iter()
        .find(|w| rest.starts_with(w))
    else {
        return Err(JsonError::Unexpected { at });
    };
    let end = at + word.len();
    match input.get(end) {
        Some(&b) if is_word(b) => Err(JsonError::Unexpected { at: end }),
        _ => Ok(end),
    }
}

/// The offset of the quote closing the string opened at `open`, and
/// whether the string holds an escape (escapes are checked when decoded).
fn string_end(input: &[u8], open: usize) -> Result<(usize, bool), JsonError> {
    let mut i = open + 1;
    let mut escaped = false;
    loop {
        let Some(k) = input
            .get(i..)
            .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
        else {
            return Err(JsonError::UnterminatedString { at: open });
        };
        if let Some(c) = control_at(&input[i..i + k]) {
            return Err(JsonError::ControlCharacter { at: i + c });
        }
        if input[i + k] == b'"' {
            return Ok((i + k, escaped));
        }
        // An escape: its second byte is checked when the string is decoded.
        i += k + 2;
        escaped = true;
    }
}

/// The offset of the first control character (below 0x20) in `run`.
fn control_at(run: &[u8]) -> Option<usize> {
    // Checked a block at a time without early exit (the compiler turns the
    // fold into vector compares), searched byte by byte only on a hit.
    let clean = |b: &[u8]| b.iter().fold(0u8, |acc, &c| acc | u8::from(c < 0x20)) == 0;
    let mut at = 0;
    for block in run.chunks(64) {
        if !clean(block) {
            return block.iter().position(|&c| c < 0x20).map(|p| at + p);
        }
        at += block.len();
    }
    None
}

fn hex4(b: &[u8]) -> Option<u32> {
    let b = b.get(..4)?;
    if !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

/// The escape at `raw[i]` (a backslash): its encoded length and the
/// character it stands for (a lone or broken surrogate is U+FFFD).
fn escape_at(raw: &[u8], i: usize) -> Option<(usize, char)> {
    let simple = match *raw.get(i + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(&raw[i + 2..])?;
            let lo = (raw.get(i + 6..i + 8) == Some(b"\\u"))
                .then(|| hex4(&raw[i + 8..]))
                .flatten();
            return Some(match (hi, lo) {
                (0xD800..=0xDBFF, Some(lo @ 0xDC00..=0xDFFF)) => {
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    (12, char::from_u32(code).unwrap_or('\u{FFFD}'))
                }
                _ => (6, char::from_u32(hi).unwrap_or('\u{FFFD}')),
            });
        }
        _ => return None,
    };
    Some((2, simple))
}

/// Decodes a string's content (`base` is its offset in the input, for
/// errors) onto `out`.
fn decode(raw: &[u8], base: usize, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            let run = memchr::memchr(b'\\', &raw[i..]).unwrap_or(raw.len() - i);
            out.extend_from_slice(&raw[i..i + run]);
            i += run;
            continue;
        }
        let (len, ch) = escape_at(raw, i).ok_or(JsonError::BadEscape { at: base + i })?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        i += len;
    }
    Ok(())
}

/// Maps decoded offsets of one escaped string to encoded ones, walking
/// forward (spans come in order): a plain byte maps to itself, every byte
/// an escape produced to the whole escape.
struct EscapeMap<'a> {
    raw: &'a [u8],
    /// Encoded and decoded offsets of the start of the current unit (a run
    /// of plain bytes or one escape).
    enc: usize,
    dec: usize,
    /// The current unit, once measured: (encoded length, decoded length,
    /// is an escape). Kept, so many spans in one long run cost one search.
    unit: Option<(usize, usize, bool)>,
}

impl<'a> EscapeMap<'a> {
    fn new(raw: &'a [u8]) -> EscapeMap<'a> {
        EscapeMap {
            raw,
            enc: 0,
            dec: 0,
            unit: None,
        }
    }

    /// The current unit: (encoded length, decoded length, is an escape).
    fn unit(&mut self) -> (usize, usize, bool) {
        if let Some(u) = self.unit {
            return u;
        }
        let rest = &self.raw[self.enc..];
        let u = if rest.first() == Some(&b'\\') {
            // Checked when the string was decoded; a short read cannot happen.
            let (len, ch) = escape_at(self.raw, self.enc).unwrap_or((2, '\u{FFFD}'));
            (len, ch.len_utf8(), true)
        } else {
            let run = memchr::memchr(b'\\', rest).unwrap_or(rest.len());
            (run, run, false)
        };
        self.unit = Some(u);
        u
    }

    /// Moves to the unit holding decoded byte `d` (never backwards).
    fn seek(&mut self, d: usize) -> (usize, usize, bool) {
        loop {
            let u = self.unit();
            if self.dec + u.1 > d || u.0 == 0 {
                return u;
            }
            self.enc += u.0;
            self.dec += u.1;
            self.unit = None;
        }
    }

    /// Encoded offset where decoded byte `d` starts (its whole escape).
    fn start_of(&mut self, d: usize) -> usize {
        match self.seek(d) {
            (_, _, true) => self.enc,
            _ => self.enc + (d - self.dec),
        }
    }

    /// Encoded offset where decoded byte `d - 1` ends (its whole escape).
    fn end_of(&mut self, d: usize) -> usize {
        match self.seek(d - 1) {
            (len, _, true) => self.enc + len,
            _ => self.enc + (d - self.dec),
        }
    }
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

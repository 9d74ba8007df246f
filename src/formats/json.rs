//! JSON text (RFC 8259), read without copying: the grammar check, the
//! string and number tokens a scan needs, and the maps between a string's
//! encoded (raw) bytes and its decoded value. No engine here: what is done
//! with the tokens is [`crate::scrub::json`]'s business.
//!
//! - [`Lexer`] checks the grammar as it goes (strings, numbers,
//!   `true`/`false`/`null`, arrays, objects, whitespace, a leading byte
//!   order mark) and yields every string and number as a [`Token`]: keys
//!   on their own, a member's value with its key. Structure, whitespace and
//!   literals are checked and skipped.
//! - [`decode_into`] writes a token's decoded value (escapes resolved,
//!   checked: a bad escape is an error here, not in the lexer).
//! - [`EscapeMap`] maps decoded offsets back to encoded ones, widened to
//!   whole escapes, so a span found in the decoded value replaces exactly
//!   the encoded bytes that produced it.
//! - [`escape_into`] writes bytes as JSON string content.
//! - [`check`] is the whole grammar check on its own (lexer and escapes).
//!
//! **Invariant.** Input either parses, and then every byte not inside a
//! yielded token is structure (`{}[]:,`), whitespace, a leading byte order
//! mark, a string's quotes or one of the literals; or it is a
//! [`JsonError`] carrying an offset, never input bytes. String bytes that
//! are not UTF-8 are accepted as they are; lone surrogate escapes decode to
//! U+FFFD (the grammar allows them); control characters must be escaped.
//!
//! **Layouts.** One text or several concatenated ([`Layout::Concatenated`],
//! Splunk HEC batches), or NDJSON ([`Layout::Lines`]), where in addition no
//! text may span a line break. Nesting deeper than [`MAX_DEPTH`] is an
//! error.

/// Deepest nesting of arrays and objects accepted (Jackson's default, so
/// what Elasticsearch takes, this takes).
pub const MAX_DEPTH: usize = 1000;

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

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An object member's key.
    Key,
    /// A string value.
    Str,
    /// A number.
    Number,
}

/// A string or number in the input.
#[derive(Debug, Clone, Copy)]
pub struct Piece {
    /// What it is.
    pub kind: Kind,
    /// Encoded content range in the input (between the quotes of a
    /// string; the whole number).
    pub content: (usize, usize),
    /// The content holds an escape (decoded and encoded offsets differ).
    pub escaped: bool,
}

/// A value to scan, with the key it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    /// The value.
    pub piece: Piece,
    /// The member's key, for a member's string or number value.
    pub key: Option<Piece>,
    /// The first value of a new JSON text.
    pub first: bool,
}

/// Checks the grammar of `input` (escapes included) without keeping
/// anything: `Ok` exactly when [`Lexer`] and [`decode_into`] accept every
/// token of it.
pub fn check(input: &[u8], layout: Layout) -> Result<(), JsonError> {
    let mut stack = Vec::new();
    let mut lex = Lexer::new(input, layout, &mut stack);
    while let Some(tok) = lex.next()? {
        for p in tok.key.iter().chain([&tok.piece]) {
            if p.escaped {
                check_escapes(&input[p.content.0..p.content.1], p.content.0)?;
            }
        }
    }
    Ok(())
}

/// Decodes a string's content (or copies a number) onto `text`.
pub fn decode_into(input: &[u8], p: Piece, text: &mut Vec<u8>) -> Result<(), JsonError> {
    let raw = &input[p.content.0..p.content.1];
    if p.escaped {
        decode(raw, p.content.0, text)
    } else {
        text.extend_from_slice(raw);
        Ok(())
    }
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
/// is the first of its text. The caller owns the container stack, so a
/// lexer per body allocates nothing once the stack has grown.
#[derive(Debug)]
pub struct Lexer<'a> {
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
    /// A lexer at the start of `input`; `stack` is scratch (cleared).
    pub fn new(input: &'a [u8], layout: Layout, stack: &'a mut Vec<u8>) -> Lexer<'a> {
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
    #[allow(clippy::should_implement_trait)] // fallible, so not an Iterator
    pub fn next(&mut self) -> Result<Option<Token>, JsonError> {
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

/// Checks every escape of a string's content (`base` is its offset in the
/// input, for errors).
fn check_escapes(raw: &[u8], base: usize) -> Result<(), JsonError> {
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'\\', &raw[i..]) {
        let (len, _) = escape_at(raw, i + k).ok_or(JsonError::BadEscape { at: base + i + k })?;
        i += k + len;
    }
    Ok(())
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
/// forward only (ask in increasing order): a plain byte maps to itself, every byte
/// an escape produced to the whole escape.
#[derive(Debug)]
pub struct EscapeMap<'a> {
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
    /// A map over one string's encoded content.
    pub fn new(raw: &'a [u8]) -> EscapeMap<'a> {
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
    pub fn start_of(&mut self, d: usize) -> usize {
        match self.seek(d) {
            (_, _, true) => self.enc,
            _ => self.enc + (d - self.dec),
        }
    }

    /// Encoded offset where decoded byte `d - 1` ends (its whole escape).
    pub fn end_of(&mut self, d: usize) -> usize {
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

//! Syslog over TCP (RFC 6587 framing) and the syslog header (RFC 5424 and
//! RFC 3164), scanned without copying.
//!
//! # Framing
//!
//! [`Decoder`] is a state machine over a `BytesMut` that survives any split
//! of its input, one byte per read included; a read is never a frame. The
//! framing is detected per frame, as rsyslog's imtcp does:
//!
//! - first byte `1`-`9`: **octet counting**, `MSG-LEN SP SYSLOG-MSG`, at
//!   most 10 digits, exactly one space, `MSG-LEN` at most the configured
//!   maximum. The body is every byte the count covers, a trailing LF the
//!   sender counted included.
//! - anything else: **non-transparent** (LF) framing: the frame ends at the
//!   next LF, which is not part of the body; a CR before it is data.
//!
//! A leading `0`, a non-space after the digits, more than 10 digits or an
//! oversized frame are [`FramingError`]s. The caller closes the connection:
//! guessing where the next frame starts would glue messages together. (A
//! line without a PRI that starts with a digit therefore reads as octet
//! counted, as it does in rsyslog.) An LF frame longer than the maximum is
//! an error too rather than being cut, so nothing is forwarded unscanned
//! and nothing is split silently.
//!
//! # Header
//!
//! [`scan`] finds the parts of one SYSLOG-MSG: what must pass byte for byte
//! (PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, SD-IDs and
//! parameter names) and what is redacted (parameter values and MSG). It
//! fails towards scanning more: anything it cannot parse is scanned as text.

use std::fmt;
use std::ops::Range;

use bytes::{Buf, BytesMut};

/// How a frame was delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `MSG-LEN SP SYSLOG-MSG` (RFC 6587 section 3.4.1).
    OctetCounted,
    /// `SYSLOG-MSG LF` (RFC 6587 section 3.4.2).
    NonTransparent,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// How it was delimited.
    pub framing: Framing,
    /// The SYSLOG-MSG bytes (without the count, without the LF delimiter).
    pub body: BytesMut,
}

/// Why a TCP stream cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// An octet count starting with `0`.
    LeadingZero,
    /// The count's digits were followed by this byte instead of one space.
    BadCountTerminator(u8),
    /// More than 10 digits.
    CountTooLong,
    /// A frame longer than the configured maximum.
    TooLarge {
        /// The frame's length, or how much of it was seen.
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// The stream ended inside an octet-counted frame.
    Truncated,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::LeadingZero => write!(f, "octet count starts with 0"),
            FramingError::BadCountTerminator(b) => {
                write!(f, "octet count not followed by one space (byte 0x{b:02x})")
            }
            FramingError::CountTooLong => write!(f, "octet count longer than 10 digits"),
            FramingError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            FramingError::Truncated => write!(f, "stream ended inside an octet-counted frame"),
        }
    }
}

impl std::error::Error for FramingError {}

impl FramingError {
    /// A short stable name, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            FramingError::LeadingZero => "leading_zero",
            FramingError::BadCountTerminator(_) => "bad_count_terminator",
            FramingError::CountTooLong => "count_too_long",
            FramingError::TooLarge { .. } => "too_large",
            FramingError::Truncated => "truncated",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// At a frame boundary.
    Start,
    /// Reading count digits: the value so far and how many digits.
    Count(u64, u8),
    /// Waiting for this many body bytes.
    Body(usize),
    /// In an LF frame; bytes before this offset hold no LF.
    Line(usize),
}

/// Splits a TCP byte stream into syslog frames. See the module docs.
#[derive(Debug)]
pub struct Decoder {
    max: usize,
    state: State,
}

impl Decoder {
    /// A decoder refusing frames longer than `max` bytes.
    pub fn new(max: usize) -> Decoder {
        Decoder {
            max,
            state: State::Start,
        }
    }

    /// Whether the decoder is between frames (nothing partial consumed or
    /// pending in the buffer it was given).
    pub fn at_boundary(&self, buf: &BytesMut) -> bool {
        matches!(self.state, State::Start) && buf.is_empty()
    }

    /// Takes the next whole frame off the front of `buf`, if there is one.
    /// Bytes of a partial frame stay in `buf` (or, for a count, in the
    /// decoder): call again when more arrive.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        loop {
            match self.state {
                State::Start => {
                    let Some(&b) = buf.first() else {
                        return Ok(None);
                    };
                    match b {
                        b'0' => return Err(FramingError::LeadingZero),
                        b'1'..=b'9' => {
                            buf.advance(1);
                            self.state = State::Count(u64::from(b - b'0'), 1);
                        }
                        _ => self.state = State::Line(0),
                    }
                }
                State::Count(value, digits) => {
                    let Some(&b) = buf.first() else {
                        return Ok(None);
                    };
                    buf.advance(1);
                    match b {
                        b'0'..=b'9' if digits >= 10 => return Err(FramingError::CountTooLong),
                        b'0'..=b'9' => {
                            let value = value * 10 + u64::from(b - b'0');
                            if value > self.max as u64 {
                                return Err(FramingError::TooLarge {
                                    len: value,
                                    max: self.max,
                                });
                            }
                            self.state = State::Count(value, digits + 1);
                        }
                        b' ' => self.state = State::Body(value as usize),
                        other => return Err(FramingError::BadCountTerminator(other)),
                    }
                }
                State::Body(len) => {
                    if buf.len() < len {
                        buf.reserve(len - buf.len());
                        return Ok(None);
                    }
                    self.state = State::Start;
                    return Ok(Some(Frame {
                        framing: Framing::OctetCounted,
                        body: buf.split_to(len),
                    }));
                }
                State::Line(seen) => match memchr::memchr(b'\n', &buf[seen..]) {
                    Some(i) => {
                        let mut body = buf.split_to(seen + i + 1);
                        body.truncate(seen + i);
                        self.state = State::Start;
                        return Ok(Some(Frame {
                            framing: Framing::NonTransparent,
                            body,
                        }));
                    }
                    None => {
                        if buf.len() > self.max {
                            return Err(FramingError::TooLarge {
                                len: buf.len() as u64,
                                max: self.max,
                            });
                        }
                        self.state = State::Line(buf.len());
                        return Ok(None);
                    }
                },
            }
        }
    }

    /// At the end of the stream: a final LF frame without its LF is a frame
    /// (nothing is lost); a partial octet-counted frame is an error.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        if let Some(f) = self.decode(buf)? {
            return Ok(Some(f));
        }
        match self.state {
            State::Start => Ok(None),
            State::Line(_) if buf.is_empty() => {
                self.state = State::Start;
                Ok(None)
            }
            State::Line(_) => {
                self.state = State::Start;
                Ok(Some(Frame {
                    framing: Framing::NonTransparent,
                    body: buf.split(),
                }))
            }
            State::Count(..) | State::Body(_) => Err(FramingError::Truncated),
        }
    }
}

/// Writes a frame's header (`MSG-LEN SP`) for an octet-counted body.
pub fn octet_count_prefix(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
}

/// The syslog format a message was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]`.
    Rfc5424,
    /// `<PRI>Mmm dd hh:mm:ss ...`.
    Rfc3164,
    /// A valid PRI followed by something else.
    PriOnly,
    /// No valid PRI: scanned whole as text.
    Opaque,
}

/// The parts of one SYSLOG-MSG, as offsets into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// What it was recognised as.
    pub format: Format,
    /// The RFC 5424 SD-PARAM values, each without its quotes, in order.
    /// Redacted one by one, then re-escaped.
    pub sd_values: Vec<Range<usize>>,
    /// The text to redact: MSG for RFC 5424, everything after the
    /// timestamp for RFC 3164 (hostname and tag included, so a message
    /// without a hostname is still scanned whole), everything after the
    /// PRI otherwise, the whole message without a PRI. Always runs to the
    /// end of the message.
    pub text: Range<usize>,
}

/// Scans one SYSLOG-MSG. Never fails: what does not parse is scanned as
/// text.
pub fn scan(msg: &[u8]) -> Parts {
    let Some(after_pri) = pri(msg) else {
        return Parts {
            format: Format::Opaque,
            sd_values: Vec::new(),
            text: 0..msg.len(),
        };
    };
    if let Some(p) = rfc5424(msg, after_pri) {
        return p;
    }
    if let Some(at) = rfc3164_timestamp(msg, after_pri) {
        return Parts {
            format: Format::Rfc3164,
            sd_values: Vec::new(),
            text: at..msg.len(),
        };
    }
    Parts {
        format: Format::PriOnly,
        sd_values: Vec::new(),
        text: after_pri..msg.len(),
    }
}

/// `<` 1-3 digits, value at most 191, `>`: the offset after `>`.
fn pri(msg: &[u8]) -> Option<usize> {
    if msg.first() != Some(&b'<') {
        return None;
    }
    let digits = msg[1..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&digits) || msg.get(1 + digits) != Some(&b'>') {
        return None;
    }
    let value: u32 = std::str::from_utf8(&msg[1..1 + digits])
        .ok()?
        .parse()
        .ok()?;
    if value > 191 || (digits > 1 && msg[1] == b'0') {
        return None;
    }
    Some(digits + 2)
}

/// A header field: 1 to `max` printable US-ASCII bytes, then one SP.
/// Returns the offset after the SP.
fn field(msg: &[u8], at: usize, max: usize) -> Option<usize> {
    let n = msg
        .get(at..)?
        .iter()
        .take(max + 1)
        .take_while(|&&b| (33..=126).contains(&b))
        .count();
    if n == 0 || n > max || msg.get(at + n) != Some(&b' ') {
        return None;
    }
    Some(at + n + 1)
}

fn rfc5424(msg: &[u8], after_pri: usize) -> Option<Parts> {
    // VERSION: a non-zero digit and at most two more.
    let mut at = after_pri;
    let v = msg[at..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&v) || msg[at] == b'0' || msg.get(at + v) != Some(&b' ') {
        return None;
    }
    at += v + 1;
    // TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID (RFC 5424 section 6).
    for max in [48, 255, 48, 128, 32] {
        at = field(msg, at, max)?;
    }
    let mut sd_values = Vec::new();
    if msg.get(at) == Some(&b'-') {
        at += 1;
    } else {
        at = structured_data(msg, at, &mut sd_values)?;
    }
    let text = match msg.get(at) {
        Some(b' ') => at + 1..msg.len(),
        _ => at..msg.len(),
    };
    Some(Parts {
        format: Format::Rfc5424,
        sd_values,
        text,
    })
}

/// One or more `[SD-ID *(SP NAME="VALUE")]`; returns the offset after the
/// last `]`, recording each value's range.
fn structured_data(msg: &[u8], mut at: usize, values: &mut Vec<Range<usize>>) -> Option<usize> {
    let name_byte = |b: u8| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"' | b' ');
    let mut elements = 0;
    while msg.get(at) == Some(&b'[') {
        at += 1;
        let id = msg[at..].iter().take_while(|&&b| name_byte(b)).count();
        if id == 0 || id > 32 {
            return None;
        }
        at += id;
        loop {
            match msg.get(at)? {
                b']' => {
                    at += 1;
                    break;
                }
                b' ' => {
                    at += 1;
                    let name = msg[at..].iter().take_while(|&&b| name_byte(b)).count();
                    if name == 0 || name > 32 || msg.get(at + name) != Some(&b'=') {
                        return None;
                    }
                    at += name + 1;
                    if msg.get(at) != Some(&b'"') {
                        return None;
                    }
                    at += 1;
                    let start = at;
                    loop {
                        match msg.get(at)? {
                            b'\\' => at += 2,
                            b'"' => break,
                            _ => at += 1,
                        }
                    }
                    values.push(start..at);
                    at += 1;
                }
                _ => return None,
            }
        }
        elements += 1;
    }
    if elements == 0 {
        return None;
    }
    Some(at)
}

/// `Mmm dd hh:mm:ss SP` (the day space-padded): the offset after the SP.
fn rfc3164_timestamp(msg: &[u8], at: usize) -> Option<usize> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let t = msg.get(at..at + 16)?;
    let digit = |i: usize| t[i].is_ascii_digit();
    let ok = MONTHS.contains(&&t[0..3])
        && t[3] == b' '
        && (t[4] == b' ' || digit(4))
        && digit(5)
        && t[6] == b' '
        && digit(7)
        && digit(8)
        && t[9] == b':'
        && digit(10)
        && digit(11)
        && t[12] == b':'
        && digit(13)
        && digit(14)
        && t[15] == b' ';
    ok.then_some(at + 16)
}

/// Re-escapes a redacted SD-PARAM value so it is valid again: `"`, `]` and
/// a final lone `\` get a backslash; an existing escape pair is kept as it
/// was. The identity on every valid value, so untouched values never change.
pub fn escape_sd_value(value: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' if i + 1 < value.len() => {
                out.extend_from_slice(&value[i..i + 2]);
                i += 2;
                continue;
            }
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b']' => out.extend_from_slice(b"\\]"),
            b => out.push(b),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], sizes: &[usize], max: usize) -> Result<Vec<Frame>, FramingError> {
        let mut d = Decoder::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < input.len() {
            let n = sizes[i % sizes.len()].min(input.len() - at);
            buf.extend_from_slice(&input[at..at + n]);
            at += n;
            i += 1;
            while let Some(f) = d.decode(&mut buf)? {
                out.push(f);
            }
        }
        while let Some(f) = d.decode_eof(&mut buf)? {
            out.push(f);
        }
        Ok(out)
    }

    const MIXED: &[u8] = b"12 <13>1 - - -\n<14>hello\r\n3 abc<15>x\n\n12 <13>Nov  5 0\n";

    #[test]
    fn mixed_framings_survive_any_split() {
        let want = frames(MIXED, &[MIXED.len()], 1024).unwrap();
        let bodies: Vec<(&[u8], Framing)> = want.iter().map(|f| (&f.body[..], f.framing)).collect();
        assert_eq!(
            bodies,
            [
                (&b"<13>1 - - -\n"[..], Framing::OctetCounted),
                (&b"<14>hello\r"[..], Framing::NonTransparent),
                (&b"abc"[..], Framing::OctetCounted),
                (&b"<15>x"[..], Framing::NonTransparent),
                (&b""[..], Framing::NonTransparent),
                (&b"<13>Nov  5 0"[..], Framing::OctetCounted),
                (&b""[..], Framing::NonTransparent),
            ]
        );
        for size in 1..MIXED.len() {
            assert_eq!(frames(MIXED, &[size], 1024).unwrap(), want, "size {size}");
        }
    }

    #[test]
    fn a_counted_lf_is_part_of_the_body() {
        let f = frames(b"6 <13>x\n", &[1], 64).unwrap();
        assert_eq!(&f[0].body[..], b"<13>x\n");
    }

    #[test]
    fn bad_counts_are_errors_not_guesses() {
        assert_eq!(
            frames(b"05 hello", &[3], 64),
            Err(FramingError::LeadingZero)
        );
        assert_eq!(
            frames(b"5x hello", &[3], 64),
            Err(FramingError::BadCountTerminator(b'x'))
        );
        assert_eq!(
            frames(b"5  hello", &[8], 64).map(|f| f[0].body.to_vec()),
            Ok(b" hell".to_vec()),
            "the second space is body"
        );
        assert_eq!(
            frames(b"12345678901 x", &[1], usize::MAX),
            Err(FramingError::CountTooLong)
        );
        assert_eq!(
            frames(b"65 x", &[4], 64),
            Err(FramingError::TooLarge { len: 65, max: 64 })
        );
        assert_eq!(frames(b"9 abc", &[2], 64), Err(FramingError::Truncated));
        assert!(matches!(
            frames(&[b'x'; 100], &[7], 64),
            Err(FramingError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_final_line_without_lf_is_still_a_frame() {
        let f = frames(b"<13>a\n<13>b", &[4], 64).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(&f[1].body[..], b"<13>b");
    }

    #[test]
    fn rfc5424_parts() {
        let m = br#"<13>1 2026-11-25T19:04:59.648944+00:00 vm app - ID47 [timeQuality tzKnown="1" isSynced="0"][meta@32473 k="v\"x\]" e=""] password=hunter2"#;
        let p = scan(m);
        assert_eq!(p.format, Format::Rfc5424);
        let vals: Vec<&[u8]> = p.sd_values.iter().map(|r| &m[r.clone()]).collect();
        assert_eq!(vals, [&b"1"[..], b"0", br#"v\"x\]"#, b""]);
        assert_eq!(&m[p.text], b"password=hunter2");

        let m = b"<165>1 - - - - - -";
        let p = scan(m);
        assert_eq!((p.format, p.text.len()), (Format::Rfc5424, 0));
        let m = b"<165>1 - - - - - - \xEF\xBB\xBFbom";
        assert_eq!(&m[scan(m).text], b"\xEF\xBB\xBFbom");
        let m = b"<165>1 - - - - - -\n";
        assert_eq!(
            &m[scan(m).text],
            b"\n",
            "a counted trailer is scanned, kept"
        );
    }

    #[test]
    fn what_does_not_parse_is_scanned_whole() {
        // Broken SD: everything after PRI is text.
        let m = b"<13>1 - h a - - [bad password=x";
        let p = scan(m);
        assert_eq!(p.format, Format::PriOnly);
        assert_eq!(p.text, 4..m.len());
        let m = b"no pri password=x";
        assert_eq!(scan(m).text, 0..m.len());
        assert_eq!(scan(b"<192>1 - - - - - -").format, Format::Opaque);
        assert_eq!(scan(b"<013>x").format, Format::Opaque);
    }

    #[test]
    fn rfc3164_scans_from_the_hostname_on() {
        let m = b"<13>Nov  5 19:04:59 host app[1]: password=x";
        let p = scan(m);
        assert_eq!(p.format, Format::Rfc3164);
        assert_eq!(&m[p.text], b"host app[1]: password=x");
    }

    #[test]
    fn sd_escaping_is_the_identity_on_valid_values_and_repairs_replacements() {
        let mut out = Vec::new();
        escape_sd_value(br#"a\"b\\c\]d\e"#, &mut out);
        assert_eq!(out, br#"a\"b\\c\]d\e"#);
        out.clear();
        escape_sd_value(b"x[REDACTED:a.b]\\", &mut out);
        assert_eq!(out, b"x[REDACTED:a.b\\]\\\\");
        out.clear();
        escape_sd_value(b"q\"", &mut out);
        assert_eq!(out, b"q\\\"");
    }
}

//! Syslog over TCP (RFC 6587 framing) and the syslog header (RFC 5424 and
//! RFC 3164), scanned without copying. Pure: no engine, no I/O. What is
//! redacted in a message is [`crate::scrub::syslog`]'s business.
//!
//! **Invariants.** The frames [`Decoder`] yields do not depend on how the
//! stream was cut into reads; writing them back with [`octet_count_prefix`]
//! gives the same frames again; no more than `max + CUT_LOOKAHEAD` bytes
//! of one frame are ever held. [`scan`] never fails and its ranges always
//! lie inside the message, in order.
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
//! A leading `0`, a non-space after the digits or more than 10 digits are
//! [`FramingError`]s. The caller closes the connection: guessing where the
//! next frame starts would glue messages together. (A line without a PRI
//! that starts with a digit therefore reads as octet counted, as it does in
//! rsyslog.)
//!
//! A frame longer than the maximum is not an error, whichever its framing
//! and wherever its LF is: as rsyslog's imtcp does, it is cut. The decoder
//! keeps its first `max` bytes plus [`CUT_LOOKAHEAD`] more (so the caller
//! can redact across the cut and drop a secret straddling it whole), reads
//! and discards the rest up to the frame's end, and then yields it once,
//! marked with its real length ([`Oversize`]). One oversized message never
//! stops the messages behind it, and no more than `max + CUT_LOOKAHEAD`
//! bytes of a frame are ever held.
//!
//! Towards an upstream, [`octet_count_prefix`] and [`lf_frame`] write
//! frames; `lf_frame` escapes an LF inside a message as `#012`, so one
//! message stays one message under LF framing.
//!
//! # Header
//!
//! [`scan`] finds the parts of one SYSLOG-MSG: what must pass byte for byte
//! (PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, SD-IDs and
//! parameter names) and what is redacted (parameter values and MSG). It
//! fails towards scanning more: anything it cannot parse is scanned as text.
//! [`escape_sd_value`] makes a rewritten parameter value valid again.

use std::ops::ControlFlow::{self, Break, Continue};
use std::ops::Range;

use bytes::{Buf, BytesMut};

/// Bytes an oversized frame keeps past its cut: the longest match any rule
/// may have ([`crate::rules::MAX_RULE_LEN`]), so that a secret straddling
/// the cut is seen whole and can be dropped whole.
pub const CUT_LOOKAHEAD: usize = crate::rules::MAX_RULE_LEN;

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
    /// For an oversized frame, only its first bytes (see [`Oversize`]).
    pub body: BytesMut,
    /// Set when the frame was longer than the maximum.
    pub oversize: Option<Oversize>,
}

/// A frame longer than the decoder's maximum, cut instead of refused (as
/// rsyslog's imtcp truncates; what lies past the cut is read and
/// discarded). Its `body` holds the frame's first `kept` bytes and up to
/// [`CUT_LOOKAHEAD`] more: only the first `kept` may be forwarded; the
/// lookahead is there so a secret straddling the cut is recognised and
/// dropped whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversize {
    /// Bytes of the frame that may be forwarded (the maximum).
    pub kept: usize,
    /// The frame's length on the wire (its count, or the line's length
    /// without the LF).
    pub len: u64,
    /// The octet-counted frame's last byte was an LF: the trailer rsyslog
    /// and syslog-ng count inside the frame. The caller keeps it after the
    /// cut, so a receiver that reads a large frame up to its LF (rsyslog's
    /// imtcp does beyond its `maxFrameSize`, 200,000 by default) still finds
    /// the message's end.
    pub ends_with_lf: bool,
}

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frame of {} bytes exceeds the maximum of {}; truncated",
            self.len, self.kept
        )
    }
}

/// Why a TCP stream cannot be framed. Every one closes the connection:
/// where the next frame starts cannot be known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// An octet count starting with `0`.
    #[error("octet count starts with 0")]
    LeadingZero,
    /// The count's digits were followed by this byte instead of one space.
    #[error("octet count not followed by one space (byte 0x{0:02x})")]
    BadCountTerminator(u8),
    /// More than 10 digits.
    #[error("octet count longer than 10 digits: a frame of at least {at_least} bytes")]
    CountTooLong {
        /// The value of the count's first 11 digits: the frame is at least
        /// this long.
        at_least: u64,
    },
    /// The stream ended inside an octet-counted frame.
    #[error("stream ended inside an octet-counted frame")]
    Truncated,
    /// A frame that is not octet counted where only octet counting is
    /// allowed (syslog over TLS, RFC 5425); the byte it started with.
    #[error("frame starts with byte 0x{0:02x}, not an octet count (required over TLS)")]
    NotOctetCounted(u8),
}

impl FramingError {
    /// A short stable name, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            FramingError::LeadingZero => "leading_zero",
            FramingError::BadCountTerminator(_) => "bad_count_terminator",
            FramingError::CountTooLong { .. } => "count_too_long",
            FramingError::Truncated => "truncated",
            FramingError::NotOctetCounted(_) => "not_octet_counted",
        }
    }
}

#[derive(Debug)]
enum State {
    /// At a frame boundary.
    Start,
    /// Reading count digits: the value so far and how many digits.
    Count(u64, u8),
    /// Waiting for the first `want` body bytes of an octet-counted frame
    /// of `len` bytes (`want` is `len` unless the frame is oversized).
    Body { len: u64, want: usize },
    /// In an LF frame; bytes before this offset hold no LF.
    Line(usize),
    /// Discarding what follows the kept part of an oversized frame:
    /// `left` more bytes of an octet-counted one, or up to the LF.
    Skip {
        kept: BytesMut,
        framing: Framing,
        left: u64,
        len: u64,
        /// The last byte of the frame seen so far.
        last: u8,
    },
}

/// What one decoding step did: go on, or stop with a frame or for more
/// bytes.
type Step = ControlFlow<Option<Frame>>;

/// Splits a TCP byte stream into syslog frames. See the module docs.
#[derive(Debug)]
pub struct Decoder {
    max: usize,
    octet_only: bool,
    state: State,
}

impl Decoder {
    /// A decoder cutting frames longer than `max` bytes.
    pub fn new(max: usize) -> Decoder {
        Decoder {
            max,
            octet_only: false,
            state: State::Start,
        }
    }

    /// A decoder accepting only octet-counted frames, as RFC 5425 requires
    /// over TLS.
    pub fn octet_only(max: usize) -> Decoder {
        Decoder {
            octet_only: true,
            ..Decoder::new(max)
        }
    }

    /// Whether the decoder is between frames (nothing partial consumed or
    /// pending in the buffer it was given).
    pub fn at_boundary(&self, buf: &BytesMut) -> bool {
        matches!(self.state, State::Start) && buf.is_empty()
    }

    /// Bytes the decoder itself holds (the kept part of an oversized frame
    /// being skipped), beside those in the caller's buffer.
    pub fn held(&self) -> usize {
        match &self.state {
            State::Skip { kept, .. } => kept.capacity(),
            _ => 0,
        }
    }

    /// Bytes an oversized frame keeps in its body: the maximum and the
    /// lookahead.
    fn keep(&self) -> usize {
        self.max.saturating_add(CUT_LOOKAHEAD)
    }

    /// Takes the next whole frame off the front of `buf`, if there is one.
    /// Bytes of a partial frame stay in `buf` (or in the decoder): call
    /// again when more arrive. At most [`max`](Decoder::new) plus
    /// [`CUT_LOOKAHEAD`] bytes of one frame are held, wherever its LF is.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        loop {
            let step = match self.state {
                State::Start => self.start(buf)?,
                State::Count(value, digits) => self.count(buf, value, digits)?,
                State::Body { len, want } => self.body(buf, len, want),
                State::Line(seen) => self.line(buf, seen),
                State::Skip { .. } => Break(self.skip(buf)),
            };
            if let Break(frame) = step {
                return Ok(frame);
            }
        }
    }

    /// At a frame boundary: the first byte picks the framing.
    fn start(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        let Some(&b) = buf.first() else {
            return Ok(Break(None));
        };
        match b {
            b'0' => return Err(FramingError::LeadingZero),
            b'1'..=b'9' => {
                buf.advance(1);
                self.state = State::Count(u64::from(b - b'0'), 1);
            }
            other if self.octet_only => return Err(FramingError::NotOctetCounted(other)),
            _ => self.state = State::Line(0),
        }
        Ok(Continue(()))
    }

    /// Reading an octet count.
    fn count(&mut self, buf: &mut BytesMut, value: u64, digits: u8) -> Result<Step, FramingError> {
        let Some(&b) = buf.first() else {
            return Ok(Break(None));
        };
        buf.advance(1);
        self.state = match b {
            b'0'..=b'9' => {
                let value = value * 10 + u64::from(b - b'0');
                if digits >= 10 {
                    return Err(FramingError::CountTooLong { at_least: value });
                }
                State::Count(value, digits + 1)
            }
            b' ' => State::Body {
                len: value,
                want: match usize::try_from(value) {
                    Ok(v) if v <= self.max => v,
                    Ok(v) => v.min(self.keep()),
                    Err(_) => self.keep(),
                },
            },
            other => return Err(FramingError::BadCountTerminator(other)),
        };
        Ok(Continue(()))
    }

    /// Waiting for the body of an octet-counted frame.
    fn body(&mut self, buf: &mut BytesMut, len: u64, want: usize) -> Step {
        if buf.len() < want {
            buf.reserve(want - buf.len());
            return Break(None);
        }
        let body = buf.split_to(want);
        if len <= self.max as u64 {
            self.state = State::Start;
            return Break(Some(Frame {
                framing: Framing::OctetCounted,
                body,
                oversize: None,
            }));
        }
        self.state = State::Skip {
            last: body.last().copied().unwrap_or(0),
            kept: body,
            framing: Framing::OctetCounted,
            left: len - want as u64,
            len,
        };
        Continue(())
    }

    /// In an LF frame whose first `seen` bytes hold no LF.
    fn line(&mut self, buf: &mut BytesMut, seen: usize) -> Step {
        match memchr::memchr(b'\n', &buf[seen..]) {
            Some(i) => {
                let n = seen + i;
                let mut body = buf.split_to(n + 1);
                self.state = State::Start;
                if n <= self.max {
                    body.truncate(n);
                    return Break(Some(Frame {
                        framing: Framing::NonTransparent,
                        body,
                        oversize: None,
                    }));
                }
                // Longer than the maximum, its LF already here: cut.
                body.truncate(n.min(self.keep()));
                Break(Some(self.cut(body, Framing::NonTransparent, n as u64)))
            }
            None if buf.len() >= self.keep() => {
                self.state = State::Skip {
                    kept: buf.split_to(self.keep()),
                    framing: Framing::NonTransparent,
                    left: u64::MAX,
                    len: self.keep() as u64,
                    last: 0,
                };
                Continue(())
            }
            None => {
                self.state = State::Line(buf.len());
                Break(None)
            }
        }
    }

    /// In [`State::Skip`]: discards what `buf` holds of the rest of the
    /// frame; the cut frame once its end is reached.
    fn skip(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        let State::Skip {
            framing,
            left,
            len,
            last,
            ..
        } = &mut self.state
        else {
            return None; // not cutting a frame: nothing to skip
        };
        let done = match framing {
            Framing::OctetCounted => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                if n > 0 {
                    *last = buf[n - 1];
                }
                buf.advance(n);
                *left == 0
            }
            Framing::NonTransparent => {
                let lf = memchr::memchr(b'\n', buf);
                let n = lf.unwrap_or(buf.len());
                *len += n as u64;
                // The LF delimits; it is not part of the frame.
                buf.advance(n + usize::from(lf.is_some()));
                lf.is_some()
            }
        };
        if !done {
            return None;
        }
        self.finish_skip()
    }

    /// Leaves [`State::Skip`] with the frame it was cutting.
    fn finish_skip(&mut self) -> Option<Frame> {
        match std::mem::replace(&mut self.state, State::Start) {
            State::Skip {
                kept,
                framing,
                len,
                last,
                ..
            } => {
                let mut f = self.cut(kept, framing, len);
                if let Some(o) = f.oversize.as_mut() {
                    o.ends_with_lf = framing == Framing::OctetCounted && last == b'\n';
                }
                Some(f)
            }
            _ => None,
        }
    }

    fn cut(&self, body: BytesMut, framing: Framing, len: u64) -> Frame {
        Frame {
            framing,
            body,
            oversize: Some(Oversize {
                kept: self.max,
                len,
                ends_with_lf: false,
            }),
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
                let n = buf.len();
                let body = buf.split();
                Ok(Some(if n > self.max {
                    self.cut(body, Framing::NonTransparent, n as u64)
                } else {
                    Frame {
                        framing: Framing::NonTransparent,
                        body,
                        oversize: None,
                    }
                }))
            }
            State::Skip {
                framing: Framing::NonTransparent,
                ..
            } => Ok(self.finish_skip()),
            State::Count(..) | State::Body { .. } | State::Skip { .. } => {
                Err(FramingError::Truncated)
            }
        }
    }
}

/// Writes a frame's header (`MSG-LEN SP`) for an octet-counted body.
pub fn octet_count_prefix(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
}

/// Writes `body` as an LF-delimited frame: one trailing LF (one a sender
/// counted inside an octet-counted frame) is the delimiter, and every other
/// LF is written `#012`, the octal escape rsyslog's
/// `$EscapeControlCharactersOnReceive` uses, so that an LF inside the
/// message cannot end it early and forge a second message.
pub fn lf_frame(body: &[u8], out: &mut Vec<u8>) {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let mut at = 0;
    for i in memchr::memchr_iter(b'\n', body) {
        out.extend_from_slice(&body[at..i]);
        out.extend_from_slice(b"#012");
        at = i + 1;
    }
    out.extend_from_slice(&body[at..]);
    out.push(b'\n');
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

impl Default for Parts {
    fn default() -> Parts {
        Parts {
            format: Format::Opaque,
            sd_values: Vec::new(),
            text: 0..0,
        }
    }
}

/// Scans one SYSLOG-MSG. Never fails: what does not parse is scanned as
/// text.
pub fn scan(msg: &[u8]) -> Parts {
    let mut parts = Parts::default();
    scan_into(msg, &mut parts);
    parts
}

/// [`scan`] into `parts`, reusing its allocation (a connection scans every
/// message into the same one).
pub fn scan_into(msg: &[u8], parts: &mut Parts) {
    parts.sd_values.clear();
    let (format, start) = match pri(msg) {
        None => (Format::Opaque, 0),
        Some(after_pri) => match rfc5424(msg, after_pri, &mut parts.sd_values) {
            Some(text) => (Format::Rfc5424, text),
            None => {
                // Values of structured data that did not parse after all.
                parts.sd_values.clear();
                match rfc3164_timestamp(msg, after_pri) {
                    Some(at) => (Format::Rfc3164, at),
                    None => (Format::PriOnly, after_pri),
                }
            }
        },
    };
    parts.format = format;
    parts.text = start..msg.len();
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

/// The RFC 5424 header after the PRI, its SD-PARAM values put in
/// `sd_values`: where the text (MSG) starts.
fn rfc5424(msg: &[u8], after_pri: usize, sd_values: &mut Vec<Range<usize>>) -> Option<usize> {
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
    if msg.get(at) == Some(&b'-') {
        at += 1;
    } else {
        at = structured_data(msg, at, sd_values)?;
    }
    Some(match msg.get(at) {
        Some(b' ') => at + 1,
        _ => at,
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
            Err(FramingError::CountTooLong {
                at_least: 12_345_678_901
            })
        );
        assert_eq!(frames(b"9 abc", &[2], 64), Err(FramingError::Truncated));
    }

    #[test]
    fn errors_report_the_real_sizes() {
        // Issue 13 item 7: an 11-digit count was reported as its first 8
        // digits, an oversized line by the part of it seen so far.
        let e = frames(b"12345678901 x", &[3], 4 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "octet count longer than 10 digits: a frame of at least 12345678901 bytes"
        );
        let mut wire = vec![b'x'; 5_242_986];
        wire.push(b'\n');
        let f = frames(&wire, &[70_000], 4 << 20).unwrap();
        assert_eq!(
            f[0].oversize.unwrap().to_string(),
            "frame of 5242986 bytes exceeds the maximum of 4194304; truncated"
        );
        let f = frames(b"5242986 ", &[8], 4 << 20);
        assert_eq!(f, Err(FramingError::Truncated), "the count alone");
    }

    /// An oversized octet frame (`len` bytes of `fill`) between two good
    /// frames, and what the decoder must make of it at `max`.
    fn oversized_octet(len: usize, max: usize) -> (Vec<u8>, Vec<Frame>) {
        let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut wire = b"3 abc".to_vec();
        wire.extend_from_slice(format!("{len} ").as_bytes());
        wire.extend_from_slice(&body);
        wire.extend_from_slice(b"<13>after\n");
        let frame = |framing, b: &[u8], oversize| Frame {
            framing,
            body: BytesMut::from(b),
            oversize,
        };
        let keep = len.min(max + CUT_LOOKAHEAD);
        let want = vec![
            frame(Framing::OctetCounted, b"abc", None),
            frame(
                Framing::OctetCounted,
                &body[..keep],
                Some(Oversize {
                    kept: max,
                    len: len as u64,
                    ends_with_lf: false,
                }),
            ),
            frame(Framing::NonTransparent, b"<13>after", None),
        ];
        (wire, want)
    }

    #[test]
    fn an_oversized_octet_frame_is_cut_and_the_next_one_still_read() {
        for len in [
            65,
            64 + CUT_LOOKAHEAD,
            65 + CUT_LOOKAHEAD,
            3 * CUT_LOOKAHEAD,
        ] {
            let (wire, want) = oversized_octet(len, 64);
            for sizes in [&[1][..], &[7, 1, 300], &[4096], &[wire.len()]] {
                assert_eq!(
                    frames(&wire, sizes, 64).unwrap(),
                    want,
                    "len {len} sizes {sizes:?}"
                );
            }
        }
        let (wire, _) = oversized_octet(100, 64);
        assert_eq!(
            frames(&wire[..wire.len() - 20], &[9], 64),
            Err(FramingError::Truncated),
            "a stream ending inside the discarded part"
        );
    }

    #[test]
    fn an_oversized_octet_frame_says_whether_it_ended_with_a_counted_lf() {
        for len in [100, CUT_LOOKAHEAD + 100] {
            for lf in [false, true] {
                let mut body = vec![b'x'; len];
                if lf {
                    body[len - 1] = b'\n';
                }
                let mut wire = format!("{len} ").into_bytes();
                wire.extend_from_slice(&body);
                for sizes in [&[1][..], &[wire.len()]] {
                    let f = frames(&wire, sizes, 64).unwrap();
                    let o = f[0].oversize.unwrap();
                    assert_eq!(o.ends_with_lf, lf, "len {len} {sizes:?}");
                }
            }
        }
    }

    #[test]
    fn an_oversized_line_is_cut_whether_or_not_its_lf_is_already_buffered() {
        // Issue 12 item 10: a line went through whole when its LF came in
        // the same read as the bytes over the maximum.
        let max = 64;
        for len in [65, 100, max + CUT_LOOKAHEAD + 1, 3 * CUT_LOOKAHEAD] {
            let line: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut wire = b"<13>before\n".to_vec();
            wire.extend_from_slice(&line);
            wire.extend_from_slice(b"\n<13>after\n");
            for sizes in [&[1][..], &[13, 2000], &[wire.len()]] {
                let f = frames(&wire, sizes, max).unwrap();
                let bodies: Vec<&[u8]> = f.iter().map(|f| &f.body[..]).collect();
                let keep = len.min(max + CUT_LOOKAHEAD);
                assert_eq!(
                    bodies,
                    [&b"<13>before"[..], &line[..keep], b"<13>after"],
                    "len {len} sizes {sizes:?}"
                );
                let over = Oversize {
                    kept: max,
                    len: len as u64,
                    ends_with_lf: false,
                };
                assert_eq!(f[1].oversize, Some(over), "len {len} sizes {sizes:?}");
                assert_eq!((f[0].oversize, f[2].oversize), (None, None));
            }
            // The same line at the end of the stream, without its LF.
            let f = frames(&line, &[100], max).unwrap();
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].oversize.map(|o| o.len), Some(len as u64));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn oversized_or_not_any_chunking_gives_the_same_frames(
            specs in proptest::collection::vec((proptest::bool::ANY, 1usize..9000, proptest::bool::ANY), 1..6),
            sizes in proptest::collection::vec(1usize..5000, 1..8),
        ) {
            // (octet counted?, length, ends with LF?)
            let mut wire = Vec::new();
            for &(octet, len, lf) in &specs {
                let mut body: Vec<u8> = (0..len).map(|i| b'<' + (i % 50) as u8).collect();
                if octet {
                    if lf {
                        body[len - 1] = b'\n';
                    }
                    wire.extend_from_slice(format!("{len} ").as_bytes());
                    wire.extend_from_slice(&body);
                } else {
                    wire.extend_from_slice(&body);
                    wire.push(b'\n');
                }
            }
            let whole = frames(&wire, &[wire.len()], 64).unwrap();
            proptest::prop_assert_eq!(whole.len(), specs.len());
            for (f, &(_, len, _)) in whole.iter().zip(&specs) {
                let got = f.oversize.map_or(f.body.len() as u64, |o| o.len);
                proptest::prop_assert_eq!(got, len as u64);
                proptest::prop_assert_eq!(f.body.len(), len.min(64 + CUT_LOOKAHEAD));
            }
            proptest::prop_assert_eq!(frames(&wire, &sizes, 64).unwrap(), whole);
        }
    }

    #[test]
    fn an_endless_line_holds_at_most_max_plus_lookahead() {
        let max = 1000;
        let mut d = Decoder::new(max);
        let mut buf = BytesMut::new();
        for _ in 0..200 {
            buf.extend_from_slice(&[b'x'; 16 * 1024]);
            assert_eq!(d.decode(&mut buf), Ok(None));
            assert!(buf.len() <= max + CUT_LOOKAHEAD + 16 * 1024);
        }
        buf.extend_from_slice(b"x\n");
        let f = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.body.len(), max + CUT_LOOKAHEAD);
        assert_eq!(f.oversize.unwrap().len, 200 * 16 * 1024 + 1);
        assert!(d.at_boundary(&buf));
    }

    #[test]
    fn octet_only_refuses_lf_frames() {
        let mut d = Decoder::octet_only(64);
        let mut b = BytesMut::from(&b"3 abc<13>x\n"[..]);
        assert_eq!(&d.decode(&mut b).unwrap().unwrap().body[..], b"abc");
        assert_eq!(d.decode(&mut b), Err(FramingError::NotOctetCounted(b'<')));
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

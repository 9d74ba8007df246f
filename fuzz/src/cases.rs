//! The format targets' cases: what libFuzzer (through `arbitrary`) builds
//! for each of `syslog_frames`, `json`, `msgpack`, `protobuf` and
//! `http_codec`, the concrete input a case stands for (what
//! `fuzz/regressions/` keeps), and the properties it is checked against
//! ([`super::props`]).
//!
//! The targets in `fuzz_targets/` are one line each ([`run`]); the main
//! crate's test suite builds the same cases from seeded random bytes and
//! runs them on stable for a bounded time (`tests/integration/fuzz_formats.rs`),
//! so the properties run in CI without cargo-fuzz or nightly.

use std::fmt;

use arbitrary::Arbitrary;
use redactd::engine::Style;
use redactd::formats::codec;

use super::gen::{render_json, render_msgpack, render_protobuf, JStyle, JVal, MVal, PField};
use super::props::{self, CODINGS};
use super::{bytes_literal, save_if_requested, with_redactor, FuzzStyle};

/// Largest input a format case looks at (larger ones are skipped).
pub const MAX: usize = 16 << 10;

/// One format target's case.
pub trait FormatCase: for<'a> Arbitrary<'a> + fmt::Debug {
    /// The target's name (a regression file's prefix).
    const TARGET: &'static str;
    /// The concrete input: the bytes a regression file keeps.
    fn input(&self) -> Vec<u8>;
    /// Checks the target's properties over `input` (this case's); panics
    /// with a message when one fails.
    fn check(&self, input: &[u8]);
}

/// What a format target does with a case: builds its input, skips it when
/// over [`MAX`], saves it when asked (`REDACTD_FUZZ_SAVE`), and checks it.
/// Whether the case was checked.
pub fn run<C: FormatCase>(case: &C) -> bool {
    let input = case.input();
    if input.len() > MAX {
        return false;
    }
    save_if_requested(&input);
    case.check(&input);
    true
}

// === syslog ===

/// Maximum frame sizes tried: tiny (every frame oversized), around the
/// lookahead, and the relay's order of magnitude.
const MAXES: [usize; 6] = [1, 2, 16, 300, 4096, 65_536];

/// Bytes of a connection, cut into writes, against a frame limit.
#[derive(Arbitrary)]
pub struct SyslogFrames {
    max: u8,
    /// Write sizes, cycled.
    writes: Vec<u16>,
    input: Vec<u8>,
}

impl SyslogFrames {
    fn max(&self) -> usize {
        MAXES[usize::from(self.max) % MAXES.len()]
    }
    fn writes(&self) -> Vec<usize> {
        self.writes.iter().map(|&w| usize::from(w)).collect()
    }
}

impl fmt::Debug for SyslogFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let input: &[u8] = {};", bytes_literal(&self.input, 4))?;
        write!(
            f,
            "redactd_fuzz::props::syslog_frames(input, &{:?}, {});",
            self.writes(),
            self.max()
        )
    }
}

impl FormatCase for SyslogFrames {
    const TARGET: &'static str = "syslog_frames";
    fn input(&self) -> Vec<u8> {
        self.input.clone()
    }
    fn check(&self, input: &[u8]) {
        props::syslog_frames(input, &self.writes(), self.max());
    }
}

// === JSON ===

/// Raw bytes, or documents with secrets planted in their strings.
#[derive(Arbitrary)]
enum JsonInput {
    Raw(Vec<u8>),
    /// Documents, one per line when `lines`.
    Docs {
        docs: Vec<JVal>,
        style: JStyle,
        lines: bool,
    },
}

/// A JSON body and the replacement style it is redacted in.
#[derive(Arbitrary)]
pub struct Json {
    style: FuzzStyle,
    input: JsonInput,
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let input: &[u8] = {};", bytes_literal(&self.input(), 4))?;
        write!(f, "// style: {:?}", Style::from(self.style))
    }
}

impl FormatCase for Json {
    const TARGET: &'static str = "json";
    fn input(&self) -> Vec<u8> {
        match &self.input {
            JsonInput::Raw(b) => b.clone(),
            JsonInput::Docs { docs, style, lines } => {
                let mut out = Vec::new();
                for d in docs {
                    render_json(d, *style, 0, &mut out);
                    out.push(if *lines { b'\n' } else { b' ' });
                    if out.len() > MAX {
                        break;
                    }
                }
                out
            }
        }
    }
    fn check(&self, input: &[u8]) {
        props::json_grammar(input);
        with_redactor(self.style.into(), |red| props::json_redaction(red, input));
    }
}

// === msgpack ===

/// Raw bytes, or values with secrets planted in their strings.
#[derive(Arbitrary)]
pub enum Msgpack {
    /// Any bytes.
    Raw(Vec<u8>),
    /// Rendered values, one after another.
    Values(Vec<MVal>),
}

impl fmt::Debug for Msgpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "let input: &[u8] = {};", bytes_literal(&self.input(), 4))
    }
}

impl FormatCase for Msgpack {
    const TARGET: &'static str = "msgpack";
    fn input(&self) -> Vec<u8> {
        match self {
            Msgpack::Raw(b) => b.clone(),
            Msgpack::Values(vs) => {
                let mut out = Vec::new();
                for v in vs {
                    render_msgpack(v, 0, &mut out);
                    if out.len() > MAX {
                        break;
                    }
                }
                out
            }
        }
    }
    fn check(&self, input: &[u8]) {
        with_redactor(Style::Label, |red| props::msgpack(red, input));
    }
}

// === protobuf ===

/// Raw bytes, or a message with secrets planted in its string fields.
#[derive(Arbitrary)]
pub enum Protobuf {
    /// Any bytes.
    Raw(Vec<u8>),
    /// A rendered message.
    Message(Vec<PField>),
}

impl fmt::Debug for Protobuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "let input: &[u8] = {};", bytes_literal(&self.input(), 4))
    }
}

impl FormatCase for Protobuf {
    const TARGET: &'static str = "protobuf";
    fn input(&self) -> Vec<u8> {
        match self {
            Protobuf::Raw(b) => b.clone(),
            Protobuf::Message(fields) => {
                let mut out = Vec::new();
                render_protobuf(fields, 0, &mut out);
                out
            }
        }
    }
    fn check(&self, input: &[u8]) {
        with_redactor(Style::Label, |red| props::protobuf(red, input));
    }
}

// === HTTP body codecs ===

/// Plain data, and a wire that is raw bytes or the data encoded and then
/// changed (bytes flipped, cut) to reach deep decoder states.
#[derive(Arbitrary)]
pub struct HttpCodec {
    data: Vec<u8>,
    /// Streamed write size.
    split: u16,
    /// Decoded bytes allowed.
    limit: u16,
    /// When set: the wire is `data` encoded, then changed.
    encoded: Option<Damage>,
}

/// How an encoded body is changed into a wire.
#[derive(Arbitrary, Debug)]
struct Damage {
    /// The coding (modulo their number).
    coding: u8,
    /// Bytes XORed in, at offsets modulo the encoding's length.
    flips: Vec<(u16, u8)>,
    /// Where the encoding is cut.
    cut: Option<u16>,
}

impl fmt::Debug for HttpCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let data: &[u8] = {};", bytes_literal(&self.data, 4))?;
        writeln!(f, "let wire: &[u8] = {};", bytes_literal(&self.input(), 4))?;
        write!(f, "// split {}, limit {}", self.split, self.limit)
    }
}

impl FormatCase for HttpCodec {
    const TARGET: &'static str = "http_codec";
    /// The wire.
    fn input(&self) -> Vec<u8> {
        let Some(Damage { coding, flips, cut }) = &self.encoded else {
            return self.data.clone();
        };
        let coding = CODINGS[usize::from(*coding) % CODINGS.len()];
        let mut w = codec::encode(coding, self.data.clone());
        if !w.is_empty() {
            for &(at, x) in flips {
                let n = w.len();
                w[usize::from(at) % n] ^= x;
            }
        }
        if let Some(c) = cut {
            w.truncate(usize::from(*c));
        }
        w
    }
    fn check(&self, wire: &[u8]) {
        let split = usize::from(self.split).max(1);
        props::codec_round_trip(&self.data, split);
        props::codec_wire(wire, split, usize::from(self.limit));
    }
}

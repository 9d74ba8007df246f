//! Structured inputs for the format targets: random bytes rarely make a
//! JSON document, a msgpack buffer or a protobuf message deep enough to
//! reach the interesting paths, so each target also takes a value tree,
//! rendered here, whose strings are assembled from [`Piece`]s (keywords,
//! rule examples, token-shaped runs) so that secrets are planted in them.
//! Rendering is deterministic: a case's concrete bytes are what a
//! regression file keeps.

use arbitrary::Arbitrary;
use redactd::formats::msgpack::{put_header, Family};
use redactd::formats::protobuf::put_varint;

use super::{assemble, rules, Piece};

/// Bytes a string of pieces may take.
const STRING_LIMIT: usize = 2048;

/// A string assembled from pieces.
fn text(pieces: &[Piece]) -> Vec<u8> {
    let mut b = assemble(pieces, rules(), STRING_LIMIT);
    b.truncate(STRING_LIMIT);
    b
}

// === JSON ===

/// A JSON value.
#[derive(Arbitrary, Debug, Clone)]
pub enum JVal {
    /// `null`, `true` or `false` (by the byte, modulo 3).
    Literal(u8),
    /// An integer.
    Int(i64),
    /// Digits, optionally with a fraction and an exponent.
    Digits(u64, Option<u16>, Option<i8>),
    /// A string.
    Str(Vec<Piece>),
    /// An array.
    Arr(Vec<JVal>),
    /// An object.
    Obj(Vec<(Vec<Piece>, JVal)>),
}

/// How a document is written.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct JStyle {
    /// Escape every n-th string byte that need not be (as `\u00XX`, or
    /// `\/` for `/`); 0 never.
    pub escape_every: u8,
    /// Whitespace after structural characters.
    pub spaced: bool,
}

/// Writes `v` as JSON text.
pub fn render_json(v: &JVal, style: JStyle, depth: usize, out: &mut Vec<u8>) {
    let sep = |out: &mut Vec<u8>| {
        if style.spaced {
            out.push(b' ');
        }
    };
    match v {
        JVal::Literal(b) => {
            out.extend_from_slice([&b"null"[..], b"true", b"false"][*b as usize % 3])
        }
        JVal::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        JVal::Digits(d, frac, exp) => {
            out.extend_from_slice(d.to_string().as_bytes());
            if let Some(f) = frac {
                out.extend_from_slice(format!(".{f}").as_bytes());
            }
            if let Some(e) = exp {
                out.extend_from_slice(format!("e{e}").as_bytes());
            }
        }
        JVal::Str(p) => json_string(&text(p), style, out),
        // Deep trees are cut: the grammar's own depth limit is tested with
        // raw input, and rendering stays linear.
        JVal::Arr(_) | JVal::Obj(_) if depth > 32 => out.extend_from_slice(b"null"),
        JVal::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                    sep(out);
                }
                render_json(item, style, depth + 1, out);
            }
            out.push(b']');
        }
        JVal::Obj(members) => {
            out.push(b'{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                    sep(out);
                }
                json_string(&text(k), style, out);
                out.push(b':');
                sep(out);
                render_json(item, style, depth + 1, out);
            }
            out.push(b'}');
        }
    }
}

/// Writes `s` as a JSON string: what must be escaped is, and every
/// `escape_every`-th other byte too (so secrets straddle escapes).
fn json_string(s: &[u8], style: JStyle, out: &mut Vec<u8>) {
    out.push(b'"');
    for (i, &b) in s.iter().enumerate() {
        let optional = style.escape_every > 0 && i % usize::from(style.escape_every) == 0;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b'/' if optional => out.extend_from_slice(b"\\/"),
            0x20..=0x7e if optional => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

// === msgpack ===

/// A msgpack value; `class` picks a header width where there is a choice.
#[derive(Arbitrary, Debug, Clone)]
pub enum MVal {
    /// nil, false, true.
    Literal(u8),
    /// A signed integer (as int64).
    Int(i64),
    /// A float64.
    Float(u64),
    /// A `str`.
    Str(Vec<Piece>, u8),
    /// A `bin`.
    Bin(Vec<Piece>, u8),
    /// An array.
    Arr(Vec<MVal>, u8),
    /// A map.
    Map(Vec<(MVal, MVal)>, u8),
    /// An ext value (EventTime is type 0 with 8 bytes).
    Ext(i8, Vec<u8>),
}

/// Writes `v` as msgpack.
pub fn render_msgpack(v: &MVal, depth: usize, out: &mut Vec<u8>) {
    match v {
        MVal::Literal(b) => out.push([0xc0, 0xc2, 0xc3][*b as usize % 3]),
        MVal::Int(i) => {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
        MVal::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        MVal::Str(p, class) | MVal::Bin(p, class) => {
            let family = match v {
                MVal::Str(..) => Family::Str,
                _ => Family::Bin,
            };
            let b = text(p);
            put_header(family, class % 4, b.len(), 0, out).expect("a short string");
            out.extend_from_slice(&b);
        }
        MVal::Arr(..) | MVal::Map(..) if depth > 32 => out.push(0xc0),
        MVal::Arr(items, class) => {
            container_header(false, items.len(), *class, out);
            for item in items {
                render_msgpack(item, depth + 1, out);
            }
        }
        MVal::Map(pairs, class) => {
            container_header(true, pairs.len(), *class, out);
            for (k, item) in pairs {
                render_msgpack(k, depth + 1, out);
                render_msgpack(item, depth + 1, out);
            }
        }
        MVal::Ext(t, data) => {
            let data = &data[..data.len().min(255)];
            out.extend_from_slice(&[0xc7, data.len() as u8, *t as u8]);
            out.extend_from_slice(data);
        }
    }
}

fn container_header(map: bool, n: usize, class: u8, out: &mut Vec<u8>) {
    let (fix, wide) = if map { (0x80, 0xde) } else { (0x90, 0xdc) };
    if n < 16 && class.is_multiple_of(3) {
        out.push(fix | n as u8);
    } else if n <= 0xffff && class % 3 == 1 {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

// === protobuf ===

/// A protobuf field; numbers are taken modulo 16, so they hit the fields
/// OTLP and Loki schemas name.
#[derive(Arbitrary, Debug, Clone)]
pub enum PField {
    /// Wire type 0.
    Varint(u8, u64),
    /// Wire type 1.
    Fixed64(u8, u64),
    /// Wire type 5.
    Fixed32(u8, u32),
    /// Wire type 2, a string.
    Text(u8, Vec<Piece>),
    /// Wire type 2, an embedded message.
    Message(u8, Vec<PField>),
}

/// Writes `fields` as a protobuf message.
pub fn render_protobuf(fields: &[PField], depth: usize, out: &mut Vec<u8>) {
    let key = |n: &u8, wt: u64, out: &mut Vec<u8>| put_varint((u64::from(n % 16) << 3) | wt, out);
    for f in fields {
        match f {
            PField::Varint(n, v) => {
                key(n, 0, out);
                put_varint(*v, out);
            }
            PField::Fixed64(n, v) => {
                key(n, 1, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            PField::Fixed32(n, v) => {
                key(n, 5, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            PField::Text(n, p) => {
                let b = text(p);
                key(n, 2, out);
                put_varint(b.len() as u64, out);
                out.extend_from_slice(&b);
            }
            PField::Message(n, inner) => {
                let mut b = Vec::new();
                if depth < 24 {
                    render_protobuf(inner, depth + 1, &mut b);
                }
                key(n, 2, out);
                put_varint(b.len() as u64, out);
                out.extend_from_slice(&b);
            }
        }
    }
}

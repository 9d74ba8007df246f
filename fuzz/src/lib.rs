//! What the redactd fuzz targets share: the rule set and its oracle (built
//! once per process), structured input pieces that steer the fuzzer towards
//! keywords and token-shaped text, chunked redaction with a memory check,
//! and reproductions printed as Rust.
//!
//! The targets assert the engine's promises (`src/engine/mod.rs`): output and
//! findings do not depend on how the input is cut; `label`/`mask` output is
//! exactly the oracle's; no planted secret survives; the window stays
//! bounded; rule loading never panics.
//!
//! The format targets (`syslog_frames`, `json`, `msgpack`, `protobuf`,
//! `http_codec`) check the properties in [`props`] over the [`cases`]
//! built from structured inputs ([`gen`]).
//!
//! This library is also compiled into the main crate's integration tests
//! (`tests/integration/main.rs` includes it with `#[path]`), which replay
//! `fuzz/regressions/` and run the format cases on stable for a bounded
//! time. So it uses only crates the main crate has too (and `arbitrary`, a
//! dev-dependency there), and says `super::`, never `crate::`.

pub mod cases;
pub mod gen;
pub mod props;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use redactd::engine::fingerprint::Fingerprinter;
use redactd::engine::oracle::{Oracle, OracleSpan};
use redactd::engine::{armor, Collect, Options, Redactor, Style};
use redactd::rules::{RuleSet, RuleSetBuilder};

/// Largest input the engine targets look at.
pub const MAX_INPUT: usize = 64 * 1024;
/// Largest input compared with the (slow) oracle.
pub const MAX_ORACLE_INPUT: usize = 4 * 1024;

/// Every built-in rule (`--all`), compiled once. Examples are not checked
/// here: `redactd rules check` and the unit tests do that.
pub fn rules() -> &'static Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        Arc::new(
            b.build()
                .unwrap_or_else(|e| panic!("built-in rules do not compile: {e}")),
        )
    })
}

/// The oracle over [`rules`], learning values as [`options`] does.
pub fn oracle() -> &'static Oracle {
    static ORACLE: OnceLock<Oracle> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let learned = redactd::config::defaults::LEARNED_VALUES.default_usize();
        Oracle::with_learned(Arc::clone(rules()), learned)
    })
}

/// Options with a fixed key.
pub fn options(style: Style) -> Options {
    Options {
        style,
        fingerprinter: Arc::new(
            Fingerprinter::new(b"0123456789abcdef-fuzz", "fz").expect("valid fuzz key"),
        ),
        learned_values: redactd::config::defaults::LEARNED_VALUES.default_usize(),
    }
}

/// Runs `f` with a redactor over [`rules`] in `style`, made once per
/// thread and reused: `Redactor::new` builds a lazy-DFA cache per rule, which
/// would otherwise dominate a format case's cost. The format scrubbers
/// reset the redactor before each use.
pub fn with_redactor<R>(style: Style, f: impl FnOnce(&mut Redactor) -> R) -> R {
    thread_local! {
        static REDACTORS: RefCell<Vec<(Style, Redactor)>> = const { RefCell::new(Vec::new()) };
    }
    REDACTORS.with(|cell| {
        let mut reds = cell.borrow_mut();
        let i = match reds.iter().position(|(s, _)| *s == style) {
            Some(i) => i,
            None => {
                reds.push((style, Redactor::new(Arc::clone(rules()), options(style))));
                reds.len() - 1
            }
        };
        f(&mut reds[i].1)
    })
}

/// A replacement style, chosen by the fuzzer.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuzzStyle {
    /// `Style::Label`.
    Label,
    /// `Style::Mask`.
    Mask,
    /// `Style::Partial`.
    Partial,
    /// `Style::Hmac`.
    Hmac,
}

impl From<FuzzStyle> for Style {
    fn from(s: FuzzStyle) -> Style {
        match s {
            FuzzStyle::Label => Style::Label,
            FuzzStyle::Mask => Style::Mask,
            FuzzStyle::Partial => Style::Partial,
            FuzzStyle::Hmac => Style::Hmac,
        }
    }
}

/// The write sizes for `len` input bytes: `cuts` in order (zero-length
/// writes included), clipped to the input, then the rest in one write.
pub fn writes(len: usize, cuts: &[u16]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = len;
    for &c in cuts {
        let n = usize::from(c).min(left);
        out.push(n);
        left -= n;
        if left == 0 {
            break;
        }
    }
    if left > 0 {
        out.push(left);
    }
    out
}

/// Redacts `input` in the given writes. Returns the output and findings, or
/// a message if the redactor held back more than its window allows.
pub fn redact_in(
    set: &Arc<RuleSet>,
    style: Style,
    input: &[u8],
    writes: &[usize],
) -> Result<Collect, String> {
    let bound = pending_bound(set);
    let mut r = Redactor::new(Arc::clone(set), options(style));
    let mut c = Collect::default();
    let mut at = 0;
    for &n in writes {
        r.write(&input[at..at + n], &mut c);
        at += n;
        if r.pending() > bound {
            return Err(format!(
                "after {at} bytes the redactor holds {} unreleased bytes; its window allows {bound}",
                r.pending()
            ));
        }
    }
    assert_eq!(at, input.len(), "writes cover the input");
    r.finish(&mut c);
    Ok(c)
}

/// How many bytes a redactor may hold back between writes: a match not yet
/// verified (its keyword offset plus the longest match), a keyword not yet
/// whole, and an armor block's lookahead. The read itself is processed
/// before `write` returns, so it does not count.
pub fn pending_bound(set: &RuleSet) -> u64 {
    let rules = set.rules();
    let max_len = rules.iter().map(|r| r.analysis.max_len).max().unwrap_or(0);
    let max_off = rules
        .iter()
        .map(|r| r.analysis.keyword_offset)
        .max()
        .unwrap_or(0);
    let max_kw = rules
        .iter()
        .flat_map(|r| r.keywords.iter().map(String::len))
        .max()
        .unwrap_or(0);
    (max_len + max_off + max_kw + armor::LOOKAHEAD + 64) as u64
}

/// The oracle's unions of overlapping spans, `[start, end)`, in order.
pub fn unions(spans: &[OracleSpan]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start < last.1 => last.1 = last.1.max(s.end),
            _ => out.push((s.start, s.end)),
        }
    }
    out
}

/// Where two outputs first differ, with context, for assertion messages.
pub fn first_difference(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = i.saturating_sub(40);
    format!(
        "first difference at byte {i} (lengths {} and {}):\n  {}\n  {}",
        a.len(),
        b.len(),
        bytes_literal(&a[from..a.len().min(i + 40)], 0),
        bytes_literal(&b[from..b.len().min(i + 40)], 0),
    )
}

/// `b"..."` for `bytes`, as a Rust byte string literal. With `indent > 0`
/// the literal is broken after each `\n` (a `\`-continuation; a space that
/// would start a continued line is written `\x20`, since continuation eats
/// leading whitespace).
pub fn bytes_literal(bytes: &[u8], indent: usize) -> String {
    let mut s = String::with_capacity(bytes.len() + 3);
    s.push_str("b\"");
    let mut line_start = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b' ' if line_start => s.push_str("\\x20"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
        line_start = false;
        if b == b'\n' && indent > 0 && i + 1 < bytes.len() {
            s.push_str("\\\n");
            s.push_str(&" ".repeat(indent));
            line_start = true;
        }
    }
    s.push('"');
    s
}

/// If `REDACTD_FUZZ_SAVE` names a file, writes `bytes` there: the concrete
/// input of a case, in the format `fuzz/regressions/` keeps.
pub fn save_if_requested(bytes: &[u8]) {
    if let Some(path) = std::env::var_os("REDACTD_FUZZ_SAVE") {
        std::fs::write(&path, bytes)
            .unwrap_or_else(|e| panic!("REDACTD_FUZZ_SAVE={}: {e}", path.to_string_lossy()));
    }
}

// === structured input ===

/// One piece of a fuzzed input. Random bytes rarely spell a keyword followed
/// by a well-formed token; these pieces do, and the fuzzer still mutates the
/// raw bytes in between.
#[derive(Arbitrary, Debug, Clone)]
pub enum Piece {
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A single byte (separators: ` `, `=`, `"`, `\n`, ...).
    Byte(u8),
    /// A keyword of some rule, with the case of its first 8 bytes flipped
    /// per bit of `case` (the prefilter is case-insensitive).
    Keyword {
        /// Index into all keywords, modulo their number.
        index: u16,
        /// Case flips.
        case: u8,
    },
    /// A rule example's input (or a negative example).
    Example {
        /// Index into all examples, modulo their number.
        index: u16,
        /// Take a negative example instead.
        negative: bool,
    },
    /// `byte` repeated `len` times: long lines, long `extend` runs, reads
    /// past the engine's 64 KiB `CHUNK`.
    Fill {
        /// The byte.
        byte: u8,
        /// How many.
        len: u16,
    },
    /// `len` bytes of token-shaped text from one alphabet.
    Token {
        /// Alphabet: alphanumeric, hex, base64, base64url, digits, upper+digits.
        alphabet: u8,
        /// Length.
        len: u8,
        /// Seed of the deterministic filler.
        seed: u8,
    },
}

const ALPHABETS: [&[u8]; 6] = [
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    b"0123456789abcdef",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
    b"0123456789",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
];

/// Concatenates pieces against `set`, stopping past `limit` bytes.
pub fn assemble(pieces: &[Piece], set: &RuleSet, limit: usize) -> Vec<u8> {
    let keywords: Vec<&str> = set
        .rules()
        .iter()
        .flat_map(|r| r.keywords.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for p in pieces {
        if out.len() > limit {
            break;
        }
        match p {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Byte(b) => out.push(*b),
            Piece::Keyword { index, case } => {
                if let Some(k) = pick(&keywords, *index) {
                    let start = out.len();
                    out.extend_from_slice(k.as_bytes());
                    for (i, c) in out[start..].iter_mut().take(8).enumerate() {
                        if case >> i & 1 == 1 {
                            *c = if c.is_ascii_lowercase() {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            };
                        }
                    }
                }
            }
            Piece::Example { index, negative } => {
                let found = if *negative {
                    pick(&negative_examples(set), *index)
                } else {
                    pick(&example_inputs(set), *index)
                };
                if let Some(e) = found {
                    out.extend_from_slice(e.as_bytes());
                }
            }
            Piece::Fill { byte, len } => {
                out.resize(out.len() + usize::from(*len), *byte);
            }
            Piece::Token {
                alphabet,
                len,
                seed,
            } => {
                let a = ALPHABETS[usize::from(*alphabet) % ALPHABETS.len()];
                let mut x = u64::from(*seed)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(0x2545_F491_4F6C_DD1D);
                for _ in 0..*len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    out.push(a[(x % a.len() as u64) as usize]);
                }
            }
        }
    }
    out
}

fn pick<'a>(xs: &[&'a str], index: u16) -> Option<&'a str> {
    (!xs.is_empty()).then(|| xs[usize::from(index) % xs.len()])
}

/// Every example input of `set`, in rule order.
pub fn example_inputs(set: &RuleSet) -> Vec<&str> {
    set.rules()
        .iter()
        .flat_map(|r| r.examples.iter().map(|e| e.input.as_str()))
        .collect()
}

fn negative_examples(set: &RuleSet) -> Vec<&str> {
    set.rules()
        .iter()
        .flat_map(|r| r.negative_examples.iter().map(String::as_str))
        .collect()
}

//! JSON text redacted in place: every string and number is scanned,
//! secrets are found in the *decoded* value of a string and replaced in its
//! encoded form; every other byte is copied verbatim. Input that is not
//! JSON is refused.
//!
//! Secrets straddle escapes in real traffic (`https:\/\/user:pw@host`,
//! `password=\"hun\\\"ter2\"` from syslog-ng's `elasticsearch-http()`), so a
//! raw-text scan misses them and a decode-then-re-encode pass would rewrite
//! bytes nobody asked to change. [`JsonRedactor`] takes the tokens
//! [`formats::json::Lexer`](crate::formats::json::Lexer) yields (the
//! grammar is checked there), decodes each into a scan text
//! (`fields::ItemScan`), runs the [`Redactor`] over it, and replaces
//! exactly the encoded bytes covering each redacted span, widened to whole
//! escapes ([`EscapeMap`]), with the JSON-escaped replacement. Keys,
//! whitespace, escapes elsewhere and untouched values stay byte-identical;
//! no raw line break is ever written inside a string, so NDJSON stays
//! line-framed.
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
//! **Layouts** ([`Layout`]). Each text is fenced off from the one before
//! (no span runs from one NDJSON document into the next), so a body
//! streamed a run of lines at a time is judged and redacted exactly as it
//! would be whole.
//!
//! **Memory.** The scan text goes to the redactor a window at a time and is
//! dropped as values are spliced, so scratch follows the window and the
//! longest value, not the body; errors carry offsets, never input bytes.

use super::fields::{ItemScan, WINDOW};
use crate::engine::{Finding, Redactor};
use crate::formats::json::{
    decode_into, escape_into, EscapeMap, JsonError, Kind, Layout, Lexer, Piece, Token,
};

/// Scratch kept between calls; more is given back after a large value.
const KEEP: usize = 4 * WINDOW;

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

#[cfg(test)]
mod tests;

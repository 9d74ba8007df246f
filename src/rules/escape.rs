//! JSON escapes inside secrets, seen through by the byte-level search.
//!
//! JSON encoders escape some bytes that secrets are made of: PHP's
//! `json_encode` writes `/` as `\/` by default, Gson writes `=` as
//! `\u003d`, .NET's `System.Text.Json` writes `+` as `\u002B`. A log line
//! holding such a string carries the secret in its escaped form: the HTTP
//! sidecar decodes JSON strings before scanning, but `filter`, `syslog` and
//! `tcp` see raw bytes, where `[A-Za-z0-9+/]{40}` stops at the first `\`.
//!
//! So a rule matches **decoded text**: wherever a search window holds an
//! escaped form of a byte in [`ESCAPED`] ([`forms`]), the rule's regex runs
//! on the window with those forms replaced by their bytes ([`Decoded`]),
//! and the match is mapped back to the raw bytes it came from, escapes
//! included. Repetition counts count characters (an escape counts once, as
//! the byte it stands for), and checks on a secret's content (entropy, stop
//! words, validators, allowed values) see it decoded ([`decode`]). Windows
//! without escapes, nearly all of them, are searched as they are.
//!
//! The engine waits for, and releases, raw bytes, so the loader needs bounds
//! in raw bytes: it analyses each regex as [`rewrite`] turns it, accepting
//! the escaped forms wherever their byte may occur (so at most
//! [`MAX_FORM_LEN`] times longer), and proves its keywords with their escaped spellings
//! ([`keyword_forms`]), which the prefilter then searches for too. The
//! rewritten regex is only analysed, never compiled: each escapable
//! position becomes a branch of some ten NFA states, and the built-in
//! rules' compiled regexes grew from 3.6 MB to 17 MB (most of redactd's
//! memory is compiled regexes, and peak RSS has a 16 MiB bar).
//!
//! Decoding is local and the same wherever a window starts: an escaped
//! form is recognised by its own bytes (no form holds a `\\` after its
//! first byte, so forms cannot overlap), and the engine keeps
//! [`MAX_FORM_LEN`] bytes of look-behind, so the character before a window
//! decodes as it would in the whole stream. Only these forms are decoded,
//! not JSON escapes in general: they are the escaped bytes that occur in
//! tokens, keys and URLs, and the ones encoders escape by default.

use std::borrow::Cow;

use regex_syntax::hir::{Capture, Class, Hir, HirKind, Repetition};

/// The bytes whose escaped forms are recognised: `/` (`\/`, `\u002f`), `+`
/// (`\u002b`) and `=` (`\u003d`), hex digits in either case.
pub const ESCAPED: &[u8] = b"/+=";

/// Longest escaped form, in bytes (`\u002f`).
pub const MAX_FORM_LEN: usize = 6;

/// The escaped forms of `b`, if it is in [`ESCAPED`]: `\u00xx` with
/// lowercase and with uppercase hex letters, and `\/` for `/`.
pub fn forms(b: u8) -> Vec<Vec<u8>> {
    if !ESCAPED.contains(&b) {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(3);
    if b == b'/' {
        out.push(b"\\/".to_vec());
    }
    for hex in [format!("{b:04x}"), format!("{b:04X}")] {
        let form = format!("\\u{hex}").into_bytes();
        if !out.contains(&form) {
            out.push(form);
        }
    }
    out
}

/// `hir` with every byte of [`ESCAPED`] it can match also matching that
/// byte's escaped forms, at the same place and for the same count.
pub fn rewrite(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => hir.clone(),
        HirKind::Literal(lit) => literal(&lit.0),
        HirKind::Class(c) => class(hir, c),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(rewrite(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(rewrite(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(xs) => Hir::concat(xs.iter().map(rewrite).collect()),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(rewrite).collect()),
    }
}

/// A literal, each escapable byte of it an alternation of the byte and its
/// forms.
fn literal(bytes: &[u8]) -> Hir {
    if !bytes.iter().any(|b| ESCAPED.contains(b)) {
        return Hir::literal(bytes);
    }
    let mut parts = Vec::new();
    let mut run = Vec::new();
    for &b in bytes {
        if ESCAPED.contains(&b) {
            if !run.is_empty() {
                parts.push(Hir::literal(std::mem::take(&mut run)));
            }
            let mut alts = vec![Hir::literal([b])];
            alts.extend(forms(b).into_iter().map(Hir::literal));
            parts.push(Hir::alternation(alts));
        } else {
            run.push(b);
        }
    }
    if !run.is_empty() {
        parts.push(Hir::literal(run));
    }
    Hir::concat(parts)
}

/// A class, or an alternation of it and the forms of its escapable members
/// that it does not already match byte by byte. The class comes first, so
/// where it matches, leftmost-first matching is unchanged.
fn class(hir: &Hir, c: &Class) -> Hir {
    let has = |b: u8| match c {
        Class::Bytes(c) => c.ranges().iter().any(|r| r.start() <= b && b <= r.end()),
        Class::Unicode(c) => {
            let ch = char::from(b);
            c.ranges().iter().any(|r| r.start() <= ch && ch <= r.end())
        }
    };
    let extra: Vec<Hir> = ESCAPED
        .iter()
        .filter(|&&b| has(b))
        .flat_map(|&b| forms(b))
        .filter(|form| !form.iter().all(|&x| has(x)))
        .map(Hir::literal)
        .collect();
    if extra.is_empty() {
        return hir.clone();
    }
    let mut alts = vec![hir.clone()];
    alts.extend(extra);
    Hir::alternation(alts)
}

/// Keywords to search for so that the rewritten regex stays covered: the
/// spellings of `keyword` with some of its escapable bytes escaped (not
/// `keyword` itself). With more than two escapable bytes, each spelling is
/// cut after the second (`mongodb+srv:/`, escaped): every match still holds
/// one, and the list stays at most 16 long.
pub fn keyword_forms(keyword: &str) -> Vec<String> {
    let k = keyword.as_bytes();
    let at: Vec<usize> = (0..k.len()).filter(|&i| ESCAPED.contains(&k[i])).collect();
    let (k, at) = match at.len() {
        0 => return Vec::new(),
        1 | 2 => (k, at),
        _ => (&k[..=at[1]], at[..2].to_vec()),
    };
    let mut spellings: Vec<Vec<u8>> = vec![Vec::new()];
    let mut from = 0;
    for &i in &at {
        let mut choices = vec![vec![k[i]]];
        choices.extend(forms(k[i]));
        spellings = spellings
            .iter()
            .flat_map(|s| {
                choices.iter().map(move |c| {
                    let mut s = s.clone();
                    s.extend_from_slice(&k[from..i]);
                    s.extend_from_slice(c);
                    s
                })
            })
            .collect();
        from = i + 1;
    }
    spellings
        .into_iter()
        .map(|mut s| {
            s.extend_from_slice(&k[from..]);
            String::from_utf8(s).expect("keywords and forms are ASCII")
        })
        .filter(|s| s != keyword)
        .collect()
}

/// `secret` with the escaped forms of [`ESCAPED`] bytes replaced by the
/// bytes; borrowed when it holds none.
pub fn decode(secret: &[u8]) -> Cow<'_, [u8]> {
    if !has_escape(secret) {
        return Cow::Borrowed(secret);
    }
    Cow::Owned(Decoded::new(secret).bytes)
}

/// Whether `bytes` holds an escaped form.
pub fn has_escape(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\\', bytes).any(|i| escaped_at(&bytes[i..]).is_some())
}

/// A haystack with its escaped forms decoded, and where each decoded byte
/// came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded bytes.
    pub bytes: Vec<u8>,
    /// `raw[i]` is the offset in the raw haystack of the character decoded
    /// as `bytes[i]`; `raw[bytes.len()]` is the raw length. Increasing.
    pub raw: Vec<usize>,
}

impl Decoded {
    /// Decodes `raw`.
    pub fn new(raw: &[u8]) -> Decoded {
        let mut d = Decoded {
            bytes: Vec::with_capacity(raw.len()),
            raw: Vec::with_capacity(raw.len() + 1),
        };
        let mut i = 0;
        while i < raw.len() {
            d.raw.push(i);
            match escaped_at(&raw[i..]) {
                Some((b, n)) => {
                    d.bytes.push(b);
                    i += n;
                }
                None => {
                    d.bytes.push(raw[i]);
                    i += 1;
                }
            }
        }
        d.raw.push(raw.len());
        d
    }

    /// The decoded offset of the first character starting at or after raw
    /// offset `at`.
    pub fn at_or_after(&self, at: usize) -> usize {
        self.raw.partition_point(|&r| r < at)
    }

    /// The number of decoded characters that end at or before raw offset
    /// `at`.
    pub fn ending_by(&self, at: usize) -> usize {
        self.raw[1..].partition_point(|&r| r <= at)
    }
}

/// The byte an escaped form at the start of `s` stands for, and the form's
/// length.
pub fn escaped_at(s: &[u8]) -> Option<(u8, usize)> {
    match s {
        [b'\\', b'/', ..] => Some((b'/', 2)),
        [b'\\', b'u', b'0', b'0', hi, lo, ..] => {
            let b = (hex_digit(*hi)? << 4) | hex_digit(*lo)?;
            ESCAPED.contains(&b).then_some((b, MAX_FORM_LEN))
        }
        _ => None,
    }
}

/// Whether `s` is a proper prefix of an escaped form (so more bytes may
/// make it one).
pub fn may_become_escape(s: &[u8]) -> bool {
    s.len() < MAX_FORM_LEN
        && ESCAPED
            .iter()
            .flat_map(|&b| forms(b))
            .any(|f| f.len() > s.len() && f.starts_with(s))
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    fn parse(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(re)
            .unwrap()
    }

    fn full_match(re: &str, hay: &str) -> bool {
        let r = Regex::builder()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .build_from_hir(&rewrite(&parse(&format!(r"\A(?:{re})\z"))))
            .unwrap();
        r.is_match(hay)
    }

    #[test]
    fn escaped_forms_match_where_the_byte_did_and_count_once() {
        assert!(full_match(r"[A-Za-z0-9+/]{4}", r"a\/b+"));
        assert!(full_match(r"[A-Za-z0-9+/]{4}", r"a\u002Fb\u002b"));
        assert!(full_match(r"[A-Za-z0-9+/]{4}", r"\u002f\/\u002B\u002b"));
        assert!(
            !full_match(r"[A-Za-z0-9+/]{4}", r"a\u002fbcd"),
            "five characters"
        );
        assert!(full_match(
            r"key=[a-z]{2}={0,2}",
            r"key\u003dab\u003D\u003d"
        ));
        assert!(full_match(r"https://x", r"https:\/\/x"));
        assert!(full_match(r"https://x", r"https:\u002f/x"));
        // Bytes outside the set, and classes without the byte, are as
        // written.
        assert!(!full_match(r"[A-Za-z0-9]{3}", r"a\/b"));
        assert!(!full_match(r"a\x22b", r"a\u0022b"));
        assert!(!full_match(r"[^\s/]{3}", r"a\/"));
    }

    #[test]
    fn classes_that_already_match_a_form_are_unchanged() {
        let h = parse(r#"[^\s"]{1,8}"#);
        assert_eq!(rewrite(&h), h);
        let h = parse(r"[A-Za-z0-9+/]{1,8}");
        assert_ne!(rewrite(&h), h);
        // Maximum length grows by the longest form, per character.
        assert_eq!(
            rewrite(&h).properties().maximum_len(),
            Some(8 * MAX_FORM_LEN)
        );
    }

    #[test]
    fn keyword_forms_cover_every_spelling() {
        assert!(keyword_forms("ghp_").is_empty());
        let f = keyword_forms("sig=");
        assert_eq!(f, vec![r"sig\u003d", r"sig\u003D"]);
        let f = keyword_forms("://");
        assert_eq!(f.len(), 15);
        assert!(f.contains(&r":\/\/".to_string()));
        assert!(f.contains(&r":\u002f\/".to_string()));
        let f = keyword_forms("mongodb+srv://");
        assert_eq!(f.len(), 12);
        assert!(f.contains(&"mongodb+srv:/".to_string()));
        assert!(f.contains(&r"mongodb\u002bsrv:\/".to_string()));
    }

    #[test]
    fn decode_undoes_exactly_the_recognised_forms() {
        assert_eq!(
            &*decode(br"a\/b\u002Bc\u003dd\u002fe"),
            b"a/b+c=d/e".as_slice()
        );
        assert_eq!(&*decode(br#"a\"b\u0041\n"#), br#"a\"b\u0041\n"#.as_slice());
        assert!(matches!(decode(b"plain"), Cow::Borrowed(_)));
    }
}

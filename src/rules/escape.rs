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
//! The engine waits for, and releases, raw bytes, so a rule's analysis
//! also bounds matches in raw bytes ([`raw_max_len`]: every character that
//! may be `/`, `+` or `=` counted as [`MAX_FORM_LEN`] bytes, so at most that
//! many times longer), and the keyword offset times [`MAX_FORM_LEN`]. The engine uses those only where an escaped form is
//! near a keyword, and the bounds as written elsewhere: larger windows
//! everywhere cost 0.9 MB of regex caches and time on the benchmark
//! corpus. A keyword holding `/`, `+` or `=` is searched for as its part
//! before that byte, or with its escaped spellings ([`search_keywords`]), so
//! every spelling of it in raw text is found. Regexes are not rewritten to
//! accept the escaped forms instead: each escapable position becomes a
//! branch of some ten NFA states, and the built-in rules' compiled regexes
//! grew from 3.6 MB to 17 MB (most of redactd's memory is compiled regexes,
//! and peak RSS has a 16 MiB bar).
//!
//! Decoding is local and the same wherever a window starts: an escaped
//! form is recognised by its own bytes (no form holds a `\` after its
//! first byte, so forms cannot overlap), and the engine keeps
//! [`MAX_FORM_LEN`] bytes of look-behind, so the character before a window
//! decodes as it would in the whole stream. Only these forms are decoded,
//! not JSON escapes in general: they are the escaped bytes that occur in
//! tokens, keys and URLs, and the ones encoders escape by default.

use std::borrow::Cow;

use regex_syntax::hir::{Hir, HirKind};

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

/// The longest raw text a match of `hir` can span when every character it
/// matches that can be in [`ESCAPED`] is written escaped ([`MAX_FORM_LEN`]
/// bytes); `None` when unbounded.
pub fn raw_max_len(hir: &Hir) -> Option<usize> {
    let width = |escapable: bool| if escapable { MAX_FORM_LEN } else { 1 };
    Some(match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(lit) => lit.0.iter().map(|b| width(ESCAPED.contains(b))).sum(),
        HirKind::Class(_) => width(ESCAPED.iter().any(|&b| super::analyze::can_match(hir, b))),
        HirKind::Capture(c) => raw_max_len(&c.sub)?,
        HirKind::Repetition(r) => {
            raw_max_len(&r.sub)?.checked_mul(usize::try_from(r.max?).ok()?)?
        }
        HirKind::Concat(xs) => xs.iter().map(raw_max_len).sum::<Option<usize>>()?,
        HirKind::Alternation(xs) => xs.iter().map(raw_max_len).max()??,
    })
}

/// What to search for instead of `keyword` so that every spelling of it,
/// escaped or not, is found: `keyword` itself when it holds no escapable
/// byte; its part before the first one when that is at least
/// [`MIN_CUT`] bytes long (`postgres:` for `postgres://`, `SharedAccessKey`
/// for `SharedAccessKey=`), which every spelling starts with; otherwise
/// `keyword` and its spellings with some of its escapable bytes escaped
/// (`:\/\/`, `sig\u003d`), each cut after the second when there are more,
/// at most 16.
pub fn search_keywords(keyword: &str) -> Vec<String> {
    let k = keyword.as_bytes();
    match k.iter().position(|b| ESCAPED.contains(b)) {
        None => vec![keyword.to_string()],
        Some(p) if p >= MIN_CUT => vec![keyword[..p].to_string()],
        Some(_) => std::iter::once(keyword.to_string())
            .chain(keyword_forms(keyword))
            .collect(),
    }
}

/// Shortest part before an escapable byte that [`search_keywords`] keeps
/// as the keyword.
pub const MIN_CUT: usize = 4;

/// The spellings of `keyword` with some of its escapable bytes escaped (not
/// `keyword` itself). With more than two escapable bytes, each spelling is
/// cut after the second (`mongodb+srv:/`, escaped): every match still holds
/// one, and the list stays at most 16 long.
fn keyword_forms(keyword: &str) -> Vec<String> {
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

    fn raw_max(re: &str) -> Option<usize> {
        raw_max_len(&crate::rules::compile::parse(re).unwrap())
    }

    #[test]
    fn raw_lengths_count_six_for_every_escapable_character() {
        assert_eq!(raw_max(r"ghp_[A-Za-z0-9]{36}"), Some(40));
        assert_eq!(raw_max(r"[A-Za-z0-9+/]{40}"), Some(240));
        // A class that already matches a backslash still counts: the rule
        // sees `\u002f` as one `/`.
        assert_eq!(raw_max(r#"[^\s"]{1,8}"#), Some(48));
        assert_eq!(raw_max(r"https://x|y{2}"), Some(6 + 12 + 1));
        assert_eq!(raw_max(r"a+"), None);
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
        assert_eq!(search_keywords("ghp_"), vec!["ghp_"]);
        assert_eq!(search_keywords("postgres://"), vec!["postgres:"]);
        assert_eq!(
            search_keywords("sig="),
            vec!["sig=", r"sig\u003d", r"sig\u003D"]
        );
        assert_eq!(search_keywords("1//0").len(), 16);
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

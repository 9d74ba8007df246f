//! The grammar check and the token maps on their own (redaction is tested
//! in `scrub::json`).

use super::*;

/// A token as the tests see it: (kind, raw content, key's raw content,
/// first of its text).
type Tok<'a> = (Kind, &'a str, Option<&'a str>, bool);

/// Every token of `input`.
fn tokens(input: &str, layout: Layout) -> Result<Vec<Tok<'_>>, JsonError> {
    let mut stack = Vec::new();
    let mut lex = Lexer::new(input.as_bytes(), layout, &mut stack);
    let raw = |p: Piece| &input[p.content.0..p.content.1];
    let mut out = Vec::new();
    while let Some(t) = lex.next()? {
        out.push((t.piece.kind, raw(t.piece), t.key.map(raw), t.first));
    }
    Ok(out)
}

#[test]
fn tokens_carry_their_keys_and_text_boundaries() {
    let got = tokens(
        r#"{"a":"x","b":[1,"y"],"c":{"d":2.5e3}} "z""#,
        Layout::Concatenated,
    );
    use Kind::*;
    assert_eq!(
        got.unwrap(),
        [
            (Key, "a", None, true),
            (Str, "x", Some("a"), false),
            (Key, "b", None, false),
            (Number, "1", None, false),
            (Str, "y", None, false),
            (Key, "c", None, false),
            (Key, "d", None, false),
            (Number, "2.5e3", Some("d"), false),
            (Str, "z", None, true),
        ]
    );
}

#[test]
fn the_grammar_check_finds_what_the_lexer_leaves_to_decoding() {
    assert_eq!(check(br#"["\u00e9\n\/"]"#, Layout::Concatenated), Ok(()));
    // Bad escapes are found by decoding, so `check` decodes them too.
    assert_eq!(
        check(br#"{"k":"a\qb"}"#, Layout::Concatenated),
        Err(JsonError::BadEscape { at: 7 })
    );
    assert_eq!(
        check(br#"{"a\x":1}"#, Layout::Concatenated),
        Err(JsonError::BadEscape { at: 3 })
    );
    assert_eq!(
        check(b"{\"a\":1}\n{\"b\":\n2}", Layout::Lines),
        Err(JsonError::SplitLine { at: 13 })
    );
    assert_eq!(check(b"\xef\xbb\xbf[]", Layout::Concatenated), Ok(()));
    assert_eq!(
        check(b"[] \xef\xbb\xbf[]", Layout::Concatenated),
        Err(JsonError::Unexpected { at: 3 })
    );
}

#[test]
fn escape_maps_widen_to_whole_escapes() {
    // Decoded: a " b é c (é is 2 bytes); encoded: a \" b \u00e9 c.
    let raw = br#"a\"b\u00e9c"#;
    let mut m = EscapeMap::new(raw);
    assert_eq!(m.start_of(0), 0);
    assert_eq!(
        m.start_of(1),
        1,
        "the quote's escape starts at its backslash"
    );
    assert_eq!(m.end_of(2), 3, "and ends after it");
    assert_eq!(
        m.start_of(4),
        4,
        "the second byte of é maps to the whole escape"
    );
    assert_eq!(m.end_of(5), 10);
    assert_eq!(m.end_of(6), 11);
    let mut out = Vec::new();
    decode_into(
        raw,
        Piece {
            kind: Kind::Str,
            content: (0, raw.len()),
            escaped: true,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, "a\"bé c".replace(' ', "").as_bytes());
    out.clear();
    escape_into(b"q\"\\\n\x01", &mut out);
    assert_eq!(out, br#"q\"\\\n\u0001"#);
}

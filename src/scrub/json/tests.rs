//! JSON string redaction: byte preservation, escapes, key context, errors,
//! and a property test against serde_json.

use proptest::prelude::*;

use super::*;
use crate::engine::testing::label_redactor;
use crate::engine::Style;
use crate::formats::json::MAX_DEPTH;

fn redact(input: &str) -> Result<(String, JsonStats), JsonError> {
    let mut red = label_redactor();
    let mut out = Vec::new();
    let mut findings = Vec::new();
    let stats = JsonRedactor::new().redact(
        &mut red,
        input.as_bytes(),
        Layout::Concatenated,
        &mut out,
        &mut findings,
    )?;
    assert_eq!(stats.findings, findings.len() as u64);
    Ok((String::from_utf8(out).unwrap(), stats))
}

/// A GitHub token with a valid checksum (so `github.pat`, not the
/// unverified fallback, labels it).
fn github(seed: &str) -> String {
    crate::engine::testing::github_token(seed)
}

#[test]
fn untouched_json_is_byte_identical() {
    for t in [
        r#"{"a" : 1.50e3, "b":[true,null,"x\/y\u00e9\n"], "c":{"d":"\ud83d\ude00"}}"#,
        "  [ \"\\\"quoted\\\"\" ,\t-0 ]\n",
        r#"{"k":"v"}{"k":"w"}"#,
        "",
        "42",
    ] {
        let (out, s) = redact(t).unwrap();
        assert_eq!(out, t);
        assert_eq!(s.strings_redacted, 0);
    }
}

#[test]
fn a_secret_in_a_value_is_replaced_and_nothing_else_moves() {
    let tok = github("a");
    let input = format!(r#"{{"msg" : "token {tok} used", "n": 7}}"#);
    let (out, s) = redact(&input).unwrap();
    assert_eq!(
        out,
        r#"{"msg" : "token [REDACTED:github.pat] used", "n": 7}"#
    );
    assert_eq!(
        (s.strings, s.strings_redacted),
        (3, 1),
        "two keys, one value"
    );
}

#[test]
fn secrets_straddling_escapes_are_found_and_other_escapes_kept() {
    let input = r#"{"url":"postgres:\/\/app:hunter2-prod@db.internal:5432\/orders","x":"a\/b"}"#;
    let (out, _) = redact(input).unwrap();
    assert_eq!(
        out,
        r#"{"url":"postgres:\/\/app:[REDACTED:urls.database-uri]@db.internal:5432\/orders","x":"a\/b"}"#
    );
    // The first byte of a token written as a \u escape: the whole escape goes.
    let tok = github("b");
    let input = format!(r#"["\u0067{}"]"#, &tok[1..]);
    let (out, _) = redact(&input).unwrap();
    assert_eq!(out, r#"["[REDACTED:github.pat]"]"#);
}

#[test]
fn a_value_is_scanned_after_its_key() {
    let (out, s) = redact(r#"{"password":"hunter2-hunter2","user":"bob"}"#).unwrap();
    assert_eq!(
        out,
        r#"{"password":"[REDACTED:generic.password]","user":"bob"}"#
    );
    assert_eq!(s.findings, 1);
    // Only the value's bytes are replaced, never the key.
    let (out, _) = redact(r#"{"db_password" :  "s3cr3t-Value-1"}"#).unwrap();
    assert!(out.starts_with(r#"{"db_password" :  ""#), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    // An array element has no key: a bare word is not a secret.
    let (out, _) = redact(r#"{"password":["hunter2-hunter2"]}"#).unwrap();
    assert_eq!(out, r#"{"password":["hunter2-hunter2"]}"#);
}

#[test]
fn replacements_are_escaped_and_never_hold_a_raw_line_break() {
    // A PEM block inside a JSON string: its line breaks are \n escapes.
    let body = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
    let input = format!(
        r#"{{"key":"-----BEGIN PRIVATE KEY-----\n{body}\n{body}\n-----END PRIVATE KEY-----\n","next":1}}"#
    );
    let (out, s) = redact(&input).unwrap();
    assert!(s.findings >= 1);
    assert!(!out.contains(body), "{out}");
    assert!(!out.contains('\n'), "raw LF written: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["next"], 1);
}

#[test]
fn broken_strings_are_errors() {
    assert_eq!(
        redact(r#"{"a":"open"#).unwrap_err(),
        JsonError::UnterminatedString { at: 5 }
    );
    assert_eq!(
        redact(r#"["\x"]"#).unwrap_err(),
        JsonError::BadEscape { at: 2 }
    );
    assert_eq!(
        redact(r#"["\u12"]"#).unwrap_err(),
        JsonError::BadEscape { at: 2 }
    );
    assert!(redact("[\"ends in a backslash\\").is_err());
}

fn redact_with(red: &mut Redactor, input: &str, layout: Layout) -> Result<String, JsonError> {
    let mut out = Vec::new();
    JsonRedactor::new().redact(red, input.as_bytes(), layout, &mut out, &mut Vec::new())?;
    Ok(String::from_utf8(out).unwrap())
}

/// A redactor over every built-in rule (the `pii` pack included), in `style`.
fn all_rules(style: Style) -> Redactor {
    use std::sync::{Arc, OnceLock};
    static SET: OnceLock<Arc<crate::rules::RuleSet>> = OnceLock::new();
    let set = SET.get_or_init(|| {
        let mut b = crate::rules::RuleSetBuilder::builtin();
        b.all(true);
        crate::check::load(&b).expect("built-in rules")
    });
    let fp = crate::engine::fingerprint::Fingerprinter::new(b"json-unit-test-key", "t").unwrap();
    Redactor::new(
        Arc::clone(set),
        crate::engine::Options {
            style,
            fingerprinter: Arc::new(fp),
            learned_values: crate::config::defaults::LEARNED_VALUES.default_usize(),
        },
    )
}

fn pem_lines(seed: &[u8]) -> (String, String, String, String) {
    let mut rng = crate::rules::template::Rng::from_seed(seed);
    (
        format!("-----BEGIN {} PRIVATE KEY-----", "RSA"),
        format!("-----END {} PRIVATE KEY-----", "RSA"),
        rng.string("b64", 64).unwrap(),
        rng.string("b64", 44).unwrap(),
    )
}

#[test]
fn text_that_is_not_json_is_refused() {
    use JsonError::*;
    let deep = "[".repeat(MAX_DEPTH + 1);
    for (input, want) in [
        ("[1,password=hunter2-hunter2]", Unexpected { at: 3 }),
        (r#"{"a":1} password=x"#, Unexpected { at: 8 }),
        (r#"{"event": password=x}"#, Unexpected { at: 10 }),
        (r#"{"a":1,"b":hunter2}"#, Unexpected { at: 11 }),
        ("[01]", Unexpected { at: 2 }),
        ("[1.]", Unexpected { at: 2 }),
        ("[.5]", Unexpected { at: 1 }),
        ("[-]", Unexpected { at: 2 }),
        ("[1e+]", Unexpected { at: 4 }),
        ("[1x]", Unexpected { at: 2 }),
        ("[tru]", Unexpected { at: 1 }),
        ("[nullx]", Unexpected { at: 5 }),
        (r#"{"a" 1}"#, Unexpected { at: 5 }),
        (r#"{"a":1,}"#, Unexpected { at: 7 }),
        ("[1,]", Unexpected { at: 3 }),
        ("[,1]", Unexpected { at: 1 }),
        ("{,}", Unexpected { at: 1 }),
        ("[}", Unexpected { at: 1 }),
        (r#"{"a":1]"#, Unexpected { at: 6 }),
        ("{1:2}", Unexpected { at: 1 }),
        (r#"{"a":1}}"#, Unexpected { at: 7 }),
        ("[1 2]", Unexpected { at: 3 }),
        (r#"{"a":1"#, Incomplete { at: 6 }),
        ("[", Incomplete { at: 1 }),
        ("\"a\tb\"", ControlCharacter { at: 2 }),
        ("[\"a\nb\"]", ControlCharacter { at: 3 }),
        (r#"{"a":"open"#, UnterminatedString { at: 5 }),
        (&deep, TooDeep { at: MAX_DEPTH }),
        ("\u{feff}\u{feff}{}", Unexpected { at: 3 }),
    ] {
        assert_eq!(redact(input).map(|_| ()), Err(want), "{input:?}");
    }
    // Valid texts, some unusual, pass untouched.
    let nested = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    for input in [
        "",
        " \r\n\t ",
        "[]",
        "{}",
        " 1 2 ",
        r#"[-0.5e+10,0,1E2,true,false,null,"",{}]"#,
        r#"{"a":1}{"b":[2]}"#,
        "\u{feff}{\"a\":1}",
        &nested,
    ] {
        let (out, _) = redact(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(out, input);
    }
}

#[test]
fn ndjson_lines_hold_whole_texts() {
    let mut red = label_redactor();
    let mut lines = |s: &str| redact_with(&mut red, s, Layout::Lines);
    for ok in [
        "{\"a\":1}\n{\"b\":2}\n",
        "{\"a\":1}\r\n\n  \n[1]",
        "{\"a\":1}\n\u{feff}{\"b\":2}\n",
    ] {
        assert_eq!(lines(ok).unwrap(), ok);
    }
    assert_eq!(lines("{\"a\":\n1}\n"), Err(JsonError::SplitLine { at: 5 }));
    assert_eq!(lines("[1,\n2]"), Err(JsonError::SplitLine { at: 3 }));
    // A pretty-printed document is one JSON text, not NDJSON.
    let pretty = "{\n  \"a\": 1\n}\n";
    assert!(lines(pretty).is_err());
    assert_eq!(redact(pretty).unwrap().0, pretty);
}

#[test]
fn numbers_are_scanned_and_a_redacted_one_becomes_a_string() {
    let (out, s) = redact(r#"{"password": 123456789012, "n": -1.5e3}"#).unwrap();
    assert_eq!(
        out,
        r#"{"password": "[REDACTED:generic.password]", "n": -1.5e3}"#
    );
    assert_eq!((s.numbers, s.numbers_redacted, s.findings), (2, 1, 1));
    let card = crate::rules::template::expand_one("json-card", "4{{luhn:15}}").unwrap();
    // Not a card (17 digits), and not a copy of one either: the first
    // card's digits inside a number would be redacted as a learned value.
    let other = crate::rules::template::expand_one("json-card-2", "4{{luhn:15}}").unwrap();
    let input = format!(r#"{{"card":{card},"all":[1,{card}],"x":{other}5}}"#);
    let out = redact_with(&mut all_rules(Style::Label), &input, Layout::Concatenated).unwrap();
    let label = "\"[REDACTED:pii.credit-card]\"";
    assert_eq!(
        out,
        format!(r#"{{"card":{label},"all":[1,{label}],"x":{other}5}}"#)
    );
    for style in [Style::Mask, Style::Partial, Style::Hmac] {
        let out = redact_with(&mut all_rules(style), &input, Layout::Concatenated).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON out");
        assert!(
            v["card"].is_string() && v["all"][1].is_string(),
            "{style:?}: {out}"
        );
        assert!(!out.contains(&format!("{card},")), "{style:?}: {out}");
        assert!(out.contains(&format!("{other}5")), "{style:?}: {out}");
    }
}

#[test]
fn keys_after_a_pem_header_are_never_rewritten() {
    let (begin, end, l1, l2) = pem_lines(b"json-pem");
    let (out, _) = redact(&format!(r#"{{"a":"{begin}","user":"bob"}}"#)).unwrap();
    assert_eq!(out, r#"{"a":"[REDACTED:keys.private-key]","user":"bob"}"#);
    // A block running on through array elements: the first shows the
    // label, the others are emptied; keys after it (even base64-looking
    // ones) stay.
    let input = format!(r#"{{"k":["{begin}","{l1}","{l2}","{end}",7],"MIIE":"bob"}}"#);
    let (out, _) = redact(&input).unwrap();
    assert_eq!(
        out,
        r#"{"k":["[REDACTED:keys.private-key]","","","",7],"MIIE":"bob"}"#
    );
    // Inside one string the block keeps its line breaks (escaped).
    let input = format!(r#"{{"a":"{begin}\n{l1}\n{end}","b":"{l2}"}}"#);
    let (out, _) = redact(&input).unwrap();
    assert_eq!(
        out,
        format!(r#"{{"a":"[REDACTED:keys.private-key]\n\n","b":"{l2}"}}"#)
    );
    // Every style: structure and keys intact, no key line left, no line
    // break added.
    let input =
        format!(r#"{{"a":"{begin}","user":"bob","k":["{begin}","{l1}","{l2}","{end}"],"{l1}":1}}"#);
    for style in [Style::Label, Style::Mask, Style::Partial, Style::Hmac] {
        let out = redact_with(&mut all_rules(style), &input, Layout::Concatenated).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON out");
        assert_eq!(v["user"], "bob", "{style:?}: {out}");
        assert_eq!(v[l1.as_str()], 1, "{style:?}: {out}");
        assert_eq!(v["k"].as_array().map(Vec::len), Some(4), "{style:?}: {out}");
        assert!(!out.contains(&format!("\"{l2}\"")), "{style:?}: {out}");
        assert!(!out.contains("\\n"), "a line break added: {style:?}: {out}");
    }
}

#[test]
fn a_body_many_windows_long_is_redacted_as_its_lines_are_one_by_one() {
    // Lines redacted one by one never leave the first window; the whole
    // body runs through many, with values and blocks across their edges.
    let (begin, end, _, _) = pem_lines(b"json-windows");
    let mut rng = crate::rules::template::Rng::from_seed(b"json-windows");
    let mut lines = Vec::new();
    for i in 0..3000 {
        let pad = rng.string("alnum", (i * 7) % 90).unwrap();
        lines.push(match i % 5 {
            0 => format!(r#"{{"m":"push {} {pad}","n":{i}}}"#, github(&i.to_string())),
            1 if i % 2 == 0 => format!(r#"{{"k":["{begin}","{pad}","{end}"],"user":"u{i}"}}"#),
            // A block left open at the end of a document, and a document
            // with no key first: the block must not run on into it.
            1 => format!(r#"["{begin}","{pad}"]"#),
            2 => format!(r#"[{i},"{pad}",{{"password":{i}1234567}}]"#),
            3 => format!(r#"{{"password":"{pad}x-{i}","a\/b":"\u00e9{pad}"}}"#),
            _ => format!(r#"{{"big":"{}"}}"#, "word ".repeat(i % 40 * 50)),
        });
    }
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert!(body.len() > 4 * crate::scrub::fields::WINDOW);
    let mut red = label_redactor();
    let whole = redact_with(&mut red, &body, Layout::Lines).unwrap();
    let one_by_one: String = lines
        .iter()
        .map(|l| redact_with(&mut red, &format!("{l}\n"), Layout::Lines).unwrap())
        .collect();
    assert_eq!(whole, one_by_one);
    assert!(!whole.contains("ghp_"));
    // One string longer than the window, a secret at each end.
    let tok = github("long");
    let input = format!(r#"["{tok} {} {tok}"]"#, r"a\nb ".repeat(40_000));
    let (out, s) = redact(&input).unwrap();
    assert_eq!(s.findings, 2);
    assert_eq!(out, input.replace(&tok, "[REDACTED:github.pat]"));
}

fn json_value(depth: u32) -> BoxedStrategy<serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i32>().prop_map(|n| serde_json::json!(n)),
        (any::<u8>(), "[ -~]{0,12}", 0u8..4).prop_map(|(seed, text, kind)| {
            let secret = match kind {
                0 => github(&seed.to_string()),
                1 => format!("postgres://app:pw-{seed}-xyz@db.example:5432/d"),
                _ => String::new(),
            };
            serde_json::Value::String(format!("{text} {secret}\"\\/\n\u{e9}"))
        }),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        leaf,
        prop::collection::vec(json_value(depth - 1), 0..4).prop_map(serde_json::Value::Array),
        prop::collection::btree_map("[a-z_]{1,8}", json_value(depth - 1), 0..4)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
    ]
    .boxed()
}

/// Every string of `v`, in order.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The output parses; structure, numbers and every string without a
    /// secret are unchanged; no planted secret survives decoding.
    #[test]
    fn output_is_valid_json_with_only_secret_strings_changed(v in json_value(3), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
        let (out, _) = redact(&text).unwrap();
        let w: serde_json::Value = serde_json::from_str(&out).expect("valid JSON out");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        strings(&v, &mut a);
        strings(&w, &mut b);
        prop_assert_eq!(a.len(), b.len());
        for (before, after) in a.iter().zip(&b) {
            let planted = before.contains("ghp_") || before.contains("://app:");
            if !planted {
                prop_assert_eq!(before, after);
            }
            prop_assert!(!after.contains("ghp_"), "token survived: {}", after);
            prop_assert!(!after.contains("-xyz@"), "password survived: {}", after);
        }
        if !text.contains("ghp_") && !text.contains("://app:") {
            prop_assert_eq!(&out, &text);
        }
    }
}

#[test]
fn many_secrets_in_one_escaped_string_map_back_exactly() {
    // Escapes before, between and after secrets, one written as \u
    // escapes from its first byte: each secret's encoded bytes are
    // replaced, every escape outside them kept.
    let toks: Vec<String> = (0..200).map(|i| github(&format!("esc-{i}"))).collect();
    let mut raw = String::new();
    let mut want = String::new();
    for (i, t) in toks.iter().enumerate() {
        let sep = match i % 3 {
            0 => r"\n\u00e9 ",
            1 => r" \/\t",
            _ => " x ",
        };
        raw.push_str(sep);
        want.push_str(sep);
        if i % 7 == 0 {
            raw.push_str(&format!(r"\u0067\u0068{}", &t[2..]));
        } else {
            raw.push_str(t);
        }
        want.push_str("[REDACTED:github.pat]");
    }
    raw.push_str(r"\u00e9");
    want.push_str(r"\u00e9");
    let (out, s) = redact(&format!(r#"{{"m":"{raw}"}}"#)).unwrap();
    assert_eq!(out, format!(r#"{{"m":"{want}"}}"#));
    assert_eq!(s.findings, 200);
}

/// Whether serde_json reads all of `b` as a sequence of JSON values.
fn serde_accepts(b: &[u8]) -> bool {
    serde_json::Deserializer::from_slice(b)
        .into_iter::<serde::de::IgnoredAny>()
        .all(|v| v.is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The grammar check agrees with serde_json on text made of JSON's own
    /// bytes (mostly broken), and what it accepts comes out unchanged.
    #[test]
    fn the_grammar_agrees_with_serde_json(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"", "\"a\"", "\"k\":", "0", "1", "-", ".", "e",
                "+", "10", "true", "false", "null", "nul", " ", "\n", "\\", "\\n", "\\u00e9",
                "\\u0", "x",
            ]),
            0..24,
        )
    ) {
        let text = parts.concat();
        let ours = redact(&text);
        prop_assert_eq!(ours.is_ok(), serde_accepts(text.as_bytes()), "{:?}: {:?}", text, ours);
        if let Ok((out, _)) = ours {
            prop_assert_eq!(out, text);
        }
    }
}

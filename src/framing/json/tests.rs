//! JSON string redaction: byte preservation, escapes, key context, errors,
//! and a property test against serde_json.

use proptest::prelude::*;

use super::*;
use crate::engine::testing::label_redactor;

fn redact(input: &str) -> Result<(String, JsonStats), JsonError> {
    let mut red = label_redactor();
    let mut out = Vec::new();
    let mut findings = Vec::new();
    let stats = JsonRedactor::new().redact(&mut red, input.as_bytes(), &mut out, &mut findings)?;
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

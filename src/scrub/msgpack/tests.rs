//! msgpack redaction checked against rmpv (an independent encoder and
//! decoder): byte preservation, secrets in values, keys, bin and nested
//! arrays, header growth at every format boundary, the JSON equivalence,
//! and every error.

use proptest::prelude::*;
use rmpv::Value;

use super::*;
use crate::engine::testing::label_redactor as redactor;
use crate::formats::msgpack::{put_header, Family, MsgpackError, MAX_DEPTH};
use crate::rules::template::Rng;
use crate::scrub::json::JsonRedactor;

fn redact(input: &[u8]) -> Result<(Vec<u8>, MsgpackStats), MsgpackError> {
    let mut out = b"kept".to_vec();
    let mut findings = Vec::new();
    let r = MsgpackRedactor::new().redact(&mut redactor(), input, &mut out, &mut findings);
    match r {
        Ok(stats) => {
            assert_eq!(stats.findings, findings.len() as u64);
            assert_eq!(&out[..4], b"kept", "output is appended");
            Ok((out[4..].to_vec(), stats))
        }
        Err(e) => {
            assert_eq!(out, b"kept", "nothing written on error");
            Err(e)
        }
    }
}

fn enc(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        rmpv::encode::write_value(&mut out, v).unwrap();
    }
    out
}

/// Every object of `b`, decoded by rmpv; the whole buffer must be used.
fn dec(mut b: &[u8]) -> Vec<Value> {
    let mut v = Vec::new();
    while !b.is_empty() {
        v.push(rmpv::decode::read_value(&mut b).expect("rmpv decodes the output"));
    }
    v
}

/// An AWS access key id: 20 bytes, labelled with 28, so it grows.
fn aws(seed: &str) -> String {
    format!(
        "AKIA{}",
        Rng::from_seed(seed.as_bytes()).string("upper", 16).unwrap()
    )
}
const AWS_LABEL: &str = "[REDACTED:aws.access-key-id]";

/// A GitHub token with a valid checksum: 40 bytes, labelled with 21.
fn github(seed: &str) -> String {
    crate::rules::template::expand_one(seed, "ghp_{{crc62:36}}").unwrap()
}
const GH_LABEL: &str = "[REDACTED:github.pat]";

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// EventTime: ext 0, seconds and nanoseconds as big-endian u32s.
fn event_time(sec: u32, nsec: u32) -> Value {
    let mut d = sec.to_be_bytes().to_vec();
    d.extend_from_slice(&nsec.to_be_bytes());
    Value::Ext(0, d)
}

#[test]
fn untouched_msgpack_is_byte_identical() {
    // Every type, with some wide headers rmpv would not choose.
    let mut wide = vec![
        0xda, 0x00, 0x02, b'h', b'i', // str16 holding 2 bytes
        0xdb, 0, 0, 0, 1, b'x', // str32 holding 1 byte
        0xd9, 0x00, // empty str8
        0xa0, // empty fixstr
        0xc4, 0x00, // empty bin8
        0xc6, 0, 0, 0, 3, 0xff, 0x00, 0xc1, // bin32 of binary bytes
        0xdc, 0x00, 0x01, 0xc0, // array16 of one nil
        0xdf, 0, 0, 0, 1, 0xa1, b'k', 0xc3, // map32 {"k": true}
        0xde, 0x00, 0x00, // empty map16
        0x90, 0x80, // empty fixarray, empty fixmap
        0xc7, 0x00, 0x05, // empty ext8 of type 5
        0xc8, 0x00, 0x01, 0xfe, 0xaa, // ext16 of type -2
        0xc9, 0, 0, 0, 2, 0x01, 0xc1, 0xc1, // ext32 holding 0xc1 bytes
        0xd4, 0x01, 0xc1, 0xd5, 0x01, 0, 0, 0xd6, 0x01, 0, 0, 0, 0, // fixext 1, 2, 4
        0xd8, 0x7f, // fixext16
    ];
    wide.extend_from_slice(&[0xc1; 16]);
    let natural = enc(&[
        Value::Array(vec![
            Value::Array(vec![
                event_time(1_795_000_000, 5),
                map(vec![("tag", "app.log".into())]),
            ]),
            map(vec![
                ("date", Value::F64(1_795_000_000.25)),
                ("f32", Value::F32(-1.5)),
                ("n", Value::from(-33)),
                ("big", Value::from(u64::MAX)),
                ("neg", Value::from(i64::MIN)),
                ("small", Value::from(200u8)),
                ("u16", Value::from(60_000u16)),
                ("i16", Value::from(-300i16)),
                ("u32", Value::from(4_000_000_000u32)),
                ("i32", Value::from(-70_000i32)),
                ("ok", Value::Boolean(false)),
                ("nothing", Value::Nil),
                ("log", "GET /health 200 3ms".into()),
                ("raw", Value::Binary(b"plain bytes\n".to_vec())),
                ("fixext8", Value::Ext(-1, vec![0; 8])),
                ("long", "x".repeat(70_000).into()),
            ]),
        ]),
        Value::from("second object"),
        Value::from(7),
    ]);
    for input in [wide, natural, Vec::new()] {
        let (out, stats) = redact(&input).unwrap();
        assert!(out == input, "changed: {} bytes in", input.len());
        assert_eq!((stats.strings_redacted, stats.findings), (0, 0));
    }
}

#[test]
fn secrets_in_values_keys_bin_and_nested_arrays_are_redacted() {
    let (gh, key) = (github("values"), aws("values"));
    let record = |gh: &str, key: &str, pw: &str| {
        vec![
            Value::Array(vec![
                Value::Array(vec![event_time(1_795_000_000, 5), Value::Map(vec![])]),
                map(vec![
                    ("log", format!("push with {gh} ok").into()),
                    ("password", pw.into()),
                    (
                        &format!("key {key}"),
                        Value::from("colour"), // a secret in a key
                    ),
                    ("raw", Value::Binary(format!("bin {key} end").into_bytes())),
                    (
                        "nested",
                        Value::Array(vec![
                            Value::from(1),
                            Value::Array(vec![format!("[{gh}]").into()]),
                            map(vec![("inner", key.into())]),
                        ]),
                    ),
                    ("n", Value::from(5)),
                ]),
            ]),
            Value::Array(vec![Value::from(1_795_000_001), map(vec![])]),
        ]
    };
    let input = enc(&record(&gh, &key, "hunter2-hunter2"));
    let want = record(GH_LABEL, AWS_LABEL, "[REDACTED:generic.password]");
    let mut findings = Vec::new();
    let mut out = Vec::new();
    let stats = MsgpackRedactor::new()
        .redact(&mut redactor(), &input, &mut out, &mut findings)
        .unwrap();
    assert_eq!(dec(&out), want);
    assert_eq!(stats.strings_redacted, 6);
    // At least one finding per secret (the key holding one is found twice:
    // on its own, and as the context of its value, as in JSON; overlapping
    // generic rules may add more).
    assert!(stats.findings >= 6, "{stats:?}");
    let rules: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f.rule.as_str()).collect();
    for r in ["github.pat", "aws.access-key-id", "generic.password"] {
        assert!(rules.contains(r), "{r} in {rules:?}");
    }
    // The EventTime and everything before the first secret are untouched.
    let log_at = out.windows(3).position(|w| w == b"log").unwrap();
    assert_eq!(out[..log_at], input[..log_at]);
}

/// A `str` of exactly `len` bytes holding an AWS key, in `header` form.
fn str_with_key(len: usize, key: &str, class: u8) -> (Vec<u8>, String) {
    let text = format!("{key} {}", "a".repeat(len - key.len() - 1));
    let mut b = Vec::new();
    put_header(Family::Str, class, len, 0, &mut b).unwrap();
    b.extend_from_slice(text.as_bytes());
    (b, text)
}

#[test]
fn a_grown_string_takes_the_next_header_only_when_it_must() {
    let key = aws("grow");
    let grow = AWS_LABEL.len() - key.len();
    // (length, original class, class after redaction)
    for (len, class, want) in [
        (31 - grow, 0, 0u8),
        (31 - grow + 1, 0, 1),
        (31, 0, 1),
        (255 - grow, 1, 1),
        (255 - grow + 1, 1, 2),
        (255, 1, 2),
        (65_535 - grow, 2, 2),
        (65_535 - grow + 1, 2, 3),
        (40, 2, 2), // never narrowed: str16 stays str16
        (40, 3, 3),
    ] {
        let (input, text) = str_with_key(len, &key, class);
        let (out, _) = redact(&input).unwrap();
        let new = text.replace(&key, AWS_LABEL);
        let head = match want {
            0 => 1,
            1 => 2,
            2 => 3,
            _ => 5,
        };
        let tag = [0xa0 | new.len() as u8, 0xd9, 0xda, 0xdb][want as usize];
        assert_eq!(out[0], tag, "len {len} class {class}");
        assert_eq!(out.len(), head + new.len(), "len {len} class {class}");
        assert_eq!(&out[head..], new.as_bytes());
        assert_eq!(dec(&out), vec![Value::from(new)]);
    }
    // A shrinking secret keeps the header format too (str8 of 40 bytes).
    let gh = github("shrink");
    let input = enc(&[Value::from(format!("{gh} "))]);
    assert_eq!(input[0], 0xd9);
    let (out, _) = redact(&input).unwrap();
    assert_eq!(out[..2], [0xd9, GH_LABEL.len() as u8 + 1]);
    // bin: bin8 grows into bin16.
    let text = format!("{key} {}", "b".repeat(255 - key.len() - 1));
    let input = enc(&[Value::Binary(text.clone().into_bytes())]);
    assert_eq!(input[0], 0xc4);
    let (out, _) = redact(&input).unwrap();
    assert_eq!(out[0], 0xc5);
    assert_eq!(
        dec(&out),
        vec![Value::Binary(text.replace(&key, AWS_LABEL).into_bytes())]
    );
}

#[test]
fn a_record_is_redacted_as_its_json_twin_is() {
    let (gh, key) = (github("twin"), aws("twin"));
    let secret_key = format!("key {key}");
    let pairs = [
        ("log", format!("token {gh} used")),
        ("password", "hunter2-hunter2".to_string()),
        ("api_key", "abcdefghijklmnop0123456789".to_string()),
        ("dsn", "postgres://app:pw-secret-1@db:5432/d".to_string()),
        (secret_key.as_str(), "v".to_string()),
        ("colour", "hunter2-hunter2".to_string()),
    ];
    let json = serde_json::Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str())))
            .collect(),
    );
    let mut json_out = Vec::new();
    let mut json_findings = Vec::new();
    JsonRedactor::new()
        .redact(
            &mut redactor(),
            json.to_string().as_bytes(),
            crate::formats::json::Layout::Concatenated,
            &mut json_out,
            &mut json_findings,
        )
        .unwrap();
    let json_out: serde_json::Value = serde_json::from_slice(&json_out).unwrap();
    let input = enc(&[map(pairs
        .iter()
        .map(|(k, v)| (*k, Value::from(v.as_str())))
        .collect())]);
    let (out, stats) = redact(&input).unwrap();
    let Value::Map(got) = &dec(&out)[0] else {
        panic!("not a map")
    };
    let got: serde_json::Map<String, serde_json::Value> = got
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
        .collect();
    assert_eq!(serde_json::Value::Object(got), json_out);
    assert_eq!(stats.findings, json_findings.len() as u64);
    assert!(stats.findings >= 5, "{stats:?}");
}

#[test]
fn malformed_buffers_are_errors() {
    use MsgpackError::*;
    let one = enc(&[Value::Array(vec![
        event_time(1, 2),
        map(vec![
            ("log", "x".repeat(300).into()),
            ("b", Value::Binary(vec![1; 70_000])),
            ("f", Value::F64(0.5)),
            ("e", Value::Ext(3, vec![9; 20])),
            ("a", Value::Array(vec![Value::from(1u64 << 40); 20])),
        ]),
    ])]);
    // msgpack is prefix-free: every cut of one object is truncated.
    for cut in 1..one.len() {
        match redact(&one[..cut]) {
            Err(Truncated { .. }) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // An unfinished container names the outermost open one.
    let mut two = enc(&[Value::from(1)]);
    two.extend_from_slice(&[0x92, 0x91, 0xc0]);
    assert_eq!(redact(&two), Err(Truncated { at: 1 }));
    // Lengths past the end, at the top and nested.
    assert_eq!(
        redact(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
        Err(Truncated { at: 0 })
    );
    assert_eq!(
        redact(&[0x91, 0xc6, 0, 0, 0, 9, 1]),
        Err(Truncated { at: 1 })
    );
    assert_eq!(redact(&[0x91, 0xc9, 0xff]), Err(Truncated { at: 1 }));
    assert_eq!(redact(&[0xcb, 0, 0]), Err(Truncated { at: 0 }));
    // A huge count on a small buffer is cheap and truncated.
    assert_eq!(
        redact(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b'k']),
        Err(Truncated { at: 0 })
    );
    // The reserved byte, at the top, as a value, as a key.
    assert_eq!(redact(&[0xc1]), Err(Reserved { at: 0 }));
    assert_eq!(
        redact(&[0xa1, b'x', 0x92, 1, 0xc1]),
        Err(Reserved { at: 4 })
    );
    assert_eq!(redact(&[0x81, 0xc1, 0xc0]), Err(Reserved { at: 1 }));
    // Nesting: MAX_DEPTH containers are fine, one more is not.
    let nest = |levels: usize| {
        let mut b = vec![0x91; levels];
        b.push(0xa1);
        b.push(b'x');
        b
    };
    assert!(redact(&nest(MAX_DEPTH)).is_ok());
    assert_eq!(redact(&nest(MAX_DEPTH + 1)), Err(TooDeep { at: MAX_DEPTH }));
    // Empty containers do not nest.
    let mut flat = vec![0x90; 10 * MAX_DEPTH];
    flat.extend_from_slice(&[0x80; 10]);
    assert!(redact(&flat).is_ok());
    // Messages name offsets only.
    assert_eq!(
        Truncated { at: 7 }.to_string(),
        "msgpack object at byte 7 is truncated"
    );
}

// === property tests ===

/// A generated value: rmpv's, with header widths chosen at random.
fn value(secret: bool) -> impl Strategy<Value = Value> {
    let text = if secret {
        prop_oneof![
            3 => "[a-e ]{0,300}",
            1 => "[a-e ]{0,40}".prop_map(|t| format!("{t} SECRET {t}")),
        ]
        .boxed()
    } else {
        "[a-e ]{0,300}".boxed()
    };
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f32..1e9).prop_map(Value::F32),
        (-1e300f64..1e300).prop_map(Value::F64),
        text.clone().prop_map(Value::from),
        text.clone().prop_map(|t| Value::Binary(t.into_bytes())),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d)),
        (any::<u32>(), any::<u32>()).prop_map(|(s, n)| event_time(s, n)),
    ];
    leaf.prop_recursive(6, 200, 12, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof!["[a-e]{1,8}".prop_map(Value::from), inner.clone()],
                    inner
                ),
                0..8
            )
            .prop_map(Value::Map),
        ]
    })
}

/// Encodes `v` like rmpv, but each str, bin, array and map header takes a
/// width from `widths` (when at least as wide as the length needs).
fn enc_wide(v: &Value, widths: &mut impl Iterator<Item = u8>, out: &mut Vec<u8>) {
    let w = widths.next().unwrap_or(0) % 4;
    let (n, fix, wide) = match v {
        Value::String(s) => {
            let b = s.as_bytes();
            put_header(Family::Str, w, b.len(), 0, out).unwrap();
            out.extend_from_slice(b);
            return;
        }
        Value::Binary(b) => {
            put_header(Family::Bin, w.max(1), b.len(), 0, out).unwrap();
            out.extend_from_slice(b);
            return;
        }
        Value::Array(a) => (a.len(), 0x90, 0xdc),
        Value::Map(m) => (m.len(), 0x80, 0xde),
        other => return rmpv::encode::write_value(out, other).unwrap(),
    };
    match w {
        0 if n < 16 => out.push(fix | n as u8),
        0..=2 => {
            out.push(wide);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(wide + 1);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    enc_items(v, widths, out);
}

fn enc_items(v: &Value, widths: &mut impl Iterator<Item = u8>, out: &mut Vec<u8>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| enc_wide(x, widths, out)),
        Value::Map(m) => m.iter().for_each(|(k, x)| {
            enc_wide(k, widths, out);
            enc_wide(x, widths, out);
        }),
        _ => unreachable!(),
    }
}

/// `v` with `from` replaced by `to` in every str and bin.
fn replaced(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::String(s) => Value::from(s.as_str().unwrap().replace(from, to)),
        Value::Binary(b) => Value::Binary(
            String::from_utf8(b.clone())
                .unwrap()
                .replace(from, to)
                .into_bytes(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| replaced(x, from, to)).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, x)| (replaced(k, from, to), replaced(x, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Data without secrets comes back byte for byte, whatever the header
    /// widths; rmpv decodes the encoder's output as the same values.
    #[test]
    fn untouched_values_round_trip(
        values in prop::collection::vec(value(false), 1..4),
        widths in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut input = Vec::new();
        let mut w = widths.into_iter().cycle();
        for v in &values {
            enc_wide(v, &mut w, &mut input);
        }
        prop_assert_eq!(&dec(&input), &values);
        let (out, stats) = redact(&input).unwrap();
        prop_assert_eq!(stats.findings, 0);
        prop_assert!(out == input);
    }

    /// An AWS key placed anywhere (values, keys, bin, nested) is replaced,
    /// every header fits, and nothing else changes.
    #[test]
    fn planted_secrets_are_replaced_and_the_rest_kept(
        values in prop::collection::vec(value(true), 1..4),
        widths in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let key = aws("planted");
        let values: Vec<Value> = values.iter().map(|v| replaced(v, "SECRET", &key)).collect();
        let mut input = Vec::new();
        let mut w = widths.into_iter().cycle();
        for v in &values {
            enc_wide(v, &mut w, &mut input);
        }
        let (out, stats) = redact(&input).unwrap();
        let want: Vec<Value> = values.iter().map(|v| replaced(v, &key, AWS_LABEL)).collect();
        prop_assert_eq!(dec(&out), want);
        let planted = input.windows(key.len()).filter(|w| *w == key.as_bytes()).count();
        // A secret in a key is found twice when its value is a string:
        // on its own, and as the value's context (as in JSON).
        prop_assert!((planted..=2 * planted).contains(&(stats.findings as usize)));
        prop_assert!(!out.windows(key.len()).any(|w| w == key.as_bytes()));
        if planted == 0 {
            prop_assert!(out == input);
        }
    }
}

#[test]
fn keys_after_a_pem_header_are_never_rewritten() {
    // As in JSON (issue 12 item 6): the block runs on through the array
    // of key lines, never into the keys after it, and adds no line break.
    let begin = format!("-----BEGIN {} PRIVATE KEY-----", "RSA");
    let line = Rng::from_seed(b"msgpack-pem").string("b64", 64).unwrap();
    let input = enc(&[map(vec![
        ("a", Value::from(begin.as_str())),
        ("user", Value::from("bob")),
        (
            "k",
            Value::Array(vec![
                Value::from(begin.as_str()),
                Value::from(line.as_str()),
            ]),
        ),
        ("MIIE", Value::from("bob")),
    ])]);
    let (out, _) = redact(&input).unwrap();
    let label = "[REDACTED:keys.private-key]";
    let want = enc(&[map(vec![
        ("a", Value::from(label)),
        ("user", Value::from("bob")),
        ("k", Value::Array(vec![Value::from(label), Value::from("")])),
        ("MIIE", Value::from("bob")),
    ])]);
    assert_eq!(dec(&out), dec(&want));
}

//! Wire-level rewriting checked against messages built field by field:
//! the expected output is the same message built with the replaced strings,
//! so every length prefix up to the root must be right.

use super::*;
use crate::engine::testing::label_redactor;
use crate::formats::protobuf::{put_varint, LOKI_PUSH, OTLP_ANY_VALUE, OTLP_LOGS};
use crate::rules::template::Rng;

fn redact(schema: &'static Schema, input: &[u8]) -> Result<(Vec<u8>, u64), ProtoError> {
    let mut red = label_redactor();
    let mut out = Vec::new();
    let n = ProtoRedactor::new().redact(&mut red, schema, input, &mut out, &mut Vec::new())?;
    Ok((out, n))
}

/// A field for the test encoder.
enum F {
    V(u32, u64),
    S(u32, Vec<u8>),
    M(u32, Vec<F>),
    X64(u32, u64),
    X32(u32, u32),
}

fn s(n: u32, t: &str) -> F {
    F::S(n, t.as_bytes().to_vec())
}

fn enc(fields: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        match f {
            F::V(n, v) => {
                put_varint(u64::from(*n) << 3, &mut out);
                put_varint(*v, &mut out);
            }
            F::X64(n, v) => {
                put_varint((u64::from(*n) << 3) | 1, &mut out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            F::X32(n, v) => {
                put_varint((u64::from(*n) << 3) | 5, &mut out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            F::S(n, b) => {
                put_varint((u64::from(*n) << 3) | 2, &mut out);
                put_varint(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
            F::M(n, inner) => {
                let b = enc(inner);
                put_varint((u64::from(*n) << 3) | 2, &mut out);
                put_varint(b.len() as u64, &mut out);
                out.extend_from_slice(&b);
            }
        }
    }
    out
}

/// An OTLP request whose strings come from `t` (secret or label).
fn otlp(body: &str, (key, value): (&str, &str), uri: &str) -> Vec<u8> {
    use F::*;
    let kv = |k: &str, v: F| M(6, vec![s(1, k), M(2, vec![v])]);
    enc(&[M(
        1,
        vec![
            M(
                1,
                vec![M(
                    1,
                    vec![s(1, "service.name"), M(2, vec![s(1, "checkout")])],
                )],
            ),
            M(
                2,
                vec![
                    M(1, vec![s(1, "scope"), s(2, "1.0")]),
                    M(
                        2,
                        vec![
                            X64(1, 1_700_000_000_000_000_000),
                            V(2, 9),
                            s(3, "INFO"),
                            M(5, vec![s(1, body)]),
                            kv(key, s(1, value)),
                            kv(
                                "nested",
                                M(6, vec![M(1, vec![s(1, "dsn"), M(2, vec![s(1, uri)])])]),
                            ),
                            kv(
                                "list",
                                M(5, vec![M(1, vec![s(1, uri)]), M(1, vec![V(3, 5)])]),
                            ),
                            F::S(9, vec![0xab; 16]),
                            X32(8, 1),
                            V(99, 7),
                        ],
                    ),
                ],
            ),
        ],
    )])
}

#[test]
fn otlp_strings_are_redacted_and_every_length_to_the_root_fixed() {
    let tok = crate::rules::template::expand_one("otlp", "ghp_{{crc62:36}}").unwrap();
    let input = otlp(
        &format!("login with token {tok} ok"),
        ("password", "hunter2-hunter2"),
        "postgres://app:pw-secret-1@db:5432/d",
    );
    let want = otlp(
        "login with token [REDACTED:github.pat] ok",
        ("password", "[REDACTED:generic.password]"),
        "postgres://app:[REDACTED:urls.database-uri]@db:5432/d",
    );
    let (got, changed) = redact(&OTLP_LOGS, &input).unwrap();
    assert_eq!(got, want);
    assert_eq!(changed, 4);
}

#[test]
fn a_message_without_secrets_is_returned_byte_for_byte() {
    // The same value under a key that gives no context is left alone.
    let input = otlp("all fine", ("colour", "hunter2-hunter2"), "no uri");
    let (got, changed) = redact(&OTLP_LOGS, &input).unwrap();
    assert_eq!((got, changed), (input, 0));
}

#[test]
fn loki_lines_and_structured_metadata() {
    use F::*;
    let key = format!(
        "AKIA{}",
        Rng::from_seed(b"loki").string("upper", 16).unwrap()
    );
    let push = |line: &str, meta: &str| {
        enc(&[M(
            1,
            vec![
                s(1, "{app=\"api\", env=\"prod\"}"),
                M(
                    2,
                    vec![
                        M(1, vec![V(1, 1_700_000_000), V(2, 5)]),
                        s(2, line),
                        M(3, vec![s(1, "token"), s(2, meta)]),
                    ],
                ),
                V(3, 42),
            ],
        )])
    };
    let input = push(
        &format!("uploading with {key}"),
        "abcdefghijklmnop0123456789",
    );
    let want = push(
        "uploading with [REDACTED:aws.access-key-id]",
        "[REDACTED:generic.token]",
    );
    assert_eq!(redact(&LOKI_PUSH, &input).unwrap().0, want);
}

#[test]
fn malformed_messages_are_errors() {
    let input = otlp("x", ("y", "z"), "w");
    for cut in [1, input.len() / 2, input.len() - 1] {
        assert!(redact(&OTLP_LOGS, &input[..cut]).is_err(), "cut at {cut}");
    }
    // A group (wire type 3) is refused.
    assert_eq!(
        redact(&OTLP_LOGS, &[0x0b, 0x0c]),
        Err(ProtoError::BadWireType {
            message: "ExportLogsServiceRequest",
            wire_type: 3
        })
    );
    // Nesting past the cap: AnyValue > ArrayValue > AnyValue > ...
    let nest = |levels: usize| {
        let mut v = enc(&[s(1, "leaf")]);
        for _ in 0..levels {
            v = enc(&[F::S(5, enc(&[F::S(1, v)]))]);
        }
        v
    };
    assert!(redact(&OTLP_ANY_VALUE, &nest(20)).is_ok());
    assert_eq!(redact(&OTLP_ANY_VALUE, &nest(40)), Err(ProtoError::TooDeep));
}

/// An OTLP request with `t` in every client-written string field beyond
/// bodies and attributes: schema URLs, entity refs, scope name and
/// version, severity text and event name; plus `*_strindex` varints.
fn otlp_all_strings(t: &str) -> Vec<u8> {
    use F::*;
    enc(&[M(
        1,
        vec![
            M(
                1,
                vec![
                    M(
                        1,
                        vec![s(1, "host"), M(2, vec![s(1, "h1"), V(8, 3)]), V(3, 4)],
                    ),
                    V(2, 0),
                    M(
                        3,
                        vec![
                            s(1, &format!("https://schemas.example/{t}")),
                            s(2, &format!("service {t}")),
                            s(3, "service.name"),
                            s(3, &format!("id {t}")),
                            s(4, &format!("desc {t}")),
                        ],
                    ),
                ],
            ),
            M(
                2,
                vec![
                    M(
                        1,
                        vec![
                            s(1, &format!("logger {t}")),
                            s(2, &format!("v {t}")),
                            V(4, 0),
                        ],
                    ),
                    M(
                        2,
                        vec![
                            X64(1, 1_700_000_000_000_000_000),
                            X64(11, 1_700_000_000_000_000_001),
                            V(2, 17),
                            s(3, &format!("ERROR {t}")),
                            M(5, vec![s(1, "body")]),
                            V(7, 0),
                            X32(8, 1),
                            F::S(9, vec![0xab; 16]),
                            F::S(10, vec![0xcd; 8]),
                            s(12, &format!("login.failed {t}")),
                        ],
                    ),
                    s(3, &format!("https://schemas.example/scope/{t}")),
                ],
            ),
            s(3, &format!("https://schemas.example/resource/{t}")),
        ],
    )])
}

#[test]
fn otlp_severity_text_event_name_scope_and_schema_strings_are_scanned() {
    let key = format!(
        "AKIA{}",
        Rng::from_seed(b"otlp-all").string("upper", 16).unwrap()
    );
    let input = otlp_all_strings(&key);
    let want = otlp_all_strings("[REDACTED:aws.access-key-id]");
    let (got, changed) = redact(&OTLP_LOGS, &input).unwrap();
    assert_eq!(got, want);
    // 4 entity ref strings (its schema URL included), scope name and
    // version, severity text, event name, and the two logs schema URLs.
    assert_eq!(changed, 10);
    // Without a secret nothing moves, ids and strindex varints included.
    let clean = otlp_all_strings("ok");
    assert_eq!(redact(&OTLP_LOGS, &clean).unwrap(), (clean, 0));
}

//! Request bodies of log-ingestion APIs, redacted in their own format:
//! what a body is ([`Format`]), why one is refused ([`BodyError`]), and
//! [`BodyRedactor`], which runs one [`Redactor`] over a decoded body with
//! the right format's scrubber. Decoding and re-encoding the
//! `Content-Encoding` is [`crate::formats::codec`]'s; when a body is
//! complete and what to reply is the HTTP listener's.
//!
//! | format | how it is recognised | what is redacted |
//! |---|---|---|
//! | NDJSON (`_bulk`, json_lines) | `application/x-ndjson`, `/_bulk` paths typed JSON or untyped | every JSON string and number, lines and action lines kept byte for byte; each line must hold whole JSON texts |
//! | JSON (Datadog, Loki JSON, OTLP/JSON, Splunk HEC batches) | `application/json` | every JSON string and number ([`JsonRedactor`]); the body must be JSON |
//! | Loki protobuf | `application/x-protobuf` on `/loki/api/v1/push` (raw snappy) | lines, stream labels, structured metadata |
//! | OTLP/HTTP protobuf | `application/x-protobuf` on `/v1/logs` | bodies, attributes, nested values |
//! | msgpack (Fluent Bit `format msgpack`) | `application/msgpack`, `application/x-msgpack`, any path; buffered | every `str` and `bin` ([`MsgpackRedactor`]), ext values (EventTime) and numbers kept byte for byte |
//! | text | anything else | the whole body as a stream |
//!
//! A body that cannot be decoded or parsed is an error (answered 4xx): it
//! is never forwarded unscanned.

use crate::engine::{Finding, Redactor, Sink};
use crate::formats::codec::{encode, snappy_decode, CodecError, Coding};
use crate::formats::json::{JsonError, Layout};
use crate::formats::msgpack::MsgpackError;
use crate::formats::protobuf::{ProtoError, LOKI_PUSH, OTLP_LOGS};
use crate::scrub::json::JsonRedactor;
use crate::scrub::msgpack::MsgpackRedactor;
use crate::scrub::protobuf::ProtoRedactor;
use std::convert::Infallible;

/// How a body is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Newline-delimited or concatenated JSON texts.
    Ndjson,
    /// One JSON text.
    Json,
    /// Loki `PushRequest`, raw-snappy compressed by the protocol itself.
    LokiProtobuf,
    /// OTLP `ExportLogsServiceRequest`.
    OtlpProtobuf,
    /// Concatenated msgpack objects (Fluent Bit's `format msgpack`).
    Msgpack,
    /// Anything else: a byte stream.
    Text,
}

impl Format {
    /// Classifies a request by path and `Content-Type`; `None` for a body
    /// this proxy cannot read (refused with 415: scanning binary data as
    /// text would neither find secrets in it nor leave it intact).
    ///
    /// - Loki's push route is JSON when it says so and protobuf otherwise,
    ///   a missing `Content-Type` included, as Loki itself reads it; OTLP's
    ///   `/v1/logs` likewise (protobuf is the SDKs' default).
    /// - `_bulk` routes are NDJSON when typed JSON (rsyslog sends
    ///   `application/json`, Elasticsearch 8 clients
    ///   `application/vnd.elasticsearch+x-ndjson`) or untyped; any other
    ///   type there is classified as on any route (protobuf is refused, not
    ///   read as NDJSON). Splunk HEC's event routes are concatenated JSON
    ///   objects, usually untyped; its `/raw` route is text.
    /// - msgpack (`application/msgpack`, `application/x-msgpack`) on any
    ///   route, `_bulk` included: the type is explicit and the body binary.
    /// - Otherwise by type: NDJSON, JSON (`+json` too), and text for
    ///   `text/*`, form and XML bodies, Heroku's `logplex-1`, and untyped
    ///   bodies. Any other type (`application/octet-stream`, protobuf
    ///   elsewhere, ...) is refused.
    pub fn classify(path: &str, content_type: Option<&str>) -> Option<Format> {
        let ct = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let json = ct == "application/json" || ct.ends_with("+json");
        let ndjson = matches!(
            ct.as_str(),
            "application/x-ndjson" | "application/ndjson" | "application/jsonlines"
        ) || ct.ends_with("+x-ndjson");
        let protobuf_or_none = matches!(
            ct.as_str(),
            "" | "application/x-protobuf" | "application/protobuf"
        );
        let msgpack = matches!(ct.as_str(), "application/msgpack" | "application/x-msgpack");
        let path = path.trim_end_matches('/');
        let hec_event = path.ends_with("/services/collector")
            || path.ends_with("/services/collector/event")
            || path.ends_with("/services/collector/event/1.0");
        Some(if path.ends_with("/loki/api/v1/push") && protobuf_or_none {
            Format::LokiProtobuf
        } else if path.ends_with("/v1/logs") && protobuf_or_none {
            Format::OtlpProtobuf
        } else if msgpack {
            Format::Msgpack
        } else if ndjson || (path.ends_with("/_bulk") && (json || ct.is_empty())) {
            Format::Ndjson
        } else if json || (hec_event && (ct.is_empty() || ct.starts_with("text/"))) {
            Format::Json
        } else if ct.is_empty()
            || ct.starts_with("text/")
            || ct.ends_with("+xml")
            || matches!(
                ct.as_str(),
                "application/x-www-form-urlencoded" | "application/xml" | "application/logplex-1"
            )
        {
            Format::Text
        } else {
            return None;
        })
    }
}

/// Why a body was refused. Messages carry limits, offsets and codec
/// messages, never body bytes.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Decoded, it would exceed the limit (413).
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A streamed NDJSON line is longer than the limit (413).
    #[error("an NDJSON line exceeds the limit of {limit} bytes")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The coding's data is corrupt (400).
    #[error("cannot decode {coding:?} body: {why}")]
    Decode {
        /// The coding.
        coding: Coding,
        /// What went wrong.
        why: String,
    },
    /// No decoder could be made for the coding (out of memory; 500).
    #[error("cannot start a {coding:?} decoder: {why}")]
    DecoderUnavailable {
        /// The coding.
        coding: Coding,
        /// What the codec said.
        why: String,
    },
    /// JSON strings could not be read (400).
    #[error("invalid JSON body: {0}")]
    Json(JsonError),
    /// The protobuf message could not be walked (400).
    #[error("invalid protobuf body: {0}")]
    Protobuf(ProtoError),
    /// The msgpack body could not be walked (400).
    #[error("invalid msgpack body: {0}")]
    Msgpack(MsgpackError),
    /// A protobuf body the schema does not fit (415).
    #[error("{0}")]
    Unsupported(String),
}

impl BodyError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } | BodyError::LineTooLong { .. } => 413,
            BodyError::Unsupported(_) => 415,
            BodyError::DecoderUnavailable { .. } => 500,
            _ => 400,
        }
    }
}

impl From<CodecError> for BodyError {
    fn from(e: CodecError) -> BodyError {
        match e {
            CodecError::TooLarge { limit } => BodyError::TooLarge { limit },
            CodecError::Corrupt { coding, why } => BodyError::Decode { coding, why },
            CodecError::Unavailable { coding, why } => {
                BodyError::DecoderUnavailable { coding, why }
            }
        }
    }
}

/// Reusable scratch for bodies.
#[derive(Debug, Default)]
pub struct BodyRedactor {
    json: JsonRedactor,
    proto: ProtoRedactor,
    msgpack: MsgpackRedactor,
}

struct Collect<'a> {
    out: &'a mut Vec<u8>,
    findings: &'a mut Vec<Finding>,
}

impl Sink for Collect<'_> {
    type Error = Infallible;
    fn bytes(&mut self, b: &[u8]) -> Result<(), Infallible> {
        self.out.extend_from_slice(b);
        Ok(())
    }
    fn finding(&mut self, f: Finding) -> Result<(), Infallible> {
        self.findings.push(f);
        Ok(())
    }
}

impl BodyRedactor {
    /// Empty scratch.
    pub fn new() -> BodyRedactor {
        BodyRedactor::default()
    }

    /// The JSON redactor, for bodies streamed line by line.
    pub(crate) fn json_mut(&mut self) -> &mut JsonRedactor {
        &mut self.json
    }

    /// Redacts a decoded body of `format` onto `out`; a Loki protobuf body
    /// is given and returned snappy-compressed, as the protocol carries it.
    pub fn redact(
        &mut self,
        red: &mut Redactor,
        format: Format,
        body: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
        findings: &mut Vec<Finding>,
    ) -> Result<(), BodyError> {
        match format {
            Format::Ndjson | Format::Json => {
                let layout = if format == Format::Ndjson {
                    Layout::Lines
                } else {
                    Layout::Concatenated
                };
                self.json
                    .redact(red, body, layout, out, findings)
                    .map_err(BodyError::Json)?;
            }
            Format::OtlpProtobuf => {
                self.proto
                    .redact(red, &OTLP_LOGS, body, out, findings)
                    .map_err(BodyError::Protobuf)?;
            }
            Format::Msgpack => {
                self.msgpack
                    .redact(red, body, out, findings)
                    .map_err(BodyError::Msgpack)?;
            }
            Format::LokiProtobuf => {
                let raw = snappy_decode(body, limit)?;
                let mut plain = Vec::with_capacity(raw.len());
                self.proto
                    .redact(red, &LOKI_PUSH, &raw, &mut plain, findings)
                    .map_err(BodyError::Protobuf)?;
                out.extend_from_slice(&encode(Coding::Snappy, plain));
            }
            Format::Text => {
                red.reset();
                let mut sink = Collect { out, findings };
                red.write(body, &mut sink);
                red.finish(&mut sink);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::label_redactor as redactor;
    use std::borrow::Cow;
    use std::io::Write;

    /// The codec's decoder, its errors as the HTTP layer sees them.
    fn decode(coding: Coding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, BodyError> {
        crate::formats::codec::decode(coding, body, limit).map_err(BodyError::from)
    }

    fn token() -> String {
        crate::engine::testing::github_token("body")
    }

    #[test]
    fn classification() {
        let c = |p, t| Format::classify(p, t).expect("readable");
        assert_eq!(c("/_bulk", Some("application/json")), Format::Ndjson);
        assert_eq!(c("/idx/_bulk", None), Format::Ndjson);
        assert_eq!(c("/x", Some("application/x-ndjson")), Format::Ndjson);
        assert_eq!(
            c("/api/v2/logs", Some("application/json; charset=utf-8")),
            Format::Json
        );
        assert_eq!(
            c("/loki/api/v1/push", Some("application/x-protobuf")),
            Format::LokiProtobuf
        );
        assert_eq!(
            c("/v1/logs", Some("application/x-protobuf")),
            Format::OtlpProtobuf
        );
        assert_eq!(c("/v1/logs", Some("application/json")), Format::Json);
        assert_eq!(c("/raw", Some("text/plain")), Format::Text);
        // Fluent Bit's `format msgpack`, on any route.
        assert_eq!(c("/", Some("application/msgpack")), Format::Msgpack);
        assert_eq!(
            c("/ingest", Some("Application/X-MsgPack; charset=binary")),
            Format::Msgpack
        );
        assert_eq!(c("/_bulk", Some("application/msgpack")), Format::Msgpack);
        assert_eq!(
            c("/v1/logs", Some("application/x-msgpack")),
            Format::Msgpack
        );
        // Loki and OTLP read an untyped body as protobuf, as Loki does.
        assert_eq!(c("/loki/api/v1/push", None), Format::LokiProtobuf);
        assert_eq!(c("/v1/logs", None), Format::OtlpProtobuf);
        assert_eq!(
            c("/loki/api/v1/push", Some("application/json")),
            Format::Json
        );
        // Splunk HEC events are JSON objects, typed or not; /raw is text.
        assert_eq!(c("/services/collector/event", None), Format::Json);
        assert_eq!(c("/services/collector", Some("text/plain")), Format::Json);
        assert_eq!(c("/services/collector/raw", None), Format::Text);
        assert_eq!(c("/", None), Format::Text);
        assert_eq!(
            c("/", Some("application/x-www-form-urlencoded")),
            Format::Text
        );
        // Binary bodies this proxy cannot read are refused, not passed,
        // on `_bulk` routes too.
        for t in [
            "application/octet-stream",
            "application/x-protobuf",
            "application/grpc",
        ] {
            assert_eq!(Format::classify("/ingest", Some(t)), None, "{t}");
            assert_eq!(Format::classify("/logs/_bulk", Some(t)), None, "{t}");
        }
        assert_eq!(
            c(
                "/_bulk",
                Some("application/vnd.elasticsearch+x-ndjson; compatible-with=8")
            ),
            Format::Ndjson
        );
        assert_eq!(
            c("/_bulk", Some("application/vnd.elasticsearch+json")),
            Format::Ndjson
        );
        assert_eq!(c("/_bulk", Some("text/plain")), Format::Text);
        assert_eq!(Coding::parse(Some("GZIP")), Some(Coding::Gzip));
        assert_eq!(Coding::parse(Some("br")), None);
    }

    #[test]
    fn every_coding_round_trips_and_is_capped() {
        let data = b"line one\nline two\n".repeat(1000);
        for coding in [
            Coding::Identity,
            Coding::Gzip,
            Coding::Deflate,
            Coding::Zstd,
            Coding::Snappy,
        ] {
            let enc = encode(coding, data.clone());
            assert_eq!(
                decode(coding, &enc, 1 << 20).unwrap()[..],
                data[..],
                "{coding:?}"
            );
            let err = decode(coding, &enc, 1000).unwrap_err();
            assert_eq!(err.status(), 413, "{coding:?}: {err}");
            // Memory is bounded by the limit, not only the length.
            if let Cow::Owned(v) = decode(coding, &enc, data.len() + 100).unwrap() {
                assert!(
                    v.capacity() <= data.len() + 100,
                    "{coding:?}: {}",
                    v.capacity()
                );
            }
        }
        // A multi-member gzip body (concatenated gzip files) decodes whole.
        let mut two = encode(Coding::Gzip, b"first member\n".to_vec());
        two.extend(encode(Coding::Gzip, b"second member\n".to_vec()));
        assert_eq!(
            decode(Coding::Gzip, &two, 1 << 20).unwrap()[..],
            b"first member\nsecond member\n"[..]
        );
        // Framed snappy (stream format) is not raw snappy: refused.
        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        framed.write_all(&data).unwrap();
        let framed = framed.into_inner().unwrap();
        assert_eq!(
            decode(Coding::Snappy, &framed, 1 << 20)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            decode(Coding::Gzip, b"not gzip", 1 << 20)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn ndjson_bulk_keeps_action_lines_and_redacts_sources() {
        let tok = token();
        let body = format!(
            "{{\"index\":{{\"_index\":\"logs\"}}}}\n{{\"message\":\"push with {tok}\",\"n\":1}}\n"
        );
        let mut out = Vec::new();
        let mut findings = Vec::new();
        BodyRedactor::new()
            .redact(
                &mut redactor(),
                Format::Ndjson,
                body.as_bytes(),
                1 << 20,
                &mut out,
                &mut findings,
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"index\":{\"_index\":\"logs\"}}\n{\"message\":\"push with [REDACTED:github.pat]\",\"n\":1}\n"
        );
        assert_eq!(findings.len(), 1);
    }

    #[test]
    fn msgpack_events_are_redacted_and_broken_ones_refused() {
        let tok = token();
        // [EventTime, {"log": "push with TOKEN"}]: ext 0 holds 8 bytes.
        let event = |log: &str| {
            let mut b = vec![0x92, 0xd7, 0x00, 0x6a, 0xfd, 0x86, 0xc0, 0, 0, 0, 5];
            b.extend_from_slice(&[0x81, 0xa3, b'l', b'o', b'g', 0xd9, log.len() as u8]);
            b.extend_from_slice(log.as_bytes());
            b
        };
        let mut out = Vec::new();
        let mut findings = Vec::new();
        let mut b = BodyRedactor::new();
        let body = [event(&format!("push with {tok}")), event("fine")].concat();
        b.redact(
            &mut redactor(),
            Format::Msgpack,
            &body,
            1 << 20,
            &mut out,
            &mut findings,
        )
        .unwrap();
        let want = [event("push with [REDACTED:github.pat]"), event("fine")].concat();
        assert_eq!(out, want);
        assert_eq!(findings.len(), 1);
        for broken in [&body[..body.len() - 1], &[0xc1][..]] {
            let e = b
                .redact(
                    &mut redactor(),
                    Format::Msgpack,
                    broken,
                    1 << 20,
                    &mut Vec::new(),
                    &mut findings,
                )
                .unwrap_err();
            assert_eq!(e.status(), 400, "{e}");
        }
    }

    #[test]
    fn text_and_broken_bodies() {
        let tok = token();
        let mut out = Vec::new();
        let mut f = Vec::new();
        let mut b = BodyRedactor::new();
        b.redact(
            &mut redactor(),
            Format::Text,
            format!("a {tok} b").as_bytes(),
            1 << 20,
            &mut out,
            &mut f,
        )
        .unwrap();
        assert_eq!(out, b"a [REDACTED:github.pat] b");
        let e = b
            .redact(
                &mut redactor(),
                Format::Json,
                b"{\"a\":\"open",
                1 << 20,
                &mut Vec::new(),
                &mut f,
            )
            .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = b
            .redact(
                &mut redactor(),
                Format::OtlpProtobuf,
                &[0x0b],
                1 << 20,
                &mut Vec::new(),
                &mut f,
            )
            .unwrap_err();
        assert_eq!(e.status(), 400);
    }
}

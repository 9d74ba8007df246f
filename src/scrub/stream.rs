//! Streamed request bodies: NDJSON and text redacted as they arrive, in
//! memory bounded by settings, never by the body.
//!
//! [`StreamRedactor`] is the synchronous pipeline: wire bytes in (any
//! [`Coding`] that [streams](Coding::streams)), decoded by a
//! [`WriteDecoder`] whose output goes straight on into redaction, then into
//! a [`WriteEncoder`] of the same coding, whose output accumulates until
//! the caller takes it. Nothing holds the decoded body:
//!
//! - the decoder writes into the redaction stage in pieces of its own
//!   buffer size, and the caller feeds wire bytes in [`PIECE`]-byte pieces,
//!   taking the (re-encoded) output after each, so a small compressed body
//!   cannot blow up inside;
//! - text goes through the streaming [`Redactor`] (its window is bounded by
//!   the rules, not the input);
//! - NDJSON is redacted a run of complete lines at a time, so the only
//!   buffer is the line in progress, bounded by `max_line`.
//!
//! Decoded bytes are counted against `max_body` as for buffered bodies.
//! Errors are the same [`BodyError`]s, found as the body arrives: bytes
//! already handed on were all redacted, and the caller aborts the upstream
//! request so a partial body is never completed. The codec is
//! [`crate::formats::codec`], the one the buffered path uses.

use std::convert::Infallible;
use std::io::{self, Write};

use super::body::{BodyError, BodyRedactor, Format};
use crate::engine::{Finding, Redactor, Sink};
use crate::formats::codec::{extend_capped, CodecError, Coding, WriteDecoder, WriteEncoder};
use crate::formats::json::Layout;

/// Wire bytes handed to the decoder at a time.
pub const PIECE: usize = 8 << 10;

/// Everything the redaction stage needs, owned by the pipeline for one
/// body and handed back at the end.
#[derive(Debug)]
pub struct Parts {
    /// The connection's redactor (reset at the start).
    pub red: Redactor,
    /// The connection's body scratch (its JSON redactor serves streamed
    /// NDJSON too, so a connection holds one).
    pub body: BodyRedactor,
}

/// Redaction stage: decoded bytes in, encoded output out.
struct Stage {
    parts: Parts,
    format: Format,
    enc: WriteEncoder,
    /// NDJSON: the line in progress.
    line: Vec<u8>,
    /// NDJSON: redacted lines before encoding.
    scratch: Vec<u8>,
    findings: Vec<Finding>,
    decoded: usize,
    max_body: usize,
    max_line: usize,
    /// The real error behind an `io::Error` the decoder passes up.
    error: Option<BodyError>,
}

struct EncSink<'a> {
    enc: &'a mut WriteEncoder,
    findings: &'a mut Vec<Finding>,
}

impl Sink for EncSink<'_> {
    type Error = Infallible;
    fn bytes(&mut self, b: &[u8]) -> Result<(), Infallible> {
        self.enc.write(b);
        Ok(())
    }
    fn finding(&mut self, f: Finding) -> Result<(), Infallible> {
        self.findings.push(f);
        Ok(())
    }
}

impl Stage {
    fn fail(&mut self, e: BodyError) -> io::Error {
        let msg = e.to_string();
        self.error = Some(e);
        io::Error::other(msg)
    }

    fn take(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.decoded += data.len();
        if self.decoded > self.max_body {
            return Err(BodyError::TooLarge {
                limit: self.max_body,
            });
        }
        match self.format {
            Format::Ndjson => self.lines(data, false),
            _ => {
                let mut sink = EncSink {
                    enc: &mut self.enc,
                    findings: &mut self.findings,
                };
                self.parts.red.write(data, &mut sink);
                Ok(())
            }
        }
    }

    /// Redacts the complete lines of `line + data`, keeping the rest (all
    /// of it at the end).
    fn lines(&mut self, data: &[u8], end: bool) -> Result<(), BodyError> {
        let cut = if end {
            Some(data.len())
        } else {
            memchr::memrchr(b'\n', data).map(|i| i + 1)
        };
        let Some(cut) = cut else {
            extend_capped(&mut self.line, data, self.max_line + 1);
            return self.check_line();
        };
        let (done, rest) = data.split_at(cut);
        self.scratch.clear();
        let json = self.parts.body.json_mut();
        let red = &mut self.parts.red;
        if self.line.is_empty() {
            json.redact(
                red,
                done,
                Layout::Lines,
                &mut self.scratch,
                &mut self.findings,
            )
        } else {
            extend_capped(&mut self.line, done, self.max_line + 1);
            let r = json.redact(
                red,
                &self.line,
                Layout::Lines,
                &mut self.scratch,
                &mut self.findings,
            );
            self.line.clear();
            r
        }
        .map_err(BodyError::Json)?;
        self.enc.write(&self.scratch);
        extend_capped(&mut self.line, rest, self.max_line + 1);
        self.check_line()
    }

    /// The end of the body: the last line, or what the redactor holds.
    fn end(&mut self) -> Result<(), BodyError> {
        match self.format {
            Format::Ndjson => self.lines(&[], true)?,
            _ => {
                let mut sink = EncSink {
                    enc: &mut self.enc,
                    findings: &mut self.findings,
                };
                self.parts.red.finish(&mut sink);
            }
        }
        Ok(())
    }

    fn check_line(&self) -> Result<(), BodyError> {
        if self.line.len() > self.max_line {
            return Err(BodyError::LineTooLong {
                limit: self.max_line,
            });
        }
        Ok(())
    }
}

impl Write for Stage {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.take(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => Err(self.fail(e)),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One streamed body: see the module documentation.
#[derive(Debug)]
pub struct StreamRedactor {
    dec: WriteDecoder<Stage>,
    /// Wire bytes seen.
    wire: u64,
}

impl StreamRedactor {
    /// Whether bodies of `format` and `coding` can be streamed.
    pub fn streams(format: Format, coding: Coding) -> bool {
        matches!(format, Format::Ndjson | Format::Text) && coding.streams()
    }

    /// Starts a body; the parts come back unused unless
    /// [`streams`](Self::streams).
    pub fn new(
        mut parts: Parts,
        format: Format,
        coding: Coding,
        max_body: usize,
        max_line: usize,
    ) -> Result<StreamRedactor, Box<Parts>> {
        if !Self::streams(format, coding) {
            return Err(Box::new(parts));
        }
        parts.red.reset();
        let stage = Stage {
            parts,
            format,
            enc: WriteEncoder::new(coding),
            line: Vec::new(),
            scratch: Vec::new(),
            findings: Vec::new(),
            decoded: 0,
            max_body,
            max_line,
            error: None,
        };
        let dec = WriteDecoder::new(coding, stage).map_err(|stage| Box::new(stage.parts))?;
        Ok(StreamRedactor { dec, wire: 0 })
    }

    fn stage(&mut self) -> &mut Stage {
        self.dec.get_mut().expect("the stage between calls")
    }

    /// The stage's own error behind a codec error, or the codec error.
    fn error(&mut self, e: CodecError) -> BodyError {
        let own = self.dec.get_mut().and_then(|s| s.error.take());
        own.unwrap_or_else(|| e.into())
    }

    /// Feeds wire bytes. The output of one call waits until taken, so
    /// callers feed at most [`PIECE`] bytes a call and take the output in
    /// between (larger inputs are still decoded a piece at a time). After
    /// an error the body is dead: only [`finish`](Self::finish) may follow.
    pub fn write(&mut self, wire: &[u8]) -> Result<(), BodyError> {
        self.wire += wire.len() as u64;
        for piece in wire.chunks(PIECE) {
            if let Err(e) = self.dec.write(piece) {
                return Err(self.error(e));
            }
        }
        Ok(())
    }

    /// Output so far, taken (empty when there is none).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(self.stage().enc.out())
    }

    /// Bytes of output waiting.
    pub fn output_len(&mut self) -> usize {
        self.stage().enc.out().len()
    }

    /// Findings so far, moved onto `out`.
    pub fn take_findings(&mut self, out: &mut Vec<Finding>) {
        out.append(&mut self.stage().findings);
    }

    /// Ends the body: the rest of the output (an empty body stays empty),
    /// with the last findings moved onto `findings`. The parts come back
    /// for the next body, unless a compressed body failed inside its
    /// decoder (then they are gone with it).
    pub fn finish(
        mut self,
        findings: &mut Vec<Finding>,
    ) -> (Result<Vec<u8>, BodyError>, Option<Parts>) {
        let done = self.dec.try_finish().map_err(|e| self.error(e));
        let Some(mut stage) = self.dec.into_inner() else {
            return (done.map(|()| Vec::new()), None);
        };
        if self.wire == 0 {
            return (Ok(Vec::new()), Some(stage.parts));
        }
        let r = done.and_then(|()| stage.end());
        findings.append(&mut stage.findings);
        let out = stage.enc.finish();
        (r.map(|()| out), Some(stage.parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::{github_token, label_redactor};
    use crate::formats::codec::{decode, encode};

    fn parts() -> Parts {
        Parts {
            red: label_redactor(),
            body: BodyRedactor::new(),
        }
    }

    fn token(i: usize) -> String {
        github_token(&format!("stream-{i}"))
    }

    fn ndjson(docs: usize) -> Vec<u8> {
        let mut s = String::new();
        for i in 0..docs {
            s.push_str("{\"index\":{\"_index\":\"logs\"}}\n");
            let extra = if i % 7 == 3 {
                format!(" pushed with {}", token(i))
            } else {
                String::new()
            };
            s.push_str(&format!(
                "{{\"message\":\"GET /o/{i} 200{extra}\",\"n\":{i},\"esc\":\"a\\\"b\\u00e9\"}}\n"
            ));
            if i % 13 == 6 {
                // A key block as an array of lines, a key after it.
                let (begin, end) = ("-----BEGIN RSA", "-----END RSA");
                s.push_str("{\"index\":{}}\n");
                s.push_str(&format!(
                    "{{\"key\":[\"{begin} PRIVATE KEY-----\",\"TUlJRXZnSUJBREFOQmdr{i}\",\
                     \"{end} PRIVATE KEY-----\"],\"user\":\"u{i}\"}}\n"
                ));
            }
        }
        s.into_bytes()
    }

    /// Streams `wire` in `split`-byte writes, taking the output after each.
    fn streamed(
        format: Format,
        coding: Coding,
        wire: &[u8],
        split: usize,
        max_line: usize,
    ) -> (Result<Vec<u8>, BodyError>, usize, usize) {
        let mut st = StreamRedactor::new(parts(), format, coding, 64 << 20, max_line).unwrap();
        let mut out = Vec::new();
        let mut findings = Vec::new();
        let mut most = 0;
        for piece in wire.chunks(split.max(1)) {
            if let Err(e) = st.write(piece) {
                return (Err(e), findings.len(), most);
            }
            most = most.max(st.output_len());
            out.extend(st.take_output());
            st.take_findings(&mut findings);
        }
        let (rest, back) = st.finish(&mut findings);
        assert!(back.is_some() || coding != Coding::Identity);
        (
            rest.map(|r| {
                out.extend(r);
                out
            }),
            findings.len(),
            most,
        )
    }

    fn buffered(format: Format, plain: &[u8]) -> (Vec<u8>, usize) {
        let mut p = parts();
        let mut out = Vec::new();
        let mut findings = Vec::new();
        BodyRedactor::new()
            .redact(&mut p.red, format, plain, 64 << 20, &mut out, &mut findings)
            .unwrap();
        (out, findings.len())
    }

    #[test]
    fn streamed_equals_buffered_for_every_coding_and_split() {
        let plain = ndjson(60);
        for format in [Format::Ndjson, Format::Text] {
            let (want, want_findings) = buffered(format, &plain);
            // 9 tokens and 5 key blocks.
            assert_eq!(want_findings, 14, "{format:?}");
            for coding in [
                Coding::Identity,
                Coding::Gzip,
                Coding::Deflate,
                Coding::Zstd,
            ] {
                let wire = encode(coding, plain.clone());
                for split in [1, 7, 100, 4096, wire.len()] {
                    let (got, n, _) = streamed(format, coding, &wire, split, 1 << 20);
                    let got = got.unwrap_or_else(|e| panic!("{format:?} {coding:?} {split}: {e}"));
                    let got = decode(coding, &got, 64 << 20).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want),
                        "{format:?} {coding:?} split {split}"
                    );
                    assert_eq!(n, want_findings, "{format:?} {coding:?} split {split}");
                }
            }
        }
    }

    #[test]
    fn every_member_of_a_multi_member_gzip_body_is_streamed() {
        let (a, b) = (ndjson(5), ndjson(7));
        let mut wire = encode(Coding::Gzip, a.clone());
        wire.extend(encode(Coding::Gzip, b.clone()));
        let mut plain = a;
        plain.extend(b);
        let (want, want_findings) = buffered(Format::Ndjson, &plain);
        for split in [3, 100, wire.len()] {
            let (got, n, _) = streamed(Format::Ndjson, Coding::Gzip, &wire, split, 1 << 20);
            let got = got.unwrap();
            let got = decode(Coding::Gzip, &got, 64 << 20).unwrap();
            assert_eq!(got[..], want[..], "split {split}");
            assert_eq!(n, want_findings);
        }
    }

    #[test]
    fn a_last_line_without_newline_and_an_empty_body() {
        let tok = token(1);
        let body = format!("{{\"a\":1}}\n{{\"m\":\"{tok}\"}}");
        let (got, n, _) = streamed(Format::Ndjson, Coding::Identity, body.as_bytes(), 5, 1024);
        assert_eq!(
            String::from_utf8(got.unwrap()).unwrap(),
            "{\"a\":1}\n{\"m\":\"[REDACTED:github.pat]\"}"
        );
        assert_eq!(n, 1);
        for coding in [Coding::Identity, Coding::Gzip, Coding::Zstd] {
            let (got, n, _) = streamed(Format::Ndjson, coding, b"", 5, 1024);
            assert_eq!((got.unwrap(), n), (Vec::new(), 0), "{coding:?}");
        }
    }

    #[test]
    fn errors_are_found_as_the_body_arrives() {
        // A broken document after good ones: the good lines were redacted
        // and handed on, the error stops the body.
        let mut body = ndjson(10);
        body.extend_from_slice(b"{\"m\":\"bad \\q escape\"}\n");
        body.extend(ndjson(2));
        let (got, _, _) = streamed(Format::Ndjson, Coding::Identity, &body, 64, 1 << 20);
        assert!(matches!(got, Err(BodyError::Json(_))), "{got:?}");
        // A line that is not JSON at all (nothing in it is a string).
        let mut body = ndjson(10);
        body.extend_from_slice(b"password=hunter2-hunter2\n");
        let (got, _, _) = streamed(Format::Ndjson, Coding::Identity, &body, 64, 1 << 20);
        assert!(matches!(got, Err(BodyError::Json(_))), "{got:?}");

        // A line longer than max_line.
        let long = format!("{{\"m\":\"{}\"}}\n", "x".repeat(5000));
        let (got, _, _) = streamed(Format::Ndjson, Coding::Identity, long.as_bytes(), 100, 4096);
        let e = got.unwrap_err();
        assert!(matches!(e, BodyError::LineTooLong { limit: 4096 }), "{e}");
        assert_eq!(e.status(), 413);

        // max_body counts decoded bytes.
        let mut st =
            StreamRedactor::new(parts(), Format::Text, Coding::Identity, 1000, 1024).unwrap();
        st.write(&[b'a'; 600]).unwrap();
        assert!(matches!(
            st.write(&[b'a'; 600]),
            Err(BodyError::TooLarge { limit: 1000 })
        ));

        // Truncated and corrupt compressed bodies.
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Zstd] {
            let wire = encode(coding, ndjson(20));
            let (got, _, _) = streamed(
                Format::Ndjson,
                coding,
                &wire[..wire.len() - 5],
                512,
                1 << 20,
            );
            let e = got.unwrap_err();
            assert_eq!(e.status(), 400, "{coding:?} truncated: {e}");
            let mut bad = wire.clone();
            bad[wire.len() / 2] ^= 0x55;
            bad[wire.len() / 2 + 1] ^= 0x55;
            let (got, _, _) = streamed(Format::Ndjson, coding, &bad, 512, 1 << 20);
            assert!(got.is_err(), "{coding:?} corrupt body accepted");
        }
    }

    #[test]
    fn a_compression_bomb_never_holds_its_decoded_size() {
        // 32 MiB of text in at most 152 KiB of gzip: the output waiting after any
        // write stays small, because it is re-encoded as it goes.
        let plain = vec![b'a'; 32 << 20];
        for coding in [Coding::Gzip, Coding::Zstd] {
            let wire = encode(coding, plain.clone());
            assert!(wire.len() < 256 << 10, "{coding:?}: {}", wire.len());
            let (got, _, most) = streamed(Format::Text, coding, &wire, 8 << 10, 1024);
            assert!(most < 1 << 20, "{coding:?}: {most} bytes of output waited");
            assert_eq!(
                decode(coding, &got.unwrap(), 64 << 20).unwrap().len(),
                plain.len()
            );
            // As NDJSON it is one 32 MiB line: refused at max_line.
            let (got, _, _) = streamed(Format::Ndjson, coding, &wire, 8 << 10, 1 << 20);
            assert!(
                matches!(got, Err(BodyError::LineTooLong { .. })),
                "{coding:?}"
            );
        }
    }

    #[test]
    fn a_zstd_body_without_a_decoder_is_refused_and_the_parts_kept() {
        // Issue 15: this was `panic!("zstd decoder: ...")`, an abort in
        // release builds, taking every connection down with one request.
        fn no_memory() -> Result<zstd::stream::raw::Decoder<'static>, CodecError> {
            Err(CodecError::Unavailable {
                coding: Coding::Zstd,
                why: "Allocation error : not enough memory".into(),
            })
        }
        let wire = encode(Coding::Zstd, ndjson(3));
        let mut st =
            StreamRedactor::new(parts(), Format::Ndjson, Coding::Zstd, 1 << 20, 1 << 20).unwrap();
        st.dec.set_zstd_factory(no_memory);
        let e = st.write(&wire).unwrap_err();
        assert!(matches!(e, BodyError::DecoderUnavailable { .. }), "{e}");
        assert_eq!(e.status(), 500);
        let (_, back) = st.finish(&mut Vec::new());
        assert!(back.is_some(), "the connection keeps its redactor");
    }

    #[test]
    fn snappy_json_and_protobuf_are_not_streamed() {
        assert!(!StreamRedactor::streams(Format::Ndjson, Coding::Snappy));
        assert!(!StreamRedactor::streams(Format::Json, Coding::Identity));
        assert!(!StreamRedactor::streams(Format::OtlpProtobuf, Coding::Gzip));
        assert!(StreamRedactor::streams(Format::Text, Coding::Zstd));
    }
}

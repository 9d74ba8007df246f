//! Streamed request bodies: NDJSON and text redacted as they arrive, in
//! memory bounded by settings, never by the body.
//!
//! [`StreamRedactor`] is the synchronous pipeline: wire bytes in (any
//! [`Coding`] but snappy, whose raw block format cannot be streamed),
//! decoded by a `Write`-side decoder whose output goes straight on into
//! redaction, then into an encoder of the same coding, whose output
//! accumulates until the caller takes it. Nothing holds the decoded body:
//!
//! - the decoders write into the redaction stage in pieces of their own
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
//! already handed on were all redacted, and the HTTP layer aborts the
//! upstream request so a partial body is never completed.
//!
//! [`ChannelBody`] carries the output to hyper's client: a bounded channel
//! whose end must be said explicitly; a producer that stops without saying
//! it (an error, a panic, a cancelled request) aborts the body instead of
//! ending it, so the upstream never sees a truncated body as complete.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::http_body::{extend_capped, BodyError, BodyRedactor, Coding, Format};
use crate::engine::{Finding, Redactor, Sink};
use crate::framing::json::Layout;

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
    enc: Encoder,
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
    enc: &'a mut Encoder,
    findings: &'a mut Vec<Finding>,
}

impl Sink for EncSink<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.enc.write(b);
    }
    fn finding(&mut self, f: Finding) {
        self.findings.push(f);
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

/// The output coding, writing into a `Vec` the caller drains.
enum Encoder {
    Identity(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn new(coding: Coding) -> Option<Encoder> {
        let level = flate2::Compression::fast();
        Some(match coding {
            Coding::Identity => Encoder::Identity(Vec::new()),
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), level)),
            Coding::Deflate => Encoder::Deflate(flate2::write::ZlibEncoder::new(Vec::new(), level)),
            Coding::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3).ok()?),
            Coding::Snappy => return None,
        })
    }

    fn write(&mut self, b: &[u8]) {
        // Encoders writing into a Vec cannot fail.
        let r = match self {
            Encoder::Identity(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
            Encoder::Gzip(e) => e.write_all(b),
            Encoder::Deflate(e) => e.write_all(b),
            Encoder::Zstd(e) => e.write_all(b),
        };
        r.expect("in-memory encoder");
    }

    fn out(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Identity(v) => v,
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Deflate(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        }
    }

    fn finish(self) -> Vec<u8> {
        let r = match self {
            Encoder::Identity(v) => Ok(v),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Deflate(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        };
        r.expect("in-memory encoder")
    }
}

/// The input coding, writing decoded bytes into the stage.
enum Decoder {
    /// No byte yet: a compressed body's decoder starts with its first byte
    /// (an empty body is not a corrupt stream).
    Idle(Stage),
    Identity(Stage),
    /// Every member of a multi-member body.
    Gzip(flate2::write::MultiGzDecoder<Stage>),
    Deflate(flate2::write::ZlibDecoder<Stage>),
    Zstd(zstd::stream::write::Decoder<'static, Stage>),
}

impl Decoder {
    fn stage(&mut self) -> &mut Stage {
        match self {
            Decoder::Idle(s) | Decoder::Identity(s) => s,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Deflate(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        }
    }
}

/// One streamed body: see the module documentation.
pub struct StreamRedactor {
    /// Always `Some` between calls.
    dec: Option<Decoder>,
    coding: Coding,
    /// Wire bytes seen.
    wire: u64,
}

impl std::fmt::Debug for StreamRedactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRedactor")
            .field("coding", &self.coding)
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

impl StreamRedactor {
    /// Whether bodies of `format` and `coding` can be streamed.
    pub fn streams(format: Format, coding: Coding) -> bool {
        matches!(format, Format::Ndjson | Format::Text) && coding != Coding::Snappy
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
        let Some(enc) = Encoder::new(coding) else {
            return Err(Box::new(parts));
        };
        parts.red.reset();
        let stage = Stage {
            parts,
            format,
            enc,
            line: Vec::new(),
            scratch: Vec::new(),
            findings: Vec::new(),
            decoded: 0,
            max_body,
            max_line,
            error: None,
        };
        Ok(StreamRedactor {
            dec: Some(Decoder::Idle(stage)),
            coding,
            wire: 0,
        })
    }

    /// Puts the decoder for the body's coding in place.
    fn start(&mut self) {
        let Some(Decoder::Idle(_)) = self.dec else {
            return;
        };
        let Some(Decoder::Idle(stage)) = self.dec.take() else {
            unreachable!("matched above");
        };
        self.dec = Some(match self.coding {
            Coding::Gzip => Decoder::Gzip(flate2::write::MultiGzDecoder::new(stage)),
            Coding::Deflate => Decoder::Deflate(flate2::write::ZlibDecoder::new(stage)),
            Coding::Zstd => match zstd::stream::write::Decoder::new(stage) {
                Ok(d) => Decoder::Zstd(d),
                // zstd fails to make a context only when out of memory.
                Err(e) => panic!("zstd decoder: {e}"),
            },
            _ => Decoder::Identity(stage),
        });
    }

    fn stage(&mut self) -> &mut Stage {
        self.dec.as_mut().expect("a decoder between calls").stage()
    }

    /// The stage's own error behind an `io::Error` a decoder passed up, or
    /// a decoding error.
    fn error(&mut self, e: io::Error) -> BodyError {
        self.stage().error.take().unwrap_or(BodyError::Decode {
            coding: self.coding,
            why: e.to_string(),
        })
    }

    /// Feeds wire bytes. The output of one call waits until taken, so
    /// callers feed at most [`PIECE`] bytes a call and take the output in
    /// between (larger inputs are still decoded a piece at a time). After
    /// an error the body is dead: only [`finish`](Self::finish) may follow.
    pub fn write(&mut self, wire: &[u8]) -> Result<(), BodyError> {
        if wire.is_empty() {
            return Ok(());
        }
        self.wire += wire.len() as u64;
        self.start();
        for piece in wire.chunks(PIECE) {
            let r = match self.dec.as_mut().expect("a decoder between calls") {
                Decoder::Idle(_) => unreachable!("started above"),
                Decoder::Identity(s) => {
                    s.take(piece)?;
                    continue;
                }
                Decoder::Gzip(d) => d.write_all(piece),
                Decoder::Deflate(d) => d.write_all(piece),
                Decoder::Zstd(d) => d.write_all(piece),
            };
            if let Err(e) = r {
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
        let done = match self.dec.as_mut().expect("a decoder between calls") {
            Decoder::Idle(_) | Decoder::Identity(_) => Ok(()),
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Deflate(d) => d.try_finish(),
            Decoder::Zstd(d) => d.do_finish(),
        };
        let done = done.map_err(|e| self.error(e));
        let wire = self.wire;
        let stage = match self.dec.take().expect("a decoder between calls") {
            Decoder::Idle(s) | Decoder::Identity(s) => Some(s),
            Decoder::Gzip(d) => d.finish().ok(),
            Decoder::Deflate(d) => d.finish().ok(),
            Decoder::Zstd(d) => Some(d.into_inner()),
        };
        let Some(mut stage) = stage else {
            return (done.map(|()| Vec::new()), None);
        };
        if wire == 0 {
            return (Ok(Vec::new()), Some(stage.parts));
        }
        let r = done.and_then(|()| {
            match stage.format {
                Format::Ndjson => stage.lines(&[], true)?,
                _ => {
                    let mut sink = EncSink {
                        enc: &mut stage.enc,
                        findings: &mut stage.findings,
                    };
                    stage.parts.red.finish(&mut sink);
                }
            }
            Ok(())
        });
        findings.append(&mut stage.findings);
        let out = stage.enc.finish();
        (r.map(|()| out), Some(stage.parts))
    }
}

/// What a producer sends down a [`ChannelBody`].
#[derive(Debug)]
pub enum Chunk {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// Why a streamed body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body aborted before its end")
    }
}

impl std::error::Error for Aborted {}

/// A request body fed through a bounded channel (see the module
/// documentation): ends only on [`Chunk::End`]; a closed channel without it
/// is an error, so hyper aborts the request instead of completing it.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Chunk>,
    done: bool,
}

impl ChannelBody {
    /// A body and its sender, holding at most `depth` chunks in between.
    pub fn channel(depth: usize) -> (mpsc::Sender<Chunk>, ChannelBody) {
        let (tx, rx) = mpsc::channel(depth.max(1));
        (tx, ChannelBody { rx, done: false })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Chunk::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Chunk::End)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Err(Aborted)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::{github_token, label_redactor};
    use crate::modes::http_body::{decode, encode};

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
    fn snappy_json_and_protobuf_are_not_streamed() {
        assert!(!StreamRedactor::streams(Format::Ndjson, Coding::Snappy));
        assert!(!StreamRedactor::streams(Format::Json, Coding::Identity));
        assert!(!StreamRedactor::streams(Format::OtlpProtobuf, Coding::Gzip));
        assert!(StreamRedactor::streams(Format::Text, Coding::Zstd));
    }

    #[tokio::test]
    async fn a_channel_body_ends_only_when_told() {
        use http_body_util::BodyExt;
        let (tx, body) = ChannelBody::channel(2);
        tx.send(Chunk::Data(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        tx.send(Chunk::End).await.unwrap();
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"abc");

        let (tx, body) = ChannelBody::channel(2);
        tx.send(Chunk::Data(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(body.collect().await.unwrap_err(), Aborted);
    }
}

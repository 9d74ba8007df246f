//! HTTP body content codings (`Content-Encoding`): gzip, deflate (zlib),
//! zstd and raw snappy, decoded and encoded for the buffered path
//! ([`decode`], [`encode`]) and the streamed one ([`WriteDecoder`],
//! [`WriteEncoder`]). One module for both, so a coding behaves the same
//! however a body arrives. No engine and no HTTP here: what the decoded
//! bytes are is `scrub::body`'s business.
//!
//! **Invariant: decoded size is bounded by the caller, never by the
//! input.** [`decode`] refuses more than `limit` decoded bytes
//! ([`CodecError::TooLarge`]) and never allocates more than the limit; a
//! snappy body is measured from its header before anything is allocated.
//! [`WriteDecoder`] writes decoded bytes into the caller's writer in pieces
//! of the decoder's own buffer size, so the writer counts and refuses.
//!
//! **Errors, not panics.** Corrupt or truncated data is
//! [`CodecError::Corrupt`]; a decoder that cannot be created (zstd
//! allocates its context in C, and says so instead of aborting) is
//! [`CodecError::Unavailable`]. Messages come from the codec libraries and
//! carry no body bytes. Encoders write into memory and cannot fail.
//!
//! Raw snappy is block-framed with its length up front; it cannot be
//! streamed, and the framed (stream) snappy format is not raw snappy.
//! Every member of a multi-member gzip body is decoded, not only the
//! first.

use std::borrow::Cow;
use std::io::{self, Read, Write};

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// None.
    Identity,
    /// `gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped, per RFC 9110).
    Deflate,
    /// `zstd`.
    Zstd,
    /// `snappy`: raw (block) snappy, never the framed format.
    Snappy,
}

impl Coding {
    /// Parses a `Content-Encoding` value; `None` for codings not handled.
    pub fn parse(header: Option<&str>) -> Option<Coding> {
        match header.map(|h| h.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Some(Coding::Identity),
            Some("gzip") | Some("x-gzip") => Some(Coding::Gzip),
            Some("deflate") => Some(Coding::Deflate),
            Some("zstd") => Some(Coding::Zstd),
            Some("snappy") => Some(Coding::Snappy),
            _ => None,
        }
    }

    /// Whether a body in this coding can be decoded as it arrives (every
    /// coding but raw snappy).
    pub fn streams(self) -> bool {
        self != Coding::Snappy
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Decoded, it would exceed the limit.
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The coding's data is corrupt or truncated.
    #[error("cannot decode {coding:?} body: {why}")]
    Corrupt {
        /// The coding.
        coding: Coding,
        /// What the codec said went wrong (never body bytes).
        why: String,
    },
    /// A decoder could not be created (out of memory).
    #[error("cannot start a {coding:?} decoder: {why}")]
    Unavailable {
        /// The coding.
        coding: Coding,
        /// What the codec said.
        why: String,
    },
}

/// Appends `data` to `buf`, growing its capacity by doubling but never past
/// `cap` (or what `data` needs): a buffer bounded by a limit in length is
/// bounded by it in memory too.
pub fn extend_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize) {
    let need = buf.len() + data.len();
    if need > buf.capacity() {
        let want = (buf.capacity() * 2).max(need).min(cap.max(need));
        buf.reserve_exact(want - buf.len());
    }
    buf.extend_from_slice(data);
}

fn read_capped(mut r: impl Read, limit: usize, coding: Coding) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut piece = [0u8; 16 << 10];
    loop {
        let n = match r.read(&mut piece) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(coding, &e)),
        };
        if out.len() + n > limit {
            return Err(CodecError::TooLarge { limit });
        }
        extend_capped(&mut out, &piece[..n], limit);
    }
}

fn corrupt(coding: Coding, e: &dyn std::fmt::Display) -> CodecError {
    CodecError::Corrupt {
        coding,
        why: e.to_string(),
    }
}

/// Decodes `body`, refusing more than `limit` decoded bytes (an identity
/// body is borrowed as it is). An empty body is empty in every coding, as
/// it is when streamed ([`WriteDecoder`]).
pub fn decode(coding: Coding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, CodecError> {
    match coding {
        Coding::Identity if body.len() > limit => Err(CodecError::TooLarge { limit }),
        _ if body.is_empty() => Ok(Cow::Borrowed(body)),
        Coding::Identity => Ok(Cow::Borrowed(body)),
        Coding::Gzip => {
            read_capped(flate2::read::MultiGzDecoder::new(body), limit, coding).map(Cow::Owned)
        }
        Coding::Deflate => {
            read_capped(flate2::read::ZlibDecoder::new(body), limit, coding).map(Cow::Owned)
        }
        Coding::Zstd => {
            // Fails only when zstd cannot allocate its context.
            let d = zstd::stream::read::Decoder::new(body).map_err(|e| unavailable(coding, &e))?;
            read_capped(d, limit, coding).map(Cow::Owned)
        }
        Coding::Snappy => snappy_decode(body, limit).map(Cow::Owned),
    }
}

/// Decodes a raw snappy block, refusing (before allocating) one whose
/// header announces more than `limit` bytes.
pub fn snappy_decode(body: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let bad = |e: snap::Error| corrupt(Coding::Snappy, &e);
    let len = snap::raw::decompress_len(body).map_err(bad)?;
    if len > limit {
        return Err(CodecError::TooLarge { limit });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(bad)
}

/// Encodes `data` with `coding` (identity hands it back).
pub fn encode(coding: Coding, data: Vec<u8>) -> Vec<u8> {
    match coding {
        Coding::Identity => data,
        // Raw snappy fails only past its ~4 GiB block limit, far beyond
        // any body limit.
        Coding::Snappy => snap::raw::Encoder::new()
            .compress_vec(&data)
            .expect("snappy input within its size limit"),
        _ => {
            let mut e = WriteEncoder::new(coding);
            e.write(&data);
            e.finish()
        }
    }
}

/// A zstd decompression context. zstd allocates it in C and reports
/// failure (out of memory) instead of aborting.
fn zstd_decoder() -> Result<zstd::stream::raw::Decoder<'static>, CodecError> {
    zstd::stream::raw::Decoder::new().map_err(|e| unavailable(Coding::Zstd, &e))
}

fn unavailable(coding: Coding, e: &dyn std::fmt::Display) -> CodecError {
    CodecError::Unavailable {
        coding,
        why: e.to_string(),
    }
}

/// How a [`WriteDecoder`] gets its zstd context (replaced in tests, to
/// see a failure handled).
type ZstdFactory = fn() -> Result<zstd::stream::raw::Decoder<'static>, CodecError>;

/// A streamed body's decoder: wire bytes written to it come out decoded
/// into the writer `W`, in pieces of the decoder's buffer size. See the
/// module documentation.
pub struct WriteDecoder<W: Write> {
    coding: Coding,
    state: DecState<W>,
    zstd: ZstdFactory,
}

enum DecState<W: Write> {
    /// No byte yet: a compressed body's decoder starts with its first byte
    /// (an empty body is not a corrupt stream).
    Idle(W),
    Identity(W),
    /// Every member of a multi-member body.
    Gzip(flate2::write::MultiGzDecoder<W>),
    Deflate(flate2::write::ZlibDecoder<W>),
    Zstd(zstd::stream::write::Decoder<'static, W>),
    /// Only while [`WriteDecoder::start`] swaps states.
    Gone,
}

impl<W: Write> std::fmt::Debug for WriteDecoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteDecoder")
            .field("coding", &self.coding)
            .finish_non_exhaustive()
    }
}

impl<W: Write> WriteDecoder<W> {
    /// A decoder for `coding` writing into `inner`; `inner` comes back
    /// when the coding cannot be streamed (raw snappy).
    pub fn new(coding: Coding, inner: W) -> Result<WriteDecoder<W>, W> {
        if !coding.streams() {
            return Err(inner);
        }
        Ok(WriteDecoder {
            coding,
            state: DecState::Idle(inner),
            zstd: zstd_decoder,
        })
    }

    /// The writer decoded bytes go to (always there between calls).
    pub fn get_mut(&mut self) -> Option<&mut W> {
        match &mut self.state {
            DecState::Idle(w) | DecState::Identity(w) => Some(w),
            DecState::Gzip(d) => Some(d.get_mut()),
            DecState::Deflate(d) => Some(d.get_mut()),
            DecState::Zstd(d) => Some(d.get_mut()),
            DecState::Gone => None,
        }
    }

    /// Puts the decoder for the body's coding in place. On failure the
    /// writer is kept (and the decoder stays idle).
    fn start(&mut self) -> Result<(), CodecError> {
        if !matches!(self.state, DecState::Idle(_)) {
            return Ok(());
        }
        let zstd = match self.coding {
            Coding::Zstd => Some((self.zstd)()?),
            _ => None,
        };
        self.state = match std::mem::replace(&mut self.state, DecState::Gone) {
            DecState::Idle(w) => match (self.coding, zstd) {
                (Coding::Gzip, _) => DecState::Gzip(flate2::write::MultiGzDecoder::new(w)),
                (Coding::Deflate, _) => DecState::Deflate(flate2::write::ZlibDecoder::new(w)),
                (Coding::Zstd, Some(raw)) => {
                    DecState::Zstd(zstd::stream::write::Decoder::with_decoder(w, raw))
                }
                _ => DecState::Identity(w),
            },
            started => started,
        };
        Ok(())
    }

    /// Decodes `wire` into the writer. An error from the writer itself
    /// comes back as [`CodecError::Corrupt`] (the writer knows what it
    /// refused). After an error only [`try_finish`](Self::try_finish) and
    /// [`into_inner`](Self::into_inner) may follow.
    pub fn write(&mut self, wire: &[u8]) -> Result<(), CodecError> {
        if wire.is_empty() {
            return Ok(());
        }
        self.start()?;
        let r = match &mut self.state {
            DecState::Identity(w) => w.write_all(wire),
            DecState::Gzip(d) => d.write_all(wire),
            DecState::Deflate(d) => d.write_all(wire),
            DecState::Zstd(d) => d.write_all(wire),
            // Started above; were it not, the bytes are refused, never
            // passed on undecoded.
            DecState::Idle(_) | DecState::Gone => Err(io::Error::other("no decoder")),
        };
        r.map_err(|e| corrupt(self.coding, &e))
    }

    /// Ends the body: whether it ended on a complete stream (an empty body
    /// does). The writer stays in place (for [`into_inner`](Self::into_inner)).
    pub fn try_finish(&mut self) -> Result<(), CodecError> {
        let done = match &mut self.state {
            DecState::Idle(_) | DecState::Identity(_) | DecState::Gone => Ok(()),
            DecState::Gzip(d) => d.try_finish(),
            DecState::Deflate(d) => d.try_finish(),
            DecState::Zstd(d) => d.do_finish(),
        };
        done.map_err(|e| corrupt(self.coding, &e))
    }

    /// The writer back, unless a compressed body failed inside its decoder
    /// (then it is gone with it).
    pub fn into_inner(self) -> Option<W> {
        match self.state {
            DecState::Idle(w) | DecState::Identity(w) => Some(w),
            DecState::Gzip(d) => d.finish().ok(),
            DecState::Deflate(d) => d.finish().ok(),
            DecState::Zstd(d) => Some(d.into_inner()),
            DecState::Gone => None,
        }
    }

    /// Makes the zstd context come from `f` (tests: a failing one).
    #[cfg(test)]
    pub(crate) fn set_zstd_factory(&mut self, f: ZstdFactory) {
        self.zstd = f;
    }
}

/// A streamed body's encoder, writing into a `Vec` the caller drains
/// ([`out`](Self::out)) between writes.
pub enum WriteEncoder {
    /// No coding.
    Identity(Vec<u8>),
    /// gzip, fast level.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// zlib, fast level.
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    /// zstd level 3.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl std::fmt::Debug for WriteEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteEncoder")
    }
}

impl WriteEncoder {
    /// An encoder for `coding` (raw snappy, which cannot be streamed, is
    /// written as identity: callers check [`Coding::streams`]).
    pub fn new(coding: Coding) -> WriteEncoder {
        let level = flate2::Compression::fast();
        match coding {
            Coding::Identity | Coding::Snappy => WriteEncoder::Identity(Vec::new()),
            Coding::Gzip => WriteEncoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), level)),
            Coding::Deflate => {
                WriteEncoder::Deflate(flate2::write::ZlibEncoder::new(Vec::new(), level))
            }
            Coding::Zstd => {
                // A compression context, like a decompression one, is
                // allocated in C; unlike decoding, failing to encode has
                // no answer but Rust's own on allocation failure.
                let raw = zstd::stream::raw::Encoder::new(3).expect("memory for a zstd context");
                WriteEncoder::Zstd(zstd::stream::write::Encoder::with_encoder(Vec::new(), raw))
            }
        }
    }

    /// Encodes `b` onto the output.
    pub fn write(&mut self, b: &[u8]) {
        // Encoders writing into a Vec cannot fail.
        let r = match self {
            WriteEncoder::Identity(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
            WriteEncoder::Gzip(e) => e.write_all(b),
            WriteEncoder::Deflate(e) => e.write_all(b),
            WriteEncoder::Zstd(e) => e.write_all(b),
        };
        r.expect("in-memory encoder");
    }

    /// The output so far, to drain.
    pub fn out(&mut self) -> &mut Vec<u8> {
        match self {
            WriteEncoder::Identity(v) => v,
            WriteEncoder::Gzip(e) => e.get_mut(),
            WriteEncoder::Deflate(e) => e.get_mut(),
            WriteEncoder::Zstd(e) => e.get_mut(),
        }
    }

    /// Ends the stream: the rest of the output.
    pub fn finish(self) -> Vec<u8> {
        let r = match self {
            WriteEncoder::Identity(v) => Ok(v),
            WriteEncoder::Gzip(e) => e.finish(),
            WriteEncoder::Deflate(e) => e.finish(),
            WriteEncoder::Zstd(e) => e.finish(),
        };
        r.expect("in-memory encoder")
    }
}

#[cfg(test)]
mod tests;

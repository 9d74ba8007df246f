//! The codecs on their own: buffered and streamed decoding agree, limits
//! hold, and a decoder that cannot be made is an error, not a panic.

use super::*;

const STREAMED: [Coding; 4] = [
    Coding::Identity,
    Coding::Gzip,
    Coding::Deflate,
    Coding::Zstd,
];

fn sample() -> Vec<u8> {
    (0..20_000u32)
        .flat_map(|i| format!("line {i} {}\n", i * 7919 % 1000).into_bytes())
        .collect()
}

/// Streams `wire` through a [`WriteDecoder`] in `split`-byte writes.
fn streamed(coding: Coding, wire: &[u8], split: usize) -> Result<Vec<u8>, CodecError> {
    let mut d = WriteDecoder::new(coding, Vec::new()).expect("streams");
    for piece in wire.chunks(split) {
        d.write(piece)?;
    }
    d.try_finish()?;
    Ok(d.into_inner().expect("the writer survives a good body"))
}

#[test]
fn streamed_decoding_equals_buffered_decoding_at_any_split() {
    let plain = sample();
    for coding in STREAMED {
        let wire = encode(coding, plain.clone());
        for split in [1, 7, 4096, wire.len()] {
            let got = streamed(coding, &wire, split).unwrap();
            assert!(got == plain, "{coding:?} split {split}");
        }
        // The streamed encoder writes what the buffered decoder reads.
        let mut e = WriteEncoder::new(coding);
        let mut out = Vec::new();
        for piece in plain.chunks(1000) {
            e.write(piece);
            out.append(e.out());
        }
        out.extend(e.finish());
        assert!(
            decode(coding, &out, usize::MAX).unwrap()[..] == plain[..],
            "{coding:?}"
        );
    }
}

#[test]
fn limits_and_broken_bodies_are_errors() {
    let plain = sample();
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Zstd, Coding::Snappy] {
        let wire = encode(coding, plain.clone());
        assert_eq!(
            decode(coding, &wire, plain.len() - 1),
            Err(CodecError::TooLarge {
                limit: plain.len() - 1
            }),
            "{coding:?}"
        );
        let cut = &wire[..wire.len() / 2];
        let e = decode(coding, cut, usize::MAX).unwrap_err();
        assert!(matches!(e, CodecError::Corrupt { .. }), "{coding:?}: {e}");
        if coding.streams() {
            let e = streamed(coding, cut, 100).unwrap_err();
            assert!(matches!(e, CodecError::Corrupt { .. }), "{coding:?}: {e}");
        }
    }
    // Raw snappy cannot be streamed: the writer comes back.
    assert_eq!(
        WriteDecoder::new(Coding::Snappy, vec![1u8]).unwrap_err(),
        [1]
    );
}

#[test]
fn an_empty_compressed_body_is_not_a_corrupt_one() {
    for coding in STREAMED {
        assert_eq!(streamed(coding, b"", 1), Ok(Vec::new()), "{coding:?}");
    }
    // Buffered as streamed (the http_codec fuzz target found them apart).
    for coding in STREAMED.into_iter().chain([Coding::Snappy]) {
        assert_eq!(
            decode(coding, b"", 0).as_deref(),
            Ok(&b""[..]),
            "{coding:?}"
        );
    }
}

#[test]
fn a_zstd_decoder_that_cannot_be_made_is_an_error_and_keeps_the_writer() {
    // zstd allocates its context in C; when that fails, the streamed body
    // is refused (this was a `panic!`, and release builds abort on panic).
    fn no_memory() -> Result<zstd::stream::raw::Decoder<'static>, CodecError> {
        Err(unavailable(
            Coding::Zstd,
            &"Allocation error : not enough memory",
        ))
    }
    let wire = encode(Coding::Zstd, sample());
    let mut d = WriteDecoder::new(Coding::Zstd, b"kept".to_vec()).unwrap();
    d.set_zstd_factory(no_memory);
    let e = d.write(&wire).unwrap_err();
    assert!(
        matches!(
            e,
            CodecError::Unavailable {
                coding: Coding::Zstd,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(d.try_finish(), Ok(()));
    assert_eq!(d.into_inner(), Some(b"kept".to_vec()));
}

//! Inputs of the modes that read files and stdin (`filter`, `scan`): gzip is
//! recognised by its magic bytes, never by the name, and decompressed as a
//! stream, every member of a multi-member file (concatenated `.gz` files) in
//! turn; anything else is read as it is.
//!
//! Memory stays bounded whatever the input: the decoder keeps its 32 KiB
//! window and a fixed read buffer, and produces output only as the caller
//! reads it, so a gzip bomb is just a long input. A corrupt or truncated
//! stream, or bytes after the last member that are not another member,
//! make a read fail with the decoder's error (kinds `InvalidInput`,
//! `InvalidData` or `UnexpectedEof`; see [`is_decode_error`]).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `reader`, decompressed when it starts with [`GZIP_MAGIC`], and whether it
/// does. Reads at most two bytes to decide (only one when the first is not
/// `0x1f`, so a held-open pipe is not held up); they are read again through
/// the returned reader.
pub fn open<'a, R: Read + 'a>(mut reader: R) -> io::Result<(Box<dyn Read + 'a>, bool)> {
    let mut head = [0u8; GZIP_MAGIC.len()];
    let mut n = 0;
    while n < head.len() && (n == 0 || head[0] == GZIP_MAGIC[0]) {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let whole = io::Cursor::new(head[..n].to_vec()).chain(reader);
    if head[..n] == GZIP_MAGIC {
        Ok((Box::new(MultiGzDecoder::new(whole)), true))
    } else {
        Ok((Box::new(whole), false))
    }
}

/// Whether `e`, from reading a gzip input opened by [`open`], is the data's
/// fault (corrupt, truncated, trailing garbage) rather than the file's.
pub fn is_decode_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(input: &[u8]) -> (io::Result<Vec<u8>>, bool) {
        let (mut r, gzip) = open(input).unwrap();
        let mut out = Vec::new();
        (r.read_to_end(&mut out).map(|_| out), gzip)
    }

    #[test]
    fn plain_input_passes_whatever_its_first_bytes() {
        for input in [&b""[..], b"\x1f", b"\x1f\x8c rest", b"x", b"plain\n"] {
            let (out, gzip) = read_all(input);
            assert_eq!((out.unwrap(), gzip), (input.to_vec(), false));
        }
    }

    #[test]
    fn every_member_is_decompressed() {
        let mut input = gz(b"first member\n");
        input.extend(gz(b"second member\n"));
        let (out, gzip) = read_all(&input);
        assert!(gzip);
        assert_eq!(out.unwrap(), b"first member\nsecond member\n");
    }

    #[test]
    fn truncated_corrupt_or_trailing_garbage_is_a_decode_error() {
        let whole = gz(&b"some log line\n".repeat(100));
        let mut garbage = whole.clone();
        garbage.extend_from_slice(b"not gzip");
        let mut corrupt = whole.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        for (what, input) in [
            ("truncated", &whole[..whole.len() - 12]),
            ("corrupt", &corrupt[..]),
            ("trailing garbage", &garbage[..]),
        ] {
            let (out, gzip) = read_all(input);
            assert!(gzip, "{what}");
            let e = out.expect_err(what);
            assert!(is_decode_error(&e), "{what}: {e:?}");
        }
    }
}

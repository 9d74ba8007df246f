//! The HTTP body codecs (gzip, deflate, zstd, raw snappy), buffered and
//! streamed: decode(encode(x)) == x for every coding and split; any bytes
//! as a coded body give an error or at most the limit, never a panic, and
//! a streamed decode that succeeds agrees with the buffered one. Bodies are
//! raw bytes, or a real encoding with bytes flipped and cut (to reach deep
//! decoder states). See `redactd_fuzz::props::{codec_round_trip, codec_wire}`.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd::formats::codec;
use redactd_fuzz::props::{self, CODINGS};
use redactd_fuzz::{bytes_literal, save_if_requested};

#[derive(Arbitrary)]
struct Case {
    data: Vec<u8>,
    /// Streamed write size.
    split: u16,
    /// Decoded bytes allowed.
    limit: u16,
    /// When set: the wire is `data` encoded with this coding, then changed.
    encoded: Option<(u8, Vec<(u16, u8)>, Option<u16>)>,
}

impl Case {
    fn wire(&self) -> Vec<u8> {
        let Some((coding, flips, cut)) = &self.encoded else {
            return self.data.clone();
        };
        let coding = CODINGS[usize::from(*coding) % CODINGS.len()];
        let mut w = codec::encode(coding, self.data.clone());
        if !w.is_empty() {
            for &(at, x) in flips {
                let n = w.len();
                w[usize::from(at) % n] ^= x;
            }
        }
        if let Some(c) = cut {
            w.truncate(usize::from(*c));
        }
        w
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let data: &[u8] = {};", bytes_literal(&self.data, 4))?;
        writeln!(f, "let wire: &[u8] = {};", bytes_literal(&self.wire(), 4))?;
        write!(f, "// split {}, limit {}", self.split, self.limit)
    }
}

fuzz_target!(|case: Case| {
    let wire = case.wire();
    save_if_requested(&wire);
    let split = usize::from(case.split).max(1);
    props::codec_round_trip(&case.data, split);
    props::codec_wire(&wire, split, usize::from(case.limit));
});

//! The HTTP body codecs (gzip, deflate, zstd, raw snappy), buffered and
//! streamed: decode(encode(x)) == x for every coding and split; any bytes
//! as a coded body give an error or at most the limit, never a panic, and
//! a streamed decode that succeeds agrees with the buffered one. Bodies are
//! raw bytes, or a real encoding with bytes flipped and cut (to reach deep
//! decoder states). See `redactd_fuzz::props::{codec_round_trip, codec_wire}`.
//! The case and its checks are `redactd_fuzz::cases::HttpCodec`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redactd_fuzz::cases::{run, HttpCodec};

fuzz_target!(|case: HttpCodec| {
    run(&case);
});

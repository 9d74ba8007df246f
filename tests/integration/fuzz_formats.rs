//! The format fuzz targets (`fuzz/fuzz_targets/{syslog_frames,json,msgpack,
//! protobuf,http_codec}.rs`) run on stable, without libFuzzer: each case is
//! built by `arbitrary` from seeded random bytes instead of
//! coverage-guided ones, and checked by the same code
//! (`redactd_fuzz::cases`). Each target runs for at most [`BUDGET`] or
//! [`MAX_CASES`] cases, whichever ends first, so CI fuzzes every format a
//! few seconds on every run; `cargo fuzz` goes deeper locally.
//!
//! A run's seed is new each time (from the clock) and printed with the
//! failing case, whose `Debug` is a reproduction;
//! `REDACTD_FUZZ_SEED=<seed>` replays a run. Keep what a failure finds in
//! `fuzz/regressions/` (see the README there).

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use arbitrary::Unstructured;
use redactd::rules::template::Rng;

use crate::redactd_fuzz::cases::{
    self, FormatCase, HttpCodec, Json, Msgpack, Protobuf, SyslogFrames,
};

/// Time each target runs for at most.
const BUDGET: Duration = Duration::from_secs(6);
/// Cases each target runs at most.
const MAX_CASES: u64 = 100_000;
/// Largest random input a case is built from.
const MAX_RAW: usize = 4096;

/// The run's seed: `REDACTD_FUZZ_SEED`, or the clock's nanoseconds.
fn seed() -> u64 {
    if let Ok(s) = std::env::var("REDACTD_FUZZ_SEED") {
        return s.parse().expect("REDACTD_FUZZ_SEED is a number");
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_nanos() as u64)
}

/// Random bytes for case `i` of a run: short inputs are most common (a
/// length with a random number of bits), up to [`MAX_RAW`].
fn raw(seed: u64, i: u64, buf: &mut Vec<u8>) {
    let mut rng = Rng::from_seed(&[seed.to_le_bytes(), i.to_le_bytes()].concat());
    let bits = rng.next_u64() % 13;
    let len = (rng.next_u64() % (1 << bits)) as usize % (MAX_RAW + 1);
    buf.clear();
    while buf.len() < len {
        buf.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    buf.truncate(len);
}

/// Runs target `C` for the budget; returns the cases checked.
fn fuzz<C: FormatCase>() -> u64 {
    let seed = seed();
    #[allow(clippy::disallowed_types)] // a time bound, never asserted on
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let mut checked = 0;
    for i in 0..MAX_CASES {
        if started.elapsed() > BUDGET {
            break;
        }
        raw(seed, i, &mut buf);
        let Ok(case) = C::arbitrary_take_rest(Unstructured::new(&buf)) else {
            continue;
        };
        match panic::catch_unwind(AssertUnwindSafe(|| cases::run(&case))) {
            Ok(ran) => checked += u64::from(ran),
            Err(p) => {
                eprintln!(
                    "{}: case {i} failed; replay with REDACTD_FUZZ_SEED={seed}\n{case:?}",
                    C::TARGET
                );
                panic::resume_unwind(p);
            }
        }
    }
    eprintln!("{}: {checked} cases (seed {seed})", C::TARGET);
    checked
}

/// Runs `C` on a thread with room for deep values: `arbitrary` builds
/// nested values recursively, as deep as the random bytes say.
fn fuzz_deep<C: FormatCase + 'static>() {
    let checked = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(fuzz::<C>)
        .expect("a thread")
        .join()
        .unwrap_or_else(|p| panic::resume_unwind(p));
    assert!(checked > 0, "{}: no case was checked", C::TARGET);
}

#[test]
fn syslog_frames_fuzzed() {
    fuzz_deep::<SyslogFrames>();
}

#[test]
fn json_fuzzed() {
    fuzz_deep::<Json>();
}

#[test]
fn msgpack_fuzzed() {
    fuzz_deep::<Msgpack>();
}

#[test]
fn protobuf_fuzzed() {
    fuzz_deep::<Protobuf>();
}

#[test]
fn http_codec_fuzzed() {
    fuzz_deep::<HttpCodec>();
}

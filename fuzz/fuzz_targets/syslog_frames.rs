//! The syslog frame decoder (RFC 6587) on any bytes: the same frames
//! whatever the split (or the same error after them), the decoder's memory
//! within its bound, frames written back octet counted decode to the same
//! bodies, and the header scan of each stays inside it. See
//! `redactd_fuzz::props::syslog_frames`.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd_fuzz::{bytes_literal, props, save_if_requested};

/// Maximum frame sizes tried: tiny (every frame oversized), around the
/// lookahead, and the relay's order of magnitude.
const MAXES: [usize; 6] = [1, 2, 16, 300, 4096, 65_536];

#[derive(Arbitrary)]
struct Case {
    max: u8,
    /// Write sizes, cycled.
    writes: Vec<u16>,
    input: Vec<u8>,
}

impl Case {
    fn max(&self) -> usize {
        MAXES[usize::from(self.max) % MAXES.len()]
    }
    fn writes(&self) -> Vec<usize> {
        self.writes.iter().map(|&w| usize::from(w)).collect()
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let input: &[u8] = {};", bytes_literal(&self.input, 4))?;
        write!(
            f,
            "redactd_fuzz::props::syslog_frames(input, &{:?}, {});",
            self.writes(),
            self.max()
        )
    }
}

fuzz_target!(|case: Case| {
    save_if_requested(&case.input);
    props::syslog_frames(&case.input, &case.writes(), case.max());
});

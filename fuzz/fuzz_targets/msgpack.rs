//! The msgpack walker on any bytes (no panic; a walk error is the
//! redactor's error too) and on rendered buffers with secrets planted in
//! their strings: an identity rewrite gives the input back byte for byte,
//! rewritten strings walk back as written, and redaction (every built-in
//! rule) changes only the strings it counts. See
//! `redactd_fuzz::props::msgpack`.
//! The case and its checks are `redactd_fuzz::cases::Msgpack`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redactd_fuzz::cases::{run, Msgpack};

fuzz_target!(|case: Msgpack| {
    run(&case);
});

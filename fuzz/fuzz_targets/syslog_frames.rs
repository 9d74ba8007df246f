//! The syslog frame decoder (RFC 6587) on any bytes: the same frames
//! whatever the split (or the same error after them), the decoder's memory
//! within its bound, frames written back octet counted decode to the same
//! bodies, and the header scan of each stays inside it. See
//! `redactd_fuzz::props::syslog_frames`.
//! The case and its checks are `redactd_fuzz::cases::SyslogFrames`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redactd_fuzz::cases::{run, SyslogFrames};

fuzz_target!(|case: SyslogFrames| {
    run(&case);
});

//! The protobuf walker, as OTLP `ExportLogsServiceRequest` and Loki
//! `PushRequest`, on any bytes (no panic; a walk error is the redactor's
//! error too) and on rendered messages with secrets planted in string
//! fields: a walk that changes nothing writes nothing, rewritten fields walk
//! back as written, and redaction (every built-in rule) leaves an untouched
//! message byte for byte. See `redactd_fuzz::props::protobuf`.
//! The case and its checks are `redactd_fuzz::cases::Protobuf`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redactd_fuzz::cases::{run, Protobuf};

fuzz_target!(|case: Protobuf| {
    run(&case);
});

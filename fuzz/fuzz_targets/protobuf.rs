//! The protobuf walker, as OTLP `ExportLogsServiceRequest` and Loki
//! `PushRequest`, on any bytes (no panic; a walk error is the redactor's
//! error too) and on rendered messages with secrets planted in string
//! fields: a walk that changes nothing writes nothing, rewritten fields walk
//! back as written, and redaction (every built-in rule) leaves an untouched
//! message byte for byte. See `redactd_fuzz::props::protobuf`.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd::engine::Style;
use redactd_fuzz::gen::{render_protobuf, PField};
use redactd_fuzz::{bytes_literal, props, save_if_requested, with_redactor};

const MAX: usize = 16 << 10;

#[derive(Arbitrary)]
enum Case {
    Raw(Vec<u8>),
    Message(Vec<PField>),
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Case::Raw(b) => b.clone(),
            Case::Message(fields) => {
                let mut out = Vec::new();
                render_protobuf(fields, 0, &mut out);
                out
            }
        }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "let input: &[u8] = {};", bytes_literal(&self.bytes(), 4))
    }
}

fuzz_target!(|case: Case| {
    let input = case.bytes();
    if input.len() > MAX {
        return;
    }
    save_if_requested(&input);
    with_redactor(Style::Label, |red| props::protobuf(red, &input));
});

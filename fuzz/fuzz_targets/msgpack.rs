//! The msgpack walker on any bytes (no panic; a walk error is the
//! redactor's error too) and on rendered buffers with secrets planted in
//! their strings: an identity rewrite gives the input back byte for byte,
//! rewritten strings walk back as written, and redaction (every built-in
//! rule) changes only the strings it counts. See
//! `redactd_fuzz::props::msgpack`.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd::engine::Style;
use redactd_fuzz::gen::{render_msgpack, MVal};
use redactd_fuzz::{bytes_literal, props, save_if_requested, with_redactor};

const MAX: usize = 16 << 10;

#[derive(Arbitrary)]
enum Case {
    Raw(Vec<u8>),
    Values(Vec<MVal>),
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Case::Raw(b) => b.clone(),
            Case::Values(vs) => {
                let mut out = Vec::new();
                for v in vs {
                    render_msgpack(v, 0, &mut out);
                    if out.len() > MAX {
                        break;
                    }
                }
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
    with_redactor(Style::Label, |red| props::msgpack(red, &input));
});

//! JSON: the grammar check accepts exactly what serde_json accepts, and
//! redaction (every built-in rule) changes nothing but the strings and
//! numbers it redacts, keeps the output JSON, and gives NDJSON the same
//! output whole or a run of lines at a time. Inputs are raw bytes or a
//! rendered document with secrets planted in its strings. See
//! `redactd_fuzz::props::{json_grammar, json_redaction}`.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd::engine::Style;
use redactd_fuzz::gen::{render_json, JStyle, JVal};
use redactd_fuzz::{bytes_literal, props, save_if_requested, with_redactor, FuzzStyle};

/// Largest input looked at.
const MAX: usize = 16 << 10;

#[derive(Arbitrary)]
enum Input {
    Raw(Vec<u8>),
    /// Documents, one per line when `lines`.
    Docs {
        docs: Vec<JVal>,
        style: JStyle,
        lines: bool,
    },
}

#[derive(Arbitrary)]
struct Case {
    style: FuzzStyle,
    input: Input,
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        match &self.input {
            Input::Raw(b) => b.clone(),
            Input::Docs { docs, style, lines } => {
                let mut out = Vec::new();
                for d in docs {
                    render_json(d, *style, 0, &mut out);
                    out.push(if *lines { b'\n' } else { b' ' });
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
        writeln!(f, "let input: &[u8] = {};", bytes_literal(&self.bytes(), 4))?;
        write!(f, "// style: {:?}", Style::from(self.style))
    }
}

fuzz_target!(|case: Case| {
    let input = case.bytes();
    if input.len() > MAX {
        return;
    }
    save_if_requested(&input);
    props::json_grammar(&input);
    with_redactor(case.style.into(), |red| props::json_redaction(red, &input));
});

//! No planted secret survives. A rule example's input is planted at a
//! fuzz-chosen offset in fuzz-chosen background bytes and the result is
//! redacted in fuzz-chosen writes.
//!
//! The secrets are the oracle's spans over the example alone, 8 bytes or
//! longer. Background bytes glued to an example can legitimately change what
//! matches (`x` before `ghp_...` defeats its `\b`), so a secret is only
//! asserted on when the oracle, over the planted buffer, still covers all of
//! it. For such a secret:
//!
//! - `mask` output (position-preserving) has only `*` and line breaks over
//!   the secret's bytes; the whole `mask` output also equals the oracle's;
//! - `label` output does not contain the secret's bytes, unless they also
//!   occur unredacted elsewhere (they then show in the oracle's `mask`
//!   output) or contain a byte a replacement is made of (`[`, `]`, `\r`,
//!   `\n`). Under those conditions an occurrence in `label` output could
//!   only come from a redacted byte, so the check is exact.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd::engine::Style;
use redactd_fuzz::{
    bytes_literal, example_inputs, first_difference, oracle, redact_in, rules, save_if_requested,
    unions, writes, MAX_ORACLE_INPUT,
};

#[derive(Arbitrary)]
struct Case {
    /// Index into every example of every built-in rule.
    example: u16,
    /// Where in the background the example goes (modulo its length + 1).
    offset: u16,
    /// Write sizes, in order; the rest goes in one last write.
    cuts: Vec<u16>,
    background: Vec<u8>,
}

impl Case {
    /// The example's input, where it went, and the planted buffer.
    fn planted(&self) -> (&'static str, usize, Vec<u8>) {
        let examples = example_inputs(rules());
        let ex = examples[usize::from(self.example) % examples.len()];
        let at = usize::from(self.offset) % (self.background.len() + 1);
        let mut buf = Vec::with_capacity(self.background.len() + ex.len());
        buf.extend_from_slice(&self.background[..at]);
        buf.extend_from_slice(ex.as_bytes());
        buf.extend_from_slice(&self.background[at..]);
        (ex, at, buf)
    }
}

/// A reproduction to paste into a test (with every built-in rule, `--all`).
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ex, at, buf) = self.planted();
        let plan = writes(buf.len(), &self.cuts);
        writeln!(
            f,
            "// engine_planted: a {}-byte example planted at byte {at} of {} background bytes; every built-in rule (--all)",
            ex.len(),
            self.background.len()
        )?;
        writeln!(
            f,
            "let example: &[u8] = {};",
            bytes_literal(ex.as_bytes(), 4)
        )?;
        writeln!(f, "let input: &[u8] = {};", bytes_literal(&buf, 4))?;
        write!(f, "let writes: &[usize] = &{plan:?};")
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|case: Case| {
    if case.background.len() > MAX_ORACLE_INPUT {
        return;
    }
    let set = rules();
    let oracle = oracle();
    let (ex, at, buf) = case.planted();
    save_if_requested(&buf);
    let plan = writes(buf.len(), &case.cuts);

    let covered = unions(&oracle.spans(&buf));
    let masked_want = oracle.redact(&buf, Style::Mask);
    let masked =
        redact_in(set, Style::Mask, &buf, &plan).unwrap_or_else(|m| panic!("{m}\n{case:?}"));
    assert!(
        masked.out == masked_want,
        "mask output differs from the oracle's (engine first): {}\n{case:?}",
        first_difference(&masked.out, &masked_want)
    );
    let labelled =
        redact_in(set, Style::Label, &buf, &plan).unwrap_or_else(|m| panic!("{m}\n{case:?}"));
    let labels: Vec<String> = set
        .rules()
        .iter()
        .map(|r| format!("[REDACTED:{}]", r.id))
        .collect();

    for span in oracle.spans(ex.as_bytes()) {
        let secret = &ex.as_bytes()[span.start..span.end];
        let (s, e) = (at + span.start, at + span.end);
        if secret.len() < 8 || !covered.iter().any(|&(a, b)| a <= s && e <= b) {
            continue;
        }
        let id = &set.rules()[span.rule].id;
        assert!(
            masked.out[s..e]
                .iter()
                .all(|&c| matches!(c, b'*' | b'\r' | b'\n')),
            "{id} secret at {s}..{e} survives in mask output: {}\n{case:?}",
            bytes_literal(&masked.out[s..e], 0)
        );
        let checkable = !secret.iter().any(|c| b"[]\r\n".contains(c))
            && !contains(&masked_want, secret)
            && !labels.iter().any(|l| contains(l.as_bytes(), secret));
        assert!(
            !checkable || !contains(&labelled.out, secret),
            "{id} secret at {s}..{e} survives in label output\n{case:?}"
        );
    }
});

//! Split invariance: redacting an input in fuzz-chosen writes gives exactly
//! the whole-buffer output and findings, in every style; in the `label` and
//! `mask` styles both equal the oracle's output (inputs up to 4 KiB), and
//! the findings are the oracle's unions (one per redacted span). Also: line count kept, `mask` keeps
//! the length, and the redactor never holds back more than its window.
//!
//! The input is assembled from pieces (raw bytes, keywords, rule examples,
//! token-shaped runs) against every built-in rule; see `redactd_fuzz::Piece`.
#![no_main]

use std::fmt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use redactd::engine::{Redactor, Style};
use redactd_fuzz::{
    assemble, bytes_literal, first_difference, options, oracle, redact_in, rules,
    save_if_requested, writes, FuzzStyle, Piece, MAX_INPUT, MAX_ORACLE_INPUT,
};

#[derive(Arbitrary)]
struct Case {
    style: FuzzStyle,
    /// Write sizes, in order; the rest of the input goes in one last write.
    cuts: Vec<u16>,
    pieces: Vec<Piece>,
}

impl Case {
    fn input(&self) -> Vec<u8> {
        assemble(&self.pieces, rules(), MAX_INPUT)
    }
}

/// A reproduction to paste into a test (with every built-in rule, `--all`).
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = self.input();
        let plan = writes(input.len(), &self.cuts);
        writeln!(
            f,
            "// engine_split: {} bytes in {} writes; every built-in rule (--all)",
            input.len(),
            plan.len()
        )?;
        writeln!(f, "let input: &[u8] = {};", bytes_literal(&input, 4))?;
        writeln!(f, "let writes: &[usize] = &{plan:?};")?;
        write!(
            f,
            "let style = redactd::engine::Style::{:?};",
            Style::from(self.style)
        )
    }
}

fuzz_target!(|case: Case| {
    let input = case.input();
    if input.len() > MAX_INPUT {
        return;
    }
    save_if_requested(&input);
    let set = rules();
    let style = Style::from(case.style);
    let plan = writes(input.len(), &case.cuts);

    let whole = Redactor::redact_all(set.clone(), options(style), &input);
    let chunked = redact_in(set, style, &input, &plan).unwrap_or_else(|m| panic!("{m}\n{case:?}"));
    assert!(
        chunked.out == whole.out,
        "chunked output differs from the whole-buffer output: {}\n{case:?}",
        first_difference(&chunked.out, &whole.out)
    );
    assert!(
        chunked.findings == whole.findings,
        "chunked findings differ from the whole-buffer findings:\n  chunked: {:?}\n  whole:   {:?}\n{case:?}",
        chunked.findings,
        whole.findings
    );
    let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    assert_eq!(
        lines(&whole.out),
        lines(&input),
        "line count changed\n{case:?}"
    );
    if style == Style::Mask {
        assert_eq!(
            whole.out.len(),
            input.len(),
            "mask changed the length\n{case:?}"
        );
    }

    if input.len() > MAX_ORACLE_INPUT {
        return;
    }
    if matches!(style, Style::Label | Style::Mask) {
        let want = oracle().redact(&input, style);
        assert!(
            whole.out == want,
            "output differs from the oracle's (engine first): {}\n{case:?}",
            first_difference(&whole.out, &want)
        );
    }
    // One finding per redacted union, under the rule its label names.
    let found: Vec<(u64, u64, usize)> = whole
        .findings
        .iter()
        .map(|f| (f.offset, f.len, f.rule_index))
        .collect();
    let want: Vec<(u64, u64, usize)> = oracle()
        .findings(&input)
        .iter()
        .map(|s| (s.start as u64, (s.end - s.start) as u64, s.rule))
        .collect();
    assert!(
        found == want,
        "findings (offset, len, rule) differ from the oracle's unions:\n  engine: {found:?}\n  oracle: {want:?}\n{case:?}"
    );
});

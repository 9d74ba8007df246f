//! Replays every input in `fuzz/regressions/` as a plain test (see the
//! README there for the file naming). No cargo-fuzz or nightly needed.

use crate::common::*;
use redactd::engine::Style;
use redactd::rules::RuleSetBuilder;

fn regressions() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("fuzz/regressions exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn check_engine(name: &str, input: &[u8]) {
    let set = builtin_all();
    let oracle = oracle(&set);
    for style in [Style::Label, Style::Mask, Style::Partial, Style::Hmac] {
        let want = whole(&set, style, input);
        if matches!(style, Style::Label | Style::Mask) {
            assert!(
                want.out == oracle.redact(input, style),
                "{name}: {style:?} differs from the oracle"
            );
        }
        for plan in [vec![1], vec![7], vec![4093], vec![1, 64, 3]] {
            let got = redact_in_chunks(&set, style, input, &plan);
            assert!(
                got.out == want.out && got.findings == want.findings,
                "{name}: {style:?} split {plan:?}"
            );
        }
    }
}

#[test]
fn fuzz_regressions_replay() {
    for (name, bytes) in regressions() {
        if name.starts_with("engine_split-") || name.starts_with("engine_planted-") {
            check_engine(&name, &bytes);
        } else if name.starts_with("rules_load-") {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut b = RuleSetBuilder::new();
            b.add_source(name.clone(), text).all(true);
            if let Ok(set) = b.build() {
                let _ = redactd::check::check(&set);
            }
        } else {
            panic!("{name}: unknown regression prefix");
        }
    }
}

//! Replays every input in `fuzz/regressions/` as a plain test (see the
//! README there for the file naming). No cargo-fuzz or nightly needed: the
//! format targets' properties live in `fuzz/src/props.rs`, compiled in here
//! with the rest of the fuzz library (`crate::redactd_fuzz`).

use crate::common::*;
use crate::redactd_fuzz::props;
use redactd::engine::{Redactor, Style};
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

/// Write plans the format targets' regressions are replayed with (the
/// fuzzer's own plan is in the commit that added the file, when it
/// mattered).
const PLANS: [&[usize]; 4] = [&[1], &[7], &[4093], &[1, 64, 3]];

/// A format target's properties over a kept input, with every built-in rule
/// where the target redacts.
fn check_format(name: &str, input: &[u8]) {
    let red = || Redactor::new(builtin_all(), opts(Style::Label));
    let target = name.split('-').next().unwrap_or_default();
    match target {
        "syslog_frames" => {
            for max in [1, 16, 300, 65_536] {
                for plan in PLANS {
                    props::syslog_frames(input, plan, max);
                }
            }
        }
        "json" => {
            props::json_grammar(input);
            for style in [Style::Label, Style::Mask, Style::Hmac] {
                let mut r = Redactor::new(builtin_all(), opts(style));
                props::json_redaction(&mut r, input);
            }
        }
        "msgpack" => props::msgpack(&mut red(), input),
        "protobuf" => props::protobuf(&mut red(), input),
        "http_codec" => {
            for split in [1, 7, 4096] {
                props::codec_round_trip(input, split);
                for limit in [0, 100, 1 << 16] {
                    props::codec_wire(input, split, limit);
                }
            }
        }
        _ => panic!("{name}: unknown regression prefix"),
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
            check_format(&name, &bytes);
        }
    }
}

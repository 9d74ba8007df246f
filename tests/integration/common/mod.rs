//! Shared helpers for the integration tests: the built-in rule set, options,
//! chunked redaction, and a seeded log corpus with fake secrets made at test
//! time from the rules' own examples.

#![allow(dead_code)]

pub mod binary;
pub mod peers;
pub mod pki;

use std::sync::{Arc, OnceLock};

use redactd::engine::fingerprint::Fingerprinter;
use redactd::engine::{Collect, Options, Redactor, Style};
use redactd::rules::template::Rng;
use redactd::rules::{RuleSet, RuleSetBuilder};

/// The built-in default rules, with their examples (loaded once per test
/// binary; `check::load` would drop the examples).
pub fn builtin() -> Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| {
        Arc::new(
            RuleSetBuilder::builtin()
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
    })
    .clone()
}

/// Every built-in rule, default or not.
pub fn builtin_all() -> Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        Arc::new(b.build().unwrap_or_else(|e| panic!("{e}")))
    })
    .clone()
}

pub fn opts(style: Style) -> Options {
    Options {
        style,
        fingerprinter: Arc::new(Fingerprinter::new(b"integration-test-key-0001", "t1").unwrap()),
    }
}

/// Redacts `input` fed in pieces of the given sizes (cycled).
pub fn redact_in_chunks(
    set: &Arc<RuleSet>,
    style: Style,
    input: &[u8],
    sizes: &[usize],
) -> Collect {
    redact_in_chunks_flushing(set, style, input, sizes, false)
}

/// As [`redact_in_chunks`], with an idle flush after every write when
/// `flush` is set (what a proxy's idle timer does between reads).
pub fn redact_in_chunks_flushing(
    set: &Arc<RuleSet>,
    style: Style,
    input: &[u8],
    sizes: &[usize],
    flush: bool,
) -> Collect {
    let mut r = Redactor::new(Arc::clone(set), opts(style));
    let mut c = Collect::default();
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = sizes[i % sizes.len()].max(1).min(input.len() - at);
        r.write(&input[at..at + n], &mut c);
        if flush {
            r.flush_idle(&mut c);
        }
        at += n;
        i += 1;
    }
    r.finish(&mut c);
    c
}

pub fn whole(set: &Arc<RuleSet>, style: Style, input: &[u8]) -> Collect {
    Redactor::redact_all(Arc::clone(set), opts(style), input)
}

/// One test case: a name and input bytes.
#[derive(Clone)]
pub struct Case {
    pub name: String,
    pub input: Vec<u8>,
}

/// Every example input of every rule in `set`, as cases.
pub fn example_cases(set: &RuleSet) -> Vec<Case> {
    let mut v = Vec::new();
    for r in set.rules() {
        for (i, ex) in r.examples.iter().enumerate() {
            v.push(Case {
                name: format!("{} example {}", r.id, i + 1),
                input: ex.input.clone().into_bytes(),
            });
        }
        for (i, ex) in r.negative_examples.iter().enumerate() {
            v.push(Case {
                name: format!("{} negative {}", r.id, i + 1),
                input: ex.clone().into_bytes(),
            });
        }
    }
    v
}

const PATHS: &[&str] = &[
    "/api/v1/orders/1234",
    "/static/app.3f9a.js",
    "/health",
    "/users/42/profile?page=2",
];
const MSGS: &[&str] = &[
    "request completed",
    "password reset email sent",
    "token expired, forcing re-login",
    "secret rotation scheduled",
    "authorization failed for user",
    "cache miss",
];

/// A seeded corpus of realistic log lines; about one line in `every` is a
/// rule example input (a fake secret in context, one in four with its `/`,
/// or its `+` and `=`, JSON-escaped). Returns the corpus and the
/// example inputs planted in it.
pub fn corpus(set: &RuleSet, seed: &str, lines: usize, every: usize) -> (Vec<u8>, Vec<String>) {
    let mut rng = Rng::from_seed(seed.as_bytes());
    let examples: Vec<&str> = set
        .rules()
        .iter()
        .flat_map(|r| r.examples.iter().map(|e| e.input.as_str()))
        .collect();
    let mut out = Vec::new();
    let mut planted = Vec::new();
    for n in 0..lines {
        let pick = rng.next_u64();
        if every > 0 && pick.is_multiple_of(every as u64) && !examples.is_empty() {
            let ex = examples[(rng.next_u64() % examples.len() as u64) as usize];
            // One in four as a JSON encoder writes it: PHP's `\/`, or
            // `\u002b` / `\u003d` (Gson, System.Text.Json).
            let escaped = match rng.next_u64() % 8 {
                0 => ex.replace('/', r"\/"),
                1 => ex.replace('+', r"\u002b").replace('=', r"\u003d"),
                _ => ex.to_string(),
            };
            let ex = escaped.as_str();
            planted.push(ex.to_string());
            // After a log prefix, so secrets sit mid-line; an indented
            // example (a config file's `  password x`, whose rule needs the
            // indentation to start the line) on a line of its own.
            let line = if ex.starts_with([' ', '\t']) {
                format!("{ex}\n")
            } else {
                format!("2026-11-25T10:00:{:02}Z INFO app: {ex}\n", n % 60)
            };
            out.extend_from_slice(line.as_bytes());
            continue;
        }
        let ip = format!(
            "10.{}.{}.{}",
            pick % 256,
            (pick >> 8) % 256,
            (pick >> 16) % 256
        );
        let line = match (pick >> 24) % 4 {
            0 => format!(
                "{ip} - - [25/Nov/2026:10:00:{:02} +0000] \"GET {} HTTP/1.1\" 200 {} \"https://shop.example.com/\" \"curl/8.5.0\"\n",
                n % 60,
                PATHS[(pick >> 32) as usize % PATHS.len()],
                pick % 9000
            ),
            1 => format!(
                "{{\"ts\":\"2026-11-25T10:00:00.{:03}Z\",\"level\":\"info\",\"trace_id\":\"{}\",\"msg\":\"{}\"}}\n",
                n % 1000,
                rng.string("hex", 32).unwrap(),
                MSGS[(pick >> 32) as usize % MSGS.len()]
            ),
            2 => format!(
                "Nov 25 10:00:{:02} web-01 sshd[{}]: Accepted publickey for deploy from {ip} port 4022 ssh2: ED25519 SHA256:{}\n",
                n % 60,
                pick % 60000,
                rng.string("b64", 43).unwrap()
            ),
            _ => format!(
                "Nov 25 10:00:{:02} web-02 sudo[{}]: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart app\n",
                n % 60,
                pick % 60000
            ),
        };
        out.extend_from_slice(line.as_bytes());
    }
    (out, planted)
}

/// The status code of an HTTP response head (`HTTP/1.1 200 OK`...), 0 when
/// there is none.
pub fn status_of(head: &str) -> u16 {
    head.lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

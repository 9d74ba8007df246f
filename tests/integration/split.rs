//! Split invariance with the built-in rules: every case, fed through every
//! read size up to 97, random sizes and 64 KiB ± 1, gives exactly the
//! whole-buffer output, which in turn equals the slow oracle's.

use crate::common::*;
use proptest::prelude::*;
use redactd::engine::oracle::Oracle;
use redactd::engine::{Style, CHUNK};
use redactd::rules::escape::ESCAPED;
use redactd::rules::template::Rng;
use redactd::rules::{truncated, RuleSet};
use regex_automata::{Anchored, Input};

fn assert_invariant(
    set: &std::sync::Arc<redactd::rules::RuleSet>,
    case: &Case,
    style: Style,
    oracle: Option<&Oracle>,
) {
    let want = whole(set, style, &case.input);
    if let Some(o) = oracle {
        // One finding per redacted span, under the label's rule.
        let found: Vec<(usize, usize, usize)> = want
            .findings
            .iter()
            .map(|f| (f.offset as usize, (f.offset + f.len) as usize, f.rule_index))
            .collect();
        let unions: Vec<(usize, usize, usize)> = o
            .findings(&case.input)
            .iter()
            .map(|s| (s.start, s.end, s.rule))
            .collect();
        assert_eq!(
            found, unions,
            "{}: findings differ from the oracle's",
            case.name
        );
        let reference = o.redact(&case.input, style);
        assert!(
            want.out == reference,
            "{}: engine and oracle differ\n engine: {:?}\n oracle: {:?}",
            case.name,
            String::from_utf8_lossy(&want.out),
            String::from_utf8_lossy(&reference)
        );
    }
    let mut plans: Vec<Vec<usize>> = (1..=97).map(|n| vec![n]).collect();
    plans.push(vec![CHUNK - 1]);
    plans.push(vec![CHUNK + 1]);
    let mut rng = Rng::from_seed(case.name.as_bytes());
    for _ in 0..8 {
        plans.push(
            (0..16)
                .map(|_| 1 + (rng.next_u64() % 300) as usize)
                .collect(),
        );
    }
    // Idle flushes between reads (proxy timers) change nothing either.
    let flushed: Vec<Vec<usize>> = (1..=7)
        .map(|n| vec![n])
        .chain(plans[97..].iter().cloned())
        .collect();
    let plans = plans
        .into_iter()
        .map(|p| (p, false))
        .chain(flushed.into_iter().map(|p| (p, true)));
    for (plan, flush) in plans {
        let got = redact_in_chunks_flushing(set, style, &case.input, &plan, flush);
        assert!(
            got.out == want.out,
            "{}: split {:?} (idle flushes: {flush}) differs\n split: {:?}\n whole: {:?}",
            case.name,
            &plan[..plan.len().min(4)],
            String::from_utf8_lossy(&got.out),
            String::from_utf8_lossy(&want.out)
        );
        assert_eq!(
            got.findings,
            want.findings,
            "{}: findings differ at split {:?}",
            case.name,
            &plan[..plan.len().min(4)]
        );
    }
}

#[test]
fn every_rule_example_is_split_invariant_and_matches_the_oracle() {
    let set = builtin_all();
    let oracle = oracle(&set);
    for case in example_cases(&set) {
        assert_invariant(&set, &case, Style::Label, Some(&oracle));
    }
}

#[test]
fn every_style_is_split_invariant_on_examples() {
    let set = builtin();
    let oracle = oracle(&set);
    let cases = example_cases(&set);
    for style in [Style::Mask, Style::Partial, Style::Hmac] {
        for case in cases.iter().step_by(3) {
            let o = (style == Style::Mask).then_some(&oracle);
            assert_invariant(&set, case, style, o);
        }
    }
}

#[test]
fn generated_corpus_is_split_invariant_and_matches_the_oracle() {
    let set = builtin();
    let (input, planted) = corpus(&set, "split-corpus", 6000, 40);
    assert!(planted.len() > 50, "corpus should carry many secrets");
    let case = Case {
        name: "corpus".into(),
        input,
    };
    assert_invariant(&set, &case, Style::Label, Some(&oracle(&set)));
    // Every finding is reported once, whatever the chunking.
    let got = whole(&set, Style::Label, &case.input);
    assert!(got.findings.len() >= planted.len());
}

/// Edge inputs from the issue, each with a comment on why it is tricky.
fn edge_cases() -> Vec<Case> {
    let set = builtin();
    let secret = set
        .rules()
        .iter()
        .find_map(|r| r.examples.first())
        .unwrap()
        .input
        .clone();
    let mut v = Vec::new();
    let mut add = |name: &str, input: Vec<u8>| {
        v.push(Case {
            name: name.into(),
            input,
        })
    };
    // CRLF line ends must survive byte for byte, also right after a secret.
    add(
        "crlf",
        format!("a {secret}\r\nb\r\n{secret}\r\n").into_bytes(),
    );
    // No final newline: the last secret must still be redacted at finish.
    add("no final newline", format!("x\n{secret}").into_bytes());
    // Invalid UTF-8 and NUL around secrets must pass through untouched.
    let mut bytes = b"\xff\xfe bad \x00 nul ".to_vec();
    bytes.extend_from_slice(secret.as_bytes());
    bytes.extend_from_slice(b"\x00\xc3\x28 end\n");
    add("invalid utf-8 and nul", bytes);
    // Empty input and only line breaks.
    add("empty", Vec::new());
    add("only newlines", b"\n\r\n\n".to_vec());
    v
}

#[test]
fn edge_inputs_are_split_invariant() {
    let set = builtin();
    let oracle = oracle(&set);
    for case in edge_cases() {
        assert_invariant(&set, &case, Style::Label, Some(&oracle));
    }
}

/// A PEM key written as one line or as a list of its lines (issue 12, item 2),
/// each with the exact output: the block runs from the header through the
/// footer, and bytes after it are left alone. `(name, input, expected)`.
fn joined_key_cases() -> Vec<(String, String, String)> {
    let mut rng = Rng::from_seed(b"joined-keys");
    let mut b64 = |n| rng.string("b64", n).expect("b64 class");
    let (l1, l2, l3) = (b64(64), b64(64), format!("{}==", b64(20)));
    let (h, f) = (
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
    );
    let r = "[REDACTED:keys.private-key]";
    let mut v = Vec::new();
    let mut add = |name: &str, input: String, want: String| {
        v.push((name.to_string(), input, want));
    };
    // `echo $KEY` without quotes: the shell joins the lines with spaces.
    add(
        "joined by spaces",
        format!("key loaded: {h} {l1} {l2} {l3} {f} done\n"),
        format!("key loaded: {r} done\n"),
    );
    add(
        "joined by tabs",
        format!("k\t{h}\t{l1}\t{l2}\t{l3}\t{f}\tnext\n"),
        format!("k\t{r}\tnext\n"),
    );
    // A JSON array of the key's lines, compact and as Python prints it.
    add(
        "json array of lines",
        format!(r#"{{"key":["{h}","{l1}","{l2}","{l3}","{f}"],"user":"bob"}}"#),
        format!(r#"{{"key":["{r}"],"user":"bob"}}"#),
    );
    add(
        "python list of lines",
        format!("lines=['{h}', '{l1}', '{l2}', '{l3}', '{f}'] ok"),
        format!("lines=['{r}'] ok"),
    );
    // Lines that keep an escaped line break each, and a JSON string inside a
    // JSON string (`\"` separators, `\\n` escapes).
    add(
        "array of escaped lines",
        format!(r#"["{h}\n", "{l1}\n", "{l2}\n", "{l3}\n", "{f}\n"]"#),
        format!(r#"["{r}\n"]"#),
    );
    add(
        "double-encoded json",
        format!(r#"{{"msg":"{{\"k\":\"{h}\\n{l1}\\n{l3}\\n{f}\\n\",\"u\":1}}"}}"#),
        format!(r#"{{"msg":"{{\"k\":\"{r}\\n\",\"u\":1}}"}}"#),
    );
    // Pretty-printed JSON and an indented YAML block scalar: real line breaks
    // followed by indentation (and quotes).
    add(
        "pretty json array",
        format!("[\n  \"{h}\",\n  \"{l1}\",\n  \"{l3}\",\n  \"{f}\"\n]\n"),
        format!("[\n  \"{r}\n\n\n\"\n]\n"),
    );
    add(
        "yaml block scalar",
        format!("tls:\n  key: |\n    {h}\n    {l1}\n    {l3}\n    {f}\n  port: 443\n"),
        format!("tls:\n  key: |\n    {r}\n\n\n\n  port: 443\n"),
    );
    // A legacy encrypted key joined by spaces: its armor headers come first.
    add(
        "encrypted key joined",
        format!("{h} Proc-Type: 4,ENCRYPTED DEK-Info: AES-128-CBC,0A1B2C3D4E5F60718293A4B5C6D7E8F9 {l1} {l3} {f} end"),
        format!("{r} end"),
    );
    // No footer: the body is redacted through its last word (fail closed).
    add(
        "joined without footer",
        format!("{h} {l1} {l2} {l3}\nnext line\n"),
        format!("{r}\nnext line\n"),
    );
    // Only the header is mentioned: the words after it are not a key.
    add(
        "header mention in json",
        format!(r#"{{"a":"{h}","user":"bob"}}"#),
        format!(r#"{{"a":"{r}","user":"bob"}}"#),
    );
    add(
        "header mention in prose",
        format!("log: saw {h} \"user\":\"bob\" and more text here\n{h} is not allowed\n"),
        format!("log: saw {r} \"user\":\"bob\" and more text here\n{r} is not allowed\n"),
    );
    v
}

#[test]
fn joined_pem_keys_are_redacted_whole_at_every_split() {
    let set = builtin();
    let oracle = oracle(&set);
    for (name, input, want) in joined_key_cases() {
        let got = whole(&set, Style::Label, input.as_bytes());
        assert_eq!(String::from_utf8_lossy(&got.out), want, "{name}");
        let headers = input.matches("-----BEGIN").count();
        assert_eq!(got.findings.len(), headers, "{name}: one finding a header");
        let case = Case {
            name,
            input: input.into_bytes(),
        };
        assert_invariant(&set, &case, Style::Label, Some(&oracle));
        assert_invariant(&set, &case, Style::Mask, Some(&oracle));
    }
}

/// Issue 14 item 2: a Secret's YAML maps (kubectl's sorted `-o yaml`, a
/// manifest's `stringData`, one escaped in a container log line, a List's
/// nested map, CRLF lines) lose every value, keep every line around them,
/// and give one finding a map, at every split; a ConfigMap's `data:` and
/// `metadata:` maps are left alone.
#[test]
fn kubernetes_secret_yaml_maps_are_redacted_whole_at_every_split() {
    let set = builtin();
    let oracle = oracle(&set);
    let mut rng = Rng::from_seed(b"k8s-yaml");
    let mut b64 = |n: usize| {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let v: String = (0..n)
            .map(|_| A[(rng.next_u64() % 64) as usize] as char)
            .collect();
        format!("Q{v}")
    };
    let values: Vec<String> = (0..8).map(|i| b64(22 + 4 * i)).collect();
    let v = |i: usize| values[i].as_str();
    let (v0, v1, v2, v3, v4, v5, v6, v7) = (v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7));
    let kept = [
        "apiVersion: v1\n",
        "kind: Secret\n",
        "  name: db\n",
        "type: Opaque\n",
        "LOG_LEVEL: debug",
        "kind: ConfigMap",
        "  kind: Secret\n",
        "\\nkind: Secret\\n\",\"stream\":\"stdout\"}",
        "kind: Secret\r\n",
    ];
    let input = format!(
        "apiVersion: v1\ndata:\n  password: {v0}=\n  username: {v1}=\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n\
         ---\napiVersion: v1\ndata:\n  LOG_LEVEL: debug\n  mode: production\nkind: ConfigMap\n\
         ---\nkind: Secret\nstringData:\n  config.yaml: |\n    user: app\n\n    password: \"{v2}\"\n  token: {v3}\n---\n\
         items:\n- data:\n    tls.key: {v4}{v4}{v4}{v4}{v4}{v4}{v4}{v4}{v4}\n    tls.crt: {v5}=\n  kind: Secret\n\
         {{\"log\":\"data:\\n  token: {v6}=\\n  ca.crt: {v7}=\\nkind: Secret\\n\",\"stream\":\"stdout\"}}\n\
         data:\r\n  a: {v7}=\r\n  b: {v0}=\r\nkind: Secret\r\n"
    );
    let got = whole(&set, Style::Label, input.as_bytes());
    let out = String::from_utf8_lossy(&got.out).into_owned();
    for value in &values {
        assert!(!out.contains(&value[..12]), "{value} leaked:\n{out}");
    }
    for k in kept {
        assert!(out.contains(k), "{k:?} lost:\n{out}");
    }
    assert_eq!(out.lines().count(), input.lines().count(), "{out}");
    let maps = got
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "shapes.k8s-secret-yaml")
        .count();
    assert_eq!(maps, 5, "one finding a Secret's map:\n{out}");
    let case = Case {
        name: "k8s secret yaml".into(),
        input: input.into_bytes(),
    };
    assert_invariant(&set, &case, Style::Label, Some(&oracle));
    assert_invariant(&set, &case, Style::Mask, Some(&oracle));
}

/// Issue 13 item 4: a vendor token that a generic rule also claims (the
/// same bytes, or a longer span around them) is one finding, under the rule
/// the label shows, at every chunking.
#[test]
fn overlapping_rules_give_one_finding_per_redacted_span() {
    let set = builtin();
    let oracle = oracle(&set);
    let token = redactd::rules::template::expand_one("overlap", "ghp_{{crc62:36}}").unwrap();
    let input = format!("login ok password={token} user=bob\nDB_PASSWORD=\"{token}\"\n");
    let got = whole(&set, Style::Label, input.as_bytes());
    let rules: Vec<&str> = got.findings.iter().map(|f| f.rule.as_str()).collect();
    let text = String::from_utf8_lossy(&got.out).into_owned();
    let labels: Vec<&str> = text
        .match_indices("[REDACTED:")
        .map(|(i, _)| &text[i + 10..i + text[i..].find(']').unwrap()])
        .collect();
    assert_eq!(rules, labels, "one finding per label, same rule: {text}");
    assert_eq!(rules.len(), 2, "{text}");
    let case = Case {
        name: "overlapping rules".into(),
        input: input.into_bytes(),
    };
    assert_invariant(&set, &case, Style::Label, Some(&oracle));
}

#[test]
fn a_secret_straddles_every_offset_of_a_read_boundary() {
    let set = builtin();
    for r in set.rules() {
        let ex = &r.examples[0];
        let want = whole(&set, Style::Label, ex.input.as_bytes()).out;
        let input = ex.input.as_bytes();
        // The read boundary falls after `cut` bytes, for every cut inside the
        // example (and the example sits at a random spot in a bigger read).
        let pad = "z".repeat(1000);
        let padded = format!("{pad}\n{}\n{pad}", ex.input);
        let padded_want = whole(&set, Style::Label, padded.as_bytes()).out;
        for cut in 0..=input.len() {
            let got = redact_in_chunks(&set, Style::Label, input, &[cut.max(1), usize::MAX / 2]);
            assert_eq!(got.out, want, "{} cut {cut}", r.id);
            let got = redact_in_chunks(
                &set,
                Style::Label,
                padded.as_bytes(),
                &[1001 + cut, usize::MAX / 2],
            );
            assert_eq!(got.out, padded_want, "{} padded cut {cut}", r.id);
        }
    }
}

#[test]
fn a_ten_mib_line_with_secrets_at_start_middle_and_end() {
    let set = builtin();
    let (filler, _) = corpus(&set, "filler", 60_000, 0);
    // One line: replace every line break of the filler with a space.
    let filler: Vec<u8> = filler
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    let filler = &filler[..filler.len().min(10 << 20)];
    let examples: Vec<&str> = set
        .rules()
        .iter()
        .map(|r| r.examples[0].input.as_str())
        .collect();
    let ex = examples[examples.len() / 2];
    let mut line = Vec::new();
    line.extend_from_slice(ex.as_bytes());
    line.push(b' ');
    line.extend_from_slice(&filler[..filler.len() / 2]);
    line.push(b' ');
    line.extend_from_slice(ex.as_bytes());
    line.push(b' ');
    line.extend_from_slice(&filler[filler.len() / 2..]);
    line.push(b' ');
    line.extend_from_slice(ex.as_bytes());
    let want = whole(&set, Style::Label, &line);
    assert_eq!(
        want.findings.len() % 3,
        0,
        "the same secret three times gives findings in threes"
    );
    assert!(want.findings.len() >= 3);
    for plan in [vec![1 << 20], vec![65_535], vec![4093, 17, 70_001]] {
        let got = redact_in_chunks(&set, Style::Label, &line, &plan);
        assert!(
            got.out == want.out,
            "split {plan:?} differs on the 10 MiB line"
        );
    }
    assert!(!want.out.contains(&b'\n'));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random mixes of examples, noise bytes and line breaks, cut at random
    /// places, equal the whole-buffer and oracle outputs.
    #[test]
    fn random_mixes_are_split_invariant(
        picks in prop::collection::vec((0usize..10_000, prop::collection::vec(any::<u8>(), 0..12)), 1..8),
        cuts in prop::collection::vec(1usize..200, 1..12),
    ) {
        let set = builtin();
        let examples: Vec<&str> = set.rules().iter().flat_map(|r| r.examples.iter().map(|e| e.input.as_str())).collect();
        let mut input = Vec::new();
        for (i, noise) in &picks {
            input.extend_from_slice(examples[i % examples.len()].as_bytes());
            input.extend_from_slice(noise);
        }
        let want = whole(&set, Style::Label, &input);
        let got = redact_in_chunks(&set, Style::Label, &input, &cuts);
        prop_assert_eq!(&got.out, &want.out);
        prop_assert_eq!(&got.findings, &want.findings);
        let flushed = redact_in_chunks_flushing(&set, Style::Label, &input, &cuts, true);
        prop_assert_eq!(&flushed.out, &want.out);
        prop_assert_eq!(&flushed.findings, &want.findings);
        let oracle = oracle(&set);
        prop_assert_eq!(&want.out, &oracle.redact(&input, Style::Label));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A key with its lines joined by any mix of the separators logs use,
    /// between random text, cut at random places: no body line or footer
    /// survives, and every cut gives the whole-buffer output.
    #[test]
    fn joined_keys_never_leak_a_line(
        seps in prop::collection::vec(0usize..8, 5),
        before in "[ -~]{0,12}",
        after in "[ -~]{0,12}",
        seed in 0u64..1000,
        cuts in prop::collection::vec(1usize..120, 1..8),
    ) {
        const SEPS: [&str; 8] = [" ", "\t", "\",\"", "\", \"", "', '", "\\n", "\\\",\\\"", "\n    "];
        let set = builtin();
        let mut rng = Rng::from_seed(&seed.to_le_bytes());
        let lines: Vec<String> = (0..3).map(|_| rng.string("b64", 64).unwrap()).collect();
        let f = "-----END PRIVATE KEY-----";
        let mut input = format!("{before}-----BEGIN PRIVATE KEY-----");
        for (i, part) in lines.iter().map(String::as_str).chain([f]).enumerate() {
            input.push_str(SEPS[seps[i]]);
            input.push_str(part);
        }
        input.push_str(&after);
        let want = whole(&set, Style::Label, input.as_bytes());
        for part in lines.iter().map(String::as_str).chain([f]) {
            prop_assert!(memchr::memmem::find(&want.out, part.as_bytes()).is_none(), "{}", input);
        }
        let got = redact_in_chunks(&set, Style::Label, input.as_bytes(), &cuts);
        prop_assert_eq!(&got.out, &want.out);
        prop_assert_eq!(&got.findings, &want.findings);
    }
}

#[test]
fn no_planted_secret_survives_in_any_style() {
    let set = builtin();
    let oracle = oracle(&set);
    let (input, planted) = corpus(&set, "leak-corpus", 3000, 20);
    // The secret bytes of each planted example: what its rules redact when
    // it stands alone (pieces of 8+ bytes between line breaks).
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for ex in &planted {
        for sp in oracle.spans(ex.as_bytes()) {
            for piece in ex.as_bytes()[sp.start..sp.end].split(|&b| b == b'\n' || b == b'\r') {
                if piece.len() >= 8 {
                    secrets.push(piece.to_vec());
                }
            }
        }
    }
    assert!(
        secrets.len() >= planted.len() / 2,
        "{} secret pieces for {} examples",
        secrets.len(),
        planted.len()
    );
    for style in [Style::Label, Style::Mask, Style::Partial, Style::Hmac] {
        let got = redact_in_chunks(&set, style, &input, &[4093]);
        for s in &secrets {
            // Partial style may show a public prefix and up to 4 tail bytes,
            // never the middle: look for the secret minus its ends.
            let core = match style {
                Style::Partial if s.len() < 16 => continue,
                Style::Partial => &s[4..s.len() - 4],
                _ => &s[..],
            };
            assert!(
                memchr::memmem::find(&got.out, core).is_none(),
                "{style:?}: a planted secret of {} bytes survived",
                s.len()
            );
        }
        assert_eq!(
            got.out.iter().filter(|&&b| b == b'\n').count(),
            input.iter().filter(|&&b| b == b'\n').count(),
            "{style:?}: line count changed"
        );
    }
}

/// How one encoder writes a byte, if it escapes it.
type Escape = fn(u8) -> Option<String>;

/// How JSON encoders write the bytes rules see through (see
/// `redactd::rules::escape`): PHP's `json_encode` writes `/` as `\/`; Gson
/// and System.Text.Json write `=`, `+` (and any byte) as `\u00xx`, in lower
/// and upper case hex.
const JSON_ESCAPES: [(&str, Escape); 3] = [
    ("php", |b| (b == b'/').then(|| r"\/".to_string())),
    ("u00xx", |b| Some(format!("\\u{b:04x}"))),
    ("u00XX", |b| Some(format!("\\u{b:04X}"))),
];

/// `s` with its `/`, `+` and `=` escaped by `how`, and for each byte of `s`
/// the bytes it became.
fn json_escape(s: &[u8], how: Escape) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut out = Vec::new();
    let mut map = Vec::new();
    for &b in s {
        let start = out.len();
        match how(b).filter(|_| ESCAPED.contains(&b)) {
            Some(e) => out.extend_from_slice(e.as_bytes()),
            None => out.push(b),
        }
        map.push(start..out.len());
    }
    (out, map)
}

/// Which bytes of `input` the oracle redacts.
fn redacted(oracle: &Oracle, input: &[u8]) -> Vec<bool> {
    let mut covered = vec![false; input.len()];
    for sp in oracle.spans(input) {
        covered[sp.start..sp.end].iter_mut().for_each(|c| *c = true);
    }
    covered
}

/// Every example of every built-in rule that holds a `/`, `+` or `=`, with
/// those bytes JSON-escaped, is redacted exactly as the example is: every
/// byte of an escaped form whose byte the rule redacts goes, escapes
/// included, and nothing else, whatever the chunking, also at the start of
/// a long line. The engine agrees with the oracle at every split.
///
/// Not the rules with a `block` (PEM keys): the block after the header is
/// the engine's armor scanner's to follow, which takes `\/` inside a body
/// line but ends at a real line break before a line holding one, and at a
/// `Proc-Type:` field after a `\n` escape (JSON strings escape both).
#[test]
fn every_example_with_escaped_slashes_plus_and_equals_is_redacted_whole() {
    let set = builtin_all();
    let mut checked = 0;
    for r in set.rules().iter().filter(|r| r.block.is_none()) {
        let single = std::sync::Arc::new(RuleSet::single(r));
        let oracle = oracle(&single);
        for (i, ex) in r.examples.iter().enumerate() {
            let plain = ex.input.as_bytes();
            let want = redacted(&oracle, plain);
            for (name, how) in JSON_ESCAPES {
                let (input, map) = json_escape(plain, how);
                if input == plain {
                    continue;
                }
                let got = redacted(&oracle, &input);
                for (k, range) in map.iter().enumerate() {
                    assert!(
                        got[range.clone()].iter().all(|&g| g == want[k]),
                        "{} example {} escaped {name}: byte {k} is {} in the example, not in \
                         the escaped one\n input: {:?}\n   out: {:?}",
                        r.id,
                        i + 1,
                        if want[k] { "redacted" } else { "kept" },
                        String::from_utf8_lossy(&input),
                        String::from_utf8_lossy(&oracle.redact(&input, Style::Label)),
                    );
                }
                let case = Case {
                    name: format!("{} example {} escaped {name}", r.id, i + 1),
                    input,
                };
                assert_invariant(&single, &case, Style::Label, Some(&oracle));
                // On a long line the window ends at the longest match the
                // escapes allow, not at a line break.
                let long = [&case.input[..], &[b' '; 9000][..]].concat();
                let want = whole(&single, Style::Label, &long).out;
                assert!(
                    want == oracle.redact(&long, Style::Label),
                    "{} long",
                    case.name
                );
                let got = redact_in_chunks(&single, Style::Label, &long, &[4093, 7]).out;
                assert!(got == want, "{} long, split", case.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} escaped examples");
}

/// Every derived `-truncated` rule (`redactd::rules::truncated`): each of
/// its parent's examples with the secret cut one character past the
/// minimum, and followed by `...` or by the end of the input, has every byte
/// of what is left of the secret redacted by the full set, at every split.
#[test]
fn every_prefixed_token_cut_past_its_minimum_is_redacted() {
    let set = builtin_all();
    let oracle = oracle(&set);
    let mut checked = 0;
    let derived = set
        .rules()
        .iter()
        .filter_map(|t| Some((t, t.id.as_str().strip_suffix(truncated::ID_SUFFIX)?)));
    for (t, parent) in derived {
        let parent = set
            .get(parent)
            .expect("a derived rule's parent is in the set");
        let single = crate::common::oracle(&std::sync::Arc::new(RuleSet::single(parent)));
        let shape = regex_automata::meta::Regex::builder()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false)
                    .multi_line(true),
            )
            .build(&t.pattern)
            .unwrap();
        for (i, ex) in parent.examples.iter().enumerate() {
            let input = ex.input.as_bytes();
            let Some(sp) = single.spans(input).into_iter().next() else {
                continue;
            };
            let at = Input::new(&input[..sp.end])
                .span(sp.start..sp.end)
                .anchored(Anchored::Yes);
            let Some(min) = shape.search(&at).map(|m| m.end()) else {
                continue;
            };
            if min + 1 >= sp.end {
                continue;
            }
            let cut = &input[..min + 1];
            for (how, rest) in [("followed by ...", &b"..."[..]), ("at the end", b"")] {
                let case = Case {
                    name: format!("{} example {} cut {how}", parent.id, i + 1),
                    input: [cut, rest].concat(),
                };
                let redacted = redacted(&oracle, &case.input);
                assert!(
                    redacted[sp.start..=min].iter().all(|&r| r),
                    "{}: {:?}",
                    case.name,
                    String::from_utf8_lossy(&oracle.redact(&case.input, Style::Label))
                );
                assert_invariant(&set, &case, Style::Label, Some(&oracle));
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} cut tokens");
}

/// Percent-encoding of every byte outside `A-Za-z0-9-._~`, hex in `upper`
/// or lower case.
fn percent_encoded(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| match b {
            _ if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => (b as char).to_string(),
            _ if upper => format!("%{b:02X}"),
            _ => format!("%{b:02x}"),
        })
        .collect()
}

/// Issue 14 item 3: a secret a rule finds once is redacted again later in
/// the same stream, bare, JSON-escaped (`\/`, every byte as `\u00xx`) and
/// percent-encoded (either hex case), where no rule would find it, under
/// the same rule id, at every read split and idle flush, and the oracle
/// agrees. A copy before the secret was found is left alone.
#[test]
fn a_secret_found_once_is_redacted_again_bare_escaped_and_encoded_at_every_split() {
    let set = builtin();
    let mut rng = Rng::from_seed(b"learned-split");
    let mut part = |n| rng.string("alnum", n).unwrap();
    let secret = format!("Q{}/{}+{}", part(9), part(6), part(5));
    let json = secret.replace('/', "\\/");
    let unicode: String = secret.bytes().map(|b| format!("\\u{b:04x}")).collect();
    let unicode_upper: String = secret.bytes().map(|b| format!("\\u{b:04X}")).collect();
    let (upper, lower) = (
        percent_encoded(&secret, true),
        percent_encoded(&secret, false),
    );
    let copies = [&secret, &json, &unicode, &unicode_upper, &upper, &lower];
    let mut input = format!("early mention {secret} stays\ndb init password={secret} ok\n");
    for (i, c) in copies.iter().enumerate() {
        input.push_str(&format!("{{\"msg\":\"retry {i} with {c} now\"}}\n"));
        input.push_str(&format!("GET /cb?n={i}&p={c} HTTP/1.1\n"));
    }
    let got = whole(&set, Style::Label, input.as_bytes());
    let out = String::from_utf8_lossy(&got.out).into_owned();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(&*format!("early mention {secret} stays"))
    );
    for line in lines {
        assert!(
            copies.iter().all(|c| !line.contains(c.as_str())),
            "a copy survived: {line}"
        );
        assert_eq!(line.matches("[REDACTED:").count(), 1, "{line}");
    }
    assert_eq!(got.findings.len(), 1 + 2 * copies.len(), "{out}");
    let rule = &got.findings[0].rule;
    assert!(got.findings.iter().all(|f| &f.rule == rule), "{out}");
    let case = Case {
        name: "learned copies".into(),
        input: input.into_bytes(),
    };
    let oracle = oracle(&set);
    assert_invariant(&set, &case, Style::Label, Some(&oracle));
    assert_invariant(&set, &case, Style::Mask, Some(&oracle));
    // The oracle without learning leaves every copy: the harness compares
    // the learned spans, not only the rules'.
    let rules_only = Oracle::new(set.clone()).redact(&case.input, Style::Label);
    assert!(memchr::memmem::find(&rules_only, secret.as_bytes()).is_some());
}

/// Issue 12 item 7: a long run of a rule's keyword (its hits dense, so its
/// screen walks on and clears them in bulk) followed by the rule's
/// example, plain and with its `/`, `+` and `=` escaped: the secret after
/// the run is found all the same, at every split, as the oracle says. A
/// walk of the plain screen does not see escaped forms, so what it clears
/// must stop short of them.
#[test]
fn a_secret_after_a_run_of_its_keyword_is_found() {
    let set = builtin_all();
    let mut checked = 0;
    for r in set.rules().iter().filter(|r| r.block.is_none()).step_by(3) {
        let single = std::sync::Arc::new(RuleSet::single(r));
        let oracle = Oracle::new(single.clone());
        let ex = r.examples[0].input.as_bytes();
        let (escaped, _) = json_escape(ex, JSON_ESCAPES[0].1);
        let keyword = r.search_keywords[0].as_bytes();
        for (tail, how) in [(ex, "plain"), (&escaped[..], "escaped")] {
            let mut input = keyword.repeat(2000 / keyword.len().max(1));
            input.push(b' ');
            input.extend_from_slice(tail);
            input.push(b'\n');
            let want = whole(&single, Style::Label, &input);
            assert!(!want.findings.is_empty(), "{}: {how} not found", r.id);
            let case = Case {
                name: format!("{} {how} after a keyword run", r.id),
                input,
            };
            assert_invariant(&single, &case, Style::Label, Some(&oracle));
            checked += usize::from(how == "escaped" && tail != ex);
        }
    }
    assert!(checked >= 10, "only {checked} escaped examples");
}

/// Issue 12 item 7: the adversarial review's slow lines, short, with the
/// built-in rules: split invariant and equal to the oracle. `password=`
/// repeated is a line of real findings, whose rule fails closed at its
/// DENSE_RUN-th close one (the rest of the line is one redacted span).
#[test]
fn pathological_lines_are_split_invariant_and_match_the_oracle() {
    let set = builtin();
    let oracle = Oracle::new(set.clone());
    let soup: Vec<&str> = set
        .rules()
        .iter()
        .flat_map(|r| r.keywords.iter().map(String::as_str))
        .collect();
    let soup = soup.join(" ");
    for unit in [
        "https%3A%2F%2Fu%3A",
        "cookie=a;",
        "\"kty\":\"RSA\",",
        "eyJ",
        "password=abcd1234 ",
        soup.as_str(),
    ] {
        let line = unit.repeat(1 + 1500 / unit.len());
        let input = format!("{line}\n{line}\nok\n").into_bytes();
        let case = Case {
            name: format!("{} repeated", &unit[..unit.len().min(20)]),
            input,
        };
        assert_invariant(&set, &case, Style::Label, Some(&oracle));
    }
    let line = "password=abcd1234 ".repeat(100);
    let got = whole(&set, Style::Label, format!("{line}\n").as_bytes());
    assert_eq!(got.findings.len(), redactd::engine::DENSE_RUN as usize);
    let text = String::from_utf8_lossy(&got.out);
    assert!(
        text.ends_with("password=[REDACTED:generic.password]\n"),
        "{text}"
    );
}

/// An escaped form that starts inside a match's bounds as written and ends
/// past them (the last character of a secret written `\u002f`): the window
/// grows for it like for any other, and the engine finds what the oracle
/// finds, at every split.
#[test]
fn an_escaped_form_at_the_end_of_a_secret_is_seen() {
    let set = builtin_all();
    let mut checked = 0;
    for r in set.rules().iter().filter(|r| r.block.is_none()) {
        let single = std::sync::Arc::new(RuleSet::single(r));
        let oracle = Oracle::new(single.clone());
        for (i, ex) in r.examples.iter().enumerate() {
            let plain = ex.input.as_bytes();
            let Some(last) = plain.iter().rposition(|b| ESCAPED.contains(b)) else {
                continue;
            };
            let form = format!("\\u{:04x}", plain[last]);
            // Text after it: the window ends at the bounds, not the line.
            let tail = b" and some more words on the line after it\n";
            let input = [&plain[..last], form.as_bytes(), &plain[last + 1..], tail].concat();
            let case = Case {
                name: format!("{} example {} last escaped", r.id, i + 1),
                input,
            };
            assert_invariant(&single, &case, Style::Label, Some(&oracle));
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} examples");
}

/// A run of one rule's findings capped at its [`DENSE_RUN`]-th (the rest
/// of the line redacted) teaches the rest of its line as one value, as the
/// oracle defines; the secrets found one by one before the cap teach
/// theirs. Later copies of each, and of a secret inside the capped part
/// (never found alone, so never learned), come out as the oracle says, at
/// every split.
///
/// [`DENSE_RUN`]: redactd::engine::DENSE_RUN
#[test]
fn a_capped_run_teaches_the_rest_of_its_line() {
    let set = builtin();
    let mut rng = Rng::from_seed(b"capped-learned");
    let secrets: Vec<String> = (0..20)
        .map(|_| format!("Q{}", rng.string("alnum", 11).unwrap()))
        .collect();
    let line: String = secrets.iter().map(|s| format!("password={s} ")).collect();
    let capped_at = redactd::engine::DENSE_RUN as usize - 1;
    let tail = &line[line.find(&*secrets[capped_at]).unwrap()..];
    let input = format!(
        "{line}\nlater {} and {}\nwhole tail: {tail}\n",
        secrets[3], secrets[19]
    );
    let got = whole(&set, Style::Label, input.as_bytes());
    let out = String::from_utf8_lossy(&got.out).into_owned();
    let first = out.lines().next().unwrap();
    assert_eq!(
        first.matches("[REDACTED:").count(),
        capped_at + 1,
        "{first}"
    );
    assert!(!first.contains(&*secrets[19]), "{first}");
    let later = out.lines().nth(1).unwrap();
    assert!(!later.contains(&*secrets[3]), "learned one by one: {later}");
    let whole_tail = out.lines().nth(2).unwrap();
    assert!(
        !whole_tail.contains(&*secrets[19]),
        "learned as the rest of the line: {whole_tail}"
    );
    let case = Case {
        name: "capped run, learned".into(),
        input: input.into_bytes(),
    };
    let oracle = oracle(&set);
    assert_invariant(&set, &case, Style::Label, Some(&oracle));
    assert_invariant(&set, &case, Style::Mask, Some(&oracle));
}

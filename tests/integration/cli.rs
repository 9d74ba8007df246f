//! The `redactd` binary end to end: filter, exit codes, findings file,
//! styles, rules subcommands.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use redactd::rules::template::expand_one;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redactd"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("redactd-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fake GitHub token, made at test time.
fn gh_token(seed: &str) -> String {
    expand_one(seed, "ghp_{{alnum:36}}").unwrap()
}

fn run_filter(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = bin()
        .arg("filter")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let t = std::thread::spawn(move || {
        let _ = w.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    t.join().unwrap();
    out
}

#[test]
fn filter_redacts_stdin_to_stdout() {
    let tok = gh_token("cli-1");
    let input = format!("export GITHUB_TOKEN={tok}\nplain line\r\nno newline at end {tok}");
    let out = run_filter(&[], input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(&tok[4..]), "secret leaked: {text}");
    assert!(text.starts_with("export GITHUB_TOKEN=[REDACTED:"), "{text}");
    assert!(
        text.contains("\nplain line\r\nno newline at end [REDACTED:"),
        "{text}"
    );
    assert!(!text.ends_with('\n'));
    assert!(out.stderr.is_empty());
}

#[test]
fn filter_concatenates_files_and_reports_unreadable_ones() {
    let d = tmpdir("files");
    let tok = gh_token("cli-2");
    std::fs::write(d.join("a.log"), format!("a {tok}\n")).unwrap();
    std::fs::write(d.join("b.log"), "b clean\n").unwrap();
    let missing = d.join("missing.log");
    let out = bin()
        .arg("filter")
        .arg(d.join("a.log"))
        .arg(&missing)
        .arg(d.join("b.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("a [REDACTED:") && text.ends_with("]\nb clean\n"),
        "{text}"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot read") && err.contains("missing.log"),
        "{err}"
    );
}

#[test]
fn a_closed_stdout_exits_zero() {
    let mut child = bin()
        .arg("filter")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = b"a log line that goes on and on\n".repeat(4096);
        for _ in 0..64 {
            if stdin.write_all(&line).is_err() {
                break;
            }
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 10`
    let status = child.wait().unwrap();
    writer.join().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status:?}, stderr {err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn a_held_open_pipe_gets_each_line_before_eof() {
    let tok = gh_token("cli-3");
    let mut child = bin()
        .arg("filter")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(std::mem::take(&mut line));
        }
    });
    stdin
        .write_all(format!("first {tok}\n").as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("line released before EOF");
    assert!(
        got.starts_with("first [REDACTED:") && !got.contains(&tok[4..]),
        "{got}"
    );
    stdin.write_all(b"second\n").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        "second\n"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn findings_file_has_fingerprints_not_secrets() {
    let d = tmpdir("findings");
    let key = d.join("key");
    std::fs::write(&key, "a test hmac key, long enough\n").unwrap();
    let findings = d.join("findings.jsonl");
    let tok = gh_token("cli-4");
    let input = format!("line one\nuse {tok} now\n{tok}\n");
    let out = run_filter(
        &[
            "--findings",
            findings.to_str().unwrap(),
            "--hmac-key-file",
            key.to_str().unwrap(),
            "--hmac-key-id",
            "k7",
            "--stats",
        ],
        input.as_bytes(),
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&findings).unwrap();
    assert!(!text.contains(&tok[4..]));
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["line"], 2);
    assert_eq!(recs[0]["offset"], 13);
    assert_eq!(recs[0]["len"], 40);
    assert_eq!(recs[0]["source"], "-");
    assert_eq!(recs[1]["line"], 3);
    assert!(recs[0]["rule"].as_str().unwrap().starts_with("github."));
    assert!(recs[0]["fingerprint"].as_str().unwrap().starts_with("k7:"));
    assert_eq!(
        recs[0]["fingerprint"], recs[1]["fingerprint"],
        "same secret, same fingerprint"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("2 findings")
            && err.contains("MB/s")
            && err.contains(recs[0]["rule"].as_str().unwrap()),
        "{err}"
    );
    // The GitHub rule's regex was compiled by its hit, within the budget.
    let regexes = err
        .lines()
        .find_map(|l| l.strip_prefix("redactd:   compiled regexes "))
        .expect("the compiled regexes are reported");
    let bytes: u64 = regexes.split(' ').next().unwrap().parse().unwrap();
    assert!(bytes > 0 && regexes.ends_with(", 0 evicted"), "{err}");
}

/// Issue 16 item 1: `--threads N` writes byte for byte what one thread
/// writes, findings (offsets, lines, fingerprints) and their order
/// included, over an input of many pieces with what carries across lines:
/// PEM bodies, a Secret map, values learned and met again lines and pieces
/// later, a line longer than a piece, no final line break.
#[test]
fn filter_threads_write_what_one_thread_writes() {
    let d = tmpdir("threads");
    let key = d.join("key");
    std::fs::write(&key, "a test hmac key, long enough\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut input = String::new();
    for i in 0..6000 {
        let tok = gh_token(&format!("thr-{}", i % 700));
        input.push_str(&format!(
            "2026-12-05T10:00:{:02}Z app[{i}] GET /api/v1/items?page={i} 200 user=u{i} ok\n",
            i % 60
        ));
        match i % 97 {
            0 => input.push_str(&format!("login token={tok} accepted\n")),
            13 => input.push_str(&format!("retry with password=Pw{i}x9Qz7Lk2Mv\n")),
            29 => input.push_str(&format!("echo Pw{}x9Qz7Lk2Mv\n", i - 16)),
            41 => input.push_str(
                "key: -----BEGIN RSA PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n\
                 WVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n-----END RSA PRIVATE KEY-----\n",
            ),
            53 => input.push_str(
                "data:\n  password: aHVudGVyMlNlY3JldA==\n  user: YWRtaW4=\nkind: Secret\n",
            ),
            71 => input.push_str(&format!("{} token={tok}\n", "x".repeat(300_000))),
            _ => {}
        }
    }
    input.push_str("no final line break password=Zq8vT3mW9kP2xR7n");
    let file = d.join("in.log");
    std::fs::write(&file, &input).unwrap();
    let run = |threads: &str| {
        let findings = d.join(format!("findings-{threads}.jsonl"));
        let out = bin()
            .args(["filter", "--stats", "--threads", threads, "--hmac-key-file"])
            .arg(&key)
            .arg("--findings")
            .arg(&findings)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        (out.stdout, std::fs::read(&findings).unwrap(), err)
    };
    let (one, one_findings, one_err) = run("1");
    assert!(!one_err.contains("pieces"), "{one_err}");
    let found = one_findings.iter().filter(|&&b| b == b'\n').count();
    assert!(found > 300, "{found} findings");
    for threads in ["2", "3", "0"] {
        let (out, findings, err) = run(threads);
        assert!(out == one, "--threads {threads}: output differs");
        assert!(
            findings == one_findings,
            "--threads {threads}: findings differ"
        );
        // Workers did part of it (0 is one per core: maybe one thread).
        let by_workers: Option<u64> = err.lines().find_map(|l| {
            let l = l.strip_prefix("redactd:   ")?;
            l.strip_suffix(" again in order")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        });
        if threads != "0" {
            assert!(
                by_workers.is_some_and(|n| n > 0),
                "--threads {threads}: {err}"
            );
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn hmac_style_is_stable_across_runs_and_needs_a_key() {
    let d = tmpdir("hmac");
    let key = d.join("key");
    std::fs::write(&key, "another test key 0123456789").unwrap();
    let tok = gh_token("cli-5");
    let args = ["--style", "hmac", "--hmac-key-file", key.to_str().unwrap()];
    let a = run_filter(&args, format!("{tok}\n").as_bytes());
    let b = run_filter(&args, format!("{tok}\n").as_bytes());
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let text = String::from_utf8(a.stdout).unwrap();
    assert!(
        text.contains(":hmac:k1:") && !text.contains(&tok[4..]),
        "{text}"
    );
    let no_key = run_filter(&["--style", "hmac"], b"x\n");
    assert_eq!(no_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("--hmac-key-file"));
    let short = d.join("short");
    std::fs::write(&short, "tiny").unwrap();
    let bad = run_filter(&["--hmac-key-file", short.to_str().unwrap()], b"x\n");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at least 16"));
}

#[test]
fn rules_list_check_and_explain() {
    let out = bin().args(["rules", "list"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().lines().count() >= 40);
    let out = bin().args(["rules", "check"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains(": ok"));

    let tok = gh_token("cli-6");
    let out = bin()
        .args(["rules", "test", &format!("token {tok} here")])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("REDACT bytes 6..46") && text.contains("ghp_********"),
        "{text}"
    );
    assert!(!text.contains(&tok[4..]), "rules test leaked the secret");
    let out = bin()
        .args(["rules", "test", "nothing to see"])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("no keyword"));
}

/// `rules explain ID` shows the rule itself; text given in its place (the
/// old usage) is refused without being echoed.
#[test]
fn rules_explain_shows_a_rule_and_never_echoes_text() {
    let out = bin()
        .args(["rules", "explain", "github.pat"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for field in [
        "id ",
        "regex ",
        "keywords ",
        "validator ",
        "remediation ",
        "example ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(field)),
            "no {field:?} line in {text}"
        );
    }
    assert!(text.contains("ghp_"), "{text}");
    let tok = gh_token("cli-7");
    let out = bin()
        .args(["rules", "explain", &format!("token {tok}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules test"), "{err}");
    assert!(!err.contains(&tok[4..]), "the refusal echoed the text");
}

#[test]
fn rules_list_packs_counts_rules_per_tag() {
    let out = bin().args(["rules", "list", "--packs"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let count = |tag: &str| -> usize {
        text.lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(tag)).then(|| f.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {tag} line in {text}"))
    };
    // The pack sizes agree with `rules list`: `default` is what is on
    // without flags, every pack counts the rules carrying its tag.
    let listed = |args: &[&str]| {
        let out = bin().args(["rules", "list"]).args(args).output().unwrap();
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(count("default"), listed(&[]));
    assert_eq!(count("pii"), listed(&["--enable", "pii"]) - listed(&[]));
    assert!(count("default") >= 150, "{text}");
    assert!(count("generic") >= 4);
    // Sorted by tag name, one line each.
    let tags: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut sorted = tags.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(tags, sorted);
}

#[test]
fn user_rules_are_added_checked_and_selectable() {
    let d = tmpdir("rules");
    let rule = r#"
[[rule]]
id = "acme.key"
name = "ACME key"
regex = '\bacme_[0-9a-f]{16}\b'
keywords = ["acme_"]
severity = "high"
remediation = "rotate at acme"
tags = ["default"]
examples = [{ input = "k=acme_{{hex:16}}", output = "k=[REDACTED:acme.key]" }]
"#;
    std::fs::write(d.join("acme.toml"), rule).unwrap();
    let secret = "acme_0123456789abcdef";
    let out = run_filter(
        &["--rules", d.to_str().unwrap()],
        format!("x {secret}\n").as_bytes(),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "x [REDACTED:acme.key]\n"
    );
    let out = run_filter(
        &["--rules", d.to_str().unwrap(), "--disable", "acme.key"],
        format!("x {secret}\n").as_bytes(),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("x {secret}\n")
    );
    let out = run_filter(&["--disable", "no.such.rule"], b"x\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no.such.rule"));

    // A broken example is refused with file, rule id and what is wrong.
    std::fs::write(
        d.join("acme.toml"),
        rule.replace("k=[REDACTED:acme.key]", "k=[REDACTED:other]"),
    )
    .unwrap();
    let out = bin()
        .args(["rules", "check", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("acme.toml: rule acme.key: example 1 does not produce its expected output"),
        "{err}"
    );
    let out = run_filter(&["--rules", d.to_str().unwrap()], b"x\n");
    assert_eq!(out.status.code(), Some(2));
}

/// Base64 (standard alphabet, no padding) for building test inputs.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            o.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    o
}

#[test]
fn known_secrets_are_masked_raw_escaped_percent_encoded_and_in_base64() {
    let dir = tmpdir("known");
    // A Kubernetes-style secret volume: one file per value, `..data` skipped.
    let vol = dir.join("vol");
    std::fs::create_dir_all(vol.join("..data")).unwrap();
    let db = expand_one("known-db", "Pw/{{alnum:12}}+\"q\"").unwrap();
    let api = expand_one("known-api", "{{alnum:24}}").unwrap();
    std::fs::write(vol.join("db-password"), format!("{db}\n")).unwrap();
    std::fs::write(vol.join("api_key"), &api).unwrap();
    std::fs::write(vol.join("..data").join("ignored"), "ignored-value-123").unwrap();
    let json = db
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('/', "\\/");
    let pct: String = db
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let input = format!(
        "raw {db} end\njson {{\"p\":\"{json}\"}}\nurl ?p={pct}&x=1\nbasic {}\nkey={api}\nignored-value-123\n",
        b64(format!("user:{api}").as_bytes())
    );
    let out = run_filter(
        &["--known-secrets", vol.to_str().unwrap()],
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [&db, &json, &pct, &api] {
        assert!(!text.contains(needle.as_str()), "a form survived:\n{text}");
    }
    assert!(
        text.contains("raw [REDACTED:known.db-password] end"),
        "{text}"
    );
    assert!(text.contains("key=[REDACTED:known.api_key]"), "{text}");
    assert!(
        text.contains("ignored-value-123"),
        "dot entries are not values"
    );
    // The base64 of `user:API` holds the value at offset 5: the aligned
    // form of it is gone, only the user part's characters stay.
    assert!(
        !text.contains(&b64(format!("user:{api}").as_bytes())[8..28]),
        "{text}"
    );

    // Short values are refused, naming the file and not the value.
    std::fs::write(vol.join("short"), "abc123").unwrap();
    let out = run_filter(&["--known-secrets", vol.to_str().unwrap()], b"x");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("short") && err.contains("at least 8") && !err.contains("abc123"),
        "{err}"
    );
}

// ------------------------------------------------------- filter and gzip ---

/// A fake AWS access key id, made at test time.
fn aws_key(seed: &str) -> String {
    let mut rng = redactd::rules::template::Rng::from_seed(seed.as_bytes());
    format!("AKIA{}", rng.string("upper", 16).unwrap())
}

fn gzip(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Issue 13 item 8: a gzip file (found by its magic bytes, whatever its
/// name) and gzip on stdin are decompressed and redacted, like `scan` reads
/// them; every member of a multi-member file, a secret cut across two
/// members included. The output is what the plain text gives.
#[test]
fn filter_decompresses_gzip_files_and_stdin_and_redacts_them() {
    let d = tmpdir("gzip");
    let (a, b) = (aws_key("gz-a"), aws_key("gz-b"));
    let text = format!("start\nkey {a} in a gzip file\nsecond {b} across members\nend\n");
    let cut = text.find(&b).unwrap() + 9;
    let single = d.join("single.log.gz");
    std::fs::write(
        &single,
        gzip(text.as_bytes(), flate2::Compression::default()),
    )
    .unwrap();
    let mut members = gzip(&text.as_bytes()[..cut], flate2::Compression::fast());
    members.extend(gzip(&text.as_bytes()[cut..], flate2::Compression::best()));
    // Named like plain text: the magic bytes decide.
    let multi = d.join("members.txt");
    std::fs::write(&multi, &members).unwrap();

    let plain = run_filter(&[], text.as_bytes());
    assert!(plain.status.success());
    let want = String::from_utf8(plain.stdout).unwrap();
    assert!(
        want.contains("key [REDACTED:aws.access-key-id] in"),
        "{want}"
    );
    for path in [&single, &multi] {
        let out = bin()
            .arg("filter")
            .arg("--stats")
            .arg(path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {err}", path.display());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            want,
            "{}",
            path.display()
        );
        assert!(err.contains("1 gzip input(s) decompressed"), "{err}");
        assert!(err.contains("aws.access-key-id: 2"), "{err}");
    }
    let out = run_filter(&["-"], &members);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

/// A corrupt or truncated gzip input is an error naming it (exit 1); what
/// decompressed before the error is written redacted, except where a
/// secret may be cut by the error, and the next input is still processed.
#[test]
fn a_truncated_or_corrupt_gzip_input_is_an_error_and_writes_nothing_undecided() {
    let d = tmpdir("gzip-bad");
    let a = aws_key("gz-trunc");
    let text = format!("first line\nthe key is {a} and more\n");
    // Stored (level 0), so the gzip bytes hold the text as it is and a cut
    // at a known place of the text is easy: inside the key.
    let stored = gzip(text.as_bytes(), flate2::Compression::none());
    let at = stored
        .windows(a.len())
        .position(|w| w == a.as_bytes())
        .unwrap();
    let truncated = d.join("truncated.gz");
    std::fs::write(&truncated, &stored[..at + 14]).unwrap();
    let mut garbage = gzip(text.as_bytes(), flate2::Compression::default());
    garbage.extend_from_slice(b"\0\0 not gzip");
    let trailing = d.join("trailing.gz");
    std::fs::write(&trailing, &garbage).unwrap();
    let clean = d.join("clean.log");
    std::fs::write(&clean, "after\n").unwrap();

    let out = bin()
        .arg("filter")
        .args([&truncated, &clean, &trailing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stdout.contains(&a[..8]) && !err.contains(&a[..8]),
        "{stdout}{err}"
    );
    assert!(stdout.starts_with("first line\nthe key is"), "{stdout}");
    assert!(stdout.contains("the key isafter\n"), "{stdout}");
    for f in [&truncated, &trailing] {
        let named = format!("cannot decompress {} (gzip)", f.display());
        assert!(err.contains(&named), "{err}");
    }
    assert!(err.contains("bytes before the error not written"), "{err}");
    // The whole of trailing.gz's member decompressed: all of it is out.
    assert!(
        stdout.ends_with("after\nfirst line\nthe key is [REDACTED:aws.access-key-id] and more\n"),
        "{stdout}"
    );
}

/// A gzip bomb (96 MiB of log lines in well under 1 MiB) is decoded as a
/// stream: filter's peak RSS stays far below the decompressed size.
#[test]
fn filter_decompresses_gzip_in_bounded_memory() {
    let Some(python) = crate::common::peers::peer("python3") else {
        return;
    };
    let d = tmpdir("gzip-bomb");
    let line = b"2026-01-01T00:00:00Z app info request served in 12 ms user=alice\n";
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..(96 << 20) / line.len() {
        e.write_all(line).unwrap();
    }
    let bomb = d.join("bomb.gz");
    std::fs::write(&bomb, e.finish().unwrap()).unwrap();
    // ru_maxrss of the child, measured by a small parent (a fork of a big
    // one would start with the parent's pages).
    let out = Command::new(python)
        .arg("-c")
        .arg(
            "import resource, subprocess, sys\n\
             p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n\
             print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n",
        )
        .arg(env!("CARGO_BIN_EXE_redactd"))
        .arg("filter")
        .arg(&bomb)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (rc, kib) = text.trim().split_once(' ').expect("rc and maxrss");
    assert_eq!(rc, "0", "{}", String::from_utf8_lossy(&out.stderr));
    let kib: u64 = kib.parse().unwrap();
    assert!(
        kib < 48 * 1024,
        "peak RSS {kib} KiB for 96 MiB decompressed"
    );
}

/// The README's first command: the shipped sample log comes out with every
/// one of its fake secrets redacted and every other line unchanged.
#[test]
fn the_sample_log_is_redacted() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app.log");
    let input = std::fs::read_to_string(path).unwrap();
    let out = bin().arg("filter").arg(path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), input.lines().count());
    for rule in [
        "urls.database-uri",
        "aws.access-key-id",
        "aws.secret-access-key",
        "http.auth-bearer",
        "stripe.secret-key",
        "slack.webhook",
        "github.pat",
        "keys.private-key",
    ] {
        assert!(
            text.contains(&format!("[REDACTED:{rule}]")),
            "{rule}:\n{text}"
        );
    }
    for (a, b) in input.lines().zip(text.lines()) {
        if !b.contains("[REDACTED:") && !b.is_empty() {
            assert_eq!(a, b, "a line without a secret changed");
        }
    }
    for leak in ["AKIA", "ghp_", "sk_live_", "eyJhbGci", "END RSA"] {
        assert!(!text.contains(leak), "{leak} leaked:\n{text}");
    }
}

/// Issue 14 item 3 through the binary: `token = 'S' … 'S'` no longer leaks
/// the second copy; each input file is a stream of its own; the findings
/// file names the same rule for the copy; `--learned-values 0` is the old
/// behaviour.
#[test]
fn filter_redacts_a_later_copy_of_a_secret_in_the_same_input_only() {
    let s = expand_one("cli-learned", "Tq{{alnum:14}}").unwrap();
    let input = format!("config: token = '{s}' loaded\nretrying with '{s}'\n");
    let dir = tmpdir("learned");
    let findings = dir.join("findings.jsonl");
    let f = findings.to_str().unwrap();
    let out = run_filter(&["--findings", f], input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(&s), "a copy leaked: {text}");
    let lines = std::fs::read_to_string(&findings).unwrap();
    let rules: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"].to_string())
        .collect();
    assert_eq!(rules.len(), 2, "{lines}");
    assert_eq!(rules[0], rules[1]);
    assert!(!lines.contains(&s));
    let off = run_filter(&["--learned-values", "0"], input.as_bytes());
    let text = String::from_utf8(off.stdout).unwrap();
    assert!(text.ends_with(&format!("retrying with '{s}'\n")), "{text}");
    // Two files: the second is a stream of its own.
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    std::fs::write(&a, format!("token = '{s}'\n")).unwrap();
    std::fs::write(&b, format!("retrying with '{s}'\n")).unwrap();
    let out = run_filter(&[a.to_str().unwrap(), b.to_str().unwrap()], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with(&format!("retrying with '{s}'\n")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

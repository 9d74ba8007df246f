//! TLS with real peers on 127.0.0.1, certificates made by `openssl` in the
//! test. Syslog (RFC 5425): `openssl s_client` sends into redactd's TLS
//! listener, redactd relays over TLS to an rsyslog receiver (imtcp with the
//! ossl stream driver): mutual authentication, a client without or with a
//! foreign certificate, an upstream whose certificate must be refused, and
//! octet counting enforced. The tcp proxy: TLS from `s_client` in, TLS to a
//! `socat` OPENSSL-LISTEN recorder out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::binary::Redactd;
use crate::common::peers::*;
use crate::common::pki::Pki;
use redactd::rules::template::Rng;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An rsyslog receiver speaking TLS (ossl driver), writing MSG per line.
fn rsyslog_tls(tmp: &TempDir, pki: &Pki) -> Option<(Daemon, u16, PathBuf)> {
    rsyslog_tls_auth(tmp, pki, "anon")
}

/// As [`rsyslog_tls`] with an imtcp `authMode` (`x509/certvalid` makes
/// rsyslog require a client certificate from the CA).
fn rsyslog_tls_auth(tmp: &TempDir, pki: &Pki, auth: &str) -> Option<(Daemon, u16, PathBuf)> {
    let bin = peer("rsyslogd")?;
    let dir = tmp.subdir("rsyslog-tls");
    let (cert, key) = pki.leaf("rsyslog");
    let out = dir.join("out.log");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\" processInternalMessages=\"on\"\n\
               defaultNetstreamDriverCAFile=\"{ca}\" defaultNetstreamDriverCertFile=\"{cert}\"\n\
               defaultNetstreamDriverKeyFile=\"{key}\")\n\
             module(load=\"imtcp\" streamDriver.name=\"ossl\" streamDriver.mode=\"1\" streamDriver.authMode=\"{auth}\")\n\
             template(name=\"m\" type=\"string\" string=\"%msg%\\n\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"{d}/port\" ruleset=\"r\")\n\
             ruleset(name=\"r\") {{ action(type=\"omfile\" file=\"{out}\" template=\"m\") }}\n\
             *.* action(type=\"omfile\" file=\"{d}/internal.log\")\n",
            d = dir.display(),
            ca = pki.ca().display(),
            cert = cert.display(),
            key = key.display(),
            out = out.display(),
            auth = auth,
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["-n", "-f", s(&conf), "-i", s(&dir.join("pid"))]);
    let mut d = Daemon::spawn("rsyslog-tls", cmd, &dir);
    let port_file = dir.join("port");
    d.wait_ready("its port file", || {
        std::fs::read_to_string(&port_file).is_ok_and(|p| p.trim().parse::<u16>().is_ok())
    });
    let port = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some((d, port, out))
}

/// Sends `data` with `openssl s_client` (optionally presenting a client
/// certificate); returns whether the handshake and send succeeded.
fn s_client(port: u16, ca: &Path, client: Option<(&Path, &Path)>, data: &[u8]) -> bool {
    s_client_with(port, ca, client, data, &[])
}

/// [`s_client`] with extra options (protocol version, ciphers).
fn s_client_with(
    port: u16,
    ca: &Path,
    client: Option<(&Path, &Path)>,
    data: &[u8],
    extra: &[&str],
) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-CAfile",
        s(ca),
    ])
    .args(["-verify_return_error", "-quiet", "-no_ign_eof"])
    .args(extra);
    if let Some((c, k)) = client {
        cmd.args(["-cert", s(c), "-key", s(k)]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    let _ = child.stdin.take().unwrap().write_all(data);
    run_wait(child, Duration::from_secs(10))
}

fn run_wait(mut child: std::process::Child, timeout: Duration) -> bool {
    let ok = poll_until(timeout, || matches!(child.try_wait(), Ok(Some(_))));
    if !ok {
        let _ = child.kill();
    }
    child.wait().is_ok_and(|s| s.success())
}

#[test]
fn tls_in_and_out_with_mutual_authentication() {
    let tmp = TempDir::new("syslog-tls");
    let Some(pki) = Pki::new(&tmp, "good") else {
        return;
    };
    let Some((rs, rs_port, out)) = rsyslog_tls(&tmp, &pki) else {
        return;
    };
    let (cert, key) = pki.leaf("redactd");
    let (ccert, ckey) = pki.leaf("client");
    let up = format!("tls://127.0.0.1:{rs_port}");
    let mut d = Redactd::start(
        &tmp,
        "syslog",
        &[
            "--listen-tls",
            "127.0.0.1:0",
            "--tls-cert-file",
            s(&cert),
            "--tls-key-file",
            s(&key),
            "--tls-client-ca-file",
            s(&pki.ca()),
            "--upstream",
            &up,
            "--upstream-ca-file",
            s(&pki.ca()),
        ],
    );
    let port = d.port("syslog-tls/tcp-0");
    let mut rng = Rng::from_seed(b"tls");
    let key_id = format!("AKIA{}", rng.string("upper", 16).unwrap());
    let frame =
        |i: usize| octet_frame(format!("<13>1 - h app - - - tls {i} key={key_id}").as_bytes());
    // Two frames over TLS 1.3, one over TLS 1.2 with ECDHE and AES-GCM.
    let mut wire = frame(0);
    wire.extend_from_slice(&frame(1));
    let client = Some((ccert.as_path(), ckey.as_path()));
    assert!(
        s_client_with(port, &pki.ca(), client, &wire, &["-tls1_3"]),
        "{}",
        d.stderr()
    );
    let tls12 = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"];
    assert!(
        s_client_with(port, &pki.ca(), client, &frame(2), &tls12),
        "{}",
        d.stderr()
    );
    let lines = poll_lines(&out, 3);
    assert_eq!(
        lines,
        (0..3)
            .map(|i| format!("tls {i} key=[REDACTED:aws.access-key-id]"))
            .collect::<Vec<_>>(),
        "{}",
        rs.report()
    );

    // No client certificate, or one from another CA: refused and counted.
    let other = Pki::new(&tmp, "other").unwrap();
    let (ocert, okey) = other.leaf("intruder");
    let secret = format!("<13>1 - h app - - - refused key={key_id}");
    s_client(port, &pki.ca(), None, &octet_frame(secret.as_bytes()));
    s_client(
        port,
        &pki.ca(),
        Some((&ocert, &okey)),
        &octet_frame(secret.as_bytes()),
    );
    // LF framing over TLS is a framing error (RFC 5425: octet counting).
    s_client(
        port,
        &pki.ca(),
        Some((&ccert, &ckey)),
        b"<13>1 - h app - - - lf framed\n",
    );

    let c = d.stop();
    assert_eq!(c["tls_handshake_errors"], 2, "{c:?}");
    assert_eq!(c["framing_errors"], 1, "{c:?}");
    assert_eq!(c["messages_out"], 3);
    let all = std::fs::read_to_string(&out).unwrap();
    assert!(!all.contains("refused") && !all.contains("lf framed"));
    assert!(!all.contains(&key_id) && !d.stderr().contains(&key_id));
}

#[test]
fn an_upstream_with_an_untrusted_certificate_is_refused() {
    let tmp = TempDir::new("syslog-tls-bad-up");
    let Some(pki) = Pki::new(&tmp, "upstream") else {
        return;
    };
    let Some((_rs, rs_port, out)) = rsyslog_tls(&tmp, &pki) else {
        return;
    };
    // The relay trusts another CA only.
    let other = Pki::new(&tmp, "unrelated").unwrap();
    let up = format!("tls://127.0.0.1:{rs_port}");
    let mut d = Redactd::start(
        &tmp,
        "syslog",
        &[
            "--listen-tcp",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--upstream-ca-file",
            s(&other.ca()),
        ],
    );
    drop(send_tcp(
        d.port("syslog/tcp-0"),
        &octet_frame(b"<13>1 - h app - - - hello"),
    ));
    let port_errors = || d.stderr().matches("upstream connect failed").count();
    assert!(
        poll_until(Duration::from_secs(10), || port_errors() >= 2),
        "{}",
        d.stderr()
    );
    let c = d.stop();
    assert_eq!(c["messages_out"], 0, "{c:?}");
    assert!(c["upstream_errors"] >= 2);
    assert!(std::fs::read_to_string(&out).unwrap_or_default().is_empty());
}

fn poll_lines(path: &Path, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    poll_until(WAIT, || {
        lines = file_lines(path);
        lines.len() >= n
    });
    lines
}

#[test]
fn tcp_proxy_terminates_and_originates_tls() {
    let tmp = TempDir::new("tcp-tls");
    let Some(pki) = Pki::new(&tmp, "tcp") else {
        return;
    };
    let Some(socat) = peer("socat") else { return };
    let (scert, skey) = pki.leaf("sink");
    let (cert, key) = pki.leaf("proxy");
    let out = tmp.join("sink.out");
    let port = free_tcp_port();
    let mut cmd = Command::new(socat);
    cmd.arg("-u")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            s(&scert),
            s(&skey)
        ))
        .arg(format!("OPEN:{},creat,append", s(&out)));
    let mut sink = Daemon::spawn("socat-tls-sink", cmd, tmp.path());
    sink.wait_ready("socat listening", || tcp_connectable(port));

    let up = format!("tls://127.0.0.1:{port}");
    let mut d = Redactd::start(
        &tmp,
        "tcp",
        &[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--upstream-ca-file",
            s(&pki.ca()),
            "--tls-cert-file",
            s(&cert),
            "--tls-key-file",
            s(&key),
        ],
    );
    let mut rng = Rng::from_seed(b"tcp-tls");
    let token =
        redactd::rules::template::expand_one(&rng.string("alnum", 8).unwrap(), "ghp_{{crc62:36}}")
            .unwrap();
    let input = format!("line one\nexport GITHUB_TOKEN={token}\nline three\n");
    assert!(s_client(d.port("tcp-0"), &pki.ca(), None, input.as_bytes()));
    let want = "line one\nexport GITHUB_TOKEN=[REDACTED:github.pat]\nline three\n";
    let mut got = String::new();
    poll_until(WAIT, || {
        got = std::fs::read_to_string(&out).unwrap_or_default();
        got.len() >= want.len()
    });
    assert_eq!(got, want);
    let c = d.stop();
    assert!(c["findings"] >= 1, "{c:?}");
    assert!(!d.stderr().contains(&token));
}

#[test]
fn an_upstream_requiring_client_certificates_gets_ours() {
    let tmp = TempDir::new("syslog-tls-client-cert");
    let Some(pki) = Pki::new(&tmp, "mutual") else {
        return;
    };
    let Some((_rs, rs_port, out)) = rsyslog_tls_auth(&tmp, &pki, "x509/certvalid") else {
        return;
    };
    let (cert, key) = pki.leaf("relay");
    let up = format!("tls://127.0.0.1:{rs_port}");
    // Without a client certificate rsyslog refuses the session.
    let mut bare = Redactd::start(
        &tmp,
        "syslog",
        &[
            "--listen-tcp",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--upstream-ca-file",
            s(&pki.ca()),
        ],
    );
    drop(send_tcp(
        bare.port("syslog/tcp-0"),
        &octet_frame(b"<13>1 - h app - - - no cert"),
    ));
    // With one it delivers.
    let with = TempDir::new("syslog-tls-client-cert-2");
    let mut good = Redactd::start(
        &with,
        "syslog",
        &[
            "--listen-tcp",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--upstream-ca-file",
            s(&pki.ca()),
            "--upstream-cert-file",
            s(&cert),
            "--upstream-key-file",
            s(&key),
        ],
    );
    drop(send_tcp(
        good.port("syslog/tcp-0"),
        &octet_frame(b"<13>1 - h app - - - with cert"),
    ));
    assert_eq!(poll_lines(&out, 1), ["with cert"]);
    let g = good.stop();
    assert_eq!(g["messages_out"], 1);
    let b = bare.stop();
    assert!(
        !std::fs::read_to_string(&out).unwrap().contains("no cert"),
        "rsyslog took a session without a client certificate: {b:?}"
    );
}

//! The syslog relay between real peers on 127.0.0.1: `logger`, rsyslog and
//! syslog-ng (and `loggen`) send through redactd to rsyslog and syslog-ng
//! receivers. Headers and structured data must arrive as sent, MSG
//! redacted, every frame delivered, and rsyslog must report no framing
//! error (its negative control, a stale count, is in peers_selftest.rs).
//! Each test prints `SKIP` and passes when a peer is missing, unless
//! REDACTD_REQUIRE_PEERS=1.

use std::time::Duration;

use crate::common::binary::Redactd;
use crate::common::peers::*;
use redactd::rules::template::Rng;

const T: Duration = WAIT;

/// Fake secrets made at run time, and the labels they become.
struct Secrets {
    aws: String,
    github: String,
    password: String,
}

impl Secrets {
    fn new(seed: &str) -> Secrets {
        let mut rng = Rng::from_seed(seed.as_bytes());
        Secrets {
            aws: format!("AKIA{}", rng.string("upper", 16).unwrap()),
            github: redactd::rules::template::expand_one(
                &rng.string("alnum", 8).unwrap(),
                "ghp_{{crc62:36}}",
            )
            .unwrap(),
            password: format!("pw-{}", rng.string("alnum", 14).unwrap()),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.aws, &self.github, &self.password]
    }

    /// A message carrying all three, and what redactd must make of it.
    fn message(&self, tag: &str) -> (String, String) {
        (
            format!(
                "{tag} key={} token {} password={} end",
                self.aws, self.github, self.password
            ),
            format!(
                "{tag} key=[REDACTED:aws.access-key-id] token [REDACTED:github.pat] password=[REDACTED:generic.password] end"
            ),
        )
    }

    fn assert_absent(&self, what: &str, text: &str) {
        for s in self.all() {
            assert!(!text.contains(s), "a secret reached {what}");
        }
    }
}

fn relay(tmp: &TempDir, upstream: std::net::SocketAddr, extra: &[&str]) -> Redactd {
    let up = format!("tcp://{upstream}");
    let mut args = vec![
        "--listen-tcp",
        "127.0.0.1:0",
        "--listen-udp",
        "127.0.0.1:0",
        "--upstream",
        &up,
    ];
    args.extend_from_slice(extra);
    Redactd::start(tmp, "syslog", &args)
}

#[test]
fn logger_through_redactd_into_rsyslog_in_every_framing() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("peers-logger-rsyslog");
    let Some(rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let mut d = relay(&tmp, rs.addr(), &[]);
    let (tcp, udp) = (d.port("syslog/tcp-0"), d.port("syslog/udp-0"));
    let s = Secrets::new("logger-rsyslog");
    let host = hostname();

    // (logger args, port, proto, tag, rfc5424)
    let cases: [(&[&str], u16, Proto, &str, bool); 6] = [
        (&[], tcp, Proto::Tcp, "tcp-lf-5424", true),
        (&["--octet-count"], tcp, Proto::Tcp, "tcp-octet-5424", true),
        (&["--rfc3164"], tcp, Proto::Tcp, "tcp-lf-3164", false),
        (
            &["--rfc3164", "--octet-count"],
            tcp,
            Proto::Tcp,
            "tcp-octet-3164",
            false,
        ),
        (&[], udp, Proto::Udp, "udp-5424", true),
        (&["--rfc3164"], udp, Proto::Udp, "udp-3164", false),
    ];
    let sd_param = format!("password=\"{}\"", s.password);
    for (extra, port, proto, tag, _) in cases {
        let (msg, _) = s.message(tag);
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["-t", "relayapp", "--msgid", "RID1"]);
        if !extra.contains(&"--rfc3164") {
            args.extend(["--sd-id", "meta@32473", "--sd-param", "k=\"v\""]);
            args.extend(["--sd-id", "cred@32473", "--sd-param", &sd_param]);
        }
        args.push(&msg);
        logger(&args, port, proto);
    }
    let lines = rs.wait_lines(cases.len(), T);
    assert_eq!(lines.len(), cases.len(), "{lines:#?}");
    for (_, _, _, tag, rfc5424) in cases {
        let f = dbg_fields(line_with(&lines, &format!("{tag} key=")));
        let (_, want) = s.message(tag);
        assert_eq!(field(&f, "HOST"), host, "{tag}");
        assert_eq!(field(&f, "APP"), "relayapp", "{tag}");
        assert_eq!(field(&f, "PRI"), "13", "{tag}");
        if rfc5424 {
            assert_eq!(field(&f, "MSGID"), "RID1", "{tag}");
            let sd = field(&f, "SD");
            assert!(sd.starts_with("[timeQuality "), "{tag}: {sd}");
            assert!(
                sd.ends_with(
                    "[meta@32473 k=\"v\"][cred@32473 password=\"[REDACTED:generic.password\\]\"]"
                ),
                "{tag}: {sd}"
            );
            assert_eq!(field(&f, "MSG"), want, "{tag}");
        } else {
            // rsyslog's %msg% keeps the SP after "TAG:".
            assert_eq!(field(&f, "MSG"), format!(" {want}"), "{tag}");
        }
    }
    assert_eq!(rs.framing_errors(), 0, "{}", rs.report());
    let c = d.stop();
    assert_eq!(c["messages_in"], 6);
    assert_eq!(c["messages_out"], 6);
    assert_eq!(
        c["findings"],
        6 * 3 + 3,
        "three in each MSG, one in each 5424 SD"
    );
    s.assert_absent("rsyslog's output", &rs.lines().join("\n"));
    s.assert_absent("rsyslog's raw output", &rs.raw_lines().join("\n"));
    s.assert_absent("redactd's log", &d.stderr());
}

#[test]
fn rsyslog_sender_octet_counted_through_redactd_to_rsyslog() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("peers-rsyslog-rsyslog");
    let Some(recv) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let mut d = relay(&tmp, recv.addr(), &[]);
    let Some(send) = Rsyslog::sender(&tmp, 0, d.addr("syslog/tcp-0"), Transport::TcpOctet) else {
        return;
    };
    let s = Secrets::new("rsyslog-rsyslog");
    for i in 0..20 {
        let (msg, _) = s.message(&format!("fwd-{i:02}"));
        logger(
            &[
                "-t",
                "fwdapp",
                "--msgid",
                "M1",
                "--sd-id",
                "s@32473",
                "--sd-param",
                "p=\"q\"",
                &msg,
            ],
            send.port(),
            Proto::Tcp,
        );
    }
    let lines = recv.wait_lines(20, T);
    for i in 0..20 {
        let tag = format!("fwd-{i:02}");
        let f = dbg_fields(line_with(&lines, &format!("{tag} key=")));
        assert_eq!(field(&f, "APP"), "fwdapp");
        assert_eq!(field(&f, "MSGID"), "M1");
        assert!(field(&f, "SD").ends_with("[s@32473 p=\"q\"]"));
        assert_eq!(field(&f, "MSG"), s.message(&tag).1);
    }
    assert_eq!(recv.framing_errors(), 0, "{}", recv.report());
    let c = d.stop();
    assert_eq!((c["messages_in"], c["messages_out"]), (20, 20));
    s.assert_absent("rsyslog's output", &recv.raw_lines().join("\n"));
}

#[test]
fn syslog_ng_senders_through_redactd_to_syslog_ng_and_rsyslog() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("peers-sng");
    let Some(sng_recv) = SyslogNg::receiver(&tmp, SngSource::Syslog, Proto::Tcp) else {
        return;
    };
    let Some(rs_recv) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let s = Secrets::new("sng");
    let mut relays = Vec::new();
    for (i, target) in [sng_recv.addr(), rs_recv.addr()].into_iter().enumerate() {
        let t = TempDir::new(&format!("peers-sng-{i}"));
        let d = relay(&t, target, &[]);
        // syslog() destination: octet counting, LF inside the count, the
        // length and the body in separate writes.
        let Some(send) = SyslogNg::sender(
            &t,
            SngSource::NetworkProto,
            0,
            d.addr("syslog/tcp-0"),
            SngDest::Syslog,
            Transport::TcpOctet,
        ) else {
            return;
        };
        for j in 0..10 {
            let (msg, _) = s.message(&format!("sng-{i}-{j}"));
            logger(
                &[
                    "-t",
                    "sngapp",
                    "--msgid",
                    "S1",
                    "--sd-id",
                    "n@32473",
                    "--sd-param",
                    "k=\"v\"",
                    &msg,
                ],
                send.port(),
                Proto::Tcp,
            );
        }
        relays.push((t, d, send));
    }
    let sng_lines = sng_recv.wait_lines(10, T);
    let rs_lines = rs_recv.wait_lines(10, T);
    for (i, lines) in [(0, &sng_lines), (1, &rs_lines)] {
        for j in 0..10 {
            let tag = format!("sng-{i}-{j}");
            let f = dbg_fields(line_with(lines, &format!("{tag} key=")));
            assert_eq!(field(&f, "APP"), "sngapp");
            assert_eq!(field(&f, "MSGID"), "S1");
            assert!(field(&f, "SD").contains("[n@32473 k=\"v\"]"), "{f:?}");
            assert_eq!(field(&f, "MSG"), s.message(&tag).1);
        }
    }
    assert_eq!(rs_recv.framing_errors(), 0, "{}", rs_recv.report());
    for (_, d, _) in &mut relays {
        let c = d.stop();
        assert_eq!((c["messages_in"], c["messages_out"]), (10, 10));
        assert_eq!(c["framing_errors"], 0);
    }
    s.assert_absent("syslog-ng's output", &sng_recv.raw_lines().join("\n"));
    s.assert_absent("rsyslog's output", &rs_recv.raw_lines().join("\n"));
}

#[test]
fn loggen_through_redactd_delivers_every_message_in_order() {
    const N: usize = 2000;
    let Some(_) = loggen() else { return };
    let tmp = TempDir::new("peers-loggen");
    let Some(rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let mut d = relay(&tmp, rs.addr(), &[]);
    let n = N.to_string();
    let args = [
        "-S", "-P", "-n", &n, "-I", "10", "-s", "200", "-r", "100000",
    ];
    let out = run_loggen(&args, d.port("syslog/tcp-0"), Duration::from_secs(20)).unwrap();
    assert_eq!(loggen_count(&out), Some(N as u64));
    let lines = rs.wait_lines(N, T);
    assert_eq!(lines.len(), N);
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains(&format!("seq: {i:010},")), "line {i}: {l}");
        assert!(l.starts_with("PRI=38 HOST=localhost APP=prg00000 MSGID=- SD=- MSG=["));
    }
    assert_eq!(rs.framing_errors(), 0, "{}", rs.report());
    let c = d.stop();
    assert_eq!(c["messages_out"], N as u64);
}

#[test]
fn rsyslog_upstream_killed_and_restarted_mid_stream() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("peers-restart");
    let Some(mut rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let mut d = relay(&tmp, rs.addr(), &[]);
    let port = d.port("syslog/tcp-0");
    let s = Secrets::new("restart");
    let send = |range: std::ops::Range<usize>| {
        let mut wire = Vec::new();
        for i in range {
            let (msg, _) = s.message(&format!("r-{i:03}"));
            wire.extend_from_slice(
                octet_frame(format!("<13>1 - h app - - - {msg}").as_bytes()).as_slice(),
            );
        }
        drop(send_tcp(port, &wire));
    };
    send(0..50);
    rs.wait_lines(50, T);
    rs.kill();
    // Sent while nothing listens upstream: redactd queues them.
    send(50..100);
    rs.restart();
    let lines = rs.wait_lines(100, T);
    for i in 0..100 {
        let tag = format!("r-{i:03}");
        let hits = lines
            .iter()
            .filter(|l| l.contains(&format!("{tag} key=")))
            .count();
        assert!(hits >= 1, "message {tag} lost");
    }
    s.assert_absent("rsyslog's output", &rs.raw_lines().join("\n"));
    let c = d.stop();
    assert_eq!(c["messages_out"], 100);
    assert!(c["upstream_connects"] >= 2, "{c:?}");
}

/// An rsyslog TCP receiver behind a relay started with `extra` (`None`:
/// rsyslog is missing and the test skips).
fn rsyslog_behind_relay(tag: &str, extra: &[&str]) -> Option<(TempDir, Rsyslog, Redactd)> {
    let tmp = TempDir::new(tag);
    let rs = Rsyslog::receiver(&tmp, Proto::Tcp)?;
    let d = relay(&tmp, rs.addr(), extra);
    Some((tmp, rs, d))
}

/// `<13>1 - h APP - - - MSG` (RFC 5424, no SD).
fn msg5424(app: &str, msg: &str) -> Vec<u8> {
    format!("<13>1 - h {app} - - - {msg}").into_bytes()
}

#[test]
fn empty_messages_never_reach_rsyslog_as_empty_frames() {
    // Issue 13 item 1: a blank TCP line or an empty datagram went out as
    // `0 `, which rsyslog's imtcp reads as `invalid octet count 0`.
    let Some((_tmp, rs, mut d)) =
        rsyslog_behind_relay("peers-empty", &["--upstream-framing", "octet"])
    else {
        return;
    };
    let (tcp, udp) = (d.port("syslog/tcp-0"), d.port("syslog/udp-0"));
    send_udp(udp, &msg5424("app", "udp-before"));
    send_udp(udp, b"");
    send_udp(udp, b"\n");
    send_udp(udp, &msg5424("app", "udp-after"));
    let mut wire = msg5424("app", "first");
    wire.extend_from_slice(b"\n\n");
    wire.extend_from_slice(&msg5424("app", "second"));
    wire.extend_from_slice(b"\n");
    wire.extend_from_slice(b"1 \n");
    wire.extend_from_slice(&octet_frame(&msg5424("app", "last")));
    drop(send_tcp(tcp, &wire));
    let lines = rs.wait_lines(5, T);
    let mut msgs: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    msgs.sort();
    let want = ["first", "last", "second", "udp-after", "udp-before"]
        .map(|m| format!("PRI=13 HOST=h APP=app MSGID=- SD=- MSG=[{m}]"));
    assert_eq!(msgs, want, "{}", rs.report());
    assert_eq!(rs.framing_errors(), 0, "{}", rs.report());
    assert!(
        !rs.internal_text().contains("octet count"),
        "{}",
        rs.report()
    );
    let c = d.stop();
    assert_eq!((c["messages_in"], c["messages_out"]), (9, 5));
}

#[test]
fn an_embedded_lf_stays_inside_its_message_with_lf_framing_upstream() {
    // Issue 12 item 14: forwarded raw, the LF inside a counted frame or a
    // datagram made rsyslog record a forged second message.
    let Some((_tmp, rs, mut d)) =
        rsyslog_behind_relay("peers-lf-inject", &["--upstream-framing", "lf"])
    else {
        return;
    };
    let (tcp, udp) = (d.port("syslog/tcp-0"), d.port("syslog/udp-0"));
    let forged = |m: &str| {
        let mut b = msg5424("app", m);
        b.push(b'\n');
        b.extend_from_slice(&msg5424("forged", "forged message"));
        b
    };
    send_udp(udp, &forged("udp part"));
    rs.wait_for("udp part", T);
    let mut wire = octet_frame(&forged("tcp part"));
    // A counted trailing LF is the delimiter, not an escaped byte.
    let mut last = msg5424("app", "last");
    last.push(b'\n');
    wire.extend_from_slice(&octet_frame(&last));
    drop(send_tcp(tcp, &wire));
    // rsyslog handles one connection's records in order: once `last` is
    // in, a forged record would be too.
    let lines = rs.wait_for("MSG=[last]", T);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for part in ["udp part", "tcp part"] {
        let f = dbg_fields(line_with(&lines, part));
        assert_eq!(field(&f, "APP"), "app");
        assert_eq!(
            field(&f, "MSG"),
            format!("{part}#012<13>1 - h forged - - - forged message")
        );
    }
    assert_eq!(field(&dbg_fields(line_with(&lines, "last")), "MSG"), "last");
    assert!(!lines.iter().any(|l| l.contains("APP=forged")));
    assert_eq!(rs.framing_errors(), 0, "{}", rs.report());
    let c = d.stop();
    assert_eq!((c["messages_in"], c["messages_out"]), (3, 3));
}

#[test]
fn a_five_mib_message_among_2000_from_rsyslog_is_cut_and_the_rest_delivered() {
    // Issue 13 item 2: with rsyslog's maxMessageSize="8m", one 5 MiB message
    // made redactd close the connection; rsyslog resent the same frame
    // forever and nothing behind it arrived.
    const N: usize = 2000;
    const BIG: usize = 1000;
    let Some(_) = peer("rsyslogd") else { return };
    let tmp = TempDir::new("peers-oversize");
    let big_opts = RsyslogRecvOpts {
        max_message_size: 8 << 20,
        ..RsyslogRecvOpts::default()
    };
    let Some(recv) = Rsyslog::receiver_with(&tmp, Proto::Tcp, big_opts) else {
        return;
    };
    // redactd's default maximum: 4 MiB.
    let mut d = relay(&tmp, recv.addr(), &[]);
    let send_opts = RsyslogSendOpts {
        max_message_size: 8 << 20,
        ..RsyslogSendOpts::default()
    };
    let target = d.addr("syslog/tcp-0");
    let Some(send) = Rsyslog::sender_with(&tmp, 0, target, Transport::TcpOctet, send_opts) else {
        return;
    };
    let mut rng = Rng::from_seed(b"peers-oversize");
    // Tokens around 4 MiB, where the cut falls: whichever straddles it
    // must not pass in part.
    let mut big = format!("seq-{BIG:04} ").into_bytes();
    let mut tokens = Vec::new();
    while big.len() < 5 << 20 {
        if big.len() > (4 << 20) - 8192 && big.len() < (4 << 20) + 8192 {
            let t = redactd::rules::template::expand_one(
                &rng.string("alnum", 8).unwrap(),
                "ghp_{{crc62:36}}",
            )
            .unwrap();
            big.extend_from_slice(t.as_bytes());
            big.push(b' ');
            tokens.push(t);
        } else {
            big.extend_from_slice(b"lorem ipsum dolor sit amet ");
        }
    }
    let mut wire = Vec::new();
    for i in 0..N {
        let body = if i == BIG {
            let mut b = b"<13>1 - h app - - - ".to_vec();
            b.extend_from_slice(&big);
            b
        } else {
            msg5424("app", &format!("seq-{i:04} small"))
        };
        // LF framing into rsyslog, as `logger -T` sends (its imtcp reads a
        // count over 7 digits as a framing error).
        wire.extend_from_slice(&body);
        wire.push(b'\n');
    }
    drop(send_tcp(send.port(), &wire));
    let lines = recv.wait_lines(N, Duration::from_secs(60));
    assert_eq!(lines.len(), N);
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains(&format!("seq-{i:04} ")), "line {i} out of order");
    }
    let cut = dbg_fields(&lines[BIG]);
    let msg = field(&cut, "MSG");
    assert!(
        msg.len() < 4 << 20 && msg.len() > (4 << 20) - 8192,
        "{}",
        msg.len()
    );
    assert!(!msg.contains("ghp_"), "part of a token passed the cut");
    // Every token was redacted whole or cut away whole: no `ghp_` at all.
    assert!(tokens.len() > 300);
    let raw = std::fs::read(recv.raw_path()).unwrap();
    assert!(!raw.windows(4).any(|w| w == b"ghp_"));
    // rsyslog's imtcp reads a counted frame over its maxFrameSize (200,000
    // by default) up to the next LF instead, and says so: the cut message
    // keeps the LF rsyslog counted in it, so that still finds its end.
    let err = recv.stderr_text();
    assert!(recv.framing_errors() <= 1, "{}", recv.report());
    assert_eq!(
        recv.framing_errors(),
        err.matches("frame too large").count()
    );
    let c = d.stop();
    assert_eq!(c["truncated"], 1);
    assert_eq!((c["messages_in"], c["messages_out"]), (N as u64, N as u64));
    assert_eq!((c["connections"], c["framing_errors"]), (1, 0));
}

/// Issue 14 item 3: over one connection (rsyslog forwarding to redactd), a
/// password redacted once is redacted again in the messages after it:
/// bare, JSON-escaped and percent-encoded, where no rule would find it.
/// Over another connection (logger straight to redactd) the bare value is
/// not: it was learned on the first only; and a datagram is a stream of
/// its own, so one datagram's password is not learned for the next.
#[test]
fn a_secret_learned_on_a_connection_is_redacted_again_on_it_and_only_on_it() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("peers-learned");
    let Some(recv) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let mut d = relay(&tmp, recv.addr(), &[]);
    let Some(send) = Rsyslog::sender(&tmp, 0, d.addr("syslog/tcp-0"), Transport::TcpOctet) else {
        return;
    };
    let mut rng = Rng::from_seed(b"peers-learned");
    let mut part = |n| rng.string("alnum", n).unwrap();
    let pw = format!("pw{}/{}", part(10), part(8));
    let (json, pct) = (pw.replace('/', "\\/"), pw.replace('/', "%2F"));
    let sent = [
        format!("learn-1 login password={pw} ok"),
        format!("learn-2 retry with {pw} now"),
        format!("learn-3 {{\"p\":\"{json}\"}}"),
        format!("learn-4 GET /cb?p={pct} HTTP/1.1"),
    ];
    for m in &sent {
        logger(&["-t", "app", m], send.port(), Proto::Tcp);
    }
    recv.wait_lines(sent.len(), T);
    let other = |tag: &str| format!("{tag} retry with {pw} now");
    let (tcp, udp) = (d.port("syslog/tcp-0"), d.port("syslog/udp-0"));
    logger(&["-t", "app", &other("other-tcp")], tcp, Proto::Tcp);
    let udp_learn = format!("udp-learn password={pw} ok");
    logger(&["-t", "app", &udp_learn], udp, Proto::Udp);
    logger(&["-t", "app", &other("other-udp")], udp, Proto::Udp);
    let lines = recv.wait_lines(sent.len() + 3, T);
    let msg = |tag: &str| field(&dbg_fields(line_with(&lines, tag)), "MSG").to_string();
    let label = "[REDACTED:generic.password]";
    assert_eq!(msg("learn-1"), format!("learn-1 login password={label} ok"));
    assert_eq!(msg("learn-2"), format!("learn-2 retry with {label} now"));
    assert_eq!(msg("learn-3"), format!("learn-3 {{\"p\":\"{label}\"}}"));
    assert_eq!(
        msg("learn-4"),
        format!("learn-4 GET /cb?p={label} HTTP/1.1")
    );
    assert_eq!(msg("other-tcp"), other("other-tcp"));
    assert_eq!(msg("udp-learn"), format!("udp-learn password={label} ok"));
    assert_eq!(msg("other-udp"), other("other-udp"));
    let c = d.stop();
    assert_eq!(c["findings"], 5);
    assert!(!d.stderr().contains(&pw));
}

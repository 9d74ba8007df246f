//! Self-test of the real-peer harness (tests/common/peers.rs) with no redactd
//! in the path: real clients (logger, loggen, rsyslog and syslog-ng as
//! senders) straight into real receivers on 127.0.0.1, proving that the
//! harness parses what the peers send, plus the negative control issue 4
//! asks for: a stale octet count makes rsyslog report a Framing Error, a
//! correct one does not. Each test prints `SKIP: <peer> not found` and
//! passes when a peer is missing, unless REDACTD_REQUIRE_PEERS=1.

use std::time::Duration;

use crate::common::peers::*;

const T: Duration = WAIT;

// ------------------------------------------------------- logger → rsyslog ---

#[test]
fn logger_to_rsyslog_tcp_lf_and_octet_counted() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("logger-rsyslog-tcp");
    let Some(rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let host = hostname();

    let m1 = marker("5424-lf");
    logger(
        &[
            "-t",
            "app",
            "--msgid",
            "ID47",
            "--sd-id",
            "meta@32473",
            "--sd-param",
            "k=\"v\"",
            &format!("password=hunter2 {m1}"),
        ],
        rs.port(),
        Proto::Tcp,
    );
    let m2 = marker("5424-oc");
    logger(
        &[
            "--octet-count",
            "-t",
            "app2",
            "-p",
            "local0.warning",
            "--msgid",
            "ID48",
            &format!("token {m2}"),
        ],
        rs.port(),
        Proto::Tcp,
    );
    let m3 = marker("3164-lf");
    logger(
        &["--rfc3164", "-t", "app3", &format!("legacy {m3}")],
        rs.port(),
        Proto::Tcp,
    );
    let m4 = marker("3164-oc");
    logger(
        &[
            "--rfc3164",
            "--octet-count",
            "-t",
            "app4",
            &format!("legacy counted {m4}"),
        ],
        rs.port(),
        Proto::Tcp,
    );

    let lines = rs.wait_lines(4, T);
    assert_eq!(lines.len(), 4, "{lines:#?}");

    let f = dbg_fields(line_with(&lines, &m1));
    assert_eq!(field(&f, "PRI"), "13"); // user.notice
    assert_eq!(field(&f, "HOST"), host);
    assert_eq!(field(&f, "APP"), "app");
    assert_eq!(field(&f, "MSGID"), "ID47");
    assert!(field(&f, "SD").starts_with("[timeQuality "), "{f:?}");
    assert!(field(&f, "SD").ends_with("[meta@32473 k=\"v\"]"), "{f:?}");
    assert_eq!(field(&f, "MSG"), format!("password=hunter2 {m1}"));

    let f = dbg_fields(line_with(&lines, &m2));
    assert_eq!(field(&f, "PRI"), "132"); // local0.warning = 16*8+4
    assert_eq!(field(&f, "APP"), "app2");
    assert_eq!(field(&f, "MSGID"), "ID48");
    assert_eq!(field(&f, "MSG"), format!("token {m2}"));

    // RFC 3164: no MSGID or SD (rsyslog renders them as "-"), and rsyslog's
    // %msg% keeps the SP after "TAG:".
    let f = dbg_fields(line_with(&lines, &m3));
    assert_eq!(field(&f, "APP"), "app3");
    assert_eq!(field(&f, "MSGID"), "-");
    assert_eq!(field(&f, "SD"), "-");
    assert_eq!(field(&f, "MSG"), format!(" legacy {m3}"));
    let f = dbg_fields(line_with(&lines, &m4));
    assert_eq!(field(&f, "APP"), "app4");
    assert_eq!(field(&f, "MSG"), format!(" legacy counted {m4}"));

    // The raw messages are what logger sent (minus framing).
    let raw = rs.wait_raw_lines(4, T);
    let r1 = line_with(&raw, &m1);
    assert!(r1.starts_with("<13>1 "), "{r1}");
    assert!(
        r1.contains(&format!(" {host} app - ID47 [timeQuality ")),
        "{r1}"
    );
    let r3 = line_with(&raw, &m3);
    assert!(r3.starts_with("<13>") && !r3.starts_with("<13>1 "), "{r3}");
    assert_eq!(rs.framing_errors(), 0, "{}", rs.report());
}

#[test]
fn logger_to_rsyslog_udp() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("logger-rsyslog-udp");
    let Some(rs) = Rsyslog::receiver(&tmp, Proto::Udp) else {
        return;
    };
    let m1 = marker("udp-5424");
    logger(
        &[
            "-t",
            "uapp",
            "--msgid",
            "U1",
            "--sd-id",
            "x@32473",
            "--sd-param",
            "a=\"b\"",
            &format!("over udp {m1}"),
        ],
        rs.port(),
        Proto::Udp,
    );
    let m2 = marker("udp-3164");
    logger(
        &["--rfc3164", "-t", "uapp2", &format!("legacy udp {m2}")],
        rs.port(),
        Proto::Udp,
    );
    let lines = rs.wait_lines(2, T);
    let f = dbg_fields(line_with(&lines, &m1));
    assert_eq!(field(&f, "APP"), "uapp");
    assert_eq!(field(&f, "MSGID"), "U1");
    assert!(field(&f, "SD").ends_with("[x@32473 a=\"b\"]"), "{f:?}");
    assert_eq!(field(&f, "MSG"), format!("over udp {m1}"));
    let f = dbg_fields(line_with(&lines, &m2));
    assert_eq!(field(&f, "APP"), "uapp2");
    assert_eq!(
        field(&f, "MSG"),
        format!(" legacy udp {m2}"),
        "rsyslog keeps the SP after TAG:"
    );
}

// ------------------------------------------------------ negative control ---

/// A correct octet count gives no Framing Error; a count 3 short does, and
/// the message is cut. This is the control for "no Framing Error" checks in
/// the relay tests: rsyslog really reports stale counts.
#[test]
fn rsyslog_reports_stale_octet_count_as_framing_error() {
    let tmp = TempDir::new("rsyslog-framing");
    let Some(rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };

    // Frames as omfwd sends them: the LF inside the count. The message ends
    // in digits so that a count 3 short leaves "45\n": digits, then a byte
    // that is not SP. (A remainder starting with a non-digit would be read
    // as an LF-framed message instead: no error, just garbage.)
    let good = format!(
        "<13>1 - h app - - - password=hunter2 good {} id=12345\n",
        marker("good")
    );
    let mut stream = octet_frame(good.as_bytes());
    let end = format!("<13>1 - h app - - - {}\n", marker("end"));
    stream.extend(octet_frame(end.as_bytes()));
    drop(send_tcp(rs.port(), &stream));
    rs.wait_for(end.trim_end().rsplit(' ').next().unwrap(), T);
    assert_eq!(
        rs.framing_errors(),
        0,
        "correct counts gave a framing error\n{}",
        rs.report()
    );

    let bad = "<13>1 - h app - - - password=hunter2 stale id=12345\n";
    let mut stream = format!("{} {bad}", bad.len() - 3).into_bytes();
    let after = format!("<13>1 - h app - - - {}\n", marker("after"));
    stream.extend(octet_frame(after.as_bytes()));
    drop(send_tcp(rs.port(), &stream));
    assert!(
        poll_until(T, || rs.framing_errors() >= 1),
        "no Framing Error for a stale count\n{}",
        rs.report()
    );
    // The first report is the stale count; rsyslog then goes on parsing the
    // rest of the connection out of step, and may report more (e.g. digits
    // of the next frame read as a huge count: "frame too large").
    let err = rs.stderr_text();
    let first = err.lines().find(|l| l.contains("Framing Error")).unwrap();
    assert!(
        first.contains("imtcp imtcp: Framing Error in received TCP message from peer"),
        "{err}"
    );
    assert!(
        first.contains("delimiter is not SP but has ASCII value 10"),
        "{err}"
    );
    // Also in rsyslog's own log (processInternalMessages="on").
    assert!(
        poll_until(T, || rs.internal_text().contains("Framing Error")),
        "{}",
        rs.report()
    );
    // The stale frame was cut 3 bytes short.
    let lines = rs.wait_for("stale id=123]", T);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("MSG=[password=hunter2 stale id=123]")),
        "{lines:#?}"
    );
}

// -------------------------------------------------- rsyslog → rsyslog/raw ---

#[test]
fn rsyslog_sender_octet_counted_to_rsyslog_receiver() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("rsyslog-rsyslog");
    let Some(recv) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let Some(send) = Rsyslog::sender(&tmp, 0, recv.addr(), Transport::TcpOctet) else {
        return;
    };
    let mut ms = Vec::new();
    for i in 0..3 {
        let m = marker(&format!("fwd{i}"));
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
                &format!("forwarded {m}"),
            ],
            send.port(),
            Proto::Tcp,
        );
        ms.push(m);
    }
    let lines = recv.wait_lines(3, T);
    for m in &ms {
        let f = dbg_fields(line_with(&lines, m));
        assert_eq!(field(&f, "APP"), "fwdapp");
        assert_eq!(field(&f, "MSGID"), "M1");
        assert!(field(&f, "SD").ends_with("[s@32473 p=\"q\"]"), "{f:?}");
        assert_eq!(field(&f, "MSG"), format!("forwarded {m}"));
    }
    assert_eq!(recv.framing_errors(), 0, "{}", recv.report());
}

/// The LF omfwd puts inside the octet count is part of the message: rsyslog
/// drops it on reception by default; `keep_trailing_lf` makes it visible
/// as `#012` (control characters are escaped on reception).
#[test]
fn rsyslog_receiver_can_show_the_counted_lf() {
    let tmp = TempDir::new("rsyslog-keep-lf");
    let opts = RsyslogRecvOpts {
        keep_trailing_lf: true,
        ..Default::default()
    };
    let Some(recv) = Rsyslog::receiver_with(&tmp, Proto::Tcp, opts) else {
        return;
    };
    let m1 = marker("counted-lf");
    let m2 = marker("lf-framed");
    let mut stream = octet_frame(format!("<13>1 - h app - - - {m1}\n").as_bytes());
    stream.extend(format!("<13>1 - h app - - - {m2}\n").as_bytes());
    drop(send_tcp(recv.port(), &stream));
    let lines = recv.wait_lines(2, T);
    assert!(
        line_with(&lines, &m1).ends_with(&format!("MSG=[{m1}#012]")),
        "{lines:#?}"
    );
    assert!(
        line_with(&lines, &m2).ends_with(&format!("MSG=[{m2}]")),
        "{lines:#?}"
    );
}

/// What omfwd puts on the wire: `RSYSLOG_SyslogProtocol23Format` ends in LF;
/// with octet counting that LF is inside the count; with LF framing it is
/// the delimiter (not doubled); over UDP it stays in the datagram.
#[test]
fn rsyslog_sender_wire_bytes() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("rsyslog-wire");

    let rec = TcpRecorder::start();
    let Some(send) = Rsyslog::sender(&tmp, 0, rec.addr(), Transport::TcpOctet) else {
        return;
    };
    let m = marker("oc");
    logger(&["-t", "w", &format!("wire {m}")], send.port(), Proto::Tcp);
    let bytes = rec.wait_until(T, |b| contains_bytes(b, m.as_bytes()) && b.ends_with(b"\n"));
    let frames = octet_frames(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&bytes)));
    assert_eq!(frames.len(), 1, "{:?}", String::from_utf8_lossy(&bytes));
    assert!(
        frames[0].starts_with(b"<13>1 ") && frames[0].ends_with(format!("wire {m}\n").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(frames[0])
    );

    let rec = TcpRecorder::start();
    let Some(send) = Rsyslog::sender(&tmp, 0, rec.addr(), Transport::TcpLf) else {
        return;
    };
    let m = marker("lf");
    logger(&["-t", "w", &format!("wire {m}")], send.port(), Proto::Tcp);
    let bytes = rec.wait_until(T, |b| contains_bytes(b, m.as_bytes()) && b.ends_with(b"\n"));
    assert!(
        bytes.starts_with(b"<13>1 ") && bytes.ends_with(format!("wire {m}\n").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );

    let rec = UdpRecorder::start();
    let Some(send) = Rsyslog::sender(&tmp, 0, rec.addr(), Transport::Udp) else {
        return;
    };
    let m = marker("udp");
    logger(&["-t", "w", &format!("wire {m}")], send.port(), Proto::Tcp);
    let grams = rec.wait_datagrams(1, T);
    assert_eq!(grams.len(), 1);
    assert!(
        grams[0].starts_with(b"<13>1 ") && grams[0].ends_with(format!("wire {m}\n").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&grams[0])
    );
}

// ----------------------------------------------------------- syslog-ng ---

/// syslog-ng `syslog()` destination → syslog-ng `syslog()` source and
/// → rsyslog imtcp; and its wire shape at a raw recorder.
#[test]
fn syslog_ng_sender_syslog_destination() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("sng-send");
    let Some(sng_recv) = SyslogNg::receiver(&tmp, SngSource::Syslog, Proto::Tcp) else {
        return;
    };
    let Some(rs_recv) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let rec = TcpRecorder::start();
    let mut senders = Vec::new();
    for target in [sng_recv.addr(), rs_recv.addr(), rec.addr()] {
        let Some(s) = SyslogNg::sender(
            &tmp,
            SngSource::NetworkProto,
            0,
            target,
            SngDest::Syslog,
            Transport::TcpOctet,
        ) else {
            return;
        };
        senders.push(s);
    }
    let host = hostname();
    let m = marker("sng");
    for s in &senders {
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
                &format!("via syslog-ng {m}"),
            ],
            s.port(),
            Proto::Tcp,
        );
    }

    let lines = sng_recv.wait_lines(1, T);
    let f = dbg_fields(line_with(&lines, &m));
    assert_eq!(field(&f, "PRI"), "13");
    assert_eq!(field(&f, "HOST"), host);
    assert_eq!(field(&f, "APP"), "sngapp");
    assert_eq!(field(&f, "MSGID"), "S1");
    assert!(field(&f, "SD").contains("[n@32473 k=\"v\"]"), "{f:?}");
    assert_eq!(field(&f, "MSG"), format!("via syslog-ng {m}"));

    let lines = rs_recv.wait_lines(1, T);
    let f = dbg_fields(line_with(&lines, &m));
    assert_eq!(field(&f, "APP"), "sngapp");
    assert_eq!(field(&f, "MSGID"), "S1");
    assert!(field(&f, "SD").contains("[n@32473 k=\"v\"]"), "{f:?}");
    assert_eq!(field(&f, "MSG"), format!("via syslog-ng {m}"));
    assert_eq!(rs_recv.framing_errors(), 0, "{}", rs_recv.report());

    // On the wire: one octet-counted frame, re-rendered 5424 header, LF
    // inside the count.
    let bytes = rec.wait_until(T, |b| contains_bytes(b, m.as_bytes()) && b.ends_with(b"\n"));
    let frames = octet_frames(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&bytes)));
    assert_eq!(frames.len(), 1);
    let body = String::from_utf8_lossy(frames[0]);
    assert!(body.starts_with("<13>1 "), "{body:?}");
    assert!(body.contains(&format!(" {host} sngapp - S1 [")), "{body:?}");
    assert!(body.ends_with(&format!("via syslog-ng {m}\n")), "{body:?}");
}

/// syslog-ng `network()` source: RFC 3164 parses; RFC 5424 sent to it is
/// mis-parsed (the reason the relay tests use `syslog()` for 5424).
#[test]
fn syslog_ng_network_source_3164() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("sng-net");
    let Some(recv) = SyslogNg::receiver(&tmp, SngSource::Network, Proto::Tcp) else {
        return;
    };
    let m1 = marker("3164");
    logger(
        &["--rfc3164", "-t", "netapp", &format!("legacy {m1}")],
        recv.port(),
        Proto::Tcp,
    );
    let m2 = marker("5424");
    logger(
        &["-t", "netapp", &format!("modern {m2}")],
        recv.port(),
        Proto::Tcp,
    );
    let lines = recv.wait_lines(2, T);
    let f = dbg_fields(line_with(&lines, &m1));
    assert_eq!(field(&f, "APP"), "netapp");
    assert_eq!(field(&f, "MSG"), format!("legacy {m1}"));
    let f = dbg_fields(line_with(&lines, &m2));
    assert_eq!(field(&f, "APP"), "1", "5424 into network(): {f:?}");
    assert!(field(&f, "MSG").ends_with(&format!("modern {m2}")), "{f:?}");
}

// -------------------------------------------------------------- loggen ---

#[test]
fn loggen_to_rsyslog_and_syslog_ng() {
    const N: usize = 300;
    let Some(_) = loggen() else { return };
    let tmp = TempDir::new("loggen");
    let Some(rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let Some(sng) = SyslogNg::receiver(&tmp, SngSource::Syslog, Proto::Tcp) else {
        return;
    };
    for port in [rs.port(), sng.port()] {
        let args = [
            "-S", "-P", "-n", "300", "-I", "5", "-s", "200", "-r", "100000",
        ];
        let out = run_loggen(&args, port, Duration::from_secs(15)).unwrap();
        assert_eq!(
            loggen_count(&out),
            Some(N as u64),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lines = rs.wait_lines(N, T);
    assert_eq!(lines.len(), N);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("PRI=38 HOST=localhost APP=prg00000 MSGID=- SD=- MSG=[")),
        "{}",
        lines[0]
    );
    assert_eq!(rs.framing_errors(), 0, "{}", rs.report());
    let lines = sng.wait_lines(N, T);
    assert_eq!(lines.len(), N);
    assert!(
        lines.iter().all(|l| l.contains("APP=prg00000 ")),
        "{}",
        lines[0]
    );
    // loggen numbers its messages: all present, in order.
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains(&format!("seq: {i:010},")), "line {i}: {l}");
    }
}

// ------------------------------------------------------------- harness ---

#[test]
fn harness_helpers() {
    let f = dbg_fields(
        r#"PRI=13 HOST=vm APP=a MSGID=ID47 SD=[x@1 a="b c" d="e"][y z="1"] MSG=[hello ] world]"#,
    );
    assert_eq!(f["PRI"], "13");
    assert_eq!(f["SD"], r#"[x@1 a="b c" d="e"][y z="1"]"#);
    assert_eq!(f["MSG"], "hello ] world");
    assert_eq!(
        octet_frames(b"3 abc2 de").unwrap(),
        vec![&b"abc"[..], b"de"]
    );
    assert!(octet_frames(b"03 abc").is_err());
    assert!(octet_frames(b"5 abc").is_err());
    let t = TempDir::new("x y");
    let p = t.path().to_owned();
    assert!(p.is_dir());
    drop(t);
    if std::env::var("REDACTD_KEEP_TMP").is_err() {
        assert!(!p.exists());
    }
}

/// A config of one's own, with the SCL included the way that works for an
/// extracted tree too.
#[test]
fn syslog_ng_custom_config_with_scl() {
    let Some(_) = peer("logger") else { return };
    let tmp = TempDir::new("sng-custom");
    let port = free_tcp_port();
    let conf = format!(
        "@version: 3.38\n@module appmodel\n@include \"scl/*/*.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\")); }};\n\
         destination d {{ file(\"{{dir}}/out.log\" template(\"${{PROGRAM}}: ${{MSG}}\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n"
    );
    let Some(sng) = SyslogNg::custom(&tmp, &conf, Some(port)) else {
        return;
    };
    let m = marker("custom");
    logger(&["--rfc3164", "-t", "cust", &m], sng.port(), Proto::Tcp);
    let out = sng.dir().join("out.log");
    assert!(
        poll_until(T, || file_lines(&out)
            .iter()
            .any(|l| l == &format!("cust: {m}"))),
        "{}",
        sng.report()
    );
}

/// Upstream restarts keep the port and append to the same output files.
#[test]
fn receivers_restart_on_the_same_port() {
    let tmp = TempDir::new("restart");
    let Some(mut rs) = Rsyslog::receiver(&tmp, Proto::Tcp) else {
        return;
    };
    let Some(mut sng) = SyslogNg::receiver(&tmp, SngSource::Syslog, Proto::Tcp) else {
        return;
    };
    let (m1, m2) = (marker("before"), marker("after"));
    for m in [&m1, &m2] {
        for port in [rs.port(), sng.port()] {
            let frame = octet_frame(format!("<13>1 - h app - - - {m}\n").as_bytes());
            drop(send_tcp(port, &frame));
        }
        rs.wait_for(m, T);
        sng.wait_for(m, T);
        if m == &m1 {
            let (p1, p2) = (rs.port(), sng.port());
            rs.restart();
            let st = sng.daemon().stop().expect("syslog-ng exit status");
            assert!(st.success(), "syslog-ng on SIGTERM: {st}\n{}", sng.report());
            sng.restart();
            assert_eq!((rs.port(), sng.port()), (p1, p2));
        }
    }
    assert_eq!(rs.lines().len(), 2, "{:#?}", rs.lines());
    assert_eq!(sng.lines().len(), 2, "{:#?}", sng.lines());
}

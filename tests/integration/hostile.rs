//! Hostile clients on loopback (issue 12 items 8, 10, 13): a listener full
//! of slow clients still serves a normal one, stalled messages time out,
//! memory for partial messages stays within the budget however many
//! connections hold one, and SIGTERM delivers what clients already sent.
//!
//! Counts are scaled down from the field figures (1,100 slowloris
//! connections against 1,024 slots) to keep the suite quick;
//! `benches/adversarial.sh` runs them at full size. No assertion is on
//! time: waits are bounded, assertions are on what arrived and what was
//! counted.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use crate::common::binary::Redactd;
use crate::common::peers::{octet_frame, TcpRecorder, TempDir, WAIT};
use redactd::rules::template::Rng;

fn fake_aws_key_id(rng: &mut Rng) -> String {
    format!("AKIA{}", rng.string("upper", 16).unwrap())
}

/// `n` connections that each begin a message (`first`) and then stall.
fn stall(port: u16, n: usize, first: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(first).unwrap();
            c
        })
        .collect()
}

/// Whether the server closed `c` (EOF or reset) within the wait.
fn closed_by_server(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut b = [0u8; 64];
    matches!(c.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn a_syslog_listener_full_of_slow_clients_still_serves_a_normal_one() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-syslog");
    let up = format!("tcp://127.0.0.1:{}", rec.port());
    let args = [
        "--listen-tcp",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--max-connections",
        "40",
    ];
    let mut d = Redactd::start(&tmp, "syslog", &args);
    let port = d.port("syslog/tcp-0");
    // Every slot taken by a client that began a frame and never ends it.
    let mut slow = stall(port, 40, b"200 <13>1 - h app - - - slo");
    // Long enough for their messages to count as stalled.
    thread::sleep(Duration::from_millis(1200));
    let mut rng = Rng::from_seed(b"hostile-syslog");
    let key = fake_aws_key_id(&mut rng);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(&octet_frame(
        format!("<13>1 - h app - - - normal key={key}").as_bytes(),
    ))
    .unwrap();
    let want = b"normal key=[REDACTED:aws.access-key-id]";
    let got = rec.wait_until(WAIT, |b| b.windows(want.len()).any(|w| w == want));
    assert!(got.windows(want.len()).any(|w| w == want), "{got:?}");
    // The slot came from a slow client, whose partial message is dropped.
    assert!(slow.iter_mut().any(closed_by_server));
    drop((c, slow));
    let s = d.stop();
    assert!(s["evicted"] >= 1, "{s:?}");
    assert!(s["dropped_incomplete"] >= 1, "{s:?}");
    assert!(!String::from_utf8_lossy(&rec.bytes()).contains("slo"));
}

#[test]
fn a_tcp_listener_full_of_slow_clients_still_serves_a_normal_one() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-tcp");
    let up = format!("127.0.0.1:{}", rec.port());
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--max-connections",
        "30",
    ];
    let mut d = Redactd::start(&tmp, "tcp", &args);
    let addr = d.addr("tcp-0");
    let slow = stall(addr.port(), 30, b"a line that never ends");
    thread::sleep(Duration::from_millis(1200));
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"normal line\n").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = rec.wait_until(WAIT, |b| b.windows(12).any(|w| w == b"normal line\n"));
    assert!(got.windows(12).any(|w| w == b"normal line\n"));
    drop((c, slow));
    let s = d.stop();
    assert!(s["evicted"] >= 1, "{s:?}");
}

#[test]
fn an_http_listener_full_of_slow_clients_still_serves_a_normal_one() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-http");
    let up = format!("http://127.0.0.1:{}", rec.port());
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--max-connections",
        "30",
    ];
    let mut d = Redactd::start(&tmp, "http", &args);
    let addr = d.addr("http-0");
    // Headers begun and never finished, as slowloris sends them.
    let slow = stall(addr.port(), 30, b"POST /_bulk HTTP/1.1\r\nHost: x\r\nX-a: ");
    thread::sleep(Duration::from_millis(1200));
    let mut c = TcpStream::connect(addr).unwrap();
    let body = "{\"index\":{}}\n{\"msg\":\"normal request\"}\n";
    let req = format!(
        "POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).unwrap();
    let want = b"normal request";
    let got = rec.wait_until(WAIT, |b| b.windows(want.len()).any(|w| w == want));
    assert!(got.windows(want.len()).any(|w| w == want));
    drop((c, slow));
    let s = d.stop();
    assert!(s["evicted"] >= 1, "{s:?}");
}

#[test]
fn a_message_that_stalls_times_out_and_nothing_of_it_is_sent() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-timeout");
    let up = format!("tcp://127.0.0.1:{}", rec.port());
    let args = [
        "--listen-tcp",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--message-timeout-ms",
        "300",
    ];
    let mut d = Redactd::start(&tmp, "syslog", &args);
    let port = d.port("syslog/tcp-0");
    let mut rng = Rng::from_seed(b"hostile-timeout");
    let key = fake_aws_key_id(&mut rng);
    // Half a secret, and the rest never comes.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let whole = octet_frame(b"<13>1 - h app - - - first\n");
    c.write_all(&whole).unwrap();
    c.write_all(format!("100 <13>1 - h app - - - key={}", &key[..10]).as_bytes())
        .unwrap();
    assert!(
        closed_by_server(&mut c),
        "the stalled connection stayed open"
    );
    let s = d.stop();
    assert_eq!(s["timed_out"], 1, "{s:?}");
    assert_eq!(s["dropped_incomplete"], 1, "{s:?}");
    assert_eq!(s["messages_out"], 1, "{s:?}");
    let got = String::from_utf8_lossy(&rec.bytes()).into_owned();
    assert!(got.contains("first") && !got.contains(&key[..10]), "{got}");
}

#[test]
fn partial_frames_on_many_connections_stay_within_the_buffer_budget() {
    // 40 connections each sending 6 MiB of an 8 MiB frame held 240 MB of
    // partial frames; with a 16 MiB budget they hold 16 MiB plus 64 KiB
    // each, and the rest waits in the clients' sockets.
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-budget");
    let up = format!("tcp://127.0.0.1:{}", rec.port());
    let args = [
        "--listen-tcp",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--max-message-size",
        "8388608",
        "--queue-bytes",
        "16777216",
        "--buffer-bytes",
        "16777216",
    ];
    let mut d = Redactd::start(&tmp, "syslog", &args);
    let port = d.port("syslog/tcp-0");
    let writers: Vec<_> = (0..40)
        .map(|_| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
                let mut data = b"8000000 <13>1 - h app - - - ".to_vec();
                data.resize(6 << 20, b'x');
                // Blocks once redactd stops reading: the time-out ends it.
                let _ = c.write_all(&data);
                c
            })
        })
        .collect();
    let conns: Vec<TcpStream> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let (_, peak_kib) = d.rss_kib();
    drop(conns);
    d.stop();
    // 16 MiB + 40 × 64 KiB (+ read slack) over a debug build's own ~30 MiB.
    assert!(peak_kib < 110 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn sigterm_delivers_what_clients_had_already_sent() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-sigterm");
    let up = format!("tcp://127.0.0.1:{}", rec.port());
    let mut d = Redactd::start(
        &tmp,
        "syslog",
        &["--listen-tcp", "127.0.0.1:0", "--upstream", &up],
    );
    let port = d.port("syslog/tcp-0");
    let n = 40_000;
    let mut wire = Vec::new();
    for i in 0..n {
        wire.extend(octet_frame(
            format!("<13>1 - h app - - - message {i:06}").as_bytes(),
        ));
    }
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(&wire).unwrap();
    // SIGTERM at once: part of the stream still sits in the socket.
    let s = d.stop();
    drop(c);
    let got = rec.bytes();
    let delivered = String::from_utf8_lossy(&got).matches("message ").count();
    assert_eq!(delivered, n, "{s:?}");
    assert_eq!(s["messages_out"], n as u64);
}

#[test]
fn buffered_http_bodies_share_the_budget_and_a_spent_one_answers_503() {
    let rec = TcpRecorder::start();
    let tmp = TempDir::new("hostile-http-budget");
    let up = format!("http://127.0.0.1:{}", rec.port());
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--buffer-bytes",
        "2097152",
    ];
    let mut d = Redactd::start(&tmp, "http", &args);
    let addr = d.addr("http-0");
    let body = |tag: &str| {
        let line = format!("{{\"m\":\"{tag} {}\"}}\n", "z".repeat(1000));
        line.repeat(880)
    };
    let head = |len: usize| {
        format!(
            "POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };
    // A: most of a ~900 KB body, held open (with its redacted copy it
    // needs most of the 2 MiB budget).
    let a_body = body("first");
    let mut a = TcpStream::connect(addr).unwrap();
    a.write_all(head(a_body.len()).as_bytes()).unwrap();
    a.write_all(&a_body.as_bytes()[..a_body.len() - 10])
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    // B: a whole one, while A holds most of the budget.
    let b_body = body("second");
    let mut b = TcpStream::connect(addr).unwrap();
    b.write_all(format!("{}{b_body}", head(b_body.len())).as_bytes())
        .unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    let mut resp = vec![0u8; 512];
    let n = b.read(&mut resp).unwrap();
    let resp = String::from_utf8_lossy(&resp[..n]).to_string();
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("retry-after: 1"),
        "{resp}"
    );
    // A finishes and goes through.
    a.write_all(&a_body.as_bytes()[a_body.len() - 10..])
        .unwrap();
    let got = rec.wait_until(WAIT, |x| x.len() >= a_body.len());
    assert!(got.len() >= a_body.len());
    assert!(!String::from_utf8_lossy(&got).contains("second"));
    drop((a, b));
    d.stop();
}

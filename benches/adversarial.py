#!/usr/bin/env python3
"""Hostile inputs against a release build of redactd, printed as figures.

Run by benches/adversarial.sh (which builds redactd and makes the normal
corpus); not part of CI: it takes minutes and needs a quiet machine.

1. filter throughput on pathological inputs beside the normal corpus, as
   MB/s and as a fraction of the normal corpus's MB/s, with peak RSS;
2. a normal client's delivery latency through `redactd syslog` and
   `redactd http` while four clients send pathological lines and 1,100
   slowloris connections trickle a byte every 3 s (the listener has the
   default 1,024 slots);
3. peak RSS under the memory attacks: 200 connections holding 4 MB partial
   LF lines (syslog), a 200 KB JSON body sent one byte per segment and
   1,024 slow 30-byte bodies (http).
"""

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1]
CORPUS = sys.argv[2]
WORK = sys.argv[3]
# Each pathological input is as large as the normal corpus: start-up (about
# 20 ms) and the first pieces' warm-up (screens determinized on every
# thread, pieces redone until learned values reach the workers) then weigh
# the same in both figures. At 8 MB they were a sixth of a keyword soup's
# time on two threads and a tenth of the corpus's.
PATHO_BYTES = os.path.getsize(CORPUS)


def pathological():
    """(name, one repeated unit) for each input the adversarial review
    found slow, and a soup of every rule keyword."""
    listed = subprocess.run([BIN, "rules", "list", "--all"], capture_output=True,
                            text=True, check=True).stdout.split()
    ids = [w for w in listed if "." in w and not w.startswith("(")]
    words = set()
    for rid in ids:
        out = subprocess.run([BIN, "rules", "explain", rid], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            if line.startswith("keywords "):
                words.update(k.strip() for k in line[9:].split(",") if k.strip())
    soup = " ".join(sorted(words)) + " "
    return [
        ("percent-encoded URL", "https%3A%2F%2Fu%3A"),
        ("cookie=a;", "cookie=a;"),
        ("every keyword", soup),
        ('"kty":"RSA",', '"kty":"RSA",'),
        ("eyJ", "eyJ"),
        ("password=abcd1234 ", "password=abcd1234 "),
    ]


def run_filter(path, args=()):
    """Wall seconds and peak RSS (KiB) of `redactd filter ARGS < path`, best
    of two."""
    best = None
    for _ in range(2):
        t0 = time.monotonic()
        with open(path, "rb") as f:
            p = subprocess.Popen([BIN, "filter", *args], stdin=f, stdout=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
        t = time.monotonic() - t0
        best = (t, ru.ru_maxrss) if best is None or t < best[0] else best
    return best


def part_filter():
    """Each input with `--threads 1` and with the default (one per core),
    each compared with the normal corpus at the same setting."""
    print("== filter: pathological inputs beside the normal corpus")
    size = os.path.getsize(CORPUS)
    settings = [("--threads 1", ["--threads", "1"]), ("default threads", [])]
    normal = {}
    print(f"{'':<22} " + "  ".join(f"{label:^36}" for label, _ in settings))
    cells = []
    for label, args in settings:
        t, rss = run_filter(CORPUS, args)
        normal[label] = size / 1e6 / t
        cells.append(f"{normal[label]:8.1f} MB/s  1.00 of normal  {rss // 1024:3} MiB")
    print(f"{'normal corpus':<22} " + "  ".join(cells))
    for name, unit in pathological():
        path = os.path.join(WORK, "patho.log")
        with open(path, "w") as f:
            n = PATHO_BYTES // len(unit)
            # Lines of about 4 KB, as a logger would cut them.
            per_line = max(1, 4096 // len(unit))
            for i in range(0, n, per_line):
                f.write(unit * min(per_line, n - i) + "\n")
        cells = []
        for label, args in settings:
            t, rss = run_filter(path, args)
            mbs = os.path.getsize(path) / 1e6 / t
            cells.append(f"{mbs:8.1f} MB/s  {mbs / normal[label]:.2f} of normal  {rss // 1024:3} MiB")
        print(f"{name:<22} " + "  ".join(cells))
    print("(MB/s include start-up; MiB is peak RSS)")


def start(mode, args):
    ready = os.path.join(WORK, f"{mode}.ready")
    if os.path.exists(ready):
        os.remove(ready)
    p = subprocess.Popen([BIN, mode, *args, "--ready-file", ready, "--log", "warn"],
                         stderr=open(os.path.join(WORK, f"{mode}.stderr"), "wb"))
    for _ in range(200):
        if os.path.exists(ready):
            break
        time.sleep(0.05)
    addrs = dict(line.split() for line in open(ready).read().splitlines())
    return p, addrs


def hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Recorder:
    """A TCP upstream recording when each marker first arrives."""

    def __init__(self, http=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.seen = {}
        self.http = http
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.read, args=(c,), daemon=True).start()

    def read(self, c):
        buf = b""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                return
            if not d:
                return
            now = time.monotonic()
            # All of what arrived, with the end of the read before (a
            # marker cut between reads): a read holds up to 64 KiB of the
            # flood, and a marker anywhere in it counts.
            buf += d
            for tok in buf.split(b"MARK-")[1:]:
                key = tok[:8]
                if len(key) == 8:
                    self.seen.setdefault(key, now)
            buf = buf[-12:]
            # Every NDJSON body here ends with `"}` and a newline: answer
            # each one.
            for _ in range(d.count(b'"}\n') if self.http else 0):
                try:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                except OSError:
                    return


def slowloris(port, n, first, stop):
    def begin():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(first)
            conns.append(s)
        except OSError:
            pass

    conns = []
    for _ in range(n):
        begin()
    while not stop.is_set():
        for s in list(conns):
            try:
                s.send(b"x")
            except OSError:
                # Evicted or timed out: come back, as an attacker would.
                conns.remove(s)
                begin()
        stop.wait(3)
    for s in conns:
        s.close()


def flood(send, stop):
    while not stop.is_set():
        try:
            send()
        except OSError:
            time.sleep(0.05)


def latency(mode, args, first, frame, request):
    rec = Recorder(http=(mode == "http"))
    p, addrs = start(mode, [*args(rec.port)])
    port = int(next(v for k, v in addrs.items() if k != "metrics").rsplit(":", 1)[1])
    stop = threading.Event()
    threads = [threading.Thread(target=slowloris, args=(port, 1100, first, stop), daemon=True)]
    unit = "https%3A%2F%2Fu%3A" * 220
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port))
        threads.append(threading.Thread(
            target=flood, args=(lambda s=s: s.sendall(frame(unit)), stop), daemon=True))
    for t in threads:
        t.start()
    time.sleep(5)
    lat = []
    for i in range(20):
        key = f"{i:08d}".encode()
        t0 = time.monotonic()
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(request(b"MARK-" + key))
        except OSError:
            lat.append(float("inf"))
            continue
        while key not in rec.seen and time.monotonic() - t0 < 30:
            time.sleep(0.005)
        lat.append(rec.seen.get(key, float("inf")) - t0)
        c.close()
        time.sleep(0.25)
    stop.set()
    p.terminate()
    p.wait()
    done = [x for x in lat if x != float("inf")]
    worst = max(lat)
    print(f"{mode:<7} delivered {len(done)}/20, latency p50 {statistics.median(lat) * 1000:.0f} ms, "
          f"max {worst * 1000:.0f} ms")


def octet(body):
    return f"{len(body)} ".encode() + body


def part_latency():
    print("== a normal client beside 4 pathological senders and 1,100 slowloris connections")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    latency(
        "syslog",
        lambda port: ["--listen-tcp", "127.0.0.1:0", "--upstream", f"tcp://127.0.0.1:{port}"],
        b"2000 <13>1 - h app - - - ",
        lambda unit: octet(b"<13>1 - h app - - - " + unit.encode()),
        lambda mark: octet(b"<13>1 - h app - - - normal " + mark),
    )

    def post(body):
        return (b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    latency(
        "http",
        lambda port: ["--listen", "127.0.0.1:0", "--upstream", f"http://127.0.0.1:{port}"],
        b"POST /_bulk HTTP/1.1\r\nHost: x\r\nX-a: ",
        lambda unit: post(b'{"index":{}}\n{"m":"' + unit.encode() + b'"}\n'),
        lambda mark: post(b'{"index":{}}\n{"m":"' + mark + b'"}\n'),
    )


def part_memory():
    print("== peak RSS under memory attacks")
    rec = Recorder()
    p, addrs = start("syslog", ["--listen-tcp", "127.0.0.1:0",
                                "--upstream", f"tcp://127.0.0.1:{rec.port}"])
    port = int(addrs["syslog/tcp-0"].rsplit(":", 1)[1])
    conns = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        conns.append(s)
    chunk = b"<13>" + b"y" * 65536
    sent = {id(s): 0 for s in conns}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and min(sent.values()) < 4_000_000:
        for s in conns:
            if sent[id(s)] < 4_000_000:
                try:
                    sent[id(s)] += s.send(chunk)
                except BlockingIOError:
                    pass
    time.sleep(1)
    print(f"syslog, 200 partial 4 MB LF lines: peak RSS {hwm_kib(p.pid) // 1024} MiB "
          f"({sum(sent.values()) // 1_000_000} MB sent in all)")
    for s in conns:
        s.close()
    p.terminate()
    p.wait()

    rec = Recorder(http=True)
    p, addrs = start("http", ["--listen", "127.0.0.1:0",
                              "--upstream", f"http://127.0.0.1:{rec.port}"])
    port = int(addrs["http-0"].rsplit(":", 1)[1])
    body = json.dumps([{"msg": "x" * 100}] * 1700).encode()[:200_000]
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode())
    for b in body:
        s.send(bytes([b]))
    time.sleep(1)
    print(f"http, a 200 KB body one byte per segment: peak RSS {hwm_kib(p.pid) // 1024} MiB")
    s.close()
    slow = []
    for _ in range(1024):
        try:
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 60\r\n\r\n" + b'{"m":"' + b"z" * 24)
            slow.append(c)
        except OSError:
            break
    time.sleep(2)
    print(f"http, 1,024 slow 30-byte bodies: peak RSS {hwm_kib(p.pid) // 1024} MiB")
    for c in slow:
        c.close()
    p.terminate()
    p.wait()


if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    parts = sys.argv[4:] or ["filter", "latency", "memory"]
    if "filter" in parts:
        part_filter()
    if "latency" in parts:
        part_latency()
    if "memory" in parts:
        part_memory()

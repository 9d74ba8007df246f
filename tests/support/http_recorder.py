#!/usr/bin/env python3
"""Reference upstream for redactd's HTTP tests: a strict recorder.

Listens on 127.0.0.1 (port 0; the port is written to --port-file; HTTPS with
--tls-cert/--tls-key, Python's ssl module), decodes
each request body with the real codec (gzip and zlib from the standard
library, zstd with the `zstd` command-line tool), checks it as strictly as
the named API would (NDJSON: every line is a JSON text and the body ends
with a newline; JSON: one JSON text), records it as one JSON line in
--out, and answers like Elasticsearch (200, a bulk response, the
X-Elastic-Product header). A body it cannot decode or parse gets 400;
with --accept-any it is recorded anyway (with "invalid": the reason) and
answered 200, as a lenient ingester would (nginx in front of a queue, a
`bytes` codec), so tests can see every byte that reached the upstream.
Chunked bodies are read as such; one cut off before its last chunk (an
aborted request) is recorded as {"aborted": true} and not answered.
"""
import argparse
import base64
import gzip
import json
import subprocess
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def decode(coding, body):
    if coding in ("", "identity"):
        return body
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "deflate":
        return zlib.decompress(body)
    if coding == "zstd":
        return subprocess.run(["zstd", "-d", "-c"], input=body, capture_output=True, check=True).stdout
    raise ValueError("unknown coding " + coding)


def check(ctype, path, body):
    if ctype.startswith("application/x-ndjson") or path.endswith("/_bulk"):
        if body and not body.endswith(b"\n"):
            raise ValueError("NDJSON body does not end with a newline")
        for line in body.split(b"\n")[:-1]:
            json.loads(line)
    elif ctype.startswith("application/json") and body:
        json.loads(body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_chunked(self):
        """A chunked body (RFC 9112 section 7.1), or None when the stream
        ends before its last chunk: the sender aborted the request."""
        parts = []
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line.endswith(b"\r\n"):
                return None
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b""):
                    pass  # trailers
                return b"".join(parts)
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.read(2) != b"\r\n":
                return None
            parts.append(data)

    def handle_any(self):
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            raw = self.read_chunked()
            if raw is None:
                with LOCK, open(ARGS.out, "a") as f:
                    f.write(json.dumps({"aborted": True, "path": self.path}) + "\n")
                self.close_connection = True
                return
        else:
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
        coding = self.headers.get("Content-Encoding", "")
        try:
            body = decode(coding, raw)
            check(self.headers.get("Content-Type", ""), self.path, body)
        except Exception as e:  # strict like the real servers
            if not ARGS.accept_any:
                self.reply(400, json.dumps({"error": str(e)}).encode())
                return
            invalid = str(e)
            body = raw
        else:
            invalid = None
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "wire_length": len(raw),
            "chunked": chunked,
            "body_b64": base64.b64encode(body).decode(),
        }
        if invalid is not None:
            rec["invalid"] = invalid
        with LOCK, open(ARGS.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.reply(200, b'{"took":1,"errors":false,"items":[]}')

    def reply(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = handle_any


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tls-cert", help="serve HTTPS with this PEM chain")
    p.add_argument("--tls-key", help="and this PEM key")
    p.add_argument("--accept-any", action="store_true",
                   help="record and accept bodies that do not decode or parse")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if ARGS.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()

#!/usr/bin/env python3
"""Reference ingestion upstream for tests/integration/http_clients.rs: decodes with the
real format libraries and answers like the real APIs.

Two listeners on 127.0.0.1 (ports written, one per line, to --port-file):
listener 0 is the one behind redactd (records to --out), listener 1 takes
the same requests straight from the client (records to --out-direct), so a
test compares what went through redactd with what the client really sent.

| route | decoded with | answer |
|---|---|---|
| POST /v1/logs, protobuf | opentelemetry-proto ExportLogsServiceRequest | 200, ExportLogsServiceResponse, application/x-protobuf |
| POST /v1/logs, JSON | OTLP/JSON (hex IDs) via protobuf json_format | 200, ExportLogsServiceResponse as JSON |
| POST /loki/api/v1/push, protobuf or no type | python-snappy raw block + Loki PushRequest (descriptor built here) | 204 |
| POST /loki/api/v1/push, JSON | json, checked for Loki's shape | 204 |
| POST any path, application/msgpack or x-msgpack | msgpack, concatenated [time, record] events, ext types kept | 201 |
| POST [/<index>]/_bulk | NDJSON, every line parsed, final LF | 200, OpenSearch bulk response, one item per action |
| GET / | - | OpenSearch root info |

An OTLP request with `X-Test-Partial-Success: N` is answered with
`partial_success.rejected_log_records = N`, to see the body relayed.
Content-Encoding gzip and deflate (standard library), zstd (zstandard) and
snappy (python-snappy, raw) are decoded first. Anything that does not decode
or parse gets 400 and is not recorded, as the real servers refuse it.

Each recorded request is one JSON line: method, path, headers, the decoded
body as latin-1 text (`body`, so secret bytes stay visible to a grep),
`parsed` (a protobuf message as JSON, bytes fields as latin-1 text; or the
JSON), and for
protobuf `canonical`: whether the body is byte for byte the serialization of
what it parsed to.
"""
import argparse
import base64
import gzip
import json
import os
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The real format libraries. A missing one is exit 77 (the test skips or,
# under REDACTD_REQUIRE_PEERS=1, fails).
try:
    import msgpack
    import snappy
    import zstandard
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    from google.protobuf import timestamp_pb2  # noqa: F401  (registers Timestamp in the pool)
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )
except ImportError as e:  # pragma: no cover
    print("missing module: %s" % e, file=sys.stderr)
    sys.exit(77)

LOCK = threading.Lock()


def loki_push_request_class():
    """Loki's logproto PushRequest (pkg/push/push.proto), built at run time
    with descriptor_pb2 so the protobuf library itself does the parsing."""
    f = descriptor_pb2.FileDescriptorProto()
    f.name = "redactd_test/loki_push.proto"
    f.package = "logproto"
    f.syntax = "proto3"
    f.dependency.append("google/protobuf/timestamp.proto")
    T = descriptor_pb2.FieldDescriptorProto

    def msg(name, fields):
        m = f.message_type.add()
        m.name = name
        for num, fname, ftype, label, tname in fields:
            fd = m.field.add()
            fd.name, fd.number, fd.type, fd.label = fname, num, ftype, label
            if tname:
                fd.type_name = tname

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    msg("PushRequest", [(1, "streams", T.TYPE_MESSAGE, rep, ".logproto.StreamAdapter")])
    msg("StreamAdapter", [
        (1, "labels", T.TYPE_STRING, opt, None),
        (2, "entries", T.TYPE_MESSAGE, rep, ".logproto.EntryAdapter"),
        (3, "hash", T.TYPE_UINT64, opt, None),
    ])
    msg("EntryAdapter", [
        (1, "timestamp", T.TYPE_MESSAGE, opt, ".google.protobuf.Timestamp"),
        (2, "line", T.TYPE_STRING, opt, None),
        (3, "structuredMetadata", T.TYPE_MESSAGE, rep, ".logproto.LabelPairAdapter"),
    ])
    msg("LabelPairAdapter", [
        (1, "name", T.TYPE_STRING, opt, None),
        (2, "value", T.TYPE_STRING, opt, None),
    ])
    pool = descriptor_pool.Default()
    try:
        pool.Add(f)
    except TypeError:  # already added (a second import in one process)
        pass
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = loki_push_request_class()


def decode(coding, body):
    # Content-Encoding is a list applied in order: undo it right to left.
    for c in reversed([c.strip().lower() for c in coding.split(",") if c.strip()]):
        if c == "identity":
            continue
        elif c in ("gzip", "x-gzip"):
            body = gzip.decompress(body)
        elif c == "deflate":
            body = zlib.decompress(body)
        elif c == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        elif c == "snappy":
            body = snappy.uncompress(body)
        else:
            raise ValueError("unknown coding " + c)
    return body


def plain(m):
    """A parsed message as JSON: like MessageToDict (lowerCamelCase names,
    defaults left out, 64-bit integers as strings) but bytes as latin-1
    text and enums as numbers, so a test sees every byte of a bytes field."""
    FD = descriptor_pb2.FieldDescriptorProto

    def conv(fd, v):
        if fd.type == FD.TYPE_MESSAGE:
            return plain(v)
        if fd.type == FD.TYPE_BYTES:
            return v.decode("latin-1")
        if fd.type in (FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_SINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64):
            return str(v)
        return v

    out = {}
    for fd, v in m.ListFields():
        repeated = getattr(fd, "is_repeated", None)
        repeated = repeated if repeated is not None else fd.label == FD.LABEL_REPEATED
        out[fd.json_name] = [conv(fd, x) for x in v] if repeated else conv(fd, v)
    return out


def parse_proto(cls, body):
    m = cls()
    m.ParseFromString(body)
    return m, plain(m), m.SerializeToString() == body


def otlp_json_ids(doc):
    """OTLP/JSON spells traceId and spanId in hex (not protobuf JSON's
    base64): checked and converted, as the collector does."""
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                for k, n in (("traceId", 16), ("spanId", 8)):
                    if r.get(k):
                        raw = bytes.fromhex(r[k])
                        if len(raw) != n:
                            raise ValueError("%s is not %d bytes of hex" % (k, n))
                        r[k] = base64.b64encode(raw).decode()
    return doc


def parse_msgpack(body):
    """Concatenated msgpack records (Fluent Bit's `format msgpack`), each
    [time, record] or [[time, meta], record]; as JSON, an ext value (EventTime
    is ext 0) becomes {"ext": code, "data": latin-1 text}."""
    def js(x):
        if isinstance(x, msgpack.ExtType):
            return {"ext": x.code, "data": x.data.decode("latin-1")}
        if isinstance(x, (list, tuple)):
            return [js(y) for y in x]
        if isinstance(x, dict):
            return {str(k): js(v) for k, v in x.items()}
        if isinstance(x, bytes):
            return {"bin": x.decode("latin-1")}
        return x

    u = msgpack.Unpacker(raw=False, strict_map_key=True)
    u.feed(body)
    out = []
    for ev in u:
        if not (isinstance(ev, list) and len(ev) == 2 and isinstance(ev[1], dict)):
            raise ValueError("not a [time, record] event")
        out.append(js(ev))
    if u.tell() != len(body):
        raise ValueError("trailing bytes after the last record")
    if not out:
        raise ValueError("no records")
    return out


def parse_loki_json(body):
    doc = json.loads(body)
    streams = doc["streams"]
    if not isinstance(streams, list):
        raise ValueError("streams is not an array")
    for s in streams:
        if not all(isinstance(v, str) for v in s["stream"].values()):
            raise ValueError("a label value is not a string")
        for v in s["values"]:
            if not (isinstance(v, list) and 2 <= len(v) <= 3 and isinstance(v[0], str) and isinstance(v[1], str)):
                raise ValueError("bad entry " + json.dumps(v))
            int(v[0])  # nanoseconds as a decimal string
    return doc


def parse_bulk(body):
    if not body.endswith(b"\n"):
        raise ValueError("NDJSON body does not end with a newline")
    lines = [json.loads(l) for l in body.split(b"\n")[:-1]]
    actions = []
    i = 0
    while i < len(lines):
        (op, meta), = lines[i].items()
        if op not in ("index", "create", "update", "delete"):
            raise ValueError("unknown bulk action " + op)
        actions.append((op, meta))
        i += 1 if op == "delete" else 2
    if i != len(lines):
        raise ValueError("bulk body ends inside an action")
    return lines, actions


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    out = None

    def log_message(self, *args):
        pass

    def record(self, body, parsed, canonical=None):
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("latin-1"),
            "parsed": parsed,
        }
        if canonical is not None:
            rec["canonical"] = canonical
        with LOCK, open(self.out, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def reply(self, status, payload=b"", ctype="application/json", extra=()):
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if status != 204:
            self.wfile.write(payload)

    def do_GET(self):
        if self.path.split("?")[0] == "/":
            info = {
                "name": "recorder",
                "cluster_name": "redactd-test",
                "version": {"distribution": "opensearch", "number": "2.11.0"},
                "tagline": "The OpenSearch Project: https://opensearch.org/",
            }
            self.reply(200, json.dumps(info).encode())
        else:
            self.reply(404, b'{"error":"no such route"}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        path = self.path.split("?")[0]
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if path == "/v1/logs":
                body = decode(self.headers.get("Content-Encoding", ""), raw)
                resp = ExportLogsServiceResponse()
                rejected = int(self.headers.get("X-Test-Partial-Success", "0"))
                if rejected:
                    resp.partial_success.rejected_log_records = rejected
                    resp.partial_success.error_message = "%d log records rejected by the test" % rejected
                if ctype == "application/x-protobuf":
                    _, parsed, canonical = parse_proto(ExportLogsServiceRequest, body)
                    self.record(body, parsed, canonical)
                    self.reply(200, resp.SerializeToString(), "application/x-protobuf")
                elif ctype == "application/json":
                    m = json_format.ParseDict(otlp_json_ids(json.loads(body)), ExportLogsServiceRequest(),
                                              ignore_unknown_fields=True)
                    self.record(body, plain(m))
                    self.reply(200, json_format.MessageToJson(resp, indent=None).encode(), "application/json")
                else:
                    self.reply(415, b'{"error":"unsupported content type"}')
                return
            if path == "/loki/api/v1/push":
                body = decode(self.headers.get("Content-Encoding", ""), raw)
                if ctype == "application/json":
                    self.record(body, parse_loki_json(body))
                else:
                    # Loki: protobuf when the type is x-protobuf or absent; the
                    # body is always raw (block) snappy.
                    if ctype not in ("", "application/x-protobuf"):
                        self.reply(415, b"unsupported content type\n", "text/plain")
                        return
                    data = snappy.uncompress(body)
                    _, parsed, canonical = parse_proto(PushRequest, data)
                    self.record(data, parsed, canonical)
                self.reply(204)
                return
            if ctype in ("application/msgpack", "application/x-msgpack"):
                body = decode(self.headers.get("Content-Encoding", ""), raw)
                self.record(body, parse_msgpack(body))
                self.reply(201, b"")
                return
            if path.endswith("/_bulk"):
                body = decode(self.headers.get("Content-Encoding", ""), raw)
                lines, actions = parse_bulk(body)
                self.record(body, lines)
                items = []
                for i, (op, meta) in enumerate(actions):
                    items.append({op: {
                        "_index": meta.get("_index", path.strip("/").split("/")[0] or "unknown"),
                        "_id": meta.get("_id", "r%d" % i),
                        "_version": 1,
                        "result": "created",
                        "_shards": {"total": 1, "successful": 1, "failed": 0},
                        "_seq_no": i,
                        "_primary_term": 1,
                        "status": 201,
                    }})
                resp = {"took": 1, "errors": False, "items": items}
                self.reply(200, json.dumps(resp).encode())
                return
            self.reply(404, b'{"error":"no such route"}')
        except Exception as e:  # strict like the real servers
            self.reply(400, json.dumps({"error": "%s: %s" % (type(e).__name__, e)}).encode())


def serve(out):
    cls = type("H", (Handler,), {"out": out})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--out-direct", required=True)
    args = p.parse_args()
    ports = [serve(args.out), serve(args.out_direct)]
    with open(args.port_file + ".tmp", "w") as f:
        f.write("".join("%d\n" % p for p in ports))
    os.rename(args.port_file + ".tmp", args.port_file)
    threading.Event().wait()

#!/usr/bin/env python3
"""Real client libraries for tests/integration/http_clients.rs.

`ingest_clients.py KIND VIA_URL DIRECT_URL SPEC.json` sends the records of
the spec (fake secrets made by the test) with the real client
library of KIND twice: once through redactd (VIA_URL) and once straight to
the reference upstream (DIRECT_URL), so the test can compare the two. It
prints one JSON object: what the client library itself reported.

| KIND | client |
|---|---|
| otel, otel-gzip | OpenTelemetry SDK LoggingHandler + OTLPLogExporter (http/protobuf) |
| loki-json | python-logging-loki LokiHandler (Loki JSON push) |
| loki-proto, loki-proto-untyped | Loki PushRequest built with protobuf, raw snappy, POSTed with requests (Promtail's wire shape); untyped: no Content-Type |
| opensearch | opensearch-py helpers.bulk with http_compress=True |
| fluentbit-msgpack | msgpack events as Fluent Bit's http output sends them (`format msgpack`), POSTed with requests |
| otlp-body | no sending: writes an ExportLogsServiceRequest built with opentelemetry-proto (protobuf or OTLP/JSON, any coding) for curl |

Exit 77 when a library is missing.
"""
import base64
import json
import logging
import os
import sys

try:
    import requests
    import snappy
    from opensearchpy import OpenSearch, helpers
    import logging_loki
    import logging_loki.emitter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
except ImportError as e:  # pragma: no cover
    print("missing module: %s" % e, file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_upstream import PushRequest  # noqa: E402  (Loki's push.proto, built at run time)

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def otel(spec, via, direct, gzip):
    comp = Compression.Gzip if gzip else Compression.NoCompression
    results = []

    class Tee(LogRecordExporter):
        """Exports every batch straight to the upstream, then through redactd."""

        def __init__(self):
            self.direct = OTLPLogExporter(endpoint=direct + "/v1/logs", compression=comp, timeout=10)
            self.via = OTLPLogExporter(endpoint=via + "/v1/logs", compression=comp, timeout=10)

        def export(self, batch):
            d = self.direct.export(batch)
            v = self.via.export(batch)
            results.append({"records": len(batch), "direct": d.name, "via": v.name})
            return v

        def force_flush(self, timeout_millis=10000):
            return True

        def shutdown(self):
            self.direct.shutdown()
            self.via.shutdown()

    resource = Resource.create(spec["resource"])
    tracer = TracerProvider(resource=resource).get_tracer("redactd.test")
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(Tee(), schedule_delay_millis=60000, max_export_batch_size=512))
    log = logging.getLogger("redactd.test.otel")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    sent = []
    for i, r in enumerate(spec["records"]):
        with tracer.start_as_current_span("request-%d" % i) as span:
            ctx = span.get_span_context()
            log.log(LEVELS[r["level"]], r["line"], extra=r.get("attrs", {}))
            # As the upstream's records spell bytes fields: latin-1 text.
            sent.append({
                "traceId": ctx.trace_id.to_bytes(16, "big").decode("latin-1"),
                "spanId": ctx.span_id.to_bytes(8, "big").decode("latin-1"),
            })
        if i + 1 == spec.get("flush_after", -1):
            provider.force_flush()  # a first batch; the rest is a second one
    provider.force_flush()
    provider.shutdown()
    return {"exports": results, "sent": sent}


def loki_json(spec, via, direct):
    failures = []

    class Handler(logging_loki.LokiHandler):
        def handleError(self, record):  # noqa: N802
            failures.append("%s: %s" % (self.emitter.url, sys.exc_info()[1]))
            super().handleError(record)

    # The V1 emitter stamps each entry with time.time() when it sends; the
    # two handlers would stamp the same record differently, so the emitter's
    # clock reads the record's creation time instead.
    now = [0.0]
    logging_loki.emitter.time = type("Clock", (), {"time": staticmethod(lambda: now[0])})

    class Stamp(logging.Filter):
        def filter(self, record):
            now[0] = record.created
            return True

    log = logging.getLogger("redactd.test.loki")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addFilter(Stamp())
    for url in (direct, via):
        h = Handler(url=url + "/loki/api/v1/push", tags=spec["tags"], version="1")
        log.addHandler(h)
    stamps = []
    for r in spec["records"]:
        log.log(LEVELS[r["level"]], r["line"], extra={"tags": r.get("tags", {})})
        stamps.append(str(int(now[0] * 1e9)))
    return {"failures": failures, "stamps": stamps}


def loki_proto(spec, via, direct, typed):
    req = PushRequest()
    for s in spec["streams"]:
        st = req.streams.add()
        st.labels = s["labels"]
        for e in s["entries"]:
            en = st.entries.add()
            en.timestamp.seconds, en.timestamp.nanos = e["ts"]
            en.line = e["line"]
            for k, v in e.get("metadata", []):
                md = en.structuredMetadata.add()
                md.name, md.value = k, v
    body = snappy.compress(req.SerializeToString())
    headers = {"User-Agent": "promtail/2.9.0"}
    if typed:
        headers["Content-Type"] = "application/x-protobuf"
    out = {}
    for name, url in (("direct", direct), ("via", via)):
        r = requests.post(url + "/loki/api/v1/push", data=body, headers=headers, timeout=10)
        out[name] = {"status": r.status_code, "body": r.text}
    return out


def opensearch(spec, via, direct):
    out = {}
    for name, url in (("direct", direct), ("via", via)):
        host, port = url.rsplit("/", 1)[1].split(":")
        client = OpenSearch(hosts=[{"host": host, "port": int(port)}], http_compress=True,
                            use_ssl=False, timeout=10, max_retries=0)
        info = client.info()
        ok, errors = helpers.bulk(client, spec["actions"], chunk_size=spec.get("chunk_size", 500))
        out[name] = {"ok": ok, "errors": errors, "distribution": info["version"]["distribution"]}
        client.close()
    return out


def otlp_body(spec):
    """An ExportLogsServiceRequest built with opentelemetry-proto's classes,
    every kind of AnyValue nested, an unknown field 99 in a LogRecord
    (protobuf only), written to spec["out"] in spec["format"] (proto or
    OTLP/JSON: hex IDs, integer enums) and Content-Encoding spec["coding"]."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    import gzip as gz
    import zlib
    import zstandard

    gh, aws = spec["gh"], spec["aws"]

    def put(v, x):
        if isinstance(x, bool):
            v.bool_value = x
        elif isinstance(x, int):
            v.int_value = x
        elif isinstance(x, float):
            v.double_value = x
        elif isinstance(x, str):
            v.string_value = x
        elif isinstance(x, bytes):
            v.bytes_value = x
        elif isinstance(x, list):
            v.array_value.SetInParent()
            for y in x:
                put(v.array_value.values.add(), y)
        elif isinstance(x, dict):
            v.kvlist_value.SetInParent()
            kvs(v.kvlist_value.values, x)

    def kvs(field, d):
        for k, x in d.items():
            kv = field.add()
            kv.key = k
            put(kv.value, x)

    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.schema_url = "https://opentelemetry.io/schemas/1.24.0"
    kvs(rl.resource.attributes, {"service.name": "checkout", "host.id": "i-0abc1234", "pid": 4242})
    sl = rl.scope_logs.add()
    sl.scope.name, sl.scope.version = "app.payments", "1.2.3"
    kvs(sl.scope.attributes, {"scope.kind": "library"})
    r = sl.log_records.add()
    r.time_unix_nano = 1795000000123456789
    r.observed_time_unix_nano = 1795000000223456789
    r.severity_number, r.severity_text = 17, "ERROR"
    body = {"message": "login with token %s failed" % gh,
            "user": {"name": "bob", "creds": [aws, 42, True, 1.5]}}
    if spec["format"] == "proto":
        body["raw"] = b"key=" + aws.encode() + b"\x00\xff"
    put(r.body, body)
    kvs(r.attributes, {"vcs.token": "token %s" % gh, "retry": 3, "nested": [{"k": aws}, []]})
    r.trace_id = bytes.fromhex(spec["trace_id"])
    r.span_id = bytes.fromhex(spec["span_id"])
    r.flags = 1
    r.event_name = "payment.failed"
    if spec["format"] == "proto":
        marker = b"unknown-field-99-kept"
        r.MergeFromString(b"\x9a\x06" + bytes([len(marker)]) + marker)
    r2 = sl.log_records.add()
    r2.time_unix_nano = 1795000001000000000
    r2.severity_number, r2.severity_text = 9, "INFO"
    put(r2.body, "plain line, id 0123456789abcdef0123456789abcdef")
    if spec["format"] == "proto":
        data = req.SerializeToString()
    else:
        doc = json_format.MessageToDict(req, use_integers_for_enums=True)
        for rec in doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
            for k in ("traceId", "spanId"):
                if k in rec:
                    rec[k] = base64.b64decode(rec[k]).hex()
        data = json.dumps(doc).encode()
    coding = spec["coding"]
    if coding == "gzip":
        data = gz.compress(data)
    elif coding == "deflate":
        data = zlib.compress(data)
    elif coding == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    with open(spec["out"], "wb") as f:
        f.write(data)
    return {"bytes": len(data)}


def fluentbit_msgpack(spec, via, direct):
    """Fluent Bit's http output with `format msgpack`: concatenated
    [EventTime, record] events, or [[EventTime, metadata], record] when an
    event has "meta" (Fluent Bit >= 2.1), EventTime being ext 0 with seconds
    and nanoseconds as two big-endian uint32. A record value {"$bin": text}
    is sent as bin. Content-Type application/msgpack unless the spec names
    another; "coding": "gzip" compresses the body."""
    import gzip
    import struct
    import msgpack

    def conv(x):
        if isinstance(x, dict):
            if set(x) == {"$bin"}:
                return x["$bin"].encode()
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, list):
            return [conv(v) for v in x]
        return x

    def event(e):
        t = msgpack.ExtType(0, struct.pack(">II", *e["ts"]))
        head = [t, conv(e["meta"])] if "meta" in e else t
        return msgpack.packb([head, conv(e["record"])], use_bin_type=True)

    body = b"".join(event(e) for e in spec["events"])
    headers = {"Content-Type": spec.get("content_type", "application/msgpack"),
               "User-Agent": "Fluent-Bit"}
    if spec.get("coding") == "gzip":
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    out = {}
    for name, url in (("direct", direct), ("via", via)):
        r = requests.post(url + spec.get("uri", "/"), data=body, headers=headers, timeout=10)
        out[name] = {"status": r.status_code, "body": r.text}
    return out


def main():
    kind, via, direct, spec_file = sys.argv[1:5]
    with open(spec_file) as f:
        spec = json.load(f)
    if kind in ("otel", "otel-gzip"):
        res = otel(spec, via, direct, kind == "otel-gzip")
    elif kind == "loki-json":
        res = loki_json(spec, via, direct)
    elif kind in ("loki-proto", "loki-proto-untyped"):
        res = loki_proto(spec, via, direct, kind == "loki-proto")
    elif kind == "fluentbit-msgpack":
        res = fluentbit_msgpack(spec, via, direct)
    elif kind == "otlp-body":
        res = otlp_body(spec)
    elif kind == "opensearch":
        res = opensearch(spec, via, direct)
    else:
        raise SystemExit("unknown kind " + kind)
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# HTTP sidecar throughput and latency: wrk POSTs a ~10 KB Elasticsearch
# _bulk NDJSON body (realistic log lines, a few fake secrets) at a fixed
# concurrency:
#   1. straight to an nginx upstream (reads the body, answers 200),
#   2. through `redactd http` (all default rules) to the same nginx,
# in the same run. Prints requests/s for both, their ratio, and wrk's
# latency percentiles (p50, p99) for both, so the added latency shows.
#
# Usage: benches/http_proxy.sh [SECONDS] [CONNECTIONS] [WORKDIR]
# Needs: wrk, nginx (Debian: wrk, nginx-light), a release build. Not part of
# `cargo test`: no timing is ever asserted.
set -euo pipefail
SECS=${1:-10}
CONNS=${2:-16}
WORK=${3:-$(mktemp -d /tmp/redactd-http-bench.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REDACTD=$ROOT/target/release/redactd
[ -x "$REDACTD" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx not found" >&2; exit 2; }
mkdir -p "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
cat > "$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  server {
    listen 127.0.0.1:$UP;
    location / {
      # Read the whole body (as an ingestion API would), then answer.
      echo_read_request_body_off_placeholder;
      return 200 '{"took":1,"errors":false,"items":[]}';
    }
  }
}
EOF
# `return` answers without waiting for the body; nginx still reads and
# discards it before the connection is reused.
sed -i '/echo_read_request_body_off_placeholder/d' "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -p "$WORK" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$UP") 2>/dev/null && break; sleep 0.05; done

# A ~10 KB bulk body: 20 documents, 2 with fake secrets.
python3 - "$WORK/body.ndjson" <<'PY'
import json, random, string, sys
random.seed(7)
def rand(chars, n): return "".join(random.choice(chars) for _ in range(n))
lines = []
for i in range(20):
    msg = f"GET /api/v1/orders/{1000+i} 200 {random.randint(1,900)}ms user=u{i} trace={rand('0123456789abcdef', 32)}"
    if i % 10 == 3:
        msg += " token ghp_" + rand(string.ascii_letters + string.digits, 36)
    doc = {"@timestamp": "2026-11-26T00:00:00Z", "service": "checkout", "level": "info",
           "message": msg, "host": {"name": "web-01"}, "pad": rand(string.ascii_lowercase, 300)}
    lines.append(json.dumps({"index": {"_index": "logs"}}))
    lines.append(json.dumps(doc))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
cat > "$WORK/post.lua" <<EOF
local f = io.open("$WORK/body.ndjson", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-ndjson"
EOF
echo "body: $(wc -c < "$WORK/body.ndjson") bytes; $CONNS connections; ${SECS}s each"

"$REDACTD" http --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$UP" \
  --ready-file "$WORK/ready" --log warn 2>"$WORK/redactd.err" &
RPID=$!
pids+=($RPID)
for _ in $(seq 200); do [ -s "$WORK/ready" ] && break; sleep 0.05; done
RADDR=$(awk '$1=="http-0" {print $2}' "$WORK/ready")

run() { wrk -t 2 -c "$CONNS" -d "${SECS}s" --latency -s "$WORK/post.lua" "$1" 2>&1; }
direct=$(run "http://127.0.0.1:$UP/_bulk")
proxied=$(run "http://$RADDR/_bulk")
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' <<<"$1"; }
echo "direct:  $(rps "$direct") req/s  p50 $(pct "$direct" 50%)  p99 $(pct "$direct" 99%)"
echo "redactd: $(rps "$proxied") req/s  p50 $(pct "$proxied" 50%)  p99 $(pct "$proxied" 99%)  (peak RSS $(awk '/VmHWM/ {print $2}' /proc/$RPID/status) KiB)"
awk -v a="$(rps "$proxied")" -v b="$(rps "$direct")" 'BEGIN { if (b > 0) printf "ratio:   %.2f of direct\n", a / b }'
grep -h "Non-2xx" <<<"$direct$proxied" || true

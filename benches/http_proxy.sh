#!/usr/bin/env bash
# HTTP sidecar throughput and latency: wrk POSTs a ~10 KB Elasticsearch
# _bulk NDJSON body (realistic log lines, a few fake secrets):
#   1. straight to an nginx upstream (reads and discards the body, answers
#      200: the cheapest upstream there is, so the worst case for the ratio),
#   2. through `redactd http` (all default rules) to the same nginx,
#   3. through nginx as a reverse proxy that does no work on the body
#      (full load only): the cost of an HTTP hop alone, for calibration,
# in the same run, each at full load (CONNECTIONS connections, no pause) and
# at a moderate load (4 connections, each pausing 1 ms between requests, so
# at most ~4,000 requests/s). Prints requests/s, their ratio, wrk's latency
# percentiles (p50, p99) for both, and redactd's CPU time per request (from
# /proc, user + system) with its peak RSS.
#
# Usage: benches/http_proxy.sh [SECONDS] [CONNECTIONS] [WORKDIR]
# Environment: REDACTD_THREADS (redactd --threads; default one per core).
#   PIN=1: give redactd core 0 and the load generator and upstream core 1 in
#   both runs (redactd as a sidecar with a CPU of its own, the shipper and the
#   collector elsewhere), instead of all three sharing every core.
#   UPSTREAM=clickhouse: the upstream is a real ingestion server instead of
#   nginx: ClickHouse's HTTP interface, as Vector's and Fluent Bit's
#   ClickHouse outputs use it (`INSERT ... FORMAT JSONEachRow`, the same
#   documents without the _bulk action lines), into a Null table: every row
#   is parsed and checked against the schema, then dropped, so storage and
#   merges do not slow the upstream. Needs clickhouse-server (Debian).
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
PEER=() SELF=()
if [ "${PIN:-0}" = 1 ]; then PEER=(taskset -c 1) SELF=(taskset -c 0); fi
if [ "${UPSTREAM:-nginx}" = nginx ]; then
TARGET=/_bulk
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
      return 200 '{"took":1,"errors":false,"items":[]}';
    }
  }
}
EOF
# `return` answers without waiting for the body; nginx still reads and
# discards it before the connection is reused.
"${PEER[@]}" nginx -c "$WORK/nginx.conf" -p "$WORK" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$UP") 2>/dev/null && break; sleep 0.05; done
elif [ "${UPSTREAM}" = clickhouse ]; then
  CH=/usr/sbin/clickhouse-server
  [ -x "$CH" ] || { echo "clickhouse-server not found" >&2; exit 2; }
  TARGET='/?query=INSERT%20INTO%20logs%20FORMAT%20JSONEachRow'
  mkdir -p "$WORK/ch"
  cat > "$WORK/ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$WORK/ch/ch.log</log><errorlog>$WORK/ch/ch.err</errorlog><console>0</console></logger>
  <http_port>$UP</http_port>
  <tcp_port>$(free_port)</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <keep_alive_timeout>30</keep_alive_timeout>
  <max_concurrent_queries>200</max_concurrent_queries>
  <path>$WORK/ch/data/</path>
  <tmp_path>$WORK/ch/tmp/</tmp_path>
  <user_files_path>$WORK/ch/files/</user_files_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
EOF
  "${PEER[@]}" "$CH" --config-file="$WORK/ch/config.xml" >"$WORK/ch/out.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$UP/" --data-binary 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$UP/" --data-binary \
    'CREATE TABLE logs (`@timestamp` String, service String, level String, message String, host Nested(name String), pad String) ENGINE = Null' \
    || { echo "clickhouse: cannot create the table" >&2; exit 2; }
else
  echo "UPSTREAM must be nginx or clickhouse" >&2; exit 2
fi

# A ~10 KB bulk body: 20 documents, 2 with fake secrets.
python3 - "$WORK/body.ndjson" "${UPSTREAM:-nginx}" <<'PY'
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
    if sys.argv[2] == "nginx":
        lines.append(json.dumps({"index": {"_index": "logs"}}))
    else:  # JSONEachRow: a flat row (ClickHouse's Nested column as host.name)
        doc["host.name"] = [doc.pop("host")["name"]]
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
echo "upstream: ${UPSTREAM:-nginx}; body: $(wc -c < "$WORK/body.ndjson") bytes; $CONNS connections; ${SECS}s each"

cat > "$WORK/moderate.lua" <<EOF
dofile("$WORK/post.lua")
function delay() return 1 end
EOF

threads=()
[ -n "${REDACTD_THREADS:-}" ] && threads=(--threads "$REDACTD_THREADS")
"${SELF[@]}" "$REDACTD" http --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$UP" \
  --ready-file "$WORK/ready" --log warn "${threads[@]}" 2>"$WORK/redactd.err" &
RPID=$!
pids+=($RPID)
for _ in $(seq 200); do [ -s "$WORK/ready" ] && break; sleep 0.05; done
RADDR=$(awk '$1=="http-0" {print $2}' "$WORK/ready")

# The calibration hop: nginx proxying to the same upstream over kept-alive
# connections, with redactd's CPU placement and worker count.
PX=$(free_port)
cat > "$WORK/proxy.conf" <<EOF
daemon off;
worker_processes ${REDACTD_THREADS:-auto};
pid $WORK/proxy.pid;
error_log $WORK/proxy.err;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/pbody;
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$PX;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
"${SELF[@]}" nginx -c "$WORK/proxy.conf" -p "$WORK" &
PXPID=$!
pids+=($PXPID)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PX") 2>/dev/null && break; sleep 0.05; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$RPID/stat"; }
hz=$(getconf CLK_TCK)
run() { "${PEER[@]}" wrk -t 2 -c "$1" -d "${SECS}s" --latency -s "$WORK/$2" "$3" 2>&1; }
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
reqs() { awk '/requests in/ {print $1}' <<<"$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' <<<"$1"; }
for load in full moderate; do
  if [ $load = full ]; then c=$CONNS; script=post.lua; else c=4; script=moderate.lua; fi
  direct=$(run "$c" "$script" "http://127.0.0.1:$UP$TARGET")
  t0=$(cpu_ticks)
  proxied=$(run "$c" "$script" "http://$RADDR$TARGET")
  t1=$(cpu_ticks)
  echo "== $load load: $c connections$([ $load = moderate ] && echo ', 1 ms pause each')"
  echo "direct:  $(rps "$direct") req/s  p50 $(pct "$direct" 50%)  p99 $(pct "$direct" 99%)"
  echo "redactd: $(rps "$proxied") req/s  p50 $(pct "$proxied" 50%)  p99 $(pct "$proxied" 99%)"
  awk -v a="$(rps "$proxied")" -v b="$(rps "$direct")" -v t="$((t1 - t0))" -v hz="$hz" -v n="$(reqs "$proxied")" \
    'BEGIN { if (b > 0) printf "ratio:   %.2f of direct; redactd CPU %.1f us/request\n", a / b, t / hz / n * 1e6 }'
  if [ $load = full ]; then
    px_ticks() { local t=0 p; for p in $PXPID $(pgrep -P "$PXPID"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
    p0=$(px_ticks)
    hop=$(run "$c" "$script" "http://127.0.0.1:$PX$TARGET")
    p1=$(px_ticks)
    awk -v a="$(rps "$hop")" -v b="$(rps "$direct")" -v t="$((p1 - p0))" -v hz="$hz" -v n="$(reqs "$hop")" \
      'BEGIN { if (b > 0) printf "nginx proxy (no body work): %.0f req/s, %.2f of direct; nginx CPU %.1f us/request\n", a, a / b, t / hz / n * 1e6 }'
    grep -h "Non-2xx" <<<"$hop" || true
  fi
  grep -h "Non-2xx" <<<"$direct$proxied" || true
done
echo "redactd peak RSS $(awk '/VmHWM/ {print $2}' "/proc/$RPID/status") KiB"

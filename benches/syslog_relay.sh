#!/usr/bin/env bash
# Syslog relay throughput: syslog-ng's loggen at full speed, 200-byte RFC 5424
# messages, octet counting over TCP, into an rsyslog receiver writing a file:
#   1. straight into the receiver (baseline),
#   2. through `redactd syslog` (all default rules, one worker thread),
# in the same run. Prints messages/s for both (as loggen reports its
# average rate; TCP backpressure makes that the end-to-end rate), the ratio,
# the receiver's line counts (no loss), and redactd's peak RSS.
#
# Usage: benches/syslog_relay.sh [SECONDS] [WORKDIR]
# Needs: rsyslogd, loggen (/opt/syslog-ng as .ci/run unpacks it), a release
# build (`cargo build --release`). Not part of `cargo test`: no timing is
# ever asserted.
set -euo pipefail
SECS=${1:-10}
WORK=${2:-$(mktemp -d /tmp/redactd-syslog-bench.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REDACTD=$ROOT/target/release/redactd
SNG=${SYSLOGNG_ROOT:-/opt/syslog-ng}
LOGGEN=$SNG/usr/bin/loggen
export SYSLOGNG_PREFIX=$SNG/usr LD_LIBRARY_PATH=$SNG/usr/lib/syslog-ng
[ -x "$REDACTD" ] || { echo "build first: cargo build --release" >&2; exit 2; }
[ -x "$LOGGEN" ] || { echo "loggen not found at $LOGGEN" >&2; exit 2; }
command -v rsyslogd >/dev/null || { echo "rsyslogd not found" >&2; exit 2; }
mkdir -p "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Receiver: imtcp on a port it picks, every message as one line in a file.
cat > "$WORK/rsyslog.conf" <<EOF
global(workDirectory="$WORK" maxMessageSize="64k")
module(load="imtcp")
template(name="m" type="string" string="%msg%\n")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="$WORK/port" ruleset="r")
ruleset(name="r") { action(type="omfile" file="$WORK/out.log" template="m") }
EOF
rsyslogd -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" 2>"$WORK/rsyslog.err" &
pids+=($!)
for _ in $(seq 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")

lines() { if [ -f "$WORK/out.log" ]; then wc -l < "$WORK/out.log"; else echo 0; fi; }
wait_lines() { # until the file stops growing (bounded)
  local last=-1 now
  for _ in $(seq 100); do now=$(lines); [ "$now" = "$last" ] && break; last=$now; sleep 0.2; done
}
run_loggen() { # port -> "rate sent"
  local out
  out=$("$LOGGEN" -S -P -s 200 -I "$SECS" -r 10000000 127.0.0.1 "$1" 2>&1 >/dev/null || true)
  local rate count
  rate=$(grep -o 'rate = [0-9.]*' <<<"$out" | tail -1 | awk '{print $3}')
  count=$(grep -o 'count=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  echo "${rate:-0} ${count:-0}"
}

before=$(lines)
read -r direct_rate direct_sent < <(run_loggen "$PORT")
wait_lines
direct_got=$(( $(lines) - before ))

taskset -c 0 "$REDACTD" syslog --threads 1 --listen-tcp 127.0.0.1:0 \
  --upstream "tcp://127.0.0.1:$PORT" --ready-file "$WORK/ready" --log warn 2>"$WORK/redactd.err" &
RPID=$!
pids+=($RPID)
for _ in $(seq 200); do [ -s "$WORK/ready" ] && break; sleep 0.05; done
RPORT=$(awk '{split($2,a,":"); print a[2]}' "$WORK/ready")
before=$(lines)
read -r relay_rate relay_sent < <(run_loggen "$RPORT")
wait_lines
relay_got=$(( $(lines) - before ))
peak=$(awk '/VmHWM/ {print $2}' "/proc/$RPID/status")

echo "direct:  ${direct_rate} msg/s  sent=${direct_sent} received=${direct_got}"
echo "redactd: ${relay_rate} msg/s  sent=${relay_sent} received=${relay_got}  (1 worker, pinned to cpu 0; peak RSS ${peak} KiB)"
awk -v a="$relay_rate" -v b="$direct_rate" 'BEGIN { if (b > 0) printf "ratio:   %.2f of direct\n", a / b }'
[ "$direct_sent" = "$direct_got" ] && [ "$relay_sent" = "$relay_got" ] && echo "loss:    none" || echo "loss:    MISMATCH"

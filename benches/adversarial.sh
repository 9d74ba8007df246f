#!/usr/bin/env bash
# Hostile inputs against a release build, as figures (issue 12's bar): filter
# MB/s on each pathological input beside the normal corpus, a normal client's
# latency beside pathological senders and 1,100 slowloris connections, and
# peak RSS under the slow-body and partial-line attacks. See
# benches/adversarial.py. Not a test: run it on a quiet machine.
#
# Usage: benches/adversarial.sh [PART...]   (filter, latency, memory; default all)
# Environment: WORK (default /tmp/redactd-adversarial), CORPUS_SIZE (default 100M).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${WORK:-/tmp/redactd-adversarial}
size=${CORPUS_SIZE:-100M}
bench=${REDACTD_SHARED:-$here/../shared}/bench
mkdir -p "$work"
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
corpus=$work/corpus-$size.log
[ -f "$corpus" ] || python3 "$bench/make_corpus.py" "$size" "$corpus" > /dev/null
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
exec python3 "$here/benches/adversarial.py" "$here/target/release/redactd" "$corpus" "$work" "$@"

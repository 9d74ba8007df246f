#!/usr/bin/env bash
# How filter's throughput, peak RSS and start-up grow with the rule count
# (built-ins, and 10 / 100 / 1,000 / 5,000 synthetic vendor rules), in one
# run, as ratios to `cat` on the same corpus. See benches/scale.py.
#
# Usage: benches/scale.sh [SIZE] [WORKDIR] [N ...]   (default 200M, /tmp/redactd-scale)
# Needs: python3, a release build (built here). Takes minutes; not in CI.
set -euo pipefail
size=${1:-200M}
work=${2:-/tmp/redactd-scale}
shift $(( $# > 2 ? 2 : $# ))
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${REDACTD_SHARED:-$here/../shared}/bench
mkdir -p "$work"
corpus=$work/corpus-$size.log

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
[ -f "$corpus" ] || python3 "$bench/make_corpus.py" "$size" "$corpus"
cat "$corpus" > /dev/null   # warm the page cache
exec python3 "$here/benches/scale.py" "$here/target/release/redactd" "$corpus" "$work" "$@"

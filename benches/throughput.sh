#!/usr/bin/env bash
# End-to-end throughput, memory and correctness of `redactd filter` on a
# corpus from ../shared/bench/make_corpus.py, quoted as ratios to `cat` in
# the same run (machines are noisy; absolute numbers are not comparable).
#
# Usage: benches/throughput.sh [SIZE] [WORKDIR]     (default 1G, /tmp/redactd-bench)
# Environment: REDACTD_COMPARE_RULES=DIR also times `filter --no-builtin
# --rules DIR` in the same run (e.g. an older rule library checked out with
# `git archive REV patterns | tar -x -C DIR`), to compare rule sets.
# Needs: python3, GNU time (/usr/bin/time), a release build (built here).
set -euo pipefail
size=${1:-1G}
work=${2:-/tmp/redactd-bench}
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${REDACTD_SHARED:-$here/../shared}/bench
mkdir -p "$work"
corpus=$work/corpus-$size.log
single=$work/single-$size.log

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin=$here/target/release/redactd

[ -f "$corpus" ] || python3 "$bench/make_corpus.py" "$size" "$corpus"
cat "$corpus" > /dev/null   # warm the page cache

secs() { /usr/bin/time -f '%e %M' -o "$work/time" "$@"; cat "$work/time"; }
mb() { python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1])/1e6/float(sys.argv[2]):.0f}')" "$@"; }

echo "== $(date -u +%FT%TZ) $(nproc) cores, $(uname -r); corpus $corpus ($(stat -L -c %s "$corpus") bytes)"
# Same I/O shape for both: stdin from the file, stdout into a pipe.
best() { # best of 3 wall times of a shell command, and the peak RSS of the last run
    local t=999 r=0 i
    for i in 1 2 3; do read -r ti ri < <(secs sh -c "$1"); t=$(python3 -c "print(min($t, $ti))"); r=$ri; done
    echo "$t $r"
}
read -r t_cat _ < <(best "cat < '$corpus' | cat > /dev/null")
read -r t_red _ < <(best "'$bin' filter --threads 1 < '$corpus' | cat > /dev/null")
read -r _ rss_red < <(secs sh -c "'$bin' filter --threads 1 < '$corpus' > /dev/null")
read -r t_par _ < <(best "'$bin' filter < '$corpus' | cat > /dev/null")
read -r _ rss_par < <(secs sh -c "'$bin' filter < '$corpus' > /dev/null")
echo "cat < f | cat:          ${t_cat}s  $(mb "$corpus" "$t_cat") MB/s"
echo "redactd filter --threads 1 < f | cat: ${t_red}s  $(mb "$corpus" "$t_red") MB/s  peak RSS $((rss_red / 1024)) MiB"
python3 -c "print(f'ratio to cat:           {$t_cat/$t_red:.3f}x')"
echo "redactd filter (one thread per core, $(nproc)) < f | cat: ${t_par}s  $(mb "$corpus" "$t_par") MB/s  peak RSS $((rss_par / 1024)) MiB"
python3 -c "print(f'ratio to cat:           {$t_cat/$t_par:.3f}x; to one thread {$t_red/$t_par:.2f}x')"
if [ -n "${REDACTD_COMPARE_RULES:-}" ]; then
    other=(--no-builtin --rules "$REDACTD_COMPARE_RULES")
    n=$("$bin" rules list "${other[@]}" | wc -l)
    read -r t_other _ < <(best "'$bin' filter ${other[*]} < '$corpus' | cat > /dev/null")
    echo "with $REDACTD_COMPARE_RULES ($n rules): ${t_other}s  $(mb "$corpus" "$t_other") MB/s"
    python3 -c "print(f'ratio to cat:           {$t_cat/$t_other:.3f}x; built-in pack takes {$t_red/$t_other:.2f}x its time')"
fi
"$bin" filter --threads 1 < "$corpus" > "$work/out.log"
python3 "$bench/verify_redaction.py" "$corpus" "$corpus.secrets.jsonl" "$work/out.log"
"$bin" filter < "$corpus" > "$work/out-threads.log"
if cmp -s "$work/out.log" "$work/out-threads.log"; then echo "one thread per core: identical output"; else echo "one thread per core: OUTPUT DIFFERS"; exit 1; fi

# The same corpus written in random small chunks must give identical output.
python3 - "$corpus" <<'PY' | "$bin" filter --threads 1 > "$work/out-chunked.log"
import os, random, sys
rng = random.Random(7)
with open(sys.argv[1], "rb") as f:
    while True:
        b = f.read(rng.randint(1, 4096))
        if not b:
            break
        while b:
            b = b[os.write(1, b):]
PY
if cmp -s "$work/out.log" "$work/out-chunked.log"; then echo "chunked input:    identical output"; else echo "chunked input:    OUTPUT DIFFERS"; exit 1; fi

# One single line as big as the corpus: memory must stay bounded.
[ -f "$single" ] || tr '\n' ' ' < "$corpus" > "$single"
read -r t_one rss_one < <(secs sh -c "'$bin' filter < '$single' > /dev/null")
echo "one-line input:   ${t_one}s  $(mb "$single" "$t_one") MB/s  peak RSS $((rss_one / 1024)) MiB"

#!/usr/bin/env python3
"""How filter's speed, memory and start-up grow with the number of rules.

Run by benches/scale.sh (which builds redactd and makes the corpus); not part
of CI. Prints one table, every figure from the same run:

- `cat < f | cat` on the corpus (the reference every ratio is against);
- the built-in library;
- N synthetic vendor rules (N = 10, 100, 1,000, 5,000 by default), each a
  distinct 4-letter prefix and `_` followed by 24 to 48 alphanumerics (the
  shape of most vendor tokens), alone (`--no-builtin`) and beside the
  built-ins;

each as MB/s (best of 3), the ratio to `cat`, peak RSS, and start-up
(`filter < /dev/null`, best of 5 wall times, and its peak RSS). When
`filter --help` offers `--threads`, every row is measured with `--threads 1`
and with the default. One token of each synthetic rule is planted in the
corpus copy the synthetic rows read, so every rule runs its regex at least
once and is checked to redact.

Usage: scale.py BIN CORPUS WORKDIR [N ...]
"""

import os
import random
import string
import subprocess
import sys
import time

BIN, CORPUS, WORK = sys.argv[1:4]
COUNTS = [int(n) for n in sys.argv[4:]] or [10, 100, 1000, 5000]
ALNUM = string.ascii_letters + string.digits


def prefixes(n):
    """n distinct 4-letter lowercase prefixes, reproducibly shuffled."""
    rng = random.Random(16)
    seen = set()
    while len(seen) < n:
        seen.add("".join(rng.choice(string.ascii_lowercase) for _ in range(4)))
    return sorted(seen)


def token(rng, prefix):
    return prefix + "_" + "".join(rng.choice(ALNUM) for _ in range(rng.randint(24, 48)))


def write_rules(n):
    """A rule file of n synthetic rules, and one token of each."""
    rng = random.Random(n)
    path = os.path.join(WORK, f"synthetic-{n}.toml")
    tokens = []
    with open(path, "w") as f:
        for i, p in enumerate(prefixes(n)):
            tokens.append(token(rng, p))
            rid = f"synthetic.r{i:05}"
            f.write(
                f'[[rule]]\nid = "{rid}"\nname = "synthetic rule {i}"\n'
                f"regex = '''\\b{p}_[A-Za-z0-9]{{24,48}}\\b'''\n"
                f'keywords = ["{p}_"]\nseverity = "high"\n'
                f'remediation = "none: a benchmark rule"\ntags = ["default"]\n'
                f'examples = [{{ input = "token={token(rng, p)}", '
                f'output = "token=[REDACTED:{rid}]" }}]\n\n'
            )
    return path, tokens


def planted(n, tokens):
    """The corpus with one line per token appended (at a fixed stride)."""
    path = os.path.join(WORK, f"corpus-planted-{n}.log")
    if not os.path.exists(path):
        with open(CORPUS, "rb") as src, open(path, "wb") as dst:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                dst.write(chunk)
            for t in tokens:
                dst.write(f"level=info msg=\"deploy\" token={t}\n".encode())
    return path


def timed(args, stdin_path):
    """Wall seconds and peak RSS (KiB) of BIN args < stdin_path > /dev/null,
    the RSS from GNU time (a child's own ru_maxrss can include the forking
    Python's pages)."""
    report = os.path.join(WORK, "time")
    with open(stdin_path, "rb") as fin, open(os.devnull, "wb") as fout:
        t = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report, BIN, *args],
                       stdin=fin, stdout=fout, check=True)
        wall = time.perf_counter() - t
    return wall, int(open(report).read().split()[-1])


def cat_seconds(path):
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(f"cat < '{path}' | cat > /dev/null", shell=True, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def row(name, args, corpus, t_cat):
    size = os.path.getsize(corpus)
    runs = [timed(["filter", *args], corpus) for _ in range(3)]
    wall = min(w for w, _ in runs)
    rss = max(r for _, r in runs)
    starts = [timed(["filter", *args], os.devnull) for _ in range(5)]
    start = min(w for w, _ in starts)
    start_rss = max(r for _, r in starts)
    print(
        f"{name:<34} {size / 1e6 / wall:8.0f} {t_cat / wall:7.3f}x {rss / 1024:8.1f}"
        f" {start * 1000:9.0f} {start_rss / 1024:9.1f}",
        flush=True,
    )


def check_redacts(rules, corpus, tokens):
    """Every planted token is gone from the output."""
    out = os.path.join(WORK, "out.log")
    with open(corpus, "rb") as fin, open(out, "wb") as fout:
        subprocess.run([BIN, "filter", "--no-builtin", "--rules", rules],
                       stdin=fin, stdout=fout, check=True)
    with open(out, "rb") as f:
        f.seek(max(0, os.path.getsize(out) - 64 * len(tokens) - 4096))
        tail = f.read()
    left = [t for t in tokens if t.encode() in tail]
    if left:
        sys.exit(f"{len(left)} of {len(tokens)} synthetic tokens were not redacted")


def main():
    os.makedirs(WORK, exist_ok=True)
    helps = subprocess.run([BIN, "filter", "--help"], capture_output=True, text=True).stdout
    thread_args = [["--threads", "1"], []] if "--threads" in helps else [[]]
    t_cat = cat_seconds(CORPUS)
    print(f"== {time.strftime('%FT%TZ', time.gmtime())} {os.cpu_count()} cores; "
          f"corpus {CORPUS} ({os.path.getsize(CORPUS)} bytes)")
    print(f"cat < f | cat: {t_cat:.3f} s, {os.path.getsize(CORPUS) / 1e6 / t_cat:.0f} MB/s")
    print(f"{'rules':<34} {'MB/s':>8} {'to cat':>8} {'RSS MiB':>8} {'start ms':>9} {'start MiB':>9}")
    for targs in thread_args:
        label = " ".join(targs) or "default threads"
        print(f"-- {label}")
        n_builtin = len(subprocess.run([BIN, "rules", "list"], capture_output=True,
                                       text=True, check=True).stdout.splitlines())
        row(f"built-ins ({n_builtin})", targs, CORPUS, t_cat)
        for n in COUNTS:
            rules, tokens = write_rules(n)
            corpus = planted(n, tokens)
            check_redacts(rules, corpus, tokens)
            row(f"{n} synthetic", [*targs, "--no-builtin", "--rules", rules], corpus, t_cat)
            row(f"built-ins + {n} synthetic", [*targs, "--rules", rules], corpus, t_cat)


if __name__ == "__main__":
    main()

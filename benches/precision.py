#!/usr/bin/env python3
"""Precision / recall of redactd's rules on external example suites and clean logs.

Python 3 standard library only. Nothing this script reads is kept in the
repository: example suites and logs come from outside (see "Inputs").

Usage
-----

    # examples: recall on in-scope true positives, FP rate on negatives
    python3 benches/precision.py examples SUITE.jsonl [SUITE.jsonl ...] \
        [--redactd target/release/redactd] [--isolated] [--show-caught] \
        [-- EXTRA REDACTD FILTER ARGS]

    # clean logs: lines changed per 100,000
    python3 benches/precision.py logs FILE [FILE ...] [--redactd BIN] [--show]

Both exit 0 and print a report; `examples` exits 1 when an example could not
be judged (a finding crossing an example boundary).

Inputs
------

An example suite is JSONL, one example per line:

    {"source": "owner/repo@commit:path", "rule": "their rule name",
     "kind": "tp" | "fp", "scope": "in" | "out", "text": "...",
     "secret_spans": [[start, end], ...], "excluded": "reason"}

- `kind`: "tp" for a positive example of the suite, "fp" for a negative one.
- `scope` (tp only): "in" when the secret type is one redactd claims to
  cover, "out" otherwise. Out-of-scope examples are counted, not scored.
- `secret_spans` (tp, optional): character offsets of the secret inside
  `text` (the suite's capture group, or a substring it names).
- `excluded` (fp, optional): why this negative is not a false-positive
  example (for instance a suite's negative that is another rule's positive, or
  one the suite marks "should match"). Excluded negatives are listed, and not
  counted in the FP rate.

Method
------

All examples go through one `redactd filter --findings FILE` process, each
example followed by a newline and a separator line
(`#%% redactd-precision example boundary %%#`) that no rule matches and that
ends any multi-line block, so an example is judged on its own and multi-line
examples (PEM keys) stay intact. The run is done twice: with `--style mask`
(one `*` per redacted byte, so redacted bytes are known exactly, `extend` and
`block` included) and with the default labels (for the listing). Findings map
to examples by their byte offset; one that crosses a boundary is reported as
an error. `--isolated` runs one process per example instead (slower; the
figures must be the same).

A true positive is **caught** when:

- with `secret_spans`: every byte of every span is inside a redacted span,
  except a leading part that is public context (a URL head such as
  `https://hooks.slack.com/services/` ending in `/`, or a type prefix of at
  most 10 letters and digits plus `_` or `-`, such as `ghp_`) and quotes,
  escapes, spaces, `=` padding and separators a suite's capture group takes
  in at either end. A span partly redacted beyond that is a miss ("partial");
- without `secret_spans`: at least one finding in the example, and no
  uncovered run of 20 or more `[A-Za-z0-9+/=_-]` bytes mixing letters and
  digits is left.

A negative counts as a **false positive** when any byte of it is redacted.

Logs mode counts the distinct lines that are changed (a finding's `line`, or
a line that differs in the `--style mask` output), per file and in all, and
scales to lines per 100,000. `--show` prints every redacted line before and after redaction, to
judge each by eye.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

SEPARATOR = "#%% redactd-precision example boundary %%#\n"
MASK = ["--style", "mask"]
TOKENISH = re.compile(rb"[A-Za-z0-9+/=_-]{20,}")
URL_HEAD = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]*/$")
TYPE_PREFIX = re.compile(rb"^[A-Za-z0-9]{1,10}[_-]$")
# Quotes, escapes, spaces and separators a suite's capture group may take in
# around the secret itself.
EDGE = re.compile(rb"""^[\s"'`\\,;:=(){}\[\]]*$""")


def default_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    for build in ("release", "debug"):
        path = os.path.join(here, "..", "target", build, "redactd")
        if os.path.exists(path):
            return os.path.normpath(path)
    return "redactd"


def run_filter(binary, data, extra):
    """Runs `redactd filter --findings` over bytes; returns (output, findings)."""
    with tempfile.TemporaryDirectory() as tmp:
        findings_path = os.path.join(tmp, "findings.jsonl")
        proc = subprocess.run(
            [binary, "filter", "--findings", findings_path, *extra],
            input=data,
            stdout=subprocess.PIPE,
            check=True,
        )
        with open(findings_path, encoding="utf-8") as f:
            findings = [json.loads(line) for line in f if line.strip()]
    return proc.stdout, findings


def merge(spans):
    out = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def masked_spans(data, mask, findings):
    """Redacted byte ranges of `data`, from its `--style mask` output.

    The mask style keeps length and line breaks, so a byte is redacted where
    the output has `*` and the input does not. (Findings give where a match
    starts; their length leaves out what `extend` and `block` add.) An input
    `*` counts as redacted only inside a finding's own range. Line breaks
    inside a redacted range count as redacted.
    """
    if len(mask) != len(data):
        sys.exit("error: --style mask output differs in length from its input")
    own = merge([[f["offset"], f["offset"] + f["len"]] for f in findings])
    red = [m == 0x2A and (d != 0x2A or covered(own, i)) for i, (d, m) in enumerate(zip(data, mask))]
    spans, i = [], 0
    while i < len(data):
        if red[i]:
            j = i
            while j < len(data) and (red[j] or (data[j] in b"\r\n" and any(red[j:j + 200]))):
                j += 1
            spans.append([i, j])
            i = j
        else:
            i += 1
    return spans


def covered(merged, pos):
    return any(s <= pos < e for s, e in merged)


# === examples ===


def load_examples(paths):
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    row = json.loads(line)
                    row["_where"] = f"{os.path.basename(path)}:{n}"
                    rows.append(row)
    return rows


def byte_spans(text, spans):
    """Character offsets to byte offsets of the UTF-8 encoding."""
    return [[len(text[:s].encode()), len(text[:e].encode())] for s, e in spans]


def judge_tp(data, merged, spans):
    """Returns (caught, status) for one true positive."""
    if not merged:
        return False, "missed"
    if spans is None:
        for m in TOKENISH.finditer(data):
            run = m.group()
            if not (re.search(rb"[A-Za-z]", run) and re.search(rb"[0-9]", run)):
                continue
            if not any(covered(merged, p) for p in range(m.start(), m.end())):
                return False, "partial"
        return True, "caught"
    any_cov = False
    for start, end in spans:
        cov = [covered(merged, p) for p in range(start, end)]
        if not any(cov):
            return False, "missed" if not any_cov else "partial"
        any_cov = True
        first = cov.index(True)
        last = len(cov) - 1 - cov[::-1].index(True)
        head, tail = data[start:start + first], data[start + last + 1:end]
        if head and not (URL_HEAD.match(head) or TYPE_PREFIX.match(head) or EDGE.match(head)):
            return False, "partial"
        if not EDGE.match(tail):
            return False, "partial"
        if not all(cov[first:last + 1]):
            return False, "partial"
    return True, "caught"


def run_examples(args):
    rows = load_examples(args.files)
    if args.isolated:
        results = []
        for row in rows:
            data = (row["text"] if row["text"].endswith("\n") else row["text"] + "\n").encode()
            mask, findings = run_filter(args.redactd, data, args.extra + MASK)
            out, _ = run_filter(args.redactd, data, args.extra)
            results.append((data, out, mask, findings))
        errors = []
    else:
        chunks, starts, pos = [], [], 0
        for row in rows:
            text = row["text"] if row["text"].endswith("\n") else row["text"] + "\n"
            data = text.encode()
            starts.append(pos)
            chunks.append(data + SEPARATOR.encode())
            pos += len(data) + len(SEPARATOR.encode())
        blob = b"".join(chunks)
        mask, findings = run_filter(args.redactd, blob, args.extra + MASK)
        out, _ = run_filter(args.redactd, blob, args.extra)
        outs = out.split(SEPARATOR.encode())
        masks = mask.split(SEPARATOR.encode())
        if len(outs) != len(rows) + 1 or len(masks) != len(rows) + 1:
            sys.exit(f"error: a separator line was redacted ({len(outs) - 1} of {len(rows)} left)")
        per = defaultdict(list)
        errors = []
        for f in findings:
            s, e = f["offset"], f["offset"] + f["len"]
            i = max(j for j, st in enumerate(starts) if st <= s)
            limit = starts[i] + len(rows[i]["text"].encode()) + 1
            if e > limit:
                errors.append((rows[i]["_where"], f["rule"]))
            per[i].append(dict(f, offset=s - starts[i]))
        results = []
        for i, row in enumerate(rows):
            data = chunks[i][: -len(SEPARATOR.encode())]
            results.append((data, outs[i], masks[i], per[i]))

    by_source = defaultdict(lambda: Counter())
    misses, fps, excluded, out_caught = [], [], [], []
    for row, (data, out, mask, findings) in zip(rows, results):
        merged = masked_spans(data, mask, findings)
        rules = sorted({f["rule"] for f in findings})
        src = row["source"].split("@")[0] if args.by == "repo" else row["source"]
        c = by_source[src]
        if row["kind"] == "tp":
            spans = byte_spans(row["text"], row["secret_spans"]) if row.get("secret_spans") else None
            caught, status = judge_tp(data, merged, spans)
            if row.get("scope", "in") == "in":
                c["tp"] += 1
                c["caught"] += caught
                if not caught:
                    misses.append((src, row, status, rules, out))
                elif args.show_caught:
                    print(f"caught {row['rule']} by {','.join(rules)}")
            else:
                c["tp_out"] += 1
                c["caught_out"] += caught
                if findings:
                    out_caught.append((src, row, rules))
        else:
            if row.get("excluded"):
                c["excluded"] += 1
                c["excluded_redacted"] += bool(findings)
                excluded.append((src, row, rules, out))
            else:
                c["neg"] += 1
                c["fp"] += bool(findings)
                if findings:
                    fps.append((src, row, rules, out))

    def pct(a, b):
        return f"{100.0 * a / b:.1f}%" if b else "n/a"

    print("== per source ==")
    print(f"{'source':60} {'in-scope TP':>11} {'caught':>7} {'recall':>7} {'negatives':>9} {'FP':>4} {'FP rate':>7}")
    tot = Counter()
    for src in sorted(by_source):
        c = by_source[src]
        tot.update(c)
        print(f"{src:60} {c['tp']:>11} {c['caught']:>7} {pct(c['caught'], c['tp']):>7} {c['neg']:>9} {c['fp']:>4} {pct(c['fp'], c['neg']):>7}")
    print(f"{'total':60} {tot['tp']:>11} {tot['caught']:>7} {pct(tot['caught'], tot['tp']):>7} {tot['neg']:>9} {tot['fp']:>4} {pct(tot['fp'], tot['neg']):>7}")
    print(f"out-of-scope TPs: {tot['tp_out']} ({tot['caught_out']} redacted anyway); "
          f"excluded negatives: {tot['excluded']} ({tot['excluded_redacted']} redacted)")

    def show(label, items):
        print(f"\n== {label}: {len(items)} ==")
        for item in items:
            src, row = item[0], item[1]
            extra = item[2:]
            print(f"-- {src} {row['rule']} ({row['_where']}) {' '.join(str(x) for x in extra if not isinstance(x, bytes))}")
            print("   in : " + row["text"].rstrip("\n").replace("\n", "\n        ")[:600])
            outb = [x for x in extra if isinstance(x, bytes)]
            if outb:
                print("   out: " + outb[0].decode("utf-8", "replace").rstrip("\n").replace("\n", "\n        ")[:600])

    show("in-scope misses", misses)
    show("false positives", fps)
    show("excluded negatives (not counted)", [(s, r, "excluded: " + r["excluded"], ru, o) for s, r, ru, o in excluded])
    if args.verbose:
        show("out-of-scope TPs redacted", out_caught)
    for where, rule in errors:
        print(f"error: {where}: finding of {rule} crosses the example boundary")
    return 1 if errors else 0


# === logs ===


def run_logs(args):
    total_lines = total_hit = 0
    rules_all = Counter()
    for path in args.files:
        with open(path, "rb") as f:
            data = f.read()
        out, findings = run_filter(args.redactd, data, args.extra)
        mask, _ = run_filter(args.redactd, data, args.extra + MASK)
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        hit = sorted({f["line"] for f in findings}
                     | {n for n, (a, b) in enumerate(zip(data.split(b"\n"), mask.split(b"\n")), 1) if a != b})
        rules = Counter(f["rule"] for f in findings)
        rules_all.update(rules)
        total_lines += lines
        total_hit += len(hit)
        per = 100000.0 * len(hit) / lines if lines else 0.0
        print(f"{path}: {lines} lines, {len(hit)} redacted ({per:.2f} per 100k) {dict(rules)}")
        if args.show and hit:
            src_lines = data.split(b"\n")
            out_lines = out.split(b"\n")
            for n in hit:
                print(f"  {n}: {src_lines[n - 1].decode('utf-8', 'replace')[:300]}")
                print(f"  {' ' * len(str(n))}> {out_lines[n - 1].decode('utf-8', 'replace')[:300]}")
    per = 100000.0 * total_hit / total_lines if total_lines else 0.0
    print(f"total: {total_lines} lines, {total_hit} redacted, {per:.2f} per 100,000 lines; by rule {dict(rules_all)}")
    return 0


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("examples", help="recall and FP rate on example suites (JSONL)")
    e.add_argument("files", nargs="+")
    e.add_argument("--isolated", action="store_true", help="one redactd process per example")
    e.add_argument("--show-caught", action="store_true")
    e.add_argument("--verbose", action="store_true", help="also list out-of-scope TPs that were redacted")
    e.add_argument("--by", choices=("repo", "file"), default="repo", help="group figures by repository or by source file")
    l = sub.add_parser("logs", help="lines redacted per 100,000 in clean logs")
    l.add_argument("files", nargs="+")
    l.add_argument("--show", action="store_true", help="print every redacted line, before and after")
    for s in (e, l):
        s.add_argument("--redactd", default=default_binary(), help="redactd binary (default: target/release or target/debug)")
    args = p.parse_args(argv)
    args.extra = extra
    sys.exit(run_examples(args) if args.mode == "examples" else run_logs(args))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Paired runs of one benchmark from two builds: before and after a change.

Runs BEFORE and AFTER alternately (the order flips every pair, so a drift of
the machine hits both alike), each with the same arguments and --json, and
prints per size and figure the median of each side and the median [min-max]
of the per-pair ratios after / before. Understands bench/send_recv (ucoro's
rows) and bench/comm (communicator and endpoint).

  bench/paired.py BEFORE_BIN AFTER_BIN [--pairs N] -- ARGS...
  e.g. bench/paired.py /tmp/old/build/bench/comm build/bench/comm --pairs 7 -- --sizes 8,64K,1M --repeat 1
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile


def figures(doc):
    """{(size, name): value} of the figures ucoro itself produced."""
    out = {}
    for row in doc["rows"]:
        size = row["size"]
        if "system" in row:  # send_recv
            if row["system"] != "ucoro":
                continue
            out[(size, "latency p50 us")] = row["latency_us"]["p50"]
            out[(size, "bandwidth GB/s")] = row["bandwidth_gbps"]["overall"]
        else:  # comm
            for who in ("communicator", "endpoint"):
                out[(size, f"{who} latency us")] = row["latency_us"][who]["median"]
                out[(size, f"{who} bandwidth GB/s")] = row["bandwidth_gbps"][who]["median"]
    return out


def run(binary, args):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        subprocess.run([binary] + args + ["--json", path], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
        with open(path) as f:
            return figures(json.load(f))


def main():
    argv = sys.argv[1:]
    if "--" not in argv or len(argv) < 3:
        sys.exit(__doc__)
    split = argv.index("--")
    own, args = argv[:split], argv[split + 1:]
    before, after = own[0], own[1]
    pairs = int(own[own.index("--pairs") + 1]) if "--pairs" in own else 5
    runs = {"before": [], "after": []}
    for i in range(pairs):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for side in order:
            runs[side].append(run(before if side == "before" else after, args))
    print(f"{pairs} pairs, alternated; ratio = after / before per pair, median [min-max]")
    print(f"{'size':>9}  {'figure':<26} {'before':>10} {'after':>10}  ratio")
    for key in sorted(runs["before"][0]):
        b = [r[key] for r in runs["before"]]
        a = [r[key] for r in runs["after"]]
        ratios = [x / y for x, y in zip(a, b) if y]
        print(f"{key[0]:>9}  {key[1]:<26} {statistics.median(b):>10.4g} {statistics.median(a):>10.4g}  "
              f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")


if __name__ == "__main__":
    main()

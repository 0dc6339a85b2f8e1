#!/usr/bin/env python3
"""Runs roundtrip (3 workers, small chunks, both protocols) and checks its table.

Each run must exit 0 and print the dask-cuda layout: the header rows with the
given values, a total time, and one row per ordered worker pair with three
positive bandwidths and the total bytes (chunks x chunk size). No timing is
asserted.
"""
import re
import subprocess
import sys

binary = sys.argv[1]
failures = []
for protocol in ("ucx", "tcp"):
    run = subprocess.run([binary, "--workers", "3", "--chunks", "4", "--chunk-size", "2MiB",
                          "--protocol", protocol],
                         capture_output=True, text=True, timeout=140)
    print(run.stdout)
    if run.returncode != 0:
        failures.append(f"{protocol}: exit {run.returncode}: {run.stderr}")
        continue
    out = run.stdout
    for needle in ("Roundtrip benchmark", "Chunk-size  | 2.00 MiB", f"Protocol    | {protocol}",
                   "npartitions | 4", "(w1,w2)     | 25% 50% 75% (total nbytes)"):
        if needle not in out:
            failures.append(f"{protocol}: missing '{needle}'")
    if not re.search(r"Total time  \| [0-9.]+ (s|ms|us)", out):
        failures.append(f"{protocol}: no total time")
    rows = re.findall(r"^\((\d\d),(\d\d)\)     \| ([0-9.]+) (\w+)/s ([0-9.]+) \w+/s ([0-9.]+) \w+/s \(([0-9.]+ \w+)\)$",
                      out, re.M)
    pairs = {(a, b) for a, b, *_ in rows}
    expected = {(f"{a:02d}", f"{b:02d}") for a in range(3) for b in range(3) if a != b}
    if pairs != expected:
        failures.append(f"{protocol}: pairs {sorted(pairs)} != {sorted(expected)}")
    for a, b, q25, unit, q50, q75, total in rows:
        if not all(float(x) > 0 for x in (q25, q50, q75)):
            failures.append(f"{protocol}: ({a},{b}) non-positive bandwidth")
        if total != "8.00 MiB":
            failures.append(f"{protocol}: ({a},{b}) total {total}, expected 8.00 MiB (4 x 2 MiB)")
for f in failures:
    print("FAIL:", f)
print(f"roundtrip output: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""Runs bench/all_to_all quickly and checks what it reports (no timing asserted).

The JSON must parse; for 2 and 3 ranks and every size, every ucoro algorithm
must have a positive rate with both buffer kinds, automatic must say what it
ran; with MPI built, both Open MPI configurations must have rows and every
ucoro row a positive finite ratio to the best of them. The --plot PNG must
be a PNG with its data files beside it (gnuplot-nox comes with
scripts/install-deps.sh).
"""
import json
import math
import os
import subprocess
import sys
import tempfile

binary = sys.argv[1]
with_mpi = len(sys.argv) > 2 and sys.argv[2] == "mpi"
failures = []
with tempfile.TemporaryDirectory() as tmp:
    out = f"{tmp}/r.json"
    png = f"{tmp}/r.png"
    proc = subprocess.run([binary, "--ranks", "2,3", "--sizes", "64,64K,1M", "--repeat", "2", "--quick",
                           "--json", out, "--plot", png] + ([] if with_mpi else ["--no-mpi"]),
                          capture_output=True, text=True, timeout=580)
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    if proc.returncode != 0:
        failures.append(f"exit status {proc.returncode}")
    else:
        try:
            with open(png, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    failures.append(f"{png} is not a PNG")
            if len(os.listdir(png + ".data")) < 2 * 3:
                failures.append(f"{png}.data: {os.listdir(png + '.data')}")
        except OSError as e:
            failures.append(f"plot: {e}")
        rows = json.load(open(out))["rows"]
        for ranks in (2, 3):
            for block in (64, 65536, 1048576):
                here = [r for r in rows if r["ranks"] == ranks and r["block"] == block]
                for algorithm in ("automatic", "direct", "pairwise", "bruck", "buffered"):
                    for buffers in ("vector", "pool"):
                        match = [r for r in here if r["system"] == "ucoro " + algorithm and r["buffers"] == buffers]
                        where = f"{ranks} ranks, {block} B, {algorithm}, {buffers}"
                        if len(match) != 1:
                            failures.append(f"{where}: {len(match)} rows")
                            continue
                        g = match[0]["gbps"]
                        if not (isinstance(g["median"], (int, float)) and 0 < g["min"] <= g["median"] <= g["max"]):
                            failures.append(f"{where}: gbps {g}")
                        if algorithm == "automatic" and match[0]["ran"] not in ("direct", "pairwise", "bruck", "buffered"):
                            failures.append(f"{where}: ran '{match[0]['ran']}'")
                        if with_mpi:
                            v = match[0]["ratio_to_best_mpi"]
                            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                                failures.append(f"{where}: ratio {v}")
                if with_mpi:
                    for config in ("Open MPI ob1 alltoall", "Open MPI pml ucx alltoall", "Open MPI ob1 alltoallv"):
                        if not any(r["system"] == config for r in here):
                            failures.append(f"{ranks} ranks, {block} B: no '{config}' row")
for f in failures:
    print("FAIL:", f)
print(f"all_to_all output: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)

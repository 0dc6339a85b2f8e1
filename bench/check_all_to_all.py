#!/usr/bin/env python3
"""Runs bench/all_to_all quickly and checks what it reports (no timing asserted).

The JSON must parse; for 2 and 3 ranks and every size, every ucoro algorithm
must have a positive rate with both buffer kinds, automatic must say what it
ran; the raw-UCX exchange must have a row per buffer kind; with MPI built,
both Open MPI configurations must have rows with both buffer kinds (like for
like) and every ucoro and raw-UCX row a ratio to the best of them, median
within [min, max]. The --plot PNG must be a PNG with its data files beside
it (gnuplot-nox comes with scripts/install-deps.sh). --tls tcp runs ucoro
and Open MPI over tcp and says so.
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
                for algorithm in ("automatic", "direct", "pairwise", "bruck", "buffered", "raw UCX"):
                    for buffers in ("vector", "pool"):
                        system = algorithm if algorithm == "raw UCX" else "ucoro " + algorithm
                        match = [r for r in here if r["system"] == system and r["buffers"] == buffers]
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
                            if not (isinstance(v, dict) and 0 < v["min"] <= v["median"] <= v["max"]
                                    and math.isfinite(v["max"])):
                                failures.append(f"{where}: ratio {v}")
                if with_mpi:
                    for config in ("Open MPI ob1 alltoall", "Open MPI pml ucx alltoall", "Open MPI ob1 alltoallv"):
                        for buffers in ("vector", "pool"):
                            if not any(r["system"] == config and r["buffers"] == buffers for r in here):
                                failures.append(f"{ranks} ranks, {block} B: no '{config}' row on {buffers}")
    tcp = subprocess.run([binary, "--ranks", "2", "--sizes", "4K", "--repeat", "1", "--quick", "--tls", "tcp",
                          "--json", out] + ([] if with_mpi else ["--no-mpi"]),
                         capture_output=True, text=True, timeout=200)
    print(tcp.stdout)
    if tcp.returncode != 0:
        failures.append(f"--tls tcp: exit status {tcp.returncode}")
    else:
        data = json.load(open(out))
        if data.get("tls") != "tcp" or "UCX_TLS=tcp" not in tcp.stdout:
            failures.append("--tls tcp: the run does not say tcp")
        if with_mpi and not any(r["system"] == "Open MPI ob1 tcp alltoall" for r in data["rows"]):
            failures.append("--tls tcp: no 'Open MPI ob1 tcp alltoall' row")
    bad = subprocess.run([binary, "--tls", "rdma"], capture_output=True, text=True, timeout=30)
    if bad.returncode == 0 or "--tls is default or tcp, not 'rdma'" not in bad.stdout + bad.stderr:
        failures.append(f"--tls rdma: exit {bad.returncode}, output {bad.stdout!r} {bad.stderr!r}")
for f in failures:
    print("FAIL:", f)
print(f"all_to_all output: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)

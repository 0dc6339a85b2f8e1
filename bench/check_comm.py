#!/usr/bin/env python3
"""Runs bench/comm on small sizes and checks what it reports (no timing asserted).

The JSON must parse; every size must have positive communicator, endpoint and
ucx_perftest latency and bandwidth medians inside their [min, max]; every
ratio must be a positive finite number; the table must list every size; the
ranks must say how they were launched. With mpirun present, the same through
--launcher mpirun (PMIx) must say PMIx (when ucoro was built with PMIx).
"""
import json
import math
import os
import subprocess
import sys
import tempfile

binary = sys.argv[1]
with_pmix = len(sys.argv) > 2 and sys.argv[2] == "pmix"  # ucoro built with PMIx
failures = []


def run(extra, launcher_text):
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/r.json"
        proc = subprocess.run([binary, "--sizes", "8,64K,1M", "--repeat", "2", "--quick", "--json", out] + extra,
                              capture_output=True, text=True, timeout=280)
        print(proc.stdout)
        print(proc.stderr, file=sys.stderr)
        if proc.returncode != 0:
            failures.append(f"{extra}: exit status {proc.returncode}")
            return
        data = json.load(open(out))
        if launcher_text not in data["launcher"]:
            failures.append(f"{extra}: launcher is '{data['launcher']}', expected '{launcher_text}'")
        rows = data["rows"]
        if [r["size"] for r in rows] != [8, 65536, 1048576]:
            failures.append(f"{extra}: sizes {[r['size'] for r in rows]}")
        for r in rows:
            where = f"{extra} {r['size']} B"
            for figure in ("latency_us", "bandwidth_gbps"):
                for path in ("communicator", "endpoint", "ucx_perftest"):
                    s = r[figure][path]
                    if not all(isinstance(s[k], (int, float)) for k in ("median", "min", "max")) or \
                            not (0 < s["min"] <= s["median"] <= s["max"]):
                        failures.append(f"{where}: {figure} {path} = {s}")
            for key in ("latency_ratio_endpoint", "bandwidth_ratio_endpoint"):
                s = r[key]
                if not (isinstance(s["median"], (int, float)) and 0 < s["median"] and math.isfinite(s["median"])):
                    failures.append(f"{where}: {key} = {s}")
            for key in ("latency_ratio_perftest", "bandwidth_ratio_perftest"):
                v = r[key]
                if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                    failures.append(f"{where}: {key} = {v}")
        for size in ("8 B", "64 KiB", "1 MiB"):
            if size not in proc.stdout:
                failures.append(f"{extra}: table lacks size {size}")


run([], "TCP rendezvous")
if with_pmix and os.path.exists("/usr/bin/mpirun"):
    run(["--launcher", "mpirun"], "PMIx")
for f in failures:
    print("FAIL:", f)
print(f"comm output: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""Runs send_recv on tiny sizes and checks what it reports (no timing asserted).

The JSON must parse; every ucoro row must have positive latency, bandwidth and
message-rate figures; every ucoro / ucx_perftest ratio must be a positive
number; tcp rows must be present; the terminal table must list every size.
The buffers are std::vector unless --buffer host_memory says otherwise, and
the cold first-100 and first-400 figures are there for ucoro and
ucx_perftest, with their ratios.
"""
import json
import math
import subprocess
import sys
import tempfile

binary = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    out = f"{tmp}/r.json"
    run = subprocess.run([binary, "--sizes", "8,4K,256K", "--iters", "200", "--warmup", "20",
                          "--error-handling", "automatic,peer,none", "--repeat", "2", "--json", out, "--no-progress"],
                         capture_output=True, text=True, timeout=280)
    print(run.stdout)
    print(run.stderr, file=sys.stderr)
    failures = []
    if run.returncode != 0:
        failures.append(f"exit status {run.returncode}")
    data = json.load(open(out))
    rows = data["rows"]
    ucoro = [r for r in rows if r["system"] == "ucoro"]
    if len(ucoro) != 9:
        failures.append(f"expected 9 ucoro rows (3 sizes x 3 modes), got {len(ucoro)}")
    for r in ucoro:
        where = f"ucoro {r['size']} B errh={r['error_handling']}"
        for key in ("p25", "p50", "p75", "avg"):
            v = r["latency_us"][key]
            if not (isinstance(v, (int, float)) and v > 0):
                failures.append(f"{where}: latency {key} = {v}")
        for key in ("p50", "overall"):
            v = r["bandwidth_gbps"][key]
            if not (isinstance(v, (int, float)) and v > 0):
                failures.append(f"{where}: bandwidth {key} = {v}")
        for key in ("latency_ratio", "bandwidth_ratio"):
            v = r[key]
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                failures.append(f"{where}: {key} = {v}")
            lo, hi = r[key + "_range"]
            if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo <= v <= hi):
                failures.append(f"{where}: {key} range [{lo}, {hi}] does not hold {v}")
        if r["runs"] != 2:
            failures.append(f"{where}: runs = {r['runs']}, expected 2")
    if data.get("buffer") != "vector":
        failures.append(f"default buffer is {data.get('buffer')}, not vector")
    for r in rows:
        if r["system"] not in ("ucoro", "ucx_perftest"):
            continue
        where = f"{r['system']} {r['size']} B errh={r['error_handling']}"
        for n in ("100", "400"):
            first = r["first"].get(n)
            if first is None or not (isinstance(first["gbps"], (int, float)) and first["gbps"] > 0):
                failures.append(f"{where}: first {n} = {first}")
                continue
            if r["system"] == "ucoro":
                v, (lo, hi) = first.get("ratio"), first.get("ratio_range", (None, None))
                if not (isinstance(v, (int, float)) and isinstance(lo, (int, float)) and isinstance(hi, (int, float))
                        and 0 < lo <= v <= hi):
                    failures.append(f"{where}: first {n} ratio {v} [{lo}, {hi}]")
    if "first 100" not in run.stdout or "first 400" not in run.stdout:
        failures.append("the cold-start table lacks first 100 / first 400")
    if not any(r["system"] == "tcp" for r in rows):
        failures.append("no tcp baseline rows")
    for size in ("8 B", "4 KiB", "256 KiB"):
        if size not in run.stdout:
            failures.append(f"table lacks size {size}")
    # --buffer host_memory is said in the table and the JSON; --first none leaves the cold table out.
    hm = subprocess.run([binary, "--sizes", "4K", "--iters", "200", "--warmup", "20", "--buffer", "host_memory",
                         "--first", "none", "--repeat", "1", "--no-tcp", "--json", out, "--no-progress"],
                        capture_output=True, text=True, timeout=120)
    print(hm.stdout)
    if hm.returncode != 0:
        failures.append(f"--buffer host_memory: exit status {hm.returncode}")
    elif json.load(open(out)).get("buffer") != "host_memory" or "host_memory buffers" not in hm.stdout:
        failures.append("--buffer host_memory is not what the run reports")
    if "cold start" in hm.stdout:
        failures.append("--first none still prints the cold-start table")
    bad = subprocess.run([binary, "--buffer", "huge"], capture_output=True, text=True, timeout=30)
    if bad.returncode == 0 or "--buffer is vector or host_memory, not 'huge'" not in bad.stderr:
        failures.append(f"--buffer huge: exit {bad.returncode}, stderr {bad.stderr!r}")
    # --heartbeat arms the endpoint heartbeat on both sides, and says so.
    beat = subprocess.run([binary, "--sizes", "8", "--iters", "200", "--warmup", "20", "--error-handling", "peer",
                           "--heartbeat", "1000", "--repeat", "1", "--no-perftest", "--no-tcp", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    print(beat.stdout)
    if beat.returncode != 0:
        failures.append(f"--heartbeat 1000: exit status {beat.returncode}")
    if "+ heartbeat (timeout 5000 ms)" not in beat.stdout:
        failures.append("--heartbeat 1000: the endpoint does not report a heartbeat with timeout 5000 ms")
    # --parts 4 adds send_many of a header and 4 parts against the single send, per size, in the table and JSON.
    many = subprocess.run([binary, "--sizes", "64K", "--iters", "100", "--warmup", "16", "--parts", "4",
                           "--first", "none", "--repeat", "2", "--no-perftest", "--no-tcp", "--json", out,
                           "--no-progress"], capture_output=True, text=True, timeout=120)
    print(many.stdout)
    if many.returncode != 0:
        failures.append(f"--parts 4: exit status {many.returncode}")
    else:
        rows = [r for r in json.load(open(out))["rows"] if r["system"] == "ucoro"]
        sm = rows[0].get("send_many") if rows else None
        if not sm or sm.get("parts") != 4 or not (sm["gbps"] > 0 and 0 < sm["time_ratio_range"][0] <= sm["time_ratio"]
                                                   <= sm["time_ratio_range"][1]):
            failures.append(f"--parts 4: the JSON's send_many is {sm}")
        if "send_many: each message a 16-byte header and 4 parts" not in many.stdout:
            failures.append("--parts 4: the table lacks the send_many section")
    for f in failures:
        print("FAIL:", f)
    print(f"send_recv output: {0 if failures else 1} passed, {1 if failures else 0} failed")
    sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""Runs bench/join.py small and checks what it reports (no timing asserted).

With 200k x 200k rows, 1 and 2 ranks, uniform and zipf keys, DuckDB off
(tests make no traffic beyond loopback; scripts/demo.sh runs it with
DuckDB): the first distributed run must be verified, the JSON must have the
local join cold and warm, the anchor baseline when its source is beside the
checkout, a ucoro-join row per configuration with the expected output row
count and positive rates and phases, the M = 4 overlap row with an
efficiency in [0, 1], the ratios, and the broadcast sweep on 2 ranks (six
right-side fractions, each timed both ways); the PNG must be a PNG.
"""
import json
import os
import subprocess
import sys
import tempfile

script, build = sys.argv[1], sys.argv[2]
anchor = os.path.join(os.path.dirname(os.path.abspath(script)), "..", "..", "shared", "anchors", "join_baseline.cpp")
failures = []
with tempfile.TemporaryDirectory() as tmp:
    out, png = f"{tmp}/j.json", f"{tmp}/j.png"
    p = subprocess.run([sys.executable, script, "--build", build, "--rows", "200000", "--ranks", "1,2",
                        "--repeat", "2", "--duckdb", "off", "--json", out, "--plot", png, "--broadcast-sweep", "2"],
                       capture_output=True, text=True, timeout=280)
    print(p.stdout)
    print(p.stderr, file=sys.stderr)
    if p.returncode != 0:
        failures.append(f"exit {p.returncode}")
    else:
        if "verified: 200000 rows" not in p.stdout:
            failures.append("no 'verified: 200000 rows' line")
        report = json.load(open(out))
        rows = report["rows"]
        def find(system, config):
            return [r for r in rows if r["system"] == system and r["config"].startswith(config)]
        for kind in ("cold", "warm"):
            if len(find("ucoro local_join", f"1 core, {kind}")) != 1:
                failures.append(f"local join {kind}: missing")
        if os.path.exists(anchor) and len(find("anchor open addressing (pre-faulted)", "1 core")) != 1:
            failures.append("anchor baseline row missing though its source exists")
        for keys in ("uniform", "zipf:1.1"):
            for ranks in (1, 2):
                got = find("ucoro-join", f"{ranks} rank{'s' if ranks > 1 else ''}, {keys} keys, M=1")
                if len(got) != 1:
                    failures.append(f"{keys}, {ranks} ranks: {len(got)} rows")
                    continue
                r = got[0]
                if not (r["Mrows_s"]["min"] > 0 and r["rows_out"] > 0 and r["build_s"] > 0 and r["probe_s"] >= 0):
                    failures.append(f"{keys}, {ranks} ranks: {r}")
                if keys == "uniform" and r["rows_out"] != 200000:
                    failures.append(f"uniform keys, {ranks} ranks: {r['rows_out']} rows out, expected 200000")
                if ranks == 2 and not (r["shuffle_s"] > 0 and r["shuffle_GBs"] > 0):
                    failures.append(f"{keys}, 2 ranks: no shuffle figures {r}")
        threaded = find("ucoro-join", "1 rank, 2 threads, uniform keys, M=1")
        if len(threaded) != 1 or threaded[0]["rows_out"] != 200000:
            failures.append(f"1 rank, 2 threads: {threaded}")
        sweep = report.get("broadcast_sweep", [])
        if [w["fraction"] for w in sweep] != [0.001, 0.01, 0.03, 0.1, 0.3, 1.0] or \
                not all(w["ranks"] == 2 and w["shuffle_s"]["min"] > 0 and w["broadcast_s"]["min"] > 0 and
                        w["broadcast_over_shuffle"] > 0 for w in sweep):
            failures.append(f"broadcast sweep: {sweep}")
        elif "## Broadcast or shuffle" not in p.stdout:
            failures.append("no broadcast sweep table")
        overlap = find("ucoro-join", "2 ranks, uniform keys, M=4")
        if len(overlap) != 1 or not (0 <= overlap[0]["overlap"] <= 1):
            failures.append(f"overlap row: {overlap}")
        if not any(r["what"].startswith("2 ranks / 1 rank") and r["value"] > 0 for r in report["ratios"]):
            failures.append(f"ratios: {report['ratios']}")
        if not any("DuckDB not run" in n for n in report["notes"]):
            failures.append(f"notes: {report['notes']}")
        try:
            with open(png, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    failures.append("plot is not a PNG")
        except OSError as e:
            failures.append(f"plot: {e}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)

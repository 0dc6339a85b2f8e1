#!/usr/bin/env python3
"""Runs failure_detection once per mode and phase and checks what it reports
(no timing asserted): a row for every mode and phase, a non-negative median
inside its range, and the error each mode documents."""
import json
import subprocess
import sys
import tempfile

binary = sys.argv[1]
expected = {  # docs/failure.md
    "automatic": {"peer process exited"},
    "peer": {"Endpoint timeout", "Connection reset by remote peer"},
    "none": {"peer missed its heartbeat deadline", "Connection reset by remote peer", "Input/output error",
             "Endpoint timeout"},
}
with tempfile.TemporaryDirectory() as tmp:
    out = f"{tmp}/f.json"
    run = subprocess.run([binary, "--repeat", "1", "--json", out], capture_output=True, text=True, timeout=280)
    print(run.stdout)
    print(run.stderr, file=sys.stderr)
    failures = []
    if run.returncode != 0:
        failures.append(f"exit status {run.returncode}")
    rows = json.load(open(out))["rows"]
    if len(rows) != 12:
        failures.append(f"expected 12 rows (3 modes x 4 phases), got {len(rows)}")
    for r in rows:
        where = f"{r['mode']} / {r['phase']}"
        if not 0 <= r["min_ms"] <= r["median_ms"] <= r["max_ms"]:
            failures.append(f"{where}: median {r['median_ms']} outside [{r['min_ms']}, {r['max_ms']}]")
        if not 0 <= r["unarmable"] <= 1:
            failures.append(f"{where}: {r['unarmable']} unarmable workers in 1 kill")
        unexpected = set(r["errors"]) - expected[r["mode"]]
        if unexpected:
            failures.append(f"{where}: unexpected errors {sorted(unexpected)}")
    for f in failures:
        print("FAIL:", f)
    print(f"failure_detection output: {0 if failures else 1} passed, {1 if failures else 0} failed")
    sys.exit(1 if failures else 0)

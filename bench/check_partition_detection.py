#!/usr/bin/env python3
"""Runs bench/partition_detection.sh once and checks what it reports (no timing asserted).

Every fault and phase must have a row, and every row a measured time on each
side that waited for one: a "-" means a side never saw its operation fail
within the script's 30 s bound, which is a detection failure, not noise.
Passes the script's SKIP (77: no root, no ip netns) through.
"""
import subprocess
import sys

script, build_dir = sys.argv[1], sys.argv[2]
proc = subprocess.run(["bash", script, build_dir, "1"], capture_output=True, text=True, timeout=280)
print(proc.stdout)
print(proc.stderr, file=sys.stderr)
if proc.returncode == 77:
    sys.exit(77)
failures = []
if proc.returncode != 0:
    failures.append(f"exit status {proc.returncode}")
rows = {tuple(line.split()[:2]): line.split()[2:] for line in proc.stdout.splitlines()[1:] if line.strip()}
for fault in ("kill", "partition"):
    for phase in ("idle", "streaming"):
        cells = rows.get((fault, phase))
        if cells is None:
            failures.append(f"no row for {fault} {phase}")
            continue
        server = cells[0]
        client = cells[2] if len(cells) > 2 else "-"
        if not server.isdigit():
            failures.append(f"{fault} {phase}: the server side never failed ({server})")
        if fault == "partition" and not client.isdigit():
            failures.append(f"{fault} {phase}: the client side never failed ({client})")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)

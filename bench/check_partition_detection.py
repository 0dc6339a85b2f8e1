#!/usr/bin/env python3
"""Runs `failure_detection --partition --repeat 1` once and checks what it reports (no timing asserted).

Every fault and phase must have a row, and every row a measured time on each
side that waited for one: a "-" means a side never saw its operation fail
within the bench's 30 s bound, which is a detection failure, not noise. The
flapping row must say that every run delivered everything. Passes the
bench's SKIP (77: no root, no ip netns) through.
"""
import subprocess
import sys

bench = sys.argv[1]
proc = subprocess.run([bench, "--partition", "--repeat", "1"], capture_output=True, text=True, timeout=280)
print(proc.stdout)
print(proc.stderr, file=sys.stderr)
if proc.returncode == 77:
    sys.exit(77)
failures = []
if proc.returncode != 0:
    failures.append(f"exit status {proc.returncode}")
lines = proc.stdout.splitlines()
header = next((i for i, line in enumerate(lines) if line.startswith("fault")), None)
rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[header + 1:] if line.strip()} if header is not None else {}
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
        if fault == "partition" and "peer_unresponsive" not in " ".join(cells) and "heartbeat" not in " ".join(cells):
            failures.append(f"{fault} {phase}: the error is not the missed heartbeat: {' '.join(cells)}")
flapping = rows.get(("flapping", "streaming"))
if flapping is None:
    failures.append("no row for flapping streaming")
elif "1 of 1 runs" not in " ".join(flapping):
    failures.append(f"flapping: a run lost or failed something: {' '.join(flapping)}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)

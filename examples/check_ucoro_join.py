#!/usr/bin/env python3
"""ucoro-join against SQLite (Python's sqlite3 module) on the same CSV files.

For 1 and 2 ranks (scripts/launch-local.sh), each how and both algorithms,
the rows of PREFIX.<rank>.csv together, sorted, must equal SQLite's answer;
the header must name the key, the left payloads, then the right ones. Bad
input (a non-integer field, a short line, a missing file) must make every
rank exit non-zero with an error naming the file (and the line), and leave
no PREFIX.*.csv behind.
"""
import glob
import os
import random
import sqlite3
import subprocess
import sys
import tempfile

tool, launch = sys.argv[1], sys.argv[2]
failures = []


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")


def run(ranks, args, timeout=120):
    cmd = ([tool] if ranks == 1 else ["bash", launch, str(ranks), tool]) + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def expected(db, how):
    q = {
        "inner": "SELECT l.k, l.a, l.b, r.c FROM l JOIN r ON l.k = r.k",
        "left": "SELECT l.k, l.a, l.b, r.c FROM l LEFT JOIN r ON l.k = r.k",
        "semi": "SELECT l.k, l.a, l.b FROM l WHERE EXISTS (SELECT 1 FROM r WHERE r.k = l.k)",
        "anti": "SELECT l.k, l.a, l.b FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.k = l.k)",
    }[how]
    return sorted(tuple("" if v is None else str(v) for v in row) for row in db.execute(q))


with tempfile.TemporaryDirectory() as tmp:
    rng = random.Random(7)
    extremes = [-(2**63), 2**63 - 1, -1, 0]
    left = [(rng.choice(extremes) if i % 50 == 0 else rng.randrange(-300, 300), i, -i) for i in range(3000)]
    right = [(rng.choice(extremes) if i % 40 == 0 else rng.randrange(-300, 300), 10 * i) for i in range(2000)]
    lp, rp = f"{tmp}/l.csv", f"{tmp}/r.csv"
    write_csv(lp, ["k", "a", "b"], left)
    write_csv(rp, ["k", "c"], right)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE l (k INTEGER, a INTEGER, b INTEGER)")
    db.execute("CREATE TABLE r (k INTEGER, c INTEGER)")
    db.executemany("INSERT INTO l VALUES (?, ?, ?)", left)
    db.executemany("INSERT INTO r VALUES (?, ?)", right)
    for ranks in (1, 2):
        for how in ("inner", "left", "semi", "anti"):
            for algorithm in ("shuffle", "broadcast"):
                where = f"{ranks} ranks, {how}, {algorithm}"
                prefix = f"{tmp}/out-{ranks}-{how}-{algorithm}"
                p = run(ranks, ["--left", lp, "--right", rp, "--output", prefix, "--how", how,
                                "--algorithm", algorithm, "--over-decomposition", "2"])
                if p.returncode != 0:
                    failures.append(f"{where}: exit {p.returncode}: {p.stderr.strip()}")
                    continue
                files = sorted(glob.glob(prefix + ".*.csv"))
                if len(files) != ranks:
                    failures.append(f"{where}: files {files}")
                    continue
                rows = []
                for name in files:
                    lines = open(name).read().splitlines()
                    want = "k,a,b,c" if how in ("inner", "left") else "k,a,b"
                    if lines[0] != want:
                        failures.append(f"{where}: {name} header '{lines[0]}', expected '{want}'")
                    rows += [tuple(line.split(",")) for line in lines[1:]]
                if sorted(rows) != expected(db, how):
                    failures.append(f"{where}: {len(rows)} rows differ from SQLite's {len(expected(db, how))}")
                if ranks == 1 and how == "inner" and algorithm == "shuffle" and "rows out" not in p.stdout:
                    failures.append(f"{where}: no summary in {p.stdout!r}")

    # Bad input: every rank fails, the error names the file and line, nothing is left.
    bad = f"{tmp}/bad.csv"
    with open(bad, "w") as f:
        f.write("k,x\n")
        for i in range(2000):
            f.write(f"{i},{i}\n" if i != 1500 else "1500,12x\n")
    short = f"{tmp}/short.csv"
    with open(short, "w") as f:
        f.write("k,x\n1,2\n3\n")
    for ranks in (1, 2):
        for path, needle in ((bad, f"{bad}:1502: field 2 ('12x') is not a 64-bit integer"),
                             (short, f"{short}:3: 1 fields, the header has 2"),
                             (f"{tmp}/missing.csv", f"{tmp}/missing.csv: cannot open")):
            prefix = f"{tmp}/bad-{ranks}-{os.path.basename(path)}"
            p = run(ranks, ["--left", path, "--right", rp, "--output", prefix])
            where = f"{ranks} ranks, {os.path.basename(path)}"
            if p.returncode == 0:
                failures.append(f"{where}: exit 0")
            if needle not in p.stderr:
                failures.append(f"{where}: '{needle}' not in {p.stderr!r}")
            if ranks == 2 and p.stderr.count("ucoro-join: error") != 2:
                failures.append(f"{where}: not every rank reported an error: {p.stderr!r}")
            if glob.glob(prefix + "*"):
                failures.append(f"{where}: left {glob.glob(prefix + '*')}")

for f in failures:
    print("FAIL:", f)
print(f"ucoro-join: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)

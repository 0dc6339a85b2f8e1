#!/usr/bin/env python3
"""ucoro-join against SQLite (Python's sqlite3 module) on the same CSV files.

For 1 and 2 ranks (scripts/launch-local.sh), each how and both algorithms,
and 3 ranks for some, the rows of PREFIX.<rank>.csv together, sorted, must
equal SQLite's answer; the header must name the key, the left payloads, then
the right ones. Text keys and payloads with RFC 4180 quoting (commas,
quotes, line breaks inside fields, empty strings, CRLF records) on 1-4
ranks, every how and algorithm, must equal SQLite too; --schema k:text
compares number-like keys as text. Bad input (a field --schema calls int
that is not, a short line, a stray or unterminated quote, a missing file)
must make every rank exit non-zero with an error naming the file (and the
line, counted in the file's lines), and leave no PREFIX.*.csv behind.

Benchmark mode (--generate): on 1, 2 and 3 ranks, every how, uniform and zipf
keys, M = 1 and 2, the distributed result must be `verified` against a
single-process join, with the row count SQLite finds on the same generated
rows (written with --save-csv); bad arguments are refused, naming --help;
--help and -h print the usage with every option. A rank killed
mid-join (generated, and reading and joining 3M x 3M CSV rows) makes every
survivor exit non-zero, naming the failure, in bounded time, and leaves no
complete-looking PREFIX.<rank>.csv. With mpirun (and ucoro built with PMIx): 4 ranks under mpirun for every
how and algorithm, and generated joins on 2 and 4 ranks under mpirun.
"""
import csv
import glob
import os
import re
import signal
import time
import random
import sqlite3
import subprocess
import sys
import tempfile

tool, launch = sys.argv[1], sys.argv[2]
with_pmix = len(sys.argv) > 3 and sys.argv[3] == "pmix"
sys.path.insert(0, os.path.dirname(os.path.abspath(launch)))  # scripts/, beside launch-local.sh
from free_port import unused_fixed_port  # noqa: E402
mpirun = "/usr/bin/mpirun" if with_pmix and os.path.exists("/usr/bin/mpirun") else None
failures = []


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")


def run(ranks, args, timeout=120, launcher="fork"):
    if launcher == "mpirun":  # the communicator bootstraps through PMIx, no MPI linked
        cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", str(ranks), "--mca", "btl", "self,vader",
               "--mca", "pml", "ob1", "--mca", "oob_tcp_if_include", "lo", "-x", "UCX_NET_DEVICES",
               "-x", "UCX_WARN_UNUSED_ENV_VARS", tool] + args
    else:
        cmd = ([tool] if ranks == 1 else ["bash", launch, str(ranks), tool]) + args
    env = dict(os.environ, UCX_NET_DEVICES=os.environ.get("UCX_NET_DEVICES", "lo"), UCX_WARN_UNUSED_ENV_VARS="n")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def output_files(where, p, prefix, ranks):
    """PREFIX.<rank>.csv of a run that must have succeeded on `ranks` ranks, or None (a failure noted)."""
    if p.returncode != 0:
        failures.append(f"{where}: exit {p.returncode}: {p.stderr.strip()}")
        return None
    files = sorted(glob.glob(prefix + ".*.csv"))
    if len(files) != ranks:
        failures.append(f"{where}: files {files}")
        return None
    return files


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
    csv_cases = [(r, h, a, "fork") for r in (1, 2, 3) for h in ("inner", "left", "semi", "anti")
                 for a in ("shuffle", "broadcast") if r != 3 or h in ("inner", "anti")]
    if mpirun:  # 4 ranks under mpirun, every how
        csv_cases += [(4, h, a, "mpirun") for h in ("inner", "left", "semi", "anti") for a in ("shuffle", "broadcast")]
    else:
        print("no mpirun with PMIx: the mpirun cases are not run")
    for ranks, how, algorithm, launcher in csv_cases:
        if True:
                where = f"{ranks} ranks ({launcher}), {how}, {algorithm}"
                prefix = f"{tmp}/out-{ranks}-{how}-{algorithm}-{launcher}"
                p = run(ranks, ["--left", lp, "--right", rp, "--output", prefix, "--how", how,
                                "--algorithm", algorithm, "--over-decomposition", "2"], launcher=launcher)
                files = output_files(where, p, prefix, ranks)
                if files is None:
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

    # Text keys and payloads (RFC 4180 quoting: commas, quotes, line breaks,
    # empty strings; "7" and "007" are different text keys), duplicates, and
    # an integer payload: every how x algorithm on 1-4 forked ranks equals
    # SQLite, the keys compared as text. Most records hold a quoted line
    # break, so the ranks' byte ranges begin inside quotes (a reader that
    # ignored them would start records mid-field).
    pool = ["", "a,b", 'q"q', "line\nbreak", "  spaced ", "\u00e9t\u00e9", "7", "007", "x" * 70] + \
        [f"k{i}" for i in range(300)]
    text_left = [(rng.choice(pool), rng.choice(["", "Ann", 'say "hi"', "two\nlines", f"n{i}\n", f'"{i}"\n,']), i)
                  for i in range(2500)]
    text_right = [(rng.choice(pool), rng.choice(["", "book", "pen, blue\nred", f"item\n{i}"])) for i in range(1800)]
    tlp, trp = f"{tmp}/tl.csv", f"{tmp}/tr.csv"
    for path, header, rows in ((tlp, ["k", "a", "b"], text_left), (trp, ["k", "c"], text_right)):
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n" if path == trp else "\n")  # CRLF records too
            w.writerow(header)
            w.writerows(rows)
    tdb = sqlite3.connect(":memory:")
    tdb.execute("CREATE TABLE l (k TEXT, a TEXT, b INTEGER)")
    tdb.execute("CREATE TABLE r (k TEXT, c TEXT)")
    tdb.executemany("INSERT INTO l VALUES (?, ?, ?)", text_left)
    tdb.executemany("INSERT INTO r VALUES (?, ?)", text_right)
    text_cases = 0
    for ranks in (1, 2, 3, 4):
        for how in ("inner", "left", "semi", "anti"):
            for algorithm in ("shuffle", "broadcast", "broadcast-left"):
                if algorithm == "broadcast-left" and how != "inner":
                    continue
                where = f"text keys, {ranks} ranks, {how}, {algorithm}"
                prefix = f"{tmp}/text-{ranks}-{how}-{algorithm}"
                text_cases += 1
                p = run(ranks, ["--left", tlp, "--right", trp, "--output", prefix, "--how", how, "--algorithm",
                                algorithm.split("-")[0]] + (["--broadcast-side", "left"] if "left" in algorithm else []))
                files = output_files(where, p, prefix, ranks)
                if files is None:
                    continue
                rows = []
                for name in files:
                    with open(name, newline="") as f:
                        records = list(csv.reader(f))
                    want = ["k", "a", "b", "c"] if how in ("inner", "left") else ["k", "a", "b"]
                    if records[0] != want:
                        failures.append(f"{where}: {name} header {records[0]}, expected {want}")
                    rows += [tuple(r) for r in records[1:]]
                if sorted(rows) != expected(tdb, how):
                    failures.append(f"{where}: {len(rows)} rows differ from SQLite's {len(expected(tdb, how))}")
                if ranks == 1 and how == "inner" and "text keys" not in p.stdout:
                    failures.append(f"{where}: the summary does not say the keys are text: {p.stdout!r}")
                if ranks > 1 and algorithm == "broadcast-left" and "broadcast the left side" not in p.stdout:
                    failures.append(f"{where}: the summary does not say the left side was broadcast: {p.stdout!r}")
    # --schema: integer-looking keys compared as text ("7" and "07" differ),
    # and a column it calls int that is not.
    sl, sr = f"{tmp}/sl.csv", f"{tmp}/sr.csv"
    write_csv(sl, ["k", "a"], [("7", 1), ("07", 2), ("8", 3)])
    write_csv(sr, ["k", "c"], [("07", 10), ("8", 20)])
    for schema, want in (("k:text", [("07", "2", "10"), ("8", "3", "20")]),
                         ("", [("7", "1", "10"), ("7", "2", "10"), ("8", "3", "20")])):
        prefix = f"{tmp}/schema-{schema.replace(':', '')}"
        p = run(2, ["--left", sl, "--right", sr, "--output", prefix] + (["--schema", schema] if schema else []))
        got = []
        for name in sorted(glob.glob(prefix + ".*.csv")):
            with open(name, newline="") as f:
                got += [tuple(r) for r in list(csv.reader(f))[1:]]
        if p.returncode != 0 or sorted(got) != want:
            failures.append(f"--schema '{schema}': exit {p.returncode}, rows {sorted(got)}, expected {want}: {p.stderr}")

    # Either side empty (a header and no rows): every how on 1 and 3 ranks equals SQLite's
    # answer (no rows, or every left row unmatched).
    empty = f"{tmp}/empty.csv"
    write_csv(empty, ["k", "e"], [])
    edb = sqlite3.connect(":memory:")
    edb.execute("CREATE TABLE l (k INTEGER, a INTEGER, b INTEGER)")
    edb.execute("CREATE TABLE r (k INTEGER, c INTEGER)")
    edb.executemany("INSERT INTO l VALUES (?, ?, ?)", left)
    for ranks in (1, 3):
        for how in ("inner", "left", "anti"):
            for side in ("left", "right"):
                where = f"empty {side} side, {ranks} ranks, {how}"
                prefix = f"{tmp}/empty-{side}-{ranks}-{how}"
                p = run(ranks, ["--left", empty if side == "left" else lp, "--right", empty if side == "right" else rp,
                                "--output", prefix, "--how", how])
                rows = []
                for name in sorted(glob.glob(prefix + ".*.csv")):
                    rows += [tuple(line.split(",")) for line in open(name).read().splitlines()[1:]]
                want = [] if side == "left" else expected(edb, how)
                if p.returncode != 0 or sorted(rows) != want:
                    failures.append(f"{where}: exit {p.returncode}, {len(rows)} rows, expected {len(want)}: {p.stderr}")

    # Bad input: every rank fails, the error names the file and line, nothing is left.
    bad = f"{tmp}/bad.csv"
    with open(bad, "w") as f:
        f.write("k,x\n")
        for i in range(2000):
            f.write(f"{i},{i}\n" if i != 1500 else "1500,12x\n")
    short = f"{tmp}/short.csv"
    with open(short, "w") as f:
        f.write("k,x\n1,2\n3\n")
    # Records with a quoted line break (two lines each) before the bad one:
    # the line named is the file's, not the record's number.
    stray = f"{tmp}/stray.csv"
    with open(stray, "w") as f:
        f.write("k,x\n")
        for i in range(1500):
            f.write(f'{i},"two\nlines"\n' if i != 1200 else '1200,ab"c\n')
    unterminated = f"{tmp}/unterminated.csv"
    with open(unterminated, "w") as f:
        f.write('k,x\n1,2\n2,"open\n3,4\n')
    for ranks in (1, 2):
        for path, needle, extra in ((bad, f"{bad}:1502: field 2 ('12x') is not a 64-bit integer", ["--schema", "x:int"]),
                                    (short, f"{short}:3: 1 fields, the header has 2", []),
                                    (stray, f"{stray}:2402: field 2: a quote inside a field that does not start with one", []),
                                    (unterminated, f"{unterminated}:3: field 2: a quoted field runs to the end of the file", []),
                                    (f"{tmp}/missing.csv", f"{tmp}/missing.csv: cannot open", [])):
            prefix = f"{tmp}/bad-{ranks}-{os.path.basename(path)}"
            p = run(ranks, ["--left", path, "--right", rp, "--output", prefix] + extra)
            where = f"{ranks} ranks, {os.path.basename(path)}"
            if p.returncode == 0:
                failures.append(f"{where}: exit 0")
            if needle not in p.stderr:
                failures.append(f"{where}: '{needle}' not in {p.stderr!r}")
            if ranks == 2 and p.stderr.count("ucoro-join: error") != 2:
                failures.append(f"{where}: not every rank reported an error: {p.stderr!r}")
            if glob.glob(prefix + "*"):
                failures.append(f"{where}: left {glob.glob(prefix + '*')}")

    # Benchmark mode: generated rows, verified against a single-process join.
    def generated(ranks, args, where, sqlite_rows=None, launcher="fork"):
        p = run(ranks, args + ["--verify"], timeout=240, launcher=launcher)
        if p.returncode != 0:
            failures.append(f"{where}: exit {p.returncode}: {p.stderr.strip()}")
            return
        m = re.search(r"^verified: (\d+) rows", p.stdout, re.M)
        s = re.search(r"^summary ucoro_join .*rows_out=(\d+)", p.stdout, re.M)
        if not m or not s or m.group(1) != s.group(1):
            failures.append(f"{where}: no matching verified/summary lines in {p.stdout!r}")
        elif sqlite_rows is not None and int(m.group(1)) != sqlite_rows:
            failures.append(f"{where}: {m.group(1)} rows, SQLite finds {sqlite_rows}")

    for keys in ("uniform", "zipf:1.2"):
        data = f"{tmp}/gen-{keys.replace(':', '')}"
        shape = ["--generate", "3000x2000", "--keys", keys, "--match", "0.7", "--seed", "5"]
        p = run(1, shape + ["--save-csv", data])
        if p.returncode != 0:
            failures.append(f"--save-csv {keys}: exit {p.returncode}: {p.stderr.strip()}")
            continue
        gdb = sqlite3.connect(":memory:")
        gdb.execute("CREATE TABLE l (k INTEGER, lv INTEGER)")
        gdb.execute("CREATE TABLE r (k INTEGER, rv INTEGER)")
        for table, path in (("l", data + ".left.csv"), ("r", data + ".right.csv")):
            lines = open(path).read().splitlines()
            gdb.executemany(f"INSERT INTO {table} VALUES (?, ?)", (tuple(int(v) for v in line.split(",")) for line in lines[1:]))
        counts = {
            "inner": "SELECT count(*) FROM l JOIN r ON l.k = r.k",
            "left": "SELECT count(*) FROM l LEFT JOIN r ON l.k = r.k",
            "semi": "SELECT count(*) FROM l WHERE EXISTS (SELECT 1 FROM r WHERE r.k = l.k)",
            "anti": "SELECT count(*) FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.k = l.k)",
        }
        for ranks in (1, 2, 3):
            for how in ("inner", "left", "semi", "anti"):
                if ranks != 2 and how in ("left", "semi"):
                    continue
                for m in ("1", "2"):
                    want = gdb.execute(counts[how]).fetchone()[0]
                    generated(ranks, shape + ["--how", how, "--algorithm", "shuffle", "--over-decomposition", m],
                              f"generate {keys}, {ranks} ranks, {how}, M={m}", want)
        generated(2, shape + ["--algorithm", "broadcast"], f"generate {keys}, 2 ranks, broadcast",
                  gdb.execute(counts["inner"]).fetchone()[0])
        if mpirun:
            for ranks in (2, 4):
                generated(ranks, shape + ["--over-decomposition", "2", "--algorithm", "shuffle"],
                          f"generate {keys}, {ranks} ranks under mpirun", gdb.execute(counts["inner"]).fetchone()[0],
                          launcher="mpirun")

    # Generated rows at 200k x 200k, row by row: the CSV files --save-csv
    # writes, joined on 2 and 4 ranks, equal SQLite's rows.
    big_gen = f"{tmp}/gen200k"
    p = run(1, ["--generate", "200000x200000", "--keys", "zipf:1.1", "--match", "0.8", "--seed", "9",
                "--save-csv", big_gen])
    if p.returncode != 0:
        failures.append(f"--save-csv 200k: exit {p.returncode}: {p.stderr.strip()}")
    else:
        bdb = sqlite3.connect(":memory:")
        bdb.execute("CREATE TABLE l (k INTEGER, a INTEGER)")
        bdb.execute("CREATE TABLE r (k INTEGER, c INTEGER)")
        for table, path in (("l", big_gen + ".left.csv"), ("r", big_gen + ".right.csv")):
            with open(path) as f:
                next(f)
                bdb.executemany(f"INSERT INTO {table} VALUES (?, ?)", (tuple(int(v) for v in line.split(",")) for line in f))
        bdb.execute("CREATE INDEX rk ON r (k)")
        big_queries = {
            "inner": "SELECT l.k, l.a, r.c FROM l JOIN r ON l.k = r.k",
            "left": "SELECT l.k, l.a, r.c FROM l LEFT JOIN r ON l.k = r.k",
            "anti": "SELECT l.k, l.a FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.k = l.k)",
        }
        for ranks in (2, 4):
            for how, query in big_queries.items():
                where = f"generated 200k x 200k, {ranks} ranks, {how}"
                prefix = f"{tmp}/gen200k-{ranks}-{how}"
                p = run(ranks, ["--left", big_gen + ".left.csv", "--right", big_gen + ".right.csv", "--output", prefix,
                                "--how", how], timeout=240)
                if p.returncode != 0:
                    failures.append(f"{where}: exit {p.returncode}: {p.stderr.strip()}")
                    continue
                rows = []
                for name in sorted(glob.glob(prefix + ".*.csv")):
                    with open(name) as f:
                        next(f)
                        rows += [tuple(line.rstrip("\n").split(",")) for line in f]
                want = sorted(tuple("" if v is None else str(v) for v in row) for row in bdb.execute(query))
                if sorted(rows) != want:
                    failures.append(f"{where}: {len(rows)} rows differ from SQLite's {len(want)}")

    for args, needle in ((["--generate", "10x"], "expected LEFTxRIGHT"),
                         (["--generate", "10x10", "--keys", "zipf:0"], "zipf exponent"),
                         (["--generate", "10x10", "--match", "2"], "--match 2"),
                         (["--generate", "10x10", "--left", lp], "no --left"),
                         (["--left", lp, "--right", rp, "--output", f"{tmp}/x", "--verify"], "go with --generate"),
                         (["--how", "outer"], "--how: outer not in {inner,left,semi,anti}"),
                         (["--threads", "0"], "--threads: Value 0 not in range 1 to 1024"),
                         (["--schema", "k:float"], "'k:float' is not NAME:int or NAME:text"),
                         (["--broadcast-side", "middle"], "--broadcast-side: middle not in {auto,left,right}")):
        p = run(1, args)
        if p.returncode == 0 or needle not in p.stderr:
            failures.append(f"{args}: exit {p.returncode}, '{needle}' not in {p.stderr!r}")
    for flag in ("--help", "-h"):
        p = subprocess.run([tool, flag], capture_output=True, text=True, timeout=30)
        missing = [o for o in ("usage: ucoro-join", "--left", "--right", "--output", "--how", "--algorithm",
                               "--over-decomposition", "--threads", "--broadcast-side", "--schema", "--generate", "--keys", "--match", "--seed",
                               "--repeat", "--verify", "--save-csv") if o not in p.stdout]
        if p.returncode != 0 or missing or p.stderr:
            failures.append(f"{flag}: exit {p.returncode}, missing {missing}, stderr {p.stderr!r}")
    p = subprocess.run([tool, "--bogus"], capture_output=True, text=True, timeout=30)
    if p.returncode == 0 or "unknown argument '--bogus' (ucoro-join --help lists them)" not in p.stderr:
        failures.append(f"--bogus: exit {p.returncode}, {p.stderr!r}")
    p = run(2, ["--generate", "10x10", "--save-csv", f"{tmp}/two"])
    if p.returncode == 0 or p.stderr.count("run it on one rank") != 2:
        failures.append(f"--save-csv on 2 ranks: exit {p.returncode}, {p.stderr!r}")

    # A rank killed mid-join: the survivors fail, say so, and stop by themselves.
    def start_ranks(args, env):
        return [subprocess.Popen([tool] + args, env=dict(env, UCORO_RANK=str(r)), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for r in range(3)]

    def kill_rank_2(procs, what, needle):
        """SIGKILLs rank 2; ranks 0 and 1 must exit non-zero within 60 s, matching `needle`."""
        procs[2].send_signal(signal.SIGKILL)
        for r in (0, 1):
            try:
                _, err = procs[r].communicate(timeout=60)
            except subprocess.TimeoutExpired:
                procs[r].kill()
                procs[r].communicate()
                failures.append(f"{what}: rank {r} still running 60 s after rank 2 was killed")
                continue
            if procs[r].returncode == 0 or "ucoro-join: error" not in err or not re.search(needle, err):
                failures.append(f"{what}: rank {r} exit {procs[r].returncode}, stderr {err!r}")
        procs[2].communicate()

    port = unused_fixed_port()
    env = dict(os.environ, UCORO_SIZE="3", UCORO_ROOT=f"127.0.0.1:{port}", UCORO_JOB=f"kill-{os.getpid()}")
    procs = start_ranks(["--generate", "400000x400000", "--algorithm", "shuffle", "--repeat", "100000"], env)
    started = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not started:  # rank 0 prints a line per finished join
        line = procs[0].stdout.readline()
        started = line.startswith("run ucoro_join")
        if not line:
            break
    if not started:
        failures.append("kill test: the joins never started")
    time.sleep(0.05)  # behaviour under test: the kill lands inside a join, not between joins
    # A survivor names a failed rank: rank 2, or the other survivor when that one
    # left first (having seen rank 2 die) while this one waited on it.
    kill_rank_2(procs, "kill test", r"rank [0-2] failed")

    # The same kill during a CSV join: the survivors fail and no PREFIX.<rank>.csv
    # (a complete-looking output) is left, whichever step the kill interrupts.
    big = f"{tmp}/big"
    p = run(1, ["--generate", "3000000x3000000", "--save-csv", big])
    if p.returncode != 0:
        failures.append(f"big CSV: exit {p.returncode}: {p.stderr.strip()}")
    else:
        env["UCORO_JOB"] = f"kill-csv-{os.getpid()}"
        prefix = f"{tmp}/killed"
        procs = start_ranks(["--left", big + ".left.csv", "--right", big + ".right.csv", "--output", prefix], env)
        time.sleep(0.5)  # behaviour under test: the kill lands while the ranks read and join 6 M rows
        kill_rank_2(procs, "CSV kill test", "")
        if procs[2].returncode != -signal.SIGKILL:
            failures.append(f"CSV kill test: rank 2 finished (exit {procs[2].returncode}) before the kill landed")
        left_behind = glob.glob(prefix + ".*.csv")
        if left_behind:
            failures.append(f"CSV kill test: complete-looking outputs left: {left_behind}")

print(f"{len(csv_cases)} CSV joins against SQLite ({sum(1 for c in csv_cases if c[3] == 'mpirun')} under mpirun), "
      f"{text_cases} with text keys")
for f in failures:
    print("FAIL:", f)
print(f"ucoro-join: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""The distributed join benchmark: ucoro against its yardsticks, in one invocation.

    bench/join.py --build BUILD [--rows N] [--ranks 1,2,4] [--keys uniform,zipf:1.1]
                  [--repeat K] [--broadcast-sweep 2,4] [--duckdb DIR|off] [--baseline SRC|off] [--json FILE] [--plot FILE]

Runs, in this order, on N x N rows (default 10M x 10M, int64 key + int64 payload):
  * the local join on one core (BUILD/bench/join_local, cold and warm) and the anchor's
    pre-faulted open-addressing baseline (join_baseline.cpp, compiled here with -O3), same shape;
  * `ucoro-join --generate` on 1, 2 and 4 local ranks (scripts/launch-local.sh), shuffle,
    for each key distribution, 2 ranks with M = 4 (overlap), and 1 rank with 2 threads (the
    same cores as 2 ranks); the first run is verified against a single-process join;
  * DuckDB (node + @duckdb/node-api from DIR) on the same rows (written as CSV by ucoro-join),
    with 1 and 2 threads, materialized (same work as ucoro-join) and aggregated (the anchor's query).
  * with --broadcast-sweep RANKS: the left side fixed, the right side 0.1% to 100% of it,
    shuffle against broadcasting the right side, alternated: where automatic's rule should
    stop broadcasting.
Reports medians [min-max] of K runs and the ratios the issue asks for. Nothing is asserted on
time: bench/check_join.py runs this small and checks the report's shape.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def run(cmd, timeout=1800, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def summary(out, name):
    for line in out.splitlines():
        if line.startswith(f"summary {name} ") or line.startswith(f"summary {name}\t"):
            return line
    raise RuntimeError(f"no 'summary {name}' in:\n{out}")


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s):
    return f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--keys", default="uniform,zipf:1.1")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--duckdb", default=os.path.join(root, "build", "duckdb"),
                    help="a directory with node_modules/@duckdb/node-api, or off")
    ap.add_argument("--baseline", default=os.path.join(root, "..", "shared", "anchors", "join_baseline.cpp"),
                    help="the anchor's join_baseline.cpp, or off")
    ap.add_argument("--broadcast-sweep", default="",
                    help="ranks (e.g. 2,4): also time shuffle against broadcasting the right side for right sides "
                         "of 0.1%%-100%% of the left, alternated, to place automatic's threshold")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    a = ap.parse_args()
    ucoro_join = os.path.join(a.build, "examples", "ucoro-join")
    join_local = os.path.join(a.build, "bench", "join_local")
    launch = os.path.join(root, "scripts", "launch-local.sh")
    env = dict(os.environ, UCX_NET_DEVICES=os.environ.get("UCX_NET_DEVICES", "lo"), UCX_WARN_UNUSED_ENV_VARS="n")
    n = a.rows
    rows = []  # {"system", "config", "threads", "Mrows_s": spread, ...}
    notes = []

    # Local join, one core, against the anchor baseline.
    out = run([join_local, "--rows", str(n), "--repeat", str(a.repeat)], env=env)
    runs = {"cold": [], "warm": []}
    for line in out.splitlines():
        m = re.match(r"run local_join_(cold|warm) .*total_Mrows_s=([\d.]+)", line)
        if m:
            runs[m.group(1)].append(float(m.group(2)))
    for kind in ("cold", "warm"):
        rows.append({"system": "ucoro local_join", "config": f"1 core, {kind}", "threads": 1,
                     "Mrows_s": spread(runs[kind])})
    baseline = None
    if a.baseline != "off" and os.path.exists(a.baseline) and shutil.which("g++"):
        with tempfile.TemporaryDirectory() as tmp:
            exe = os.path.join(tmp, "join_baseline")
            run(["g++", "-std=c++20", "-O3", "-o", exe, a.baseline])
            bout = run([exe, str(n), str(a.repeat)])
        vals = [float(m.group(1)) for m in re.finditer(r"run open_addressing_warm .*total_Mrows_s=([\d.]+)", bout)]
        baseline = spread(vals)
        rows.append({"system": "anchor open addressing (pre-faulted)", "config": "1 core", "threads": 1,
                     "Mrows_s": baseline})
    else:
        notes.append(f"anchor baseline not run ({a.baseline} missing or --baseline off)")

    # The distributed join.
    ranks = [int(r) for r in a.ranks.split(",")]
    keys = a.keys.split(",")
    # (keys, ranks, M, threads per rank): each rank count, then M = 4 (overlap), then one
    # rank with two threads (the same cores as 2 ranks, without the shuffle).
    configs = [(k, r, 1, 1) for k in keys for r in ranks] + [(keys[0], 2, 4, 1)] + \
        [(k, 1, 1, 2) for k in keys]
    first = True
    for k, r, m, t in configs:
        cmd = [launch, str(r), ucoro_join, "--generate", f"{n}x{n}", "--keys", k, "--algorithm", "shuffle",
               "--over-decomposition", str(m), "--threads", str(t), "--repeat", str(a.repeat)] + \
            (["--verify"] if first else [])
        out = run(cmd, env=env)
        if first and not re.search(r"^verified: \d+ rows", out, re.M):
            raise RuntimeError(f"no verified line:\n{out}")
        if first:
            print(next(l for l in out.splitlines() if l.startswith("verified:")))
        first = False
        s = fields(summary(out, "ucoro_join"))
        vals = [float(x.group(1)) for x in re.finditer(r"^run ucoro_join .*total_Mrows_s=([\d.]+)", out, re.M)]
        threads = f", {t} threads" if t > 1 else ""
        row = {"system": "ucoro-join", "config": f"{r} rank{'s' if r > 1 else ''}{threads}, {k} keys, M={m}",
               "threads": r * t, "ranks": r, "keys": k, "M": m, "Mrows_s": spread(vals),
               "per_rank_Mrows_s": statistics.median(vals) / r, "rows_out": int(s["rows_out"])}
        for phase in ("partition_s", "shuffle_s", "build_s", "probe_s", "output_s", "shuffle_GBs", "overlap"):
            row[phase] = float(s[phase])
        rows.append(row)

    # Where broadcasting the smaller side stops paying: the left side fixed at
    # n rows, the right side a fraction of it; shuffle and broadcast (right)
    # alternated run by run, medians of the slowest rank's wall time.
    sweep = []
    for r in [int(x) for x in a.broadcast_sweep.split(",") if x]:
        for fraction in (0.001, 0.01, 0.03, 0.1, 0.3, 1.0):
            right = max(1, int(n * fraction))
            times = {"shuffle": [], "broadcast": []}
            for _ in range(a.repeat):
                for algorithm in ("shuffle", "broadcast"):
                    out = run([launch, str(r), ucoro_join, "--generate", f"{n}x{right}", "--algorithm", algorithm,
                               "--broadcast-side", "right", "--repeat", "2"], env=env)
                    runs = [float(x.group(1)) for x in re.finditer(r"^run ucoro_join rep=\d+ s=([\d.]+)", out, re.M)]
                    times[algorithm].append(runs[-1])  # the warm run (run 0 faults the tables in)
            sweep.append({"ranks": r, "left": n, "right": right, "fraction": fraction,
                          "shuffle_s": spread(times["shuffle"]), "broadcast_s": spread(times["broadcast"]),
                          "broadcast_over_shuffle": statistics.median(times["broadcast"]) /
                          statistics.median(times["shuffle"]),
                          "model_broadcasts": right * r <= 0.5 * (n + right)})  # hash_join_options::broadcast_share

    # DuckDB on the same rows.
    node = shutil.which("node")
    duck = a.duckdb != "off" and node and os.path.isdir(os.path.join(a.duckdb, "node_modules", "@duckdb", "node-api"))
    if duck:
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(a.duckdb, "duckdb_join.mjs")
            shutil.copy(os.path.join(here, "duckdb_join.mjs"), script)
            for k in keys:
                prefix = os.path.join(tmp, "data")
                run([ucoro_join, "--generate", f"{n}x{n}", "--keys", k, "--save-csv", prefix], env=env)
                for t in (1, 2):
                    out = run([node, script, prefix, str(t), str(a.repeat)])
                    for form in ("materialized", "aggregated"):
                        vals = [float(x.group(1)) for x in
                                re.finditer(rf"^run duckdb_{form} .*total_Mrows_s=([\d.]+)", out, re.M)]
                        rows.append({"system": f"DuckDB {form}", "config": f"{t} thread{'s' if t > 1 else ''}, {k} keys",
                                     "threads": t, "keys": k, "Mrows_s": spread(vals),
                                     "rows_out": int(fields(summary(out, f"duckdb_{form}"))["rows_out"])})
    else:
        notes.append("DuckDB not run (--duckdb off)" if a.duckdb == "off" else
                     f"DuckDB not run (node and @duckdb/node-api in {a.duckdb} needed; scripts/demo.sh installs them)")

    # The table.
    print(f"\n## Join, {n:,} x {n:,} int64 key + int64 payload (build + probe rows / time, M rows/s, "
          f"median [min-max] of {a.repeat})\n")
    print("| system | configuration | M rows/s | per rank | partition / shuffle / build / probe / output s | shuffle GB/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        phases = " / ".join(f"{r[p]:.3f}" for p in ("partition_s", "shuffle_s", "build_s", "probe_s", "output_s")) \
            if "partition_s" in r else ""
        per_rank = f"{r['per_rank_Mrows_s']:.1f}" if "per_rank_Mrows_s" in r else ""
        gbs = f"{r['shuffle_GBs']:.2f}" if "shuffle_GBs" in r and r.get("ranks", 1) > 1 else ""
        print(f"| {r['system']} | {r['config']} | {fmt(r['Mrows_s'])} | {per_rank} | {phases} | {gbs} |")

    def med(system, config_start):
        for r in rows:
            if r["system"] == system and r["config"].startswith(config_start):
                return r["Mrows_s"]["median"]
        return None

    ratios = []
    warm = med("ucoro local_join", "1 core, warm")
    if baseline:
        ratios.append(("local join (warm) / anchor open addressing, one core", warm / baseline["median"], "≥ 1.2"))
    for k in keys:
        one, two = med("ucoro-join", f"1 rank, {k}"), med("ucoro-join", f"2 ranks, {k}")
        threaded = med("ucoro-join", f"1 rank, 2 threads, {k}")
        if one and two:
            ratios.append((f"2 ranks / 1 rank ({k} keys)", two / one, "≥ 1.6"))
        if one and threaded:
            ratios.append((f"1 rank, 2 threads / 1 rank ({k} keys)", threaded / one, ""))
        for form in ("materialized", "aggregated"):
            d = med(f"DuckDB {form}", f"2 threads, {k}")
            if threaded and d:
                ratios.append((f"1 rank, 2 threads / DuckDB 2 threads, {form} ({k} keys)", threaded / d,
                               "≥ 3" if form == "materialized" else ""))
        for t, label in ((1, "1 rank / DuckDB 1 thread"), (2, "2 ranks / DuckDB 2 threads")):
            ours = one if t == 1 else two
            for form in ("materialized", "aggregated"):
                d = med(f"DuckDB {form}", f"{t} thread{'s' if t > 1 else ''}, {k}")
                if ours and d:
                    ratios.append((f"{label}, {form} ({k} keys)", ours / d, "≥ 3" if form == "materialized" else ""))
    print("\n| ratio (medians, same invocation) | value | target |\n|---|---|---|")
    for what, v, target in ratios:
        print(f"| {what} | {v:.2f} | {target} |")
    if sweep:
        print(f"\n## Broadcast or shuffle: left {n:,} rows, right a fraction of it (s, median [min-max] of "
              f"{a.repeat} alternated warm runs)\n")
        print("| ranks | right rows | right / left | shuffle s | broadcast (right) s | broadcast / shuffle | "
              "automatic's rule broadcasts |")
        print("|---|---|---|---|---|---|---|")
        for w in sweep:
            print(f"| {w['ranks']} | {w['right']:,} | {w['fraction']:g} | {w['shuffle_s']['median']:.4f} "
                  f"[{w['shuffle_s']['min']:.4f}-{w['shuffle_s']['max']:.4f}] | {w['broadcast_s']['median']:.4f} "
                  f"[{w['broadcast_s']['min']:.4f}-{w['broadcast_s']['max']:.4f}] | "
                  f"{w['broadcast_over_shuffle']:.2f} | {'yes' if w['model_broadcasts'] else 'no'} |")
    overlap = [r for r in rows if r.get("M", 1) > 1]
    for r in overlap:
        print(f"\noverlap efficiency, {r['config']}: {r['overlap']:.2f} (share of the smaller of shuffle and join hidden)")
    for note in notes:
        print(f"note: {note}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows_per_side": n, "repeat": a.repeat, "rows": rows, "broadcast_sweep": sweep,
                       "ratios": [{"what": w, "value": v, "target": t} for w, v, t in ratios], "notes": notes}, f, indent=1)
    if a.plot:
        plot(a.plot, rows, n)


def plot(png, rows, n):
    """A bar chart of the medians with min-max error bars (gnuplot)."""
    if not shutil.which("gnuplot"):
        print("note: gnuplot not found, no plot", file=sys.stderr)
        return
    data = png + ".data"
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "join.dat"), "w") as f:
        for i, r in enumerate(rows):
            label = f"{r['system']}\\n{r['config']}".replace('"', "'")
            s = r["Mrows_s"]
            f.write(f"{i} {s['median']} {s['min']} {s['max']} \"{label}\"\n")
    script = f"""set terminal pngcairo size 1600,700 font ',9'
set output '{png}'
set title 'Join, {n} x {n} rows: M rows/s (median, min-max)'
set style fill solid 0.6
set boxwidth 0.7
set xtics rotate by -35 left
set ylabel 'M rows/s (build + probe rows / time)'
set yrange [0:*]
plot '{data}/join.dat' using 1:2:xtic(5) with boxes notitle, '' using 1:2:3:4 with yerrorbars notitle lc rgb 'black'
"""
    with open(os.path.join(data, "join.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", os.path.join(data, "join.gp")], check=True, timeout=60)


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"bench/join.py: {e}", file=sys.stderr)
        sys.exit(1)

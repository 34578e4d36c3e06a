#!/usr/bin/env python3
"""peakend analyze versus DuckDB and pandas on the same synthetic survey files.

For each size (default 1M and 10M rows of `peakend survey synth --journey
service-hall`), in one run on one machine, with the file in the page cache:

  peakend  `peakend analyze FILE --journey service-hall --format json` (the whole
           peak-end analysis: every mean, interval, co-moment, need, index)
  duckdb   read_csv of the same file, per segment count(*) and avg() of every imp.*
           and sat.* column (what the segment-weighted means are computed from)
  pandas   read_csv + groupby("segment") mean and count of the same columns
  read     `cat FILE > /dev/null`: reading the bytes alone, the floor

Each is timed over --reps runs (wall clock, time.perf_counter); the best and the
median are reported, with ratios of the best times. Writes a markdown table to
--out (default bench/work/results.md) and prints it.

    python3 bench/analyze.py                      # 1M and 10M rows
    python3 bench/analyze.py --rows 100000 --reps 2
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


def timed(fn, reps):
    times = []
    result = None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    p.add_argument("--reps", type=int, default=3, help="runs of peakend, duckdb and read")
    p.add_argument("--pandas-reps", type=int, default=1, help="runs of pandas (slow on 10M)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default=str(ROOT / "bench" / "work"), help="data directory (not committed)")
    p.add_argument("--out", default=None, help="markdown results (default WORK/results.md)")
    p.add_argument("--skip-pandas", action="store_true")
    args = p.parse_args()

    import duckdb
    import pandas as pd

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    print("building peakend (release)...", file=sys.stderr)
    sh(["cargo", "build", "--release", "-p", "peakend"], cwd=ROOT)
    # A copy: the build directory may be shared, and another build must not swap the
    # binary under the benchmark.
    peakend = str(work / "peakend")
    shutil.copy2(target / "release" / "peakend", peakend)
    db = str(work / "bench.db")
    if not Path(db).exists():
        # The demo province gives the synthetic survey its 38 halls.
        sh([peakend, "--db", db, "demo", "--no-serve"], stdout=subprocess.DEVNULL)

    rows_list = [int(r) for r in args.rows.split(",")]
    results = []
    for rows in rows_list:
        csv = work / f"service-hall-{rows}-s{args.seed}.csv"
        if not csv.exists():
            print(f"synthesising {rows} rows...", file=sys.stderr)
            t = time.perf_counter()
            tmp = csv.with_suffix(".tmp")
            sh([peakend, "--db", db, "survey", "synth", "--journey", "service-hall",
                "--rows", str(rows), "--seed", str(args.seed), "-o", str(tmp)])
            tmp.rename(csv)
            print(f"  {time.perf_counter() - t:.1f} s", file=sys.stderr)
        size = csv.stat().st_size
        sh(["cat", str(csv)], stdout=subprocess.DEVNULL)  # into the page cache

        header = csv.open(encoding="utf-8").readline().strip().split(",")
        value_cols = [c for c in header if c.startswith(("imp.", "sat."))]

        def run_peakend():
            out = sh([peakend, "--db", db, "analyze", str(csv), "--journey", "service-hall",
                      "--format", "json"], stdout=subprocess.PIPE).stdout
            return out

        def run_read():
            sh(["cat", str(csv)], stdout=subprocess.DEVNULL)

        aggs = ", ".join(f'avg("{c}") AS "{c}"' for c in value_cols)
        query = f"SELECT segment, count(*) AS n, {aggs} FROM read_csv('{csv}', header = true) GROUP BY segment"

        def run_duckdb():
            con = duckdb.connect()  # in memory; threads default to the cores
            try:
                return con.execute(query).fetchall()
            finally:
                con.close()

        def run_pandas():
            df = pd.read_csv(csv)
            return df.groupby("segment")[value_cols].agg(["mean", "count"])

        print(f"{rows} rows ({size / 2**30:.2f} GiB): timing...", file=sys.stderr)
        read = timed(run_read, args.reps)
        pk = timed(run_peakend, args.reps)
        dk = timed(run_duckdb, args.reps)
        pdx = None if args.skip_pandas else timed(run_pandas, args.pandas_reps)

        # The peers must have read the same rows.
        import json
        respondents = json.loads(pk[2])["respondents"]
        duck_n = sum(r[1] for r in dk[2])
        assert respondents == rows == duck_n, (respondents, rows, duck_n)
        if pdx is not None:
            pandas_n = int(pdx[2][(value_cols[0], "count")].sum())
            assert pandas_n <= rows
        results.append((rows, size, read, pk, dk, pdx))

    def fmt(t):
        return "—" if t is None else f"{t[0]:.2f} ({t[1]:.2f})"

    lines = [
        f"Machine: {machine()}; duckdb {duckdb.__version__}, pandas {pd.__version__}; "
        f"best of {args.reps} (median in brackets), pandas best of {args.pandas_reps}.",
        "",
        "| rows | file | read (cat) s | peakend s | DuckDB s | pandas s | peakend / DuckDB | peakend / pandas | peakend / read |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, size, read, pk, dk, pdx in results:
        lines.append(
            f"| {rows:,} | {size / 2**30:.2f} GiB | {fmt(read)} | {fmt(pk)} | {fmt(dk)} | {fmt(pdx)} "
            f"| {pk[0] / dk[0]:.2f} | {'—' if pdx is None else f'{pk[0] / pdx[0]:.3f}'} | {pk[0] / read[0]:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    out = Path(args.out) if args.out else work / "results.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

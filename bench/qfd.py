#!/usr/bin/env python3
"""The three houses of quality for a province's survey (issue 23): 1,000,000 answers
across 2,000 halls, then the study's three-stage deployment of the built-in service
hall (customer needs × moments, moments × process elements, process elements × quality
parameters), each house weighed by the importances of the one before.

  peakend  the hidden `peakend bench-qfd --responses N --halls H --runs R`: folds and
           analyses the synthetic survey (timed apart), then builds the three houses
           with their column importances R times (`qfd::deploy` + `House::importance`):
           the "after the analysis" time of the issue's goal (< 1 s).
  duckdb   the same deployment as SQL in DuckDB (in process) on the same houses: the
           rows' weights and the relationship cells loaded as tables (not timed), then
           stage 1's column importances (Σ weight × strength by column), which are
           stage 2's row weights, and so on to stage 3, in one query, R times.
  pandas   the same with pandas merges and group-bys, R times.

Each side's stage-3 importances are checked against peakend's (to 1e-9 relative).

    python3 bench/qfd.py                  # the issue's size
    python3 bench/qfd.py --responses 100000 --runs 20

PEAKEND_BIN=path/to/peakend times that binary instead of target/release/peakend.
"""

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ["PEAKEND_BIN"]) if os.environ.get("PEAKEND_BIN") else ROOT / "target" / "release" / "peakend"
STRENGTH = {"9": 9, "3": 3, "1": 1, "strong": 9, "medium": 3, "moderate": 3, "weak": 1,
            "◎": 9, "●": 9, "○": 3, "△": 1, "▲": 1, "强": 9, "中": 3, "弱": 1}


def strength(v):
    if isinstance(v, (int, float)):
        return float(v)
    return float(STRENGTH[str(v).strip().lower()])


def cells(house):
    return [(r["row"], r["column"], strength(r["strength"])) for r in house["relationships"]]


def median_ms(f, runs):
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), max(times), out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--responses", type=int, default=1_000_000)
    p.add_argument("--halls", type=int, default=2000)
    p.add_argument("--runs", type=int, default=50)
    a = p.parse_args()
    import duckdb
    import pandas as pd

    if not BIN.exists():
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    t = time.perf_counter()
    out = subprocess.run(
        [str(BIN), "bench-qfd", "--responses", str(a.responses), "--halls", str(a.halls), "--runs", str(a.runs)],
        check=True, capture_output=True, text=True,
    ).stdout
    wall = time.perf_counter() - t
    r = json.loads(out)
    c = r["cascade"]
    s1, s2, s3 = c["stage1"], c["stage2"], c["stage3"]
    weights = [(row["key"], float(row["weight"])) for row in s1["rows"]]
    expected = {x["key"]: x["absolute"] for x in r["importance"][2]}

    con = duckdb.connect()
    con.execute("CREATE TABLE w1 (row VARCHAR, weight DOUBLE)")
    con.executemany("INSERT INTO w1 VALUES (?, ?)", weights)
    for n, h in ((1, s1), (2, s2), (3, s3)):
        con.execute(f"CREATE TABLE r{n} (row VARCHAR, col VARCHAR, strength DOUBLE)")
        con.executemany(f"INSERT INTO r{n} VALUES (?, ?, ?)", cells(h))
    sql = """
        WITH i1 AS (SELECT r.col AS key, SUM(w.weight * r.strength) AS imp
                    FROM r1 r JOIN w1 w ON w.row = r.row GROUP BY r.col),
             i2 AS (SELECT r.col AS key, SUM(i.imp * r.strength) AS imp
                    FROM r2 r JOIN i1 i ON i.key = r.row GROUP BY r.col),
             i3 AS (SELECT r.col AS key, SUM(i.imp * r.strength) AS imp
                    FROM r3 r JOIN i2 i ON i.key = r.row GROUP BY r.col)
        SELECT key, imp, imp / SUM(imp) OVER () AS share FROM i3 ORDER BY key"""
    duck_med, duck_max, duck = median_ms(lambda: con.execute(sql).fetchall(), a.runs)

    w1 = pd.DataFrame(weights, columns=["row", "weight"])
    rel = [pd.DataFrame(cells(h), columns=["row", "col", "strength"]) for h in (s1, s2, s3)]

    def pandas_deploy():
        w = w1
        for rr in rel:
            m = rr.merge(w, on="row")
            w = (m.assign(weight=m["weight"] * m["strength"]).groupby("col", as_index=False)["weight"].sum()
                 .rename(columns={"col": "row"}))
        w = w.assign(share=w["weight"] / w["weight"].sum())
        return list(zip(w["row"], w["weight"]))

    pd_med, pd_max, pdo = median_ms(pandas_deploy, a.runs)

    for name, got in (("duckdb", {k: v for k, v, _ in duck}), ("pandas", dict(pdo))):
        # A column no row reaches has no cell: 0 in peakend, absent in the peers.
        for k, v in expected.items():
            g = got.get(k, 0.0)
            assert abs(g - v) <= 1e-9 * max(1.0, abs(v)), f"{name}: {k} {g} vs {v}"

    m = r["houses_ms"]["median"]
    print(f"respondents {r['respondents']:,}; fold {r['fold_ms']:.0f} ms, analysis {r['analysis_ms']:.1f} ms "
          f"(peakend run {wall:.1f} s in all)")
    print(f"houses: stage 1 {len(s1['rows'])}×{len(s1['columns'])}, stage 2 {len(s2['rows'])}×{len(s2['columns'])}, "
          f"stage 3 {len(s3['rows'])}×{len(s3['columns'])}; stage-3 importances agree on all three sides")
    print("| side | three houses, median of %d (max) | ratio to peakend |" % a.runs)
    print("|---|---|---|")
    print(f"| peakend `qfd::deploy` + importances | {m:.3f} ms ({r['houses_ms']['max']:.3f}) | 1 |")
    print(f"| DuckDB {duckdb.__version__} SQL | {duck_med:.3f} ms ({duck_max:.3f}) | {duck_med / m:.1f}× slower |")
    print(f"| pandas {pd.__version__} | {pd_med:.3f} ms ({pd_max:.3f}) | {pd_med / m:.1f}× slower |")


if __name__ == "__main__":
    main()

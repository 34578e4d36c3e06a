#!/usr/bin/env python3
"""Compliance of a province (issue 21): --halls halls (default 2,000), a year of daily
automatic checks (the seven the built-in journey makes from device events, every
hall, every day) and a walk audit a week per hall.

  compliance  `peakend compliance --org P` over the year, by standard and by hall
              (the process, its start, the org and journey reads and the survey
              lookup included), median of --reps; and GET /api/v1/compliance of the
              province over one keep-alive connection, p50 and p95 of --requests

Peers, on the same data in the same run:
  sqlite3   Python's sqlite3 on the same database file: the same sums per standard
            and per hall from the per-day table, plain SQL, no index weighting
  duckdb    the same sums over the per-day rows loaded into DuckDB (load not timed)
  pandas    the same groupby over the rows in a DataFrame (load not timed)

The checks are written with plain SQL into the tables the server keeps (`check_day`
and its monthly roll-up `check_month`), as a year of closed days would have left them.

    python3 bench/compliance.py                # the full run
    python3 bench/compliance.py --halls 200    # smaller, while developing
"""

import argparse
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "peakend"
AUTO = [
    ("storefront", "no_closed_counters_peak"),
    ("counter_wait", "system_time"),
    ("queue", "care_after"),
    ("queue", "vip_water"),
    ("self_service", "device_check"),
    ("self_service", "repair_within"),
    ("queue", "show_ahead"),
]
WALK = [("storefront", "clean_radius"), ("storefront", "max_standing_signs"), ("leave", "thank_customer")]


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def machine():
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} cores"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--halls", type=int, default=2000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--work", default=None)
    a = p.parse_args()
    if not BIN.exists():
        sh(["cargo", "build", "--release"], cwd=ROOT)
    work = Path(a.work or tempfile.mkdtemp(prefix="peakend-compliance-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "compliance.db"
    for f in work.glob("compliance.db*"):
        f.unlink()
    pk = lambda *args: sh([str(BIN), "--db", str(db), *args])
    pk("init")
    halls = []
    org = ["id,parent,level,name,counters,kiosks", "P,,province,示范省,,"]
    per_district = max(1, a.halls // 100)
    for c in range(10):
        org.append(f"C{c},P,city,市{c},,")
        for d in range(10):
            org.append(f"D{c}{d},C{c},district,区{c}{d},,")
            for h in range(per_district):
                hid = f"H{c}{d}{h:03d}"
                halls.append(hid)
                org.append(f"{hid},D{c}{d},hall,厅{hid},10,3")
    (work / "org.csv").write_text("\n".join(org) + "\n")
    pk("org", "import", str(work / "org.csv"))
    boss_pw = pk("user", "add", "--name", "boss", "--role", "director", "--org", "P").stdout.strip()

    # A year of closed days: per hall and day the seven automatic checks (a day's
    # once-a-day checks, and hundreds of transactions, care alerts and announced waits),
    # and a walk of three standards every Monday.
    rng = random.Random(21)
    first = date(2025, 12, 1)
    days = [first + timedelta(days=i) for i in range(a.days)]
    last = days[-1]
    t = time.perf_counter()
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous = OFF")
    month = {}
    rows = []

    def flush():
        con.executemany("INSERT INTO check_day VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        rows.clear()

    for hall in halls:
        q = rng.uniform(0.6, 0.98)
        for d in days:
            ds = d.isoformat()
            for moment, std in AUTO:
                made = 1 if std in ("no_closed_counters_peak", "device_check") else rng.randrange(20, 400)
                passed = sum(1 for _ in range(made) if rng.random() < q) if made < 5 else int(made * rng.uniform(q - 0.05, min(1.0, q + 0.05)))
                rows.append((hall, ds, std, moment, "auto", made, passed))
                k = (hall, ds[:7], std, moment, "auto")
                m = month.setdefault(k, [0, 0])
                m[0] += made
                m[1] += passed
            if d.weekday() == 0:
                for moment, std in WALK:
                    passed = 1 if rng.random() < q else 0
                    rows.append((hall, ds, std, moment, "walk", 1, passed))
                    k = (hall, ds[:7], std, moment, "walk")
                    m = month.setdefault(k, [0, 0])
                    m[0] += 1
                    m[1] += passed
        if len(rows) > 200_000:
            flush()
    flush()
    con.executemany("INSERT INTO check_month VALUES (?, ?, ?, ?, ?, ?, ?)", [(*k, v[0], v[1]) for k, v in month.items()])
    con.commit()
    con.execute("ANALYZE")
    n_day = con.execute("SELECT COUNT(*) FROM check_day").fetchone()[0]
    n_month = con.execute("SELECT COUNT(*) FROM check_month").fetchone()[0]
    con.close()
    load_s = time.perf_counter() - t
    print(f"data: {len(halls)} halls, {n_day:,} hall-day-standard rows, {n_month:,} month rows ({load_s:.0f} s)")

    frm, to = first.isoformat(), last.isoformat()

    def cli(by):
        times = []
        out = None
        for _ in range(a.reps):
            t = time.perf_counter()
            out = pk("compliance", "--org", "P", "--from", frm, "--to", to, "--by", by, "--format", "json").stdout
            times.append(time.perf_counter() - t)
        return statistics.median(times), json.loads(out)

    cli_standard, rep = cli("standard")
    cli_hall, rep_hall = cli("hall")
    made, passed = rep["report"]["made"], rep["report"]["passed"]

    # The API over one keep-alive connection.
    proc = subprocess.Popen([str(BIN), "--db", str(db), "serve", "--addr", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    port = int(line.split("http://127.0.0.1:")[1].split()[0])
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", "/api/v1/session", json.dumps({"name": "boss", "password": boss_pw}), {"content-type": "application/json"})
    token = json.loads(c.getresponse().read())["token"]
    api = []
    for i in range(a.requests):
        t = time.perf_counter()
        c.request("GET", f"/api/v1/compliance?org=P&from={frm}&to={to}&by=standard", headers={"authorization": f"Bearer {token}"})
        r = c.getresponse()
        body = r.read()
        api.append(time.perf_counter() - t)
        assert r.status == 200, body[:300]
    proc.terminate()
    proc.wait()

    # Peers on the same rows.
    con = sqlite3.connect(db)

    def sqlite_peer():
        t = time.perf_counter()
        by_std = con.execute(
            "SELECT standard_key, SUM(made), SUM(passed) FROM check_day WHERE day >= ? AND day <= ? GROUP BY standard_key", (frm, to)
        ).fetchall()
        by_hall = con.execute(
            "SELECT hall_id, moment_key, SUM(made), SUM(passed) FROM check_day WHERE day >= ? AND day <= ? GROUP BY hall_id, moment_key", (frm, to)
        ).fetchall()
        return time.perf_counter() - t, by_std, by_hall

    sq = [sqlite_peer() for _ in range(a.reps)]
    sqlite_s = statistics.median(x[0] for x in sq)
    assert sum(r[1] for r in sq[0][1]) == made, "the peer sums what peakend sums"
    import duckdb
    import pandas as pd

    df = pd.read_sql_query("SELECT * FROM check_day", con)
    con.close()
    duck = duckdb.connect()
    duck.register("df", df)
    duck.execute("CREATE TABLE check_day AS SELECT * FROM df")

    def duck_peer():
        t = time.perf_counter()
        duck.execute(
            "SELECT standard_key, SUM(made), SUM(passed) FROM check_day WHERE day >= ? AND day <= ? GROUP BY standard_key", [frm, to]
        ).fetchall()
        duck.execute(
            "SELECT hall_id, moment_key, SUM(made), SUM(passed) FROM check_day WHERE day >= ? AND day <= ? GROUP BY hall_id, moment_key", [frm, to]
        ).fetchall()
        return time.perf_counter() - t

    duck_s = statistics.median(duck_peer() for _ in range(a.reps))

    def pandas_peer():
        t = time.perf_counter()
        sel = df[(df.day >= frm) & (df.day <= to)]
        sel.groupby("standard_key")[["made", "passed"]].sum()
        sel.groupby(["hall_id", "moment_key"])[["made", "passed"]].sum()
        return time.perf_counter() - t

    pandas_s = statistics.median(pandas_peer() for _ in range(a.reps))

    api_p50, api_p95 = pct(api, 50), pct(api, 95)
    lines = [
        f"machine: {machine()}",
        f"data: {len(halls)} halls, {a.days} days {frm}…{to}; {n_day:,} day rows, {n_month:,} month rows; {made:,} checks made, {passed:,} passed",
        "",
        "| what | peakend | sqlite3 (plain SQL) | DuckDB | pandas |",
        "|---|---|---|---|---|",
        f"| compliance of the province over a year, by standard (CLI, whole process) | {cli_standard * 1000:.0f} ms | {sqlite_s * 1000:.0f} ms ({sqlite_s / cli_standard:.2f}×) | {duck_s * 1000:.0f} ms ({duck_s / cli_standard:.2f}×) | {pandas_s * 1000:.0f} ms ({pandas_s / cli_standard:.2f}×) |",
        f"| the same, by hall (league table) | {cli_hall * 1000:.0f} ms | | | |",
        f"| GET /api/v1/compliance (keep-alive) p50 / p95 | {api_p50 * 1000:.0f} / {api_p95 * 1000:.0f} ms | | | |",
        "",
        "Ratios are peer time ÷ peakend time (above 1: peakend faster). The peers sum the",
        "per-day rows without the index's weighting, the month roll-up, the org or the",
        "journey; peakend's figure is the whole command or request.",
    ]
    text = "\n".join(lines)
    print(text)
    (work / "compliance-results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()

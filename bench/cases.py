#!/usr/bin/env python3
"""Service cases at scale (issue 20): a province with --cases cases (default 1,000,000).

  import    `peakend case import` of a hotline export of every case (one transaction)
  inbox     a hall manager's inbox page (/cases) and API list (/api/v1/cases), and a
            director's escalated inbox (after a sweep has escalated --due cases) and
            the province's list, each --requests times over one keep-alive
            connection: p50 and p95
  sweep     `peakend case sweep --at T` when --due cases are past their deadline (the
            process, its start and the org read included)
  kpi       GET /api/v1/cases/kpi of the province over its last 30 days (the page's
            default) and over the whole year, median of --reps

Peers, on the same data in the same run:
  sqlite3   Python's sqlite3 on the same database file: the inbox's SELECT, the sweep's
            reads and writes (next level, new deadline, a timeline row each), and the
            KPI aggregates, as plain SQL with no checks, no rendering, no HTTP
  duckdb    the KPI aggregates over the case table loaded into DuckDB (load not timed)

The cases are imported open; the script then gives them a realistic mix of states
with plain SQL (most closed after a callback, some resolved, some open, --due of them
overdue), as a year of work would have left them.

    python3 bench/cases.py            # the full run (writes WORK/cases-results.md)
    python3 bench/cases.py --cases 100000 --requests 100   # smaller, while developing
"""

import argparse
import http.client
import json
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "peakend"
MOMENTS = ["queue", "counter_talk", "counter_wait", "result", "dispute", "enter", "leave"]


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
    import os

    return f"{cpu}, {os.cpu_count()} cores"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--halls", type=int, default=200)
    p.add_argument("--due", type=int, default=2_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--work", default=None)
    a = p.parse_args()
    if not BIN.exists():
        sh(["cargo", "build", "--release"], cwd=ROOT)
    work = Path(a.work or tempfile.mkdtemp(prefix="peakend-cases-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "cases.db"
    # A copy next to a stale -wal of an earlier run would read that run's writes.
    for pattern in ["cases.db*", "snapshot.db*", "sweep.db*", "peer.db*"]:
        for f in work.glob(pattern):
            f.unlink()
    pk = lambda *args: sh([str(BIN), "--db", str(db), *args])
    pk("init")
    # A province of 4 cities × 5 districts × halls.
    halls = []
    org = ["id,parent,level,name,counters,kiosks", "P,,province,示范省,,"]
    per_district = max(1, a.halls // 20)
    for c in range(4):
        org.append(f"C{c},P,city,市{c},,")
        for d in range(5):
            org.append(f"D{c}{d},C{c},district,区{c}{d},,")
            for h in range(per_district):
                hid = f"H{c}{d}{h:02d}"
                halls.append(hid)
                org.append(f"{hid},D{c}{d},hall,厅{hid},10,3")
    (work / "org.csv").write_text("\n".join(org) + "\n")
    pk("org", "import", str(work / "org.csv"))
    mgr_pw = pk("user", "add", "--name", "mgr", "--role", "hall_manager", "--org", halls[0]).stdout.strip()
    boss_pw = pk("user", "add", "--name", "boss", "--role", "director", "--org", "P").stdout.strip()

    # A hotline export of every case, spread over 2026 (the first hall a little busier).
    rng = random.Random(20)
    t0 = 1767196800  # 2026-01-01T00:00:00+08:00
    with open(work / "cases.csv", "w") as f:
        f.write("hall,opened_at,moment,summary,contact,severity\n")
        for i in range(a.cases):
            hall = halls[0] if i % 100 == 0 else rng.choice(halls)
            at = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(t0 + 8 * 3600 + rng.randrange(364 * 86400)))
            contact = f"138{rng.randrange(10**8):08d}" if rng.random() < 0.4 else ""
            f.write(f"{hall},{at},{rng.choice(MOMENTS)},case {i},{contact},{rng.choice(['low', 'medium', 'high'])}\n")
    t = time.perf_counter()
    pk("case", "import", str(work / "cases.csv"))
    import_s = time.perf_counter() - t

    # A year's work: 96 % closed after a callback, 2 % resolved, 2 % open, of which
    # --due are overdue now (T) and the rest not yet.
    T = 1798732800_000  # 2027-01-01T00:00:00+08:00, ms
    con = sqlite3.connect(db)
    ids = [r[0] for r in con.execute("SELECT id FROM service_case ORDER BY id")]
    rng.shuffle(ids)
    n_open = max(a.due * 2, len(ids) // 50)
    open_ids, resolved_ids, closed_ids = ids[:n_open], ids[n_open:2 * n_open], ids[2 * n_open:]
    con.execute("CREATE TEMP TABLE pick (id INTEGER PRIMARY KEY, k INTEGER)")
    con.executemany("INSERT INTO pick VALUES (?, ?)", [(i, 0) for i in closed_ids] + [(i, 1) for i in resolved_ids])
    con.execute(
        """UPDATE service_case SET state = 'closed', acknowledged_at = opened_at + 1800000,
             resolved_at = opened_at + 86400000, followed_up_at = opened_at + 172800000,
             closed_at = opened_at + 180000000, recovery = 1 + (id % 5), recommend = id % 11,
             callback_due = opened_at + 3 * 86400000, due_at = NULL, version = 5
           WHERE id IN (SELECT id FROM pick WHERE k = 0)"""
    )
    con.execute(
        """UPDATE service_case SET state = 'resolved', acknowledged_at = opened_at + 1800000,
             resolved_at = opened_at + 86400000, callback_due = ? + 86400000, due_at = ? + 86400000, version = 4
           WHERE id IN (SELECT id FROM pick WHERE k = 1)""",
        (T, T),
    )
    due = open_ids[: a.due]
    con.executemany("UPDATE service_case SET due_at = ? WHERE id = ?", [(T - 60_000 - i, i) for i in due])
    con.executemany("UPDATE service_case SET due_at = ? WHERE id = ?", [(T + 3_600_000, i) for i in open_ids[a.due:]])
    con.commit()
    con.execute("ANALYZE")
    con.close()
    snapshot = work / "snapshot.db"
    shutil.copy(db, snapshot)
    # The inboxes are read after a sweep, so the director's escalated inbox has cases.
    sh([str(BIN), "--db", str(db), "case", "sweep", "--at", "2027-01-01T00:00:00+08:00", "--format", "json"])

    # The server, and its clients.
    proc = subprocess.Popen([str(BIN), "--db", str(db), "serve", "--addr", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    port = int(line.split("http://127.0.0.1:")[1].split()[0])

    def session(name, pw):
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("POST", "/api/v1/session", json.dumps({"name": name, "password": pw}), {"content-type": "application/json"})
        return json.loads(c.getresponse().read())["token"]

    tokens = {"mgr": session("mgr", mgr_pw), "boss": session("boss", boss_pw)}

    def timed_get(user, path, n):
        c = http.client.HTTPConnection("127.0.0.1", port)
        hdr = {"authorization": f"Bearer {tokens[user]}"}
        times = []
        for _ in range(n):
            t = time.perf_counter()
            c.request("GET", path, headers=hdr)
            r = c.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t) * 1000)
            assert r.status == 200, (path, r.status, body[:300])
        return times

    results = []
    for user, path in [
        ("mgr", "/cases"),
        ("mgr", "/api/v1/cases"),
        ("boss", "/cases?inbox=escalated"),
        ("boss", "/api/v1/cases?inbox=all"),
    ]:
        timed_get(user, path, 10)  # warm
        xs = timed_get(user, path, a.requests)
        results.append((f"inbox {user} {path}", pct(xs, 50), pct(xs, 95)))
    kpi_ms = {}
    for label, frm in [("30 days", "2026-12-02"), ("a year", "2026-01-01")]:
        kpi_path = f"/api/v1/cases/kpi?org=P&from={frm}&to=2026-12-31"
        timed_get("boss", kpi_path, 1)
        kpi_ms[label] = statistics.median(timed_get("boss", kpi_path, a.reps))
    proc.terminate()
    proc.wait()

    # Peer: the inbox's SELECT on the same file.
    con = sqlite3.connect(snapshot)
    q = """SELECT * FROM service_case WHERE hall_id IN (?) AND state IN ('open','acknowledged','investigating','resolved')
           ORDER BY id DESC LIMIT 50"""
    ts = []
    for _ in range(a.requests):
        t = time.perf_counter()
        con.execute(q, (halls[0],)).fetchall()
        ts.append((time.perf_counter() - t) * 1000)
    peer_inbox = pct(ts, 95)
    # Peer: the KPI aggregates in plain SQL.
    agg = """SELECT source, moment_key, COUNT(*),
               SUM(acknowledged_at <= acknowledge_due), SUM(resolved_at <= resolve_due),
               SUM(followed_up_at <= callback_due), AVG(recovery)
             FROM service_case WHERE opened_at >= ? AND opened_at < ? GROUP BY source, moment_key"""
    med = "SELECT (acknowledged_at - opened_at) / 60000 AS m, COUNT(*) FROM service_case WHERE opened_at >= ? AND opened_at < ? AND acknowledged_at IS NOT NULL GROUP BY m"
    windows = {"30 days": ((t0 + 335 * 86400) * 1000, (t0 + 365 * 86400) * 1000), "a year": (t0 * 1000, (t0 + 365 * 86400) * 1000)}

    def sqlite_kpi(lo, hi):
        con.execute(agg, (lo, hi)).fetchall()
        con.execute(med, (lo, hi)).fetchall()
        con.execute(med.replace("acknowledged_at", "resolved_at"), (lo, hi)).fetchall()

    peer_kpi_sqlite = {}
    for label, (lo, hi) in windows.items():
        ts = []
        for _ in range(a.reps):
            t = time.perf_counter()
            sqlite_kpi(lo, hi)
            ts.append((time.perf_counter() - t) * 1000)
        peer_kpi_sqlite[label] = statistics.median(ts)
    import duckdb
    import pandas as pd

    df = pd.read_sql_query("SELECT id, source, moment_key, opened_at, acknowledge_due, resolve_due, callback_due, acknowledged_at, resolved_at, followed_up_at, recovery FROM service_case", con)
    dk = duckdb.connect()
    dk.register("service_case", df)
    dk.execute("CREATE TABLE c AS SELECT * FROM service_case")
    dagg = agg.replace("service_case", "c").replace("?", "{}")
    dmed = med.replace("service_case", "c").replace("?", "{}")

    def duck_kpi(lo, hi):
        dk.execute(dagg.format(lo, hi)).fetchall()
        dk.execute(dmed.format(lo, hi)).fetchall()
        dk.execute(dmed.replace("acknowledged_at", "resolved_at").format(lo, hi)).fetchall()

    peer_kpi_duck = {}
    for label, (lo, hi) in windows.items():
        duck_kpi(lo, hi)
        ts = []
        for _ in range(a.reps):
            t = time.perf_counter()
            duck_kpi(lo, hi)
            ts.append((time.perf_counter() - t) * 1000)
        peer_kpi_duck[label] = statistics.median(ts)
    con.close()

    # The sweep, on copies of the snapshot: peakend, then the plain-SQL peer.
    sweep_db = work / "sweep.db"
    shutil.copy(snapshot, sweep_db)
    t = time.perf_counter()
    out = sh([str(BIN), "--db", str(sweep_db), "case", "sweep", "--at", "2027-01-01T00:00:00+08:00", "--format", "json"])
    sweep_s = time.perf_counter() - t
    swept = len(json.loads(out.stdout))
    peer_db = work / "peer.db"
    shutil.copy(snapshot, peer_db)
    con = sqlite3.connect(peer_db)
    parent = dict(con.execute("SELECT id, parent_id FROM org_node"))
    t = time.perf_counter()
    rows = con.execute("SELECT id, level_id, due_at FROM service_case WHERE due_at <= ? ORDER BY due_at LIMIT 5000", (T,)).fetchall()
    con.executemany(
        "UPDATE service_case SET level_id = ?, due_at = ?, escalations = escalations + 1, version = version + 1 WHERE id = ?",
        [(parent[lvl], due + 7_200_000, i) for i, lvl, due in rows],
    )
    con.executemany(
        "INSERT INTO case_event (case_id, at, actor, kind, note) VALUES (?, ?, 'system', 'escalated', 'x')",
        [(i, T) for i, _, _ in rows],
    )
    con.commit()
    peer_sweep_s = time.perf_counter() - t
    con.close()

    out = [
        f"Machine: {machine()}. {a.cases:,} cases in {len(halls)} halls; {a.requests} requests per inbox over one keep-alive connection.",
        "",
        "| figure | peakend | peer | ratio |",
        "|---|---|---|---|",
        f"| import of {a.cases:,} cases (`peakend case import`) | {import_s:.1f} s | – | – |",
    ]
    for name, p50, p95 in results:
        out.append(f"| {name}: p50 / p95 | {p50:.1f} / {p95:.1f} ms | sqlite3 SELECT p95 {peer_inbox:.2f} ms | {p95 / peer_inbox:.0f}× |")
    out.append(f"| sweep of {swept:,} overdue cases (whole process) | {sweep_s * 1000:.0f} ms | sqlite3 {peer_sweep_s * 1000:.0f} ms | {sweep_s / peer_sweep_s:.1f}× |")
    for label in windows:
        k, ps, pd_ = kpi_ms[label], peer_kpi_sqlite[label], peer_kpi_duck[label]
        out.append(f"| case KPIs of the province, {label} | {k:.0f} ms | sqlite3 {ps:.0f} ms · DuckDB {pd_:.0f} ms | {k / ps:.1f}× · {k / pd_:.0f}× |")
    text = "\n".join(out) + "\n"
    (work / "cases-results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())

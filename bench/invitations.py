#!/usr/bin/env python3
"""A province's day of survey invitations (issue 22): --visits ended visits (default
500,000) of --halls halls (default 2,000), decided by the province's rule (30 %
sample, weekly quotas on four segment × purpose cells, 30 days' suppression, quiet
hours 21:00-08:00), after --history days of the same load already decided.

  peakend  the hidden `peakend --db DB bench-invitations FILE --batch N`: first what a
           running server's decider remembers (read once at its start, timed apart:
           "warm-up"), then the day's contacts queued (not timed: the ingest queues
           them in its own transactions) and drained by `decide_pending`, N a
           transaction, as the server's decider does, each at its batch's latest end: the
           lookups (decided before, opted out, last invited, the quota cells' week),
           the decisions, the invitation rows and their outbox rows (the invite; since
           migration 0040 its reminder is made when the invite has left, by the sender's
           acknowledgement, not here), one transaction a batch. The file is read
           before the clock starts.
  duckdb   the same decision as set-based SQL in DuckDB on the same contacts, batch by
           batch (load not timed): the sample draw (the same SHA-256 of the contact id),
           decided-before anti-join, opt-outs, the customer's last invitation within
           30 days, the first of a customer's contacts in the batch, the quota rank per
           cell and ISO week, quiet hours, and the inserts of invitations and outbox rows
           (invite and reminder, as peakend did before 0040).

Both sides decide the history days first (not timed), then the measured day; the
counts of each side are printed so one can see they did the same work (the SQL peer
is a close approximation: a contact blocked by a full quota cell does not let the
customer's later contact of the batch through, as peakend's sequential rule does).

    python3 bench/invitations.py                          # the issue's size, SQLite
    createdb -h 127.0.0.1 -U postgres peakend_bench
    python3 bench/invitations.py --pg postgres://postgres@127.0.0.1:5432/peakend_bench
    python3 bench/invitations.py --visits 50000 --halls 200 --history 2

PEAKEND_BIN=path/to/peakend times that binary instead of target/release/peakend.
"""

import argparse
import csv
import hashlib
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ["PEAKEND_BIN"]) if os.environ.get("PEAKEND_BIN") else ROOT / "target" / "release" / "peakend"
ZONE = timezone(timedelta(hours=8))
SEGMENTS = [("全球通", 0.25), ("神州行", 0.45), ("动感地带", 0.30)]
PURPOSES = [("缴费", 0.35), ("购机", 0.20), ("办理业务", 0.30), ("咨询", 0.15)]
QUOTAS = {("全球通", "购机"): 3000, ("动感地带", "购机"): 4000, ("全球通", "办理业务"): 6000, ("神州行", "咨询"): 5000}
SHARE = 0.3
SUPPRESS_DAYS = 30


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def machine():
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} cores"


def pick(rng, table):
    x, acc = rng.random(), 0.0
    for v, w in table:
        acc += w
        if x < acc:
            return v
    return table[-1][0]


def write_day(path, halls, day, visits, customers, rng):
    """The day's ended visits, in order of their end, as the halls' batches would bring them."""
    rows = []
    per_hall = {}
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZONE)
    for _ in range(visits):
        hall = halls[rng.randrange(len(halls))]
        n = per_hall.get(hall, 0) + 1
        per_hall[hall] = n
        # Open 08:30-21:30; the last half hour's ends fall in the quiet hours.
        minute = 510 + rng.random() * 780
        ended = midnight + timedelta(minutes=minute)
        customer = ""
        if rng.random() < 2 / 3:
            customer = hashlib.sha256(f"c{rng.randrange(customers)}".encode()).hexdigest()
        counter = rng.randrange(1, 11)
        outcome = "done" if rng.random() < 0.9 else "unresolved"
        rows.append((
            int(ended.timestamp() * 1000),
            [hall, f"{hall}/{day.isoformat()}/A{n:04d}", "hall", customer, pick(rng, SEGMENTS),
             pick(rng, PURPOSES), f"S{counter:02d}", f"c{counter}", rng.randrange(0, 1800), outcome],
        ))
    rows.sort(key=lambda r: r[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["hall", "id", "channel", "customer", "segment", "purpose", "staff", "counter", "wait_s", "outcome", "ended_at"])
        for at, r in rows:
            w.writerow(r + [at])


def peakend_day(db, path, batch):
    out = sh([str(BIN), "--db", db, "bench-invitations", str(path), "--batch", str(batch)]).stdout
    return json.loads(out.strip().splitlines()[-1])


DUCK_SCHEMA = """
CREATE TABLE invitation (id BIGINT PRIMARY KEY, hall_id VARCHAR, contact_id VARCHAR UNIQUE,
  customer_key VARCHAR, segment VARCHAR, purpose VARCHAR, staff VARCHAR, counter VARCHAR,
  wait_s BIGINT, outcome VARCHAR, decided_at BIGINT, status VARCHAR, reason VARCHAR,
  token_hash VARCHAR, send_at BIGINT, expires_at BIGINT, ended_at BIGINT);
CREATE INDEX invitation_customer ON invitation (customer_key);
CREATE TABLE invite_optout (customer_key VARCHAR PRIMARY KEY);
CREATE TABLE invite_outbox (invitation_id BIGINT, kind VARCHAR, token VARCHAR, due_at BIGINT);
CREATE SEQUENCE invitation_id;
CREATE TABLE quota (segment VARCHAR, purpose VARCHAR, cap BIGINT);
"""

# One batch (table `batch`, $at its latest end): decide and store.
DUCK_DECIDE = f"""
CREATE OR REPLACE TEMP TABLE cand AS
SELECT b.*, make_timestamp((b.ended_at + 28800000) * 1000) AS local
FROM batch b
WHERE ((('0x' || substr(sha256(b.id), 1, 14))::UBIGINT >> 3)::DOUBLE / 9007199254740992.0) < {SHARE}
  AND NOT EXISTS (SELECT 1 FROM invitation i WHERE i.contact_id = b.id);

CREATE OR REPLACE TEMP TABLE judged AS
WITH last AS (
  SELECT i.customer_key, max(i.decided_at) AS at FROM invitation i
  WHERE i.customer_key IN (SELECT customer FROM cand WHERE customer IS NOT NULL)
    AND i.status <> 'suppressed' AND i.decided_at >= $at - {SUPPRESS_DAYS * 86_400_000}
  GROUP BY i.customer_key
), ranked AS (
  SELECT c.*,
    row_number() OVER (PARTITION BY c.customer ORDER BY c.ended_at, c.id) AS nth,
    l.at AS last_at,
    o.customer_key IS NOT NULL AS opted_out
  FROM cand c LEFT JOIN last l ON l.customer_key = c.customer
    LEFT JOIN invite_optout o ON o.customer_key = c.customer
), open AS (
  SELECT r.*, CASE
      WHEN r.customer IS NULL THEN 'no_customer'
      WHEN r.opted_out THEN 'opted out'
      WHEN r.last_at IS NOT NULL AND r.ended_at - r.last_at < {SUPPRESS_DAYS * 86_400_000} THEN 'suppressed'
      WHEN r.nth > 1 THEN 'suppressed'
    END AS why
  FROM ranked r
), used AS (
  SELECT i.segment, i.purpose, yearweek(make_timestamp((i.decided_at + 28800000) * 1000)) AS wk, count(*) AS n
  FROM invitation i JOIN quota q USING (segment, purpose)
  WHERE i.status <> 'suppressed' AND i.decided_at >= $at - 777600000
  GROUP BY ALL
), celled AS (
  SELECT o.*, q.cap, coalesce(u.n, 0) + row_number() OVER (
      PARTITION BY o.segment, o.purpose, yearweek(o.local), o.why IS NULL ORDER BY o.ended_at, o.id) AS place
  FROM open o LEFT JOIN quota q USING (segment, purpose)
    LEFT JOIN used u ON u.segment = o.segment AND u.purpose = o.purpose AND u.wk = yearweek(o.local)
)
SELECT *, CASE
    WHEN why IS NOT NULL THEN 'suppressed'
    WHEN cap IS NOT NULL AND place > cap THEN 'suppressed'
    WHEN hour(local) >= 21 OR hour(local) < 8 THEN 'held'
    ELSE 'sent' END AS status,
  CASE WHEN why IS NOT NULL THEN why WHEN cap IS NOT NULL AND place > cap THEN 'quota full'
    WHEN hour(local) >= 21 OR hour(local) < 8 THEN 'quiet_hours' END AS reason,
  CASE WHEN why IS NULL AND (cap IS NULL OR place <= cap) THEN
    sha256(gen_random_uuid()::VARCHAR || gen_random_uuid()::VARCHAR) END AS token
FROM celled;

INSERT INTO invitation
SELECT nextval('invitation_id'), hall, id, customer, segment, purpose, staff, counter, wait_s,
  outcome, $at, status, reason, CASE WHEN token IS NOT NULL THEN sha256(token) END,
  CASE WHEN token IS NOT NULL THEN greatest(ended_at, $at) END,
  CASE WHEN token IS NOT NULL THEN greatest(ended_at, $at) + 259200000 END, ended_at
FROM judged;

INSERT INTO invite_outbox
SELECT i.id, k.kind, j.token, i.send_at + k.after
FROM judged j JOIN invitation i ON i.contact_id = j.id
  CROSS JOIN (VALUES ('invite', 0::BIGINT), ('reminder', 86400000::BIGINT)) AS k(kind, after)
WHERE j.token IS NOT NULL;
"""


def duck_day(con, path, batch):
    """Loads the day (not timed) and decides it batch by batch; the seconds and counts."""
    con.execute("CREATE OR REPLACE TEMP TABLE day AS SELECT row_number() OVER () AS n, * FROM read_csv(?, header = true, all_varchar = true)", [str(path)])
    con.execute("""CREATE OR REPLACE TEMP TABLE day_t AS SELECT n, hall, id, channel,
        nullif(customer, '') AS customer, segment, purpose, staff, counter, wait_s::BIGINT AS wait_s,
        outcome, ended_at::BIGINT AS ended_at FROM day""")
    total = con.execute("SELECT count(*) FROM day_t").fetchone()[0]
    before = dict(con.execute("SELECT status, count(*) FROM invitation GROUP BY status").fetchall())
    t = time.perf_counter()
    for lo in range(0, total, batch):
        con.execute("BEGIN")
        con.execute("CREATE OR REPLACE TEMP TABLE batch AS SELECT * EXCLUDE (n) FROM day_t WHERE n > ? AND n <= ?", [lo, lo + batch])
        at = con.execute("SELECT max(ended_at) FROM batch").fetchone()[0]
        con.execute(DUCK_DECIDE.replace("$at", str(int(at))))
        con.execute("COMMIT")
    took = time.perf_counter() - t
    after = dict(con.execute("SELECT status, count(*) FROM invitation GROUP BY status").fetchall())
    counts = {k: after.get(k, 0) - before.get(k, 0) for k in ("sent", "held", "suppressed")}
    return took, counts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--halls", type=int, default=2000)
    p.add_argument("--visits", type=int, default=500_000)
    p.add_argument("--history", type=int, default=7, help="days decided before the measured one")
    p.add_argument("--customers", type=int, default=4_000_000)
    p.add_argument("--batches", default="1000,20000", help="batch sizes measured")
    p.add_argument("--pg", default=None, help="also measure on this PostgreSQL database (emptied)")
    p.add_argument("--work", default=None)
    p.add_argument("--out", default=str(ROOT / "bench" / "work" / "invitations.md"))
    a = p.parse_args()
    import duckdb

    if not BIN.exists():
        sh(["cargo", "build", "--release"], cwd=ROOT)
    work = Path(a.work or tempfile.mkdtemp(prefix="peakend-invitations-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(22)
    halls, org = [], ["id,parent,level,name,counters,kiosks,tz", "P,,province,示范省,,,Asia/Shanghai"]
    per_district = max(1, a.halls // 100)
    for c in range(10):
        org.append(f"C{c},P,city,市{c},,,")
        for d in range(10):
            org.append(f"D{c}{d},C{c},district,区{c}{d},,,")
            for h in range(per_district):
                hid = f"H{c}{d}{h:03d}"
                halls.append(hid)
                org.append(f"{hid},D{c}{d},hall,厅{hid},10,3,")
    (work / "org.csv").write_text("\n".join(org) + "\n", encoding="utf-8")
    day = date(2026, 11, 16)
    days = [day - timedelta(days=i) for i in range(a.history, -1, -1)]
    files = []
    t = time.perf_counter()
    for d in days:
        f = work / f"contacts-{d.isoformat()}.csv"
        if not f.exists():
            write_day(f, halls, d, a.visits, a.customers, rng)
        files.append(f)
    print(f"{len(days)} days of {a.visits:,} visits written in {time.perf_counter() - t:.0f} s", flush=True)
    quota = ",".join(f"{s}:{p}={n}" for (s, p), n in QUOTAS.items())
    batches = [int(b) for b in a.batches.split(",")]

    backends = [("SQLite", None)] + ([("PostgreSQL", a.pg)] if a.pg else [])
    results = []
    for batch in batches:
        for name, url in backends:
            if url is None:
                db = str(work / f"inv-{batch}.db")
                for f in work.glob(f"inv-{batch}.db*"):
                    f.unlink()
            else:
                db = url
                sh(["psql", url, "-qc", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"])
            sh([str(BIN), "--db", db, "init"])
            sh([str(BIN), "--db", db, "org", "import", str(work / "org.csv")])
            sh([str(BIN), "--db", db, "survey", "invite-rule", "--org", "P", "--share", str(SHARE),
                "--quota", quota, "--suppress-days", str(SUPPRESS_DAYS), "--quiet", "21:00-08:00"])
            for f in files[:-1]:
                peakend_day(db, f, batch)
            if url is not None:
                # What autovacuum does between days on a production server (it is off on
                # this machine's PostgreSQL): the queue's millions of dead rows, gone.
                sh(["psql", url, "-qc", "VACUUM ANALYZE"])
            r = peakend_day(db, files[-1], batch)
            print(f"peakend {name} batch {batch}: {r}", flush=True)
            counts = {k: r[k] for k in ("sent", "held", "suppressed")}
            results.append((f"peakend ({name})", batch, r["total_s"], counts, r.get("warm_s")))
        con = duckdb.connect()
        con.execute(DUCK_SCHEMA)
        con.executemany("INSERT INTO quota VALUES (?, ?, ?)", [(s, p, n) for (s, p), n in QUOTAS.items()])
        for f in files[:-1]:
            duck_day(con, f, batch)
        took, counts = duck_day(con, files[-1], batch)
        print(f"duckdb batch {batch}: {took:.2f} s {counts}", flush=True)
        results.append(("DuckDB (SQL peer)", batch, took, counts, None))

    lines = [
        f"Machine: {machine()}. {a.halls:,} halls, {a.visits:,} visits on the measured day after "
        f"{a.history} days of the same load decided; `python3 bench/invitations.py"
        + (" --pg URL" if a.pg else "") + "`.",
        "",
        "| batch (contacts a call) | decider | seconds for the day | DuckDB ÷ this | warm-up at the start, s | sent | held | suppressed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for batch in batches:
        duck = next(r for r in results if r[1] == batch and r[0].startswith("DuckDB"))
        for who, b, s, c, warm in (r for r in results if r[1] == batch):
            w = "" if warm is None else f"{warm:.2f}"
            lines.append(f"| {b:,} | {who} | {s:.2f} | {duck[2] / s:.2f} | {w} | {c['sent']:,} | {c['held']:,} | {c['suppressed']:,} |")
    text = "\n".join(lines) + "\n"
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

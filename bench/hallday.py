#!/usr/bin/env python3
"""One busy hall's day (issue 19): does a batch cost more as the hall's day fills, and
does a busy hall hold up the others?

  day       one hall (10 counters, 3 kiosks) issues --tickets tickets in one day
            (200,000 by default: about 920,000 events: issue, call, start, end, most
            rated, some leave, kiosk faults and repairs); its events, in time order,
            are cut into batches of --per-batch tickets' events (2,000) and POSTed one
            after the other by one keep-alive client; each batch's time is kept
  others    meanwhile a second client POSTs another hall's small batches (a ticket
            issued and its customer leaving: 2 events), one every 20 ms (or as soon
            as the last is answered, if later), and times each answer
  contenders  `peakend serve` on a fresh SQLite file, then (unless --postgres '') on a
            fresh PostgreSQL database, then the plain server of bench/ops.py (Python's
            ThreadingHTTPServer appending the lines to SQLite, WAL, synchronous=FULL)

Reports per contender: the whole day's time, the first, 8th and last batch, the 8th
over the first, and the other hall's answer times (p50, p99, max). Every answer comes
after a durable commit.

    python3 bench/hallday.py                 # the full run
    python3 bench/hallday.py --tickets 40000 # a smaller day while developing
"""

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ops import Server, machine, pct, post  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The other hall posts a small batch every PACE seconds.
PACE = 0.02
CHINA = timezone(timedelta(hours=8))


def busy_day(hall, date, tickets, seed):
    """The hall's events, in time order, and the index of each ticket's issue event."""
    rnd = random.Random(seed)
    start = datetime.fromisoformat(f"{date}T08:30:00+08:00")
    span = 12 * 3600.0
    evs = []

    def add(secs, kind, **fields):
        evs.append((secs, kind, fields))

    for c in range(1, 11):
        add(-600.0, "counter_opened", counter=f"c{c}")
    for k in range(1, 4):
        for f in range(5):
            at = rnd.uniform(0, span - 3600)
            add(at, "kiosk_fault", kiosk=f"k{k}", fault="paper")
            add(at + rnd.uniform(600, 3000), "kiosk_restored", kiosk=f"k{k}")
    # Kiosk events of one kiosk must alternate: keep each kiosk's in order.
    for n in range(tickets):
        t = f"A{n:06}"
        at = n * span / tickets
        wait = rnd.uniform(5, 1200)
        add(at, "ticket_issued", ticket=t, service=rnd.choice(["payment", "plan", "repair"]))
        if rnd.random() < 0.03:
            add(at + wait, "left", ticket=t)
            continue
        c, s = rnd.randint(1, 10), rnd.randint(1, 12)
        who = dict(counter=f"c{c}", staff=f"s{s}")
        add(at + wait, "called", ticket=t, **who)
        add(at + wait + 20, "service_started", ticket=t, **who)
        end = at + wait + 20 + rnd.uniform(60, 400)
        add(end, "service_ended", ticket=t, outcome="done", **who)
        if rnd.random() < 0.7:
            add(end + 5, "rated", ticket=t, score=rnd.randint(1, 5), scale=5)
    evs.sort(key=lambda e: e[0])
    # A kiosk's fault and repair windows may overlap after the shuffle above: keep only
    # faults of a kiosk with no fault open, and repairs of an open one.
    open_k, lines, issued = set(), [], []
    for i, (secs, kind, fields) in enumerate(evs):
        k = fields.get("kiosk")
        if kind == "kiosk_fault":
            if k in open_k:
                continue
            open_k.add(k)
        elif kind == "kiosk_restored":
            if k not in open_k:
                continue
            open_k.discard(k)
        at = (start + timedelta(seconds=secs)).isoformat(timespec="milliseconds")
        if kind == "ticket_issued":
            issued.append(len(lines))
        lines.append(json.dumps({"id": f"e{i}", "hall": hall, "type": kind, "at": at, **fields}))
    return lines, issued


def batches_of(lines, issued, per_batch):
    """Cuts at the issue of every per_batch-th ticket: (body, events) per batch."""
    cuts = [0] + issued[per_batch::per_batch] + [len(lines)]
    return [("\n".join(lines[a:b]).encode(), b - a) for a, b in zip(cuts, cuts[1:]) if b > a]


def run(port, busy_token, other_token, other_hall, batches, date):
    """Posts the day's batches; meanwhile the other hall's small batches. Returns
    (seconds per batch, whole day seconds, other hall's answer seconds)."""
    done = threading.Event()
    other = []
    errors = []

    def small():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            base = datetime.fromisoformat(f"{date}T08:30:00+08:00")
            n = 0
            start = time.perf_counter()
            while not done.is_set():
                at = (base + timedelta(seconds=n)).isoformat(timespec="milliseconds")
                t = f"B{n:06}"
                body = "\n".join(json.dumps(e) for e in [
                    {"id": f"o{n}-i", "hall": other_hall, "type": "ticket_issued", "at": at,
                     "ticket": t, "service": "payment"},
                    {"id": f"o{n}-l", "hall": other_hall, "type": "left", "at": at, "ticket": t},
                ]).encode()
                t0 = time.perf_counter()
                r = post(conn, other_token, body)
                other.append(time.perf_counter() - t0)
                assert r["accepted"] == 2, r
                n += 1
                # A steady pace (a hall's devices), whatever the answer times.
                time.sleep(max(0.0, start + n * PACE - time.perf_counter()))
        except Exception as e:  # reported below
            errors.append(e)

    th = threading.Thread(target=small)
    th.start()
    time.sleep(0.3)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    per = []
    t = time.perf_counter()
    try:
        for body, _ in batches:
            t0 = time.perf_counter()
            post(conn, busy_token, body)
            per.append(time.perf_counter() - t0)
    finally:
        whole = time.perf_counter() - t
        done.set()
        th.join()
    if errors:
        raise errors[0]
    return per, whole, other


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", type=int, default=200_000)
    p.add_argument("--per-batch", type=int, default=2000, help="tickets per batch")
    p.add_argument("--date", default="2026-08-07")
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                   help="server URL; the database peakend_hallday is created fresh ('' skips)")
    p.add_argument("--work", default=str(ROOT / "bench" / "work" / "hallday"))
    p.add_argument("--skip-build", action="store_true")
    p.add_argument("--skip-plain", action="store_true", help="no plain server (no ratios)")
    p.add_argument("--server-prefix", default="", help="a command to run peakend under (e.g. perf record)")
    args = p.parse_args()

    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log = open(work / "servers.log", "w")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not args.skip_build:
        print("building peakend (release)...", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "peakend"], cwd=ROOT, check=True)
    exe = str(target / "release" / "peakend")

    def pk(db, *a):
        return subprocess.run([exe, "--db", db, *a], check=True, capture_output=True, text=True).stdout

    busy, other = "bh-busy", "bh-other"
    org = work / "org.csv"
    org.write_text("id,parent,level,name,counters,kiosks\n"
                   "bh,,province,基准省,,\nbh-c,bh,city,城市,,\nbh-d,bh-c,district,城区,,\n"
                   f"{busy},bh-d,hall,繁忙厅,10,3\n{other},bh-d,hall,邻厅,10,3\n")
    lines, issued = busy_day(busy, args.date, args.tickets, 1)
    batches = batches_of(lines, issued, args.per_batch)
    print(f"{args.tickets} tickets, {len(lines):,} events, {len(batches)} batches", file=sys.stderr)

    backends = [("peakend-sqlite", str(work / "hallday.db"))]
    if args.postgres:
        for sql in ("DROP DATABASE IF EXISTS peakend_hallday", "CREATE DATABASE peakend_hallday"):
            subprocess.run(["psql", args.postgres + "/postgres", "-qc", sql], check=True, capture_output=True)
        backends.append(("peakend-postgres", args.postgres + "/peakend_hallday"))
    results = {}
    port = 18580
    for name, db in backends:
        pk(db, "org", "import", str(org))
        tokens = {h: pk(db, "token", "create", "--hall", h).strip() for h in (busy, other)}
        port += 1
        srv = Server([*args.server_prefix.split(), exe, "--db", db, "serve", "--addr", f"127.0.0.1:{port}"],
                     port, log)
        try:
            results[name] = run(port, tokens[busy], tokens[other], other, batches, args.date)
        finally:
            srv.stop()
        per, whole, oth = results[name]
        print(f"{name}: {whole:.1f} s, batch 1 {per[0] * 1e3:.0f} ms, batch 8 {per[7] * 1e3:.0f} ms, "
              f"other hall p99 {pct(oth, 99) * 1e3:.1f} ms (n = {len(oth)})", file=sys.stderr)
    if not args.skip_plain:
        port += 1
        srv = Server([sys.executable, str(ROOT / "bench" / "ops.py"), "--plain-server", str(port),
                      str(work / "plain.db")], port, log)
        try:
            results["plain-sqlite"] = run(port, busy, other, other, batches, args.date)
        finally:
            srv.stop()

    base = results.get("plain-sqlite", results["peakend-sqlite"])[1]
    # The first batch holds fewer events than the others (its tickets' calls and ends
    # fall in the next one), so batches are also compared per event.
    sizes = [n for _, n in batches]
    us = lambda secs, i: secs[i] / sizes[i] * 1e6  # noqa: E731
    rows = ["| contender | day s | events/s | vs plain (time) | batch 1 ms | batch 8 ms | 8th ÷ 1st | "
            "µs/event batch 1 | batch 8 | 8th ÷ 1st | last 10 before the tail µs/event | "
            "other hall n | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("peakend-sqlite", "peakend-postgres", "plain-sqlite"):
        if name not in results:
            continue
        per, whole, oth = results[name]
        rows.append(f"| {name} | {whole:.1f} | {len(lines) / whole:,.0f} | {whole / base:.2f} | "
                    f"{per[0] * 1e3:.0f} | {per[7] * 1e3:.0f} | {per[7] / per[0]:.2f} | "
                    f"{us(per, 0):.1f} | {us(per, 7):.1f} | {us(per, 7) / us(per, 0):.2f} | "
                    f"{sum(per[-11:-1]) / sum(sizes[-11:-1]) * 1e6:.1f} | "
                    f"{len(oth)} | {pct(oth, 50) * 1e3:.1f} | {pct(oth, 99) * 1e3:.1f} | {max(oth) * 1e3:.1f} |")
    rows.append("")
    rows.append(f"{args.tickets:,} tickets, {len(lines):,} events in {len(batches)} batches of "
                f"{args.per_batch:,} tickets' events (batch 1: {sizes[0]:,} events, batch 8: {sizes[7]:,}); machine: {machine()}; load average at the end "
                f"{os.getloadavg()[0]:.1f}")
    text = "\n".join(rows)
    (work / "hallday-results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

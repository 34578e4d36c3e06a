#!/usr/bin/env python3
"""Live hall operations (issue 4): peakend versus a plain server, in one run.

  ingest    simulated device events (`peakend simulate`) POSTed over HTTP in batches
            of --batch lines by --clients concurrent clients, one token per hall, each
            hall's events in order by one client; events/s from the first request to
            the last response (every response comes after a durable commit)
              peakend-sqlite    `peakend serve` on a fresh SQLite file (WAL, FULL sync)
              peakend-postgres  `peakend serve` on a fresh PostgreSQL database
              plain-sqlite      the baseline below, same batches, same durability
  latency   under that ingest load (peakend on SQLite), a client subscribed to a
            hall's /live stream POSTs a batch that makes pre_processing true (1 open
            counter, 4 waiting) and times until the alert arrives on the stream; then
            the tickets leave, the alert clears, and again (--trials times)
  province  a province day: an org of --province-halls halls, `peakend simulate` of
            all of them, `peakend events ingest` into a fresh SQLite file, then
            `peakend kpi` of the province for the day

The baseline (`--plain-server`, run by this script in a subprocess) is Python's
ThreadingHTTPServer and sqlite3: each POST's lines are appended as (hall, line) rows
into one table in one transaction, WAL with synchronous=FULL, then 200. It reads no
JSON, checks nothing and keeps no state: the floor of "a durable append over HTTP" on
this machine. Python because a plain server should be plain; its hot path (the
executemany and the commit) runs in SQLite's C code, and the clients are the same.

    python3 bench/ops.py             # the full run (writes WORK/ops-results.md)
    python3 bench/ops.py --quick     # a smaller run while developing
"""

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHINA = timezone(timedelta(hours=8))


def write_busy_org(path):
    """The busy load's organisation (issue 19): 40 halls of 10 counters and 3 kiosks in
    four districts of one city; bench/pgcpu.py and bench/cluster.py load it too."""
    org = ["id,parent,level,name,counters,kiosks", "bz,,province,繁忙省,,", "bz-c,bz,city,城市,,"]
    org += [f"bz-d{d},bz-c,district,城区{d},," for d in range(4)]
    org += [f"bz-d{h % 4}-h{h:02},bz-d{h % 4},hall,繁忙厅{h},10,3" for h in range(40)]
    Path(path).write_text("\n".join(org) + "\n")


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


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


# ---------------------------------------------------------------- the plain server


def plain_server(port, db):
    con = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS event (hall TEXT NOT NULL, line TEXT NOT NULL)")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hall = self.headers.get("Authorization", "")[len("Bearer "):]
            rows = [(hall, l) for l in body.decode().splitlines() if l]
            with lock:
                con.execute("BEGIN")
                con.executemany("INSERT INTO event VALUES (?, ?)", rows)
                con.execute("COMMIT")
            out = json.dumps({"accepted": len(rows), "duplicates": 0, "rejected": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


# ---------------------------------------------------------------- helpers


class Server:
    def __init__(self, args, port, log):
        self.port = port
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                c.getresponse().read()
                return
            except OSError:
                time.sleep(0.1)
            except http.client.HTTPException:
                return
        raise SystemExit(f"server on {port} did not start: {args}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def post(conn, token, body):
    conn.request("POST", "/api/v1/events", body=body,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"POST -> {r.status}: {data[:300]!r}")
    return json.loads(data)


def batches_by_hall(lines, batch):
    by_hall = {}
    for line in lines:
        hall = json.loads(line)["hall"]
        by_hall.setdefault(hall, []).append(line)
    out = {}
    for hall, ls in by_hall.items():
        out[hall] = ["\n".join(ls[i:i + batch]).encode() for i in range(0, len(ls), batch)]
    return out


def run_ingest(port, tokens, batches, clients, stop_after=None):
    """Posts every hall's batches (a hall's in order, by one client); returns
    (events accepted, seconds)."""
    halls = sorted(batches)
    accepted = [0] * clients
    errors = []

    def client(k):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for hall in halls[k::clients]:
                for body in batches[hall]:
                    accepted[k] += post(conn, tokens[hall], body)["accepted"]
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    if errors:
        raise errors[0]
    return sum(accepted), elapsed


def latency_trials(port, hall, token, trials, load_done):
    """Subscribes to the hall's live stream; each trial posts 1 open counter and 4 new
    tickets (4 waiting > 3 per counter) and times until `pre_processing` shows on the
    stream, then lets the tickets leave and waits for the alert to clear."""
    stream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    # The hall's device token: its GET endpoints need one since accounts (issue 5).
    stream.request("GET", f"/api/v1/halls/{hall}/live",
                   headers={"Authorization": f"Bearer {token}"})
    resp = stream.getresponse()
    assert resp.status == 200, resp.status

    def next_event():
        kind, data = None, None
        while True:
            line = resp.fp.readline().decode()
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line.strip() == "" and kind:
                return kind, data

    while next_event()[0] != "alerts":
        pass
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    now = datetime.now(CHINA).isoformat(timespec="milliseconds")
    post(conn, token, json.dumps({"id": f"lat-open-{time.time_ns()}", "hall": hall,
                                  "type": "counter_opened", "at": now, "counter": "lat"}).encode())
    times = []
    for trial in range(trials):
        if load_done is not None and load_done.is_set() and trial >= 5:
            break
        tag = f"{time.time_ns()}"
        now = datetime.now(CHINA).isoformat(timespec="milliseconds")
        tickets = [f"L{tag}-{i}" for i in range(4)]
        body = "\n".join(json.dumps({"id": f"lat-{t}", "hall": hall, "type": "ticket_issued",
                                     "at": now, "ticket": t, "service": "payment"}) for t in tickets)
        t0 = time.perf_counter()
        post(conn, token, body.encode())
        while True:
            kind, data = next_event()
            if kind == "alerts" and "pre_processing" in data:
                break
        times.append(time.perf_counter() - t0)
        now = datetime.now(CHINA).isoformat(timespec="milliseconds")
        body = "\n".join(json.dumps({"id": f"lat-left-{t}", "hall": hall, "type": "left",
                                     "at": now, "ticket": t}) for t in tickets)
        post(conn, token, body.encode())
        while True:
            kind, data = next_event()
            if kind == "alerts" and "pre_processing" not in data:
                break
        time.sleep(0.02)
    return times


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer halls and trials")
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--load-days", type=int, default=10,
                   help="simulated days of the load halls in the ingest load (quick: 1)")
    p.add_argument("--load", choices=["busy", "demo"], default="busy",
                   help="busy: 40 halls of 10 counters and 3 kiosks (issue 19); demo: the demo "
                        "province's 38 halls (the load of issue 4's runs)")
    p.add_argument("--province-halls", type=int, default=2000)
    p.add_argument("--date", default="2026-08-07", help="the simulated day (a Friday)")
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                   help="server URL; the database peakend_bench is created fresh ('' skips)")
    p.add_argument("--work", default=str(ROOT / "bench" / "work" / "ops"))
    p.add_argument("--skip-build", action="store_true")
    p.add_argument("--skip-province", action="store_true")
    p.add_argument("--plain-server", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.plain_server:
        plain_server(int(args.plain_server[0]), args.plain_server[1])
        return
    if args.quick:
        args.trials = min(args.trials, 40)
        args.province_halls = min(args.province_halls, 200)
        args.load_days = 1

    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log = open(work / "servers.log", "w")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not args.skip_build:
        print("building peakend (release)...", file=sys.stderr)
        sh(["cargo", "build", "--release", "-p", "peakend"], cwd=ROOT)
    exe = str(target / "release" / "peakend")

    def pk(db, *a, **kw):
        return subprocess.run([exe, "--db", db, *a], check=True, capture_output=True, text=True, **kw).stdout

    results = {}
    # The load's halls and --load-days simulated days of all of them.
    seed_db = str(work / "seed.db")
    busy_org = work / "busy-org.csv"
    write_busy_org(busy_org)

    def setup(db):
        if args.load == "busy":
            pk(db, "org", "import", str(busy_org))
        else:
            pk(db, "demo", "--no-serve")

    setup(seed_db)
    # --load-days consecutive days, so the load lasts long enough for many latency trials.
    first = datetime.strptime(args.date, "%Y-%m-%d").date()
    day = []
    for k in range(args.load_days):
        d = (first + timedelta(days=k)).isoformat()
        day += pk(seed_db, "simulate", "--halls", "100000", "--date", d, "--seed", "1").splitlines()
    print(f"simulated {len(day)} events ({args.load_days} days)", file=sys.stderr)
    batches = batches_by_hall(day, args.batch)
    halls = sorted(batches)
    lat_hall = halls[-1]
    load_batches = {h: b for h, b in batches.items() if h != lat_hall}
    n_load = sum(len(b.decode().splitlines()) for bs in load_batches.values() for b in bs)

    def tokens_for(db):
        return {h: pk(db, "token", "create", "--hall", h).strip() for h in halls}

    backends = [("peakend-sqlite", str(work / "ingest.db"))]
    if args.postgres:
        subprocess.run(["psql", args.postgres + "/postgres", "-qc", "DROP DATABASE IF EXISTS peakend_bench"],
                       check=True, capture_output=True)
        subprocess.run(["psql", args.postgres + "/postgres", "-qc", "CREATE DATABASE peakend_bench"],
                       check=True, capture_output=True)
        backends.append(("peakend-postgres", args.postgres + "/peakend_bench"))
    port = 18480
    for name, db in backends:
        setup(db)
        tokens = tokens_for(db)
        port += 1
        srv = Server([exe, "--db", db, "serve", "--addr", f"127.0.0.1:{port}"], port, log)
        try:
            lat = []
            done = threading.Event()
            if name == "peakend-sqlite":
                box = {}
                th = threading.Thread(target=lambda: box.setdefault(
                    "t", latency_trials(port, lat_hall, tokens[lat_hall], args.trials, done)))
                th.start()
                time.sleep(0.5)
            # The load from another process, so that the latency client's timing does
            # not wait for the load clients' turn at Python's interpreter lock.
            ctx = multiprocessing.get_context("fork")
            q = ctx.Queue()

            def load():
                try:
                    q.put(run_ingest(port, tokens, load_batches, args.clients))
                except Exception as e:  # re-raised in the parent
                    q.put(e)

            proc = ctx.Process(target=load)
            proc.start()
            r = q.get()
            proc.join()
            if isinstance(r, Exception):
                raise r
            n, secs = r
            done.set()
            if name == "peakend-sqlite":
                th.join()
                lat = box.get("t", [])
            results[name] = (n, secs, lat)
            print(f"{name}: {n} events in {secs:.2f} s = {n / secs:,.0f}/s", file=sys.stderr)
            if lat:
                print(f"  alert latency under load: n={len(lat)} p50 {pct(lat, 50) * 1e3:.1f} ms "
                      f"p99 {pct(lat, 99) * 1e3:.1f} ms", file=sys.stderr)
            # Idle latency, for comparison.
            if name == "peakend-sqlite":
                idle = latency_trials(port, halls[0], tokens[halls[0]], min(args.trials, 50), None)
                results["idle-latency"] = idle
                print(f"  alert latency idle: p50 {pct(idle, 50) * 1e3:.1f} ms p99 {pct(idle, 99) * 1e3:.1f} ms",
                      file=sys.stderr)
        finally:
            srv.stop()

    port += 1
    plain_db = str(work / "plain.db")
    srv = Server([sys.executable, __file__, "--plain-server", str(port), plain_db], port, log)
    try:
        n, secs = run_ingest(port, {h: h for h in halls}, load_batches, args.clients)
        results["plain-sqlite"] = (n, secs, [])
        print(f"plain-sqlite: {n} events in {secs:.2f} s = {n / secs:,.0f}/s", file=sys.stderr)
    finally:
        srv.stop()

    # The province day.
    if not args.skip_province:
        prov_db = str(work / "province.db")
        org = ["id,parent,level,name,counters,kiosks", "bp,,province,基准省,,"]
        cities = max(1, args.province_halls // 100)
        for c in range(cities):
            org.append(f"bp-c{c},bp,city,城市{c},,")
            org.append(f"bp-c{c}-d,bp-c{c},district,城区{c},,")
        for h in range(args.province_halls):
            c = h % cities
            org.append(f"bp-c{c}-h{h:04},bp-c{c}-d,hall,营业厅{h},{6 + h % 7},{1 + h % 3}")
        (work / "province-org.csv").write_text("\n".join(org) + "\n")
        pk(prov_db, "org", "import", str(work / "province-org.csv"))
        t = time.perf_counter()
        with open(work / "province-day.ndjson", "w") as f:
            subprocess.run([exe, "--db", prov_db, "simulate", "--halls", str(args.province_halls),
                            "--date", args.date, "--seed", "1"], check=True, stdout=f)
        sim_s = time.perf_counter() - t
        n_prov = sum(1 for _ in open(work / "province-day.ndjson"))
        fresh = str(work / "province-replay.db")
        pk(fresh, "org", "import", str(work / "province-org.csv"))
        t = time.perf_counter()
        out = pk(fresh, "events", "ingest", str(work / "province-day.ndjson"))
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        pk(fresh, "kpi", "--org", "bp", "--from", args.date, "--to", args.date, "--format", "json")
        kpi_s = time.perf_counter() - t
        results["province"] = (args.province_halls, n_prov, sim_s, ingest_s, kpi_s, out.strip())
        print(f"province: {args.province_halls} halls, {n_prov} events: simulate {sim_s:.1f} s, "
              f"ingest {ingest_s:.1f} s ({n_prov / ingest_s:,.0f}/s), kpi {kpi_s:.1f} s; {out.strip()}",
              file=sys.stderr)

    # Report.
    rows = ["| contender | events | seconds | events/s | vs plain |", "|---|---:|---:|---:|---:|"]
    base = results["plain-sqlite"][0] / results["plain-sqlite"][1]
    for name in ("peakend-sqlite", "peakend-postgres", "plain-sqlite"):
        if name in results:
            n, s, _ = results[name]
            rows.append(f"| {name} | {n:,} | {s:.2f} | {n / s:,.0f} | {n / s / base:.2f} |")
    lat = results["peakend-sqlite"][2]
    idle = results.get("idle-latency", [])
    rows.append("")
    rows.append("| alert latency | trials | p50 ms | p99 ms | max ms |")
    rows.append("|---|---:|---:|---:|---:|")
    for label, xs in (("under ingest load (SQLite)", lat), ("idle (SQLite)", idle)):
        if xs:
            rows.append(f"| {label} | {len(xs)} | {pct(xs, 50) * 1e3:.1f} | {pct(xs, 99) * 1e3:.1f} | "
                        f"{max(xs) * 1e3:.1f} |")
    if "province" in results:
        h, n, sim_s, ing, kpi_s, out = results["province"]
        rows.append("")
        rows.append("| province day | halls | events | simulate s | ingest s | kpi s | ingest + kpi s |")
        rows.append("|---|---:|---:|---:|---:|---:|---:|")
        rows.append(f"| SQLite | {h:,} | {n:,} | {sim_s:.1f} | {ing:.1f} | {kpi_s:.1f} | {ing + kpi_s:.1f} |")
    rows.append("")
    rows.append(f"load {args.load}: batch {args.batch}, {args.clients} clients, {len(halls) - 1} halls × {args.load_days} days of load "
                f"({n_load:,} events); machine: {machine()}; load average at the end "
                f"{os.getloadavg()[0]:.1f}")
    text = "\n".join(rows)
    (work / "ops-results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

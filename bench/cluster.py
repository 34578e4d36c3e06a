#!/usr/bin/env python3
"""Several nodes (issue 24): device events through NATS JetStream to one or two
`peakend serve --nats` nodes on PostgreSQL, beside one `peakend serve` on PostgreSQL
without NATS, in one run.

  load        the busy halls of bench/ops.py (40 halls of 10 counters and 3 kiosks),
              --load-days simulated days of all of them (`peakend simulate`), cut into
              batches of --batch lines per hall, POSTed by --clients keep-alive clients,
              one token per hall, each hall's batches in order by one client
  contenders  each on a fresh PostgreSQL database (and a fresh JetStream prefix)
                single      `peakend serve`: a 200 comes after the store's commit
                nats-1      one node with --nats: a 202 comes once JetStream stored the
                            batch; the node that holds the hall's partition applies it
                nats-2      two nodes with --nats (the clients alternate between them),
                            partitions shared out between them
  figures     acknowledged: events/s from the first request to the last answer;
              applied: events/s from the first request until the database holds every
              event the single node stored (polled every 0.2 s); each beside the single
              node's as a ratio

Every node runs on this machine, with PostgreSQL, NATS and the clients: on a machine
of few cores the nodes share them, so a second node adds no cores, only coordination.

    python3 bench/cluster.py                  # the full run (3 days of the busy halls)
    python3 bench/cluster.py --load-days 1    # a smaller run
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ops import Server, batches_by_hall, machine, write_busy_org  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def post(conn, token, body):
    """POSTs a batch; returns the events taken (stored, or queued in JetStream). A 503
    (the stream briefly unavailable) is sent again, as a device would."""
    for _ in range(50):
        conn.request("POST", "/api/v1/events", body=body,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        data = r.read()
        if r.status == 200:
            return json.loads(data)["accepted"]
        if r.status == 202:
            return json.loads(data)["queued"]
        if r.status == 503:
            time.sleep(0.2)
            continue
        raise RuntimeError(f"POST -> {r.status}: {data[:300]!r}")
    raise RuntimeError("503 fifty times in a row")


def run_ingest(ports, tokens, batches, clients):
    """Every hall's batches (a hall's in order, by one client; client k talks to node
    k mod nodes); returns (events taken, seconds, start time)."""
    halls = sorted(batches)
    taken = [0] * clients
    errors = []

    def client(k):
        try:
            port = ports[k % len(ports)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for hall in halls[k::clients]:
                for body in batches[hall]:
                    taken[k] += post(conn, tokens[hall], body)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(taken), elapsed, t0


def psql(url, sql):
    out = subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def fresh_db(server, name):
    psql(server + "/postgres", f"DROP DATABASE IF EXISTS {name}")
    psql(server + "/postgres", f"CREATE DATABASE {name}")
    return f"{server}/{name}"


def stored(db):
    return int(psql(db, "SELECT COUNT(*) FROM visit_event"))


def delete_stream(nats_url, prefix):
    """Deletes the run's JetStream stream (and its consumers) through the JetStream API,
    so the bench leaves nothing on a shared NATS server."""
    host, port = nats_url.split("//", 1)[-1].split(",")[0].rsplit(":", 1)
    name = prefix.upper().replace("-", "_") + "_EVENTS"
    s = socket.create_connection((host, int(port)), timeout=5)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.bench 1\r\n'
              + f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.bench 0\r\n\r\n".encode())
    deadline = time.time() + 5
    while time.time() < deadline:
        line = f.readline()
        if line.startswith(b"MSG"):
            reply = f.read(int(line.split()[-1]) + 2)
            s.close()
            return b'"success":true' in reply
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
    s.close()
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--load-days", type=int, default=3)
    p.add_argument("--partitions", type=int, default=16)
    p.add_argument("--date", default="2026-08-07", help="the first simulated day (a Friday)")
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                   help="server URL; databases peakend_cluster_* are created fresh")
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--work", default=str(ROOT / "bench" / "work" / "cluster"))
    p.add_argument("--skip-build", action="store_true")
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

    # The busy halls of bench/ops.py and --load-days days of them.
    busy_org = work / "busy-org.csv"
    write_busy_org(busy_org)
    seed_db = str(work / "seed.db")
    pk(seed_db, "org", "import", str(busy_org))
    first = datetime.strptime(args.date, "%Y-%m-%d").date()
    lines = []
    for k in range(args.load_days):
        d = (first + timedelta(days=k)).isoformat()
        lines += pk(seed_db, "simulate", "--halls", "100000", "--date", d, "--seed", "1").splitlines()
    batches = batches_by_hall(lines, args.batch)
    halls = sorted(batches)
    n_batches = sum(len(b) for b in batches.values())
    print(f"simulated {len(lines)} events ({args.load_days} days, {len(halls)} halls, "
          f"{n_batches} batches)", file=sys.stderr)

    results = {}
    want = None
    port = 18580
    for name, nodes in (("single", 0), ("nats-1", 1), ("nats-2", 2)):
        db = fresh_db(args.postgres, f"peakend_cluster_{name.replace('-', '_')}")
        pk(db, "init")
        pk(db, "org", "import", str(busy_org))
        tokens = {h: pk(db, "token", "create", "--hall", h).strip() for h in halls}
        prefix = f"bench{time.time_ns() % 10**12}"
        servers, ports = [], []
        try:
            for k in range(max(nodes, 1)):
                port += 1
                cmd = [exe, "--db", db, "serve", "--addr", f"127.0.0.1:{port}"]
                if nodes:
                    cmd += ["--nats", args.nats, "--nats-prefix", prefix,
                            "--partitions", str(args.partitions)]
                servers.append(Server(cmd, port, log))
                ports.append(port)
            if nodes == 2:
                # The partitions shared out before the load (a node takes its share within
                # a second or two of the other's start).
                time.sleep(4)
            n, secs, t0 = run_ingest(ports, tokens, batches, args.clients)
            if want is None:
                want = stored(db)
            deadline = time.time() + 1800
            while stored(db) < want:
                if time.time() > deadline:
                    raise SystemExit(f"{name}: {stored(db)} of {want} applied after 30 minutes")
                time.sleep(0.2)
            applied = time.perf_counter() - t0
            got = stored(db)
            results[name] = (n, secs, got, applied)
            print(f"{name}: {n} events acknowledged in {secs:.2f} s = {n / secs:,.0f}/s; "
                  f"{got} applied in {applied:.2f} s = {got / applied:,.0f}/s", file=sys.stderr)
        finally:
            for s in servers:
                s.stop()
            if nodes:
                delete_stream(args.nats, prefix)
            psql(args.postgres + "/postgres",
                 f"DROP DATABASE IF EXISTS peakend_cluster_{name.replace('-', '_')}")

    base_ack = results["single"][0] / results["single"][1]
    base_app = results["single"][2] / results["single"][3]
    rows = ["| contender | events | acknowledged s | acknowledged/s | vs single | applied s | "
            "applied/s | vs single |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (n, secs, got, applied) in results.items():
        rows.append(f"| {name} | {n:,} | {secs:.1f} | {n / secs:,.0f} | {n / secs / base_ack:.2f} | "
                    f"{applied:.1f} | {got / applied:,.0f} | {got / applied / base_app:.2f} |")
    report = (f"Machine: {machine()}\n\nLoad: {len(lines):,} events, {args.load_days} days of "
              f"{len(halls)} busy halls, batches of {args.batch}, {args.clients} clients, "
              f"{args.partitions} partitions\n\n" + "\n".join(rows) + "\n")
    (work / "cluster-results.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

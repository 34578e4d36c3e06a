#!/usr/bin/env python3
"""CPU time a busy ingest costs on PostgreSQL, per event: peakend's and the database's.

The busy load of bench/ops.py (40 halls of 10 counters and 3 kiosks, --days simulated
days, batches of 2,000 by 4 keep-alive clients) is posted to `serve` on a fresh
database, once per --bin, in rounds (builds alternated, so they share the machine's
state). The database's CPU is that of every process pg_stat_activity lists (backends,
checkpointer, WAL writer), read from /proc, so the server must run on this machine.
CPU time is less disturbed than throughput by other work on a small machine.

    python3 bench/pgcpu.py --bin OLD --bin NEW [--rounds 3] [--days 2] [--postgres URL]
"""

import argparse
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ops  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cpu(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", action="append", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    p.add_argument("--work", default=str(ROOT / "bench" / "work" / "pgcpu"))
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    first = args.bin[0]

    def pk(exe, db, *a):
        return subprocess.run([exe, "--db", db, *a], check=True, capture_output=True, text=True).stdout

    ops.write_busy_org(work / "org.csv")
    seed = work / "seed.db"
    seed.unlink(missing_ok=True)
    pk(first, str(seed), "org", "import", str(work / "org.csv"))
    lines = []
    for k in range(args.days):
        d = (date(2026, 8, 7) + timedelta(days=k)).isoformat()
        lines += pk(first, str(seed), "simulate", "--halls", "100000", "--date", d, "--seed", "1").splitlines()
    batches = ops.batches_by_hall(lines, 2000)
    admin = args.postgres + "/postgres"
    db = args.postgres + "/peakend_pgcpu"
    log = open(work / "servers.log", "w")
    print(f"{len(lines)} events, {args.days} days; machine: {ops.machine()}")
    print("| round | build | events/s | peakend µs/event | PostgreSQL µs/event |\n|---:|---|---:|---:|---:|")
    for r in range(args.rounds):
        for exe in args.bin:
            for sql in ("DROP DATABASE IF EXISTS peakend_pgcpu", "CREATE DATABASE peakend_pgcpu"):
                subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)
            pk(exe, db, "org", "import", str(work / "org.csv"))
            tokens = {h: pk(exe, db, "token", "create", "--hall", h).strip() for h in batches}
            srv = ops.Server([exe, "--db", db, "serve", "--addr", "127.0.0.1:18997"], 18997, log)

            def pg_pids():
                out = subprocess.run(["psql", admin, "-qAtc", "SELECT pid FROM pg_stat_activity"],
                                     check=True, capture_output=True, text=True).stdout
                return [int(x) for x in out.split()]

            before = {pid: cpu(pid) or 0.0 for pid in pg_pids()}
            own0 = cpu(srv.proc.pid)
            n, secs = ops.run_ingest(18997, tokens, batches, 4)
            own = cpu(srv.proc.pid) - own0
            pg = sum((cpu(pid) or 0.0) - before.get(pid, 0.0) for pid in pg_pids())
            srv.stop()
            print(f"| {r + 1} | {exe} | {n / secs:,.0f} | {own / n * 1e6:.1f} | {pg / n * 1e6:.1f} |", flush=True)
    subprocess.run(["psql", admin, "-qc", "DROP DATABASE IF EXISTS peakend_pgcpu"], check=True, capture_output=True)


if __name__ == "__main__":
    main()

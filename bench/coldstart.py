#!/usr/bin/env python3
"""Cold start (issue 24): the first province overview after `peakend serve` starts, on a
database of --halls halls whose survey file (bench/import.py's) was imported by the same
binary, then the median of 5 warm GETs. Give several binaries to compare builds in one
run (each imports into its own database; an older build stores its cells as JSON):

    python3 bench/import.py                   # makes the survey file
    python3 bench/coldstart.py target/release/peakend /path/to/older/peakend

The server's page cache of the file is warm (the import just wrote it) and its process
is new: what is measured is the store reading and decoding the province's cells.
"""
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("WORK", ROOT / "bench" / "work" / "import"))
HALLS, ROWS = 2000, int(os.environ.get("ROWS", 2_000_000))


def serve_and_time(bin_, db, password):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    srv = subprocess.Popen([bin_, "--db", str(db), "serve", "--addr", f"127.0.0.1:{port}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        up = time.perf_counter() - started
        tok = requests.post(base + "/api/v1/session",
                            json={"name": "cold-director", "password": password}).json()["token"]
        h = {"Authorization": f"Bearer {tok}"}
        t = time.perf_counter()
        r = requests.get(base + "/", headers=h)
        first = time.perf_counter() - t
        assert r.status_code == 200, r.text[:300]
        warm = []
        for _ in range(5):
            t = time.perf_counter()
            requests.get(base + "/", headers=h)
            warm.append(time.perf_counter() - t)
        return up, first, statistics.median(warm)
    finally:
        srv.terminate()
        srv.wait()


def main():
    survey = WORK / f"survey-{HALLS}-{ROWS}.csv"
    if not survey.exists():
        sys.exit(f"{survey} is missing: run bench/import.py first")
    print(f"{ROWS:,} responses of {HALLS:,} halls; load {os.getloadavg()[0]:.2f}")
    for i, bin_ in enumerate(sys.argv[1:]):
        db = WORK / f"cold-{i}.db"
        for f in WORK.glob(f"cold-{i}.db*"):
            f.unlink()
        run = lambda *a: subprocess.run([bin_, "--db", str(db), *a], check=True,  # noqa: E731
                                        capture_output=True, text=True).stdout
        run("org", "import", str(WORK / "org.csv"))
        t = time.perf_counter()
        run("survey", "import", str(survey), "--journey", "service-hall")
        imported = time.perf_counter() - t
        password = run("user", "add", "--name", "cold-director", "--role", "director", "--org", "p").strip()
        up, first, warm = serve_and_time(bin_, db, password)
        print(f"{bin_}: import {imported:6.1f} s, database {db.stat().st_size / 2**20:6.0f} MiB; "
              f"serve up {up * 1000:6.0f} ms; first province overview {first * 1000:7.0f} ms; "
              f"warm median {warm * 1000:5.0f} ms")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Survey import (issue 24): --rows responses (default 2,000,000) of --halls halls (default
2,000), written by `peakend survey synth`, imported by `peakend survey import` into a fresh
database (SQLite, and PostgreSQL with --pg), beside DuckDB loading the same file into a
table in the same run.

  peakend  `survey import FILE --journey service-hall`: every cell checked, answers packed
           on each response's row, the roll-up cells (hall × month × segment, and per
           visit purpose) merged, one transaction; wall time and the process's peak RSS.
  duckdb   `CREATE TABLE survey AS SELECT * FROM read_csv(FILE)` into a fresh database
           file: types inferred, nothing checked, no roll-up; the peer's floor for
           "getting the file into a database".

    python3 bench/import.py
    python3 bench/import.py --rows 200000
    createdb -h 127.0.0.1 -U postgres peakend_import
    python3 bench/import.py --pg postgres://postgres@127.0.0.1:5432/peakend_import
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import pages  # noqa: E402  (the province's org file)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd):
    """Wall seconds and the child's peak RSS in MiB (a fresh process each time). The
    dirty pages of what came before (the last run's database, deleted or not) are
    written first: left, their writeback lands in the middle of the next run."""
    os.sync()
    time.sleep(2)
    wrapped = ["/usr/bin/env", "python3", "-c",
               "import resource,subprocess,sys,time;t=time.perf_counter();"
               "subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);"
               "print(time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"]
    out = subprocess.run(wrapped + cmd, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def survey_file(bin, work, rows, halls):
    """The synthetic survey of `rows` responses of `halls` halls (written once), and
    the organisation file beside it."""
    work.mkdir(parents=True, exist_ok=True)
    pages.org_csv(work / "org.csv", halls)
    survey = work / f"survey-{halls}-{rows}.csv"
    seed_db = work / "seed.db"
    if not survey.exists():
        for f in work.glob("seed.db*"):
            f.unlink()
        run([bin, "--db", str(seed_db), "org", "import", str(work / "org.csv")], stdout=subprocess.DEVNULL)
        run([bin, "--db", str(seed_db), "survey", "synth", "--journey", "service-hall",
             "--rows", str(rows), "--seed", "7", "-o", str(survey)])
    return survey


def import_into_fresh_sqlite(bin, work, survey):
    """`survey import` into a fresh SQLite database holding the organisation: wall
    seconds and peak RSS (MiB)."""
    db = work / "import.db"
    for f in work.glob("import.db*"):
        f.unlink()
    run([bin, "--db", str(db), "org", "import", str(work / "org.csv")], stdout=subprocess.DEVNULL)
    return timed([bin, "--db", str(db), "survey", "import", str(survey), "--journey", "service-hall"])


def duckdb_load(work, survey):
    """DuckDB's `CREATE TABLE … AS SELECT * FROM read_csv(FILE)` into a fresh database
    file: wall seconds and peak RSS (MiB)."""
    duck = work / "duck.db"
    if duck.exists():
        duck.unlink()
    script = (f"import duckdb; c = duckdb.connect('{duck}'); "
              f"c.execute(\"CREATE TABLE survey AS SELECT * FROM read_csv('{survey}')\"); c.close()")
    return timed([sys.executable, "-c", script])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--halls", type=int, default=2000)
    p.add_argument("--bin", default=str(ROOT / "target" / "release" / "peakend"))
    p.add_argument("--work", default=str(ROOT / "bench" / "work" / "import"))
    p.add_argument("--pg", help="a PostgreSQL database URL to import into as well (emptied first)")
    a = p.parse_args()
    work = Path(a.work)
    survey = survey_file(a.bin, work, a.rows, a.halls)
    size = survey.stat().st_size / 2**20
    print(f"file: {survey.name}, {a.rows:,} responses, {size:.0f} MiB; load {os.getloadavg()[0]:.2f}")

    results = [("peakend, SQLite", *import_into_fresh_sqlite(a.bin, work, survey))]

    if a.pg:
        run(["psql", a.pg, "-q", "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"],
            stdout=subprocess.DEVNULL)
        run([a.bin, "--db", a.pg, "org", "import", str(work / "org.csv")], stdout=subprocess.DEVNULL)
        t, rss = timed([a.bin, "--db", a.pg, "survey", "import", str(survey), "--journey", "service-hall"])
        results.append(("peakend, PostgreSQL", t, rss))

    results.append(("DuckDB read_csv → table", *duckdb_load(work, survey)))

    peer = results[-1][1]
    print(f"{'':26} {'seconds':>8} {'rows/s':>10} {'peak RSS':>9} {'× DuckDB':>9}")
    for name, t, rss in results:
        print(f"{name:26} {t:8.1f} {a.rows / t:10,.0f} {rss:7.0f} MiB {t / peer:9.2f}")


if __name__ == "__main__":
    main()

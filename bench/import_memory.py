#!/usr/bin/env python3
"""Survey import's memory against the file's size (issue 24: "memory bounded whatever
the file's size"): files of --rows responses each (default 1, 2 and 4 million, 2,000
halls, the same months), written by `peakend survey synth`, imported by each --bin into
a fresh SQLite database; the peak RSS and wall time of each import, beside DuckDB
loading the same file into a table in the same run.

A reader that remembers every respondent grows with the rows; what should stay is the
roll-up's cells (halls × months × segments × purposes, the same for every size here)
and SQLite's page cache during the import (fixed).

    python3 bench/import_memory.py --bin target/release/peakend
    python3 bench/import_memory.py --bin OLD --bin NEW --rows 1000000,4000000
"""

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
common = importlib.import_module("import")  # bench/import.py: the same files and steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000000,2000000,4000000")
    p.add_argument("--halls", type=int, default=2000)
    p.add_argument("--bin", action="append", help="a peakend binary (repeat to compare builds)")
    p.add_argument("--work", default=str(ROOT / "bench" / "work" / "import"))
    a = p.parse_args()
    bins = a.bin or [str(ROOT / "target" / "release" / "peakend")]
    work = Path(a.work)
    rows = [int(r) for r in a.rows.split(",")]
    print(f"{'rows':>10} {'import by':40} {'seconds':>8} {'peak RSS':>10}")
    for n in rows:
        survey = common.survey_file(bins[-1], work, n, a.halls)
        for b in bins:
            t, rss = common.import_into_fresh_sqlite(b, work, survey)
            print(f"{n:>10,} {b[-40:]:40} {t:8.1f} {rss:6.0f} MiB", flush=True)
        t, rss = common.duckdb_load(work, survey)
        print(f"{n:>10,} {'DuckDB read_csv → table':40} {t:8.1f} {rss:6.0f} MiB", flush=True)


if __name__ == "__main__":
    main()

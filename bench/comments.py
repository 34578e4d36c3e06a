#!/usr/bin/env python3
"""peakend's comment reading versus Python jieba (the peer) on the same 1,000,000 comments.

The comments are generated from the labelled set's phrasing
(crates/peakend-text/tests/fixtures/comments.csv): each is one or two of its comments'
clauses, shuffled, joined with a comma, some with a degree word or an ending added
(seeded, so every run reads the same file). Then, in one run on one machine, with the
file in the page cache:

  peakend  `cargo run --release -p peakend-text --example bench_comments FILE` (the
           same work as the hidden `peakend bench-comments FILE`): builds the analyser
           (jieba + the journey's vocabulary), segments every comment, cuts clauses,
           assigns moments, scores sentiment and counts top phrases, on all cores (what
           `survey comments` does with stored comments)
  jieba    Python jieba (pip install jieba) with the same keyword table (the journey's
           words and the built-in synonyms, read from the same Rust source):
           jieba.lcut of every comment and a keyword sum per moment, one process

Each is timed over --reps runs (wall clock); the best and the median are reported with
the ratio of the best times, as a markdown table in --out (default
bench/work/comments.md) and on stdout.

    python3 bench/comments.py                    # 1,000,000 comments
    python3 bench/comments.py --rows 100000 --reps 1
"""

import argparse
import csv
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "crates/peakend-text/tests/fixtures/comments.csv"
SYNONYMS = ROOT / "crates/peakend-text/src/synonyms.rs"


def timed(fn, reps):
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def generate(path, rows, seed):
    rng = random.Random(seed)
    clauses = []
    with open(FIXTURE, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            clauses.extend(c for c in re.split("[，。！？]", row["comment"]) if c)
    degrees = ["", "", "", "真的", "实在", "有点"]
    endings = ["", "", "。", "！", "，希望改进", "，下次还来"]
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(rows):
            parts = rng.sample(clauses, rng.choice([1, 2, 2, 3]))
            text = "，".join(parts)
            out.write(rng.choice(degrees) + text + rng.choice(endings) + "\n")


def keyword_table():
    """The built-in synonyms, read from the Rust source so both sides use one table."""
    table, moment = {}, None
    for line in SYNONYMS.read_text(encoding="utf-8").splitlines():
        m = re.match(r'\s*"([a-z_]+)",$', line)
        if m:
            moment = m.group(1)
            continue
        m = re.match(r'\s*\("([^"]+)", ([0-9.]+)\),', line)
        if m and moment:
            table.setdefault(m.group(1), []).append((moment, float(m.group(2))))
    return table


def python_jieba(path):
    import jieba

    jieba.setLogLevel(60)
    table = keyword_table()
    for word in table:
        jieba.add_word(word)
    assigned = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            scores = {}
            for word in jieba.lcut(line.rstrip("\n"), HMM=False):
                for moment, weight in table.get(word, ()):
                    scores[moment] = scores.get(moment, 0.0) + weight
            if scores and max(scores.values()) >= 1.0:
                assigned += 1
    return assigned


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--jieba-reps", type=int, default=1, help="runs of Python jieba (slow)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default=str(ROOT / "bench" / "work"))
    p.add_argument("--out", default=None)
    p.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    args = p.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # Its own target directory: a release build of the text crate alone, not blocked by
    # (nor blocking) the workspace's debug builds.
    target = Path(os.environ.get("BENCH_TARGET_DIR", ROOT / "target" / "bench-release"))
    if not args.no_build:
        print("building bench_comments (release)...", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "peakend-text", "--example", "bench_comments"],
                       cwd=ROOT, check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    peakend = str(work / "bench_comments")
    shutil.copy2(target / "release" / "examples" / "bench_comments", peakend)

    data = work / f"comments-{args.rows}-s{args.seed}.txt"
    if not data.exists():
        print(f"generating {args.rows} comments...", file=sys.stderr)
        generate(data, args.rows, args.seed)
    subprocess.run(["cat", str(data)], stdout=subprocess.DEVNULL, check=True)

    def ours():
        out = subprocess.run([peakend, str(data)], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    best, median, report = timed(ours, args.reps)
    print(f"peakend: best {best:.2f} s, median {median:.2f} s  {report}", file=sys.stderr)
    jbest, jmedian, assigned = timed(lambda: python_jieba(data), args.jieba_reps)
    print(f"python jieba: best {jbest:.2f} s, median {jmedian:.2f} s, {assigned} assigned", file=sys.stderr)

    table = "\n".join([
        f"Comments: {args.rows:,} generated from the labelled set (seed {args.seed}); {os.cpu_count()} cores.",
        "",
        "| tool | best s | median s | comments/s | ratio to peakend |",
        "|---|---|---|---|---|",
        f"| peakend-text bench_comments (segment + clauses + moments + sentiment + phrases, all cores) | {best:.2f} | {median:.2f} | {args.rows / best:,.0f} | 1.0 |",
        f"| Python jieba 0.42 (lcut, HMM off, + keyword sums, one process) | {jbest:.2f} | {jmedian:.2f} | {args.rows / jbest:,.0f} | {jbest / best:.1f} |",
        "",
        f"peakend's own report: `{report}`",
    ])
    out = Path(args.out) if args.out else work / "comments.md"
    out.write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()

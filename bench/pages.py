#!/usr/bin/env python3
"""Page speed of the dashboard (issue 5) on a province of 2,000 halls and 2M responses.

In one run on one machine:

  server time  each page GET'ed over a keep-alive loopback connection (python
               `requests`, signed in with `Authorization: Bearer`), 3 warm-ups then
               --reps timed requests; p50 and p95 of the client-observed time (it
               includes loopback and HTTP overhead, which the peer pays too); also
               each page's very first GET on the fresh server (survey figures not yet
               cached: what the first visitor after an import waits)
  after write  each survey page GET'ed --after-write times, each right after one survey
               answer is POSTed through the API: what a user meets while forms come in
  first load   each page opened in headless Chromium (Playwright, Debian's
               /usr/bin/chromium) in a fresh browser context (cold cache), timed from
               navigation start to the `load` event, and for the analysis pages to
               `body[data-charts-ready=true]` (bench/pages_load.js)

The peer is a plain server: Python's ThreadingHTTPServer (HTTP/1.1 keep-alive) serving
the very HTML bytes peakend produced for each page, saved as static files, and the same
JS assets at the same paths. The ratio is "peakend computing the page" versus "a plain
server sending the same bytes".

Data (cached in --work, not committed): an org of one province, cities of 5 districts
of 20 halls; `peakend survey synth` of --rows responses imported (roll-up cells merged
on import); a simulated day of device events for every hall on today's date in China
(+08:00), of which the events up to the time the data is built are ingested (the day
so far, as a live system holds it; --whole-day for all of them); a director and an
admin of the province.

    python3 bench/pages.py            # 2,000 halls, 2M responses (the issue's size)
    python3 bench/pages.py --quick    # 200 halls, 200k responses, fewer repetitions
"""

import argparse
import datetime as dt
import http.server
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHINA = dt.timezone(dt.timedelta(hours=8))
GOAL_SERVER_MS = 100.0
GOAL_LOAD_MS = 1000.0



def is_json(path):
    """The API's answers and the overview's trend (fetched by the page) are JSON."""
    return path.startswith("/api/") or path.startswith("/overview/trend")

def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine():
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def load_average():
    return open("/proc/loadavg").read().split()[:3]


def org_csv(path, halls):
    """One province; cities of 5 districts of 20 halls (the last ones may be short)."""
    per_district, per_city = 20, 5
    rows = ["id,parent,level,name,counters,kiosks", "p,,province,基准省,,"]
    hall_ids, cities = [], []
    n = 0
    c = 0
    while n < halls:
        c += 1
        city = f"p-c{c:02d}"
        cities.append(city)
        rows.append(f"{city},p,city,基准{c}市,,")
        for d in range(1, per_city + 1):
            if n >= halls:
                break
            district = f"{city}-d{d}"
            rows.append(f"{district},{city},district,基准{c}市{d}区,,")
            for h in range(1, per_district + 1):
                if n >= halls:
                    break
                n += 1
                hall = f"{district}-h{h:02d}"
                hall_ids.append(hall)
                counters = 4 + (n * 7) % 9  # 4..12
                kiosks = 1 + n % 4
                rows.append(f"{hall},{district},hall,基准{c}市{d}区第{h}营业厅,{counters},{kiosks}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return cities, hall_ids


def build_data(bin_, work, halls, rows, seed, whole_day=False):
    """The database (reused when complete), and the ids the pages need."""
    db = work / "pages.db"
    meta_path = work / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (meta.get("halls") == halls and meta.get("rows") == rows and meta.get("date") == today_china()
                and meta.get("whole_day", False) == whole_day):
            log(f"reusing {db}")
            return db, meta
    for p in work.glob("pages.db*"):
        p.unlink()
    run = lambda *a, **kw: sh([str(bin_), "--db", str(db), *a], **kw)
    out = lambda *a: subprocess.run([str(bin_), "--db", str(db), *a], check=True, capture_output=True, text=True).stdout
    setup = {}
    t = time.perf_counter()
    cities, hall_ids = org_csv(work / "org.csv", halls)
    run("init", stdout=subprocess.DEVNULL)
    run("org", "import", str(work / "org.csv"), stdout=subprocess.DEVNULL)
    setup["org"] = time.perf_counter() - t
    survey = work / f"survey-{halls}-{rows}.csv"
    t = time.perf_counter()
    run("survey", "synth", "--journey", "service-hall", "--rows", str(rows), "--seed", str(seed), "-o", str(survey))
    setup["synth"] = time.perf_counter() - t
    log(f"synth {setup['synth']:.0f} s")
    t = time.perf_counter()
    run("survey", "import", str(survey), "--journey", "service-hall", stdout=subprocess.DEVNULL)
    setup["import"] = time.perf_counter() - t
    log(f"import {setup['import']:.0f} s")
    survey.unlink()
    day = today_china()
    events = work / "day.ndjson"
    t = time.perf_counter()
    with open(events, "w") as f:
        run("simulate", "--halls", str(halls), "--date", day, "--seed", str(seed), stdout=f)
    setup["simulate"] = time.perf_counter() - t
    # A live system holds the day so far: keep the events up to now (China time), unless
    # --whole-day. Simulated times all read YYYY-MM-DDTHH:MM:SS…+08:00, so the first 19
    # characters compare as times.
    until = dt.datetime.now(CHINA).strftime("%Y-%m-%dT%H:%M:%S")
    if not whole_day:
        kept = work / "day-so-far.ndjson"
        with open(events) as src, open(kept, "w") as dst:
            for line in src:
                i = line.index('"at":"') + 6
                if line[i:i + 19] <= until:
                    dst.write(line)
        kept.replace(events)
    n_events = sum(1 for _ in open(events))
    t = time.perf_counter()
    run("events", "ingest", str(events), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    setup["ingest"] = time.perf_counter() - t
    events.unlink()
    director = out("user", "add", "--name", "bench-director", "--role", "director", "--org", "p").strip()
    admin = out("user", "add", "--name", "bench-admin", "--role", "admin", "--org", "p").strip()
    meta = {
        "halls": halls,
        "rows": rows,
        "date": day,
        "events": n_events,
        "whole_day": whole_day,
        "events_until": None if whole_day else until,
        "city": cities[0],
        "hall": hall_ids[0],
        "logins": {"director": ["bench-director", director], "admin": ["bench-admin", admin]},
        "setup_s": setup,
        "db_bytes": db.stat().st_size,
    }
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return db, meta


def today_china():
    return dt.datetime.now(CHINA).date().isoformat()


def pct(xs, q):
    xs = sorted(xs)
    k = max(0, math.ceil(q * len(xs)) - 1)
    return xs[k]


class Plain(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as peakend
    # Headers and body go out in separate writes: without TCP_NODELAY every response
    # waits ≈ 40 ms for the client's delayed ACK (the first recorded run had this).
    disable_nagle_algorithm = True
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".json": "application/json",
    }

    def log_message(self, *a):
        pass


def start_plain(root):
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(Plain, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{port}"


def time_get(session, url, headers, warm, reps, budget_s, min_reps=5):
    """Up to `warm` warm-ups, then reps timed GETs; fewer if a page takes seconds (at
    least min_reps, no more than budget_s of timing; the warm-ups stop after one if it
    alone took more than a tenth of the budget)."""
    first = []
    for _ in range(warm):
        t = time.perf_counter()
        r = session.get(url, headers=headers)
        first.append(time.perf_counter() - t)
        r.raise_for_status()
        if first[-1] > budget_s / 10:
            break
    per = statistics.median(first)
    n = reps if per * reps <= budget_s else max(min_reps, int(budget_s / per))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.get(url, headers=headers)
        _ = r.content
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return times


def time_after_write(session, url, headers, post, n):
    """n rounds of: one survey answer POSTed through the API (as a hall's form sends
    it), then one timed GET of the page: what a user meets while answers come in."""
    times = []
    for _ in range(n):
        post()
        t = time.perf_counter()
        r = session.get(url, headers=headers)
        _ = r.content
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="200 halls, 200k responses, 10 repetitions")
    p.add_argument("--halls", type=int, default=None)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--reps", type=int, default=None, help="timed GETs per page (default 30; quick 10)")
    p.add_argument("--loads", type=int, default=None, help="browser first loads per page (default 5; quick 2)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds of timed GETs per page at most (then fewer reps, at least 5)")
    p.add_argument("--min-reps", type=int, default=5, help="timed GETs per page at least")
    p.add_argument("--max-load-server-ms", type=float, default=5000.0,
                   help="pages whose server p50 is over this are not loaded in the browser (they cannot load in 1 s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--whole-day", action="store_true",
                   help="ingest the whole simulated day, also the events after now (default: the day so far)")
    p.add_argument("--work", default=None, help="data directory (default bench/work/pages-HALLS-ROWS)")
    p.add_argument("--skip-browser", action="store_true")
    p.add_argument("--data-only", action="store_true", help="build the data set and stop")
    p.add_argument("--after-write", type=int, default=20,
                   help="GETs per survey page each right after one survey answer is stored")
    args = p.parse_args()
    halls = args.halls or (200 if args.quick else 2000)
    rows = args.rows or (200_000 if args.quick else 2_000_000)
    reps = args.reps or (10 if args.quick else 30)
    loads = args.loads or (2 if args.quick else 5)
    work = Path(args.work or ROOT / "bench" / "work" / f"pages-{halls}-{rows}")
    work.mkdir(parents=True, exist_ok=True)

    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    log("building peakend (release)...")
    sh(["cargo", "build", "--release", "-p", "peakend"], cwd=ROOT)
    bin_ = target / "release" / "peakend"

    t0 = time.perf_counter()
    db, meta = build_data(bin_, work, halls, rows, args.seed, args.whole_day)
    log(f"data ready in {time.perf_counter() - t0:.0f} s: {json.dumps(meta['setup_s'])}")
    if args.data_only:
        return

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(bin_), "--db", str(db), "serve", "--addr", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    plain = None
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        tokens = {}
        for role, (name, pw) in meta["logins"].items():
            r = requests.post(base + "/api/v1/session", json={"name": name, "password": pw})
            r.raise_for_status()
            tokens[role] = r.json()["token"]
        sess = requests.Session()
        auth = lambda role: {"Authorization": f"Bearer {tokens[role]}"}
        a = sess.get(base + "/api/v1/analysis?journey=service-hall", headers=auth("director")).json()
        segment = sorted(a.get("weights", {}).keys())[0]
        city, hall = meta["city"], meta["hall"]
        pages = [
            # name, path, role, charts
            ("overview (province)", "/", "director", False),
            ("overview (city)", f"/?node={city}", "director", False),
            ("overview (hall)", f"/?node={hall}", "director", False),
            ("analysis (all segments)", "/analysis", "director", True),
            ("analysis (one segment)", f"/analysis?segment={segment}", "director", True),
            ("analysis (purpose 缴费)", "/analysis?purpose=缴费", "director", True),
            ("journey blueprint", "/journeys/service-hall", "director", False),
            ("A3 poster", "/journeys/service-hall/poster", "director", False),
            ("live hall board", f"/halls/{hall}/board", "director", False),
            ("KPI page (province, today)", "/kpi", "director", False),
            ("KPI page (district, today)", f"/kpi?node={hall.rsplit('-', 1)[0]}", "director", False),
            ("KPI page (hall, today)", f"/kpi?node={hall}", "director", False),
            ("overview trend (province, JSON)", "/overview/trend", "director", False),
            ("admin", "/admin", "admin", False),
            ("API analysis (JSON)", "/api/v1/analysis?journey=service-hall", "director", False),
        ]

        # The plain server's files: each page's bytes as peakend sent them, and the assets.
        static = work / "static"
        shutil.rmtree(static, ignore_errors=True)
        (static / "p").mkdir(parents=True)
        assets = set()
        plain_paths = {}
        # Each page's first GET on a fresh server: survey figures not yet cached (only
        # the JSON analysis above was asked before).
        first_ms = {}
        for i, (name, path, role, _) in enumerate(pages):
            t = time.perf_counter()
            r = sess.get(base + path, headers=auth(role))
            first_ms[name] = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            ext = "json" if is_json(path) else "html"
            (static / "p" / f"{i}.{ext}").write_bytes(r.content)
            plain_paths[name] = f"/p/{i}.{ext}"
            assets.update(re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text))
        for asset in assets:
            r = sess.get(base + asset)
            r.raise_for_status()
            dest = static / asset.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(r.content)
        plain, plain_base = start_plain(static)
        psess = requests.Session()

        load_before = load_average()
        results = []
        for name, path, role, charts in pages:
            log(f"server time: {name}")
            pk = time_get(sess, base + path, auth(role), 3, reps, args.budget, args.min_reps)
            pl = time_get(psess, plain_base + plain_paths[name], {}, 3, reps, args.budget, args.min_reps)
            size = (static / plain_paths[name].lstrip("/")).stat().st_size
            results.append({
                "page": name, "path": path, "bytes": size, "charts": charts, "first_ms": first_ms[name],
                "peakend_n": len(pk), "peakend_p50": statistics.median(pk), "peakend_p95": pct(pk, 0.95),
                "plain_n": len(pl), "plain_p50": statistics.median(pl), "plain_p95": pct(pl, 0.95),
            })
            r = results[-1]
            log(f"  peakend p50 {r['peakend_p50']:.1f} p95 {r['peakend_p95']:.1f} ms (n={r['peakend_n']}); "
                f"plain p50 {r['plain_p50']:.2f} p95 {r['plain_p95']:.2f} ms")

        # Survey pages right after a survey answer: the cached figures must take it in.
        answer_no = [0]
        retried = [0]
        month = meta["date"][:8] + "01"

        def post_answer():
            answer_no[0] += 1
            body = {"respondent": f"bench-after-write-{time.time_ns()}-{answer_no[0]}", "hall": hall,
                    "date": month, "segment": segment, "purpose": "缴费", "overall": 9, "nps": 9,
                    "ratings": {"queue": {"importance": 9, "satisfaction": 8}}}
            r = sess.post(base + "/api/v1/journeys/service-hall/responses", json=body, headers=auth("director"))
            # 503 is retryable by contract (Retry-After): a long write of the server's
            # own (the minute sweep escalating thousands of cases) can hold SQLite's
            # writer past the busy timeout. Counted, then sent again as a client would.
            if r.status_code == 503:
                retried[0] += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
                r = sess.post(base + "/api/v1/journeys/service-hall/responses", json=body, headers=auth("director"))
            r.raise_for_status()

        for r in results:
            if r["page"].startswith(("overview", "analysis", "API analysis")) and args.after_write > 0:
                log(f"after a write: {r['page']}")
                role = next(x[2] for x in pages if x[0] == r["page"])
                aw = time_after_write(sess, base + r["path"], auth(role), post_answer, args.after_write)
                r.update({"after_write_n": len(aw), "after_write_p50": statistics.median(aw),
                          "after_write_p95": pct(aw, 0.95), "after_write_max": max(aw)})
                log(f"  p50 {r['after_write_p50']:.1f} p95 {r['after_write_p95']:.1f} max {r['after_write_max']:.1f} ms")

        browser = None
        if not args.skip_browser:
            log("first loads in headless Chromium...")
            spec = {
                "loads": loads,
                "cookie": tokens,
                "pages": [
                    {"page": name, "charts": charts, "role": role,
                     "peakend": base + path, "plain": plain_base + plain_paths[name]}
                    for name, path, role, charts in pages if not is_json(path)
                    and next(r for r in results if r["page"] == name)["peakend_p50"] <= args.max_load_server_ms
                ],
            }
            (work / "loads-spec.json").write_text(json.dumps(spec, ensure_ascii=False))
            env = dict(os.environ)
            env["NODE_PATH"] = str(ROOT / "e2e" / "node_modules")
            out = subprocess.run(["node", str(ROOT / "bench" / "pages_load.js"), str(work / "loads-spec.json")],
                                 check=True, stdout=subprocess.PIPE, text=True, env=env)
            browser = json.loads(out.stdout)
            for b in browser:
                r = next(x for x in results if x["page"] == b["page"])
                r.update({k: v for k, v in b.items() if k != "page"})
        load_after = load_average()
    finally:
        server.terminate()
        server.wait()
        if plain:
            plain.shutdown()

    lines = [
        f"Machine: {machine()}; load average {' '.join(load_before)} before the timings, "
        f"{' '.join(load_after)} after.",
        f"Data: {halls:,} halls, {rows:,} responses, {meta['events']:,} device events of {meta['date']} "
        f"(+08:00{', up to ' + meta['events_until'][11:] if meta.get('events_until') else ', the whole day'}), database {meta['db_bytes'] / 2**20:.0f} MiB; "
        f"server time over {reps} GETs after 3 warm-ups (fewer where noted: at most {args.budget:.0f} s a page), "
        f"first load median and worst of {loads} fresh contexts.",
        "",
        "| page | bytes | first GET ms | peakend p50 ms | peakend p95 ms | plain p50 ms | plain p95 ms | p95 ratio | server < 100 ms | first load peakend ms (worst) | first load plain ms (worst) | load ratio | load < 1 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|:-:|",
    ]
    for r in results:
        n = "" if r["peakend_n"] == reps else f" (n={r['peakend_n']})"
        if "load_peakend_p50" in r:
            lb = (f"{r['load_peakend_p50']:.0f} ({r['load_peakend_max']:.0f}) | "
                  f"{r['load_plain_p50']:.0f} ({r['load_plain_max']:.0f}) | "
                  f"{r['load_peakend_p50'] / r['load_plain_p50']:.1f} | "
                  f"{'yes' if r['load_peakend_max'] < GOAL_LOAD_MS else '**no**'}")
        elif is_json(r["path"]):
            lb = "— | — | — | —"
        elif args.skip_browser:
            lb = "not measured (--skip-browser) | — | — | —"
        else:
            lb = f"not loaded (server p50 alone > {args.max_load_server_ms / 1000:.0f} s) | — | — | **no**"
        lines.append(
            f"| {r['page']} `{r['path']}` | {r['bytes']:,} | {r.get('first_ms', float('nan')):.0f} | {r['peakend_p50']:.1f} | {r['peakend_p95']:.1f}{n} | "
            f"{r['plain_p50']:.2f} | {r['plain_p95']:.2f} | {r['peakend_p95'] / r['plain_p95']:.0f} | "
            f"{'yes' if r['peakend_p95'] < GOAL_SERVER_MS else '**no**'} | {lb} |"
        )
    lines += [
        "",
        f"Right after a survey answer (one response POSTed through the API, then one GET; {args.after_write} rounds a page):",
        "",
        "| page | p50 ms | p95 ms | max ms | p95 < 100 ms |",
        "|---|---:|---:|---:|:-:|",
    ]
    for r in results:
        if "after_write_p95" in r:
            lines.append(f"| {r['page']} | {r['after_write_p50']:.1f} | {r['after_write_p95']:.1f} | "
                         f"{r['after_write_max']:.1f} | {'yes' if r['after_write_p95'] < GOAL_SERVER_MS else '**no**'} |")
    lines.append(f"\nAnswers sent again after a 503 (Retry-After) during those rounds: {retried[0]}.")
    table = "\n".join(lines)
    print(table)
    (work / "results.md").write_text(table + "\n")
    (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

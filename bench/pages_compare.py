#!/usr/bin/env python3
"""Server time of the overviews, KPI pages and board with one peakend binary, on the
data `bench/pages.py --data-only --work DIR` builds (2,000 halls, 2M responses, today's
events): the first GET on a fresh server, then p50/p95 of N keep-alive GETs, and the
page's size. Run it with two binaries (each on its own copy of the database: a newer
binary migrates it) to compare builds in one run:

    python3 bench/pages_compare.py target/release/peakend 15
    DB=old-copy.db python3 bench/pages_compare.py /path/to/older/peakend 15
"""
import json, os, subprocess, sys, time, statistics, requests, socket
from pathlib import Path
bin_, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 15
work = Path(os.environ.get('WORK', 'bench/work/pages-2000-2000000')); meta = json.loads((work/'meta.json').read_text())
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
base = f'http://127.0.0.1:{port}'
srv = subprocess.Popen([bin_, '--db', os.environ.get('DB', str(work/'pages.db')), 'serve', '--addr', f'127.0.0.1:{port}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(600):
        try:
            if requests.get(base + '/healthz', timeout=1).ok: break
        except Exception: pass
        time.sleep(0.1)
    name, pw = meta['logins']['director']
    tok = requests.post(base + '/api/v1/session', json={'name': name, 'password': pw}).json()['token']
    h = {'Authorization': f'Bearer {tok}'}
    sess = requests.Session()
    city, hall = meta['city'], meta['hall']
    district = hall.rsplit('-', 1)[0]
    pages = [('overview province', '/'), ('overview city', f'/?node={city}'), ('overview hall', f'/?node={hall}'),
             ('kpi province', '/kpi'), ('kpi district', f'/kpi?node={district}'), ('kpi hall', f'/kpi?node={hall}'),
             ('trend province', '/overview/trend?node=p'), ('board', f'/halls/{hall}/board'), ('board kpis', f'/halls/{hall}/board/kpis')]
    for label, path in pages:
        t = time.perf_counter(); r = sess.get(base + path, headers=h); first = (time.perf_counter() - t) * 1000
        size = len(r.content)
        for _ in range(2): sess.get(base + path, headers=h)
        xs = []
        for _ in range(n):
            t = time.perf_counter(); r = sess.get(base + path, headers=h); xs.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        xs.sort()
        print(f'{label:18s} first {first:8.1f} ms  p50 {statistics.median(xs):7.1f}  p95 {xs[int(0.95*(len(xs)-1))]:7.1f} ms  {size/1024:8.1f} KB', flush=True)
finally:
    srv.terminate(); srv.wait()

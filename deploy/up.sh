#!/usr/bin/env bash
# Starts deploy/compose.yaml (3 NATS servers, PostgreSQL, two peakend nodes, a proxy on
# :8080), loads the org and an administrator if given, and waits until it answers.
#   PEAKEND_CUSTOMER_SALT=… deploy/up.sh [org.csv]
set -euo pipefail
# the org file as given, relative to where this was started (before the cd below)
[ $# -ge 1 ] && set -- "$(realpath "$1")"
cd "$(dirname "$0")"
: "${PEAKEND_CUSTOMER_SALT:?set PEAKEND_CUSTOMER_SALT (the same secret on every node)}"
docker compose up -d --build
for _ in $(seq 1 60); do
  curl -fsS http://localhost:8080/healthz >/dev/null 2>&1 && break
  sleep 2
done
# (its answer has no newline of its own)
curl -fsS http://localhost:8080/healthz && echo
run() { docker compose exec -T peakend1 peakend --db postgres://peakend:peakend@postgres:5432/peakend "$@"; }
if [ $# -ge 1 ]; then
  docker compose cp "$1" peakend1:/tmp/org.csv
  run org import /tmp/org.csv
  # (awk reads to the end: quitting early would fail the pipe on a large org)
  root="$(run org list --format csv | awk -F, 'NR > 1 && $2 == "" && root == "" { root = $1 } END { print root }')"
  if password="$(run user add --name admin --role admin --org "$root")"; then
    echo "admin of $root, password: $password"
  else
    echo "no new admin (see above); a new password: peakend user reset-password --name admin"
  fi
fi
echo "peakend: http://localhost:8080 (two nodes behind the proxy)"

#!/usr/bin/env bash
# Stop what deploy/dev-up.sh started (by PID file only); add --cluster to stop the dev cluster too.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in api worker; do
    pidfile=/run/myriagate/$name.pid
    [ -f "$pidfile" ] || continue
    start-stop-daemon --stop --oknodo --retry TERM/15/KILL/5 --pidfile "$pidfile" --remove-pidfile >/dev/null
    echo "$name stopped"
done
if [ "${1:-}" = "--cluster" ]; then
    bash deploy/devcluster/down.sh
fi

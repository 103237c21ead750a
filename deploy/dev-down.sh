#!/usr/bin/env bash
# Stop what deploy/dev-up.sh started (by PID file only); add --cluster to stop the dev cluster too.
# Safe to run again: a daemon already gone is reported, and its stale PID file removed.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    ""|--cluster) ;;
    *) echo "dev-down.sh: unknown option $1 (usage: bash deploy/dev-down.sh [--cluster])" >&2; exit 2 ;;
esac
run_dir=${MYRIAGATE_DEV_RUN_DIR:-/run/myriagate}  # as dev-up.sh
for name in api worker; do
    pidfile=$run_dir/$name.pid
    [ -f "$pidfile" ] || continue
    # --name: a PID file left by a crash may name a PID since reused by another program.
    if start-stop-daemon --status --pidfile "$pidfile" --name myriagate; then
        start-stop-daemon --stop --oknodo --retry TERM/15/KILL/5 --pidfile "$pidfile" --name myriagate \
            --remove-pidfile >/dev/null
        echo "$name stopped"
    else
        rm -f -- "$pidfile"
        echo "$name was not running (stale PID file removed)"
    fi
done
if [ "${1:-}" = "--cluster" ]; then
    bash deploy/devcluster/down.sh
fi

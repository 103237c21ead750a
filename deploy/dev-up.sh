#!/usr/bin/env bash
# Bring up myriagate on the local dev cluster with demo data:
#   install (venv + Slurm + sshd), migrate the database, start the tracking worker and the
#   API server (http://127.0.0.1:8000) in the background, then seed demo users and submit
#   demo jobs as alice, bob and carol, showing their states live until they end.
# Runs again over a database that earlier use has changed: the demo users are put back and
# a demo grant with less than 90 % left is topped up (one line says what was done);
# --reset starts from a fresh database instead (the old one is moved aside, not deleted).
# Usage: bash deploy/dev-up.sh [--reset]; stop everything with: bash deploy/dev-down.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
reset=0
case "${1:-}" in
    "") ;;
    --reset) reset=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dev-up.sh: unknown option $1 (usage: bash deploy/dev-up.sh [--reset])" >&2; exit 2 ;;
esac

bash deploy/install.sh
bash deploy/devcluster/up.sh

# deploy/dev.env's settings; one already in the environment wins, so a test can run a stack
# of its own (database, spool, port, and the PID and log folders below).
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    key=${line%%=*}
    [ -n "${!key+set}" ] || export "${line?}"
done < deploy/dev.env
run_dir=${MYRIAGATE_DEV_RUN_DIR:-/run/myriagate}
log_dir=${MYRIAGATE_DEV_LOG_DIR:-/var/log/myriagate}
# Jobs of alice, bob and carol run on this host: the gateway's state is for the gateway only.
# Everything created from here on is 0600/0700; an older install is tightened in place.
umask 077
bash deploy/private-state.sh /var/lib/myriagate "$log_dir" "$run_dir" \
    "$MYRIAGATE_SPOOL_DIR" -- "$MYRIAGATE_SSH_CA_KEY_PATH"
if [ "$reset" = 1 ]; then
    # The server and worker keep the database open: stop them before moving it.
    bash deploy/dev-down.sh
    case "$MYRIAGATE_DATABASE_URL" in
        sqlite:///*) db=${MYRIAGATE_DATABASE_URL#sqlite:///} ;;
        *) echo "dev-up.sh --reset: only a SQLite dev database can be reset here;" \
                "empty $MYRIAGATE_DATABASE_URL yourself, then run dev-up.sh again" >&2; exit 2 ;;
    esac
    if [ -e "$db" ]; then
        kept="$db.$(date -u +%Y%m%dT%H%M%SZ).bak"
        for suffix in "" -wal -shm; do
            [ ! -e "$db$suffix" ] || mv -- "$db$suffix" "$kept$suffix"
        done
        echo "Fresh database (--reset): the old one is kept as $kept; jobs it followed are no longer followed."
    else
        echo "Fresh database (--reset): there was none at $db."
    fi
fi
.venv/bin/myriagate admin db upgrade

port=${MYRIAGATE_PORT:-8000}
start_daemon() { # name, args...
    local name=$1; shift
    local pidfile=$run_dir/$name.pid
    # --name: a pid file left by a crash may name a pid since reused by another program.
    # Run again, it serves the code as it is now: a process still running the code of its start
    # is stopped first (people rerun this script after pulling or editing, and expect the change).
    if start-stop-daemon --status --pidfile "$pidfile" --name myriagate; then
        start-stop-daemon --stop --oknodo --retry TERM/15/KILL/5 --pidfile "$pidfile" --name myriagate \
            >/dev/null
        rm -f -- "$pidfile"
        echo "$name stopped, to start again with the current code"
    fi
    if [ -e "$pidfile" ]; then
        echo "$name: removing a stale pid file (pid $(cat "$pidfile") is not running myriagate)"
        rm -f -- "$pidfile"
    fi
    start-stop-daemon --start --background --make-pidfile --pidfile "$pidfile" \
        --output "$log_dir/$name.log" --chdir "$root" \
        --exec "$root/.venv/bin/myriagate" -- "$@"
    echo "$name started (log: $log_dir/$name.log)"
}
start_daemon worker worker
start_daemon api serve --host 127.0.0.1 --port "$port"
healthy() {
    .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
        2>/dev/null
}
for _ in $(seq 1 100); do
    healthy && break
    sleep 0.2
done
# A daemon that died at start (a port taken, a bad setting) must stop the demo here, with why.
for name in api worker; do
    if ! start-stop-daemon --status --pidfile "$run_dir/$name.pid" --name myriagate; then
        echo "dev-up.sh: the $name is not running; the end of $log_dir/$name.log:" >&2
        tail -n 20 "$log_dir/$name.log" >&2
        exit 1
    fi
done
if ! healthy; then
    echo "dev-up.sh: nothing answers http://127.0.0.1:$port/healthz; the end of $log_dir/api.log:" >&2
    tail -n 20 "$log_dir/api.log" >&2
    exit 1
fi

.venv/bin/myriagate admin demo --watch --timeout "${DEMO_TIMEOUT:-300}"
cat <<MSG

myriagate is running on the dev cluster:
  API:          http://127.0.0.1:$port/api/v1/docs
  sign in:      .venv/bin/myriagate login --url http://127.0.0.1:$port
                (users alice, bob, carol, diane, admin; password ${MYRIAGATE_DEMO_PASSWORD:-myriagate-demo})
  logs:         $log_dir/worker.log, $log_dir/api.log
  database:     ${MYRIAGATE_DATABASE_URL}
  settings:     set -a; . deploy/dev.env; set +a
  stop:         bash deploy/dev-down.sh
  run again:    bash deploy/dev-up.sh (tops the demo grants up) or --reset (a fresh database)
MSG

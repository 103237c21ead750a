#!/usr/bin/env bash
# Bring up myriagate on the local dev cluster with demo data:
#   install (venv + Slurm + sshd), migrate the database, start the tracking worker and the
#   API server (http://127.0.0.1:8000) in the background, then seed demo users and submit
#   demo jobs as alice, bob and carol, showing their states live until they end.
# Idempotent; stop everything with: bash deploy/dev-down.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash deploy/install.sh
bash deploy/devcluster/up.sh

set -a
# shellcheck disable=SC1091
. deploy/dev.env
set +a
# Jobs of alice, bob and carol run on this host: the gateway's state is for the gateway only.
# Everything created from here on is 0600/0700; an older install is tightened in place.
umask 077
bash deploy/private-state.sh /var/lib/myriagate /var/log/myriagate /run/myriagate \
    "$MYRIAGATE_SPOOL_DIR" -- "$MYRIAGATE_SSH_CA_KEY_PATH"
.venv/bin/myriagate admin db upgrade

start_daemon() { # name, args...
    local name=$1; shift
    local pidfile=/run/myriagate/$name.pid
    if start-stop-daemon --status --pidfile "$pidfile" 2>/dev/null; then
        echo "$name already running (pid $(cat "$pidfile"))"
        return
    fi
    start-stop-daemon --start --background --make-pidfile --pidfile "$pidfile" \
        --output "/var/log/myriagate/$name.log" --chdir "$root" \
        --exec "$root/.venv/bin/myriagate" -- "$@"
    echo "$name started (log: /var/log/myriagate/$name.log)"
}
start_daemon worker worker
start_daemon api serve --host 127.0.0.1 --port "${MYRIAGATE_PORT:-8000}"
for _ in $(seq 1 50); do
    .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${MYRIAGATE_PORT:-8000}/healthz', timeout=1)" \
        2>/dev/null && break
    sleep 0.2
done

.venv/bin/myriagate admin demo --watch --timeout "${DEMO_TIMEOUT:-300}"
cat <<MSG

myriagate is running on the dev cluster:
  API:          http://127.0.0.1:${MYRIAGATE_PORT:-8000}/api/v1/docs
  sign in:      .venv/bin/myriagate login --url http://127.0.0.1:${MYRIAGATE_PORT:-8000}
                (users alice, bob, carol, diane, admin; password ${MYRIAGATE_DEMO_PASSWORD:-myriagate-demo})
  logs:         /var/log/myriagate/worker.log, /var/log/myriagate/api.log
  database:     ${MYRIAGATE_DATABASE_URL}
  settings:     set -a; . deploy/dev.env; set +a
  stop:         bash deploy/dev-down.sh
MSG

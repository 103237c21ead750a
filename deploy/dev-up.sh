#!/usr/bin/env bash
# Bring up myriagate on the local dev cluster with demo data:
#   install (venv + Slurm + sshd), migrate the database, start the tracking worker in the
#   background, then submit demo jobs as alice, bob and carol and show their states live.
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
mkdir -p /var/lib/myriagate /var/log/myriagate /run/myriagate
.venv/bin/myriagate admin db upgrade

pidfile=/run/myriagate/worker.pid
if ! start-stop-daemon --status --pidfile "$pidfile" 2>/dev/null; then
    start-stop-daemon --start --background --make-pidfile --pidfile "$pidfile" \
        --output /var/log/myriagate/worker.log --chdir "$root" \
        --exec "$root/.venv/bin/myriagate" -- worker
    echo "worker started (log: /var/log/myriagate/worker.log)"
else
    echo "worker already running (pid $(cat "$pidfile"))"
fi

.venv/bin/myriagate admin demo --watch --timeout "${DEMO_TIMEOUT:-300}"
cat <<MSG

myriagate is running on the dev cluster:
  worker log:   /var/log/myriagate/worker.log
  database:     ${MYRIAGATE_DATABASE_URL}
  settings:     set -a; . deploy/dev.env; set +a
  stop:         bash deploy/dev-down.sh
MSG

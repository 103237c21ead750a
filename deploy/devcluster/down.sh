#!/usr/bin/env bash
# Stop the dev cluster's daemons, each ONLY through the PID file up.sh recorded under
# /run/myriagate-devcluster (a MariaDB that was already running is never touched).
# Running job steps (slurmstepd) are not tracked: they survive and slurmd picks them up again.
#   --purge  also drop the accounting database and delete Slurm state, rendered configs and
#            logs, so the next up.sh starts a new cluster (job ids from 1). The SSH CA, host key
#            and known_hosts are kept (the gateway's settings point at them), as are packages,
#            Unix users and the storage endpoint's data under /srv/myriagate-storage.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root
purge=0
case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) die "usage: down.sh [--purge]" ;;
esac

if [ "$purge" = 1 ] && check_slurmctld; then
    # The spool is about to go: end every job first so no slurmstepd is left orphaned.
    mapfile -t jobs < <(squeue -h -o %i)
    if [ "${#jobs[@]}" -gt 0 ]; then
        log "cancelling ${#jobs[@]} job(s)"
        scancel "${jobs[@]}" || true
        sleep 6   # KillWait=5
    fi
fi

purge_db=0
if [ "$purge" = 1 ] && check_mariadb; then purge_db=1; fi

# Reverse start order; with --purge the accounting DB is dropped once slurmdbd is gone
# and before a MariaDB of our own stops.
for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    name="${DAEMONS[$i]}"
    if [ "$name" = mariadbd ] && [ "$purge_db" = 1 ]; then
        log "dropping database $DB_NAME"
        mysql_root -e "DROP DATABASE IF EXISTS $DB_NAME; DROP USER IF EXISTS '$DB_USER'@'localhost'; DROP USER IF EXISTS '$DB_USER'@'127.0.0.1';"
    fi
    stop_daemon "$name"
done

if [ "$purge" = 1 ]; then
    log "purging state"
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* "$LOG_DIR" \
        "$SLURM_ETC/slurm.conf" "$SLURM_ETC/gres.conf" "$SLURM_ETC/slurmdbd.conf" "$SSHD_CONFIG" "$STORAGE_SSHD_CONFIG"
fi
echo "devcluster DOWN$([ "$purge" = 1 ] && echo ' (purged)')"

#!/usr/bin/env bash
# Exit 0 only when every part of the dev cluster is ready (no waiting; for tests and CI).
# Prints one line per check; -q prints only failures.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quiet=0
[ "${1:-}" = -q ] && quiet=1
failed=0
report() { # check-function description
    if "$1"; then
        [ "$quiet" = 1 ] || printf 'ok    %s\n' "$2"
    else
        printf 'FAIL  %s\n' "$2"
        failed=1
    fi
}
report check_munge "munge -n | unmunge"
report check_mariadb "MariaDB ping (127.0.0.1:3306)"
report check_slurmdbd "sacctmgr -n show cluster lists $CLUSTER"
report check_slurmctld "scontrol ping: UP"
report check_node "sinfo -n $NODE is idle|mix|alloc"
report check_slurmrestd "slurmrestd $RESTD_HOST:$RESTD_PORT answers a JWT ping as alice"
report check_reservation "reservation $RESERVATION is active"
report check_ssh "certificate login as alice on $SSH_HOST:$SSH_PORT"
report check_storage_ssh "storage endpoint $SSH_HOST:$STORAGE_SSH_PORT: $STORAGE_LOGIN writes $STORAGE_ROOT/{$(IFS=,; echo "${STORAGE_SITES[*]}")}"
exit "$failed"

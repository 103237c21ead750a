# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source this
# Shared paths and helpers for up.sh, down.sh and status.sh (sourced, never run).
# Everything here must work as root on a bare Debian 12 without systemd.

DEVCLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

RUN_DIR=/run/myriagate-devcluster          # our PID files (the only thing down.sh trusts)
LOG_DIR=/var/log/myriagate-devcluster      # daemon logs
STATE_DIR=/var/lib/myriagate-devcluster    # CA, host key, known_hosts, DB password
SLURM_ETC=/etc/slurm
SSHD_CONFIG=/etc/ssh/sshd_config_devcluster
SSH_PORT=2222
SSH_HOST=127.0.0.1
CLUSTER=devcluster
NODE=vm
# QOS besides "normal" (allowed on the root association) and the standing reservation.
SITE_QOS=(short long)
RESERVATION=training
RESERVATION_USERS=(alice bob carol mallory myriagate)
# Logins of the demo's admins: Unix users with no Slurm association (they run no jobs).
ADMIN_USERS=(diane admin)
DB_NAME=slurm_acct_db
DB_USER=slurm
CA_KEY="$STATE_DIR/ssh_user_ca"
HOST_KEY="$STATE_DIR/ssh_host_ed25519_key"
KNOWN_HOSTS="$STATE_DIR/known_hosts"
# The "regional datacenter" storage endpoint: a second certificate-only sshd (SFTP + commands).
STORAGE_SSHD_CONFIG=/etc/ssh/sshd_config_devcluster_storage
STORAGE_SSH_PORT=2223
STORAGE_HOST_KEY="$STATE_DIR/ssh_host_storage_ed25519_key"
STORAGE_ROOT=/srv/myriagate-storage
STORAGE_SITES=(caen paris)
STORAGE_LOGIN=myriagate

# tcsh and zsh: login shells of the hostile-login tests (tests/integration/test_hostile_login.py).
# lua5.1: luac5.1 checks job_submit.lua before slurmctld reads it (a broken one stops slurmctld).
PACKAGES=(munge slurm-wlm slurmdbd slurm-client slurmrestd slurm-wlm-jwt-plugin mariadb-server mariadb-client
          openssh-server openssh-client rsync tcsh zsh curl lua5.1)

# JupyterLab for interactive sessions (docs/interactive.md): one shared venv, from PyPI with
# the system Python (the test users cannot read root's pyenv), readable by every login.
JUPYTER_VENV=/opt/myriagate-jupyter
JUPYTERLAB_VERSION=4.6.6

# Daemons in start order; down.sh walks this list backwards.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd slurmrestd sshd sshd-storage)

# slurmrestd (OpenAPI v0.0.38 and dbv0.0.38) on loopback, JWT-authenticated: the key signs the
# tokens the gateway mints per researcher (HS256, as `scontrol token` does). Readable by slurm
# (slurmctld, slurmdbd) and root (the gateway) only.
RESTD_HOST=127.0.0.1
RESTD_PORT=6820
RESTD_USER=slurmrestd
JWT_KEY=/var/spool/slurmctld/jwt_hs256.key

log() { printf '[devcluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[devcluster] ERROR: %s\n' "$*" >&2; exit 1; }

require_root() { [ "$(id -u)" -eq 0 ] || die "run as root"; }

pidfile_of() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

exec_of() {
    case "$1" in
        munged) echo /usr/sbin/munged ;;
        mariadbd) echo /usr/sbin/mariadbd ;;
        slurmdbd) echo /usr/sbin/slurmdbd ;;
        slurmctld) echo /usr/sbin/slurmctld ;;
        slurmd) echo /usr/sbin/slurmd ;;
        slurmrestd) echo /usr/sbin/slurmrestd ;;
        sshd | sshd-storage) echo /usr/sbin/sshd ;;
        *) die "unknown daemon $1" ;;
    esac
}

# True when the PID recorded for $1 is alive and runs the expected binary.
daemon_running() {
    local pidfile
    pidfile="$(pidfile_of "$1")"
    [ -s "$pidfile" ] || return 1
    start-stop-daemon --status --pidfile "$pidfile" --exec "$(exec_of "$1")"
}

# start_daemon NAME [--chuid user:group] -- ARGS...
# Starts NAME in the background with our PID file and log, unless already running.
start_daemon() {
    local name="$1"; shift
    local extra=()
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do extra+=("$1"); shift; done
    [ "${1:-}" = "--" ] && shift
    if daemon_running "$name"; then
        return 0
    fi
    log "starting $name"
    rm -f "$(pidfile_of "$name")"
    start-stop-daemon --start --background --make-pidfile \
        --pidfile "$(pidfile_of "$name")" --exec "$(exec_of "$name")" \
        --output "$LOG_DIR/$name.out" "${extra[@]}" -- "$@"
}

stop_daemon() {
    local name="$1" pidfile
    pidfile="$(pidfile_of "$name")"
    [ -e "$pidfile" ] || return 0
    log "stopping $name"
    # --exec guards against a recycled PID; --retry waits until it is really gone.
    start-stop-daemon --stop --oknodo --pidfile "$pidfile" --exec "$(exec_of "$name")" \
        --retry TERM/20/KILL/5 >/dev/null || true
    rm -f "$pidfile"
}

# The log lines most likely to explain a failure of daemon $1.
log_tail() {
    local f
    for f in "$LOG_DIR/$1.out" "$LOG_DIR/$1.log"; do
        [ -s "$f" ] || continue
        echo "---- tail of $f"
        tail -n 25 "$f"
    done
}

# wait_until SECONDS DESCRIPTION DAEMON-FOR-LOGS CHECK-FUNCTION
wait_until() {
    local timeout="$1" what="$2" daemon="$3" check="$4"
    local deadline=$((SECONDS + timeout))
    until "$check"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            printf '[devcluster] ERROR: %s not ready after %ss\n' "$what" "$timeout" >&2
            [ -n "$daemon" ] && log_tail "$daemon" >&2
            exit 1
        fi
        sleep 0.5
    done
}

# root access to MariaDB: TCP on 127.0.0.1 without password (pre-existing server),
# else the unix socket (a server we initialised ourselves: root uses unix_socket auth).
mysql_root() {
    if mariadb --protocol=TCP -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null 2>&1; then
        mariadb --protocol=TCP -h 127.0.0.1 -P 3306 -u root "$@"
    else
        mariadb -u root "$@"
    fi
}

# ---- readiness checks (each quick, no waiting; used by up.sh and status.sh)
check_munge() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
check_mariadb() {
    mariadb-admin --protocol=TCP -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1 \
        || mariadb-admin -u root ping >/dev/null 2>&1
}
check_slurmdbd() {
    timeout 10 sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"
}
check_slurmctld() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
check_node() {
    local state
    state="$(timeout 10 sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n 1)"
    # A working node: idle, partly or fully allocated, or finishing jobs (comp), possibly with
    # a reservation or a planned job on it (a trailing '-' or '@'); never not responding ('*').
    case "$state" in idle | mix | alloc | comp | idle- | mix- | alloc- | mix@ | alloc@ | idle@) return 0 ;; *) return 1 ;; esac
}
# slurmrestd answers a ping for alice with a token scontrol mints (proves JWT end to end).
check_slurmrestd() {
    local token
    token="$(timeout 10 scontrol token username=alice lifespan=60 2>/dev/null | sed -n 's/^SLURM_JWT=//p')"
    [ -n "$token" ] || return 1
    timeout 10 curl -fsS -o /dev/null -H "X-SLURM-USER-NAME: alice" -H "X-SLURM-USER-TOKEN: $token" \
        "http://$RESTD_HOST:$RESTD_PORT/slurm/v0.0.38/ping" 2>/dev/null
}
check_reservation() { timeout 10 scontrol -o show reservation "$RESERVATION" 2>/dev/null | grep -q 'State=ACTIVE'; }
# cert_ssh PORT LOGIN COMMAND...: a real certificate login, pinned host key; prints stdout.
cert_ssh() {
    [ -s "$CA_KEY" ] && [ -s "$KNOWN_HOSTS" ] || return 1
    local port="$1" login="$2" tmp rc=0
    shift 2
    tmp="$(mktemp -d)"
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/key" -C devcluster-readiness >/dev/null 2>&1
    ssh-keygen -q -s "$CA_KEY" -I readiness-check -n "$login" -V +5m "$tmp/key.pub" >/dev/null 2>&1
    timeout 15 ssh -p "$port" -o BatchMode=yes -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
        -o StrictHostKeyChecking=yes -o ConnectTimeout=5 -o KexAlgorithms=curve25519-sha256 \
        -i "$tmp/key" -o CertificateFile="$tmp/key-cert.pub" \
        "$login@$SSH_HOST" "$@" 2>/dev/null || rc=$?
    rm -rf "$tmp"
    return "$rc"
}
# A real certificate login as alice over the devcluster sshd, pinned host key.
check_ssh() { [ "$(cert_ssh "$SSH_PORT" alice id -un)" = alice ]; }
# The storage endpoint: the service login can write into every site directory.
check_storage_ssh() {
    local site tests=()
    for site in "${STORAGE_SITES[@]}"; do tests+=("test -d $STORAGE_ROOT/$site -a -w $STORAGE_ROOT/$site &&"); done
    [ "$(cert_ssh "$STORAGE_SSH_PORT" "$STORAGE_LOGIN" "${tests[@]}" id -un)" = "$STORAGE_LOGIN" ]
}

#!/usr/bin/env bash
# Bring up the single-node dev cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd and a
# certificate-only sshd on 127.0.0.1:2222). Idempotent: a second run is a fast no-op,
# and it restarts whatever down.sh stopped. Run as root on Debian 12; no systemd needed.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root
T0=$SECONDS
export DEBIAN_FRONTEND=noninteractive

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]}"
    # Without an init system the packages' scripts fail trying to start services.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# install -m MODE -o OWNER only when the content changed; returns 0 when it did.
write_if_changed() {
    local dest="$1" mode="$2" owner="$3" tmp
    tmp="$(mktemp)"
    cat >"$tmp"
    if [ -e "$dest" ] && cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
        chmod "$mode" "$dest"; chown "$owner" "$dest"
        return 1
    fi
    install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$dest"
    rm -f "$tmp"
    return 0
}

prepare_dirs() {
    install -d -m 0755 "$RUN_DIR" "$LOG_DIR" /run/sshd
    install -d -m 0700 "$STATE_DIR"
    install -d -m 0755 -o munge -g munge /run/munge /var/log/munge /var/lib/munge
    install -d -m 0700 -o munge -g munge /etc/munge
    install -d -m 0755 -o slurm -g slurm /run/slurm /var/spool/slurmctld /var/log/slurm
    install -d -m 0755 /var/spool/slurmd "$SLURM_ETC"
    local f
    for f in slurmctld.log slurmdbd.log; do
        touch "$LOG_DIR/$f"; chown slurm:slurm "$LOG_DIR/$f"
    done
}

setup_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating munge key"
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    start_daemon munged --chuid munge:munge -- --foreground
    wait_until 20 "munge (munge -n | unmunge)" munged check_munge
}

setup_mariadb() {
    if check_mariadb; then
        # A server we did not start (or started earlier) already answers: use it.
        return 0
    fi
    if [ ! -d /var/lib/mysql/mysql ]; then
        log "initialising MariaDB data directory"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG_DIR/mariadb-install-db.out" 2>&1
    fi
    install -d -m 0755 -o mysql -g mysql /run/mysqld
    start_daemon mariadbd -- --user=mysql --bind-address=127.0.0.1 --port=3306
    wait_until 60 "MariaDB ping" mariadbd check_mariadb
}

# The slurmdbd DB password is generated once and kept in the state dir.
db_password() {
    local f="$STATE_DIR/slurmdbd_db_password"
    if [ ! -s "$f" ]; then
        (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$f")
    fi
    cat "$f"
}

setup_accounting_db() {
    local pw
    pw="$(db_password)"
    # Idempotent: IF NOT EXISTS + ALTER keeps the password in sync with the state dir.
    # shellcheck disable=SC2119  # no arguments: the SQL comes on stdin
    mysql_root <<SQL
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
SQL
}

# True when daemon $1 runs and was started before config file $2 was last written: a run of
# this script that wrote the file but failed before restarting the daemon leaves it stale.
older_than_config() {
    local pidfile
    pidfile="$(pidfile_of "$1")"
    daemon_running "$1" && [ "$2" -nt "$pidfile" ]
}

# The JWT key exists before slurmctld and slurmdbd read AuthAltParameters.
setup_jwt_key() {
    if [ ! -s "$JWT_KEY" ]; then
        log "creating the JWT key for slurmrestd tokens"
        (umask 077; head -c 32 /dev/urandom >"$JWT_KEY")
    fi
    chown slurm:slurm "$JWT_KEY"
    chmod 0600 "$JWT_KEY"
}

# JobSubmitPlugins=lua reads job_submit.lua beside slurm.conf: checked first (slurmctld does not
# start with a broken one), installed before slurm.conf names the plugin. slurmctld re-reads the
# script by itself when it changes: no restart for a new version of it.
install_job_submit_lua() {
    local src="$DEVCLUSTER_DIR/../slurm/job_submit.lua"
    luac5.1 -p "$src" || die "luac5.1 -p refused $src"
    write_if_changed "$SLURM_ETC/job_submit.lua" 0644 root:root <"$src" \
        && log "installed $SLURM_ETC/job_submit.lua"
    return 0
}

write_slurm_configs() {
    SLURM_CONF_CHANGED=0
    DBD_CONF_CHANGED=0
    sed "s/@CTLD_HOST@/$(hostname -s)/" "$DEVCLUSTER_DIR/slurm.conf.in" \
        | write_if_changed "$SLURM_ETC/slurm.conf" 0644 root:root && SLURM_CONF_CHANGED=1
    write_if_changed "$SLURM_ETC/gres.conf" 0644 root:root <"$DEVCLUSTER_DIR/gres.conf.in" \
        && SLURM_CONF_CHANGED=1
    install_job_submit_lua
    sed "s/@DB_PASSWORD@/$(db_password)/" "$DEVCLUSTER_DIR/slurmdbd.conf.in" \
        | write_if_changed "$SLURM_ETC/slurmdbd.conf" 0600 slurm:slurm && DBD_CONF_CHANGED=1
    return 0
}

start_slurmdbd() {
    if { [ "$DBD_CONF_CHANGED" = 1 ] || older_than_config slurmdbd "$SLURM_ETC/slurmdbd.conf"; } \
        && daemon_running slurmdbd; then
        log "slurmdbd.conf changed: restarting slurmdbd"
        stop_daemon slurmdbd
    fi
    start_daemon slurmdbd -- -D
    wait_until 60 "slurmdbd (sacctmgr reachable)" slurmdbd sacctmgr_reachable
    if ! check_slurmdbd; then
        log "registering cluster $CLUSTER"
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    wait_until 30 "slurmdbd (sacctmgr -n show cluster lists $CLUSTER)" slurmdbd check_slurmdbd
}
sacctmgr_reachable() { timeout 10 sacctmgr -n show cluster >/dev/null 2>&1; }

# One snapshot of the association tree per run: each sacctmgr call costs ~0.2 s, and a
# no-op re-run should not pay that per account and user.
ASSOCS=""
USERS=""
snapshot_accounting() {
    # account|user|parent rows (user empty for an account's own association)
    ASSOCS="$(sacctmgr -n -P show assoc where cluster="$CLUSTER" format=account,user,parentname)"
    USERS="$(sacctmgr -n -P show user format=user,defaultaccount)"
}

ensure_account() { # name parent description organization
    if ! grep -qx "$1||$2" <<<"$ASSOCS"; then
        log "adding account $1 (parent $2)"
        if grep -q "^$1|" <<<"$ASSOCS"; then
            sacctmgr -i modify account where name="$1" cluster="$CLUSTER" set parent="$2" >/dev/null
        else
            sacctmgr -i add account "$1" cluster="$CLUSTER" parent="$2" \
                description="$3" organization="$4" >/dev/null
        fi
    fi
}

ensure_unix_user() {
    if ! id "$1" >/dev/null 2>&1; then
        log "adding unix user $1"
        useradd -m -s /bin/bash "$1"
    fi
    # sshd with UsePAM no refuses locked ('!') accounts even for certificates.
    if [ "$(getent shadow "$1" | cut -d: -f2)" != '*' ]; then
        usermod -p '*' "$1"
    fi
}

ensure_association() { # user account
    if ! grep -q "^$2|$1|" <<<"$ASSOCS"; then
        log "associating $1 with $2"
        sacctmgr -i add user "$1" account="$2" cluster="$CLUSTER" >/dev/null
    fi
}

ensure_default_account() { # user account
    if ! grep -qx "$1|$2" <<<"$USERS"; then
        sacctmgr -i modify user where name="$1" set defaultaccount="$2" >/dev/null
    fi
}

# A second QOS a login may pick for itself (SBATCH_QOS in a start-up file): the hostile-login
# tests check that the gateway's submissions keep the default one.
ensure_qos() { # qos user
    if ! sacctmgr -n -P show qos format=name | grep -qx "$1"; then
        log "adding QOS $1"
        sacctmgr -i add qos "$1" >/dev/null
    fi
    if ! sacctmgr -n -P show assoc where user="$2" format=qos | tr ',' '\n' | grep -qx "$1"; then
        sacctmgr -i modify user where name="$2" set qos+="$1" >/dev/null
    fi
}

# The QOS jobs may ask for with --qos (each partition's AllowQos in slurm.conf names its own).
# They must exist before slurmctld reads AllowQos; the root association allows them, so every
# account and user (tests' throw-away accounts too) inherits them.
ensure_site_qos() {
    local have name
    have="$(sacctmgr -n -P show qos format=name)"
    for name in "${SITE_QOS[@]}"; do
        if ! grep -qx "$name" <<<"$have"; then
            log "adding QOS $name"
            sacctmgr -i add qos "$name" "description=devcluster QOS $name" >/dev/null
        fi
    done
    have="$(sacctmgr -n -P show assoc where cluster="$CLUSTER" account=root format=user,qos | grep '^|')"
    for name in "${SITE_QOS[@]}"; do
        if ! tr ',' '\n' <<<"${have#|}" | grep -qx "$name"; then
            log "allowing QOS ${SITE_QOS[*]} on the root association"
            sacctmgr -i modify account where name=root cluster="$CLUSTER" \
                set "qos+=$(IFS=,; echo "${SITE_QOS[*]}")" >/dev/null
            break
        fi
    done
}

setup_accounts() {
    local u
    # mallory: a researcher login whose start-up files and shell the tests make hostile
    # (tests/integration/test_hostile_login.py); nothing else uses it, so those tests never
    # disturb alice's. diane and admin: the demo's university and platform admins
    # (myriagate/demo/data.py), people with logins of their own but no project, so no Slurm
    # association: they browse their files and read others' jobs through the gateway, and never
    # act as the service login "myriagate".
    for u in alice bob carol myriagate mallory "${ADMIN_USERS[@]}"; do ensure_unix_user "$u"; done
    snapshot_accounting
    ensure_account unicaen root "Universite de Caen Normandie" unicaen
    ensure_account urouen root "Universite de Rouen Normandie" urouen
    ensure_account caen-climat unicaen "Projet climat (Caen)" unicaen
    ensure_account caen-bio unicaen "Projet bio (Caen)" unicaen
    ensure_account rouen-chimie urouen "Projet chimie (Rouen)" urouen
    ensure_account myriagate-ops root "Service login of the myriagate gateway" myriagate
    ensure_association alice caen-climat
    ensure_association bob rouen-chimie
    ensure_association carol caen-climat
    ensure_association carol caen-bio
    ensure_association myriagate myriagate-ops
    ensure_association mallory caen-climat
    ensure_association mallory caen-bio
    # Re-read: a user's first association made its first account the default.
    snapshot_accounting
    ensure_default_account alice caen-climat
    ensure_default_account bob rouen-chimie
    ensure_default_account carol caen-climat
    ensure_default_account myriagate myriagate-ops
    ensure_default_account mallory caen-climat
    ensure_qos high mallory
    ensure_site_qos
    for u in alice bob carol myriagate mallory "${ADMIN_USERS[@]}"; do ensure_scratch "$u"; done
    ensure_small_disk alice
}

# The file browser's "scratch" area (cluster_profiles/devcluster.toml): /scratch/<login>,
# the login's own and closed to the others, as on a real cluster.
ensure_scratch() {
    install -d -m 0755 -o root -g root /scratch
    if [ ! -d "/scratch/$1" ]; then
        log "making /scratch/$1"
        install -d -m 0700 -o "$1" -g "$1" "/scratch/$1"
    fi
}

# A full disk for the upload tests (docs/files.md): an 8 MiB tmpfs of alice's own at
# /scratch/alice/small-disk, inside her scratch area, so an upload that does not fit is refused
# on a real filesystem (ENOSPC) and leaves nothing behind.
ensure_small_disk() {
    local dir="/scratch/$1/small-disk"
    if ! mountpoint -q "$dir"; then
        log "mounting an 8 MiB tmpfs at $dir"
        install -d -m 0700 -o "$1" -g "$1" "$dir"
        mount -t tmpfs -o "size=8m,mode=0700,uid=$(id -u "$1"),gid=$(id -g "$1")" myriagate-small-disk "$dir"
    fi
}

start_slurm() {
    if [ "$SLURM_CONF_CHANGED" = 1 ] || older_than_config slurmctld "$SLURM_ETC/slurm.conf" \
        || older_than_config slurmd "$SLURM_ETC/slurm.conf"; then
        # Some slurm.conf settings (ports, plugins, node shape) need a restart, not a reconfigure.
        if daemon_running slurmd || daemon_running slurmctld; then log "slurm.conf changed: restarting"; fi
        stop_daemon slurmd
        stop_daemon slurmctld
    fi
    start_daemon slurmctld -- -D
    wait_until 60 "slurmctld (scontrol ping)" slurmctld check_slurmctld
    start_daemon slurmd -- -D -N "$NODE"
    wait_until 60 "slurmd (sinfo -n $NODE is idle|mix|alloc)" slurmd check_node
}

# slurmrestd must not run as root or SlurmUser, and takes tokens only with SLURM_JWT=daemon.
start_slurmrestd() {
    if ! id "$RESTD_USER" >/dev/null 2>&1; then
        log "adding system user $RESTD_USER"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RESTD_USER"
    fi
    if [ "$SLURM_CONF_CHANGED" = 1 ] || older_than_config slurmrestd "$SLURM_ETC/slurm.conf"; then
        stop_daemon slurmrestd
    fi
    (
        export SLURM_JWT=daemon
        start_daemon slurmrestd --chuid "$RESTD_USER:$RESTD_USER" -- \
            -a rest_auth/jwt -s openapi/v0.0.38,openapi/dbv0.0.38 "$RESTD_HOST:$RESTD_PORT"
    )
    wait_until 30 "slurmrestd (ping as alice with a JWT on $RESTD_HOST:$RESTD_PORT)" slurmrestd check_slurmrestd
}

# A standing reservation that blocks no node: it holds one ansys license only, and
# Flags=ANY_NODES lets its jobs run on any node, so `sbatch --reservation=training` runs now and
# `scontrol show job` shows Reservation=training. Duration=UNLIMITED is one year in 22.05: a
# later run of up.sh makes it again once it has ended.
ensure_reservation() {
    if scontrol -o show reservation "$RESERVATION" >/dev/null 2>&1; then return 0; fi
    log "creating reservation $RESERVATION"
    scontrol create reservation "ReservationName=$RESERVATION" StartTime=now Duration=UNLIMITED \
        "Users=$(IFS=,; echo "${RESERVATION_USERS[*]}")" Licenses=ansys:1 Flags=ANY_NODES >/dev/null
}

setup_ssh() {
    if [ ! -s "$CA_KEY" ]; then
        log "creating SSH user CA"
        ssh-keygen -q -t ed25519 -N '' -f "$CA_KEY" -C myriagate-devcluster-user-ca
    fi
    chmod 0600 "$CA_KEY"; chmod 0644 "$CA_KEY.pub"
    if [ ! -s "$HOST_KEY" ]; then
        log "creating devcluster host key"
        ssh-keygen -q -t ed25519 -N '' -f "$HOST_KEY" -C myriagate-devcluster-host
    fi
    chmod 0600 "$HOST_KEY"
    if [ ! -s "$STORAGE_HOST_KEY" ]; then
        log "creating storage endpoint host key"
        ssh-keygen -q -t ed25519 -N '' -f "$STORAGE_HOST_KEY" -C myriagate-devcluster-storage-host
    fi
    chmod 0600 "$STORAGE_HOST_KEY"
    {
        printf '[%s]:%s %s\n' "$SSH_HOST" "$SSH_PORT" "$(cut -d' ' -f1,2 "$HOST_KEY.pub")"
        printf '[%s]:%s %s\n' "$SSH_HOST" "$STORAGE_SSH_PORT" "$(cut -d' ' -f1,2 "$STORAGE_HOST_KEY.pub")"
    } | write_if_changed "$KNOWN_HOSTS" 0644 root:root || true
    local changed=0
    write_if_changed "$SSHD_CONFIG" 0644 root:root <"$DEVCLUSTER_DIR/sshd_config.in" && changed=1
    /usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd -t refused $SSHD_CONFIG"
    if [ "$changed" = 1 ]; then stop_daemon sshd; fi
    start_daemon sshd -- -D -e -f "$SSHD_CONFIG"
    wait_until 30 "sshd certificate login as alice on $SSH_HOST:$SSH_PORT" sshd check_ssh
}

# The "regional datacenter" storage endpoint: its own sshd (own config, PID file and host key,
# same user CA) and one directory per site, owned by the gateway's service login.
setup_storage() {
    local site changed=0
    install -d -m 0755 "$STORAGE_ROOT"
    for site in "${STORAGE_SITES[@]}"; do
        install -d -m 0750 -o "$STORAGE_LOGIN" -g "$STORAGE_LOGIN" "$STORAGE_ROOT/$site"
    done
    write_if_changed "$STORAGE_SSHD_CONFIG" 0644 root:root <"$DEVCLUSTER_DIR/sshd_config_storage.in" && changed=1
    /usr/sbin/sshd -t -f "$STORAGE_SSHD_CONFIG" || die "sshd -t refused $STORAGE_SSHD_CONFIG"
    if [ "$changed" = 1 ]; then stop_daemon sshd-storage; fi
    start_daemon sshd-storage -- -D -e -f "$STORAGE_SSHD_CONFIG"
    wait_until 30 "storage sshd: $STORAGE_LOGIN writes ${STORAGE_SITES[*]} on $SSH_HOST:$STORAGE_SSH_PORT" \
        sshd-storage check_storage_ssh
}

# What the site sets for every user of the environment: compute nodes seldom reach the Internet,
# so JupyterLab must not ask each new user whether to fetch Jupyter's news, nor check for updates.
jupyter_site_settings() {
    local settings="$JUPYTER_VENV/share/jupyter/lab/settings"
    mkdir -p "$settings"
    printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
        >"$settings/overrides.json"
    chmod 0644 "$settings/overrides.json"
}

# The interactive-session tests run JupyterLab as alice (docs/interactive.md). A rerun only
# reads the venv's version stamp, so it costs nothing once installed; a venv at another version,
# or half-made by an interrupted run (the stamp is written last), is made again from scratch.
setup_jupyter() {
    local stamp="$JUPYTER_VENV/.myriagate-jupyterlab-version"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$JUPYTERLAB_VERSION" ] && [ -x "$JUPYTER_VENV/bin/jupyter-lab" ]; then
        jupyter_site_settings
        return 0
    fi
    log "installing JupyterLab $JUPYTERLAB_VERSION into $JUPYTER_VENV (a minute or two)"
    rm -rf "$JUPYTER_VENV"
    /usr/bin/python3 -m venv "$JUPYTER_VENV"
    "$JUPYTER_VENV/bin/pip" install -q --disable-pip-version-check "jupyterlab==$JUPYTERLAB_VERSION" \
        >"$LOG_DIR/jupyter-pip.out" 2>&1 \
        || { tail -n 20 "$LOG_DIR/jupyter-pip.out" >&2; die "pip install jupyterlab failed"; }
    jupyter_site_settings
    chmod -R a+rX "$JUPYTER_VENV"
    printf '%s\n' "$JUPYTERLAB_VERSION" >"$stamp"
    chmod 0644 "$stamp"
}

install_packages
prepare_dirs
setup_munge
setup_mariadb
setup_accounting_db
setup_jwt_key
write_slurm_configs
start_slurmdbd
setup_accounts
start_slurm
start_slurmrestd
ensure_reservation
setup_ssh
setup_storage
setup_jupyter

printf 'devcluster UP in %ss: munge, mariadb, slurmdbd, slurmctld, slurmd (node %s: %s), slurmrestd '"$RESTD_HOST:$RESTD_PORT"', sshd %s:%s, storage sshd %s:%s (%s); CA %s.pub, known_hosts %s\n' \
    "$((SECONDS - T0))" "$NODE" "$(sinfo -h -n "$NODE" -o %t | head -n1)" "$SSH_HOST" "$SSH_PORT" \
    "$SSH_HOST" "$STORAGE_SSH_PORT" "$STORAGE_ROOT/{$(IFS=,; echo "${STORAGE_SITES[*]}")}" "$CA_KEY" "$KNOWN_HOSTS"

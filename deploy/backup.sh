#!/usr/bin/env bash
# Back up myriagate's database, while the gateway runs.
#
#   deploy/backup.sh [--out DIR] [--keep-days N] [DATABASE_URL]
#
# PostgreSQL: `pg_dump --format=custom` (compressed, restorable table by table, consistent
# snapshot). SQLite: SQLite's online backup API (a consistent copy even while the API and
# workers write; copying the file with cp is NOT safe under WAL).
# DATABASE_URL defaults to $MYRIAGATE_BACKUP_DATABASE_URL, else $MYRIAGATE_DATABASE_URL (the
# systemd unit myriagate-backup.service reads /etc/myriagate/myriagate.env and backup.env). The backup is written under a temporary name, then
# renamed, mode 0600 (it holds password and token hashes); its path is printed last.
# --keep-days N deletes this script's backups in DIR older than N days, after a success.
# Restore with deploy/restore.sh (docs/operations.md).
#
# This file is also sourced by restore.sh for the URL helpers below.
set -euo pipefail

PY=${MYRIAGATE_PYTHON:-python3}

# Python (stdlib only) that turns a SQLAlchemy PostgreSQL URL into libpq's PG* variables and
# runs argv[2:] with them: the password never appears on a command line (ps), and every
# value reaches libpq as data, never through a shell. The argument "@dbname" becomes
# --dbname with a quoted conninfo (pg_restore needs -d; a bare name containing "=" would be
# read as a conninfo string).
_DB_RUN_PY='
import os, sys
from urllib.parse import parse_qsl, unquote, urlsplit
url, argv = sys.argv[1], sys.argv[2:]
parts = urlsplit(url)
if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
    sys.exit(f"not a PostgreSQL URL (scheme {parts.scheme!r})")
env = dict(os.environ)
if parts.hostname:
    env["PGHOST"] = parts.hostname
if parts.port:
    env["PGPORT"] = str(parts.port)
if parts.username:
    env["PGUSER"] = unquote(parts.username)
if parts.password is not None:
    env["PGPASSWORD"] = unquote(parts.password)
dbname = unquote(parts.path.lstrip("/"))
if not dbname:
    sys.exit("the database URL names no database")
env["PGDATABASE"] = dbname
known = {"options": "PGOPTIONS", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
         "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
         "host": "PGHOST", "port": "PGPORT", "application_name": "PGAPPNAME"}
for key, value in parse_qsl(parts.query, keep_blank_values=True):
    if key not in known:
        sys.exit(f"unsupported database URL parameter {key!r}; known: {sorted(known)}")
    env[known[key]] = value
quoted = dbname.replace("\\", "\\\\").replace("\x27", "\\\x27")
argv = [f"--dbname=dbname=\x27{quoted}\x27" if a == "@dbname" else a for a in argv]
os.execvpe(argv[0], argv, env)
'

# Python (stdlib only): copy SQLite database argv[1] to the new file argv[2] with the online
# backup API, check the copy, and leave it as one self-contained file (rollback journal, no
# -wal/-shm beside it). Opened with mode=rw so a wrong path fails instead of creating a file.
_SQLITE_COPY_PY='
import os, sqlite3, sys
from urllib.request import pathname2url
src, dst = sys.argv[1], sys.argv[2]
if not os.path.isfile(src):
    sys.exit(f"no SQLite database at {src}")
if os.path.lexists(dst):
    sys.exit(f"refusing to overwrite {dst}")
source = sqlite3.connect("file:" + pathname2url(os.path.abspath(src)) + "?mode=rw", uri=True)
target = sqlite3.connect(dst)
try:
    source.backup(target)
    target.execute("PRAGMA journal_mode=DELETE")
    verdict = target.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        sys.exit(f"the copy failed its integrity check: {verdict}")
finally:
    target.close()
    source.close()
'

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# db_kind URL: "postgresql" or "sqlite" (anything else is refused).
db_kind() {
    case "$1" in
        postgresql:* | postgresql+*:* | postgres:*) echo postgresql ;;
        sqlite:* | sqlite+*:*) echo sqlite ;;
        *) die "unsupported database URL (only postgresql:// and sqlite:// are)" ;;
    esac
}

# sqlite_path URL: the file of a SQLAlchemy SQLite URL (sqlite:///relative, sqlite:////absolute).
sqlite_path() {
    local rest=${1#*://}
    rest=${rest%%\?*}
    [ "${rest:0:1}" = / ] || die "not a SQLite file URL"
    rest=${rest:1}
    [ -n "$rest" ] && [ "$rest" != ":memory:" ] || die "an in-memory SQLite database cannot be backed up"
    printf '%s\n' "$rest"
}

# db_run URL COMMAND [ARGS...]: run COMMAND with the PG* variables of URL.
db_run() {
    local url=$1
    shift
    "$PY" -c "$_DB_RUN_PY" "$url" "$@"
}

sqlite_copy() {
    "$PY" -c "$_SQLITE_COPY_PY" "$1" "$2"
}

backup_main() {
    local out=. keep_days="" url=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --out) out=${2:?--out needs a directory}; shift 2 ;;
            --keep-days) keep_days=${2:?--keep-days needs a number}; shift 2 ;;
            -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
            --) shift; url=${1:-}; break ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) url=$1; shift ;;
        esac
    done
    # A backup may need more rights than the app role has: the owner's URL wins when set.
    url=${url:-${MYRIAGATE_BACKUP_DATABASE_URL:-${MYRIAGATE_DATABASE_URL:-}}}
    [ -n "$url" ] || die "no database URL: pass one or set MYRIAGATE_DATABASE_URL"
    if [ -n "$keep_days" ] && ! [[ "$keep_days" =~ ^[0-9]+$ ]]; then
        die "--keep-days takes a whole number of days"
    fi
    [ -d "$out" ] || die "no such directory: $out"

    umask 077
    local kind stamp final partial
    kind=$(db_kind "$url")
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    case "$kind" in
        postgresql) final="$out/myriagate-$stamp.pgdump" ;;
        sqlite) final="$out/myriagate-$stamp.sqlite3" ;;
    esac
    [ ! -e "$final" ] || die "$final already exists (one backup per second at most)"
    partial="$final.partial"
    rm -f -- "$partial"
    trap 'rm -f -- "$partial"' EXIT
    case "$kind" in
        postgresql)
            command -v pg_dump >/dev/null || die "pg_dump not found (apt-get install postgresql-client)"
            db_run "$url" pg_dump --format=custom --compress=6 --file="$partial"
            # Read the archive's table of contents back: a truncated dump fails here, not at restore.
            pg_restore --list "$partial" >/dev/null || die "pg_restore cannot read the dump just written"
            ;;
        sqlite)
            sqlite_copy "$(sqlite_path "$url")" "$partial"
            ;;
    esac
    mv -- "$partial" "$final"
    trap - EXIT
    if [ -n "$keep_days" ]; then
        find "$out" -maxdepth 1 -type f \( -name 'myriagate-*Z.pgdump' -o -name 'myriagate-*Z.sqlite3' \) \
            -mtime "+$keep_days" -delete
    fi
    printf '%s\n' "$final"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    backup_main "$@"
fi

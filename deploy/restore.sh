#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh into a FRESH database.
#
#   deploy/restore.sh [--no-privileges] BACKUP_FILE [DATABASE_URL]
#
# DATABASE_URL defaults to $MYRIAGATE_DATABASE_URL. Stop the API and the workers first.
# PostgreSQL (*.pgdump): the target database must exist and be empty: create it with
# deploy/postgres/setup.sql (connect as its owner role, which then owns every restored object).
# The restore is one transaction: it either completes or leaves the database empty.
# --no-privileges skips the dump's GRANTs (restoring at a site whose roles have other names;
# run setup.sql again afterwards to grant the app role).
# SQLite (*.sqlite3): the target file must not exist; it is written under a temporary name
# and renamed when complete.
# Then check the schema revision (printed) and run `myriagate admin db upgrade` if the
# backup predates the installed version (docs/operations.md).
set -euo pipefail
# shellcheck source=deploy/backup.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup.sh"

restore_main() {
    local privileges=() file="" url=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --no-privileges) privileges=(--no-privileges); shift ;;
            -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
            --) shift; break ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) break ;;
        esac
    done
    file=${1:-}
    url=${2:-${MYRIAGATE_DATABASE_URL:-}}
    [ -n "$file" ] || die "usage: restore.sh [--no-privileges] BACKUP_FILE [DATABASE_URL]"
    [ -f "$file" ] || die "no such backup: $file"
    [ -n "$url" ] || die "no database URL: pass one or set MYRIAGATE_DATABASE_URL"

    local kind magic
    kind=$(db_kind "$url")
    magic=$(head -c 15 -- "$file" | tr -d '\0')
    case "$kind" in
        postgresql)
            [ "${magic:0:5}" = PGDMP ] || die "$file is not a pg_dump custom-format archive"
            restore_postgresql "$file" "$url"
            ;;
        sqlite)
            [ "$magic" = "SQLite format 3" ] || die "$file is not a SQLite database"
            restore_sqlite "$file" "$url"
            ;;
    esac
}

restore_postgresql() {
    local file=$1 url=$2 tables revision
    command -v pg_restore >/dev/null || die "pg_restore not found (apt-get install postgresql-client)"
    tables=$(db_run "$url" psql -X -q -t -A -v ON_ERROR_STOP=1 -c \
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')")
    [ "$tables" = 0 ] || die "the target database is not empty ($tables tables): restore into a fresh one"
    db_run "$url" pg_restore --exit-on-error --single-transaction --no-owner "${privileges[@]}" \
        @dbname -- "$file"
    revision=$(db_run "$url" psql -X -q -t -A -v ON_ERROR_STOP=1 -c "SELECT version_num FROM alembic_version")
    echo "restored $file; schema revision ${revision:-none}"
}

restore_sqlite() {
    local file=$1 url=$2 path
    path=$(sqlite_path "$url")
    for existing in "$path" "$path-wal" "$path-shm"; do
        [ ! -e "$existing" ] || die "$existing exists: move it aside first (restore never overwrites)"
    done
    umask 077
    local partial="$path.restoring"
    rm -f -- "$partial"
    trap 'rm -f -- "$partial"' EXIT
    sqlite_copy "$file" "$partial"
    mv -- "$partial" "$path"
    trap - EXIT
    echo "restored $file into $path"
}

restore_main "$@"

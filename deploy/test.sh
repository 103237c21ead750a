#!/usr/bin/env bash
# Run the whole test suite: lint, format, import contracts, type checks, then the test tiers
# fastest first (tests/conftest.py puts every test in exactly one):
#   unit     no I/O beyond SQLite files                      parallel (pytest-xdist, a worker more than the CPUs)
#   db       on PostgreSQL                                   parallel (a schema per test)
#   slurm    the real dev cluster, sshd, storage, nginx, SMTP  parallel: it mostly waits on Slurm
#            (tests touching one login's shared state share a worker: tests/conftest.py ONE_WORKER),
#            then the whole_node tests (an --exclusive job takes the one node) alone
#   browser  headless Chromium against real servers           2 workers (a file each), beside the slurm tier
#   faults   stops and restarts the shared daemons            serial, beside the unit and db tiers
# Usage: bash deploy/test.sh [--quick] [extra pytest args, given to every tier]
#   --quick  lint and the unit tier only: no daemons needed, the inner loop.
# MYRIAGATE_TEST_TMPDIR: where the tests' temporary files go (default: a directory on /dev/shm
# when it has 4 GiB free, else TMPDIR; set it empty to keep TMPDIR).
# TEST_WORKERS sets the unit and db tiers' worker count (default auto: one per core, and one more
# for the unit tier, whose tests wait a good part of their time: tests/conftest.py);
# SLURM_TEST_WORKERS the slurm tier's (default 8: its tests wait on jobs more than they compute).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi

bash deploy/install.sh
if [ "$quick" = 0 ]; then
    # The proxy tests run nginx on ports of their own against deploy/proxy: a test dependency
    # only. policy-rc.d (exit 101) keeps the package from starting a default site on :80.
    if [ ! -x /usr/sbin/nginx ] && command -v apt-get >/dev/null; then
        own_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
        if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    fi
    bash deploy/postgres-up.sh
    bash deploy/devcluster/up.sh
    # The real-pyslurm contract tests need a pyslurm built for this cluster's Slurm: built once
    # from MYRIAGATE_PYSLURM_SOURCE (or ../shared/vendor), then cached. Without a source (exit 3)
    # those tests report themselves skipped, with the reason.
    pyslurm_rc=0
    bash deploy/pyslurm.sh || pyslurm_rc=$?
    if [ "$pyslurm_rc" != 0 ] && [ "$pyslurm_rc" != 3 ]; then
        echo "deploy/pyslurm.sh failed (exit $pyslurm_rc)" >&2
        exit 1
    fi
fi

# Every pytest process, each xdist worker included, imports the whole suite to collect it:
# without a bytecode cache each one rewrites the asserts of every test module and compiles it
# again (about 9 s of CPU each, measured). The cache lives outside the tree, and so does
# mypy's incremental cache: a fresh clone on a machine that ran the suite before re-checks only
# what changed (mypy compares each file's hash when its mtime differs). Both in the user's own
# cache directory, never at a guessable name in /tmp (deploy/cache-dirs.sh says why).
unset PYTHONDONTWRITEBYTECODE
# shellcheck source=deploy/cache-dirs.sh
. deploy/cache-dirs.sh || exit 1
# The tests' temporary files (their SQLite databases above all) on a tmpfs when there is one
# with room: every SQLite commit is an fsync, and on a disk other tiers write to (2 GiB
# transfers, slurmdbd) one took milliseconds to seconds; three unit-tier files took 304 s with
# their files on the disk and 47 s on /dev/shm beside the slurm tier (docs/performance.md).
# After the caches above, which stay where they were.
if [ -z "${MYRIAGATE_TEST_TMPDIR+set}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] \
    && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((4 << 20)) ]; then
    MYRIAGATE_TEST_TMPDIR=/dev/shm/myriagate-tests-$(id -u)
fi
if [ -n "${MYRIAGATE_TEST_TMPDIR:-}" ]; then
    mkdir -p -m 1777 "$MYRIAGATE_TEST_TMPDIR"  # as /tmp: tests hand some files to other logins
    # Only a real directory of ours (/dev/shm is shared: another login could have planted one).
    if [ -L "$MYRIAGATE_TEST_TMPDIR" ] || [ ! -O "$MYRIAGATE_TEST_TMPDIR" ]; then
        echo "MYRIAGATE_TEST_TMPDIR=$MYRIAGATE_TEST_TMPDIR is a link or not ours: refused" >&2
        exit 1
    fi
    export TMPDIR=$MYRIAGATE_TEST_TMPDIR
fi
export MYRIAGATE_TEST_POSTGRES_URL=${MYRIAGATE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
workers=${TEST_WORKERS:-auto}
slurm_workers=${SLURM_TEST_WORKERS:-8}
.venv/bin/ruff check myriagate tests bench
.venv/bin/ruff format --check myriagate tests bench
.venv/bin/lint-imports
.venv/bin/mypy myriagate tests
mkdir -p test-artifacts

# One tier: its marker, then its own pytest options. Exit 5 (nothing selected, e.g. by -k in
# the extra arguments) is not a failure of that tier. A failed tier does not stop the others:
# the summary at the end lists every tier with its time, and the script fails if any did.
failed=()
summary=()
tier() {
    local name=$1
    shift
    echo "=== tier: $name"
    local rc=0 start=$SECONDS
    .venv/bin/pytest -p no:cacheprovider -m "$name" --junitxml="test-artifacts/junit-$name.xml" "$@" || rc=$?
    record "$name" "$rc" $((SECONDS - start))
}

# The slurm tier in two passes, one line in the summary (failed if either pass failed): in
# parallel without the whole_node tests, then (once nothing else uses the cluster) those alone.
slurm_parallel() {
    echo "=== tier: slurm"
    slurm_start=$SECONDS slurm_rc=0
    .venv/bin/pytest -p no:cacheprovider -m slurm --junitxml=test-artifacts/junit-slurm.xml \
        -n "$slurm_workers" --dist loadgroup --whole-node=exclude "$@" tests || slurm_rc=$?
}

slurm_whole_node() {
    echo "=== tier: slurm, the whole_node tests"
    local rc=0
    .venv/bin/pytest -p no:cacheprovider -m slurm --junitxml=test-artifacts/junit-slurm-whole-node.xml \
        --whole-node=only "$@" tests || rc=$?
    if [ "$slurm_rc" = 0 ] || [ "$slurm_rc" = 5 ]; then slurm_rc=$rc; fi
    record slurm "$slurm_rc" $((SECONDS - slurm_start))
}

# A tier started in the background (its output in test-artifacts/<name>.log, shown when it ends),
# then waited for with tier_wait.
tier_bg() {
    local name=$1
    shift
    echo "=== tier: $name (in the background, output in test-artifacts/$name.log)"
    (
        local rc=0 start=$SECONDS
        .venv/bin/pytest -p no:cacheprovider -m "$name" --junitxml="test-artifacts/junit-$name.xml" "$@" \
            >"test-artifacts/$name.log" 2>&1 || rc=$?
        echo "$rc $((SECONDS - start))" >"test-artifacts/$name.status"
    ) &
    bg_pids[$name]=$!
}

tier_wait() {
    local name=$1 rc took
    wait "${bg_pids[$name]}" || true
    echo "=== tier: $name (ended)"
    cat "test-artifacts/$name.log"
    read -r rc took <"test-artifacts/$name.status" || { rc=1; took=0; }
    record "$name" "$rc" "$took"
}

declare -A bg_pids=()
record() {
    local name=$1 rc=$2 took=$3
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then
        echo "tier $name failed (pytest exit $rc)" >&2
        failed+=("$name")
        summary+=("$name: FAILED (exit $rc) in ${took}s")
    else
        summary+=("$name: passed in ${took}s")
    fi
}

finish() {
    echo "=== tiers"
    printf '  %s\n' "${summary[@]}"
    if [ "${#failed[@]}" != 0 ]; then
        echo "failed tiers: ${failed[*]}" >&2
        exit 1
    fi
}

# The fault tier stops and restarts the dev cluster's daemons, and waits on them most of its
# time: it runs beside the unit and db tiers, which use no daemon of the cluster (SQLite files;
# PostgreSQL, a schema per test; tests/faults/conftest.py lets them), and before the tiers that
# need the cluster. Its one test that restarts PostgreSQL runs after the db tier, alone.
PG_RESTART=tests/faults/test_cluster_faults.py::test_postgresql_restarted_during_activity
if [ "$quick" = 0 ]; then
    tier_bg faults --deselect "$PG_RESTART" "$@" tests/faults
fi
tier unit -n "$workers" "$@" tests
if [ "$quick" = 1 ]; then
    finish
    exit 0
fi
tier db -n "$workers" "$@" tests
tier_wait faults
echo "=== tier: faults, PostgreSQL restarted (alone)"
pg_rc=0 pg_start=$SECONDS
.venv/bin/pytest -p no:cacheprovider -m faults --junitxml=test-artifacts/junit-faults-postgresql.xml \
    "$@" "$PG_RESTART" || pg_rc=$?
record "faults (PostgreSQL restart)" "$pg_rc" $((SECONDS - pg_start))
# Whatever the fault tier left stopped (a test that failed mid-way) is started again.
bash deploy/devcluster/up.sh >/dev/null
# The browser tier's server, ports, databases and jobs are its own: it runs while the slurm tier
# waits on the cluster. The whole_node tests come after both, alone.
tier_bg browser -n 2 --dist loadfile "$@" tests/browser
slurm_parallel "$@"
tier_wait browser
slurm_whole_node "$@"
finish

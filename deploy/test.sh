#!/usr/bin/env bash
# Run the whole test suite: lint, format, import contracts, type checks, then the test tiers
# fastest first (tests/conftest.py puts every test in exactly one):
#   unit     no I/O beyond SQLite files                      parallel (pytest-xdist)
#   db       on PostgreSQL                                   parallel (a schema per test)
#   slurm    the real dev cluster, sshd, storage, nginx, SMTP  serial (shared logins, ports)
#   browser  headless Chromium against a real server          serial
#   faults   stops and restarts the shared daemons            serial, last, alone
# Usage: bash deploy/test.sh [--quick] [extra pytest args, given to every tier]
#   --quick  lint and the unit tier only: no daemons needed, the inner loop.
# TEST_WORKERS sets the parallel tiers' worker count (default: one per core).
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
fi

export MYRIAGATE_TEST_POSTGRES_URL=${MYRIAGATE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
workers=${TEST_WORKERS:-auto}
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
    local took=$((SECONDS - start))
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

tier unit -n "$workers" "$@" tests
if [ "$quick" = 1 ]; then
    finish
    exit 0
fi
tier db -n "$workers" "$@" tests
tier slurm "$@" tests
tier browser "$@" tests/browser
tier faults "$@" tests/faults
finish

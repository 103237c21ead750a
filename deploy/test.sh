#!/usr/bin/env bash
# Run the whole test suite: lint, import contracts, unit, contract and integration tests
# against the real dev cluster (Slurm + sshd, brought up here), on SQLite and PostgreSQL.
# Usage: bash deploy/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install.sh
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

export MYRIAGATE_TEST_POSTGRES_URL=${MYRIAGATE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
.venv/bin/ruff check myriagate tests bench
.venv/bin/lint-imports
.venv/bin/mypy myriagate
mkdir -p test-artifacts
.venv/bin/pytest -p no:cacheprovider --junitxml=test-artifacts/junit.xml "$@" tests

#!/usr/bin/env bash
# Run the whole test suite: lint, import contracts, unit, contract and integration tests
# against the real dev cluster (Slurm + sshd, brought up here), on SQLite and PostgreSQL.
# Usage: bash deploy/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install.sh
bash deploy/postgres-up.sh
bash deploy/devcluster/up.sh

export MYRIAGATE_TEST_POSTGRES_URL=${MYRIAGATE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
.venv/bin/ruff check myriagate tests bench
.venv/bin/lint-imports
.venv/bin/mypy myriagate
mkdir -p test-artifacts
.venv/bin/pytest -p no:cacheprovider --junitxml=test-artifacts/junit.xml "$@" tests

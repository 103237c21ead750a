#!/usr/bin/env bash
# Install myriagate and its Python dependencies into ./.venv (idempotent).
# Works as root on a fresh Debian 12 with only python3, git and apt.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        # Debian splits venv out of python3.
        rm -rf .venv
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$PY" -m venv .venv
    fi
fi
# The browser tests drive Debian's Chromium (never `playwright install`: no browser downloads).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
stamp=.venv/.myriagate-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # The gateway (server extra) and the test tools; researchers' machines need only `pip install myriagate`.
    .venv/bin/python -m pip install -q -e '.[server,dev]'
    touch "$stamp"
fi
echo "myriagate installed in $(pwd)/.venv"

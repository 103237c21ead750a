#!/usr/bin/env bash
# Build (once) and install a pyslurm wheel that matches this host's Slurm release into ./.venv.
#
# pyslurm X.Y links libslurm X.Y only, and PyPI serves only the newest release, so the wheel is
# built here from a source the operator names:
#   MYRIAGATE_PYSLURM_SOURCE   a source tarball (sdist) or an unpacked source directory;
#                              default: ../shared/vendor/pyslurm-<slurm major.minor>*.tar.gz
#                              beside this checkout, when present.
#   MYRIAGATE_PYSLURM_CACHE    where built wheels are kept (default /var/cache/myriagate/pyslurm),
#                              keyed by the source's sha256 and the Python version: a second run
#                              installs the cached wheel in seconds instead of a ~4-minute build.
# Exit 0: installed (or already installed). Exit 3: no source found (the real-pyslurm tests then
# report themselves skipped with that reason). Any other failure is an error.
# Run as root on Debian 12 (it installs libslurm-dev with apt).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
log() { printf '[pyslurm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

slurm_release=$(sinfo -V 2>/dev/null | awk '{print $2}' || true)
if [ -z "$slurm_release" ]; then
    log "sinfo not found: install the dev cluster first (bash deploy/devcluster/up.sh)"
    exit 1
fi
# 22.05.8 -> 22.5 (pyslurm drops the leading zero of the minor release).
want=$(awk -F. '{printf "%d.%d", $1, $2}' <<<"$slurm_release")

source_path=${MYRIAGATE_PYSLURM_SOURCE:-}
if [ -z "$source_path" ]; then
    source_path=$(ls "$REPO"/../shared/vendor/pyslurm-"$want".*.tar.gz 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$source_path" ] || [ ! -e "$source_path" ]; then
    log "no pyslurm source for Slurm $slurm_release: set MYRIAGATE_PYSLURM_SOURCE to a pyslurm $want.x sdist or directory"
    exit 3
fi

if .venv/bin/python -c "import pyslurm, sys; sys.exit(0 if pyslurm.version().startswith('$want.') else 1)" 2>/dev/null; then
    log "pyslurm $(.venv/bin/python -c 'import pyslurm; print(pyslurm.version())') already installed for Slurm $slurm_release"
    exit 0
fi

if [ -d "$source_path" ]; then
    digest=$(cd "$source_path" && find . -type f ! -path './build/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
else
    digest=$(sha256sum "$source_path" | cut -c1-16)
fi
pytag=$(.venv/bin/python -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
cache=${MYRIAGATE_PYSLURM_CACHE:-/var/cache/myriagate/pyslurm}/$digest-$pytag
wheel=$(ls "$cache"/pyslurm-*.whl 2>/dev/null | head -1 || true)

if [ -z "$wheel" ]; then
    if ! dpkg-query -W -f='${Status}' libslurm-dev 2>/dev/null | grep -q 'install ok installed'; then
        log "installing libslurm-dev"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libslurm-dev >/dev/null
    fi
    log "building a pyslurm wheel from $source_path (Cython: a few minutes, once)"
    build_env=$(mktemp -d)
    trap 'rm -rf "$build_env"' EXIT
    python3 -m venv "$build_env/venv"
    # pyslurm 22.5 needs Cython 0.29 (Cython 3 changed the semantics it relies on) and a
    # setuptools that still ships the distutils it imports.
    "$build_env/venv/bin/pip" install -q 'Cython>=0.29.30,<3' 'setuptools<70' wheel
    mkdir -p "$cache"
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
    SLURM_LIB_DIR=/usr/lib/$multiarch SLURM_INCLUDE_DIR=/usr/include \
        "$build_env/venv/bin/pip" wheel -q --no-build-isolation --no-deps -w "$build_env/out" "$source_path"
    built=$(ls "$build_env"/out/pyslurm-*.whl)
    # Built for another Python than the gateway's venv would not import: check before caching.
    case "$(basename "$built")" in
        *-"$pytag"-*) ;;
        *) log "built $(basename "$built"), not for $pytag: the build venv's python3 must be the gateway's"; exit 1 ;;
    esac
    mv "$built" "$cache/"
    wheel=$(ls "$cache"/pyslurm-*.whl)
fi

.venv/bin/python -m pip install -q --no-deps --force-reinstall "$wheel"
got=$(.venv/bin/python -c 'import pyslurm; print(pyslurm.version())')
case "$got" in
    "$want".*) log "pyslurm $got installed for Slurm $slurm_release (wheel $(basename "$wheel"))" ;;
    *) log "pyslurm $got does not match Slurm $slurm_release (wanted $want.x)"; exit 1 ;;
esac

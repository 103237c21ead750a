# Sourced by deploy/test.sh: the bytecode cache (PYTHONPYCACHEPREFIX) and mypy's cache
# (MYPY_CACHE_DIR), outside the tree, in a directory that is the running user's alone.
# Why: Python runs a cached .pyc whose header matches the source, whoever wrote it. Under a
# guessable name in /tmp (the old default, /tmp/myriagate-pycache-<uid>), any login of this host
# could create the directory first and fill it: the dev cluster's jobs and shells (alice, bob…)
# run here, and this script runs as root, so bob's bytecode ran as root. The defaults are now
# under the user's own cache directory; a directory given in the environment is used only if it
# is a real directory owned by this user that nobody else can write to (else the script stops).
# shellcheck shell=bash

myriagate_private_dir() { # variable name, directory
    local name=$1 dir=$2
    if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then
        mkdir -p -m 0700 -- "$dir" || return 1
    fi
    if [ -L "$dir" ] || [ ! -d "$dir" ] || [ ! -O "$dir" ] \
        || [ -n "$(find "$dir" -maxdepth 0 -perm /022 2>/dev/null)" ]; then
        echo "$name=$dir is a link, not a directory of $(id -un), or writable by others:" \
            "refused (it holds code the tests run); remove it or choose another" >&2
        return 1
    fi
}

myriagate_cache_home=${XDG_CACHE_HOME:-${HOME:?}/.cache}/myriagate
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$myriagate_cache_home/pycache}
export MYPY_CACHE_DIR=${MYPY_CACHE_DIR:-$myriagate_cache_home/mypy}
myriagate_private_dir PYTHONPYCACHEPREFIX "$PYTHONPYCACHEPREFIX" \
    && myriagate_private_dir MYPY_CACHE_DIR "$MYPY_CACHE_DIR"

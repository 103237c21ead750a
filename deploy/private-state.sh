#!/usr/bin/env bash
# Make the gateway's state private. Each DIR is created when missing, made 0700, and everything
# in it closed to group and others; each FILE after `--` that exists (the SSH CA key) is closed
# to group and others. An install made before this rule is fixed in place; re-running is harmless.
# Why: on the dev stack, jobs of alice, bob and carol run on this very host, and the database
# (password hashes, sessions), the spool (uploads) and the CA key are for the gateway only.
# `myriagate serve` and `myriagate worker` refuse to start otherwise (docs/operations.md).
# Usage: deploy/private-state.sh DIR... [-- FILE...]
set -euo pipefail
umask 077
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    mkdir -p -- "$1"
    chmod -R go-rwx -- "$1"
    shift
done
[ $# -gt 0 ] && shift  # the --
for file in "$@"; do
    if [ -e "$file" ]; then
        chmod go-rwx -- "$file"
    fi
done

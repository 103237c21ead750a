#!/bin/bash
#SBATCH --job-name=cleanup
#SBATCH -d afterany:@DEP@
#SBATCH --kill-on-invalid-dep=yes
#SBATCH -t 5

rm -rf "${LOCAL_WORK_DIR:-/nonexistent}/scratch-of-previous" 2>/dev/null || true

#!/bin/bash
#SBATCH --job-name=scratch-heavy
#SBATCH --tmp=5000
#SBATCH --time=01:00:00

cd "${LOCAL_WORK_DIR:-$TMPDIR}"
echo "local scratch at $PWD"

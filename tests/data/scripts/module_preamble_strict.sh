#!/bin/bash
#SBATCH --job-name=cp2k-md
#SBATCH --time=03:30:00
#SBATCH --ntasks=28
#SBATCH --mem-per-cpu=1500
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=alice@unicaen.fr

set -euo pipefail

module purge
module load gcc/10.2.0 openmpi/4.1.1 cp2k/8.2

WORKDIR=${LOCAL_WORK_DIR:-$HOME}/cp2k-$SLURM_JOB_ID
mkdir -p "$WORKDIR"
trap 'rm -rf "$WORKDIR"' EXIT
srun cp2k.psmp -i md.inp -o md.out

#!/bin/sh
#SLURM --job-name="dft scan"
#SBATCH --time='00:25:00' --ntasks=2
#SBATCH --chdir=.

echo "$SLURM_JOB_NAME"

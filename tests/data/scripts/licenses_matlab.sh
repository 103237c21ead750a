#!/bin/bash
# MATLAB Parallel Server: two of the centre's four licence tokens.
#SBATCH --job-name=matlab-parfor
#SBATCH --licenses=matlab:2
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00

module load matlab/R2021b
matlab -nodisplay -batch "parpool($SLURM_CPUS_PER_TASK); run_sweep" || echo "matlab missing"

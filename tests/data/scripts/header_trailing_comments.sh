#!/bin/bash
#SBATCH --time=01:00:00  # one hour
#SBATCH --ntasks=4       # four MPI ranks
#SBATCH --job-name=run#3 # sbatch cuts the name at the unquoted '#': the job is "run"
#SBATCH --mem=8G#no space before this comment

srun hostname

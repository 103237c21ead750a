#!/bin/bash
# Lets the backfill scheduler start the job earlier with as little as one hour.
#SBATCH --job-name=flexible
#SBATCH --time=04:00:00
#SBATCH --time-min=01:00:00
#SBATCH --ntasks=4

srun ./resumable_solver || echo "solver missing"

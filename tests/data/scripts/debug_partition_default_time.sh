#!/bin/bash
# No --time: the job gets the debug partition's DefaultTime (10 minutes), not its maximum.
#SBATCH --partition=debug
#SBATCH --job-name=quick-check
#SBATCH --ntasks=2

srun hostname

#!/bin/bash
#SBATCH --job-name=coupled
#SBATCH --ntasks=1 --cpus-per-task=4 --time=00:30:00
#SBATCH hetjob
#SBATCH --ntasks=8 --time=00:30:00

srun --het-group=0 ./coupler : --het-group=1 ./ocean || true

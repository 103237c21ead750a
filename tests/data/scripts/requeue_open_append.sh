#!/bin/bash
#SBATCH --job-name=restartable
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=restartable.log
#SBATCH --time=01:00:00

echo "start (restart count ${SLURM_RESTART_COUNT:-0})"
sleep 1

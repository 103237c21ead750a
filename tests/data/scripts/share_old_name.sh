#!/bin/bash
# An old Myria script: --share is what --oversubscribe was called before Slurm 16.
#SBATCH --share
#SBATCH --job-name=old-share
#SBATCH --time=00:05:00

sleep 1

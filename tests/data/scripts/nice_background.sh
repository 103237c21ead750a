#!/bin/bash
#SBATCH --job-name=low-priority-sweep
#SBATCH --nice=10
#SBATCH --time=00:30:00

sleep 1

#!/bin/bash
#SBATCH --job-name=long-by-default
#SBATCH --partition=court
#SBATCH --time=03:00:00
#SBATCH --ntasks=2

# Submitted with --time=00:30:00 on the command line for a quick test: the command line wins.
srun ./model || echo "model missing"

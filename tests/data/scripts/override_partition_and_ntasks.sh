#!/bin/bash
#SBATCH --partition=long
#SBATCH --time=00:20:00
#SBATCH --ntasks=8
#SBATCH --job-name=smoke

srun ./smoke_test || echo "smoke_test missing"

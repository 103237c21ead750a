#!/bin/bash
#SBATCH --job-name=nek5000
#SBATCH --ntasks=16
#SBATCH --ntasks-per-socket=8
#SBATCH --distribution=block:cyclic
#SBATCH --threads-per-core=1
#SBATCH --time=02:00:00

srun --cpu-bind=cores ./nek5000 || echo "nek5000 missing"

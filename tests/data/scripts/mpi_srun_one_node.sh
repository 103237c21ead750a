#!/bin/bash
#SBATCH -J code_saturne
#SBATCH -N 1
#SBATCH -n 28
#SBATCH -t 04:00:00
#SBATCH --mem-per-cpu=2000

module load code_saturne/7.0
srun ./cs_solver --mpi || echo "cs_solver missing"

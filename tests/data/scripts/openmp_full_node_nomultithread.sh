#!/bin/bash
#SBATCH --job-name=lbm-omp
#SBATCH --time=03:00:00
#SBATCH --exclusive
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=28
#SBATCH --hint=nomultithread

export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
srun --cpu-bind=cores ./lbm_solver params.ini || echo "solver not built here"

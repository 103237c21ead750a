#!/bin/bash
#SBATCH --job-name=omp-stencil
#SBATCH --partition=court
#SBATCH --time=00:45:00
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=14
#SBATCH --mem=20G

export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
export OMP_PLACES=cores
export OMP_PROC_BIND=close

echo "running with $OMP_NUM_THREADS threads"
sleep 1

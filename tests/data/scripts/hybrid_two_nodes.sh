#!/bin/bash
#SBATCH --job-name=yales2-hybrid
#SBATCH --partition=parallel
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=14
#SBATCH --time=02:00:00
#SBATCH --exclusive

module load yales2/1.2
export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
srun ./yales2_main || echo "yales2 missing"

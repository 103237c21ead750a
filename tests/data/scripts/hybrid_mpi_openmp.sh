#!/bin/bash
#SBATCH --job-name=hybrid-dns
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=7
#SBATCH --time=01:00:00
#SBATCH --mem=48G

export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
export OMP_PLACES=cores
srun --cpus-per-task=$SLURM_CPUS_PER_TASK ./dns_hybrid || echo "dns_hybrid missing"

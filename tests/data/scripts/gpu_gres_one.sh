#!/bin/bash
#SBATCH --job-name=gromacs-gpu
#SBATCH --partition=gpu
#SBATCH --gres=gpu:1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=7
#SBATCH --time=02:00:00

module load gromacs/2021.4-cuda
export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
gmx mdrun -deffnm md -nb gpu -ntomp $OMP_NUM_THREADS || echo "gromacs missing"

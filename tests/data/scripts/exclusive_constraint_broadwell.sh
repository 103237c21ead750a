#!/bin/bash
#SBATCH --job-name=avx2-bench
#SBATCH --exclusive
#SBATCH --constraint=broadwell
#SBATCH --ntasks=28
#SBATCH --time=00:30:00

srun ./stream_avx2 || echo "stream missing"

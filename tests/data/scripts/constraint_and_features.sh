#!/bin/bash
#SBATCH --job-name=ib-latency
#SBATCH -C "ib&avx2"
#SBATCH --ntasks=2
#SBATCH --time=00:10:00

srun ./osu_latency || echo "osu missing"

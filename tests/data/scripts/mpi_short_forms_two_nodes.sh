#!/bin/bash
#SBATCH -p parallel
#SBATCH -N 2 -n 56
#SBATCH -t 01:00:00
#SBATCH -J wrf_d01
#SBATCH -o wrf.%j.log

module load wrf/4.3
srun ./wrf.exe || echo "wrf.exe missing"

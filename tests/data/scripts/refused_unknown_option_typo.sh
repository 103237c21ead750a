#!/bin/bash
#SBATCH --nodes=1
#SBATCH --ntask-per-node=28
#SBATCH --time=01:00:00

srun ./a.out

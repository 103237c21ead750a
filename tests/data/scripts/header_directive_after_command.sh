#!/bin/bash
#SBATCH --job-name=late-directives
#SBATCH --time=00:20:00
module load openmpi/4.1.1
#SBATCH --ntasks=8
#SBATCH --time=03:00:00
# sbatch stopped reading at "module load": the job has 1 task and 20 minutes.
srun hostname

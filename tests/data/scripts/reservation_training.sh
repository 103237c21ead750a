#!/bin/bash
# Hands-on session: the centre reserved nodes for the training day.
#SBATCH --job-name=tp-mpi
#SBATCH --reservation=training
#SBATCH --ntasks=4
#SBATCH --time=00:15:00

srun hostname

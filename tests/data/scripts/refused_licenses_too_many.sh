#!/bin/bash
# Five MATLAB tokens: the cluster has four in all.
#SBATCH --licenses=matlab:5
#SBATCH --time=00:30:00

sleep 1

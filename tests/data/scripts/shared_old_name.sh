#!/bin/bash
#SBATCH --shared
#SBATCH --job-name=old-shared
#SBATCH --time=00:05:00

sleep 1

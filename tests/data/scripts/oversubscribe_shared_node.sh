#!/bin/bash
#SBATCH --job-name=light-io
#SBATCH --oversubscribe
#SBATCH --ntasks=1
#SBATCH --time=00:05:00

sleep 1

#!/bin/bash
#SBATCH --job-name=notify-me
#SBATCH --time=00:10:00
#SBATCH --mail-type=ALL

sleep 1

#!/bin/bash
#SBATCH --job-name=t-d-hh
#SBATCH --partition=long
#SBATCH --time=1-12

sleep 1

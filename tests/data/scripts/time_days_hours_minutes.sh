#!/bin/bash
#SBATCH --job-name=t-d-hh-mm
#SBATCH --partition=long
#SBATCH --time=2-06:30

sleep 1

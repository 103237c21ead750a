#!/bin/bash
#SBATCH --job-name=t-d-hh-mm-ss
#SBATCH --partition=long
#SBATCH --time=4-23:59:59

sleep 1

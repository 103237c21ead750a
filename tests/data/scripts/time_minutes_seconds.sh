#!/bin/bash
#SBATCH --job-name=t-mm-ss
#SBATCH -t 45:30

sleep 1

#!/bin/bash
#SBATCH --job-name=t-minutes
#SBATCH --time=90

sleep 1

#!/bin/bash
# The short QOS (allowed on court) for a quick turnaround.
#SBATCH --job-name=with-qos
#SBATCH --partition=court
#SBATCH --qos=short
#SBATCH --time=00:30:00

sleep 1

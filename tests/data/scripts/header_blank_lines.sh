#!/bin/bash

#SBATCH --job-name=blank-lines
#SBATCH --time=00:40:00

# Resources
#SBATCH --ntasks=2

#SBATCH --cpus-per-task=3
   # an indented comment does not end the header either
#SBATCH --mem=6G

echo "2 tasks x 3 cpus"
sleep 1

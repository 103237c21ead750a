#!/bin/bash
#SBATCH --job-name=r-bootstrap
#SBATCH --time=01:30:00
#SBATCH --ntasks=1
#SBATCH --mem-per-cpu=3G

module load R/4.1.2
Rscript --version

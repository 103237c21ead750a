#!/bin/bash
#SBATCH --job-name=thesis-run
#SBATCH --time=02:00:00
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=someone@univ-rouen.fr

# Copied from a labmate's script: the address is hers, not the submitter's.
sleep 1

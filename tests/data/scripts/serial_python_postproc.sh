#!/bin/bash
#SBATCH --job-name=postproc
#SBATCH --partition=court
#SBATCH --time=00:30:00
#SBATCH --ntasks=1
#SBATCH --mem=4000
#SBATCH --output=postproc-%j.out

# Post-processing of last week's runs: a single Python process, no MPI.
module purge
module load python3/3.9.6

cd "$SLURM_SUBMIT_DIR"
python3 -c 'print("post-processing done")'

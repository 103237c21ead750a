#!/bin/bash
# Written the way CRIANN's documentation shows it: option and value separated by a space.
#SBATCH --partition court
#SBATCH --time 02:00:00
#SBATCH --mem 16000
#SBATCH -J flow_stats
#SBATCH --output %J.output
#SBATCH --error %J.error

cd $SLURM_SUBMIT_DIR
echo "job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"
sleep 1

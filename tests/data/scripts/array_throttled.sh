#!/bin/bash
#SBATCH --job-name=dock-screen
#SBATCH --array=1-20%5
#SBATCH --time=00:30:00
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --output=logs/dock_%A_%a.out

# One ligand per array task, at most 5 running at once.
LIGAND=$(sed -n "${SLURM_ARRAY_TASK_ID}p" ligands.txt 2>/dev/null || true)
echo "task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID: ${LIGAND:-none}"
sleep 1

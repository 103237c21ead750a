#!/bin/bash
#SBATCH -J reynolds-sweep
#SBATCH -a 0-300:100
#SBATCH -t 00:15:00
#SBATCH -o sweep_%a.out

RE=$(( 1000 + SLURM_ARRAY_TASK_ID * 10 ))
echo "Reynolds number $RE"
sleep 1

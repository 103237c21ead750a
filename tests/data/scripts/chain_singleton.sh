#!/bin/bash
# Restart chain: every link has the same name and waits for the previous one to end.
#SBATCH --job-name=cfd-restart-chain
#SBATCH --dependency=singleton
#SBATCH --time=04:00:00
#SBATCH --ntasks=8
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=chain.log

checkpoint() { echo "checkpointing at $(date)"; touch restart.flag; }
trap checkpoint USR1
sleep 1 &
wait
